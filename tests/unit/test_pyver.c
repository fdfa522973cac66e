// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for user/record/debugoffs.c (CPython's _Py_DebugOffsets) and the
 * facts user/record/pyver.c derives from them. The tables are the bytes of
 * Debian's builds (.PyRuntime of python3.13 3.13.5 in trixie and python3.15
 * 3.15.2 in sid); the expected offsets are those of their DWARF.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "record/debugoffs.h"
#include "record/pyobj.h"
#include "record/pyver.h"

/* After the cookie, version and free_threaded words. */
static const uint64_t deb_313_5[] = {
	0x452f0, 0x260,	 0x278, 0x2f9a0, 0x1c68, 0x1c60, 0x1cb0, 0x1ce8, 0x1de8,
	0x1dd8,	 0x1de0, 0x10,	0x1e48,	 0x0,	 0x1e58, 0x1e50, 0x130,	 0x0,
	0x8,	 0x10,	 0x48,	0x98,	 0xa0,	 0xe8,	 0x20,	 0x50,	 0x8,
	0x0,	 0x38,	 0x48,	0x46,	 0xd0,	 0x70,	 0x78,	 0x80,	 0x88,
	0x44,	 0x34,	 0x60,	0x68,	 0xc8,	 0x10,	 0x8,	 0x1a0,	 0x18,
	0x58,	 0xa8,	 0x20,	0x18,	 0x10,	 0x28,	 0x18,	 0x10,	 0x30,
	0x20,	 0x28,	 0x18,	0x10,	 0x20,	 0x10,	 0x18,	 0x28,	 0x10,
	0x20,	 0x40,	 0x20,	0x10,	 0x28,	 0xf0,	 0xc8,
};

static const uint64_t deb_315_2[] = {
	0x549c8, 0x390,	 0x3a8,	 0x373c0, 0x1c68, 0x1c60, 0x1ca8, 0x1cb8,
	0x1ce8,	 0x1da8, 0x1d98, 0x1da0,  0x10,	  0x1e38, 0x0,	  0x1e48,
	0x1e40,	 0x1f08, 0x0,	 0x378,	  0x0,	  0x8,	  0x10,	  0x48,
	0x50,	 0x58,	 0x60,	 0xb0,	  0xb8,	  0x100,  0x20,	  0x24,
	0x28,	 0x88,	 0x120,	 0x0,	  0x58,	  0x8,	  0x0,	  0x38,
	0x50,	 0x4a,	 0x40,	 0x0,	  0xd8,	  0x70,	  0x78,	  0x80,
	0x88,	 0x44,	 0x34,	 0x60,	  0x68,	  0xd0,	  0x0,	  0x10,
	0x8,	 0x1a8,	 0x18,	 0x58,	  0xa8,	  0x20,	  0x120,  0x3b0,
	0x378,	 0x28,	 0x20,	 0x10,	  0x28,	  0x18,	  0x10,	  0xc8,
	0x18,	 0x28,	 0x20,	 0x30,	  0x20,	  0x28,	  0x18,	  0x10,
	0x20,	 0x10,	 0x18,	 0x28,	  0x10,	  0x20,	  0x40,	  0x20,
	0x10,	 0x28,	 0x38,	 0xb0,	  0x70,	  0x78,	  0x460,  0x68,
	0xa0,	 0x18,	 0x48,	 0x43,	  0x0,	  0x8,	  0x18,	  0x158,
	0x1f5c,	 0x0,	 0x4,	 0x200,
};

static unsigned char buf[PYDO_MAX_BYTES];

/* The table as the file holds it: cookie, VERSION, FT, then WORDS. */
static size_t table(uint64_t version, uint64_t ft, const uint64_t *words,
		    size_t n)
{
	memset(buf, 0, sizeof(buf));
	memcpy(buf, PYDO_COOKIE, 8);
	memcpy(buf + 8, &version, 8);
	memcpy(buf + 16, &ft, 8);
	memcpy(buf + 24, words, n * 8);
	return 24 + n * 8;
}

