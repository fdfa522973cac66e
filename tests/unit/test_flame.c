// SPDX-License-Identifier: GPL-2.0
/*
 * Flame graphs without a kernel: the flame model on a hand-made event
 * stream whose every number is worked out below; the writers on that model
 * and on 10 000 stacks. (The stack table: test_stacktab.c; reading
 * objects from process memory: test_pyobj.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "analysis/analysis.h"
#include "views/flame_model.h"
#include "views/flame_out.h"
#include "stackrec.h"
#include "session/stacktab.h"

/* ------------------------------------------------------------ the model */

#define US 1000ull
#define T0 1000000000ull
#define PID 100
#define A 101
#define B 102
#define GIL 0x10000ull
#define COND (GIL + 0x20)
#define SWITCH_COND (GIL + 0x78)
#define PY_A1 0x1a1
#define PY_A2 0x1a2
#define PY_B 0x1b
#define NAT_SLEEP 0x2a

static struct gs_event ev(uint64_t at, uint8_t type, uint32_t tid)
{
	return (struct gs_event){
		.ts = T0 + at, .type = type, .tid = tid, .tgid = PID
	};
}

static void feed(struct analysis *an, struct gs_event e)
{
	an_event(an, &e);
}

static void switch_io(struct analysis *an, uint64_t at, uint32_t out,
		      uint32_t state, uint32_t in)
{
	struct gs_event e = ev(at, GS_EV_SWITCH, out);

	e.a32 = state;
	e.flags = (out ? GS_F_PREV_TRACED : 0) | (in ? GS_F_NEXT_TRACED : 0);
	e.arg[0] = in ? (uint64_t)in | (uint64_t)PID << 32 : 0;
	if (!out)
		e.tgid = 0;
	feed(an, e);
}

static void stack(struct analysis *an, uint64_t at, uint32_t tid, uint32_t why,
		  uint64_t py, uint64_t native)
{
	struct gs_event e = ev(at, GS_EV_STACK, tid);

	e.a32 = why;
	e.arg[0] = py;
	e.arg[1] = native;
	feed(an, e);
}

static void sys_call(struct analysis *an, uint64_t at, uint32_t tid,
		     uint8_t type, int nr, uint64_t a0)
{
	struct gs_event e = ev(at, type, tid);

	e.a32 = nr;
	e.arg[0] = a0;
	e.arg[1] = 137;
	e.arg[2] = (uint32_t)-1;
	feed(an, e);
}

static void signal_cond(struct analysis *an, uint64_t at, uint32_t tid,
			uint64_t cond)
{
	struct gs_event e = ev(at, GS_EV_COND_SIGNAL, tid);

	e.arg[0] = cond;
	feed(an, e);
}

/*
 * A holds the GIL and runs from 0; a sample at 500 us sees PY_A1. B asks
 * for the GIL at 100 us (stack PY_B), sleeps on the cond from 200 us (the
 * switch-out reuses PY_B) until A lets go at 5000 us; B takes it at 5040.
 * A calls clock_nanosleep, leaves the CPU at 5100 with PY_A2 (native
 * NAT_SLEEP), and runs again from 9000 to the end at 10000.
 *
 *   A on-CPU: [0,500) -> PY_A1; [500,5099) -> the switch-out's PY_A2;
 *             [5099,5100) and [9000,10000) -> the last stack, PY_A2
 *   A off-CPU (sleep): [5100,9000) -> PY_A2 + NAT_SLEEP
 *   B GIL wait: [100,5040) -> PY_B
 */
static void feed_stream(struct analysis *an)
{
	switch_io(an, 0, 0, 0, A);
	signal_cond(an, 10 * US, A, SWITCH_COND);
	switch_io(an, 0, 0, 0, B);
	stack(an, 99 * US, B, GS_STK_GIL_WAIT, PY_B, 0);
	feed(an, ev(100 * US, GS_EV_GIL_TAKE, B));
	sys_call(an, 150 * US, B, GS_EV_SYS_ENTER, 202, COND + 0x28);
	stack(an, 199 * US, B, GS_STK_OFFCPU, PY_B, 0);
	switch_io(an, 200 * US, B, 1, 0);
	stack(an, 500 * US, A, GS_STK_SAMPLE, PY_A1, 0);
	signal_cond(an, 5000 * US, A, COND);
	feed(an, ev(5010 * US, GS_EV_WAKEUP, B));
	switch_io(an, 5020 * US, 0, 0, B);
	sys_call(an, 5030 * US, B, GS_EV_SYS_EXIT, 202, 0);
	signal_cond(an, 5040 * US, B, SWITCH_COND);
	sys_call(an, 5050 * US, A, GS_EV_SYS_ENTER, 230, 1);
	stack(an, 5099 * US, A, GS_STK_OFFCPU, PY_A2, NAT_SLEEP);
	switch_io(an, 5100 * US, A, 1, 0);
	feed(an, ev(9000 * US, GS_EV_WAKEUP, A));
	switch_io(an, 9000 * US, 0, 0, A);
	sys_call(an, 9001 * US, A, GS_EV_SYS_EXIT, 230, 0);
}

