// SPDX-License-Identifier: GPL-2.0
/*
 * The analysis on synthetic event streams: every expected number is worked
 * out by hand from the stream.
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

static uint64_t accounted(const struct an_thread *t)
{
	return t->on_cpu_ns + t->runnable_ns + an_blocked_total(t);
}

/* A thread runs, sleeps 50 ms, waits 1 ms for a CPU, runs, exits. */
static void test_sleep_runnable_oncpu(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *t;

	(void)state;
	switch_in(an, 0, A, 0);
	sys_enter(an, 10 * MS, A, NR_CLOCK_NANOSLEEP, 1, 1, (uint32_t)-1);
	switch_out(an, 10 * MS, A, TASK_INTERRUPTIBLE, false);
	wakeup(an, 60 * MS, A);
	switch_in(an, 61 * MS, A, 1);
	sys_exit(an, 61 * MS, A, NR_CLOCK_NANOSLEEP, 0);
	thread_exit(an, 70 * MS, A, true);
	an_finish(an, 80 * MS + T0);

	t = an_find_thread(an, A);
	assert_non_null(t);
	assert_int_equal(t->on_cpu_ns, 19 * MS);
	assert_int_equal(t->blocked_ns[GS_R_SLEEP], 50 * MS);
	assert_int_equal(t->runnable_ns, 1 * MS);
	assert_int_equal(an_thread_lifetime(t), 70 * MS);
	assert_int_equal(accounted(t), an_thread_lifetime(t));
	assert_int_equal(t->voluntary_switches, 1);
	assert_int_equal(t->involuntary_switches, 0);
	assert_int_equal(t->migrations, 1);
	assert_int_equal(an_cpu_count(t->cpus), 2);
	assert_true(p->exited);
	assert_int_equal(p->end_ns - p->start_ns, 70 * MS);
	an_free(an);
}

/*
 * A holds the GIL; B asks for it at 2 ms, waits on the cond, times out at
 * 7.1 ms (drop request), A lets go at 7.2 ms, B takes it at 7.25 ms: one
 * forced hand-off with a 50 us latency.
 */
static void test_forced_handoff(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *a, *b;

	(void)state;
	switch_in(an, 0, A, 0);
	cond_signal(an, 1 * MS, A, SWITCH_COND); /* A acquires */
	fork_thread(an, 1 * MS, A, B);
	switch_in(an, 1 * MS, B, 1);
	feed(an, ev(2 * MS, GS_EV_GIL_TAKE, B));
	wait_on_cond(an, 2100 * US, B);
	switch_out(an, 2100 * US, B, TASK_INTERRUPTIBLE, false);
	wakeup(an, 7100 * US, B);
	switch_in(an, 7100 * US, B, 1);
	sys_exit(an, 7100 * US, B, NR_FUTEX, ETIMEDOUT_RET);
	cond_signal(an, 7200 * US, A, COND); /* A releases: forced */
	cond_signal(an, 7250 * US, B, SWITCH_COND);
	an_finish(an, T0 + 10 * MS);

	a = an_find_thread(an, A);
	b = an_find_thread(an, B);
	assert_int_equal(p->handoffs, 1);
	assert_int_equal(p->initial_takes, 1); /* switch_number counts it too */
	assert_int_equal(p->forced_handoffs, 1);
	assert_int_equal(p->latency->count, 1);
	assert_int_equal(p->latency->max, 50 * US);
	assert_int_equal(a->gil_held_ns, 6200 * US);
	assert_int_equal(a->on_cpu_gil_ns, 6200 * US);
	assert_int_equal(b->gil_wait_ns, 5250 * US);
	assert_int_equal(b->blocked_ns[GS_R_GIL], 5 * MS);
	assert_int_equal(b->gil_held_ns, 2750 * US);
	assert_int_equal(p->gil_held_ns, 6200 * US + 2750 * US);
	assert_int_equal(p->waiter_ns, 5250 * US);
	assert_int_equal(accounted(b), an_thread_lifetime(b));
	assert_int_equal(an_thread_lifetime(b), 9 * MS);
	an_free(an);
}

