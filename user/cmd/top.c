// SPDX-License-Identifier: GPL-2.0
/*
 * `gilscope top`: record_live() (record.c) runs the probes and the loop
 * that drains the ring buffer; its sink hands everything to the live
 * analysis (top_feed.c), and every interval, once the events of that
 * interval are all in (GS_REORDER_WINDOW_NS later), the interval's figures
 * (top_model.c) go to the screen's thread (top_view.c) or, with --once, to
 * stdout. Drawing never holds up the draining.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "common/cli.h"
#include "record/record.h"
#include "cmd/top.h"
#include "cmd/top_feed.h"
#include "cmd/top_json.h"
#include "cmd/top_view.h"

struct top_opts {
	struct record_opts rec;
	double interval_s;
	bool once, json;
};

struct top {
	const struct top_opts *o;
	struct top_feed feed;
	uint64_t interval_ns, next_end;
	struct tv_shared shared;
	pthread_t screen;
	bool screen_on;
	int saved_stderr; /* while the screen is on, stderr goes to a file */
	FILE *held_stderr;
	struct tm_snapshot *once; /* --once: the interval */
	char scope[64];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* ------------------------------------------------------------ screen */

/* Messages while the screen is on would land in it: they are kept and
 * printed once the terminal is back. */
static void hold_stderr(struct top *tp)
{
	tp->held_stderr = tmpfile();
	tp->saved_stderr = tp->held_stderr ? dup(STDERR_FILENO) : -1;
	if (tp->saved_stderr >= 0)
		dup2(fileno(tp->held_stderr), STDERR_FILENO);
}

static void release_stderr(struct top *tp)
{
	char buf[4096];
	size_t n;

	if (tp->saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(tp->saved_stderr, STDERR_FILENO);
	close(tp->saved_stderr);
	tp->saved_stderr = -1;
	rewind(tp->held_stderr);
	while ((n = fread(buf, 1, sizeof(buf), tp->held_stderr)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(tp->held_stderr);
}

static void screen_start(struct top *tp)
{
	hold_stderr(tp);
	if (pthread_create(&tp->screen, NULL, tv_main, &tp->shared)) {
		release_stderr(tp);
		fprintf(stderr, "gilscope: cannot start the screen: %s\n",
			strerror(errno));
		tp->shared.quit = true;
		return;
	}
	tp->screen_on = true;
}

static void screen_stop(struct top *tp)
{
	if (!tp->screen_on)
		return;
	tp->shared.stop = true;
	pthread_join(tp->screen, NULL); /* the terminal is restored */
	tp->screen_on = false;
	release_stderr(tp);
}

/* The screen gets SNAP, in place of one it has not taken yet. */
static void publish(struct top *tp, struct tm_snapshot *snap)
{
	struct tm_snapshot *old;

	pthread_mutex_lock(&tp->shared.lock);
	old = tp->shared.latest;
	tp->shared.latest = snap;
	pthread_mutex_unlock(&tp->shared.lock);
	tm_snapshot_free(old);
}

/* ------------------------------------------------------------ the sink */

static void sink_kv(void *ctx, int type, const struct kv_list *kv)
{
	top_feed_kv(&((struct top *)ctx)->feed, type, kv);
}

static void sink_event(void *ctx, const struct gs_event *e)
{
	top_feed_event(&((struct top *)ctx)->feed, e);
}

/* The interval ending at END is complete: its figures. */
static struct tm_snapshot *interval(struct top *tp, uint64_t end,
				    const struct record_turn *t)
{
	struct top_feed *f = &tp->feed;

	top_feed_release(f, end, true);
	return top_model_interval(&f->model, f->an, t->stk, &f->fl, end,
				  t->events, t->lost, f->late);
}

static bool sink_turn(void *ctx, const struct record_turn *t)
{
	struct top *tp = ctx;
	uint64_t horizon;

	if (tp->feed.err) {
		fprintf(stderr, "gilscope: top: %s\n", strerror(-tp->feed.err));
		return true;
	}
	if (!tp->next_end)
		tp->next_end = t->t0 + tp->interval_ns;
	/* an event may still come this much older than the newest */
	horizon = t->now > t->t0 + GS_REORDER_WINDOW_NS ?
			  t->now - GS_REORDER_WINDOW_NS :
			  t->t0;
	while (tp->next_end <= horizon) {
		struct tm_snapshot *s = interval(tp, tp->next_end, t);

		tp->next_end += tp->interval_ns;
		if (tp->o->once) {
			tp->once = s;
			return true;
		}
		if (s)
			publish(tp, s);
	}
	top_feed_release(&tp->feed, horizon, false);
	if (!tp->o->once && !tp->screen_on && !tp->shared.quit)
		screen_start(tp);
	return tp->shared.quit;
}

/* ------------------------------------------------------------ output */

static int terminal_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	if (cols && atoi(cols) > 0)
		return atoi(cols);
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col)
		return ws.ws_col;
	return 200;
}

/* --once: the interval (or what there was of it, when the process ended
 * first) on stdout. */
static void print_once(struct top *tp, const char *reason)
{
	struct record_turn t = { .now = now_ns() };

	if (!tp->once && tp->feed.an && strcmp(reason, "signal")) {
		t.events = tp->feed.an->events;
		tp->once = interval(tp, t.now, &t);
	}
	if (!tp->once) {
		fprintf(stderr, "gilscope: top: no interval was completed\n");
		return;
	}
	if (tp->o->json)
		top_json(stdout, tp->once);
	else
		tv_print(stdout, tp->once, &tp->shared.st, terminal_width());
}

static int run_top(const struct top_opts *o)
{
	struct top tp = { .o = o, .saved_stderr = -1 };
	struct record_sink sink = { .ctx = &tp,
				    .kv = sink_kv,
				    .event = sink_event,
				    .turn = sink_turn };
	const char *reason;

	top_feed_init(&tp.feed);
	pthread_mutex_init(&tp.shared.lock, NULL);
	tp.interval_ns = (uint64_t)(o->interval_s * 1e9);
	tp.feed.model.python_only = o->rec.all;
	if (o->rec.pid)
		snprintf(tp.scope, sizeof(tp.scope), "PID %d", o->rec.pid);
	else
		snprintf(tp.scope, sizeof(tp.scope), "every Python process");
	tp.shared.st = (struct tv_state){ .sort = TV_WAIT,
					  .scope = tp.scope,
					  .interval_s = o->interval_s };
	reason = record_live(&o->rec, &sink);
	screen_stop(&tp);
	if (reason && o->once)
		print_once(&tp, reason);
	else if (reason && !strcmp(reason, "exit"))
		fprintf(stderr, "gilscope: process %d exited\n", o->rec.pid);
	tm_snapshot_free(tp.once);
	tm_snapshot_free(tp.shared.latest);
	top_feed_free(&tp.feed);
	pthread_mutex_destroy(&tp.shared.lock);
	return reason ? 0 : 1;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: gilscope top [-p PID | -a] [-i SECONDS] [--light] [--once [--json]] [-v]\n"
		"\n"
		"A live view of the GIL, refreshed every interval (-i, 1 s): per process\n"
		"and thread, GIL held and waited for, on-CPU without the GIL, runnable,\n"
		"blocked and why, hand-offs per second and their p99 latency, and the\n"
		"Python stack most waited on. -p one process (with its threads and\n"
		"children), -a (the default) every Python process, also those started\n"
		"later. Keys on the screen: w h c r b o t n sort, j/k scroll, q quits.\n"
		"--once prints one interval and exits (--json: as JSON, docs/top.md).\n"
		"\n"
		"  -p, --pid PID          one process (with its threads and children)\n"
		"  -a, --all              every Python process (the default)\n"
		"  -i, --interval SECONDS refresh every SECONDS, 0.1-3600 (default 1)\n"
		"      --light            no uprobes and no syscall tracepoints (cheaper)\n"
		"      --once             print one interval and exit\n"
		"      --json             with --once: as JSON\n"
		"  -v, --verbose          say what was probed\n"
		"  -h, --help             this help\n");
}

