// SPDX-License-Identifier: GPL-2.0
/*
 * Thread states and their accounting: each event first accounts the time
 * since a thread's cursor to the state it was in (flush_thread), tells the
 * sink which slice it was in and how it was counted, then the handler
 * changes the state.
 */
#include "analysis/analysis_priv.h"

const char *an_slice_name(const struct an_slice *s)
{
	switch (s->kind) {
	case AN_SLICE_GIL_HELD:
		return "GIL held";
	case AN_SLICE_RUNNING:
		return "running, GIL released";
	case AN_SLICE_GIL_WAIT:
		return "waiting for GIL";
	case AN_SLICE_RUNNABLE:
		return "runnable";
	case AN_SLICE_BLOCKED:
		return reason_info(s->reason)->label;
	default:
		return "unknown";
	}
}

const struct an_sink *sink_of(const struct an_thread *t)
{
	return t->proc && t->proc->an ? t->proc->an->sink : NULL;
}

/* The slice a thread is in now, from its state. */
struct an_slice current_slice(const struct an_thread *t)
{
	struct an_slice s = { .cpu = -1, .sys_nr = -1 };

	if (t->gil_waiting) {
		s.kind = AN_SLICE_GIL_WAIT;
	} else {
		switch (t->state) {
		case AN_RUNNING:
			s.kind = t->gil_holding ? AN_SLICE_GIL_HELD :
						  AN_SLICE_RUNNING;
			s.cpu = t->cpu;
			return s;
		case AN_RUNNABLE:
			s.kind = AN_SLICE_RUNNABLE;
			return s;
		case AN_BLOCKED:
			s.kind = AN_SLICE_BLOCKED;
			s.reason = t->reason;
			break;
		default:
			s.kind = AN_SLICE_UNKNOWN;
			return s;
		}
	}
	if (t->in_sys) {
		s.sys_nr = t->sys_nr;
		s.detail = t->sys_arg0;
	}
	if (s.kind == AN_SLICE_BLOCKED && t->lock_waiting)
		s.lock_holder = t->lock_wait_holder;
	return s;
}

static bool same_slice(const struct an_slice *a, const struct an_slice *b)
{
	return a->kind == b->kind && a->reason == b->reason &&
	       a->cpu == b->cpu && a->sys_nr == b->sys_nr &&
	       a->detail == b->detail && a->lock_holder == b->lock_holder;
}

void emit_slice(struct an_thread *t, uint64_t end)
{
	const struct an_sink *sink = sink_of(t);

	if (sink && sink->slice && end > t->slice_start)
		sink->slice(sink->ctx, t, &t->slice, t->slice_start, end);
	t->slice_start = end;
}

/* Close the open slice at the cursor when the state it shows changed. */
void track_slice(struct an_thread *t)
{
	struct an_slice now = current_slice(t);

	if (same_slice(&now, &t->slice))
		return;
	emit_slice(t, t->cursor);
	t->slice = now;
}

void notify_counts(struct an_process *p, uint64_t ts)
{
	const struct an_sink *sink = p->an ? p->an->sink : NULL;

	if (sink && sink->counts)
		sink->counts(sink->ctx, p, ts, p->n_waiters, p->n_runnable);
}

void set_state(struct an_thread *t, enum an_sched state, uint64_t ts)
{
	int before = t->state == AN_RUNNABLE, after = state == AN_RUNNABLE;

	t->state = state;
	if (t->proc && before != after) {
		t->proc->n_runnable += after - before;
		notify_counts(t->proc, ts);
	}
}

/* Tell the sink how [START, END) was counted (flame graphs). */
void notify_account(const struct an_thread *t, enum an_sched state,
		    enum gs_reason reason, bool holding, bool waiting,
		    uint64_t start, uint64_t end)
{
	const struct an_sink *sink = sink_of(t);

	if (sink && sink->account)
		sink->account(sink->ctx, t, state, reason, holding, waiting,
			      start, end);
}

/*
 * Account the pending spans (see struct an_thread), now that the thread's
 * next step says what they were, then the time up to NOW in its state. In
 * a sleep, the spans it waited for a CPU are part of the sleep; the ones it
 * ran stay on the CPU.
 */
static void flush_pending(struct an_thread *t, uint64_t now)
{
	enum an_sched state = t->state;
	enum gs_reason reason = t->reason;
	bool sleep = t->pending_sleep;

	bool holding = t->gil_holding, waiting = t->gil_waiting;

	t->pending = t->pending_sleep = false;
	t->take_preempted = false; /* too late: its spans are counted now */
	for (int i = 0; i < t->n_pend; i++) {
		t->state = t->pend[i].state;
		t->reason = t->pend[i].reason;
		t->gil_holding = t->pend[i].holding;
		t->gil_waiting = t->pend[i].waiting;
		if (sleep) {
			t->state = AN_BLOCKED;
			t->reason = GS_R_SLEEP;
		}
		flush_thread(t, t->pend[i].end < now ? t->pend[i].end : now);
	}
	t->n_pend = 0;
	t->state = sleep ? AN_BLOCKED : state;
	t->reason = sleep ? GS_R_SLEEP : reason;
	t->gil_holding = holding;
	t->gil_waiting = waiting;
	flush_thread(t, now);
	t->state = state;
	t->reason = reason;
}