static void test_debian_313(void **state)
{
	size_t len = table(0x030d05f0, 0, deb_313_5, 70);
	struct py_debug_offsets d;
	char err[256];

	(void)state;
	assert_int_equal(pydo_layout_bytes(0x030d05f0), len);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.version, 0x030d05f0);
	assert_false(d.free_threaded);
	assert_int_equal(d.runtime_state.size, 0x452f0);
	assert_int_equal(d.runtime_state.interpreters_head, 0x278);
	assert_int_equal(d.interpreter_state.size, 0x2f9a0);
	assert_int_equal(d.interpreter_state.threads_head, 0x1cb0);
	assert_int_equal(d.interpreter_state.ceval_gil, 0x10);
	assert_int_equal(d.interpreter_state.gil_runtime_state, 0x1e48);
	assert_int_equal(d.interpreter_state.gil_runtime_state_locked, 0x1e58);
	assert_int_equal(d.interpreter_state.gil_runtime_state_holder, 0x1e50);
	assert_int_equal(d.thread_state.next, 0x8);
	assert_int_equal(d.thread_state.current_frame, 0x48);
	assert_int_equal(d.thread_state.native_thread_id, 0xa0);
	assert_int_equal(d.interpreter_frame.previous, 0x8);
	assert_int_equal(d.interpreter_frame.executable, 0x0);
	assert_int_equal(d.interpreter_frame.instr_ptr, 0x38);
	assert_int_equal(d.interpreter_frame.owner, 0x46);
	assert_int_equal(d.code_object.filename, 0x70);
	assert_int_equal(d.code_object.name, 0x78);
	assert_int_equal(d.code_object.qualname, 0x80);
	assert_int_equal(d.code_object.linetable, 0x88);
	assert_int_equal(d.code_object.firstlineno, 0x44);
	assert_int_equal(d.code_object.co_code_adaptive, 0xc8);
	assert_int_equal(d.type_object.tp_flags, 0xa8);
	assert_int_equal(d.dict_object.ma_keys, 0x20);
	assert_int_equal(d.unicode_object.asciiobject_size, 0x28);
	assert_int_equal(d.gc.collecting, 0xc8);
	/* not in 3.13's table */
	assert_false(pydo_has(d.interpreter_state.threads_main));
	assert_false(pydo_has(d.thread_state.base_frame));
	assert_false(pydo_has(d.interpreter_frame.stackpointer));
	assert_false(pydo_has(d.unicode_object.compactunicodeobject_size));
	assert_false(pydo_has(d.debugger_support.eval_breaker));
}

static void test_debian_315(void **state)
{
	size_t len = table(0x030f02f0, 0, deb_315_2, 108);
	struct py_debug_offsets d;
	char err[256];

	(void)state;
	assert_int_equal(len, 888);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(d.interpreter_state.threads_main, 0x1cb8);
	assert_int_equal(d.interpreter_state.gil_runtime_state, 0x1e38);
	assert_int_equal(d.interpreter_state.code_object_generation, 0x1f08);
	assert_int_equal(d.thread_state.size, 0x378);
	assert_int_equal(d.thread_state.base_frame, 0x50);
	assert_int_equal(d.thread_state.native_thread_id, 0xb8);
	assert_int_equal(d.thread_state.holds_gil, 0x24);
	assert_int_equal(d.thread_state.exc_state, 0x120);
	assert_int_equal(d.err_stackitem.exc_value, 0x0);
	assert_int_equal(d.interpreter_frame.owner, 0x4a);
	assert_int_equal(d.interpreter_frame.stackpointer, 0x40);
	assert_int_equal(d.code_object.co_tlbc, 0x0);
	assert_int_equal(d.type_object.tp_dictoffset, 0x120);
	assert_int_equal(d.heap_type_object.ht_cached_keys, 0x378);
	assert_int_equal(d.set_object.mask, 0x20);
	assert_int_equal(d.unicode_object.compactunicodeobject_size, 0x38);
	assert_int_equal(d.gc.generation_stats, 0x68);
	assert_int_equal(d.gen_object.gi_frame_state, 0x43);
	assert_int_equal(d.llist_node.prev, 0x8);
	assert_int_equal(d.debugger_support.debugger_script_path_size, 0x200);
}

static void test_write_round_trip(void **state)
{
	static unsigned char out[PYDO_MAX_BYTES];
	size_t len = table(0x030f02f0, 0, deb_315_2, 108);
	struct py_debug_offsets d, again;
	char err[256];

	(void)state;
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(pydo_write(&d, out, sizeof(out)), len);
	assert_memory_equal(out, buf, len);
	assert_int_equal(pydo_parse(out, len, &again, err, sizeof(err)), 0);
	assert_memory_equal(&again, &d, sizeof(d));
	assert_int_equal(pydo_write(&d, out, len - 1), 0);
}

static void test_refused(void **state)
{
	struct py_debug_offsets d;
	char err[256];
	size_t len;

	(void)state;
	/* no cookie: 3.12 and older */
	len = table(0x030d05f0, 0, deb_313_5, 70);
	buf[0] = 'X';
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), -ENOENT);
	assert_int_equal(pydo_parse(buf, 10, &d, err, sizeof(err)), -ENOENT);
	/* a minor version without a row, a pre-release of a known one */
	len = table(0x031000f0, 0, deb_315_2, 108);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "3.16"));
	len = table(0x030e00b1, 0, deb_315_2, 108);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), -ENOTSUP);
	/* cut short */
	len = table(0x030d05f0, 0, deb_313_5, 70);
	assert_int_equal(pydo_parse(buf, len - 8, &d, err, sizeof(err)),
			 -EINVAL);
	/* 3.15's layout under 3.13's version: sizes land on offsets */
	len = table(0x030d05f0, 0, deb_315_2, 108);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), -EINVAL);
	len = table(0x030e0af0, 0, deb_313_5, 70);
	assert_int_equal(pydo_parse(buf, 1024, &d, err, sizeof(err)), -EINVAL);
}