static bool take_option(int opt, const char *arg, void *ctx)
{
	struct top_opts *o = ctx;
	char *end;
	double v;

	switch (opt) {
	case 'p':
		v = strtod(arg, &end);
		if (*end || end == arg || v < 1 || v != (int)v) {
			fprintf(stderr,
				"gilscope: -p needs a process id, not '%s'\n",
				arg);
			return false;
		}
		o->rec.pid = (int)v;
		break;
	case 'a':
		o->rec.all = true;
		break;
	case 'i':
		v = strtod(arg, &end);
		if (*end || end == arg || !(v >= 0.1 && v <= 3600)) {
			fprintf(stderr,
				"gilscope: -i needs an interval of 0.1-3600 seconds, not '%s'\n",
				arg);
			return false;
		}
		o->interval_s = v;
		break;
	case 'l':
		o->rec.light = true;
		break;
	case 'o':
		o->once = true;
		break;
	case 'j':
		o->json = true;
		break;
	case 'v':
		o->rec.verbose = true;
		break;
	}
	return true;
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "all", no_argument, NULL, 'a' },
		{ "interval", required_argument, NULL, 'i' },
		{ "light", no_argument, NULL, 'l' },
		{ "once", no_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const struct cli_command cmd = { .shortopts = "p:ai:vh",
						.longopts = longopts,
						.usage = usage,
						.take = take_option };
	/* no on-CPU sampler: the view needs the stacks of GIL waits only */
	struct top_opts o = { .rec = { .ringbuf_bytes = 64u << 20,
				       .quiet = true },
			      .interval_s = 1.0 };
	int ret = cli_options(&cmd, argc, argv, &o);

	if (ret != CLI_GO_ON)
		return ret;
	if (optind < argc) {
		fprintf(stderr, "gilscope: top takes no operand ('%s')\n",
			argv[optind]);
		return 2;
	}
	if (o.rec.pid && o.rec.all) {
		fprintf(stderr, "gilscope: top takes -p PID or -a, not both\n");
		return 2;
	}
	if (o.json && !o.once) {
		fprintf(stderr, "gilscope: --json goes with --once\n");
		return 2;
	}
	if (!o.once && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr,
			"gilscope: top needs a terminal (or --once for one interval on stdout)\n");
		return 2;
	}
	o.rec.all = !o.rec.pid;
	return run_top(&o);
}
