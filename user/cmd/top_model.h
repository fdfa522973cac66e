/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `gilscope top`'s figures for one interval: what every process and thread
 * did between two calls of an_flush_to(), as the differences of the
 * analysis's cumulative counters, with names and stacks resolved to text.
 * A snapshot is plain data: the screen's thread can read it while the
 * analysis goes on in the recorder's thread.
 */
#ifndef GS_TOP_MODEL_H
#define GS_TOP_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "common/syscalls.h"

#define TM_NAME 64
#define TM_STACK_FRAMES 8
#define TM_FRAME 160

struct stk_recorder;
struct fl_model;

/* The Python stack a thread (or process) waited for the GIL on most. */
struct tm_stack {
	uint64_t ns; /* GIL wait on it in the interval, 0: none known */
	int n;	     /* frames, leaf first */
	char frames[TM_STACK_FRAMES][TM_FRAME]; /* "func (file.py:12)" */
};

struct tm_thread {
	uint32_t tid;
	char name[TM_NAME]; /* Python name when known, else the comm */
	bool python_name, exited;
	uint64_t life_ns; /* accounted in the interval */
	uint64_t on_cpu_ns, on_cpu_gil_ns, runnable_ns;
	uint64_t blocked_ns[GS_R_COUNT];
	uint64_t gil_held_ns, gil_wait_ns;
	uint64_t handoffs_in; /* hand-offs it received */
	uint64_t handoff_p99_ns;
	struct tm_stack wait_stack;
};

struct tm_process {
	uint32_t pid;
	char command[256];
	char python[16];
	char gil_method[32];
	bool has_gil, exited;
	uint64_t life_ns;
	uint64_t gil_held_ns, waiter_ns, cpu_ns;
	uint64_t handoffs, forced_handoffs, handoff_p99_ns;
	struct tm_stack wait_stack;
	struct tm_thread *threads;
	size_t n_threads;
};

struct tm_snapshot {
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	bool light;
	uint64_t events, lost, late; /* in the interval */
	struct tm_process *procs;
	size_t n_procs;
};

/* One hand-off as the analysis sink tells it. */
struct tm_handoff {
	uint32_t pid, to_tid;
	uint64_t ns;
};

struct tm_prev; /* a thread's counters at the last interval's end */

struct top_model {
	struct tm_prev **prev; /* [process index][thread index] */
	size_t *n_prev, n_prev_procs;
	uint64_t *prev_proc; /* per process: held, waiter, handoffs, forced */
	struct tm_handoff *handoffs; /* of the interval being fed */
	size_t n_handoffs, cap_handoffs;
	struct tm_gilwait *waits; /* GIL wait by stack, last interval's end */
	size_t n_waits;
	uint64_t last_end, last_events, last_lost, last_late;
	/* -a: processes without Python (a child that exec'd another
	 * program, followed as record follows it) are left out */
	bool python_only;
};

void top_model_init(struct top_model *m);
void top_model_free(struct top_model *m);
/* The analysis sink's hand-off: one more for the interval being fed. */
void top_model_handoff(struct top_model *m, const struct an_process *p,
		       uint32_t to_tid, uint64_t release_ts,
		       uint64_t acquire_ts);
/*
 * The interval from the last call (or the session start) to END, the
 * analysis flushed to END; STK names threads and stacks, FL has the GIL
 * wait by stack (either may be NULL). EVENTS, LOST, LATE are totals so far.
 * Returns a snapshot to free with tm_snapshot_free, NULL without memory.
 */
struct tm_snapshot *
top_model_interval(struct top_model *m, const struct analysis *an,
		   const struct stk_recorder *stk, const struct fl_model *fl,
		   uint64_t end, uint64_t events, uint64_t lost, uint64_t late);
void tm_snapshot_free(struct tm_snapshot *s);

/* Percent of the thread's (process's) accounted time in the interval. */
double tm_pct(uint64_t ns, uint64_t life_ns);
uint64_t tm_blocked_total(const struct tm_thread *t);

#endif /* GS_TOP_MODEL_H */
