// SPDX-License-Identifier: GPL-2.0
/*
 * Phases on synthetic intervals (what the analysis accounts) and on one
 * synthetic event stream: every expected number is worked out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "analysis/analysis.h"
#include "analysis/phases.h"
#include "views/phases_report.h"
#include "views/report.h"

#include "stream.h"

struct world {
	struct ph_log log;
	struct an_process p;
	struct an_thread t[4];
};

static void world_init(struct world *w, int ncpus)
{
	memset(w, 0, sizeof(*w));
	ph_log_init(&w->log, ncpus);
	w->p.pid = 201; /* thread 0 is the main thread */
	for (int i = 0; i < 4; i++) {
		w->t[i].proc = &w->p;
		w->t[i].tid = 201 + i;
		w->t[i].tgid = 201;
	}
}

enum { HOLD, WAIT, RUN, SLEEP, JOIN, RUNQ };

/* Thread I does WHAT from FROM to TO (ms after T0). */
static void span(struct world *w, int i, int what, uint64_t from, uint64_t to)
{
	enum an_sched st = what == HOLD || what == RUN ? AN_RUNNING :
			   what == RUNQ		       ? AN_RUNNABLE :
							 AN_BLOCKED;
	enum gs_reason r = what == WAIT	 ? GS_R_GIL :
			   what == SLEEP ? GS_R_SLEEP :
					   GS_R_LOCK;

	ph_account(&w->log, &w->t[i], st, r, what == HOLD, what == WAIT,
		   T0 + from * MS, T0 + to * MS);
}

/* Threads I and J take 10 ms turns on the GIL from FROM to TO. */
static void turns(struct world *w, int i, int j, uint64_t from, uint64_t to)
{
	for (uint64_t at = from; at < to; at += 10) {
		bool mine = (at - from) / 10 % 2 == 0;

		span(w, mine ? i : j, HOLD, at, at + 10);
		span(w, mine ? j : i, WAIT, at, at + 10);
	}
}

/* The phases of W: N of them. */
static void compute(struct world *w, struct ph_phases *ph, size_t n)
{
	assert_int_equal(ph_compute(&w->log, &w->p, ph), 0);
	assert_int_equal(ph->n, n);
}

static void world_free(struct world *w, struct ph_phases *ph)
{
	ph_phases_free(ph);
	ph_log_free(&w->log);
}

static void assert_phase(const struct phase *ph, enum ph_kind kind,
			 uint64_t from, uint64_t to)
{
	assert_string_equal(ph_kind_name(ph->kind), ph_kind_name(kind));
	assert_int_equal(ph->start, T0 + from * MS);
	assert_int_equal(ph->end, T0 + to * MS);
}

/* Serial 100 ms (main), 2 threads in turns 100 ms (main joins), serial
 * 50 ms: three phases; the threaded one contended, 50 % waits, what-if
 * 50 ms on 2 CPUs (100 ms of CPU / 2, each thread's 50 ms). */
static void test_serial_threaded_serial(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	span(&w, 0, HOLD, 0, 100);
	span(&w, 0, JOIN, 100, 200);
	turns(&w, 1, 2, 100, 200);
	span(&w, 0, HOLD, 200, 250);
	compute(&w, &ph, 3);
	assert_phase(&ph.v[0], PH_SERIAL, 0, 100);
	assert_phase(&ph.v[1], PH_THREADED, 100, 200);
	assert_phase(&ph.v[2], PH_SERIAL, 200, 250);
	assert_false(ph.v[0].contended);
	assert_int_equal(ph.v[0].members, 1);
	assert_int_equal(ph.v[1].members, 2);
	assert_int_equal(ph.v[1].member_time, 200 * MS);
	assert_int_equal(ph.v[1].member_gil_wait, 100 * MS);
	assert_int_equal(ph.v[1].gil_held, 100 * MS);
	assert_int_equal(ph.v[1].on_cpu, 100 * MS);
	assert_true(ph.v[1].contended);
	assert_int_equal(ph.v[1].longest_cpu, 50 * MS);
	assert_int_equal(ph.v[1].whatif_ns, 50 * MS);
	assert_int_equal(ph.v[2].whatif_ns, 0);
	world_free(&w, &ph);
}

/* On one CPU the what-if is the CPU time: 100 ms, no gain. */
static void test_whatif_bounded_by_cpus(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 1);
	turns(&w, 1, 2, 0, 100);
	compute(&w, &ph, 1);
	assert_int_equal(ph.v[0].whatif_ns, 100 * MS);
	world_free(&w, &ph);
}

