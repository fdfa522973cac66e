// SPDX-License-Identifier: GPL-2.0
/*
 * Reading a Python process's objects without a process: CPython 3.11's
 * location table, and code objects and thread names from fake process
 * memory (user/record/pyobj.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "record/pyobj.h"
#include "record/pyver.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linetable),
		cmocka_unit_test(test_code_object),
		cmocka_unit_test(test_thread_name_attribute),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
