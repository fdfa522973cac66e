// SPDX-License-Identifier: GPL-2.0
/* `gilscope timeline -o OUT [FILE]`: read a session, write a timeline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/cli.h"
#include "views/pftrace.h"
#include "common/outfile.h"
#include "analysis/replay.h"
#include "views/phases_report.h"
#include "views/report.h"
#include "cmd/formats.h"
#include "cmd/timeline.h"
#include "session/keys.h"
#include "views/timeline_html.h"
#include "views/timeline_json.h"
#include "views/timeline_model.h"

static const struct out_format formats[] = {
	{ { ".pftrace", ".perfetto-trace" },
	  "Perfetto trace: open it at ui.perfetto.dev",
	  .write.timeline = pftrace_write },
	{ { ".json" },
	  "Chrome trace events: chrome://tracing or Perfetto",
	  .write.timeline = timeline_json_write },
	{ { ".html", ".htm" },
	  "one self-contained page: open it in any browser",
	  .with_report = true,
	  .write.timeline = timeline_html_write },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope timeline -o OUT [FILE]\n"
		"\n"
		"Every thread's states, every GIL hand-off and every CPU of the\n"
		"session FILE (default gilscope.data), as a timeline. OUT's suffix\n"
		"chooses the format:\n");
	out_formats_help(out, formats, N_FORMATS(formats));
	fprintf(out,
		"\n"
		"  -o, --output OUT   the timeline file (written whole or not at all)\n"
		"  -h, --help         this help\n");
}

static const char *host_value(const struct replay *rp, const char *key)
{
	const char *v = kv_get(&gs_reader_session(rp->reader)->host, key);

	return v ? v : "";
}

/* The text report, for the HTML page's header; NULL without memory. */
static char *text_report(const struct replay *rp)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	report_text(f, &rp->info, rp->an);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * What the report says, from a replay of its own made and closed before
 * the timeline's (the phases' log holds every accounted interval, as much
 * memory as the timeline's model: one after the other, not both at once):
 * the phases and, for the HTML page, the text report. 0, or 1 when the
 * session cannot be read (said on stderr), or -ENOMEM.
 */
static int report_pass(const char *in, const struct out_format *fmt,
		       struct tl_info *info)
{
	struct replay rp;
	char err[512];
	int ret;

	if (replay_open(in, NULL, &rp, err, sizeof(err))) {
		fprintf(stderr, "gilscope: %s\n", err);
		return 1;
	}
	ret = ph_items(rp.an, &info->phases, &info->n_phases);
	if (!ret && fmt->with_report) {
		info->report_text = text_report(&rp);
		ret = info->report_text ? 0 : -ENOMEM;
	}
	replay_close(&rp);
	return ret;
}

struct write_job {
	const struct out_format *fmt;
	const struct tl_model *m;
	const struct tl_info *info;
};

static int write_job(FILE *out, void *ctx)
{
	const struct write_job *job = ctx;

	return job->fmt->write.timeline(out, job->m, job->info);
}

static int write_file(const char *path, const struct out_format *fmt,
		      const struct tl_model *m, const struct tl_info *info)
{
	struct write_job job = { .fmt = fmt, .m = m, .info = info };

	return write_atomically(path, write_job, &job);
}

static void summary(const char *path, const struct tl_model *m)
{
	struct stat st;
	double mb = stat(path, &st) ? 0 : st.st_size / 1e6;

	fprintf(stderr,
		"gilscope: wrote %s (%.1f MB): %zu threads, %zu state slices, "
		"%zu GIL hand-offs, %zu CPUs\n",
		path, mb, m->n_lanes, m->slices.n, m->handoffs.n, m->n_cpus);
	if (m->unbound_flows)
		fprintf(stderr,
			"gilscope: %llu hand-offs had no slice at one end and have no arrow\n",
			(unsigned long long)m->unbound_flows);
}

static int timeline(const char *in, const char *out,
		    const struct out_format *fmt)
{
	struct tl_info info = { 0 };
	struct tl_model m;
	struct replay rp;
	char err[512];
	int ret;

	ret = report_pass(in, fmt, &info);
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "gilscope: %s: %s\n", in,
				strerror(-ret));
		free((char *)info.report_text);
		free(info.phases);
		return 1;
	}
	tl_model_init(&m);
	ret = replay_open(in, tl_model_sink(&m), &rp, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "gilscope: %s\n", err);
		free((char *)info.report_text);
		free(info.phases);
		tl_model_free(&m);
		return 1;
	}
	ret = tl_model_finish(&m, rp.an, rp.an->t0 + rp.info.duration_ns);
	if (ret)
		goto cleanup;
	info.kernel = host_value(&rp, GS_KEY_KERNEL);
	info.machine = host_value(&rp, GS_KEY_MACHINE);
	info.hostname = host_value(&rp, GS_KEY_HOSTNAME);
	info.realtime_at_start = strtoull(
		host_value(&rp, GS_KEY_REALTIME_AT_START_NS), NULL, 10);
	info.cpus =
		(unsigned int)strtoul(host_value(&rp, GS_KEY_CPUS), NULL, 10);
	info.command = rp.info.command ? rp.info.command : "";
	info.duration_ns = rp.info.duration_ns;
	ret = write_file(out, fmt, &m, &info);
	if (!ret)
		summary(out, &m);
cleanup:
	if (ret)
		fprintf(stderr, "gilscope: cannot write %s: %s\n", out,
			strerror(-ret));
	free((char *)info.report_text);
	free(info.phases);
	tl_model_free(&m);
	replay_close(&rp);
	return ret ? 1 : 0;
}

static bool take_timeline_option(int opt, const char *arg, void *ctx)
{
	const char **out = ctx;

	if (opt == 'o')
		*out = arg;
	return true;
}

int cmd_timeline(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const struct cli_command cmd = { .shortopts = "o:h",
						.longopts = longopts,
						.usage = usage,
						.take = take_timeline_option };
	const char *out = NULL, *in;
	const struct out_format *fmt;
	int ret = cli_options(&cmd, argc, argv, &out);

	if (ret != CLI_GO_ON)
		return ret;
	in = cli_session_file(argc, argv);
	if (!out || optind < argc) {
		usage(stderr);
		return 2;
	}
	fmt = out_format_of(formats, N_FORMATS(formats), out);
	if (!fmt) {
		out_format_unknown(formats, N_FORMATS(formats), out);
		return 2;
	}
	return timeline(in, out, fmt);
}
