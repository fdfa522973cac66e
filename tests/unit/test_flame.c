// SPDX-License-Identifier: GPL-2.0
/*
 * Stacks and flame graphs without a kernel: the stack table's encoding,
 * CPython's 3.11 location table, reading objects from fake process memory,
 * and the flame model on a hand-made event stream whose every number is
 * worked out below; the writers on that model and on 10 000 stacks.
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
#include "record/pyobj.h"
#include "record/pyver.h"
#include "stackrec.h"
#include "session/stacktab.h"

/* ------------------------------------------------------------ stack table */

static int collect(void *ctx, const void *buf, size_t len, uint32_t records)
{
	struct stacktab *into = ctx;

	assert_true(records > 0);
	return stacktab_decode(into, buf, len);
}

static int count_payloads(void *ctx, const void *buf, size_t len,
			  uint32_t records)
{
	(void)buf;
	(void)len;
	(void)records;
	++*(int *)ctx;
	return 0;
}

static void test_stacktab_round_trip(void **state)
{
	struct stacktab t, back;
	uint32_t fids[3];
	const struct st_stack *s;
	int payloads = 0;

	(void)state;
	stacktab_init(&t);
	stacktab_init(&back);
	fids[0] = stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py", 10);
	fids[1] = stacktab_frame(&t, ST_PYTHON, "Worker.run", "/x/app.py", 22);
	fids[2] = stacktab_frame(&t, ST_NATIVE, "read", "libc.so.6", 0);
	/* interned: the same frame twice is one id */
	assert_int_equal(stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py", 10),
			 fids[0]);
	assert_int_not_equal(stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py",
					    11),
			     fids[0]);
	assert_int_equal(stacktab_add_stack(&t, GS_SREC_PYTHON, 0xabc, 7,
					    GS_STACKF_TRUNCATED, fids, 2),
			 0);
	assert_int_equal(stacktab_add_stack(&t, GS_SREC_NATIVE, 0xabc, 7, 0,
					    fids + 2, 1),
			 0);
	for (int i = 0; i < 2000; i++) {
		uint32_t one = stacktab_frame(&t, ST_PYTHON, "f", "g.py", i);

		assert_int_equal(stacktab_add_stack(&t, GS_SREC_PYTHON,
						    1000 + i, 7, 0, &one, 1),
				 0);
	}
	assert_int_equal(stacktab_set_thread(&t, 7, 8, "worker-1"), 0);
	assert_int_equal(stacktab_set_thread(&t, 7, 8, "worker-2"), 0);
	kv_set(&t.meta, "sample_hz", "99");

	/* small payloads: a table in many chunks reads back whole */
	assert_int_equal(stacktab_encode(&t, 4096, count_payloads, &payloads),
			 0);
	assert_true(payloads > 5);
	assert_int_equal(stacktab_encode(&t, 4096, collect, &back), 0);
	assert_int_equal(back.dropped, 0);
	assert_int_equal(back.n_stacks, t.n_stacks);
	s = stacktab_find(&back, GS_SREC_PYTHON, 0xabc);
	assert_non_null(s);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->flags, GS_STACKF_TRUNCATED);
	assert_string_equal(back.frames[s->fids[1]].name, "Worker.run");
	assert_int_equal(back.frames[s->fids[1]].line, 22);
	s = stacktab_find(&back, GS_SREC_NATIVE, 0xabc);
	assert_non_null(s);
	assert_string_equal(back.frames[s->fids[0]].file, "libc.so.6");
	assert_null(stacktab_find(&back, GS_SREC_PYTHON, 0xdead0000));
	assert_string_equal(stacktab_thread_name(&back, 7, 8), "worker-2");
	assert_string_equal(kv_get(&back.meta, "sample_hz"), "99");
	stacktab_free(&t);
	stacktab_free(&back);
}

/* The table a recorder writes as it goes, in three flushes: an old frame
 * and a new one, a tid named again, an id sent again. */
static void flush_in_three(struct stacktab *t,
			   int (*cb)(void *, const void *, size_t, uint32_t),
			   void *ctx)
{
	uint32_t fids[2];

	fids[0] = stacktab_frame(t, ST_PYTHON, "main", "app.py", 1);
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 1, 7, 0, fids, 1), 0);
	assert_int_equal(stacktab_set_thread(t, 7, 8, "first"), 0);
	assert_int_equal(stacktab_pending(t), 2);
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
	/* only the frames stay */
	assert_int_equal(stacktab_pending(t), 0);
	assert_int_equal(t->n_frames, 1);
	assert_int_equal(stacktab_frame(t, ST_PYTHON, "main", "app.py", 1),
			 fids[0]);
	fids[1] = stacktab_frame(t, ST_PYTHON, "work", "app.py", 5);
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 2, 7, 0, fids, 2), 0);
	/* sent again after its flush */
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 1, 7, 0, fids, 1), 0);
	assert_int_equal(stacktab_set_thread(t, 7, 8, "second"), 0);
	kv_set(&t->meta, "sample_hz", "99");
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
	assert_int_equal(t->meta.n, 0);
	/* nothing pending: nothing written */
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
}

