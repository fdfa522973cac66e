// SPDX-License-Identifier: GPL-2.0
/*
 * The GIL: who holds it and who waits for it, its releases, acquisitions
 * and hand-offs (with their latency), from the interpreter's own signals
 * (take_gil's entry, the signals on the GIL's cond and switch_cond) and,
 * with hand-off probes, from the take sites and the calls around which the
 * GIL is let go.
 */
#include <stdlib.h>
#include "analysis/analysis_priv.h"

bool in_gil(const struct an_gil *g, uint64_t addr)
{
	return g->addr && addr >= g->addr && addr < g->addr + g->size;
}

bool in_cond(uint64_t cond, uint64_t addr)
{
	/* a pthread_cond_t is 48 bytes; glibc waits on words inside it */
	return cond && addr >= cond && addr < cond + 48;
}

/*
 * Is a futex call (ADDR, OP) a wait for the GIL? take_gil waits on the
 * GIL's cond with a timeout, which glibc makes a FUTEX_WAIT_BITSET on the
 * cond's __g_signals. The thread that signals the cond (the one letting
 * the GIL go) can also sleep on words of the same cond, with a plain
 * FUTEX_WAIT: the condvar's internal lock, or waiting for a group's
 * waiters to leave (__g_refs, glibc 2.36); that is part of its release.
 */
