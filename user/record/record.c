// SPDX-License-Identifier: GPL-2.0
/*
 * The collector: open -> configure -> load -> attach the probes, start the
 * command (held before exec until the probes are in place) or attach to a
 * process, then move events from the ring buffer into the session file
 * until the program exits, the duration ends or a signal arrives.
 */
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/types.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "record/elfimg.h"
#include "common/evname.h"
#include "gilscope.skel.h"
#include "common/procfs.h"
#include "record/recorder.h"
#include "record/stacks.h"
#include "session/keys.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static bool verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG || (!verbose_libbpf && level == LIBBPF_INFO))
		return 0;
	if (!verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* ------------------------------------------------------------ output */

/* A key=value record: into the session, or to the live view. */
void emit_kv(struct recorder *r, enum gs_chunk_type type,
	     const struct kv_list *kv)
{
	if (r->sink)
		r->sink->kv(r->sink->ctx, type, kv);
	else if (gs_writer_kv(r->w, type, kv))
		r->write_err = -EIO;
}

void emit_event(struct recorder *r, const struct gs_event *e)
{
	if (r->sink)
		r->sink->event(r->sink->ctx, e);
	else if (gs_writer_event(r->w, e))
		r->write_err = -EIO;
}

/* ------------------------------------------------------------ the loop */

static uint64_t lost_total(const struct recorder *r, struct kv_list *kv)
{
	uint64_t sum = 0;

	for (int i = 0; i < GS_EV_MAX; i++) {
		uint64_t n = r->skel->bss->lost[i];
		const char *name = gs_event_key(i);

		sum += n;
		if (kv && n && name) {
			char key[32];

			snprintf(key, sizeof(key), GS_KEY_LOST_PREFIX "%s",
				 name);
			kv_setf(kv, key, "%llu", (unsigned long long)n);
		}
	}
	return sum;
}

static void status_line(struct recorder *r, bool final)
{
	double secs = (now_ns(CLOCK_MONOTONIC) - r->t0) / 1e9;

	/* after a write error, the one line that says so is all */
	if (r->opts->quiet || r->write_err || r->sink)
		return;
	if (!final && !isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "%sgilscope: %.1f s, %llu events, %llu lost%s",
		isatty(STDERR_FILENO) ? "\r\033[K" : "", secs,
		(unsigned long long)r->events,
		(unsigned long long)lost_total(r, NULL), final ? "" : " ");
	if (final)
		fprintf(stderr, " -> %s (%.1f MB)\n", r->opts->output,
			gs_writer_bytes(r->w) / 1e6);
}

static bool root_finished(struct recorder *r)
{
	int status;

	if (r->launched) {
		if (waitpid(r->root, &status, WNOHANG) == r->root) {
			r->root_status = status;
			return true;
		}
		return false;
	}
	if (r->opts->all)
		return false;
	return r->root_gone || !proc_exists(r->root);
}

/* A live view's turn; true when it wants to stop. */
static bool sink_turn(struct recorder *r, uint64_t now)
{
	struct record_turn t = {
		.now = now,
		.t0 = r->t0,
		.events = r->events,
		.lost = lost_total(r, NULL),
		.stk = r->stk,
	};

	return r->sink->turn && r->sink->turn(r->sink->ctx, &t);
}

static const char *run_loop(struct recorder *r)
{
	uint64_t deadline = 0, last_status = 0;

	if (r->opts->duration_s > 0)
		deadline = r->t0 + (uint64_t)(r->opts->duration_s * 1e9);
	for (;;) {
		uint64_t now;

		/* events come without wakeups until the buffer fills up:
		 * drain it on this timer */
		ring_buffer__poll(r->rb, POLL_MS);
		ring_buffer__consume(r->rb);
		retry_discoveries(r, false);
		retry_candidates(r);
		stk_tick(r->stk); /* stacks: thread lists and names */
		now = now_ns(CLOCK_MONOTONIC);
		if (r->sink && sink_turn(r, now))
			return "sink";
		if (!r->sink && now - r->last_flush > FLUSH_NS) {
			if (gs_writer_flush(r->w))
				r->write_err = -EIO;
			r->last_flush = now;
		}
		if (now - last_status > 1000000000ull) {
			status_line(r, false);
			last_status = now;
		}
		if (r->write_err)
			return "write-error";
		if (root_finished(r))
			return "exit";
		if (stop_signal)
			return "signal";
		if (deadline && now >= deadline)
			return "duration";
	}
}

/* The switch counter of every process still alive, for the self-check. */
static void read_end_counters(struct recorder *r)
{
	struct proc_rec *p;

	for (size_t i = 0; (p = pidmap_next(&r->procs, &i));) {
		struct kv_list kv = {};

		if (!p->has_interp || !p->gil_addr || !proc_exists(p->pid))
			continue;
		read_gil_state(p->pid, p, &kv, "end");
		if (kv.n) {
			kv_setf(&kv, GS_KEY_PID, "%d", p->pid);
			kv_setf(&kv, GS_KEY_SINCE_NS, "%llu",
				(unsigned long long)p->image_since);
			emit_kv(r, GS_CHUNK_PROCESS, &kv);
		}
		kv_free(&kv);
	}
}

static void write_trailer(struct recorder *r, const char *reason)
{
	struct kv_list kv = {};

	kv_setf(&kv, GS_KEY_END_NS, "%llu",
		(unsigned long long)now_ns(CLOCK_MONOTONIC));
	kv_setf(&kv, GS_KEY_EVENTS, "%llu", (unsigned long long)r->events);
	kv_setf(&kv, GS_KEY_LOST, "%llu",
		(unsigned long long)lost_total(r, &kv));
	kv_setf(&kv, GS_KEY_UNSEEN_SWITCH_INS, "%llu",
		(unsigned long long)r->skel->bss->unseen_switch_ins);
	kv_set(&kv, GS_KEY_STOP_REASON, reason);
	kv_set(&kv, GS_KEY_FINALIZED, "1");
	emit_kv(r, GS_CHUNK_TRAILER, &kv);
	kv_free(&kv);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* How the command ended, for the line that reports a failed recording. */
static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended, its status unknown");
}

static void cleanup(struct recorder *r)
{
	detach_all(r);
	free(r->link_fds);
	stk_free(r->stk); /* stacks: the sampler's links first */
	ring_buffer__free(r->rb);
	gilscope_bpf__destroy(r->skel);
	free_procs(r);
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The launched command's wait status once it has ended (it runs on
 * untraced after the recording). SIGTERM or SIGHUP to gilscope is passed
 * on to it; Ctrl-C reaches both from the terminal. -1 if it cannot be had.
 */
static int wait_command(struct recorder *r, const char *reason)
{
	bool passed_on = false;
	int status;

	if (reason && !strcmp(reason, "exit"))
		return r->root_status; /* reaped by root_finished() */
	for (;;) {
		if (r->started && !passed_on &&
		    (stop_signal == SIGTERM || stop_signal == SIGHUP)) {
			kill(r->root, stop_signal);
			passed_on = true;
		}
		if (waitpid(r->root, &status, 0) == r->root)
			return status;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * The recording failed (ERR), AT_START (nothing could be written) or later:
 * one line says so, and how the command ended, since it ran all the same.
 * The exit code is the command's when it failed (as when recording works),
 * otherwise 1: never 0 for a lost recording.
 */
static int report_lost_recording(struct recorder *r, bool at_start, int err,
				 int status)
{
	const char *file = r->opts->output;
	char how[128] = "", end[64];
	int code = r->started ? exit_code_of(status) : 0;

	if (r->started) {
		describe_status(status, end, sizeof(end));
		snprintf(how, sizeof(how), "; the command %s%s",
			 at_start ? "ran untraced and " : "", end);
	}
	if (at_start)
		fprintf(stderr, "gilscope: cannot write %s: %s%s\n", file,
			strerror(-err), how);
	else
		fprintf(stderr,
			"gilscope: writing %s failed: %s; the file holds what was written before%s\n",
			file, strerror(-err), how);
	return code ? code : 1;
}

/*
 * Errors of the storage rather than of the path: the file exists, the data
 * do not fit (a full disk or quota, /dev/full, a device error).
 */
static bool storage_error(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EFBIG || err == -EIO;
}

/*
 * The output takes no data from the start: the command runs untraced all
 * the same (it is what the user wanted run; the recording was a means),
 * and the line at its end says that nothing was recorded and why.
 */
static int run_untraced(struct recorder *r, int err)
{
	int go_fd, status;
	pid_t pid;

	install_signals();
	pid = spawn_held(r->opts->argv, &go_fd);
	if (pid < 0) {
		fprintf(stderr,
			"gilscope: cannot write %s: %s, nor start the command: %s\n",
			r->opts->output, strerror(-err), strerror(-pid));
		return 1;
	}
	r->root = pid;
	r->launched = true;
	r->started = write(go_fd, "g", 1) == 1;
	close(go_fd);
	status = wait_command(r, NULL);
	return report_lost_recording(r, true, err, status);
}

/* Root, or the capabilities BPF tracing needs (CapEff in /proc). */
static bool may_load_bpf(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	if (geteuid() == 0)
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return true; /* let the load itself decide */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	/* CAP_SYS_ADMIN (21), or CAP_BPF (39) with CAP_PERFMON (38) */
	return (caps >> 21 & 1) || ((caps >> 39 & 1) && (caps >> 38 & 1));
}

/* The process to attach to exists and BPF may be loaded (else said). */
static bool may_record(const struct record_opts *opts)
{
	if (opts->pid && (opts->pid < 0 || !proc_exists(opts->pid))) {
		fprintf(stderr, "gilscope: no process with PID %d\n",
			opts->pid);
		return false;
	}
	if (!may_load_bpf()) {
		fprintf(stderr,
			"gilscope: not allowed to load BPF programs: run as root (sudo) or with CAP_BPF and CAP_PERFMON\n");
		return false;
	}
	return true;
}

/* The held command may exec now: the probes are in place. */
static int release_command(struct recorder *r, int *go_fd)
{
	int ok = write(*go_fd, "g", 1) == 1;

	close(*go_fd);
	*go_fd = -1;
	r->started = ok;
	return ok ? 0 : -EPIPE;
}

/* What closes a session: the last events, the images still being
 * inspected, the end counters, the stack table, then the trailer. */
static void end_session(struct recorder *r, const char *reason)
{
	ring_buffer__consume(r->rb);
	retry_discoveries(r, true);
	read_end_counters(r);
	if (r->sink)
		return;
	/* the trailer comes last: a file ending with it is complete */
	if (gs_writer_flush(r->w))
		r->write_err = -EIO;
	if (stk_write(r->stk, r->w)) /* stacks: the stack table */
		r->write_err = -EIO;
	write_trailer(r, reason);
	status_line(r, true);
}

/*
 * Load and attach the probes, start or attach to the program, record until
 * the end. Returns why the recording stopped, or NULL when setting up
 * failed (said on stderr).
 */
static const char *record(struct recorder *r)
{
	const struct record_opts *opts = r->opts;
	const char *reason = NULL;
	int go_fd = -1;

	install_signals();
	if (open_bpf(r) || attach_tracepoints(r))
		goto out;
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), on_event, r,
				 NULL);
	if (!r->rb) {
		fprintf(stderr, "gilscope: cannot open the ring buffer: %s\n",
			strerror(errno));
		goto out;
	}
	/* stacks: the sampler, their ring */
	if (stk_start(&r->stk, r->skel, r->rb, r->w, opts))
		goto out;
	if (opts->all ? start_all(r) :
	    opts->pid ? start_attached(r) :
			start_launched(r, &go_fd))
		goto out;
	if (go_fd >= 0 && release_command(r, &go_fd))
		goto out;
	r->last_flush = r->t0;
	reason = run_loop(r);
	end_session(r, reason);
out:
	if (go_fd >= 0)
		close(go_fd); /* the held child exits without running */
	return reason;
}

/* A variable of the environment set to anything but "" or "0". */
static bool env_flag(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

/*
 * What the modules of the recorder are told before anything is looked at:
 * libbpf's messages, debug files, which GIL sites. The environment's knobs
 * are read here and nowhere else (docs/gilscope.1, ENVIRONMENT):
 * GILSCOPE_NO_DEBUGINFO=1 as --no-debuginfo, GILSCOPE_ALL_GIL_SITES=1
 * every GIL signal site and take_gil probed, as before hand-off sites.
 */
static void configure(const struct record_opts *opts)
{
	verbose_libbpf = opts->verbose;
	libbpf_set_print(libbpf_print);
	elfimg_no_debuginfo(opts->no_debuginfo ||
			    env_flag("GILSCOPE_NO_DEBUGINFO"));
	interp_all_gil_sites(env_flag("GILSCOPE_ALL_GIL_SITES"));
}

int record_main(const struct record_opts *opts)
{
	struct recorder r = { .opts = opts, .root_status = -1 };
	const char *reason;
	int err, status = 0, code;

	configure(opts);
	join_command(&r);
	/* before the output is opened: a forgotten sudo must not truncate
	 * the previous session */
	if (!may_record(opts))
		return 1;
	/* a path that cannot be created stops everything before the command
	 * runs (the user fixes it and runs again); a disk that takes no data
	 * does not stop the command (docs/reliability.md) */
	err = gs_writer_open(opts->output, &r.w);
	if (err && !opts->pid && storage_error(err))
		return run_untraced(&r, err);
	if (err) {
		fprintf(stderr, "gilscope: cannot write %s: %s\n", opts->output,
			strerror(-err));
		return 1;
	}
	reason = record(&r);
	err = gs_writer_close(r.w);
	if (!err)
		err = r.write_err;
	detach_all(&r);
	if (r.launched) /* a command never started is reaped all the same */
		status = wait_command(&r, reason);
	if (err)
		code = report_lost_recording(&r, false, err, status);
	else if (!reason)
		code = 1;
	else
		code = r.started ? exit_code_of(status) : 0;
	cleanup(&r);
	return code;
}

const char *record_live(const struct record_opts *opts,
			const struct record_sink *sink)
{
	struct recorder r = { .opts = opts, .root_status = -1, .sink = sink };
	const char *reason;

	configure(opts);
	join_command(&r);
	if (!may_record(opts))
		return NULL;
	reason = record(&r);
	detach_all(&r);
	cleanup(&r);
	return reason;
}
