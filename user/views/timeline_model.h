/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every timeline view draws, gathered once from the analysis sink:
 * per-thread state slices, GIL hand-offs bound to the slices at both ends,
 * counters, the raw scheduler events and per-CPU lanes. Compact records in
 * growable arrays: about 48 bytes a slice, 32 a scheduler event.
 *
 *   tl_model_init(&m);
 *   replay_open(path, tl_model_sink(&m), &rp, ...);
 *   tl_model_finish(&m, rp.an, rp.an->t0 + rp.info.duration_ns);
 *   ... a writer reads m ...
 *   tl_model_free(&m); replay_close(&rp);
 */
#ifndef GS_TIMELINE_MODEL_H
#define GS_TIMELINE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "analysis/analysis.h"

#define TL_NONE UINT32_MAX

struct ph_item;

/* A growable array of fixed-size records. */
struct tl_vec {
	void *data;
	size_t n, cap, size;
};

struct tl_slice {
	uint64_t start, end;
	uint64_t detail;   /* the syscall's first argument (futex address) */
	uint32_t lane;	   /* thread lane (collection index until finished) */
	uint32_t flow_in;  /* hand-off index + 1 that ends here (the taker) */
	uint32_t flow_out; /* hand-off index + 1 that starts here */
	uint32_t lock_holder; /* asleep on a lock: the thread holding it, 0 */
	uint8_t kind;	      /* enum an_slice_kind */
	uint8_t reason;	      /* enum gs_reason, for AN_SLICE_BLOCKED */
	int16_t cpu;
	int16_t sys_nr;
};

struct tl_handoff {
	uint64_t release, acquire;
	uint32_t pid, from_tid, to_tid;
	uint32_t from_lane, to_lane;   /* TL_NONE when not found */
	uint32_t from_slice, to_slice; /* TL_NONE when not bound */
	uint32_t chain; /* flow chain id for formats with one id a slice */
	bool forced;
};

struct tl_count {
	uint64_t ts;
	uint32_t proc; /* process index (collection index until finished) */
	int32_t waiters, runnable;
};

/* A scheduler event for the per-CPU view, as recorded. */
struct tl_sched {
	uint64_t ts;
	uint32_t prev_tid, prev_tgid; /* waking: the waker */
	uint32_t next_tid, next_tgid; /* waking: the woken task */
	uint32_t prev_state;	      /* waking: the target CPU */
	uint16_t cpu;
	uint8_t type; /* GS_EV_SWITCH or GS_EV_WAKING */
	uint8_t flags;
};

/* Who ran on a CPU: a traced thread (lane) or another task (lane TL_NONE). */
struct tl_cpuseg {
	uint64_t start, end;
	uint32_t lane, tid, pid;
	uint16_t cpu;
};

struct tl_lane {
	const struct an_thread *t;
	uint32_t proc;	 /* index into procs */
	size_t first, n; /* its slices, sorted by start */
};

struct tl_proc {
	const struct an_process *p;
	size_t first_lane, n_lanes;
	size_t first_count, n_counts;
};

/* Per-CPU state while events stream in. */
struct tl_cpu_now {
	uint64_t since;
	uint32_t tid, tgid;
	bool known, traced;
};

struct tl_model {
	uint64_t t0, end;
	struct tl_vec slices, handoffs, counts, sched, cpusegs;
	struct tl_lane *lanes;
	size_t n_lanes;
	struct tl_proc *procs;
	size_t n_procs;
	/* CPUs that appear in scheduler events, ascending; cpu_row[cpu] is
	 * its position in that list */
	uint16_t *cpus;
	size_t n_cpus;
	uint32_t *cpu_seg_first; /* per CPU row: first segment, n_cpus + 1 */
	uint32_t *lane_by_tid;	 /* lanes sorted by (pid, tid, start) */
	/* hand-offs whose ends had no slice to bind to (should stay 0) */
	uint64_t unbound_flows;
	bool failed; /* out of memory while collecting */

	/* collection state */
	struct an_sink sink;
	const void **seen_threads, **seen_procs; /* index -> object */
	size_t n_seen_threads, n_seen_procs, cap_seen_threads, cap_seen_procs;
	uint32_t *thread_slots, *proc_slots; /* open addressing: index + 1 */
	size_t thread_slot_cap, proc_slot_cap;
	uint32_t *last_count; /* per collected process: its last count + 1 */
	size_t cap_last_count;
	struct tl_cpu_now *cpu_now;
	size_t n_cpu_now;
};

/* Facts about the recording that views show (from the session header). */
struct tl_info {
	const char *kernel, *machine, *hostname; /* "" when unknown */
	uint64_t realtime_at_start; /* CLOCK_REALTIME at t0, 0 unknown */
	unsigned int cpus;
	const char *command; /* what was recorded */
	uint64_t duration_ns;
	const char *report_text; /* the text report, for headers */
	/* the report's phases (views/phases_report.h), by process */
	struct ph_item *phases;
	size_t n_phases;
};

void tl_model_init(struct tl_model *m);
void tl_model_free(struct tl_model *m);
/* The sink to give replay_open. */
const struct an_sink *tl_model_sink(struct tl_model *m);
/* After replay: lanes in report order, slices sorted per lane, hand-offs
 * bound to slices, CPU lanes closed at END. Returns 0 or -ENOMEM. */
int tl_model_finish(struct tl_model *m, const struct analysis *an,
		    uint64_t end);

static inline void *tl_at(const struct tl_vec *v, size_t i)
{
	return (char *)v->data + i * v->size;
}

#define TL_SLICE(m, i) ((struct tl_slice *)tl_at(&(m)->slices, (i)))
#define TL_HANDOFF(m, i) ((struct tl_handoff *)tl_at(&(m)->handoffs, (i)))
#define TL_COUNT(m, i) ((struct tl_count *)tl_at(&(m)->counts, (i)))
#define TL_SCHED(m, i) ((struct tl_sched *)tl_at(&(m)->sched, (i)))
#define TL_CPUSEG(m, i) ((struct tl_cpuseg *)tl_at(&(m)->cpusegs, (i)))

/* The label of a slice: an_slice_name of its kind and reason. */
const char *tl_slice_name(const struct tl_slice *s);
/* One code per label (0 .. TL_CODES - 1), for compact views. */
#define TL_CODES (AN_SLICE_BLOCKED + GS_R_COUNT)
int tl_slice_code(const struct tl_slice *s);
const char *tl_code_name(int code);
/* The lane of thread TID of process PID alive at TS, or TL_NONE. */
uint32_t tl_find_lane(const struct tl_model *m, uint32_t pid, uint32_t tid,
		      uint64_t ts);
/* Name of a lane: the thread's name as the report gives it. */
static inline const char *tl_lane_name(const struct tl_model *m, uint32_t l)
{
	return m->lanes[l].t->name;
}
/* The CPU row of CPU, or -1. */
int tl_cpu_row(const struct tl_model *m, unsigned int cpu);

#endif /* GS_TIMELINE_MODEL_H */