/* Read in order, the payloads of successive flushes give the whole table. */
static void test_stacktab_flush(void **state)
{
	struct stacktab t, back;
	const struct st_stack *s;
	int payloads = 0;

	(void)state;
	stacktab_init(&t);
	flush_in_three(&t, count_payloads, &payloads);
	assert_int_equal(payloads, 2);
	stacktab_free(&t);

	stacktab_init(&t);
	stacktab_init(&back);
	flush_in_three(&t, collect, &back);
	assert_int_equal(back.dropped, 0);
	assert_int_equal(back.n_stacks, 2);
	s = stacktab_find(&back, GS_SREC_PYTHON, 2);
	assert_non_null(s);
	assert_int_equal(s->n, 2);
	assert_string_equal(back.frames[s->fids[0]].name, "main");
	assert_string_equal(back.frames[s->fids[1]].name, "work");
	assert_string_equal(stacktab_thread_name(&back, 7, 8), "second");
	assert_string_equal(kv_get(&back.meta, "sample_hz"), "99");
	stacktab_free(&t);
	stacktab_free(&back);
}

struct kept {
	unsigned char **buf;
	size_t *len;
};

static int keep(void *ctx, const void *data, size_t n, uint32_t records)
{
	struct kept *k = ctx;

	(void)records;
	*k->buf = malloc(n);
	memcpy(*k->buf, data, n);
	*k->len = n;
	return 0;
}

/* Whatever the bytes, decoding never reads past them nor crashes. */
static void test_stacktab_damage(void **state)
{
	struct stacktab t, back;
	unsigned char *buf = NULL;
	size_t len = 0;
	uint32_t fid;

	(void)state;
	stacktab_init(&t);
	fid = stacktab_frame(&t, ST_PYTHON, "main", "app.py", 1);
	stacktab_add_stack(&t, GS_SREC_PYTHON, 5, 1, 0, &fid, 1);
	stacktab_set_thread(&t, 1, 2, "w");
	{
		struct kept out = { &buf, &len };

		assert_int_equal(stacktab_encode(&t, 1 << 20, keep, &out), 0);
	}
	for (size_t cut = 0; cut < len; cut++) {
		stacktab_init(&back);
		stacktab_decode(&back, buf, cut);
		stacktab_free(&back);
	}
	srand(1);
	for (int round = 0; round < 2000; round++) {
		unsigned char *copy = malloc(len);

		memcpy(copy, buf, len);
		copy[8 + rand() % (len - 8)] ^= 1 << (rand() % 8);
		stacktab_init(&back);
		stacktab_decode(&back, copy, len);
		stacktab_free(&back);
		free(copy);
	}
	stacktab_init(&back);
	assert_int_equal(stacktab_decode(&back, "nope", 4), -22);
	stacktab_free(&back);
	free(buf);
	stacktab_free(&t);
}

/* ------------------------------------------------------------ location table */

/*
 * co_linetable of this function under Debian's Python 3.11.2, and the line
 * of each code unit from its co_positions():
 *
 *   def f(a, b):
 *       x = a + b
 *       if x > 3:
 *           for i in range(x):
 *               x += i * \
 *                   2
 *       try:
 *           y = 1 / a
 *       except ZeroDivisionError:
 *           y = 0
 *       return (x,
 *               y)
 */
