/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the collector (record/record*.c): the state of one recording and
 * what its parts call of each other.
 *   record.c        the run: set-up order, the loop, the end, exit codes
 *   record_bpf.c    the probes: open, configure, load, attach, detach
 *   record_start.c  how the program comes: launched (held before exec),
 *                   attached (-p), every Python process (-a)
 *   record_procs.c  the processes traced, and the events that change them
 */
#ifndef GS_RECORDER_H
#define GS_RECORDER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "common/kv.h"
#include "common/pidmap.h"
#include "record/interp.h"
#include "record/record.h"
#include "session/session.h"

#define MAX_FILES 16
#define MAX_TRACEPOINTS 16
#define POLL_MS 50
#define FLUSH_NS 200000000ull /* write buffered events this often */
#define DISCOVER_RETRY_NS \
	2000000000ull /* a new image's libpython may map late */
/* -a: an exec with no Python in sight is looked at again this long (a
 * libpython is mapped by ld.so soon after the exec) */
#define CANDIDATE_NS 250000000ull
#define MAX_CANDIDATES 256

struct gilscope_bpf;
struct ring_buffer;
struct bpf_link;

struct probed_file {
	dev_t dev;
	ino_t ino;
};

/* What userspace knows of each traced process. */
struct proc_rec {
	pid_t pid;
	uint64_t image_since;	 /* since_ns of the image last written */
	uint64_t discover_since; /* an exec waiting to be inspected, or 0 */
	bool held;		 /* stopped at that exec (GS_F_EXEC_HELD) */
	bool await_main;	 /* to stop at its libpython's Py_BytesMain */
	bool has_interp;
	int interp_err; /* -ENOTSUP: a Python gilscope cannot read */
	struct interp in;
	uint64_t bias; /* load bias of the interpreter's file */
	uint64_t gil_addr;
};

struct recorder {
	const struct record_opts *opts;
	struct gilscope_bpf *skel;
	struct ring_buffer *rb;
	struct gs_writer *w;
	struct probed_file files[MAX_FILES];
	int n_files;
	struct bpf_link *links[MAX_TRACEPOINTS]; /* tracepoints */
	int n_links;
	int *link_fds; /* uprobe_multi links */
	int n_link_fds, cap_link_fds;
	struct pidmap procs; /* pid -> proc_rec, live processes only */
	pid_t root;
	bool launched, started, root_gone; /* started: exec allowed */
	int root_status;
	uint64_t t0, last_flush, events;
	int write_err;
	struct stk_recorder
		*stk; /* stacks (user/record/stacks.c), NULL when off */
	char command[1024];
	/* a live view's instead of the session file (gilscope top) */
	const struct record_sink *sink;
	/* -a: execs not known to be Python yet (exec events kept back) */
	struct gs_event candidates[MAX_CANDIDATES];
	int n_candidates;
	char unsupported[PATH_MAX]; /* the interpreter last said unreadable */
};

static inline uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* record.c: a key=value record or an event, into the session or the
 * live view */
void emit_kv(struct recorder *r, enum gs_chunk_type type,
	     const struct kv_list *kv);
void emit_event(struct recorder *r, const struct gs_event *e);

/* record_bpf.c */
int open_bpf(struct recorder *r);
int attach_tracepoints(struct recorder *r);
int probe_interp(struct recorder *r, const struct interp *in);
int probe_user_lock(struct recorder *r, const char *file);
/* Stop PID at its libpython's Py_BytesMain (GS_EV_MAIN_HELD). */
int hold_at_main(struct recorder *r, pid_t pid);
int trace_pid(struct recorder *r, pid_t pid, uint64_t gil_addr,
	      const struct py_facts *facts);
void detach_all(struct recorder *r);

/* record_procs.c */
struct proc_rec *proc_find(struct recorder *r, pid_t pid);
struct proc_rec *proc_add(struct recorder *r, pid_t pid);
void write_process(struct recorder *r, struct proc_rec *p, uint64_t since,
		   const char *origin, const struct kv_list *extra);
void say_unsupported(struct recorder *r, const struct interp *in,
		     const char *err);
void use_interp(struct recorder *r, struct proc_rec *p, uint64_t bias);
void retry_discoveries(struct recorder *r, bool last_try);
void retry_candidates(struct recorder *r);
void free_procs(struct recorder *r);
int on_event(void *ctx, void *data, size_t size);

/* record_start.c */
pid_t spawn_held(char **argv, int *go_fd);
void join_command(struct recorder *r);
void read_gil_state(pid_t pid, const struct proc_rec *p, struct kv_list *kv,
		    const char *prefix);
bool adopt_python(struct recorder *r, pid_t pid, uint64_t since,
		  const char *origin);
int start_attached(struct recorder *r);
int start_all(struct recorder *r);
int start_launched(struct recorder *r, int *go_fd);

#endif /* GS_RECORDER_H */
