// SPDX-License-Identifier: GPL-2.0
/*
 * The diagnosis (user/analysis/diagnosis.c) on synthetic analyses: a
 * process whose figures are set by hand on each side of a kind's threshold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "analysis/diagnosis.h"

#include "stream.h"

#define LIFE (1000 * MS)

/* PID with N threads (main, A, B ...), each alive 1 s, and its GIL if GIL. */
static struct analysis *process_of(int n, bool gil, struct an_process **out)
{
	struct analysis *an = an_new(T0);
	struct an_process *p = an_add_process(an, PID, 1, T0);

	if (gil) {
		an_gil_from_base(&p->gil, GIL, 0x20, 0x50, 0x78, 0xa8, 0xd0);
		strcpy(p->gil_method, "runtime");
	}
	for (int i = 0; i < n; i++) {
		struct an_thread *t = an_add_thread(an, p, i ? A + i - 1 : PID,
						    'S', -1, 0, 0);

		t->end_ns = T0 + LIFE;
		t->exited = true;
		snprintf(t->name, sizeof(t->name), i ? "worker-%d" : "main", i);
	}
	p->end_ns = T0 + LIFE;
	*out = p;
	return an;
}

/* The kinds found, in order, joined by spaces. */
static const char *kinds(const struct analysis *an, const struct an_process *p,
			 dg_phases_fn phases)
{
	static char buf[256];
	struct diagnosis d[MAX_DIAGNOSES];
	int n = dg_diagnose(an, p, phases, d, MAX_DIAGNOSES);
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
				i ? " " : "", d[i].kind);
	return buf;
}

static void test_without_a_gil_says_why(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(1, false, &p);

	(void)state;
	assert_string_equal(kinds(an, p, NULL), "no-python");
	strcpy(p->gil_method, "unsupported");
	assert_string_equal(kinds(an, p, NULL), "gil-not-traced");
	strcpy(p->gil_method, "nogil");
	assert_string_equal(kinds(an, p, NULL), "no-gil");
	an_free(an);
}

/* Two threads that each waited for the GIL: 40 % of their life is
 * contention, 39 % is not. */
static void test_gil_contention_from_40_percent(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);
	struct diagnosis d[MAX_DIAGNOSES];

	(void)state;
	for (int i = 1; i <= 2; i++) {
		p->threads[i]->gil_acquisitions = 10;
		p->threads[i]->gil_wait_ns = 390 * MS;
	}
	p->gil_held_ns = 900 * MS;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	for (int i = 1; i <= 2; i++)
		p->threads[i]->gil_wait_ns = 400 * MS;
	assert_string_equal(kinds(an, p, NULL), "gil-contention");
	assert_int_equal(dg_diagnose(an, p, NULL, d, MAX_DIAGNOSES), 1);
	assert_non_null(strstr(d[0].summary, "2 threads waited 40 %"));
	assert_non_null(strstr(d[0].summary, "held 90 %"));
	/* a thread that never took the GIL is not a contender */
	p->threads[2]->gil_acquisitions = 0;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	an_free(an);
}

static int one_phase(const struct analysis *an, const struct an_process *p,
		     struct diagnosis *out, int n, int max)
{
	(void)an;
	(void)p;
	if (n >= max)
		return n;
	out[n].kind = "gil-contention";
	snprintf(out[n].summary, sizeof(out[n].summary), "a phase");
	return n + 1;
}

static int no_phase(const struct analysis *an, const struct an_process *p,
		    struct diagnosis *out, int n, int max)
{
	(void)an;
	(void)p;
	(void)out;
	(void)max;
	return n;
}

/* Contended phases replace the whole life's judgement; without them (or
 * without a GIL) it stands. */
static void test_phases_replace_the_whole_life(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);
	struct diagnosis d[MAX_DIAGNOSES];

	(void)state;
	for (int i = 1; i <= 2; i++) {
		p->threads[i]->gil_acquisitions = 10;
		p->threads[i]->gil_wait_ns = 500 * MS;
	}
	assert_int_equal(dg_diagnose(an, p, one_phase, d, MAX_DIAGNOSES), 1);
	assert_string_equal(d[0].summary, "a phase");
	assert_int_equal(dg_diagnose(an, p, no_phase, d, MAX_DIAGNOSES), 1);
	assert_non_null(strstr(d[0].summary, "2 threads waited 50 %"));
	memset(&p->gil, 0, sizeof(p->gil));
	assert_string_equal(kinds(an, p, one_phase), "no-python");
	an_free(an);
}