static void fill_table(struct stacktab *t)
{
	uint32_t f[3];

	stacktab_init(t);
	f[0] = stacktab_frame(t, ST_PYTHON, "<module>", "/srv/app.py", 30);
	f[1] = stacktab_frame(t, ST_PYTHON, "compute", "/srv/app.py", 12);
	stacktab_add_stack(t, GS_SREC_PYTHON, PY_A1, PID, 0, f, 2);
	f[1] = stacktab_frame(t, ST_PYTHON, "rest", "/srv/app.py", 20);
	stacktab_add_stack(t, GS_SREC_PYTHON, PY_A2, PID, 0, f, 2);
	f[0] = stacktab_frame(t, ST_PYTHON, "Thread._bootstrap",
			      "/usr/lib/python3.11/threading.py", 995);
	f[1] = stacktab_frame(t, ST_PYTHON, "Thread.run",
			      "/usr/lib/python3.11/threading.py", 975);
	f[2] = stacktab_frame(t, ST_PYTHON, "waiter", "/srv/app.py", 5);
	stacktab_add_stack(t, GS_SREC_PYTHON, PY_B, PID, 0, f, 3);
	f[0] = stacktab_frame(t, ST_NATIVE, "clock_nanosleep", "libc.so.6", 0);
	stacktab_add_stack(t, GS_SREC_NATIVE, NAT_SLEEP, PID, 0, f, 1);
	stacktab_set_thread(t, PID, A, "MainThread");
}

/* Run the stream FEED_FN makes through the model for WHAT; the profile in
 * OUT. */
static struct analysis *model_run_on(void (*feed_fn)(struct analysis *),
				     enum fl_what what, uint32_t tid,
				     struct fl_profile *out,
				     struct stacktab *tab)
{
	struct analysis *an = an_new(T0);
	struct an_process *p = an_add_process(an, PID, 1, T0);
	struct fl_model m;

	an_gil_from_base(&p->gil, GIL, 0x20, 0x50, 0x78, 0xa8, 0xd0);
	fl_model_init(&m, what, 0, tid);
	an_set_sink(an, fl_model_sink(&m));
	feed_fn(an);
	an_finish(an, T0 + 10000 * US);
	fill_table(tab);
	assert_int_equal(fl_model_finish(&m, tab, out), 0);
	fl_model_free(&m);
	return an;
}

static struct analysis *model_run(enum fl_what what, uint32_t tid,
				  struct fl_profile *out, struct stacktab *tab)
{
	return model_run_on(feed_stream, what, tid, out, tab);
}

/* The time of rows whose frame texts, joined by ';', contain NEEDLE. */
static uint64_t row_ns(const struct fl_profile *p, const char *needle)
{
	uint64_t sum = 0;
	char line[4096], text[512];

	for (size_t i = 0; i < p->n_rows; i++) {
		line[0] = '\0';
		for (uint32_t k = 0; k < p->rows[i].n; k++) {
			stacktab_frame_text(
				&p->names.frames[p->rows[i].fids[k]], text,
				sizeof(text));
			strcat(line, k ? ";" : "");
			strncat(line, text, sizeof(line) - strlen(line) - 1);
		}
		if (strstr(line, needle))
			sum += p->rows[i].ns;
	}
	return sum;
}

static uint64_t thread_ns(const struct fl_profile *p, uint32_t tid)
{
	for (size_t i = 0; i < p->n_threads; i++)
		if (p->threads[i].tid == tid)
			return p->threads[i].ns;
	return 0;
}