/* A releases the GIL to sleep; B, waiting, takes it: voluntary. */
static void test_voluntary_handoff(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);

	(void)state;
	cond_signal(an, 0, A, SWITCH_COND);
	feed(an, ev(1 * MS, GS_EV_GIL_TAKE, B));
	cond_signal(an, 3 * MS, A, COND);
	sys_enter(an, 3 * MS, A, NR_CLOCK_NANOSLEEP, 1, 1, (uint32_t)-1);
	cond_signal(an, 3 * MS + 20 * US, B, SWITCH_COND);
	an_finish(an, T0 + 5 * MS);

	assert_int_equal(p->handoffs, 1);
	assert_int_equal(p->forced_handoffs, 0);
	assert_int_equal(hist_quantile(p->latency, 0.5), 20 * US);
	assert_int_equal(an_find_thread(an, B)->gil_wait_ns, 2020 * US);
	an_free(an);
}

/* Without take_gil probes the wait starts at the futex on the cond. */
static void test_wait_from_futex_without_take_probe(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *b;

	(void)state;
	cond_signal(an, 0, A, SWITCH_COND);
	sys_enter(an, 1 * MS, B, NR_FUTEX, COND + 0x2c, 137, 0);
	sys_exit(an, 4 * MS, B, NR_FUTEX, 0);
	cond_signal(an, 4 * MS, A, COND);
	cond_signal(an, 4 * MS + 10 * US, B, SWITCH_COND);
	an_finish(an, T0 + 5 * MS);

	b = an_find_thread(an, B);
	assert_int_equal(b->gil_wait_ns, 3010 * US);
	assert_int_equal(p->handoffs + p->initial_takes, 2);
	an_free(an);
}

/*
 * Hand-off probes only: takes by a new holder are probed (switch_cond
 * signal after ++switch_number); a release before a call is read at the
 * call's entry, the take after it at its return, and a release that wakes a
 * waiter is the holder's futex wake on the cond.
 */
static void test_handoff_probes_only(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *a, *b;

	(void)state;
	cond_signal(an, 0, A, SWITCH_COND);	    /* A's first take */
	read_without_gil(an, 1 * MS, 1200 * US, A); /* taken back at once */
	read_without_gil(an, 2 * MS, 2100 * US, A);
	sys_enter_free(an, 2500 * US, B, NR_FUTEX, COND + 0x28,
		       FUTEX_WAIT_BITSET_PRIVATE);
	wake_gil_waiter(an, 3 * MS, A);
	sys_enter_free(an, 3010 * US, A, NR_CLOCK_NANOSLEEP, 1, 1);
	sys_exit(an, 3050 * US, B, NR_FUTEX, 0);
	cond_signal(an, 3060 * US, B, SWITCH_COND);	/* hand-off 1 */
	sys_exit(an, 5 * MS, A, NR_CLOCK_NANOSLEEP, 0); /* B holds: waits */
	sys_enter_free(an, 5010 * US, A, NR_FUTEX, COND + 0x28,
		       FUTEX_WAIT_BITSET_PRIVATE);
	wake_gil_waiter(an, 6 * MS, B);
	sys_enter_free(an, 6010 * US, B, NR_READ, 3, 0);
	sys_exit(an, 6020 * US, A, NR_FUTEX, 0);
	cond_signal(an, 6030 * US, A, SWITCH_COND); /* hand-off 2 */
	sys_exit(an, 6050 * US, B, NR_READ, 1);	    /* A holds: no take */
	an_finish(an, T0 + 10 * MS);

	a = an_find_thread(an, A);
	b = an_find_thread(an, B);
	assert_int_equal(p->initial_takes, 1);
	assert_int_equal(p->handoffs, 2);
	assert_int_equal(p->forced_handoffs, 0);
	assert_int_equal(p->latency->count, 2);
	assert_int_equal(p->latency->max, 60 * US);
	assert_int_equal(p->latency->sum, 90 * US);
	assert_int_equal(a->gil_acquisitions, 4);
	assert_int_equal(a->gil_held_ns,
			 1 * MS + 800 * US + 900 * US + 3970 * US);
	assert_int_equal(b->gil_held_ns, 2940 * US);
	assert_int_equal(b->gil_wait_ns, 560 * US);
	assert_int_equal(a->gil_wait_ns, 1020 * US);
	assert_int_equal(p->gil_held_ns, a->gil_held_ns + b->gil_held_ns);
	an_free(an);
}