/* A thread's own sleep is on its path: 4 threads in turns for 200 ms on
 * 4 CPUs, threads 2 and 3 for 120 ms, then thread 3 sleeps 80 ms: 260 ms
 * of CPU / 4 = 65 ms, but thread 3 needs 60 ms of CPU + 80 of sleep. */
static void test_whatif_keeps_own_waits(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 4);
	turns(&w, 0, 1, 0, 200);
	turns(&w, 2, 3, 0, 120);
	span(&w, 3, SLEEP, 120, 200);
	span(&w, 2, WAIT, 120, 200);
	compute(&w, &ph, 1);
	assert_int_equal(ph.v[0].members, 4);
	assert_int_equal(ph.v[0].longest_tid, 204);
	assert_int_equal(ph.v[0].longest_cpu, 60 * MS);
	assert_int_equal(ph.v[0].longest_path, 140 * MS);
	assert_int_equal(ph.v[0].whatif_ns, 140 * MS);
	world_free(&w, &ph);
}

/* A 5 ms burst of two threads wanting the GIL in a serial stretch, and a
 * 10 ms pause in a threaded one, are blips (shorter than 20 ms). */
static void test_blips_smoothed(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	span(&w, 0, HOLD, 0, 100);
	span(&w, 1, WAIT, 50, 55);
	span(&w, 0, JOIN, 100, 300);
	turns(&w, 1, 2, 100, 180);
	span(&w, 1, SLEEP, 180, 190);
	span(&w, 2, SLEEP, 180, 190);
	turns(&w, 1, 2, 190, 300);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_SERIAL, 0, 100);
	assert_phase(&ph.v[1], PH_THREADED, 100, 300);
	assert_true(ph.v[1].contended);
	world_free(&w, &ph);
}

/* The last worker finishing alone for 22 ms belongs to the 100 ms
 * threaded phase (up to half of it); the main thread after it does not,
 * and a worker alone for 60 ms (more than half) is serial work of its
 * own. */
static void test_tail_of_the_threaded_phase(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	span(&w, 0, JOIN, 0, 122);
	turns(&w, 1, 2, 0, 100);
	span(&w, 1, HOLD, 100, 122);
	span(&w, 0, HOLD, 122, 200);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_THREADED, 0, 122);
	assert_phase(&ph.v[1], PH_SERIAL, 122, 200);
	world_free(&w, &ph);

	/* the main thread takes the GIL 1 ms between two joins in the tail */
	world_init(&w, 2);
	span(&w, 0, JOIN, 0, 105);
	span(&w, 0, HOLD, 105, 106);
	span(&w, 0, JOIN, 106, 122);
	turns(&w, 1, 2, 0, 100);
	span(&w, 1, HOLD, 100, 105);
	span(&w, 1, WAIT, 105, 106);
	span(&w, 1, HOLD, 106, 122);
	span(&w, 0, HOLD, 122, 200);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_THREADED, 0, 122);
	assert_phase(&ph.v[1], PH_SERIAL, 122, 200);
	world_free(&w, &ph);

	world_init(&w, 2);
	span(&w, 0, JOIN, 0, 160);
	turns(&w, 1, 2, 0, 100);
	span(&w, 1, HOLD, 100, 160);
	span(&w, 0, HOLD, 160, 200);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_THREADED, 0, 100);
	assert_phase(&ph.v[1], PH_SERIAL, 100, 200);
	world_free(&w, &ph);
}

/* The thread that started the workers wanted the GIL 30 % of the
 * threaded phase (a moment for each start); its own 15 ms of work after
 * the workers end is serial, not the phase's tail (PH_WIDEN_SHARE). */
static void test_starter_not_taken_in(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	turns(&w, 0, 1, 0, 30);
	span(&w, 0, JOIN, 30, 100);
	turns(&w, 1, 2, 30, 100);
	span(&w, 2, WAIT, 0, 30);
	span(&w, 0, HOLD, 100, 115);
	span(&w, 0, SLEEP, 115, 125);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_THREADED, 0, 100);
	assert_int_equal(ph.v[0].members, 3);
	/* 15 ms serial, 10 ms asleep: no stretch of a minimum phase, so
	 * one phase of the kind it was most */
	assert_phase(&ph.v[1], PH_SERIAL, 100, 125);
	world_free(&w, &ph);
}

/* A new thread waits 4 ms for a CPU before its first GIL request: the
 * threaded phase starts when it became runnable. A thread that never asks
 * for the GIL (native) does not count, runnable or not. */