static void test_facts_313(void **state)
{
	size_t len = table(0x030d05f0, 0, deb_313_5, 70);
	struct py_debug_offsets d;
	struct py_facts f;
	char err[256];

	(void)state;
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(
		pyver_from_debug_offsets(NULL, &d, &f, err, sizeof(err)), 0);
	assert_int_equal(f.major, 3);
	assert_int_equal(f.minor, 13);
	assert_false(f.free_threaded);
	assert_true(f.has_debug_offsets);
	/* _PyRuntime._main_interpreter at R+0x15950 (DWARF of 3.13.5) */
	assert_int_equal(f.main_in_runtime, 0x15950);
	assert_int_equal(f.gil_in_runtime, 0x15950 + 0x1e48);
	assert_int_equal(f.interp_ceval_gil, 0x10);
	assert_int_equal(f.runtime_interp_head, 0x278);
	assert_int_equal(f.tstate_native_thread_id, 0xa0);
	assert_int_equal(f.gil_switch_number, 0x18);
	assert_int_equal(f.gil_cond, 0x20);
	assert_int_equal(f.gil_mutex, 0x50);
	assert_int_equal(f.gil_switch_cond, 0x78);
	assert_int_equal(f.dbg.code_object.name, 0x78);
}

/*
 * Stack facts of 3.13 and 3.15 from their debug offsets and rows: the
 * DWARF of Debian's 3.13.5 and 3.15.2 (ptype /o of _PyInterpreterFrame,
 * PyCodeObject, PyASCIIObject, PyThreadState, PyHeapTypeObject).
 */
static void test_stack_facts_313(void **state)
{
	size_t len = table(0x030d05f0, 0, deb_313_5, 70);
	struct py_debug_offsets d;
	struct py_facts f;
	const struct py_stack_facts *s = &f.stk;
	char err[256];

	(void)state;
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(pyver_from_debug_offsets(pyver_facts(3, 13), &d, &f,
						  err, sizeof(err)),
			 0);
	assert_int_equal(s->instr_size, 8);
	assert_false(s->has_cframe);
	assert_int_equal(s->tstate_frame, 0x48);
	assert_int_equal(s->frame_code, 0x00);
	assert_int_equal(s->frame_previous, 0x08);
	assert_int_equal(s->frame_instr, 0x38);
	assert_int_equal(s->frame_owner, 0x46);
	assert_int_equal(s->frame_localsplus, 0x48);
	assert_int_equal(s->owner_cstack, 3);
	assert_int_equal(s->ref_tag_bits, 0);
	assert_int_equal(s->code_filename, 0x70);
	assert_int_equal(s->code_name, 0x78);
	assert_int_equal(s->code_qualname, 0x80);
	assert_int_equal(s->code_linetable, 0x88);
	assert_int_equal(s->code_firstlineno, 0x44);
	assert_int_equal(s->code_adaptive, 0xc8);
	assert_int_equal(s->str_length, 0x10);
	assert_int_equal(s->str_state, 0x20);
	assert_int_equal(s->str_ascii_data, 0x28);
	assert_int_equal(s->str_compact_data, 0x38);
	assert_int_equal(s->type_cached_keys, 0x370);
	assert_int_equal(s->type_flags, 0xa8);
	assert_int_equal(s->runtime_interp_head, 0x278);
	assert_int_equal(s->tstate_next, 0x08);
	/* no row: no stack facts */
	assert_int_equal(
		pyver_from_debug_offsets(NULL, &d, &f, err, sizeof(err)), 0);
	assert_int_equal(f.stk.instr_size, 0);
	assert_int_equal(f.stk.frame_code, 0);
}

static void test_stack_facts_315(void **state)
{
	size_t len = table(0x030f02f0, 0, deb_315_2,
			   sizeof(deb_315_2) / sizeof(deb_315_2[0]));
	struct py_debug_offsets d;
	struct py_facts f;
	const struct py_stack_facts *s = &f.stk;
	char err[256];

	(void)state;
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(pyver_from_debug_offsets(pyver_facts(3, 15), &d, &f,
						  err, sizeof(err)),
			 0);
	assert_int_equal(s->frame_owner, 0x4a);
	assert_int_equal(s->frame_localsplus, 0x50);
	assert_int_equal(s->frame_instr, 0x38);
	assert_int_equal(s->code_adaptive, 0xd0);
	assert_int_equal(s->ref_tag_bits, 3);
	assert_int_equal(s->type_cached_keys, 0x378);
	assert_int_equal(s->type_basicsize, 0x20);
	assert_int_equal(s->type_dictoffset, 0x120);
	assert_int_equal(s->str_compact_data, 0x38);
	assert_int_equal(s->bytes_size, 0x10);
	assert_int_equal(s->bytes_data, 0x20);
}