static void test_model_gil_wait(void **state)
{
	struct fl_profile p;
	struct stacktab tab;
	struct analysis *an = model_run(FL_GILWAIT, 0, &p, &tab);

	(void)state;
	assert_int_equal(an_find_thread(an, B)->gil_wait_ns, 4940 * US);
	assert_int_equal(thread_ns(&p, B), 4940 * US);
	/* named by the function it was started with */
	assert_int_equal(
		row_ns(&p,
		       "waiter (tid 102);Thread._bootstrap (threading.py:995);"
		       "Thread.run (threading.py:975);waiter (app.py:5)"),
		4940 * US);
	assert_int_equal(thread_ns(&p, A), 0);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);
}

static void test_model_oncpu(void **state)
{
	struct fl_profile p;
	struct stacktab tab;
	struct analysis *an = model_run(FL_ONCPU, A, &p, &tab);

	(void)state;
	/* its release at 5000 leads into a sleep to a deadline at 5050:
	 * from the release to the switch-out at 5100 it sleeps already */
	assert_int_equal(an_find_thread(an, A)->on_cpu_ns, 6000 * US);
	assert_int_equal(p.total_ns, 6000 * US);
	assert_int_equal(p.n_threads, 1);
	assert_int_equal(
		row_ns(&p,
		       "MainThread (tid 101);<module> (app.py:30);compute (app.py:12)"),
		500 * US);
	/* on the CPU without the GIL after the sleep, from 9000 */
	assert_int_equal(row_ns(&p, "rest (app.py:20);[GIL released]"),
			 1000 * US);
	assert_int_equal(row_ns(&p, "rest (app.py:20)"), 5500 * US);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);
}

static void test_model_offcpu_and_wall(void **state)
{
	struct fl_profile p;
	struct stacktab tab;
	struct analysis *an = model_run(FL_OFFCPU, 0, &p, &tab);
	const struct an_thread *a = an_find_thread(an, A), *b;

	(void)state;
	/* the sleep from the GIL's release at 5000 (see test_model_oncpu) */
	assert_int_equal(an_blocked_total(a), 4000 * US);
	/* the call's part under the stack it slept with; the 50 us between
	 * the release and the call under the stack it had then */
	assert_int_equal(
		row_ns(&p,
		       "MainThread (tid 101);<module> (app.py:30);rest (app.py:20);"
		       "clock_nanosleep (libc.so.6);[sleep: clock_nanosleep]"),
		3950 * US);
	assert_int_equal(row_ns(&p, "compute (app.py:12);[sleep]"), 50 * US);
	b = an_find_thread(an, B);
	assert_int_equal(thread_ns(&p, B), an_blocked_total(b));
	assert_int_equal(row_ns(&p, "waiter (app.py:5);[gil: futex]"),
			 an_blocked_total(b));
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);

	an = model_run(FL_WALL, 0, &p, &tab);
	for (size_t i = 0; i < p.n_threads; i++) {
		const struct an_thread *t =
			an_find_thread(an, p.threads[i].tid);

		assert_int_equal(p.threads[i].ns, an_thread_lifetime(t));
	}
	assert_int_equal(row_ns(&p, "waiter (tid 102);[GIL wait]"), 4940 * US);
	assert_int_equal(row_ns(&p, "MainThread (tid 101);[sleep]"), 4000 * US);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);
}

/*
 * take_gil's entry sends a stack only when it changed: B waits at 100 us
 * (PY_B sent), runs from 5040 on a sample of another stack (PY_A1 at 6000)
 * and waits again from 7000 to 8000 where it waited before (nothing sent):
 * both waits are PY_B's.
 */
static void test_model_gil_wait_not_resent(void **state)
{
	struct analysis *an = an_new(T0);
	struct an_process *p = an_add_process(an, PID, 1, T0);
	struct fl_profile prof;
	struct stacktab tab;
	struct fl_model m;

	(void)state;
	an_gil_from_base(&p->gil, GIL, 0x20, 0x50, 0x78, 0xa8, 0xd0);
	fl_model_init(&m, FL_GILWAIT, 0, B);
	an_set_sink(an, fl_model_sink(&m));
	feed_stream(an);
	stack(an, 6000 * US, B, GS_STK_SAMPLE, PY_A1, 0);
	signal_cond(an, 6500 * US, B, COND);
	feed(an, ev(7000 * US, GS_EV_GIL_TAKE, B));
	signal_cond(an, 8000 * US, B, SWITCH_COND);
	an_finish(an, T0 + 10000 * US);
	fill_table(&tab);
	assert_int_equal(fl_model_finish(&m, &tab, &prof), 0);
	assert_int_equal(an_find_thread(an, B)->gil_wait_ns, 5940 * US);
	assert_int_equal(row_ns(&prof, "waiter (app.py:5)"), 5940 * US);
	fl_model_free(&m);
	fl_profile_free(&prof);
	stacktab_free(&tab);
	an_free(an);
}

