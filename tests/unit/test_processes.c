// SPDX-License-Identifier: GPL-2.0
/*
 * Processes on synthetic event streams: a forked child, events after an
 * exit, thousands of short-lived children, a process first seen at its
 * exec (-a).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "analysis/analysis.h"
#include "views/report.h"

#include "stream.h"

/* A forked child is its own process with its own GIL (same address). */
static void test_fork_child_process(void **state)
{
	struct an_process *p, *child;
	struct analysis *an = setup_process(&p);
	struct gs_event e = ev(1 * MS, GS_EV_FORK, A);

	(void)state;
	e.tid = PID;
	e.arg[0] = (uint64_t)200 | (uint64_t)200 << 32;
	feed(an, e);
	e = ev(1 * MS, GS_EV_SWITCHNUM, 200);
	e.tgid = 200;
	e.a32 = GS_SNUM_FORK;
	e.arg[0] = 17;
	feed(an, e);
	e = ev(2 * MS, GS_EV_COND_SIGNAL, 200);
	e.tgid = 200;
	e.arg[0] = SWITCH_COND;
	feed(an, e);
	e = ev(5 * MS, GS_EV_SWITCHNUM, 200);
	e.tgid = 200;
	e.a32 = GS_SNUM_EXIT;
	e.arg[0] = 18;
	feed(an, e);
	e = ev(5 * MS, GS_EV_EXIT, 200);
	e.tgid = 200;
	e.a32 = 1;
	feed(an, e);
	an_finish(an, T0 + 6 * MS);

	child = an_find_process(an, 200);
	assert_non_null(child);
	assert_int_equal(child->ppid, PID);
	assert_int_equal(child->gil.cond, COND);
	assert_int_equal(child->handoffs, 0);
	assert_int_equal(child->initial_takes, 1);
	assert_int_equal(child->switch_end - child->switch_start, 1);
	assert_int_equal(child->gil_held_ns, 3 * MS);
	assert_int_equal(child->end_ns - child->start_ns, 4 * MS);
	assert_int_equal(p->handoffs, 0);
	an_free(an);
}

/* A thread's final switch-out comes after its exit: it must not revive. */
static void test_events_after_exit_ignored(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *t;

	(void)state;
	switch_in(an, 0, A, 0);
	thread_exit(an, 5 * MS, A, false);
	switch_out(an, 5 * MS + 10 * US, A, 0x80, false);
	an_finish(an, T0 + 10 * MS);
	t = an_find_thread(an, A);
	assert_int_equal(p->n_threads, 1);
	assert_int_equal(an_thread_lifetime(t), 5 * MS);
	assert_int_equal(t->on_cpu_ns, 5 * MS);
	an_free(an);
}

/* An event of single-threaded process C (its tid is its pid). */
static struct gs_event child_ev(uint64_t at, uint8_t type, uint32_t c)
{
	struct gs_event e = ev(at, type, c);

	e.tgid = c;
	return e;
}

/*
 * PID forks C at AT; C goes on CPU at once, takes its GIL (or first execs a
 * program without Python when EXEC) and exits 3 ms later.
 */
static void short_child(struct analysis *an, uint64_t at, uint32_t c, bool exec)
{
	struct gs_event e = ev(at, GS_EV_FORK, PID);

	e.arg[0] = (uint64_t)c | (uint64_t)c << 32;
	feed(an, e);
	e = child_ev(at, GS_EV_SWITCH, 0);
	e.cpu = c % 2;
	e.flags = GS_F_NEXT_TRACED;
	e.arg[0] = (uint64_t)c | (uint64_t)c << 32;
	feed(an, e);
	e = child_ev(at, exec ? GS_EV_EXEC : GS_EV_COND_SIGNAL, c);
	e.arg[0] = exec ? 0 : SWITCH_COND;
	feed(an, e);
	e = child_ev(at + 3 * MS, GS_EV_EXIT, c);
	e.a32 = 1;
	feed(an, e);
}

#define N_CHILDREN 5000
#define CHILD_PIDS 1000 /* pids are reused: 5 processes each */

static bool exec_child(int i)
{
	return i % 10 == 9;
}