/*
 * --light records futex calls and the calls a thread blocks in, nothing
 * else: holds are derived. The main thread M holds the GIL from exec; a
 * waiter leaving the cond wait takes a free GIL; a holder that starts to
 * wait on the cond had lost it unseen (10.3 ms: B came out of the wait at
 * 10.1 ms, but M had taken the GIL back in between); a waiter woken while
 * another thread holds it takes it (14 ms: B's release was unseen).
 */
static void test_light_holds_from_futex_traffic(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *m, *b;

	(void)state;
	an->light = true;
	an_set_image_callback(an, gil_of_image, NULL);
	switch_in(an, 0, PID, 0);
	feed(an, ev(0, GS_EV_EXEC, PID));
	fork_thread(an, 1 * MS, PID, B);
	switch_in(an, 1 * MS, B, 1);
	wait_on_cond(an, 2 * MS, B);
	wake_on_cond(an, 5 * MS, PID);
	sys_exit(an, 5100 * US, B, NR_FUTEX, 0);
	wait_on_cond(an, 6 * MS, PID);
	wake_on_cond(an, 8 * MS, B);
	sys_exit(an, 8200 * US, PID, NR_FUTEX, 0);
	wait_on_cond(an, 9 * MS, B);
	wake_on_cond(an, 10 * MS, PID);
	sys_exit(an, 10100 * US, B, NR_FUTEX, 0);
	wait_on_cond(an, 10300 * US, B);
	wake_on_cond(an, 12 * MS, PID);
	sys_exit(an, 12100 * US, B, NR_FUTEX, 0);
	/* woken while B holds it: B let go unseen */
	wait_on_cond(an, 13 * MS, PID);
	sys_exit(an, 14 * MS, PID, NR_FUTEX, 0);
	an_finish(an, T0 + 15 * MS);

	m = an_find_thread(an, PID);
	b = an_find_thread(an, B);
	assert_int_equal(p->initial_takes, 1);
	assert_int_equal(p->handoffs, 4);
	assert_int_equal(p->latency->count, 3); /* B's release was unseen */
	assert_int_equal(p->latency->max, 200 * US);
	assert_int_equal(m->gil_held_ns, 5 * MS + 1800 * US + 1 * MS);
	assert_int_equal(m->gil_wait_ns, 2200 * US + 1 * MS);
	assert_int_equal(b->gil_held_ns, 2900 * US + 200 * US + 1900 * US);
	assert_int_equal(b->gil_wait_ns, 3100 * US + 1100 * US + 1800 * US);
	an_free(an);
}

static void sys_exit_at_switch_in(struct analysis *an, uint64_t at,
				  uint32_t tid, bool woken_by_other)
{
	struct gs_event e = ev(at, GS_EV_SYS_EXIT, tid);

	e.a32 = NR_FUTEX;
	e.flags = GS_F_AT_SWITCH_IN |
		  (woken_by_other ? GS_F_WOKEN_BY_OTHER : 0);
	feed(an, e);
}

/*
 * --light without syscall tracepoints: a call's return is written when the
 * thread runs again, with who woke it. B's wait on the cond times out at
 * 7 ms (woken by a timer: no take, a drop request); M signals at 7.2 ms;
 * B, woken by that futex call, takes the GIL at 7.25 ms: a forced hand-off.
 */
static void test_light_timeout_from_the_waker(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *b;

	(void)state;
	an->light = true;
	an_set_image_callback(an, gil_of_image, NULL);
	switch_in(an, 0, PID, 0);
	feed(an, ev(0, GS_EV_EXEC, PID));
	fork_thread(an, 1 * MS, PID, B);
	wait_on_cond(an, 2 * MS, B);
	sys_exit_at_switch_in(an, 7 * MS, B, true);
	wait_on_cond(an, 7010 * US, B);
	wake_on_cond(an, 7200 * US, PID);
	sys_exit_at_switch_in(an, 7250 * US, B, false);
	an_finish(an, T0 + 10 * MS);

	b = an_find_thread(an, B);
	assert_int_equal(p->handoffs, 1);
	assert_int_equal(p->forced_handoffs, 1);
	assert_int_equal(p->latency->max, 50 * US);
	assert_int_equal(b->gil_wait_ns, 5250 * US);
	assert_int_equal(b->gil_held_ns, 2750 * US);
	an_free(an);
}