static void test_new_thread_runnable_wants(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	span(&w, 0, HOLD, 0, 100);
	span(&w, 1, RUNQ, 100, 104);
	span(&w, 0, HOLD, 100, 104);
	turns(&w, 0, 1, 104, 204);
	span(&w, 3, RUNQ, 0, 50);
	span(&w, 3, RUN, 50, 204);
	compute(&w, &ph, 2);
	assert_phase(&ph.v[0], PH_SERIAL, 0, 100);
	assert_phase(&ph.v[1], PH_THREADED, 100, 204);
	world_free(&w, &ph);
}

/* Contended by the second rule: thread 1 holds the GIL 100 ms while
 * thread 2, new, waits 90 ms for a CPU and 10 ms for the GIL: GIL waits
 * are 5 % of their time, but one thread wanted the GIL beyond the holder
 * the whole phase (200 ms wanting - 100 ms held >= 100 ms). With thread 2
 * waiting for a CPU only 70 ms (asleep 20 ms before), it is not. */
static void test_contended_by_wanting(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	for (int sleep = 0; sleep <= 20; sleep += 20) {
		world_init(&w, 2);
		span(&w, 0, JOIN, 0, 100);
		span(&w, 1, HOLD, 0, 100);
		if (sleep)
			span(&w, 2, SLEEP, 0, sleep);
		span(&w, 2, RUNQ, sleep, 90);
		span(&w, 2, WAIT, 90, 100);
		compute(&w, &ph, 1);
		assert_string_equal(ph_kind_name(ph.v[0].kind), "threaded");
		assert_int_equal(ph.v[0].members, 2);
		assert_int_equal(ph.v[0].member_want, (200 - sleep) * MS);
		assert_int_equal(ph.v[0].contended, !sleep);
		world_free(&w, &ph);
	}
}

/* Idle and native stretches: a thread sleeps 50 ms, runs 30 ms without
 * the GIL, then holds it 40 ms. */
static void test_idle_native_serial(void **state)
{
	struct world w;
	struct ph_phases ph;

	(void)state;
	world_init(&w, 2);
	span(&w, 0, SLEEP, 0, 50);
	span(&w, 0, RUN, 50, 80);
	span(&w, 0, HOLD, 80, 120);
	compute(&w, &ph, 3);
	assert_phase(&ph.v[0], PH_IDLE, 0, 50);
	assert_phase(&ph.v[1], PH_NATIVE, 50, 80);
	assert_phase(&ph.v[2], PH_SERIAL, 80, 120);
	world_free(&w, &ph);
}

/* Through the analysis (the log's sink on the event stream): A holds while B
 * waits 50 ms, then the other way round; the diagnosis names the phase. */
static void test_diagnosis_of_a_phase(void **state)
{
	struct ph_log log;
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct diagnosis d[MAX_DIAGNOSES];
	int n;

	(void)state;
	ph_log_init(&log, 2);
	an_set_sink(an, ph_log_sink(&log));
	an->phases = &log;
	cond_signal(an, 0, A, SWITCH_COND);
	feed(an, ev(0, GS_EV_GIL_TAKE, B));
	cond_signal(an, 50 * MS, A, COND);
	cond_signal(an, 50 * MS, B, SWITCH_COND);
	feed(an, ev(50 * MS, GS_EV_GIL_TAKE, A));
	cond_signal(an, 100 * MS, B, COND);
	cond_signal(an, 100 * MS, A, SWITCH_COND);
	an_finish(an, T0 + 100 * MS);
	n = diagnose(an, p, d, MAX_DIAGNOSES);
	assert_true(n >= 1);
	assert_string_equal(d[0].kind, "gil-contention");
	assert_non_null(strstr(
		d[0].summary,
		"From 0.000 s to 0.100 s (0.100 s), 2 threads wanted the GIL and waited 50 %"));
	assert_non_null(strstr(
		d[0].summary,
		"held 100 % of the phase and the process used 2.0 CPU of 2"));
	assert_non_null(strstr(d[0].summary, "about 0.050 s: 0.050 s less"));
	an_free(an);
	ph_log_free(&log);
}

/* Serial 0-100 ms (main), threads 1 and 2 in turns 100-200 ms (started
 * at 100, ended at 200), main alone 200-250 ms and the process exits;
 * the main thread's stacks as LIFE says (ms, 0: none). */