bool waits_on_gil_cond(const struct an_process *p, uint64_t addr, uint64_t op)
{
	return in_cond(p->gil.cond, addr) &&
	       (op & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET;
}

void start_wait(struct an_process *p, struct an_thread *t)
{
	if (t->gil_waiting || t->gil_holding)
		return;
	t->gil_waiting = true;
	t->gil_wait_since = p->cursor;
	p->n_waiters++;
	notify_counts(p, p->cursor);
}

void stop_wait(struct an_process *p, struct an_thread *t)
{
	if (!t->gil_waiting)
		return;
	t->gil_waiting = false;
	p->n_waiters--;
	notify_counts(p, p->cursor);
}

void gil_release(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	flush_process(p, ts);
	flush_thread(t, ts);
	if (p->holder == t)
		p->holder = NULL;
	t->gil_holding = false;
	t->gil_releases++;
	/* only a voluntary release (around a call) opens a window for
	 * another thread in the middle of this one's work */
	t->gil_released_once = !p->drop_request;
	t->acquisitions_at_release = p->acquisitions;
	p->releases++;
	p->release_pending = true;
	p->release_forced = p->drop_request;
	p->release_ts = ts;
	p->releaser = t->tid;
}

/* The histogram is 32 KB: only processes with hand-offs get one. */
static void add_latency(struct an_process *p, uint64_t ns)
{
	if (!p->latency && !(p->latency = calloc(1, sizeof(*p->latency))))
		return;
	hist_add(p->latency, ns);
}

/*
 * A hand-off from the last release to T at TS. Its latency is the time a
 * waiting thread took to run with the GIL; a thread that came for it after
 * the release found it free, and the gap says only that nobody wanted it.
 */
static void hand_off(struct an_process *p, struct an_thread *t, uint64_t ts,
		     bool waited)
{
	const struct an_sink *sink = p->an ? p->an->sink : NULL;

	if (waited) {
		add_latency(p, ts - p->release_ts);
		if (p->release_forced)
			p->forced_handoffs++;
	} else {
		p->idle_handoffs++;
		p->idle_gap_ns += ts - p->release_ts;
	}
	if (sink && sink->handoff)
		sink->handoff(sink->ctx, p, p->releaser, t->tid, p->release_ts,
			      ts, p->release_forced);
}

void gil_acquire(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	bool waited;

	flush_process(p, ts);
	flush_thread(t, ts);
	/* a holder whose release we did not see (it died holding it, or the
	 * event was lost) lets go here */
	if (p->holder && p->holder != t) {
		flush_thread(p->holder, ts);
		p->holder->gil_holding = false;
	}
	waited = t->gil_waiting && t->gil_wait_since <= p->release_ts;
	stop_wait(p, t);
	t->take_slept = t->take_preempted = false;
	if (t->gil_released_once &&
	    p->acquisitions > t->acquisitions_at_release)
		t->gil_interleavings++;
	if (p->prev_acquirer == 0) {
		p->initial_takes++;
	} else if (p->prev_acquirer != t->tid) {
		/* with the initial takes, what switch_number counts */
		p->handoffs++;
		if (p->release_pending && p->releaser != t->tid)
			hand_off(p, t, ts, waited);
	}
	p->acquisitions++;
	t->gil_acquisitions++;
	t->released_at_site = false;
	t->in_release = false;
	p->prev_acquirer = t->tid;
	p->holder = t;
	t->gil_holding = true;
	p->release_pending = false;
	p->drop_request = false;
}

/*
 * Hand-off probes: T, given the GIL back at a call's return or a take site
 * (retake_after_call, take_at_site), is in take_gil's lock instead, on a
 * futex of the GIL's: another thread came first, and T never took it. The
 * take is undone, not released: T's release before the call stands, for
 * the hand-off to the thread that takes the GIL next.
 */
void gil_untake(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	flush_process(p, ts);
	flush_thread(t, ts);
	p->holder = NULL;
	t->gil_holding = false;
	p->acquisitions--;
	t->gil_acquisitions--;
	p->release_pending = true;
}

/*
 * Hand-off probes: T, given the GIL at a call's return, was preempted
 * without it (preempted_without_gil) and has it back as it runs again,
 * nobody having taken it meanwhile. One take, counted at the return, with
 * a pause: that release and this take are not counted again.
 */
void gil_resume(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	gil_acquire(p, t, ts);
	p->acquisitions--;
	t->gil_acquisitions--;
	p->releases--;
	t->gil_releases--;
}

void an_set_gil_state(struct an_process *p, bool locked,
		      uint32_t last_holder_tid)
{
	p->prev_acquirer = last_holder_tid;
	for (size_t i = 0; locked && i < p->n_threads; i++) {
		struct an_thread *t = p->threads[i];

		if (t->tid == last_holder_tid && !t->exited) {
			p->holder = t;
			t->gil_holding = true;
		}
	}
}

/*
 * Hand-off probes: T was preempted without the GIL, which the analysis
 * gave it (releases and takes around calls are read at the calls). Either
 * it let the GIL go for a call it has not entered yet: it released it;
 * or it got the GIL back at a call's return and has not reached take_gil
 * yet: it takes it when it runs again (if nobody took it meanwhile).
 */
void preempted_without_gil(struct analysis *an, struct an_process *p,
			   struct an_thread *t, uint64_t ts)
{
	if (an->light || p->holder != t)
		return;
	gil_release(p, t, ts);
	t->released_at_switch = !t->took_at_sys_exit;
	t->retake_at_switch_in = t->took_at_sys_exit;
	t->took_at_sys_exit = false;
}

/*
 * A futex call on the GIL by a thread whose time is pending after a probed
 * release: it is still letting the GIL go (after the probed signal,
 * drop_gil's pthread_cond_signal may wake a waiter or sleep until a group
 * of waiters left, and its unlock of the mutex may wake one), and the time
 * stays pending, asleep in it or not. Only a wait for the GIL (take_gil,
 * on the cond) is no part of a release.
 */
bool gil_wake_in_release(const struct an_process *p, const struct an_thread *t,
			 uint64_t nr, uint64_t addr, uint64_t op)
{
	bool light = p->an && p->an->light; /* no probed releases */

	return t->pending && (t->in_release || light) && nr == SYS_FUTEX &&
	       in_gil(&p->gil, addr) && !waits_on_gil_cond(p, addr, op);
}

/* Is T going to sleep in drop_gil's work, its time pending? */
bool asleep_in_release(const struct an_process *p, const struct an_thread *t,
		       const struct gs_event *e)
{
	return !(e->a32 & TASK_DEAD) && t->in_sys &&
	       gil_wake_in_release(p, t, t->sys_nr, t->sys_arg0, t->sys_arg1);
}

/*
 * Hand-off probes: a thread back from a call it entered without the GIL
 * takes the GIL back at once (Py_END_ALLOW_THREADS) if it is free and this
 * thread held it last. A take after another thread's hold is a hand-off,
 * which is probed; a take that must wait waits on the GIL's cond first.
 * A futex call on the GIL itself is part of a take or a release.
 */
void retake_after_call(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	if (t->sys_nr == SYS_FUTEX && in_gil(&p->gil, t->sys_arg0))
		return;
	if (p->holder || p->prev_acquirer != t->tid || t->released_at_site)
		return;
	gil_acquire(p, t, ts);
	t->took_at_sys_exit = true;
}

/*
 * Hand-off probes, at a `call take_gil` that ends a probed release: the
 * GIL's memory says what comes. Free, and this thread held it last: it
 * takes it back at once, and no hand-off probe will say so. Otherwise it
 * waits, until the hand-off probe sees it take the GIL.
 */
static void take_at_site(struct an_process *p, struct an_thread *t,
			 const struct gs_event *e)
{
	t->take_gil_ip = e->arg[1];
	t->take_slept = t->take_preempted = false;
	switch (e->a32) {
	case GS_TAKE_FREE_MINE:
		gil_acquire(p, t, e->ts);
		t->took_at_sys_exit = true; /* before take_gil has it */
		break;
	case GS_TAKE_HELD:
	case GS_TAKE_FREE_OTHER:
		start_wait(p, t);
		t->wait_from_site = true;
		break;
	}
}

void on_gil_take(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	seen_running(t, e);
	flush_process(p, e->ts);
	flush_thread(t, e->ts);
	if (p->holder == t) /* its release was not seen */
		gil_release(p, t, e->ts);
	if (e->flags & GS_F_TAKE_SITE) {
		take_at_site(p, t, e);
		return;
	}
	p->exact_takes = true;
	t->take_gil_ip = 0;
	t->take_slept = t->take_preempted = false;
	start_wait(p, t);
}

/*
 * T wants the GIL and was preempted before it slept for it. GIL wait is
 * what the textbook measure counts: take_gil's entry to its take, when the
 * call slept on the GIL in between (docs/accuracy.md). Preempted at
 * take_gil's first instruction (a take site's probe just returned), it
 * has not entered it: no wait until it runs again. Inside take_gil, the
 * span is a wait if the call sleeps yet (take_sleeps): its time stays
 * pending until the thread's next step says so. Sessions without the
 * instruction pointer fall back to "nothing of its own since the site".
 */
void preempted_in_take(struct an_process *p, struct an_thread *t,
		       const struct gs_event *e)
{
	bool before_entry = e->arg[1] && t->take_gil_ip ?
				    e->arg[1] == t->take_gil_ip :
				    t->wait_from_site;

	flush_process(p, e->ts);
	stop_wait(p, t);
	t->wait_after_switch_in = true;
	if (!before_entry && !t->take_preempted) {
		t->take_preempted = true;
		t->take_pend_from = t->n_pend;
	}
}

/* T, in a take, goes to sleep on the GIL: its preempted spans since it
 * entered take_gil were GIL wait. */
void take_sleeps(struct an_thread *t)
{
	t->take_slept = true;
	if (t->take_preempted && t->pending)
		for (int i = t->take_pend_from; i < t->n_pend; i++)
			t->pend[i].waiting = true;
	t->take_preempted = false;
}

/* A futex wait on the GIL's memory (its mutex or a cond): how the
 * textbook measure tells a take that slept. */
bool sleeps_on_gil(const struct an_process *p, const struct gs_event *e)
{
	return e->a32 == SYS_FUTEX && futex_op_waits(e->arg[1]) &&
	       in_gil(&p->gil, e->arg[0]);
}

/*
 * T left the CPU holding the GIL (GS_F_GIL_MINE, read at the switch-out)
 * that the analysis has not given it: it took it before this switch-out,
 * unseen. Either it took it in take_gil and was preempted at the hand-off
 * probe's breakpoint before the handler ran (on a loaded machine, for
 * milliseconds), and that probe's event, which follows, takes nothing; or
 * it was to take it back at its next switch-in, and was switched in
 * without the kernel reporting it (docs/accuracy.md). The take is here,
 * the earliest moment known.
 */
void took_unseen(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	if (p->holder == t)
		return;
	t->retake_at_switch_in = false;
	gil_acquire(p, t, ts);
	t->took_before_probe = true;
}

void on_cond_signal(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	bool taken, late_release;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	taken = t->took_before_probe;
	late_release = t->released_at_switch && p->holder != t;
	seen_running(t, e);
	if (p->gil.cond && e->arg[0] == p->gil.cond) {
		/* late (preempted at this probe's breakpoint, the GIL already
		 * free): the release was at the switch-out, and the time since
		 * stays pending (a sleep to a deadline takes it) */
		if (!late_release) {
			gil_release(p, t, e->ts);
			/* time.sleep() lets the GIL go right before sleeping */
			t->pending = true;
		}
		t->released_at_site = true;
		t->in_release = true;
	} else if (p->gil.switch_cond && e->arg[0] == p->gil.switch_cond &&
		   !taken) {
		gil_acquire(p, t, e->ts);
	}
}

void on_switchnum(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);

	if (!p)
		return;
	if (e->a32 == GS_SNUM_FORK) {
		p->have_switch_start = true;
		p->switch_start = e->arg[0];
	} else if (e->a32 == GS_SNUM_EXIT) {
		p->have_switch_end = true;
		p->switch_end = e->arg[0];
	}
}
