/* SPDX-License-Identifier: GPL-2.0 */
/* What the commands of gilscope share in reading their arguments. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#define GS_DEFAULT_SESSION "gilscope.data"

/* cli_options() found no reason to stop: the command goes on. */
#define CLI_GO_ON (-1)

struct cli_command {
	const char *shortopts;	       /* with 'h' for -h */
	const struct option *longopts; /* with "help" as 'h' */
	void (*usage)(FILE *out);
	/*
	 * Takes one option of the command's own; false once it has said why
	 * its value is wrong.
	 */
	bool (*take)(int opt, const char *arg, void *ctx);
};

/*
 * Reads the options of argv (argv[0] the command's name) with getopt_long:
 * -h prints the usage to stdout and ends the command with 0, an unknown
 * option or a missing value prints it to stderr and ends it with 2, as does
 * an option that cmd->take refuses. Returns CLI_GO_ON, with optind at the
 * first operand, or the exit code.
 */
int cli_options(const struct cli_command *cmd, int argc, char **argv,
		void *ctx);

/* The session FILE operand, taken (optind moves past it), or the default. */
const char *cli_session_file(int argc, char **argv);

#endif /* GS_CLI_H */