static const unsigned char linetable[] = {
	0x80, 0x00, 0xd8, 0x08, 0x09, 0x88, 0x41, 0x89, 0x05, 0x80, 0x41, 0xd8,
	0x07, 0x08, 0x88, 0x31, 0x82, 0x75, 0x80, 0x75, 0xdd, 0x11, 0x16, 0x90,
	0x71, 0x91, 0x18, 0x94, 0x18, 0xf0, 0x00, 0x02, 0x09, 0x12, 0xf0, 0x00,
	0x02, 0x09, 0x12, 0x88, 0x41, 0xd8, 0x0c, 0x0d, 0x90, 0x11, 0xd8, 0x10,
	0x11, 0xf1, 0x03, 0x01, 0x12, 0x12, 0xf1, 0x00, 0x01, 0x0d, 0x12, 0x88,
	0x41, 0x88, 0x41, 0xf0, 0x04, 0x03, 0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x90,
	0x01, 0x89, 0x45, 0x88, 0x01, 0x88, 0x01, 0xf8, 0xdd, 0x0b, 0x1c, 0xf0,
	0x00, 0x01, 0x05, 0x0e, 0xf0, 0x00, 0x01, 0x05, 0x0e, 0xf0, 0x00, 0x01,
	0x05, 0x0e, 0xd8, 0x0c, 0x0d, 0x88, 0x01, 0x88, 0x01, 0x88, 0x01, 0xf0,
	0x03, 0x01, 0x05, 0x0e, 0xf8, 0xf8, 0xf8, 0xe0, 0x0c, 0x0d, 0xd8, 0x0c,
	0x0d, 0xf0, 0x03, 0x01, 0x0c, 0x0f, 0xf0, 0x00, 0x01, 0x05, 0x0f,
};

static const int lines[] = {
	1, 2, 2, 2, 2,	2,  3,	3,  3, 3,  3,  3,  4,  4,  4,  4,  4,
	4, 4, 4, 4, 4,	4,  4,	4,  4, 4,  4,  4,  5,  5,  6,  5,  5,
	5, 5, 5, 5, 7,	8,  8,	8,  8, 8,  8,  -1, 9,  9,  9,  9,  9,
	9, 9, 9, 9, 10, 10, 10, 10, 9, -1, -1, -1, 11, 12, 11, 11,
};

static void test_linetable(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(pyobj_linetable_line(linetable,
						      sizeof(linetable), 1, i),
				 lines[i]);
	/* before the first instruction, past the end, no table: firstlineno */
	assert_int_equal(
		pyobj_linetable_line(linetable, sizeof(linetable), 1, -1), 1);
	assert_int_equal(
		pyobj_linetable_line(linetable, sizeof(linetable), 1, 5000), 1);
	assert_int_equal(pyobj_linetable_line(NULL, 0, 42, 3), 42);
	/* a table cut anywhere is read without running off its end */
	for (size_t cut = 0; cut < sizeof(linetable); cut++)
		for (long off = 0; off < 70; off++)
			pyobj_linetable_line(linetable, cut, 1, off);
}

/* ------------------------------------------------------------ fake memory */

#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x40000

struct fake {
	unsigned char m[MEM_SIZE];
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = ctx;

	if (addr < MEM_BASE || addr + len > MEM_BASE + MEM_SIZE)
		return -14;
	memcpy(buf, f->m + (addr - MEM_BASE), len);
	return 0;
}

static void put(struct fake *f, uint64_t addr, const void *p, size_t n)
{
	memcpy(f->m + (addr - MEM_BASE), p, n);
}

static void put64(struct fake *f, uint64_t addr, uint64_t v)
{
	put(f, addr, &v, 8);
}

static void put32(struct fake *f, uint64_t addr, uint32_t v)
{
	put(f, addr, &v, 4);
}

/* A compact ASCII str object with TEXT at ADDR. */
static void put_ascii(struct fake *f, uint64_t addr, const char *text)
{
	put64(f, addr + 0x10, strlen(text));
	put32(f, addr + 0x20, 1 << 5 | 1 << 6 | 1 << 2);
	put(f, addr + 0x30, text, strlen(text) + 1);
}

static const struct py_stack_facts *facts311(void)
{
	return &pyver_facts(3, 11)->stk;
}

#define CODE_TYPE (MEM_BASE + 0x1000)
#define CODE (MEM_BASE + 0x2000)

static void put_code(struct fake *f)
{
	static const char code_name[] = "code";
	uint16_t ucs2[] = { 'm', 0xe9, 't', 'h', 0x2603 }; /* "mét h☃" */

	put64(f, CODE_TYPE + 0x18, MEM_BASE + 0x1100);
	put(f, MEM_BASE + 0x1100, code_name, sizeof(code_name));
	put64(f, CODE + 8, CODE_TYPE);
	put32(f, CODE + 0x48, 1);
	put64(f, CODE + 0x70, MEM_BASE + 0x3000);
	put_ascii(f, MEM_BASE + 0x3000, "/srv/app/tasks.py");
	put64(f, CODE + 0x78, MEM_BASE + 0x3100);
	put_ascii(f, MEM_BASE + 0x3100, "f");
	put64(f, CODE + 0x80, MEM_BASE + 0x3200);
	/* a non-ASCII qualified name: UCS-2, compact, not ascii */
	put64(f, MEM_BASE + 0x3200 + 0x10, 5);
	put32(f, MEM_BASE + 0x3200 + 0x20, 1 << 5 | 2 << 2);
	put(f, MEM_BASE + 0x3200 + 0x48, ucs2, sizeof(ucs2));
	put64(f, CODE + 0x88, MEM_BASE + 0x3400);
	put64(f, MEM_BASE + 0x3400 + 0x10, sizeof(linetable));
	put(f, MEM_BASE + 0x3400 + 0x20, linetable, sizeof(linetable));
}