/*
 * Hand-off probes (no take_gil probe, no GIL_WAIT stack): B asks for the
 * GIL at 100 us with a futex on the cond and leaves the CPU at 200 (stack
 * PY_B); woken at 1000, it finds the GIL taken, spins until 1100 and
 * sleeps again where it slept before: that switch-out sends no stack, it
 * is flagged GS_F_STACK_SAME. B takes the GIL at 2010 and runs other code
 * (a sample at 3000 sees PY_A1) to the end.
 *
 *   B on-CPU: [0,200) and the spin [1000,1100) -> PY_B (the flagged
 *             switch-out stands for a PY_B stack at 1100); [2000,10000)
 *             -> PY_A1
 *   B GIL wait: [100,2010) -> PY_B; blocked in it [200,1000) + [1100,2000)
 */
static void feed_gil_sleeps(struct analysis *an)
{
	struct gs_event e;

	switch_io(an, 0, 0, 0, A);
	signal_cond(an, 10 * US, A, SWITCH_COND);
	switch_io(an, 0, 0, 0, B);
	sys_call(an, 100 * US, B, GS_EV_SYS_ENTER, 202, COND + 0x28);
	stack(an, 199 * US, B, GS_STK_OFFCPU, PY_B, 0);
	switch_io(an, 200 * US, B, 1, 0);
	feed(an, ev(1000 * US, GS_EV_WAKEUP, B));
	switch_io(an, 1000 * US, 0, 0, B);
	sys_call(an, 1000 * US, B, GS_EV_SYS_EXIT, 202, 0);
	sys_call(an, 1100 * US, B, GS_EV_SYS_ENTER, 202, COND + 0x28);
	e = ev(1100 * US, GS_EV_SWITCH, B);
	e.a32 = 1;
	e.flags = GS_F_PREV_TRACED | GS_F_STACK_SAME;
	feed(an, e);
	feed(an, ev(2000 * US, GS_EV_WAKEUP, B));
	switch_io(an, 2000 * US, 0, 0, B);
	sys_call(an, 2000 * US, B, GS_EV_SYS_EXIT, 202, 0);
	signal_cond(an, 2010 * US, B, SWITCH_COND);
	stack(an, 3000 * US, B, GS_STK_SAMPLE, PY_A1, 0);
}

static struct analysis *
gil_sleeps_run(enum fl_what what, struct fl_profile *out, struct stacktab *tab)
{
	return model_run_on(feed_gil_sleeps, what, B, out, tab);
}

static void test_model_stack_same(void **state)
{
	struct fl_profile p;
	struct stacktab tab;
	struct analysis *an = gil_sleeps_run(FL_ONCPU, &p, &tab);
	const struct an_thread *b = an_find_thread(an, B);

	(void)state;
	assert_int_equal(b->on_cpu_ns, 8300 * US);
	assert_int_equal(row_ns(&p, "waiter (app.py:5)"), 300 * US);
	assert_int_equal(row_ns(&p, "compute (app.py:12)"), 8000 * US);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);

	an = gil_sleeps_run(FL_GILWAIT, &p, &tab);
	assert_int_equal(an_find_thread(an, B)->gil_wait_ns, 1910 * US);
	assert_int_equal(row_ns(&p, "waiter (app.py:5)"), 1910 * US);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);

	an = gil_sleeps_run(FL_OFFCPU, &p, &tab);
	assert_int_equal(row_ns(&p, "waiter (app.py:5);[gil: futex]"),
			 1700 * US);
	assert_int_equal(p.total_ns, 1700 * US);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);
}

/* ------------------------------------------------------------ writers */

