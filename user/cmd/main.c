// SPDX-License-Identifier: GPL-2.0
/* gilscope: why don't my Python threads go faster? */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/cli.h"
#include "views/dump.h"
#include "cmd/flame.h"
#include "cmd/timeline.h"
#include "cmd/top.h"
#include "record/record.h"
#include "analysis/replay.h"
#include "views/report.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope record [-o FILE] [-d SECONDS] [-b MB] [--lock ACQ:REL] [--light]\n"
		"                       [--sample-hz N] [--no-stacks] [--no-debuginfo] [-v] [-q]\n"
		"                       (-p PID | -a | -- COMMAND [ARGS...])\n"
		"       gilscope top [-p PID | -a] [-i SECONDS] [--light] [--once [--json]] [-v]\n"
		"       gilscope report [--json] [FILE]\n"
		"       gilscope timeline -o OUT[.pftrace|.json|.html] [FILE]\n"
		"       gilscope flame [--what oncpu|gil-wait|offcpu|wall] [--pid P] [--tid T]\n"
		"                      -o OUT[.svg|.folded|.speedscope.json|.pb.gz] [FILE]\n"
		"       gilscope dump [FILE]\n"
		"       gilscope version\n"
		"       gilscope help [COMMAND]\n"
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
		"dump    the raw events, one per line\n"
		"\n"
		"'gilscope help COMMAND' or 'gilscope COMMAND --help' shows a command's\n"
		"options; man gilscope tells more.\n");
}

static void record_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope record [OPTIONS] (-p PID | -a | -- COMMAND [ARGS...])\n"
		"\n"
		"Trace a command from its first instruction, a running process (with its\n"
		"threads and child processes) or every Python process of the machine, and\n"
		"write a session file for report, timeline, flame and dump. Needs root\n"
		"(or CAP_BPF and CAP_PERFMON).\n"
		"\n"
		"  -- COMMAND [ARGS...]   start COMMAND with the probes in place; its stdin,\n"
		"                         stdout and exit status pass through\n"
		"  -p, --pid PID          attach to process PID until -d, Ctrl-C or its end\n"
		"  -a, --all              every Python process, running and started later\n"
		"  -o, --output FILE      the session file (default gilscope.data), mode 0600\n"
		"  -d, --duration SECONDS stop recording after SECONDS\n"
		"  -b, --buffer-mb MB     the event ring buffer, 1-4096 MB (default 64)\n"
		"      --light            no uprobes and no syscall tracepoints: cheaper,\n"
		"                         GIL waits from its futex, holds from the scheduler\n"
		"      --lock ACQ:REL     follow a native lock: the functions that take and\n"
		"                         release it, by symbol in the command's file\n"
		"      --sample-hz N      on-CPU stack samples per second, 0-10000 (default 99)\n"
		"      --no-stacks        record no stacks\n"
		"      --no-debuginfo     use no debug file even where one is installed\n"
		"  -v, --verbose          say what was probed, and libbpf's messages\n"
		"  -q, --quiet            no status line on stderr\n"
		"  -h, --help             this help\n");
}

static void report_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope report [--json] [FILE]\n"
		"\n"
		"Where every thread's time went in the session FILE (default\n"
		"gilscope.data): GIL held and waited for, hand-offs and their latency,\n"
		"on-CPU, runnable and blocked by reason, locks, and a diagnosis.\n"
		"\n"
		"  -j, --json   the same as JSON (docs/report-json.md)\n"
		"  -h, --help   this help\n");
}

static void dump_usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope dump [FILE]\n"
		"\n"
		"The process records and every event of the session FILE (default\n"
		"gilscope.data) as text, one event per line (docs/session-format.md).\n"
		"\n"
		"  -h, --help   this help\n");
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
						.usage = record_usage,
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
						.usage = report_usage,
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

static bool take_no_option(int opt, const char *arg, void *ctx)
{
	(void)opt, (void)arg, (void)ctx;
	return true;
}

static int cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' }, {}
	};
	static const struct cli_command cmd = { .shortopts = "h",
						.longopts = longopts,
						.usage = dump_usage,
						.take = take_no_option };
	const char *in;
	char err[512];
	int ret = cli_options(&cmd, argc, argv, NULL);

	if (ret != CLI_GO_ON)
		return ret;
	in = cli_session_file(argc, argv);
	if (optind < argc) {
		dump_usage(stderr);
		return 2;
	}
	if (dump_session(stdout, in, err, sizeof(err))) {
		fprintf(stderr, "gilscope: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_version(int argc, char **argv)
{
	if (argc > 1 &&
	    (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: gilscope version\n\nPrints gilscope's version.\n");
		return 0;
	}
	printf("gilscope %s\n", GILSCOPE_VERSION);
	return 0;
}

static int cmd_help(int argc, char **argv);

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "record", cmd_record },     { "report", cmd_report },
	{ "timeline", cmd_timeline }, { "flame", cmd_flame },
	{ "top", cmd_top },	      { "dump", cmd_dump },
	{ "version", cmd_version },   { "--version", cmd_version },
	{ "help", cmd_help },	      { "--help", cmd_help },
	{ "-h", cmd_help },
};

static int (*command_named(const char *name))(int, char **)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return commands[i].run;
	return NULL;
}

/* `help` alone: the overview; `help CMD`: CMD's own options (CMD --help). */
static int cmd_help(int argc, char **argv)
{
	char help[] = "--help";
	char *args[] = { argc > 1 ? argv[1] : NULL, help, NULL };
	int (*run)(int, char **);

	if (argc < 2 || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	run = command_named(argv[1]);
	if (!run) {
		fprintf(stderr, "gilscope: no help on '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	return run(2, args);
}

/*
 * Output that could not be written (a full disk, /dev/full, a closed pipe)
 * is a failure, said in one line, as every Unix tool does.
 */
static int close_stdout(int ret)
{
	bool failed = ferror(stdout);

	errno = 0;
	if (fclose(stdout))
		failed = true;
	if (!failed)
		return ret;
	fprintf(stderr, "gilscope: cannot write the output: %s\n",
		errno ? strerror(errno) : "write error");
	return ret ? ret : 1;
}

int main(int argc, char **argv)
{
	int (*run)(int, char **);

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	run = command_named(argv[1]);
	if (!run) {
		fprintf(stderr, "gilscope: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	return close_stdout(run(argc - 1, argv + 1));
}
