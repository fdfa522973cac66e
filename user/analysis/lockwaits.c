// SPDX-License-Identifier: GPL-2.0
/*
 * Threading locks as the threads see them: their acquisitions and
 * releases (the table is locks.c), the time each thread waited for each
 * lock and who held it, wait-for cycles (deadlocks), the names a wait's
 * Python stack gives a lock, and a lock named with --lock.
 */
#include <stdlib.h>
#include <string.h>
#include "analysis/analysis_priv.h"

static void add_lock_wait(struct an_thread *t, uint64_t lock, uint32_t gen,
			  uint32_t holder, uint32_t releaser, uint64_t ns)
{
	struct an_lockwait *w = NULL;
	int i;

	for (i = 0; i < t->n_lock_waits; i++)
		if (t->lock_waits[i].lock == lock &&
		    t->lock_waits[i].gen == gen &&
		    t->lock_waits[i].holder == holder &&
		    t->lock_waits[i].releaser == releaser)
			w = &t->lock_waits[i];
	if (!w && t->n_lock_waits < AN_MAX_LOCKWAITS)
		w = &t->lock_waits[t->n_lock_waits++];
	if (!w) {
		/* full: the smallest entry makes room */
		w = &t->lock_waits[0];
		for (i = 1; i < AN_MAX_LOCKWAITS; i++)
			if (t->lock_waits[i].wait_ns < w->wait_ns)
				w = &t->lock_waits[i];
		memset(w, 0, sizeof(*w));
	}
	w->lock = lock;
	w->gen = gen;
	w->holder = holder;
	w->releaser = releaser;
	w->wait_ns += ns;
	w->count++;
}

static bool same_cycle(const struct an_deadlock *a, const struct an_deadlock *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		bool found = false;

		for (int j = 0; j < b->n && !found; j++)
			found = a->threads[i] == b->threads[j];
		if (!found)
			return false;
	}
	return true;
}

/*
 * T starts sleeping on LOCK: follow holder -> the lock that holder sleeps
 * on -> its holder ... back to T is a deadlock.
 */
static void check_deadlock(struct analysis *an, struct an_process *p,
			   struct an_thread *t, uint64_t lock, uint64_t ts)
{
	struct an_deadlock d = { .ts = ts };
	struct an_thread *cur = t;

	while (d.n < AN_MAX_CYCLE) {
		struct an_lock *l = locks_find(&p->locks, lock);
		struct an_thread *h;

		if (!l || !l->holder)
			return;
		d.threads[d.n] = cur->tid;
		d.locks[d.n++] = lock;
		if (l->holder == t->tid)
			break;
		h = an_find_thread(an, l->holder);
		if (!h || h->exited || !h->lock_waiting || h == cur)
			return;
		cur = h;
		lock = h->lock_waiting;
	}
	if (d.n == AN_MAX_CYCLE || d.n < 2)
		return;
	for (int i = 0; i < p->n_deadlocks; i++)
		if (same_cycle(&p->deadlocks[i], &d))
			return;
	if (p->n_deadlocks < AN_MAX_DEADLOCKS)
		p->deadlocks[p->n_deadlocks++] = d;
}

/* The lock a futex wait at ADDR is for: the futex itself (a sem_t), or on
 * 3.13+ the lock the thread parked on when ADDR is in its semaphore. */
uint64_t lock_of_futex(const struct an_thread *t, uint64_t addr)
{
	if (t->park_lock && addr >= t->park_sem && addr < t->park_sem + 32)
		return t->park_lock;
	return addr;
}

void lock_wait_begins(struct analysis *an, struct an_process *p,
		      struct an_thread *t, uint64_t lock, uint64_t ts)
{
	struct an_lock *l = locks_find(&p->locks, lock);

	if (t->rlock_wait != lock)
		t->rlock_wait = 0; /* it left that RLock's acquire */
	t->lock_waiting = lock;
	t->lock_wait_start = ts;
	t->lock_wait_holder = l ? l->holder : 0;
	t->lock_contended = lock;
	check_deadlock(an, p, t, lock, ts);
}

void lock_wait_ends(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	uint64_t ns = ts > t->lock_wait_start ? ts - t->lock_wait_start : 0;
	struct an_lock *l = locks_get(&p->locks, t->lock_waiting);
	uint32_t releaser = 0;

	if (l)
		l->wait_ns += ns;
	/* no holder known: who let it go during the wait (3.13+: the
	 * thread that unparked this one) */
	if (l && !t->lock_wait_holder && l->release_pending &&
	    l->last_releaser != t->tid && l->release_ts >= t->lock_wait_start)
		releaser = l->last_releaser;
	if (l && !l->owner)
		l->owner = t->lock_wait_holder ? t->lock_wait_holder : releaser;
	add_lock_wait(t, t->lock_waiting, l ? l->gen : 0, t->lock_wait_holder,
		      releaser, ns);
	t->lock_waiting = 0;
}

