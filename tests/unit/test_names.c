// SPDX-License-Identifier: GPL-2.0
/*
 * Names as Python knows them (user/analysis/names.c): a lock wait's Python stack
 * gives its kind and the program's line; a reused address with another
 * kind or site is a new lock; a wait in a C RLock's acquire (RLOCK_WAIT)
 * makes a Lock an RLock; threads fold by name pattern and entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "analysis/analysis.h"
#include "analysis/names.h"
#include "stackrec.h"
#include "stream.h"

#define LIB "/usr/lib/python3.11/"
#define SEM 0x9000ull /* 3.13+: a waiter's own semaphore */
#define STK_QUEUE 11
#define STK_LOCK 12
#define STK_JOIN 13
#define STK_LOCK2 14

static uint32_t frame(struct stacktab *t, const char *name, const char *file,
		      int line)
{
	int64_t id = stacktab_frame(t, ST_PYTHON, name, file, line);

	assert_true(id >= 0);
	return (uint32_t)id;
}

/* Three stacks, root first: a Queue.get in a worker, a `with lock:` in
 * the same worker, and the main thread's join. */
static void stacks(struct stacktab *t)
{
	uint32_t boot = frame(t, "Thread._bootstrap", LIB "threading.py", 995);
	uint32_t inner =
		frame(t, "Thread._bootstrap_inner", LIB "threading.py", 1038);
	uint32_t run = frame(t, "Thread.run", LIB "threading.py", 975);
	uint32_t q[] = { boot,
			 inner,
			 run,
			 frame(t, "worker", "/app/pipe.py", 30),
			 frame(t, "Queue.get", LIB "queue.py", 171),
			 frame(t, "Condition.wait", LIB "threading.py", 320) };
	uint32_t l[] = { boot, inner, run,
			 frame(t, "worker", "/app/pipe.py", 41) };
	uint32_t j[] = { frame(t, "<module>", "/app/pipe.py", 60),
			 frame(t, "Thread.join", LIB "threading.py", 1112),
			 frame(t, "Thread._wait_for_tstate_lock",
			       LIB "threading.py", 1132) };
	uint32_t l2[] = { boot, inner, run,
			  frame(t, "worker", "/app/pipe.py", 50) };

	assert_int_equal(stacktab_add_stack(t, GS_SREC_PYTHON, STK_QUEUE, PID,
					    0, q, 6),
			 0);
	assert_int_equal(stacktab_add_stack(t, GS_SREC_PYTHON, STK_LOCK, PID, 0,
					    l, 4),
			 0);
	assert_int_equal(stacktab_add_stack(t, GS_SREC_PYTHON, STK_JOIN, PID, 0,
					    j, 3),
			 0);
	assert_int_equal(stacktab_add_stack(t, GS_SREC_PYTHON, STK_LOCK2, PID,
					    0, l2, 4),
			 0);
}

static void stack_event(struct analysis *an, uint64_t at, uint32_t tid,
			uint64_t id)
{
	stack_taken(an, at, tid, GS_STK_OFFCPU, id);
}

/* TID in a C RLock's acquire, about to wait for LOCK (on_rlock_wait). */
static void rlock_wait(struct analysis *an, uint64_t at, uint32_t tid,
		       uint64_t lock)
{
	struct gs_event e = ev(at, GS_EV_RLOCK_WAIT, tid);

	e.arg[0] = lock;
	e.arg[1] = 0x5bf849;
	feed(an, e);
}

/* TID waits for LOCK from FROM to TO, its stack STACK; A holds it; an
 * RLock's acquire says so first when RLOCK. */
static void wait_for(struct analysis *an, uint64_t lock, bool rlock,
		     uint64_t from, uint64_t to, uint32_t tid, uint64_t stack)
{
	lock_acquire(an, from, A, lock, true);
	lock_acquire(an, from, tid, lock, false);
	if (rlock)
		rlock_wait(an, from, tid, lock);
	sys_enter(an, from, tid, NR_FUTEX, lock, 393, 0);
	stack_event(an, from, tid, stack);
	lock_release(an, to, A, lock);
	sys_exit(an, to, tid, NR_FUTEX, 0);
	lock_acquire(an, to, tid, lock, true);
	lock_release(an, to + 1 * US, tid, lock);
}

static void wait_on(struct analysis *an, uint64_t from, uint64_t to,
		    uint32_t tid, uint64_t stack)
{
	wait_for(an, L1, false, from, to, tid, stack);
}

