/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Flame graph data: every nanosecond the analysis accounts to a thread, put
 * on the stack the thread had then. Fed by the analysis sink (intervals as
 * the report counts them, and the raw GS_EV_STACK events), so that per
 * thread the totals are the report's: on_cpu_ns (oncpu), gil_wait_ns
 * (gil-wait), blocked_total_ns (offcpu), lifetime (wall).
 *
 * Which stack an interval gets (docs/flamegraphs.md):
 *  - not on a CPU, or waiting for the GIL: the Python stack cannot change
 *    without the GIL, so the stack taken where the interval began (take_gil's
 *    entry, the switch-out) is the stack of the whole interval;
 *  - on a CPU: the time since the thread's previous stack goes to the next
 *    stack taken (a sample, a switch-out, take_gil's entry).
 */
#ifndef GS_FLAME_MODEL_H
#define GS_FLAME_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "session/stacktab.h"

enum fl_what { FL_WALL, FL_ONCPU, FL_GILWAIT, FL_OFFCPU };

const char *fl_what_name(enum fl_what w);
int fl_what_parse(const char *s, enum fl_what *w);

/* One stack of one thread with the time spent on it. */
struct fl_row {
	uint32_t thread; /* index into fl_profile.threads */
	uint32_t n;
	uint32_t *fids; /* root first: thread, [process], then the stack */
	uint64_t ns;
};

struct fl_pthread {
	uint32_t pid, tid;
	char label[200]; /* "worker (tid 1234)" */
	uint64_t ns;	 /* the sum of its rows */
};

struct fl_profile {
	enum fl_what what;
	struct stacktab names; /* frames of the rows */
	struct fl_pthread *threads;
	size_t n_threads;
	struct fl_row *rows;
	size_t n_rows;
	uint64_t total_ns;
	uint64_t points, no_stack_ns; /* stacks used; time with none known */
};

struct fl_thread;
struct fl_agg;

struct fl_model {
	enum fl_what what;
	uint32_t pid, tid; /* only these (0: all) */
	struct an_sink sink;
	struct fl_thread **threads;
	size_t n_threads, cap_threads;
	uint32_t *slots; /* (tgid, tid) -> thread index + 1 */
	size_t slot_cap;
	struct fl_agg *agg;
	size_t n_agg, agg_cap;
	uint64_t points;
	int err;
};

void fl_model_init(struct fl_model *m, enum fl_what what, uint32_t pid,
		   uint32_t tid);
const struct an_sink *fl_model_sink(struct fl_model *m);
/* After the replay: the rows, with the frames of TAB (NULL: no stacks). */
int fl_model_finish(struct fl_model *m, const struct stacktab *tab,
		    struct fl_profile *out);
void fl_model_free(struct fl_model *m);
void fl_profile_free(struct fl_profile *p);

/* "name (file:line)" etc.: the text of a frame in folded stacks. */

#endif /* GS_FLAME_MODEL_H */
