// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler, process and syscall events: switches, wake-ups, fork, exec and
 * exit, and the syscalls a thread enters and leaves (where the GIL is let
 * go and taken back around a call, and where lock waits begin and end).
 */
#include <string.h>
#include "analysis/analysis_priv.h"

struct an_thread *thread_of(struct analysis *an, uint32_t tid, uint32_t tgid)
{
	struct an_thread *t = an_find_thread(an, tid);
	struct an_process *p;

	/* a thread that exited keeps its events (its last switch-out comes
	 * after the exit): the handlers ignore them */
	if (t && t->tgid == tgid)
		return t;
	/* first sight of a thread that existed before the session */
	p = an_find_process(an, tgid);
	if (!p) {
		p = an_add_process(an, tgid, 0, an->t0);
		if (!p)
			return NULL;
		if (an->image_cb)
			an->image_cb(p, an->t0, an->image_ctx);
	}
	/* not before its process (found at its exec, with -a) */
	return new_thread(an, p, tid, p->start_ns);
}

void on_switch_out(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	bool runnable;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	runnable = (e->flags & GS_F_PREEMPT) || e->a32 == 0;
	/* the GIL as read at the switch-out says more than the analysis
	 * knew when the thread is preempted or asleep outside a call (a page
	 * fault, a probe's trap); asleep in a call, the call said it */
	if (runnable || !t->in_sys) {
		if (e->flags & GS_F_GIL_FREE)
			preempted_without_gil(an, p, t, e->ts);
		else if ((e->flags & GS_F_GIL_MINE) && !an->light)
			took_unseen(p, t, e->ts);
	}
	if ((!runnable && !asleep_in_release(p, t, e)) ||
	    !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	t->in_deadline_sleep = false; /* asleep in it now, or preempted */
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNING);
	if (e->a32 & TASK_DEAD) {
		set_state(t, AN_DEAD, e->ts);
	} else if (runnable) {
		set_state(t, AN_RUNNABLE, e->ts);
		t->involuntary_switches++;
		/* its next call says what the span was */
		t->pending = true;
		if (!an->light && t->gil_waiting && !t->take_slept)
			preempted_in_take(p, t, e);
	} else {
		t->reason = blocked_reason(p, t, e->a32);
		set_state(t, AN_BLOCKED, e->ts);
		t->voluntary_switches++;
		/* asleep outside a call between a take site and take_gil (a
		 * probe's trap): no wait yet, as when preempted there */
		if (!an->light && before_take_gil(t) && !t->in_sys)
			preempted_in_take(p, t, e);
	}
}