/* A Queue's waiter lock, then a Lock at the same address: two locks. */
static void test_reused_address_is_two_locks(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	const struct an_lock *q, *l;
	char label[160];

	(void)state;
	stacktab_init(&tab);
	stacks(&tab);
	an = setup_process(&p);
	an_set_lock_site(an, names_lock_key, &tab);
	wait_on(an, 1 * MS, 4 * MS, B, STK_QUEUE);
	wait_on(an, 5 * MS, 7 * MS, B, STK_QUEUE); /* the same site again */
	wait_on(an, 10 * MS, 20 * MS, B, STK_LOCK);
	an_finish(an, T0 + 30 * MS);
	names_apply(an, &tab);

	q = locks_find_gen(&p->locks, L1, 0);
	l = locks_find_gen(&p->locks, L1, 1);
	assert_non_null(q);
	assert_non_null(l);
	assert_null(locks_find_gen(&p->locks, L1, 2));
	assert_string_equal(q->kind, "Queue");
	assert_string_equal(q->site, "worker (pipe.py:30)");
	assert_int_equal(q->wait_ns, 5 * MS);
	assert_string_equal(l->kind, "Lock");
	assert_string_equal(l->site, "worker (pipe.py:41)");
	assert_int_equal(l->wait_ns, 10 * MS);
	names_lock_label(l, label, sizeof(label));
	assert_string_equal(label, "Lock first waited at worker (pipe.py:41)");
	/* the thread's waits follow the lifetimes */
	assert_non_null(an_find_thread(an, B));
	assert_int_equal(an_find_thread(an, B)->n_lock_waits, 2);
	assert_ptr_equal(
		names_waited_lock(an_find_thread(an, B),
				  &an_find_thread(an, B)->lock_waits[1]),
		l);
	an_free(an);
	stacktab_free(&tab);
}

/* The main thread joins A: join(A's Python name) at the program's line. */
static void test_join_names_the_joined_thread(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	const struct an_lock *j;

	(void)state;
	stacktab_init(&tab);
	stacks(&tab);
	assert_int_equal(stacktab_set_thread(&tab, PID, A, "cruncher"), 0);
	an = setup_process(&p);
	an_set_lock_site(an, names_lock_key, &tab);
	wait_on(an, 1 * MS, 9 * MS, PID, STK_JOIN);
	an_finish(an, T0 + 10 * MS);
	names_apply(an, &tab);
	j = locks_find_gen(&p->locks, L1, 0);
	assert_non_null(j);
	assert_string_equal(j->kind, "join(cruncher)");
	assert_string_equal(j->site, "<module> (pipe.py:60)");
	assert_string_equal(an_find_thread(an, A)->name, "cruncher");
	assert_string_equal(an_find_thread(an, PID)->entry,
			    "<module> (pipe.py)");
	an_free(an);
	stacktab_free(&tab);
}

/* A process whose lock waits are named by the stacks of stacks(). */
static struct analysis *named_setup(struct stacktab *tab, struct an_process **p)
{
	struct analysis *an;

	stacktab_init(tab);
	stacks(tab);
	an = setup_process(p);
	an_set_lock_site(an, names_lock_key, tab);
	return an;
}

static void named_finish(struct analysis *an, struct stacktab *tab)
{
	an_finish(an, T0 + 10 * MS);
	names_apply(an, tab);
}

static void named_free(struct analysis *an, struct stacktab *tab)
{
	an_free(an);
	stacktab_free(tab);
}

/* The lock at ADDR in lifetime GEN, which must be there. */
static const struct an_lock *lock_at(const struct an_process *p, uint64_t addr,
				     uint32_t gen)
{
	const struct an_lock *l = locks_find_gen(&p->locks, addr, gen);

	assert_non_null(l);
	return l;
}

/* A C RLock's waits look like a Lock's but for RLOCK_WAIT: L1 (an RLock)
 * and L2 (a Lock), waited for at the same line. */
static void test_c_rlock_is_an_rlock(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	const struct an_lock *r, *l;
	char label[160];

	(void)state;
	an = named_setup(&tab, &p);
	wait_for(an, L1, true, 1 * MS, 4 * MS, B, STK_LOCK);
	wait_for(an, L2, false, 5 * MS, 7 * MS, B, STK_LOCK);
	wait_for(an, L1, true, 8 * MS, 9 * MS, B, STK_LOCK);
	named_finish(an, &tab);
	r = lock_at(p, L1, 0);
	l = lock_at(p, L2, 0);
	assert_null(locks_find_gen(&p->locks, L1, 1));
	assert_string_equal(r->kind, "RLock");
	assert_string_equal(r->site, "worker (pipe.py:41)");
	assert_int_equal(r->wait_ns, 4 * MS);
	names_lock_label(r, label, sizeof(label));
	assert_string_equal(label, "RLock first waited at worker (pipe.py:41)");
	assert_string_equal(l->kind, "Lock");
	named_free(an, &tab);
}

