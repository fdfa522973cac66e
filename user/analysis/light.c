// SPDX-License-Identifier: GPL-2.0
/*
 * --light: recorded without uprobes, so GIL holds are derived from the
 * syscalls around which CPython lets the GIL go and takes it back, and
 * from the wake-ups on the GIL's cond.
 */
#include "analysis/analysis_priv.h"

/*
 * Light mode has no GIL probes. CPython releases the GIL around every call
 * that can block, so a thread entering one lets the GIL go, and on leaving
 * it takes the GIL back (or waits for it on the GIL's cond).
 */
static bool releases_gil(const struct an_process *p, int nr, uint64_t a0,
			 uint64_t a1)
{
	if (nr == SYS_FUTEX)
		return futex_op_waits(a1) && !in_gil(&p->gil, a0);
	return syscall_reason(nr, a0, (uint32_t)-1) != GS_R_OTHER || nr == 61 ||
	       nr == 247;
}

/*
 * Did the call end by a timeout? --light writes a syscall's return when the
 * thread runs again, without its value, but with who woke it: a timer
 * rather than a futex call of its own process.
 */
bool sys_timed_out(const struct gs_event *e)
{
	if (e->flags & GS_F_AT_SWITCH_IN)
		return e->flags & GS_F_WOKEN_BY_OTHER;
	return e->arg[0] == ETIMEDOUT_RET;
}

void light_sys_enter(struct analysis *an, struct an_process *p,
		     struct an_thread *t, const struct gs_event *e)
{
	bool wake = e->a32 == SYS_FUTEX && (e->arg[1] & FUTEX_CMD_MASK) == 1;

	(void)an;
	if (!p->gil.addr)
		return;
	/* a thread taken to wait for the GIL that lets it go: it had
	 * taken it, unseen (its wait began at the return of a call while
	 * another thread seemed to hold the GIL) */
	if (t->gil_waiting && !in_gil(&p->gil, e->arg[0]) &&
	    releases_gil(p, e->a32, e->arg[0], e->arg[1])) {
		gil_acquire(p, t, e->ts);
		gil_release(p, t, e->ts);
		return;
	}
	/* drop_gil signalling a waiter, or a call that blocks */
	if (p->holder == t && ((wake && in_cond(p->gil.cond, e->arg[0])) ||
			       releases_gil(p, e->a32, e->arg[0], e->arg[1])))
		gil_release(p, t, e->ts);
}

void light_sys_exit(struct analysis *an, struct an_process *p,
		    struct an_thread *t, const struct gs_event *e)
{
	bool gil_wait = t->sys_nr == SYS_FUTEX &&
			waits_on_gil_cond(p, t->sys_arg0, t->sys_arg1);

	(void)an;
	if (!p->gil.addr || p->holder == t)
		return;
	if (gil_wait) {
		bool signalled = !sys_timed_out(e);

		if (!t->gil_waiting)
			return;
		/*
		 * Without syscall tracepoints (GS_F_AT_SWITCH_IN) every
		 * release that wakes a waiter is seen (light_waking), but
		 * takes are not: a waiter takes the GIL when the holder's
		 * signal wakes it, never after a timeout (the holder, which
		 * may not be known, still has it) nor on a wake while the GIL
		 * is held (glibc's condvar wakes waiters of its own). With
		 * them, a signalled waiter takes it even if its holder's
		 * release was not seen (the signal found no thread asleep; if
		 * the holder took it back first, this thread waits on the
		 * cond again at once, which ends the take: light_sys_enter),
		 * and a waiter whose wait timed out takes a free GIL.
		 */
		if (e->flags & GS_F_AT_SWITCH_IN ? signalled && !p->holder :
						   signalled || !p->holder)
			gil_acquire(p, t, e->ts);
		return;
	}
	if (!releases_gil(p, t->sys_nr, t->sys_arg0, t->sys_arg1))
		return;
	/* free: taken now; held: it will wait on the cond */
	if (!p->holder)
		gil_acquire(p, t, e->ts);
	else
		start_wait(p, t);
}

/*
 * --light: a futex call of thread H wakes X, asleep on the GIL's cond. Only
 * drop_gil signals that cond: H let the GIL go (it held it, even if its
 * take was not seen). The futex call itself is not recorded in light mode.
 */
void light_waking(struct analysis *an, const struct gs_event *e)
{
	uint32_t waker = (uint32_t)e->arg[0], waker_tgid = e->arg[0] >> 32;
	struct an_thread *x = an_find_thread(an, e->tid);
	struct an_thread *h = an_find_thread(an, waker);
	struct an_process *p;

	if (!(e->flags & GS_F_WAKER_IN_FUTEX) || waker_tgid != e->tgid || !x ||
	    !h || h == x || h->exited || h->tgid != e->tgid)
		return;
	p = an_find_process(an, e->tgid);
	if (!p || !p->gil.addr || !x->in_sys || x->sys_nr != SYS_FUTEX ||
	    !waits_on_gil_cond(p, x->sys_arg0, x->sys_arg1))
		return;
	if (p->holder != h)
		gil_acquire(p, h, e->ts);
	gil_release(p, h, e->ts);
}