static void roles_world(struct world *w, struct an_thread **threads,
			uint64_t startup_last, uint64_t program_first,
			uint64_t program_last)
{
	struct ph_proc_log *pl;

	world_init(w, 2);
	span(w, 0, HOLD, 0, 100);
	span(w, 0, JOIN, 100, 200);
	turns(w, 1, 2, 100, 200);
	span(w, 0, HOLD, 200, 250);
	for (int i = 0; i < 3; i++) {
		threads[i] = &w->t[i];
		w->t[i].start_ns = T0 + (i ? 100 : 0) * MS;
		w->t[i].end_ns = T0 + (i ? 200 : 250) * MS;
	}
	w->p.threads = threads;
	w->p.n_threads = 3;
	w->p.exited = true;
	pl = ph_proc_log_of(&w->log, &w->p);
	assert_non_null(pl);
	pl->life = (struct ph_life){
		.startup_last = startup_last ? T0 + startup_last * MS : 0,
		.program_first = program_first ? T0 + program_first * MS : 0,
		.program_last = program_last ? T0 + program_last * MS : 0,
	};
}

static void assert_labels(const struct ph_phases *ph, const char *const *want,
			  size_t n)
{
	assert_int_equal(ph->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ph_label(&ph->v[i]), want[i]);
}

/* Start-up ends halfway between the last import stack (30 ms) and the
 * first stack in the program's code (50 ms); shutdown is the main thread
 * alone after the last worker ended (its last own stack at 210 ms, less
 * than a minimum phase later). */
static void test_startup_and_shutdown(void **state)
{
	static const char *const want[] = { "start-up", "serial", "threaded",
					    "shutdown" };
	struct an_thread *threads[3];
	struct world w;
	struct ph_phases ph;

	(void)state;
	roles_world(&w, threads, 30, 50, 210);
	compute(&w, &ph, 4);
	assert_labels(&ph, want, 4);
	assert_phase(&ph.v[0], PH_SERIAL, 0, 40);
	assert_phase(&ph.v[1], PH_SERIAL, 40, 100);
	assert_phase(&ph.v[2], PH_THREADED, 100, 200);
	assert_phase(&ph.v[3], PH_SERIAL, 200, 250);
	/* figures are the split phases' own */
	assert_int_equal(ph.v[0].gil_held, 40 * MS);
	assert_int_equal(ph.v[1].gil_held, 60 * MS);
	assert_true(ph.v[2].contended);
	world_free(&w, &ph);
}

/* The program's code ran on 40 ms after the threads: that is serial work,
 * and shutdown begins at its last stack; a start-up that ends 10 ms before
 * the serial phase's end (less than a minimum phase) takes all of it. */
static void test_serial_work_after_threads(void **state)
{
	static const char *const want[] = { "start-up", "threaded", "serial",
					    "shutdown" };
	struct an_thread *threads[3];
	struct world w;
	struct ph_phases ph;

	(void)state;
	roles_world(&w, threads, 85, 95, 240);
	compute(&w, &ph, 4);
	assert_labels(&ph, want, 4);
	assert_phase(&ph.v[0], PH_SERIAL, 0, 100);
	assert_phase(&ph.v[2], PH_SERIAL, 200, 240);
	assert_phase(&ph.v[3], PH_SERIAL, 240, 250);
	world_free(&w, &ph);
}

/* Without the program's stacks (--no-stacks), neither is told: the kinds
 * are the labels, as before. */
static void test_no_stacks_no_roles(void **state)
{
	static const char *const want[] = { "serial", "threaded", "serial" };
	struct an_thread *threads[3];
	struct world w;
	struct ph_phases ph;

	(void)state;
	roles_world(&w, threads, 0, 0, 0);
	compute(&w, &ph, 3);
	assert_labels(&ph, want, 3);
	world_free(&w, &ph);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_serial_threaded_serial),
		cmocka_unit_test(test_whatif_bounded_by_cpus),
		cmocka_unit_test(test_whatif_keeps_own_waits),
		cmocka_unit_test(test_blips_smoothed),
		cmocka_unit_test(test_tail_of_the_threaded_phase),
		cmocka_unit_test(test_starter_not_taken_in),
		cmocka_unit_test(test_new_thread_runnable_wants),
		cmocka_unit_test(test_contended_by_wanting),
		cmocka_unit_test(test_idle_native_serial),
		cmocka_unit_test(test_diagnosis_of_a_phase),
		cmocka_unit_test(test_startup_and_shutdown),
		cmocka_unit_test(test_serial_work_after_threads),
		cmocka_unit_test(test_no_stacks_no_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