static void test_code_object(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct pyobj_mem m = { .read = fake_read, .ctx = f, .f = facts311() };
	struct pyobj_code c;

	(void)state;
	put_code(f);
	assert_int_equal(pyobj_code(&m, CODE, &c), 0);
	assert_string_equal(c.name, "f");
	assert_string_equal(c.qualname, "m\xc3\xa9th\xe2\x98\x83");
	assert_string_equal(c.file, "/srv/app/tasks.py");
	assert_int_equal(c.firstlineno, 1);
	assert_int_equal(c.linetable_len, sizeof(linetable));
	/* prev_instr of the code unit 40 (line 8); before the first unit */
	assert_int_equal(pyobj_code_line(&c, m.f, PY_LINETABLE_311, CODE,
					 CODE + 0xb8 + 2 * 40),
			 8);
	assert_int_equal(pyobj_code_line(&c, m.f, PY_LINETABLE_311, CODE,
					 CODE + 0xb8 - 2),
			 1);
	pyobj_code_free(&c);
	/* not a code object: its type has another name */
	put64(f, CODE + 8, MEM_BASE + 0x5000);
	m.code_type = 0;
	assert_int_not_equal(pyobj_code(&m, CODE, &c), 0);
	pyobj_code_free(&c);
	/* a pointer out of the process */
	assert_int_not_equal(pyobj_code(&m, 0x10, &c), 0);
	free(f);
}

/*
 * threading.Thread's `_name` in 3.11: the instance has a managed dict whose
 * values hang before the object, keyed by the type's cached keys.
 */
static void test_thread_name_attribute(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct pyobj_mem m = { .read = fake_read, .ctx = f, .f = facts311() };
	uint64_t obj = MEM_BASE + 0x10040, type = MEM_BASE + 0x11000;
	uint64_t keys = MEM_BASE + 0x12000, values = MEM_BASE + 0x13000;
	uint64_t entries = keys + 0x20 + 8; /* 8 bytes of indices */
	const char *names[] = { "_target", "_name", "_args" };
	char out[64];

	(void)state;
	put64(f, obj + 8, type);
	put64(f, type + 0xa8, 1 << 4); /* Py_TPFLAGS_MANAGED_DICT */
	put64(f, type + 0x368, keys);
	put64(f, obj - 32, values);
	put64(f, obj - 24, 0);
	f->m[keys + 9 - MEM_BASE] = 3;	/* log2 of the index bytes */
	f->m[keys + 10 - MEM_BASE] = 1; /* unicode keys: (key, value) entries */
	put64(f, keys + 0x18, 3);
	for (int i = 0; i < 3; i++) {
		put_ascii(f, MEM_BASE + 0x14000 + 0x100 * i, names[i]);
		put64(f, entries + 16 * i, MEM_BASE + 0x14000 + 0x100 * i);
	}
	put_ascii(f, MEM_BASE + 0x15000, "downloader-3");
	put64(f, values + 8, MEM_BASE + 0x15000);
	assert_int_equal(pyobj_attr_str(&m, obj, "_name", out, sizeof(out)), 0);
	assert_string_equal(out, "downloader-3");
	assert_int_not_equal(
		pyobj_attr_str(&m, obj, "_daemonic", out, sizeof(out)), 0);

	/* once the dict exists, the value is in it: a split dict */
	put64(f, obj - 24, MEM_BASE + 0x16000);
	put64(f, MEM_BASE + 0x16000 + 0x20, keys);
	put64(f, MEM_BASE + 0x16000 + 0x28, values);
	put_ascii(f, MEM_BASE + 0x15000, "renamed");
	assert_int_equal(pyobj_attr_str(&m, obj, "_name", out, sizeof(out)), 0);
	assert_string_equal(out, "renamed");
	free(f);
}

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
		cmocka_unit_test(test_stacktab_round_trip),
		cmocka_unit_test(test_stacktab_damage),
		cmocka_unit_test(test_stacktab_flush),
		cmocka_unit_test(test_linetable),
		cmocka_unit_test(test_code_object),
		cmocka_unit_test(test_thread_name_attribute),
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