static void check_child(const struct an_process *c, int i)
{
	assert_int_equal(c->pid, 1000 + i % CHILD_PIDS);
	assert_int_equal(c->ppid, PID);
	assert_true(c->exited);
	assert_int_equal(c->start_ns, T0 + i * MS);
	assert_int_equal(c->end_ns - c->start_ns, 3 * MS);
	assert_int_equal(an_cpu_time(c), 3 * MS);
	assert_int_equal(c->n_threads, 1);
	assert_int_equal(c->gil.addr, exec_child(i) ? 0 : GIL);
	assert_int_equal(c->initial_takes, exec_child(i) ? 0 : 1);
	assert_int_equal(c->gil_held_ns, exec_child(i) ? 0 : 3 * MS);
	assert_null(c->latency); /* no hand-off: no histogram */
	assert_int_equal(c->python_children.n, 0);
}

/*
 * 5000 short processes forked one per millisecond, each alive 3 ms; every
 * tenth execs a program without Python. The parent's children with their
 * own GIL: 4500, 13.5 s of CPU from 0 to 5001 ms.
 */
static void test_many_short_processes(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct diagnosis d[MAX_DIAGNOSES];
	const struct diagnosis *parallel = NULL;
	int n;

	(void)state;
	for (int i = 0; i < N_CHILDREN; i++)
		short_child(an, i * MS, 1000 + i % CHILD_PIDS, exec_child(i));
	an_finish(an, T0 + 5100 * MS);

	assert_int_equal(an->n_procs, 1 + N_CHILDREN);
	assert_ptr_equal(an->procs[0], p);
	for (int i = 0; i < N_CHILDREN; i++)
		check_child(an->procs[1 + i], i);
	/* a reused pid names its newest process */
	for (int k = 0; k < CHILD_PIDS; k++)
		assert_ptr_equal(an_find_process(an, 1000 + k),
				 an->procs[1 + N_CHILDREN - CHILD_PIDS + k]);
	assert_int_equal(p->python_children.n, 4500);
	assert_int_equal(p->python_children.cpu_ns, 4500 * 3 * MS);
	assert_int_equal(p->python_children.first_start, T0);
	assert_int_equal(p->python_children.last_end, T0 + 5001 * MS);
	assert_null(p->latency);

	n = diagnose(an, p, d, MAX_DIAGNOSES);
	for (int i = 0; i < n; i++)
		if (!strcmp(d[i].kind, "parallel-processes"))
			parallel = &d[i];
	assert_non_null(parallel);
	assert_string_equal(
		parallel->summary,
		"4500 child processes, each with its own interpreter and GIL, used 13.50 s of CPU in the 5.00 s they ran: 2.7 CPUs busy on average. Processes run Python in parallel where threads cannot.");
	n = diagnose(an, an->procs[1], d, MAX_DIAGNOSES);
	for (int i = 0; i < n; i++)
		assert_string_not_equal(d[i].kind, "parallel-processes");
	an_free(an);
}

/* `-a`: a process found at its exec of Python starts there, and a thread
 * of it first seen later is not older than it. */
static void test_exec_of_unseen_process(void **state)
{
	struct analysis *an = an_new(T0);
	struct gs_event e = ev(5 * MS, GS_EV_EXEC, PID);
	struct an_process *p;
	struct an_thread *main_thread, *other;

	(void)state;
	e.tid = PID;
	e.a32 = PID;
	memcpy(&e.arg[1], "python3", 8);
	an_set_image_callback(an, gil_of_image, NULL);
	feed(an, e);
	p = an_find_process(an, PID);
	assert_non_null(p);
	assert_int_equal(p->start_ns, T0 + 5 * MS);
	assert_int_equal(p->gil.addr, GIL);
	switch_out(an, 8 * MS, PID, TASK_INTERRUPTIBLE, false);
	switch_in(an, 9 * MS, A, 0);
	an_finish(an, T0 + 10 * MS);

	main_thread = an_find_thread(an, PID);
	other = an_find_thread(an, A);
	assert_string_equal(main_thread->name, "main");
	assert_int_equal(main_thread->start_ns, T0 + 5 * MS);
	assert_int_equal(main_thread->on_cpu_ns, 3 * MS);
	assert_int_equal(other->start_ns, T0 + 5 * MS);
	assert_int_equal(other->runnable_ns, 4 * MS);
	assert_int_equal(other->on_cpu_ns, 1 * MS);
	an_free(an);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_child_process),
		cmocka_unit_test(test_events_after_exit_ignored),
		cmocka_unit_test(test_many_short_processes),
		cmocka_unit_test(test_exec_of_unseen_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