static char *write_to_string(int (*fn)(FILE *, const struct fl_profile *,
				       const struct fl_info *),
			     const struct fl_profile *p, size_t *len)
{
	struct fl_info info = { .title = "GIL wait: app <&>",
				.duration_ns = 10 };
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	assert_non_null(f);
	assert_int_equal(fn(f, p, &info), 0);
	fclose(f);
	return buf;
}

static int folded(FILE *out, const struct fl_profile *p,
		  const struct fl_info *info)
{
	(void)info;
	return flame_write_folded(out, p);
}

static void test_writers(void **state)
{
	struct fl_profile p;
	struct stacktab tab;
	struct analysis *an = model_run(FL_WALL, 0, &p, &tab);
	unsigned long long sum_a = 0, v;
	size_t len;
	char *s, *line;

	(void)state;
	s = write_to_string(folded, &p, &len);
	/* per thread the microseconds add up to its life, rounded */
	for (line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		assert_non_null(strrchr(line, ' '));
		v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
		if (!strncmp(line, "MainThread (tid 101);", 21))
			sum_a += v;
	}
	assert_int_equal(sum_a, (an_thread_lifetime(an_find_thread(an, A)) +
				 500) / 1000);
	free(s);
	s = write_to_string(flame_write_speedscope, &p, &len);
	assert_non_null(strstr(
		s,
		"\"$schema\":\"https://www.speedscope.app/file-format-schema.json\""));
	assert_non_null(strstr(s, "\"type\":\"sampled\""));
	free(s);
	s = write_to_string(flame_write_pprof, &p, &len);
	assert_true(len > 20);
	assert_int_equal((unsigned char)s[0], 0x1f); /* gzip */
	assert_int_equal((unsigned char)s[1], 0x8b);
	free(s);
	s = write_to_string(flame_write_svg, &p, &len);
	assert_non_null(strstr(s, "<svg"));
	assert_non_null(strstr(s, "GIL wait: app &lt;&amp;&gt;")); /* escaped */
	assert_non_null(strstr(s, "waiter (app.py:5)"));
	assert_non_null(strstr(s, "</script>\n</svg>"));
	free(s);
	fl_profile_free(&p);
	stacktab_free(&tab);
	an_free(an);
}

/* 10 000 distinct stacks: the SVG draws a bounded number of frames, fast. */
static void test_svg_many_stacks(void **state)
{
	struct fl_profile p = { .what = FL_ONCPU };
	struct timespec t0, t1;
	size_t len, groups = 0;
	char *s, *at;

	(void)state;
	stacktab_init(&p.names);
	p.threads = calloc(1, sizeof(*p.threads));
	p.n_threads = 1;
	snprintf(p.threads[0].label, sizeof(p.threads[0].label),
		 "main (tid 1)");
	p.rows = calloc(10000, sizeof(*p.rows));
	for (int i = 0; i < 10000; i++) {
		struct fl_row *r = &p.rows[p.n_rows++];
		char name[32];

		r->n = 22;
		r->fids = malloc(r->n * sizeof(*r->fids));
		r->fids[0] = stacktab_frame(&p.names, ST_SYNTH, "main (tid 1)",
					    "", 0);
		for (int d = 1; d < 21; d++) {
			snprintf(name, sizeof(name), "f%d_%d", d,
				 (i >> (d % 12)) % 7);
			r->fids[d] = stacktab_frame(&p.names, ST_PYTHON, name,
						    "app.py", d);
		}
		snprintf(name, sizeof(name), "leaf%d", i);
		r->fids[21] =
			stacktab_frame(&p.names, ST_PYTHON, name, "app.py", i);
		r->ns = 1000 + (i % 97) * 1000;
		p.threads[0].ns += r->ns;
		p.total_ns += r->ns;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	s = write_to_string(flame_write_svg, &p, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (at = strstr(s, "<g class=\"f\""); at;
	     at = strstr(at + 1, "<g class=\"f\""))
		groups++;
	assert_true(groups > 100);
	assert_true(groups <= 40000);
	assert_true(len < 16u << 20);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000000000ll +
			    (t1.tv_nsec - t0.tv_nsec) <
		    5000000000ll);
	free(s);
	fl_profile_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_gil_wait),
		cmocka_unit_test(test_model_oncpu),
		cmocka_unit_test(test_model_gil_wait_not_resent),
		cmocka_unit_test(test_model_offcpu_and_wall),
		cmocka_unit_test(test_model_stack_same),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_svg_many_stacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
