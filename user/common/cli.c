// SPDX-License-Identifier: GPL-2.0
#include "common/cli.h"

int cli_options(const struct cli_command *cmd, int argc, char **argv, void *ctx)
{
	int opt;

	while ((opt = getopt_long(argc, argv, cmd->shortopts, cmd->longopts,
				  NULL)) != -1) {
		if (opt == 'h') {
			cmd->usage(stdout);
			return 0;
		}
		if (opt == '?') {
			cmd->usage(stderr);
			return 2;
		}
		if (!cmd->take(opt, optarg, ctx))
			return 2;
	}
	return CLI_GO_ON;
}

const char *cli_session_file(int argc, char **argv)
{
	return optind < argc ? argv[optind++] : GS_DEFAULT_SESSION;
}