static void test_input_wait_from_a_tenth(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(1, true, &p);

	(void)state;
	p->threads[0]->blocked_ns[GS_R_INPUT] = 99 * MS;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	p->threads[0]->blocked_ns[GS_R_INPUT] = 100 * MS;
	assert_string_equal(kinds(an, p, NULL), "input-wait");
	an_free(an);
}

/* Blocked more than 1.2 x the wall time, the GIL mostly free. */
static void test_io_overlap(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(2, true, &p);

	(void)state;
	p->threads[0]->blocked_ns[GS_R_SLEEP] = 600 * MS;
	p->threads[1]->blocked_ns[GS_R_NETWORK] = 600 * MS;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	p->threads[1]->blocked_ns[GS_R_NETWORK] = 601 * MS;
	assert_string_equal(kinds(an, p, NULL), "io-overlap");
	p->gil_held_ns = 500 * MS;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	an_free(an);
}

static void wait_for(struct an_thread *t, uint32_t holder, uint64_t ns)
{
	t->lock_waits[t->n_lock_waits++] = (struct an_lockwait){
		.lock = 0x5000, .holder = holder, .wait_ns = ns, .count = 1
	};
}

/* Waits of threads other than main for a lock another thread held. */
static void test_lock_contention(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);

	(void)state;
	wait_for(p->threads[0], A, 900 * MS); /* main in join(): not it */
	wait_for(p->threads[1], A, 900 * MS); /* its own (a Condition) */
	wait_for(p->threads[2], A, 500 * MS);
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	p->threads[2]->lock_waits[0].wait_ns = 600 * MS; /* 30 % of 2 s */
	assert_string_equal(kinds(an, p, NULL), "lock-contention");
	an_free(an);
}

/* A cycle comes first, naming its threads. */
static void test_deadlock_first(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);
	struct diagnosis d[MAX_DIAGNOSES];

	(void)state;
	p->deadlocks[p->n_deadlocks++] = (struct an_deadlock){
		.n = 2, .threads = { A, B }, .locks = { 0x5000, 0x6000 }
	};
	p->threads[0]->blocked_ns[GS_R_INPUT] = 500 * MS;
	assert_string_equal(kinds(an, p, NULL), "deadlock input-wait");
	dg_diagnose(an, p, NULL, d, MAX_DIAGNOSES);
	assert_string_equal(
		d[0].summary,
		"Deadlock: worker-1 (101) waits for lock 0x5000 held by worker-2 (102), which waits for lock 0x6000 held by worker-1 (101). None of them can go on until a wait times out: take locks in one global order.");
	/* at most MAX findings */
	assert_int_equal(dg_diagnose(an, p, NULL, d, 1), 1);
	an_free(an);
}

/* GIL given up mid-work 20+ times by 2+ threads, with few lock takes. */
static void test_interleaving(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);

	(void)state;
	for (int i = 1; i <= 2; i++) {
		p->threads[i]->gil_interleavings = 20;
		p->threads[i]->lock_acquisitions = 5;
	}
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	for (int i = 1; i <= 2; i++)
		p->threads[i]->lock_acquisitions = 4;
	assert_string_equal(kinds(an, p, NULL), "interleaving");
	an_free(an);
}

/* --lock: two threads waiting 30 % of their life for it. */
static void test_user_lock(void **state)
{
	struct an_process *p;
	struct analysis *an = process_of(3, true, &p);

	(void)state;
	p->ulock.used = true;
	p->threads[1]->ulock_wait_ns = 290 * MS;
	p->threads[2]->ulock_wait_ns = 300 * MS;
	assert_string_equal(kinds(an, p, NULL), "no-contention");
	p->threads[1]->ulock_wait_ns = 300 * MS;
	assert_string_equal(kinds(an, p, NULL), "user-lock-contention");
	an_free(an);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_a_gil_says_why),
		cmocka_unit_test(test_gil_contention_from_40_percent),
		cmocka_unit_test(test_phases_replace_the_whole_life),
		cmocka_unit_test(test_input_wait_from_a_tenth),
		cmocka_unit_test(test_io_overlap),
		cmocka_unit_test(test_lock_contention),
		cmocka_unit_test(test_deadlock_first),
		cmocka_unit_test(test_interleaving),
		cmocka_unit_test(test_user_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