/* Each syscall lands in its reason; a futex elsewhere is a lock. */
static void block_in(struct analysis *an, uint64_t at, int nr, uint64_t a0,
		     uint64_t facts)
{
	sys_enter(an, at, A, nr, a0, 0, facts);
	switch_out(an, at, A, TASK_INTERRUPTIBLE, false);
	wakeup(an, at + 10 * MS, A);
	switch_in(an, at + 10 * MS, A, 0);
	sys_exit(an, at + 10 * MS, A, nr, 0);
}

static void test_blocking_reasons(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	uint64_t tty = (uint64_t)GS_FD_CHR << 32 | GS_FD_TTY_BIT | 5;
	uint64_t sock = (uint64_t)GS_FD_SOCK << 32 | 7;
	uint64_t pipe_stdin = (uint64_t)GS_FD_FIFO << 32 | 0;
	uint64_t file = (uint64_t)GS_FD_REG << 32 | 9;
	struct an_thread *t;

	(void)state;
	switch_in(an, 0, A, 0);
	block_in(an, 0, NR_READ, 5, tty);
	block_in(an, 20 * MS, NR_READ, 0, pipe_stdin);
	block_in(an, 40 * MS, 45 /* recvfrom */, 7, sock);
	block_in(an, 60 * MS, NR_FUTEX, 0x5000, 0);
	block_in(an, 80 * MS, NR_FUTEX, COND + 0x28, 0);
	block_in(an, 100 * MS, NR_READ, 9, file);
	block_in(an, 120 * MS, 7 /* poll on nothing */, 0, (uint32_t)-1);
	block_in(an, 140 * MS, 61 /* wait4 */, 0, (uint32_t)-1);
	an_finish(an, T0 + 160 * MS);

	t = an_find_thread(an, A);
	assert_int_equal(t->blocked_ns[GS_R_INPUT], 20 * MS);
	assert_int_equal(t->blocked_ns[GS_R_NETWORK], 10 * MS);
	assert_int_equal(t->blocked_ns[GS_R_LOCK], 10 * MS);
	assert_int_equal(t->blocked_ns[GS_R_GIL], 10 * MS);
	assert_int_equal(t->blocked_ns[GS_R_IO], 10 * MS);
	assert_int_equal(t->blocked_ns[GS_R_SLEEP], 10 * MS);
	assert_int_equal(t->blocked_ns[GS_R_OTHER], 10 * MS);
	assert_int_equal(t->on_cpu_ns, 80 * MS);
	assert_int_equal(accounted(t), 160 * MS);
	an_free(an);
}

/* Preemption: runnable, involuntary. Disk sleep outside a syscall: I/O. */
static void test_preempt_and_uninterruptible(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *t;

	(void)state;
	switch_in(an, 0, A, 0);
	switch_out(an, 5 * MS, A, 0, true);
	switch_in(an, 8 * MS, A, 0);
	switch_out(an, 9 * MS, A, 2 /* TASK_UNINTERRUPTIBLE */, false);
	wakeup(an, 12 * MS, A);
	switch_in(an, 12 * MS, A, 0);
	an_finish(an, T0 + 20 * MS);

	t = an_find_thread(an, A);
	assert_int_equal(t->runnable_ns, 3 * MS);
	assert_int_equal(t->involuntary_switches, 1);
	assert_int_equal(t->voluntary_switches, 1);
	assert_int_equal(t->blocked_ns[GS_R_IO], 3 * MS);
	assert_int_equal(t->on_cpu_ns, 14 * MS);
	assert_false(t->exited);
	assert_int_equal(an_thread_lifetime(t), 20 * MS);
	an_free(an);
}

/* Attached mid-run: the first event tells what the thread was doing. */
static void test_unknown_start_resolved(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *a, *b;

	(void)state;
	an_add_thread(an, p, A, 'R', -1, 0, 0);
	an_add_thread(an, p, B, 'S', NR_CLOCK_NANOSLEEP, 1, 1);
	switch_out(an, 4 * MS, A, TASK_INTERRUPTIBLE, false); /* was running */
	wakeup(an, 6 * MS, B);				      /* was asleep */
	switch_in(an, 7 * MS, B, 1);
	an_finish(an, T0 + 10 * MS);

	a = an_find_thread(an, A);
	b = an_find_thread(an, B);
	assert_int_equal(a->on_cpu_ns, 4 * MS);
	assert_int_equal(a->blocked_ns[GS_R_OTHER], 6 * MS);
	assert_int_equal(b->blocked_ns[GS_R_SLEEP], 6 * MS);
	assert_int_equal(b->runnable_ns, 1 * MS);
	assert_int_equal(b->on_cpu_ns, 3 * MS);
	an_free(an);
}