/*
 * A thread asleep on a lock sent its Python stack: the first names the lock
 * (user/analysis/names.c); one naming another kind or site is another lock that
 * took the address of a freed one, so the figures start again.
 */
void on_stack(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = an_find_thread(an, e->tid);
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l;
	uint64_t key;

	if (t && (e->a32 == GS_STK_OFFCPU || e->a32 == GS_STK_PREEMPT))
		t->in_python_at_switch_out =
			e->arg[0] &&
			!(e->flags & (GS_STKF_STALE | GS_STKF_NO_TSTATE));
	if (t && e->arg[0] && !(e->flags & GS_STKF_STALE)) {
		if (!t->py_stack)
			t->py_stack = e->arg[0];
		t->py_stack_last = e->arg[0];
	}
	if (!t || !p || !t->lock_waiting || !e->arg[0] || !an->lock_site ||
	    e->a32 != GS_STK_OFFCPU)
		return;
	l = locks_get(&p->locks, t->lock_waiting);
	if (!l)
		return;
	key = an->lock_site(an->lock_site_ctx, p->pid, e->arg[0]);
	if (key && key != l->site_key) {
		if (l->site_key)
			locks_new_lifetime(&p->locks, l);
		l->site_key = key;
		l->site_stack = e->arg[0];
	}
	/* after the lifetime is settled: the flag is this lock's */
	if (t->rlock_wait == l->addr)
		l->rlock = true;
}

void on_lock_acquire(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l;

	if (!t || !p || t->exited)
		return;
	/* 3.13+: it parks on lock arg[0]; its futex waits on its own
	 * semaphore arg[2] are waits for that lock */
	if (e->a32 != 0 && e->arg[2]) {
		t->park_lock = e->arg[0];
		t->park_sem = e->arg[2];
		if (t->rlock_wait != e->arg[0])
			t->rlock_wait = 0;
	}
	if (e->a32 != 0)
		return;
	t->rlock_wait = 0; /* it got a lock: out of any RLock's acquire */
	l = locks_get(&p->locks, e->arg[0]);
	if (!l)
		return;
	if (l->holder && l->holder != t->tid && l->held_since <= e->ts)
		l->held_ns +=
			e->ts - l->held_since; /* its release was missed */
	l->holder = t->tid;
	l->held_since = e->ts;
	l->acquisitions++;
	t->lock_acquisitions++;
	if (t->lock_contended == l->addr) {
		l->contended++;
		t->lock_contended = 0;
		if (l->release_pending && l->last_releaser != t->tid) {
			const struct an_sink *sink = an->sink;

			l->handoffs++;
			t->lock_handoffs_received++;
			if (sink && sink->lock_handoff)
				sink->lock_handoff(sink->ctx, p, l->addr,
						   l->last_releaser, t->tid,
						   l->release_ts, e->ts);
		}
	}
	l->release_pending = false;
}

void on_lock_release(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l = p ? locks_get(&p->locks, e->arg[0]) : NULL;

	if (!l)
		return;
	if (l->holder && l->held_since <= e->ts)
		l->held_ns += e->ts - l->held_since;
	l->holder = 0;
	l->releases++;
	l->release_pending = true;
	l->last_releaser = e->tid;
	l->release_ts = e->ts;
}

/*
 * A thread in a C RLock's acquire is about to wait for lock arg[0]: its
 * waits on that lock until it acquires a lock (3.9-3.13: that one) or
 * waits for another are an RLock's. (3.14+ does not trace a PyMutex's
 * acquisition: the mark lasts until the thread waits for another lock.)
 */
void on_rlock_wait(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);

	if (t && !t->exited)
		t->rlock_wait = e->arg[0];
}

/* --lock: the named acquire function's entry and return, and release. */
void on_user_lock(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	struct an_ulock *u;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	u = &p->ulock;
	if (!u->latency && !(u->latency = calloc(1, sizeof(*u->latency))))
		return;
	u->used = true;
	flush_process(p, e->ts);
	flush_thread(t, e->ts);
	switch (e->a32) {
	case GS_ULOCK_WAIT:
		if (!t->ulock_waiting && !t->ulock_holding) {
			t->ulock_waiting = true;
			u->n_waiters++;
		}
		break;
	case GS_ULOCK_ACQUIRED:
		if (t->ulock_waiting) {
			t->ulock_waiting = false;
			u->n_waiters--;
		}
		if (u->prev_acquirer && u->prev_acquirer != t->tid) {
			u->handoffs++;
			if (u->release_pending)
				hist_add(u->latency, e->ts - u->release_ts);
		}
		u->acquisitions++;
		u->prev_acquirer = t->tid;
		u->holder = t->tid;
		u->release_pending = false;
		t->ulock_holding = true;
		break;
	case GS_ULOCK_RELEASE:
		if (u->holder == t->tid)
			u->holder = 0;
		t->ulock_holding = false;
		u->release_pending = true;
		u->release_ts = e->ts;
		u->releaser = t->tid;
		break;
	}
}