/*
 * The mark is the wait's, not the address's: once the thread got the
 * RLock, a Lock that took its freed address and that it waits for at
 * another line is a Lock. And a first wait without the mark (a thread
 * found waiting when attaching) does not split the RLock in two.
 */
static void test_rlock_mark_ends_with_the_acquire(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	const struct an_lock *r, *l;

	(void)state;
	an = named_setup(&tab, &p);
	wait_for(an, L1, false, 1 * MS, 2 * MS, B, STK_LOCK);
	wait_for(an, L1, true, 3 * MS, 5 * MS, B, STK_LOCK);
	wait_for(an, L1, false, 6 * MS, 9 * MS, B, STK_LOCK2);
	named_finish(an, &tab);
	r = lock_at(p, L1, 0);
	l = lock_at(p, L1, 1);
	assert_string_equal(r->kind, "RLock");
	assert_int_equal(r->wait_ns, 3 * MS);
	assert_string_equal(l->kind, "Lock");
	assert_string_equal(l->site, "worker (pipe.py:50)");
	named_free(an, &tab);
}

/* TID parks on LOCK (3.13+: a PyMutex, whose acquisition is not traced)
 * from FROM to TO, after RLOCK_WAIT when RLOCK; A unparks it. */
static void park_on(struct analysis *an, uint64_t lock, bool rlock,
		    uint64_t from, uint64_t to, uint32_t tid)
{
	struct gs_event park = ev(from, GS_EV_LOCK_ACQUIRE, tid);
	struct gs_event unpark = ev(to, GS_EV_LOCK_RELEASE, A);

	if (rlock)
		rlock_wait(an, from, tid, lock);
	park.a32 = (uint32_t)-1;
	park.arg[0] = lock;
	park.arg[2] = SEM;
	feed(an, park);
	sys_enter(an, from, tid, NR_FUTEX, SEM, 393, 0);
	stack_event(an, from, tid, STK_LOCK);
	unpark.arg[0] = lock;
	unpark.arg[2] = SEM;
	feed(an, unpark);
	sys_exit(an, to, tid, NR_FUTEX, 0);
}

/* 3.14+: an RLock is a PyMutex too; its park follows RLOCK_WAIT. */
static void test_parked_rlock_is_an_rlock(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	const struct an_lock *r, *l;

	(void)state;
	an = named_setup(&tab, &p);
	park_on(an, L1, true, 1 * MS, 3 * MS, B);
	park_on(an, L2, false, 4 * MS, 5 * MS, B);
	park_on(an, L1, true, 6 * MS, 7 * MS, B);
	named_finish(an, &tab);
	r = lock_at(p, L1, 0);
	l = lock_at(p, L2, 0);
	assert_string_equal(r->kind, "RLock");
	assert_int_equal(r->wait_ns, 3 * MS);
	assert_string_equal(l->kind, "Lock");
	assert_int_equal(l->wait_ns, 1 * MS);
	named_free(an, &tab);
}

/* Thread-1 (worker), Thread-22 (worker) and an unnamed thread that started
 * in worker: one group; MainThread alone. */
static void test_groups_by_pattern_and_entry(void **state)
{
	struct stacktab tab;
	struct an_process *p;
	struct analysis *an;
	struct name_group *g;
	size_t n;
	uint32_t tids[] = { A, B, 103 };

	(void)state;
	stacktab_init(&tab);
	stacks(&tab);
	an = setup_process(&p);
	for (int i = 0; i < 3; i++) {
		fork_thread(an, (uint64_t)(i + 1) * MS, PID, tids[i]);
		stack_event(an, (uint64_t)(i + 2) * MS, tids[i], STK_LOCK);
	}
	assert_int_equal(stacktab_set_thread(&tab, PID, A, "Thread-1 (worker)"),
			 0);
	assert_int_equal(
		stacktab_set_thread(&tab, PID, B, "Thread-22 (worker)"), 0);
	an_finish(an, T0 + 10 * MS);
	names_apply(an, &tab);
	assert_int_equal(names_groups(p, &g, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(g[1].n, 3);
	assert_string_equal(g[1].pattern, "Thread-* (worker)");
	assert_string_equal(g[1].entry, "worker (pipe.py)");
	names_groups_free(g, n);
	an_free(an);
	stacktab_free(&tab);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reused_address_is_two_locks),
		cmocka_unit_test(test_join_names_the_joined_thread),
		cmocka_unit_test(test_groups_by_pattern_and_entry),
		cmocka_unit_test(test_c_rlock_is_an_rlock),
		cmocka_unit_test(test_rlock_mark_ends_with_the_acquire),
		cmocka_unit_test(test_parked_rlock_is_an_rlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