/* The GIL's holder at attach time is known from memory. */
static void test_attach_holder(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);

	(void)state;
	an_add_thread(an, p, A, 'R', -1, 0, 0);
	an_add_thread(an, p, B, 'S', NR_FUTEX, COND + 0x28,
		      FUTEX_WAIT_BITSET_PRIVATE);
	an_set_gil_state(p, true, A);
	cond_signal(an, 3 * MS, A, COND);
	cond_signal(an, 3 * MS + 40 * US, B, SWITCH_COND);
	an_finish(an, T0 + 4 * MS);

	assert_int_equal(an_find_thread(an, A)->gil_held_ns, 3 * MS);
	assert_int_equal(p->handoffs, 1); /* A was the last holder */
	assert_int_equal(p->latency->max, 40 * US);
	an_free(an);
}

/*
 * Free at attach, A its last holder (replay.c passes the last holder once;
 * it is the holder only while the GIL is locked): nobody holds it until A
 * takes it back, which is no hand-off; B's take after A's is one. Without
 * a last holder, A's take is an initial take.
 */
static void attach_free_then_take(uint32_t last_holder, struct analysis **out,
				  struct an_process **pp)
{
	struct analysis *an = setup_process(pp);

	an_add_thread(an, *pp, A, 'R', -1, 0, 0);
	an_add_thread(an, *pp, B, 'R', -1, 0, 0);
	an_set_gil_state(*pp, false, last_holder);
	cond_signal(an, 2 * MS, A, SWITCH_COND);
	cond_signal(an, 3 * MS, A, COND);
	cond_signal(an, 3 * MS + 40 * US, B, SWITCH_COND);
	an_finish(an, T0 + 4 * MS);
	*out = an;
}

static void test_attach_free_gil_last_holder(void **state)
{
	struct an_process *p;
	struct analysis *an;

	(void)state;
	attach_free_then_take(A, &an, &p);
	assert_int_equal(an_find_thread(an, A)->gil_held_ns, 1 * MS);
	assert_int_equal(p->gil_held_ns, 2 * MS - 40 * US);
	assert_int_equal(p->initial_takes, 0);
	assert_int_equal(p->handoffs, 1);
	an_free(an);

	attach_free_then_take(0, &an, &p);
	assert_int_equal(an_find_thread(an, A)->gil_held_ns, 1 * MS);
	assert_int_equal(p->initial_takes, 1);
	assert_int_equal(p->handoffs, 1);
	an_free(an);

	/* locked: the last holder holds it from the start */
	an = setup_process(&p);
	an_add_thread(an, p, A, 'R', -1, 0, 0);
	an_set_gil_state(p, true, A);
	an_finish(an, T0 + 4 * MS);
	assert_int_equal(an_find_thread(an, A)->gil_held_ns, 4 * MS);
	an_free(an);
}

static void test_hist_quantiles(void **state)
{
	struct hist *h = calloc(1, sizeof(*h));

	(void)state;
	for (uint64_t v = 1; v <= 1000; v++)
		hist_add(h, v * US);
	assert_int_equal(h->max, 1000 * US);
	/* within the 1/128 bucket width */
	assert_in_range(hist_quantile(h, 0.5), 500 * US, 504 * US);
	assert_in_range(hist_quantile(h, 0.99), 990 * US, 998 * US);
	assert_int_equal(hist_quantile(h, 1.0), 1000 * US);
	free(h);
}

/* The diagnosis names the contention with its numbers. */
static void test_diagnosis_gil_contention(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct diagnosis d[MAX_DIAGNOSES];
	int n;

	(void)state;
	/* A holds while B waits, then the other way round */
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
	assert_non_null(strstr(d[0].summary, "2 threads waited 50 %"));
	assert_non_null(strstr(d[0].summary, "held 100 %"));
	an_free(an);
}

struct slices {
	int n, handoffs;
	uint32_t tid;
	struct an_slice s[32];
	uint64_t start[32], end[32];
	uint64_t covered;
	uint64_t last_end;
	bool contiguous;
};