void on_switch_in(struct analysis *an, const struct gs_event *e)
{
	uint32_t tid = (uint32_t)e->arg[0], tgid = e->arg[0] >> 32;
	struct an_thread *t = thread_of(an, tid, tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	if (t->state != AN_RUNNABLE || !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNABLE);
	if (t->state == AN_DEAD)
		return;
	set_cpu(t, p, e->cpu);
	set_state(t, AN_RUNNING, e->ts);
	if (t->wait_after_switch_in) { /* into take_gil now */
		t->wait_after_switch_in = false;
		flush_process(p, e->ts);
		start_wait(p, t);
	}
	/* on its way from a take site into take_gil, and the GIL is free:
	 * it waits for nobody (a sleep in take_gil starts a wait again) */
	if (before_take_gil(t) && !p->holder) {
		flush_process(p, e->ts);
		stop_wait(p, t);
	}
	if (t->retake_at_switch_in) {
		t->retake_at_switch_in = false;
		if (!p->holder && p->prev_acquirer == t->tid)
			gil_resume(p, t, e->ts);
	}
}

void on_wakeup(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);

	if (!t || t->exited)
		return;
	if (t->state != AN_BLOCKED || !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(an_find_process(an, t->tgid), t, AN_BLOCKED);
	if (t->state == AN_BLOCKED)
		set_state(t, AN_RUNNABLE, e->ts);
}

static void copy_comm(char *dst, size_t len, const void *src)
{
	size_t n = len < GS_COMM_LEN ? len - 1 : GS_COMM_LEN - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
	dst[strnlen(dst, n)] = '\0';
}

void on_fork(struct analysis *an, const struct gs_event *e)
{
	uint32_t child = (uint32_t)e->arg[0], child_tgid = e->arg[0] >> 32;
	struct an_thread *forker = thread_of(an, e->tid, e->tgid);
	struct an_process *parent, *p;
	struct an_thread *t;

	if (!forker)
		return;
	parent = an_find_process(an, e->tgid);
	p = child_tgid == e->tgid ? parent : NULL;
	if (!p) {
		p = an_add_process(an, child_tgid, e->tgid, e->ts);
		if (!p)
			return;
		if (parent) {
			/* same memory image: same interpreter and GIL; the
			 * child recreates the GIL unowned */
			p->gil = parent->gil;
			p->exact_takes = parent->exact_takes;
			memcpy(p->python, parent->python, sizeof(p->python));
			memcpy(p->gil_method, parent->gil_method,
			       sizeof(p->gil_method));
			memcpy(p->command, parent->command, sizeof(p->command));
		}
		if (an->image_cb)
			an->image_cb(p, e->ts, an->image_ctx);
	}
	t = new_thread(an, p, child, e->ts);
	if (!t)
		return;
	copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	set_state(t, AN_RUNNABLE, e->ts); /* wakeup_new follows */
}

void on_exec(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_thread *t = an_find_thread(an, e->tid);

	/* -a: a process found at its exec of Python starts there */
	if (!p && (p = an_add_process(an, e->tgid, 0, e->ts)))
		t = new_thread(an, p, e->tid, e->ts);
	if (!p)
		return;
	flush_process(p, e->ts);
	if (p->holder) {
		flush_thread(p->holder, e->ts);
		p->holder->gil_holding = false;
		p->holder = NULL;
	}
	memset(&p->gil, 0, sizeof(p->gil));
	/* a new image: its interpreter counts from zero, so do we */
	p->prev_acquirer = 0;
	p->handoffs = p->initial_takes = p->forced_handoffs = 0;
	p->acquisitions = p->releases = 0;
	p->have_switch_start = p->have_switch_end = false;
	p->release_pending = false;
	p->drop_request = false;
	if (an->image_cb)
		an->image_cb(p, e->ts, an->image_ctx);
	if (t && t->tgid == p->pid)
		copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	/* light: the main thread takes the GIL while the interpreter
	 * starts, unseen; from here on it holds it */
	if (an->light && t && t->tgid == p->pid && p->gil.addr)
		gil_acquire(p, t, e->ts);
}

static void end_thread(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	flush_thread(t, ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNING);
	if (p)
		flush_process(p, ts);
	if (p && p->holder == t)
		p->holder = NULL;
	if (p)
		stop_wait(p, t);
	t->gil_holding = false;
	t->exited = true;
	t->end_ns = max_u64(ts, t->start_ns);
	emit_slice(t, t->end_ns);
	set_state(t, AN_DEAD, ts);
}

void on_proc_exit(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = an_find_thread(an, e->tid);
	struct an_process *p = an_find_process(an, e->tgid);

	if (t && t->tgid == e->tgid && !t->exited && e->arg[1])
		copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	if (t && t->tgid == e->tgid && !t->exited) {
		/* the process exited under it: a daemon thread, say; a
		 * thread that ended by itself (joined: its Python code was
		 * done before the exit_group) calls exit (GS_F_EXIT_BY_CALL,
		 * sessions of 2026-12 on), unless the end came first */
		if (p && p->exit_group_ts && e->ts >= p->exit_group_ts &&
		    !t->in_sys_exit_group && t->busy_at_exit_group &&
		    !(e->flags & GS_F_EXIT_BY_CALL))
			t->killed_at_exit = true;
		if (t->lock_waiting && p)
			lock_wait_ends(p, t, e->ts);
		end_thread(p, t, e->ts);
	}
	if (p && e->a32) {
		flush_process(p, e->ts);
		p->exited = true;
		p->end_ns = max_u64(e->ts, p->start_ns);
	}
}

/*
 * A sleep to a deadline: Python's time.sleep() (3.11+) reads the clock,
 * lets the GIL go and calls clock_nanosleep(TIMER_ABSTIME) until then, so
 * the program sleeps from that first step, whatever comes between: a
 * preemption, the call's own way into the kernel. All of it is the sleep,
 * from the GIL's release when it was probed (the time pending since), so
 * that a sleep is never shorter than the program asked for.
 */
static bool deadline_sleep(const struct an_process *p,
			   const struct an_thread *t, const struct gs_event *e,
			   bool light)
{
	return e->a32 == SYS_CLOCK_NANOSLEEP && (e->arg[1] & TIMER_ABSTIME) &&
	       (p->holder != t || light);
}

/*
 * The process is about to end (exit_group): which of its threads are still
 * at work? Holding the GIL, waiting for it, asleep in a call (a daemon's
 * sleep or queue get), or off CPU with Python frames on its stack (a
 * daemon preempted between letting the GIL go and the lock wait it let
 * it go for). A thread done with its Python code let the GIL go for good
 * and only has its native teardown left, without frames: one the
 * scheduler has not run again yet is killed too, but its work was done
 * (joined).
 */
static void note_busy_threads(struct an_process *p)
{
	for (size_t i = 0; i < p->n_threads; i++) {
		struct an_thread *t = p->threads[i];
		bool off_cpu_in_python = t->state == AN_RUNNABLE &&
					 t->in_python_at_switch_out;

		t->busy_at_exit_group =
			t->gil_holding || t->gil_waiting || t->lock_waiting ||
			t->state == AN_BLOCKED || t->state == AN_UNKNOWN ||
			off_cpu_in_python;
	}
}

void on_sys_enter(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	bool given_at_return;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	/* a call of its own ends a probed release (a futex call on the GIL
	 * may be drop_gil's) */
	if (e->a32 != SYS_FUTEX || !in_gil(&p->gil, e->arg[0]))
		t->in_release = false;
	if ((t->gil_waiting || t->take_preempted) && sleeps_on_gil(p, e))
		take_sleeps(t);
	if (gil_wake_in_release(p, t, e->a32, e->arg[0], e->arg[1])) {
		t->in_sys = true;
		t->sys_nr = e->a32;
		t->sys_arg0 = e->arg[0];
		t->sys_arg1 = e->arg[1];
		t->sys_facts = e->arg[2];
		t->sys_gil_free = false;
		return;
	}
	given_at_return = t->took_at_sys_exit && p->holder == t;
	t->pending_sleep = deadline_sleep(p, t, e, an->light);
	seen_running(t, e);
	flush_thread(t, e->ts); /* the slice before the call ends here */
	t->in_deadline_sleep = deadline_sleep(p, t, e, an->light);
	t->in_sys = true;
	t->sys_nr = e->a32;
	t->sys_arg0 = e->arg[0];
	t->sys_arg1 = e->arg[1];
	t->sys_facts = e->arg[2];
	t->sys_gil_free = e->flags & GS_F_GIL_FREE;
	/* hand-off probes: it let the GIL go before this call, unprobed; or
	 * it was given the GIL back a moment ago and waits for it here */
	if (given_at_return && t->sys_gil_free && e->a32 == SYS_FUTEX &&
	    in_gil(&p->gil, e->arg[0]) && futex_op_waits(e->arg[1]))
		gil_untake(p, t, e->ts);
	else if (t->sys_gil_free && p->holder == t)
		gil_release(p, t, e->ts);
	if (an->light)
		light_sys_enter(an, p, t, e);
	if (e->a32 == 231 /* exit_group */ && !p->exit_group_ts) {
		p->exit_group_ts = e->ts;
		t->in_sys_exit_group = true;
		note_busy_threads(p);
	}
	if (e->a32 != SYS_FUTEX || !futex_op_waits(e->arg[1]))
		return;
	if (!in_gil(&p->gil, e->arg[0]))
		lock_wait_begins(an, p, t, lock_of_futex(t, e->arg[0]), e->ts);
	if (waits_on_gil_cond(p, e->arg[0], e->arg[1])) {
		t->switches_at_wait = p->handoffs + p->initial_takes;
		/* light: it let the GIL go unseen (in a call that did not
		 * block), and another thread took it */
		if (an->light && p->holder == t)
			gil_release(p, t, e->ts);
		/* without take_gil probes, the wait starts at the futex */
		if (!p->exact_takes && p->holder != t) {
			flush_process(p, e->ts);
			flush_thread(t, e->ts);
			start_wait(p, t);
		}
	}
	/* take_gil locks the GIL's mutex first: a thread without the GIL
	 * asleep on it is waiting for the GIL (a releaser locks it too, in
	 * drop_gil, but still holds the GIL then) */
	if (!an->light && !p->exact_takes && p->holder != t && p->gil.mutex &&
	    e->arg[0] == p->gil.mutex) {
		flush_process(p, e->ts);
		flush_thread(t, e->ts);
		start_wait(p, t);
	}
	if (t->gil_waiting && sleeps_on_gil(p, e))
		t->take_slept = true; /* its wait began at this futex */
}

void on_sys_exit(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	if (t->in_sys &&
	    gil_wake_in_release(p, t, t->sys_nr, t->sys_arg0, t->sys_arg1)) {
		t->in_sys = false;
		t->sys_nr = -1;
		return;
	}
	seen_running(t, e);
	flush_thread(t, e->ts);
	/* take_gil: a timed wait that ran out with no switch in between
	 * sets the drop request that forces the holder to let go */
	if (t->in_sys && t->sys_nr == SYS_FUTEX && sys_timed_out(e) &&
	    waits_on_gil_cond(p, t->sys_arg0, t->sys_arg1) && p->holder &&
	    p->holder != t &&
	    p->handoffs + p->initial_takes == t->switches_at_wait)
		p->drop_request = true;
	if (t->lock_waiting)
		lock_wait_ends(p, t, e->ts);
	if (an->light)
		light_sys_exit(an, p, t, e);
	if (t->in_sys && t->sys_gil_free)
		retake_after_call(p, t, e->ts);
	t->in_deadline_sleep = false;
	t->in_sys = false;
	t->sys_gil_free = false;
	t->sys_nr = -1;
}