/* A switch while pending: the span it ended is kept for later. */
bool pend_switch(struct an_thread *t, uint64_t ts)
{
	if (!t->pending || t->n_pend == AN_MAX_PEND || ts < t->cursor)
		return false;
	t->pend[t->n_pend].state = t->state;
	t->pend[t->n_pend].reason = t->reason;
	t->pend[t->n_pend].holding = t->gil_holding;
	t->pend[t->n_pend].waiting = t->gil_waiting;
	t->pend[t->n_pend++].end = ts;
	return true;
}

/* A thread on its way into a deadline sleep sleeps already (see
 * deadline_sleep), until it is switched out in it. */
static void flush_into_sleep(struct an_thread *t, uint64_t now)
{
	t->in_deadline_sleep = false;
	t->state = AN_BLOCKED;
	t->reason = GS_R_SLEEP;
	flush_thread(t, now);
	t->state = AN_RUNNING;
	t->in_deadline_sleep = true;
}

/* Account the time since the thread's cursor to its current state. */
void flush_thread(struct an_thread *t, uint64_t now)
{
	uint64_t d;

	if (t->pending) {
		flush_pending(t, now);
		return;
	}
	if (t->in_deadline_sleep && t->state == AN_RUNNING) {
		flush_into_sleep(t, now);
		return;
	}
	if (now <= t->cursor)
		return;
	if (t->state != AN_DEAD)
		track_slice(t);
	if (t->state != AN_DEAD)
		notify_account(t, t->state, t->reason, t->gil_holding,
			       t->gil_waiting, t->cursor, now);
	d = now - t->cursor;
	t->cursor = now;
	switch (t->state) {
	case AN_RUNNING:
		t->on_cpu_ns += d;
		if (t->gil_holding)
			t->on_cpu_gil_ns += d;
		break;
	case AN_RUNNABLE:
		t->runnable_ns += d;
		break;
	case AN_BLOCKED:
		t->blocked_ns[t->reason] += d;
		break;
	case AN_UNKNOWN:
		t->unknown_ns += d;
		break;
	case AN_DEAD:
		return;
	}
	if (t->gil_holding)
		t->gil_held_ns += d;
	if (t->gil_waiting)
		t->gil_wait_ns += d;
	if (t->ulock_holding)
		t->ulock_held_ns += d;
	if (t->ulock_waiting)
		t->ulock_wait_ns += d;
}

void flush_process(struct an_process *p, uint64_t now)
{
	uint64_t d;

	if (now <= p->cursor)
		return;
	d = now - p->cursor;
	p->cursor = now;
	if (p->holder)
		p->gil_held_ns += d;
	if (p->n_waiters > 0)
		p->waiter_ns += d;
	if (p->ulock.holder)
		p->ulock.held_ns += d;
	if (p->ulock.n_waiters > 0)
		p->ulock.waiter_ns += d;
}

enum gs_reason blocked_reason(const struct an_process *p,
			      const struct an_thread *t,
			      unsigned int prev_state)
{
	if (!t->in_sys)
		return (prev_state & TASK_UNINTERRUPTIBLE) ? GS_R_IO :
							     GS_R_OTHER;
	if (t->sys_nr == SYS_FUTEX && in_gil(&p->gil, t->sys_arg0))
		return GS_R_GIL;
	return syscall_reason(t->sys_nr, t->sys_arg0, t->sys_facts);
}

/* The first scheduler event tells what an unknown thread was doing. */
void resolve_unknown(const struct an_process *p, struct an_thread *t,
		     enum an_sched was)
{
	uint64_t d = t->unknown_ns;

	t->unknown_ns = 0;
	/* unknown time is the thread's first span, up to the cursor */
	if (d)
		notify_account(t, was, blocked_reason(p, t, 0),
			       was == AN_RUNNING && t->gil_holding, false,
			       t->cursor - d, t->cursor);
	switch (was) {
	case AN_RUNNING:
		t->on_cpu_ns += d;
		if (t->gil_holding)
			t->on_cpu_gil_ns += d;
		break;
	case AN_RUNNABLE:
		t->runnable_ns += d;
		break;
	default:
		t->blocked_ns[blocked_reason(p, t, 0)] += d;
		t->reason = blocked_reason(p, t, 0);
		break;
	}
	set_state(t, was, t->cursor);
	/* the open slice was unknown until now: it showed this state */
	if (t->slice.kind == AN_SLICE_UNKNOWN)
		t->slice = current_slice(t);
}

void set_cpu(struct an_thread *t, struct an_process *p, int cpu)
{
	if (t->cpu >= 0 && t->cpu != cpu)
		t->migrations++;
	t->cpu = cpu;
	if (cpu >= 0 && cpu < 256) {
		t->cpus[cpu / 64] |= 1ull << (cpu % 64);
		p->cpus[cpu / 64] |= 1ull << (cpu % 64);
	}
}

/*
 * An event the thread emitted itself (a syscall, a GIL or lock signal)
 * proves it is on a CPU. A switch-in can be missing from the stream (seen
 * under heavy load with nothing lost); without this the thread would stay
 * runnable or blocked while it runs.
 */
void seen_running(struct an_thread *t, const struct gs_event *e)
{
	t->wait_from_site = false;
	t->wait_after_switch_in = false;
	t->took_at_sys_exit = false;
	t->retake_at_switch_in = false;
	t->took_before_probe = false;
	t->released_at_switch = false;
	if (t->state == AN_RUNNING || t->state == AN_DEAD)
		return;
	flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(t->proc, t, AN_RUNNING);
	else
		set_state(t, AN_RUNNING, e->ts);
	if (t->proc)
		set_cpu(t, t->proc, e->cpu);
}