static void on_slice(void *ctx, const struct an_thread *t,
		     const struct an_slice *s, uint64_t start, uint64_t end)
{
	struct slices *c = ctx;

	if (t->tid != c->tid || c->n >= 32)
		return;
	if (c->n && start != c->last_end)
		c->contiguous = false;
	c->s[c->n] = *s;
	c->start[c->n] = start - T0;
	c->end[c->n++] = end - T0;
	c->covered += end - start;
	c->last_end = end;
}

static void on_handoff(void *ctx, const struct an_process *p, uint32_t from,
		       uint32_t to, uint64_t rel, uint64_t acq, bool forced)
{
	struct slices *c = ctx;

	(void)p;
	assert_int_equal(from, A);
	assert_int_equal(to, B);
	assert_int_equal(acq - rel, 50 * US);
	assert_true(forced);
	c->handoffs++;
}

/* The timeline view of the forced hand-off: B's slices, in order. */
static void test_slices_cover_life(void **state)
{
	struct slices c = { .tid = B, .contiguous = true };
	struct an_sink sink = { .ctx = &c,
				.slice = on_slice,
				.handoff = on_handoff };
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	static const enum an_slice_kind kinds[] = {
		AN_SLICE_RUNNING,  AN_SLICE_GIL_WAIT, AN_SLICE_GIL_WAIT,
		AN_SLICE_GIL_WAIT, AN_SLICE_GIL_HELD,
	};
	static const uint64_t ends[] = { 2 * MS, 2100 * US, 7100 * US,
					 7250 * US, 10 * MS };

	(void)state;
	an_set_sink(an, &sink);
	switch_in(an, 0, A, 0);
	cond_signal(an, 1 * MS, A, SWITCH_COND);
	fork_thread(an, 1 * MS, A, B);
	switch_in(an, 1 * MS, B, 1);
	feed(an, ev(2 * MS, GS_EV_GIL_TAKE, B));
	wait_on_cond(an, 2100 * US, B);
	switch_out(an, 2100 * US, B, TASK_INTERRUPTIBLE, false);
	wakeup(an, 7100 * US, B);
	switch_in(an, 7100 * US, B, 1);
	sys_exit(an, 7100 * US, B, NR_FUTEX, ETIMEDOUT_RET);
	cond_signal(an, 7200 * US, A, COND);
	cond_signal(an, 7250 * US, B, SWITCH_COND);
	an_finish(an, T0 + 10 * MS);

	assert_int_equal(c.handoffs, 1);
	assert_true(c.contiguous);
	assert_int_equal(c.n, 5);
	assert_int_equal(c.start[0], 1 * MS);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c.s[i].kind, kinds[i]);
		assert_int_equal(c.end[i], ends[i]);
	}
	assert_int_equal(c.s[2].sys_nr, NR_FUTEX);
	assert_int_equal(c.s[4].cpu, 1);
	assert_string_equal(an_slice_name(&c.s[4]), "GIL held");
	assert_int_equal(c.covered, an_thread_lifetime(an_find_thread(an, B)));
	an_free(an);
}

/* Threads alive when another thread calls exit_group were killed by it. */
static void test_daemon_killed_at_exit(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);

	(void)state;
	switch_in(an, 0, A, 0);
	sys_enter(an, 1 * MS, B, NR_FUTEX, L1, 393, 0);
	sys_enter(an, 5 * MS, A, 231, 0, 0, 0);
	thread_exit(an, 5 * MS + 10 * US, B, false);
	thread_exit(an, 5 * MS + 20 * US, A, true);
	an_finish(an, T0 + 6 * MS);

	assert_true(an_find_thread(an, B)->killed_at_exit);
	assert_false(an_find_thread(an, A)->killed_at_exit);
	assert_int_equal(an_find_thread(an, B)->lock_waits[0].wait_ns,
			 5 * MS + 10 * US - 1 * MS);
	an_free(an);
}

/* A gives the GIL up around a call, B runs Python, A resumes: interleaved. */
static void test_gil_interleavings(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);

	(void)state;
	cond_signal(an, 0, A, SWITCH_COND);
	cond_signal(an, 1 * MS, A, COND);		   /* A sleeps */
	cond_signal(an, 1 * MS + 10 * US, B, SWITCH_COND); /* B runs */
	cond_signal(an, 2 * MS, B, COND);
	cond_signal(an, 3 * MS, A, SWITCH_COND); /* A resumes: 1 */
	cond_signal(an, 4 * MS, A, COND);
	cond_signal(an, 5 * MS, A, SWITCH_COND); /* nobody ran: 0 */
	an_finish(an, T0 + 6 * MS);

	assert_int_equal(an_find_thread(an, A)->gil_interleavings, 1);
	assert_int_equal(an_find_thread(an, B)->gil_interleavings, 0);
	an_free(an);
}

