/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the pieces of the analysis share (analysis.c, states.c, gil.c,
 * events.c, lockwaits.c, light.c); no other module includes this. The
 * public face is analysis.h.
 */
#ifndef GS_ANALYSIS_PRIV_H
#define GS_ANALYSIS_PRIV_H

#include "analysis/analysis.h"
#include "stackrec.h"

#define TASK_UNINTERRUPTIBLE 0x2
#define TASK_DEAD 0x80
#define ETIMEDOUT_RET ((uint64_t)-110)

static inline uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* analysis.c: objects */
struct an_thread *new_thread(struct analysis *an, struct an_process *p,
			     uint32_t tid, uint64_t start);

/* states.c: thread states, accounting, slices */
const struct an_sink *sink_of(const struct an_thread *t);
struct an_slice current_slice(const struct an_thread *t);
void emit_slice(struct an_thread *t, uint64_t end);
void track_slice(struct an_thread *t);
void notify_counts(struct an_process *p, uint64_t ts);
void set_state(struct an_thread *t, enum an_sched state, uint64_t ts);
void notify_account(const struct an_thread *t, enum an_sched state,
		    enum gs_reason reason, bool holding, bool waiting,
		    uint64_t start, uint64_t end);
bool pend_switch(struct an_thread *t, uint64_t ts);
void flush_thread(struct an_thread *t, uint64_t now);
void flush_process(struct an_process *p, uint64_t now);
enum gs_reason blocked_reason(const struct an_process *p,
			      const struct an_thread *t,
			      unsigned int prev_state);
void resolve_unknown(const struct an_process *p, struct an_thread *t,
		     enum an_sched was);
void set_cpu(struct an_thread *t, struct an_process *p, int cpu);
void seen_running(struct an_thread *t, const struct gs_event *e);

/* gil.c: the GIL and its hand-offs */
bool in_gil(const struct an_gil *g, uint64_t addr);
bool in_cond(uint64_t cond, uint64_t addr);
bool waits_on_gil_cond(const struct an_process *p, uint64_t addr, uint64_t op);
void start_wait(struct an_process *p, struct an_thread *t);
void stop_wait(struct an_process *p, struct an_thread *t);
void gil_release(struct an_process *p, struct an_thread *t, uint64_t ts);
void gil_acquire(struct an_process *p, struct an_thread *t, uint64_t ts);
void gil_untake(struct an_process *p, struct an_thread *t, uint64_t ts);
void gil_resume(struct an_process *p, struct an_thread *t, uint64_t ts);
void preempted_without_gil(struct analysis *an, struct an_process *p,
			   struct an_thread *t, uint64_t ts);
bool gil_wake_in_release(const struct an_process *p, const struct an_thread *t,
			 uint64_t nr, uint64_t addr, uint64_t op);
bool asleep_in_release(const struct an_process *p, const struct an_thread *t,
		       const struct gs_event *e);
void retake_after_call(struct an_process *p, struct an_thread *t, uint64_t ts);
void on_gil_take(struct analysis *an, const struct gs_event *e);
void preempted_in_take(struct an_process *p, struct an_thread *t,
		       const struct gs_event *e);
void take_sleeps(struct an_thread *t);
void took_unseen(struct an_process *p, struct an_thread *t, uint64_t ts);
bool sleeps_on_gil(const struct an_process *p, const struct gs_event *e);
void on_cond_signal(struct analysis *an, const struct gs_event *e);
void on_switchnum(struct analysis *an, const struct gs_event *e);

/* Waiting since a take site, on its way into take_gil: not asleep in it
 * yet (hand-off probes) */
static inline bool before_take_gil(const struct an_thread *t)
{
	return t->gil_waiting && t->wait_from_site && !t->take_slept;
}

/* events.c: scheduler, process and syscall events */
struct an_thread *thread_of(struct analysis *an, uint32_t tid, uint32_t tgid);
void on_switch_out(struct analysis *an, const struct gs_event *e);
void on_switch_in(struct analysis *an, const struct gs_event *e);
void on_wakeup(struct analysis *an, const struct gs_event *e);
void on_fork(struct analysis *an, const struct gs_event *e);
void on_exec(struct analysis *an, const struct gs_event *e);
void on_proc_exit(struct analysis *an, const struct gs_event *e);
void on_sys_enter(struct analysis *an, const struct gs_event *e);
void on_sys_exit(struct analysis *an, const struct gs_event *e);

/* lockwaits.c: lock waits, deadlocks, --lock */
uint64_t lock_of_futex(const struct an_thread *t, uint64_t addr);
void lock_wait_begins(struct analysis *an, struct an_process *p,
		      struct an_thread *t, uint64_t lock, uint64_t ts);
void lock_wait_ends(struct an_process *p, struct an_thread *t, uint64_t ts);
void on_stack(struct analysis *an, const struct gs_event *e);
void on_lock_acquire(struct analysis *an, const struct gs_event *e);
void on_lock_release(struct analysis *an, const struct gs_event *e);
void on_rlock_wait(struct analysis *an, const struct gs_event *e);
void on_user_lock(struct analysis *an, const struct gs_event *e);

/* light.c: --light, GIL holds from syscalls */
bool sys_timed_out(const struct gs_event *e);
void light_sys_enter(struct analysis *an, struct an_process *p,
		     struct an_thread *t, const struct gs_event *e);
void light_sys_exit(struct analysis *an, struct an_process *p,
		    struct an_thread *t, const struct gs_event *e);
void light_waking(struct analysis *an, const struct gs_event *e);

#endif /* GS_ANALYSIS_PRIV_H */
