// SPDX-License-Identifier: GPL-2.0
/* `gilscope flame [--what W] [--pid P] [--tid T] -o OUT [FILE]` */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cli.h"
#include "cmd/flame.h"
#include "cmd/formats.h"
#include "views/flame_model.h"
#include "views/flame_out.h"
#include "common/outfile.h"
#include "analysis/replay.h"
#include "common/utf8.h"
#include "session/keys.h"

static int write_folded(FILE *out, const struct fl_profile *p,
			const struct fl_info *info)
{
	(void)info;
	return flame_write_folded(out, p);
}

static const struct out_format formats[] = {
	{ { ".svg" },
	  "an interactive flame graph (click, search)",
	  .write.flame = flame_write_svg },
	{ { ".folded" },
	  "folded stacks in microseconds (flamegraph.pl, inferno)",
	  .write.flame = write_folded },
	{ { ".speedscope.json" },
	  "speedscope, one profile per thread",
	  .write.flame = flame_write_speedscope },
	{ { ".pb.gz", ".pprof" },
	  "pprof (Pyroscope, Parca, Grafana, go tool pprof)",
	  .write.flame = flame_write_pprof },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope flame [--what oncpu|gil-wait|offcpu|wall] [--pid P] [--tid T]\n"
		"                      -o OUT [FILE]\n"
		"\n"
		"Where the time of the session FILE (default gilscope.data) went, by\n"
		"Python stack, one root per thread:\n"
		"  oncpu     time on a CPU\n"
		"  gil-wait  time waiting for the GIL\n"
		"  offcpu    time blocked, by reason, with the syscall as the leaf\n"
		"  wall      all of a thread's life side by side (default): [on-CPU],\n"
		"            [GIL wait], [runnable], [sleep], [network], [io], [lock]...\n"
		"Per thread the totals are the report's. OUT's suffix chooses the format:\n");
	out_formats_help(out, formats, N_FORMATS(formats));
	fprintf(out,
		"\n"
		"  -o, --output OUT   the flame graph file (written whole or not at all)\n"
		"  -w, --what WHAT    oncpu, gil-wait, offcpu or wall (default wall)\n"
		"  -p, --pid P        process P only\n"
		"  -t, --tid T        thread T only\n"
		"  -h, --help         this help\n");
}

/* Stack table chunks the reader left out say so. */
static void warn_skipped(const struct gs_session *s)
{
	if (s->blobs_skipped)
		fprintf(stderr,
			"gilscope flame: warning: %u stack table chunks past the first 256 MB were not read; stacks they name show as unknown\n",
			s->blobs_skipped);
}

struct write_job {
	const struct out_format *fmt;
	const struct fl_profile *p;
	const struct fl_info *info;
};

static int write_job(FILE *out, void *ctx)
{
	const struct write_job *job = ctx;

	return job->fmt->write.flame(out, job->p, job->info);
}

static int write_file(const char *path, const struct out_format *fmt,
		      const struct fl_profile *p, const struct fl_info *info)
{
	struct write_job job = { .fmt = fmt, .p = p, .info = info };

	return write_atomically(path, write_job, &job);
}

static void summary(const char *path, const struct fl_profile *p, int tables)
{
	struct stat st;
	double mb = stat(path, &st) ? 0 : st.st_size / 1e6;

	fprintf(stderr,
		"gilscope: wrote %s (%.1f MB): %s, %zu threads, %zu stacks, %.3f s\n",
		path, mb, fl_what_title(p->what), p->n_threads, p->n_rows,
		p->total_ns / 1e9);
	if (!tables)
		fprintf(stderr,
			"gilscope: the session has no stacks (recorded with --no-stacks, by an older gilscope, or cut short): per-thread totals only\n");
	else if (p->total_ns && p->no_stack_ns * 10 > p->total_ns)
		fprintf(stderr,
			"gilscope: %.0f %% of the time has no stack ([no stack])\n",
			100.0 * p->no_stack_ns / p->total_ns);
}

struct flame_args {
	const char *in, *out;
	enum fl_what what;
	const struct out_format *fmt;
	uint32_t pid, tid;
};

static int flame(const struct flame_args *a)
{
	struct fl_profile prof = { 0 };
	struct fl_model m;
	struct replay rp;
	char err[512], title[512], cmd[512];
	struct fl_info info = { .title = title };
	int ret, tables;

	fl_model_init(&m, a->what, a->pid, a->tid);
	if (replay_open(a->in, fl_model_sink(&m), &rp, err, sizeof(err))) {
		fprintf(stderr, "gilscope: %s\n", err);
		fl_model_free(&m);
		return 1;
	}
	warn_skipped(gs_reader_session(rp.reader));
	tables = rp.stack_tables;
	ret = fl_model_finish(&m, &rp.tab, &prof);
	if (ret)
		goto cleanup;
	info.command = rp.info.command ? rp.info.command : "";
	info.duration_ns = rp.info.duration_ns;
	info.realtime_at_start_ns =
		kv_get_u64(&gs_reader_session(rp.reader)->host,
			   GS_KEY_REALTIME_AT_START_NS, 0);
	snprintf(title, sizeof(title), "%s: %s", fl_what_title(a->what),
		 printable(cmd, sizeof(cmd), info.command));
	ret = write_file(a->out, a->fmt, &prof, &info);
	if (!ret)
		summary(a->out, &prof, tables);
cleanup:
	if (ret)
		fprintf(stderr, "gilscope: cannot write %s: %s\n", a->out,
			strerror(-ret));
	fl_profile_free(&prof);
	fl_model_free(&m);
	replay_close(&rp);
	return ret ? 1 : 0;
}

static int parse_id(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || !v || v > UINT32_MAX)
		return -1;
	*out = v;
	return 0;
}

static bool take_flame_option(int opt, const char *arg, void *ctx)
{
	struct flame_args *a = ctx;

	switch (opt) {
	case 'o':
		a->out = arg;
		break;
	case 'w':
		if (fl_what_parse(arg, &a->what)) {
			fprintf(stderr,
				"gilscope: --what is oncpu, gil-wait, offcpu or wall, not '%s'\n",
				arg);
			return false;
		}
		break;
	case 'p':
	case 't':
		if (parse_id(arg, opt == 'p' ? &a->pid : &a->tid)) {
			fprintf(stderr,
				"gilscope: --%s needs a number, not '%s'\n",
				opt == 'p' ? "pid" : "tid", arg);
			return false;
		}
		break;
	}
	return true;
}

int cmd_flame(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "what", required_argument, NULL, 'w' },
		{ "pid", required_argument, NULL, 'p' },
		{ "tid", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const struct cli_command cmd = { .shortopts = "o:w:p:t:h",
						.longopts = longopts,
						.usage = usage,
						.take = take_flame_option };
	struct flame_args a = { .what = FL_WALL };
	int ret = cli_options(&cmd, argc, argv, &a);

	if (ret != CLI_GO_ON)
		return ret;
	a.in = cli_session_file(argc, argv);
	if (!a.out || optind < argc) {
		usage(stderr);
		return 2;
	}
	a.fmt = out_format_of(formats, N_FORMATS(formats), a.out);
	if (!a.fmt) {
		out_format_unknown(formats, N_FORMATS(formats), a.out);
		return 2;
	}
	return flame(&a);
}