/* A switch-in missing from the stream: the thread's own syscall shows it
 * runs; it is not left runnable until its next switch. */
static void test_missing_switch_in(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *t;

	(void)state;
	switch_in(an, 0, A, 0);
	sys_enter(an, 1 * MS, A, NR_FUTEX, L1, 393, 0);
	switch_out(an, 1 * MS, A, TASK_INTERRUPTIBLE, false);
	wakeup(an, 3 * MS, A);
	/* no switch-in: it is running from 4 ms on */
	sys_exit(an, 4 * MS, A, NR_FUTEX, 0);
	switch_out(an, 9 * MS, A, 0, true);
	an_finish(an, T0 + 10 * MS);

	t = an_find_thread(an, A);
	assert_int_equal(t->on_cpu_ns, 1 * MS + 5 * MS);
	assert_int_equal(t->runnable_ns, 1 * MS + 1 * MS);
	assert_int_equal(t->blocked_ns[GS_R_LOCK], 2 * MS);
	assert_int_equal(t->migrations, 0);
	an_free(an);
}

/*
 * Live views account up to a moment without ending anything: counters
 * read between two an_flush_to() calls are that interval's; a thread not
 * scheduled yet is in the state /proc gave at attach.
 */
static void test_flush_to_intervals(void **state)
{
	struct an_process *p;
	struct analysis *an = setup_process(&p);
	struct an_thread *a, *b;

	(void)state;
	a = an_add_thread(an, p, A, 'R', -1, 0, 0);
	b = an_add_thread(an, p, B, 'S', NR_CLOCK_NANOSLEEP, 1, 1);
	/* a sleep to a deadline (TIMER_ABSTIME) from the call's entry */
	sys_enter(an, 3 * MS, A, NR_CLOCK_NANOSLEEP, 1, 1, 0);
	switch_out(an, 4 * MS, A, TASK_INTERRUPTIBLE, false);
	an_flush_to(an, T0 + 5 * MS);
	assert_int_equal(a->on_cpu_ns, 3 * MS);
	assert_int_equal(a->blocked_ns[GS_R_SLEEP], 2 * MS);
	assert_int_equal(b->blocked_ns[GS_R_SLEEP], 5 * MS);
	assert_false(a->exited || b->exited);

	wakeup(an, 7 * MS, A);
	switch_in(an, 8 * MS, A, 1);
	an_flush_to(an, T0 + 10 * MS);
	assert_int_equal(a->blocked_ns[GS_R_SLEEP], 4 * MS);
	assert_int_equal(a->runnable_ns, 1 * MS);
	assert_int_equal(a->on_cpu_ns, 5 * MS);
	assert_int_equal(b->blocked_ns[GS_R_SLEEP], 10 * MS);

	an_finish(an, T0 + 12 * MS);
	assert_int_equal(a->on_cpu_ns, 7 * MS);
	assert_int_equal(b->blocked_ns[GS_R_SLEEP], 12 * MS);
	assert_int_equal(accounted(a), an_thread_lifetime(a));
	assert_int_equal(accounted(b), an_thread_lifetime(b));
	an_free(an);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sleep_runnable_oncpu),
		cmocka_unit_test(test_forced_handoff),
		cmocka_unit_test(test_voluntary_handoff),
		cmocka_unit_test(test_wait_from_futex_without_take_probe),
		cmocka_unit_test(test_handoff_probes_only),
		cmocka_unit_test(test_light_holds_from_futex_traffic),
		cmocka_unit_test(test_light_timeout_from_the_waker),
		cmocka_unit_test(test_blocking_reasons),
		cmocka_unit_test(test_preempt_and_uninterruptible),
		cmocka_unit_test(test_unknown_start_resolved),
		cmocka_unit_test(test_attach_holder),
		cmocka_unit_test(test_attach_free_gil_last_holder),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_diagnosis_gil_contention),
		cmocka_unit_test(test_slices_cover_life),
		cmocka_unit_test(test_daemon_killed_at_exit),
		cmocka_unit_test(test_gil_interleavings),
		cmocka_unit_test(test_missing_switch_in),
		cmocka_unit_test(test_flush_to_intervals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
