// SPDX-License-Identifier: GPL-2.0
/*
 * Lock waits on synthetic event streams (user/analysis/lockwaits.c): the
 * holder and the hand-off, a parked PyMutex, deadlock cycles, --lock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "analysis/analysis.h"

#include "stream.h"

static void lock_sleep(struct analysis *an, uint64_t from, uint64_t to,
		       uint32_t tid, uint64_t lock)
{
	sys_enter(an, from, tid, NR_FUTEX, lock, 393, 0);
	sys_exit(an, to, tid, NR_FUTEX, 0);
}

/* A holds L1 for 10 ms while B waits 8 ms of it; A hands it to B. */
static void test_lock_wait_holder_and_handoff(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *b;
	struct an_lock *l;

	(void)state;
	lock_acquire(an, 0, A, L1, true);
	lock_acquire(an, 2 * MS, B, L1, false);
	lock_sleep(an, 2 * MS, 10 * MS, B, L1);
	lock_release(an, 10 * MS, A, L1);
	lock_acquire(an, 10 * MS + 30 * US, B, L1, true);
	lock_release(an, 15 * MS, B, L1);
	an_finish(an, T0 + 20 * MS);

	b = an_find_thread(an, B);
	assert_int_equal(b->n_lock_waits, 1);
	assert_int_equal(b->lock_waits[0].lock, L1);
	assert_int_equal(b->lock_waits[0].holder, A);
	assert_int_equal(b->lock_waits[0].wait_ns, 8 * MS);
	assert_int_equal(b->lock_handoffs_received, 1);
	l = locks_find(&p->locks, L1);
	assert_non_null(l);
	assert_int_equal(l->acquisitions, 2);
	assert_int_equal(l->contended, 1);
	assert_int_equal(l->handoffs, 1);
	assert_int_equal(l->held_ns, 10 * MS + 5 * MS - 30 * US);
	assert_int_equal(l->wait_ns, 8 * MS);
	assert_int_equal(b->blocked_ns[GS_R_LOCK], 0); /* never switched out */
	an_free(an);
}

/* 3.13+: B parks on L1 (a PyMutex) and sleeps on its own semaphore;
 * A unparks it 8 ms later. The wait is for L1, until A released it. */
#define SEM_B 0x7ffd1000ull

static void park(struct analysis *an, uint64_t at, uint32_t tid, uint64_t lock,
		 uint64_t sem, int type)
{
	struct gs_event e = ev(at, type, tid);

	e.arg[0] = lock;
	e.arg[2] = sem;
	e.a32 = type == GS_EV_LOCK_ACQUIRE ? (uint32_t)-1 : 0;
	feed(an, e);
}

static void test_parked_wait_is_for_the_lock(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *b;
	struct an_lock *l;

	(void)state;
	park(an, 2 * MS, B, L1, SEM_B, GS_EV_LOCK_ACQUIRE);
	sys_enter(an, 2 * MS, B, NR_FUTEX, SEM_B, 393, 0);
	park(an, 9990 * US, A, L1, SEM_B, GS_EV_LOCK_RELEASE);
	sys_exit(an, 10 * MS, B, NR_FUTEX, 0);
	/* a later wait of B on another futex is not for L1 */
	lock_sleep(an, 12 * MS, 13 * MS, B, L2);
	an_finish(an, T0 + 20 * MS);

	b = an_find_thread(an, B);
	assert_int_equal(b->n_lock_waits, 2);
	assert_int_equal(b->lock_waits[0].lock, L1);
	assert_int_equal(b->lock_waits[0].holder, 0);
	assert_int_equal(b->lock_waits[0].releaser, A);
	assert_int_equal(b->lock_waits[0].wait_ns, 8 * MS);
	assert_int_equal(b->lock_waits[1].lock, L2);
	assert_int_equal(b->lock_waits[1].releaser, 0);
	l = locks_find(&p->locks, L1);
	assert_non_null(l);
	assert_int_equal(l->wait_ns, 8 * MS);
	assert_int_equal(l->acquisitions, 0);
	assert_int_equal(l->releases, 1);
	assert_null(locks_find(&p->locks, SEM_B));
	an_free(an);
}

/* A holds L1 and waits for L2; B holds L2 and waits for L1. */
static void test_deadlock_cycle(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	const struct an_deadlock *d;

	(void)state;
	lock_acquire(an, 0, A, L1, true);
	lock_acquire(an, 1 * MS, B, L2, true);
	sys_enter(an, 2 * MS, A, NR_FUTEX, L2, 393, 0);
	assert_int_equal(p->n_deadlocks, 0);
	sys_enter(an, 3 * MS, B, NR_FUTEX, L1, 393, 0);
	an_finish(an, T0 + 10 * MS);

	assert_int_equal(p->n_deadlocks, 1);
	d = &p->deadlocks[0];
	assert_int_equal(d->n, 2);
	assert_int_equal(d->threads[0], B);
	assert_int_equal(d->locks[0], L1);
	assert_int_equal(d->threads[1], A);
	assert_int_equal(d->locks[1], L2);
	assert_int_equal(d->ts, T0 + 3 * MS);
	an_free(an);
}

static void user_lock(struct analysis *an, uint64_t at, uint32_t tid,
		      uint32_t step)
{
	struct gs_event e = ev(at, GS_EV_ULOCK, tid);

	e.a32 = step;
	feed(an, e);
}

/* --lock: followed like the GIL. */
static void test_user_lock(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);

	(void)state;
	user_lock(an, 0, A, GS_ULOCK_WAIT);
	user_lock(an, 1 * MS, A, GS_ULOCK_ACQUIRED);
	user_lock(an, 2 * MS, B, GS_ULOCK_WAIT);
	user_lock(an, 6 * MS, A, GS_ULOCK_RELEASE);
	user_lock(an, 6 * MS + 50 * US, B, GS_ULOCK_ACQUIRED);
	user_lock(an, 8 * MS, B, GS_ULOCK_RELEASE);
	an_finish(an, T0 + 10 * MS);

	assert_true(p->ulock.used);
	assert_int_equal(p->ulock.acquisitions, 2);
	assert_int_equal(p->ulock.handoffs, 1);
	assert_int_equal(p->ulock.latency->max, 50 * US);
	assert_int_equal(p->ulock.held_ns, 5 * MS + 2 * MS - 50 * US);
	assert_int_equal(an_find_thread(an, A)->ulock_held_ns, 5 * MS);
	assert_int_equal(an_find_thread(an, A)->ulock_wait_ns, 1 * MS);
	assert_int_equal(an_find_thread(an, B)->ulock_wait_ns,
			 4 * MS + 50 * US);
	assert_int_equal(p->ulock.waiter_ns, 1 * MS + 4 * MS + 50 * US);
	an_free(an);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_wait_holder_and_handoff),
		cmocka_unit_test(test_parked_wait_is_for_the_lock),
		cmocka_unit_test(test_deadlock_cycle),
		cmocka_unit_test(test_user_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
