// SPDX-License-Identifier: GPL-2.0
/* gilscope: why don't my Python threads go faster? */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "dump.h"
#include "flame.h"
#include "timeline.h"
#include "top.h"
#include "record.h"
#include "replay.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope record [-o FILE] [-d SECONDS] [-b MB] [--lock ACQ:REL] [--light]\n"
		"                       [--sample-hz N] [--no-stacks] [--no-debuginfo] [-v]\n"
		"                       (-p PID | -a | -- COMMAND [ARGS...])\n"
		"       gilscope top [-p PID | -a] [-i SECONDS] [--light] [--once [--json]]\n"
		"       gilscope report [--json] [FILE]\n"
		"       gilscope timeline -o OUT[.pftrace|.json|.html] [FILE]\n"
		"       gilscope flame [--what oncpu|gil-wait|offcpu|wall] [--pid P] [--tid T]\n"
		"                      -o OUT[.svg|.folded|.speedscope.json|.pb.gz] [FILE]\n"
		"       gilscope dump FILE\n"
		"       gilscope version\n"
		"\n"
		"record  trace a command from its first instruction, or attach to a running\n"
		"        process, with its threads and child processes; write FILE\n"
		"        (default gilscope.data)\n"
		"report  where every thread's time went: GIL held, waited, hand-offs, CPU,\n"
		"        run queue and blocking by reason, with a diagnosis\n"
		"timeline every thread, every core, every GIL hand-off: Perfetto,\n"
		"        Chrome JSON or a self-contained HTML view\n"
		"flame   where on-CPU, GIL wait and blocked time went, by Python stack:\n"
		"        SVG, folded stacks, speedscope or pprof\n"
		"top     a live view: GIL held, waited, hand-offs per process and thread\n"
		"dump    the raw events, one per line\n");
}

static int parse_number(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < 0 ? -1 : 0;
}

static bool take_record_option(int opt, const char *arg, void *ctx)
{
	struct record_opts *o = ctx;
	double num;

	switch (opt) {
	case 'o':
		o->output = arg;
		break;
	case 'd':
		if (parse_number(arg, &o->duration_s) || o->duration_s <= 0) {
			fprintf(stderr,
				"gilscope: -d needs a positive number of seconds, not '%s'\n",
				arg);
			return false;
		}
		break;
	case 'p':
		if (parse_number(arg, &num) || num < 1 || num != (int)num) {
			fprintf(stderr,
				"gilscope: -p needs a process id, not '%s'\n",
				arg);
			return false;
		}
		o->pid = (int)num;
		break;
	case 'b':
		if (parse_number(arg, &num) || num < 1 || num > 4096) {
			fprintf(stderr,
				"gilscope: -b needs a size in MB (1-4096)\n");
			return false;
		}
		/* the ring buffer must be a power of two pages */
		o->ringbuf_bytes = 1u << 20;
		while (o->ringbuf_bytes < num * (1u << 20))
			o->ringbuf_bytes <<= 1;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'L':
		o->lock_spec = arg;
		break;
	case 'l':
		o->light = true;
		break;
	case 'S':
		if (parse_number(arg, &num) || num > 10000 || num != (int)num) {
			fprintf(stderr,
				"gilscope: --sample-hz needs 0-10000 samples per second\n");
			return false;
		}
		o->sample_hz = (unsigned int)num;
		break;
	case 'N':
		o->no_stacks = true;
		break;
	case 'D':
		o->no_debuginfo = true;
		break;
	case 'q':
		o->quiet = true;
		break;
	case 'a':
		o->all = true;
		break;
	}
	return true;
}

static int cmd_record(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "duration", required_argument, NULL, 'd' },
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "buffer-mb", required_argument, NULL, 'b' },
		{ "lock", required_argument, NULL, 'L' },
		{ "light", no_argument, NULL, 'l' },
		{ "sample-hz", required_argument, NULL, 'S' },
		{ "no-stacks", no_argument, NULL, 'N' },
		{ "no-debuginfo", no_argument, NULL, 'D' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const struct cli_command cmd = { .shortopts = "+o:d:p:ab:vqh",
						.longopts = longopts,
						.usage = usage,
						.take = take_record_option };
	struct record_opts o = { .output = GS_DEFAULT_SESSION,
				 .ringbuf_bytes = 64u << 20,
				 .sample_hz = 99 };
	int ret = cli_options(&cmd, argc, argv, &o);

	if (ret != CLI_GO_ON)
		return ret;
	if (optind < argc)
		o.argv = argv + optind;
	if (!!o.pid + !!o.argv + o.all != 1) {
		fprintf(stderr,
			"gilscope: record needs one of -p PID, -a or -- COMMAND\n");
		return 2;
	}
	return record_main(&o);
}

static bool take_report_option(int opt, const char *arg, void *ctx)
{
	bool *json = ctx;

	(void)arg;
	if (opt == 'j')
		*json = true;
	return true;
}

static int cmd_report(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const struct cli_command cmd = { .shortopts = "jh",
						.longopts = longopts,
						.usage = usage,
						.take = take_report_option };
	bool json = false;
	struct replay rp;
	char err[512];
	int ret = cli_options(&cmd, argc, argv, &json);

	if (ret != CLI_GO_ON)
		return ret;
	if (replay_open(cli_session_file(argc, argv), NULL, &rp, err,
			sizeof(err))) {
		fprintf(stderr, "gilscope: %s\n", err);
		return 1;
	}
	if (json)
		report_json(stdout, &rp.info, rp.an);
	else
		report_text(stdout, &rp.info, rp.an);
	replay_close(&rp);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(argv[1], "timeline"))
		return cmd_timeline(argc - 1, argv + 1);
	if (!strcmp(argv[1], "flame"))
		return cmd_flame(argc - 1, argv + 1);
	if (!strcmp(argv[1], "top"))
		return cmd_top(argc - 1, argv + 1);
	if (!strcmp(argv[1], "dump") && argc == 3) {
		char err[512];

		if (dump_session(stdout, argv[2], err, sizeof(err))) {
			fprintf(stderr, "gilscope: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("gilscope %s\n", GILSCOPE_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "gilscope: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