/* 3.9 and 3.10 rows: PyFrameObject chains (DWARF of 3.9.2) */
static void test_stack_facts_39(void **state)
{
	const struct py_stack_facts *s9 = &pyver_facts(3, 9)->stk;
	const struct py_stack_facts *s10 = &pyver_facts(3, 10)->stk;

	(void)state;
	assert_int_equal(s9->instr_size, 4);
	assert_int_equal(s9->frame_instr, 0x68);
	assert_int_equal(s9->frame_localsplus, 0x168);
	assert_int_equal(s9->linetable_format, PY_LINETABLE_39);
	assert_int_equal(s10->frame_instr, 0x60);
	assert_int_equal(s10->linetable_format, PY_LINETABLE_310);
	assert_int_equal(s9->owner_cstack, -1);
	assert_int_equal(s9->code_name, s9->code_filename + 8);
}

/* 3.9's co_lnotab (f_lasti in bytes) and 3.10's co_linetable (f_lasti
 * in code units; -128: no line), as CPython's own PyCode_Addr2Line reads
 * them */
static void test_old_line_tables(void **state)
{
	unsigned char lnotab[] = { 0, 1, 6, 1, 8, 2 };
	unsigned char lt310[] = { 6, 1, 8, 1, 4, (unsigned char)-128, 2, 2 };
	const struct py_stack_facts *f9 = &pyver_facts(3, 9)->stk;
	const struct py_stack_facts *f10 = &pyver_facts(3, 10)->stk;
	struct pyobj_code c = { .firstlineno = 10,
				.linetable = lnotab,
				.linetable_len = sizeof(lnotab) };

	(void)state;
	assert_int_equal(pyobj_code_line(&c, f9, PY_LINETABLE_39, 0, 0), 11);
	assert_int_equal(pyobj_code_line(&c, f9, PY_LINETABLE_39, 0, 5), 11);
	assert_int_equal(pyobj_code_line(&c, f9, PY_LINETABLE_39, 0, 6), 12);
	assert_int_equal(pyobj_code_line(&c, f9, PY_LINETABLE_39, 0, 14), 14);
	assert_int_equal(
		pyobj_code_line(&c, f9, PY_LINETABLE_39, 0, 0xffffffffu), 10);
	c.linetable = lt310;
	c.linetable_len = sizeof(lt310);
	assert_int_equal(pyobj_code_line(&c, f10, PY_LINETABLE_310, 0, 2), 11);
	assert_int_equal(pyobj_code_line(&c, f10, PY_LINETABLE_310, 0, 3), 12);
	assert_int_equal(pyobj_code_line(&c, f10, PY_LINETABLE_310, 0, 7), 10);
	assert_int_equal(pyobj_code_line(&c, f10, PY_LINETABLE_310, 0, 9), 14);
}

/* A free-threaded build (3.13t): no GIL, whatever its fields say. */
static void test_free_threaded(void **state)
{
	uint64_t words[70];
	struct py_debug_offsets d;
	struct py_facts f;
	char err[256];
	size_t len;

	(void)state;
	memcpy(words, deb_313_5, sizeof(words));
	/* `int enabled` first: locked and last_holder move by 8 */
	words[13] = 0;	/* gil_runtime_state_enabled */
	words[14] += 8; /* gil_runtime_state_locked */
	words[15] += 8; /* gil_runtime_state_holder */
	len = table(0x030d05f0, 1, words, 70);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_true(d.free_threaded);
	assert_int_equal(
		pyver_from_debug_offsets(NULL, &d, &f, err, sizeof(err)), 0);
	assert_true(f.free_threaded);
	assert_int_equal(f.gil_in_runtime, 0);
	/* the same GIL without the flag is not one gilscope knows */
	len = table(0x030d05f0, 0, words, 70);
	assert_int_equal(pydo_parse(buf, len, &d, err, sizeof(err)), 0);
	assert_int_equal(pyver_from_debug_offsets(NULL, &d, &f, err,
						  sizeof(err)),
			 -ENOTSUP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_debian_313),
		cmocka_unit_test(test_debian_315),
		cmocka_unit_test(test_write_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_facts_313),
		cmocka_unit_test(test_free_threaded),
		cmocka_unit_test(test_stack_facts_313),
		cmocka_unit_test(test_stack_facts_315),
		cmocka_unit_test(test_stack_facts_39),
		cmocka_unit_test(test_old_line_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
