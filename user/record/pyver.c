// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record/elfimg.h"
#include "record/pyver.h"

/* The GIL's own layout is the same in 3.9-3.15 (pycore_gil.h; DWARF of
 * Debian's 3.9.2, 3.11.2, 3.13.5, 3.14.10, 3.15.2). A free-threaded build
 * puts an `int enabled` first. */
#define GIL_LAYOUT                                                      \
	.gil_last_holder = 0x08, .gil_locked = 0x10,                    \
	.gil_switch_number = 0x18, .gil_cond = 0x20, .gil_mutex = 0x50, \
	.gil_switch_cond = 0x78, .gil_switch_mutex = 0xa8, .gil_size = 0xd0

/* Strings, bytes, the thread list, types and dicts of 3.9 and 3.10 (DWARF
 * of Debian's 3.9.2; 3.10.0's headers, py-spy's generated bindings) */
#define STK_OBJECTS_39                                                       \
	.str_length = 0x10, .str_state = 0x20, .str_ascii_data = 0x30,       \
	.str_compact_data = 0x48, .bytes_size = 0x10, .bytes_data = 0x20,    \
	.runtime_interp_head = 0x20, .interp_next = 0x00,                    \
	.interp_threads_head = 0x08, .tstate_next = 0x08, .type_name = 0x18, \
	.type_flags = 0xa8, .type_dictoffset = 0x120, .dict_keys = 0x20,     \
	.dict_values = 0x28, .keys_dk_size = 0x08, .keys_nentries = 0x20,    \
	.keys_indices = 0x28
/* PyFrameObject and PyCodeObject of 3.9 and 3.10, but for f_lasti,
 * f_localsplus and the line table */
#define STK_FRAMES_39                                                     \
	.tstate_frame = 0x18, .frame_code = 0x20, .frame_previous = 0x18, \
	.owner_cstack = -1, .instr_size = 4, .code_firstlineno = 0x28,    \
	.code_filename = 0x68, .code_name = 0x70, .code_linetable = 0x78
/* 3.11+ dict keys (DWARF of 3.11.2, 3.13.5, 3.14.10, 3.15.2) */
#define STK_KEYS_311                                      \
	.keys_log2_index_bytes = 0x09, .keys_kind = 0x0a, \
	.keys_nentries = 0x18, .keys_indices = 0x20
/*
 * 3.13+: what _Py_DebugOffsets does not carry (DWARF of Debian's 3.13.5,
 * 3.13.18, 3.14.10, 3.15.2); the rest comes from the file's table. The
 * entry frame the interpreter pushes is FRAME_OWNED_BY_CSTACK (3) in 3.13,
 * FRAME_OWNED_BY_INTERPRETER (3) in 3.14 and 3.15, which 3.14 follows
 * with FRAME_OWNED_BY_CSTACK (4). Objects: values inline at tp_basicsize
 * (Py_TPFLAGS_INLINE_VALUES), the dict pointer 3 words before.
 */
#define STK_313                                                         \
	.owner_cstack = 3, .instr_size = 8,                             \
	.linetable_format = PY_LINETABLE_311, .str_compact_data = 0x38, \
	.type_dictoffset = 0x120, .type_basicsize = 0x20,               \
	.managed_dict_flag = 1 << 4, .managed_dict = -24,               \
	.inline_values_flag = 1 << 2, .values_data = 0x08, STK_KEYS_311

static const struct py_facts table[] = {
	/* R+0x160 (DWARF of 3.9, bindings of 3.10) */
	/* thread_id: DWARF of 3.9.2, 3.10.0's layout (py-spy's bindings) */
	{ .major = 3,
	  .minor = 9,
	  .gil_in_runtime = 0x160,
	  .tstate_thread_id = 0xb0,
	  GIL_LAYOUT,
	  .stk = { STK_FRAMES_39, STK_OBJECTS_39, .frame_instr = 0x68,
		   .frame_localsplus = 0x168,
		   .linetable_format = PY_LINETABLE_39 } },
	{ .major = 3,
	  .minor = 10,
	  .gil_in_runtime = 0x160,
	  .tstate_thread_id = 0xb0,
	  GIL_LAYOUT,
	  .stk = { STK_FRAMES_39, STK_OBJECTS_39, .frame_instr = 0x60,
		   .frame_localsplus = 0x160,
		   .linetable_format = PY_LINETABLE_310 } },
	/* DWARF of Debian's 3.11.2 and pyenv's 3.11.7 */
	{ .major = 3,
	  .minor = 11,
	  .gil_in_runtime = 0x168,
	  .tstate_native_thread_id = 0xa0,
	  GIL_LAYOUT,
	  /* DWARF of Debian's 3.11.2 (python3.11-dbg) */
	  .stk = {
		  .tstate_frame = 0x38, .cframe_frame = 0x08,
		  .has_cframe = true,
		  .frame_code = 0x20, .frame_previous = 0x30,
		  .frame_instr = 0x38, .frame_owner = 0x45,
		  .frame_localsplus = 0x48, .owner_cstack = -1,
		  .instr_size = 8,
		  .code_firstlineno = 0x48, .code_filename = 0x70,
		  .code_name = 0x78, .code_qualname = 0x80,
		  .code_linetable = 0x88, .code_adaptive = 0xb8,
		  .linetable_format = PY_LINETABLE_311,
		  .str_length = 0x10, .str_state = 0x20,
		  .str_ascii_data = 0x30, .str_compact_data = 0x48,
		  .bytes_size = 0x10, .bytes_data = 0x20,
		  .runtime_interp_head = 0x28, .interp_next = 0x00,
		  .interp_threads_head = 0x10, .tstate_next = 0x08,
		  .type_name = 0x18, .type_flags = 0xa8,
		  .type_dictoffset = 0x120, .type_cached_keys = 0x368,
		  .managed_dict_flag = 1 << 4, .managed_dict = -24,
		  .managed_values = -32, .dict_keys = 0x20,
		  .dict_values = 0x28, STK_KEYS_311,
	  } },
	/*
	 * 3.12: the GIL is the main interpreter's (_PyRuntime._main_interpreter
	 * ._gil, found by main_signature_312); no debug offsets. From the
	 * layout of 3.12.0's headers (py-spy's generated bindings): ceval.gil
	 * at I+0x180, _gil at I+0x410, interpreters.head at R+0x28,
	 * native_thread_id at T+0x90. No Debian suite has 3.12: untested.
	 */
	{ .major = 3,
	  .minor = 12,
	  .interp_gil = 0x410,
	  .runtime_interp_head = 0x28,
	  .interp_ceval_gil = 0x180,
	  .tstate_native_thread_id = 0x90,
	  GIL_LAYOUT,
	  /* the same headers: tstate->cframe->current_frame, frames with
	   * f_code and prev_instr, entry frames FRAME_OWNED_BY_CSTACK (3),
	   * PyDictOrValues 3 words before an object; untested */
	  .stk = {
		  .tstate_frame = 0x38, .cframe_frame = 0x00,
		  .has_cframe = true,
		  .frame_code = 0x00, .frame_previous = 0x08,
		  .frame_instr = 0x38, .frame_owner = 0x46,
		  .frame_localsplus = 0x48, .owner_cstack = 3,
		  .instr_size = 8,
		  .code_firstlineno = 0x44, .code_filename = 0x70,
		  .code_name = 0x78, .code_qualname = 0x80,
		  .code_linetable = 0x88, .code_adaptive = 0xc0,
		  .linetable_format = PY_LINETABLE_311,
		  .str_length = 0x10, .str_state = 0x20,
		  .str_ascii_data = 0x28, .str_compact_data = 0x38,
		  .bytes_size = 0x10, .bytes_data = 0x20,
		  .runtime_interp_head = 0x28, .interp_next = 0x00,
		  .interp_threads_head = 0x48, .tstate_next = 0x08,
		  .type_name = 0x18, .type_flags = 0xa8,
		  .type_dictoffset = 0x120, .type_cached_keys = 0x370,
		  .managed_dict_flag = 1 << 4, .managed_dict = -24,
		  .managed_tagged = true, .dict_keys = 0x20,
		  .dict_values = 0x28, STK_KEYS_311,
	  } },
	{ .major = 3,
	  .minor = 13,
	  GIL_LAYOUT,
	  .stk = { STK_313, .type_cached_keys = 0x370 } },
	/* f_executable and localsplus are _PyStackRefs (Py_TAG_BITS: 1 in
	 * 3.14, 3 in 3.15; pycore_stackref.h) */
	{ .major = 3,
	  .minor = 14,
	  GIL_LAYOUT,
	  .stk = { STK_313, .type_cached_keys = 0x370, .ref_tag_bits = 3 } },
	/* 3.15's table also has tp_basicsize, tp_dictoffset,
	 * ht_cached_keys and the compact unicode size */
	{ .major = 3,
	  .minor = 15,
	  GIL_LAYOUT,
	  .stk = { STK_313, .ref_tag_bits = 3 } },
};

/* A 3.13+ version without a row: its GIL as in every version so far. */
static const struct py_facts no_row = { GIL_LAYOUT };

const struct py_facts *pyver_facts(int major, int minor)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].major == major && table[i].minor == minor)
			return &table[i];
	return NULL;
}

/* ------------------------------------------------------------ 3.13+ stacks */

/* *TO = FROM when the table has it and it fits; false when absent */
static bool take(uint16_t *to, uint64_t from)
{
	if (!pydo_has(from) || from > UINT16_MAX)
		return false;
	*to = from;
	return true;
}

/* The same for a field the table has only in some versions: the row's
 * value stays when it is absent. */
static void take_if(uint16_t *to, uint64_t from)
{
	take(to, from);
}

/* S (the row's facts, instr_size set) completed from debug offsets D;
 * false when a field stacks need is missing. */
static bool stack_facts_from(struct py_stack_facts *s,
			     const struct py_debug_offsets *d)
{
	const typeof(d->interpreter_frame) *fr = &d->interpreter_frame;
	const typeof(d->code_object) *co = &d->code_object;
	bool ok = true;

	s->has_cframe = false;
	ok &= take(&s->tstate_frame, d->thread_state.current_frame);
	ok &= take(&s->tstate_next, d->thread_state.next);
	ok &= take(&s->frame_code, fr->executable);
	ok &= take(&s->frame_previous, fr->previous);
	ok &= take(&s->frame_instr, fr->instr_ptr);
	ok &= take(&s->frame_owner, fr->owner);
	ok &= take(&s->frame_localsplus, fr->localsplus);
	ok &= take(&s->code_filename, co->filename);
	ok &= take(&s->code_name, co->name);
	ok &= take(&s->code_qualname, co->qualname);
	ok &= take(&s->code_linetable, co->linetable);
	ok &= take(&s->code_firstlineno, co->firstlineno);
	ok &= take(&s->code_adaptive, co->co_code_adaptive);
	ok &= take(&s->str_length, d->unicode_object.length);
	ok &= take(&s->str_state, d->unicode_object.state);
	ok &= take(&s->str_ascii_data, d->unicode_object.asciiobject_size);
	take_if(&s->str_compact_data,
		d->unicode_object.compactunicodeobject_size);
	ok &= take(&s->bytes_size, d->bytes_object.ob_size);
	ok &= take(&s->bytes_data, d->bytes_object.ob_sval);
	ok &= take(&s->runtime_interp_head, d->runtime_state.interpreters_head);
	ok &= take(&s->interp_next, d->interpreter_state.next);
	ok &= take(&s->interp_threads_head, d->interpreter_state.threads_head);
	ok &= take(&s->type_name, d->type_object.tp_name);
	ok &= take(&s->type_flags, d->type_object.tp_flags);
	take_if(&s->type_basicsize, d->type_object.tp_basicsize);
	take_if(&s->type_dictoffset, d->type_object.tp_dictoffset);
	take_if(&s->type_cached_keys, d->heap_type_object.ht_cached_keys);
	ok &= take(&s->dict_keys, d->dict_object.ma_keys);
	ok &= take(&s->dict_values, d->dict_object.ma_values);
	/* BPF reads co_filename and co_name as one pair */
	return ok && s->code_name == s->code_filename + 8;
}

/* ------------------------------------------------------------ interning */

static struct interned {
	struct interned *next;
	struct py_facts f;
} * interned;

/* A copy of F that lives as long as the program, shared by equal facts. */
static const struct py_facts *intern(const struct py_facts *f)
{
	struct interned *i;

	for (i = interned; i; i = i->next)
		if (!memcmp(&i->f, f, sizeof(*f)))
			return &i->f;
	i = malloc(sizeof(*i));
	if (!i)
		return NULL;
	i->f = *f;
	i->next = interned;
	interned = i;
	return &i->f;
}

/* ------------------------------------------------------------ 3.13+ */

int pyver_from_debug_offsets(const struct py_facts *row,
			     const struct py_debug_offsets *d,
			     struct py_facts *f, char *err, size_t errlen)
{
	const uint64_t gil = d->interpreter_state.gil_runtime_state;
	const uint64_t main = d->runtime_state.size - d->interpreter_state.size;

	*f = row ? *row : no_row;
	f->major = (d->version >> 24) & 0xff;
	f->minor = (d->version >> 16) & 0xff;
	f->has_debug_offsets = true;
	f->dbg = *d;
	f->tstate_native_thread_id = d->thread_state.native_thread_id;
	f->runtime_interp_head = d->runtime_state.interpreters_head;
	f->interp_ceval_gil = d->interpreter_state.ceval_gil;
	f->free_threaded = d->free_threaded;
	/* stacks: a row that knows the rest (not a free-threaded build,
	 * whose objects are laid out otherwise) */
	if (f->free_threaded || !f->stk.instr_size ||
	    !stack_facts_from(&f->stk, d))
		memset(&f->stk, 0, sizeof(f->stk));
	if (f->free_threaded) {
		/* no GIL to trace (it can be switched on at run time:
		 * PYTHON_GIL=1; gilscope does not follow that) */
		f->gil_in_runtime = f->main_in_runtime = f->interp_gil = 0;
		return 0;
	}
	/* the GIL's own fields as published must be where the table says */
	if (d->interpreter_state.gil_runtime_state_locked !=
		    gil + f->gil_locked ||
	    d->interpreter_state.gil_runtime_state_holder !=
		    gil + f->gil_last_holder) {
		snprintf(
			err, errlen,
			"its GIL's fields are not where gilscope expects them");
		return -ENOTSUP;
	}
	/* _main_interpreter is _PyRuntimeState's last field (3.13-3.15) */
	f->main_in_runtime = main;
	f->interp_gil = gil;
	f->gil_in_runtime = main + gil;
	return 0;
}

/*
 * The initialised _PyRuntime in the file must show the main interpreter
 * where main_in_runtime says: its id_refcount, right after id, starts at
 * -1 (_PyInterpreterState_INIT; DWARF of 3.13-3.15).
 */
static int check_main_interp(const struct elfimg *img, uint64_t runtime_vaddr,
			     const struct py_facts *f, char *err, size_t errlen)
{
	int64_t refcount = 0;

	if (elfimg_read_vaddr(img,
			      runtime_vaddr + f->main_in_runtime +
				      f->dbg.interpreter_state.id + 8,
			      &refcount, sizeof(refcount)) ||
	    refcount != -1) {
		snprintf(
			err, errlen,
			"its main interpreter is not at the end of _PyRuntime");
		return -ENOTSUP;
	}
	return 0;
}

/* ------------------------------------------------------------ 3.12 */

/* What _PyInterpreterState_INIT writes into the main interpreter of 3.12
 * (offsets from 3.12.0's layout): id_refcount -1, gc.enabled 1, the three
 * generations' thresholds 700, 10, 10, ceval.recursion_limit 1000. */
static const struct {
	uint16_t off;
	uint8_t size;
	int64_t value;
} main_signature_312[] = {
	{ 0x10, 8, -1 }, { 0x7c, 4, 1 },  { 0x98, 4, 700 },
	{ 0xb0, 4, 10 }, { 0xc8, 4, 10 }, { 0x178, 4, 1000 },
};

static bool looks_like_main_312(const unsigned char *rt, size_t at)
{
	for (size_t i = 0;
	     i < sizeof(main_signature_312) / sizeof(main_signature_312[0]);
	     i++) {
		int64_t v = 0;
		int32_t v32;

		if (main_signature_312[i].size == 4) {
			memcpy(&v32, rt + at + main_signature_312[i].off, 4);
			v = v32;
		} else {
			memcpy(&v, rt + at + main_signature_312[i].off, 8);
		}
		if (v != main_signature_312[i].value)
			return false;
	}
	return true;
}

/* Find _PyRuntime._main_interpreter in the file's initialised _PyRuntime
 * (RT, LEN bytes): the one place that looks like it. */
static int find_main_312(const unsigned char *rt, size_t len,
			 struct py_facts *f)
{
	size_t found = 0, n = 0;
	size_t need = f->interp_gil + f->gil_size;

	for (size_t at = 0; at + need <= len; at += 8)
		if (looks_like_main_312(rt, at)) {
			found = at;
			n++;
		}
	if (n != 1)
		return -ENOTSUP;
	f->main_in_runtime = found;
	f->gil_in_runtime = found + f->interp_gil;
	return 0;
}

static int facts_312(const struct elfimg *img, uint64_t runtime_vaddr,
		     struct py_facts *f, char *err, size_t errlen)
{
	uint64_t vaddr, size = 0;
	unsigned char *rt;
	int ret = -ENOTSUP;

	if (elfimg_find_symbol(img, "_PyRuntime", &vaddr, &size) ||
	    vaddr != runtime_vaddr || !size || size > (64u << 20))
		goto out;
	rt = malloc(size);
	if (!rt)
		return -ENOMEM;
	if (!elfimg_read_vaddr(img, runtime_vaddr, rt, size))
		ret = find_main_312(rt, size, f);
	free(rt);
out:
	if (ret)
		snprintf(err, errlen,
			 "its main interpreter was not found in _PyRuntime");
	return ret;
}

/* ------------------------------------------------------------ a file */

int pyver_facts_for(const struct elfimg *img, uint64_t runtime_vaddr, int major,
		    int minor, const struct py_facts **out, char *err,
		    size_t errlen)
{
	const struct py_facts *row = pyver_facts(major, minor);
	struct py_debug_offsets d;
	struct py_facts f;
	int ret;

	*out = NULL;
	if (major == 3 && minor >= 13) {
		ret = pydo_read_elf(img, runtime_vaddr, &d, err, errlen);
		if (ret)
			return -ENOTSUP;
		ret = pyver_from_debug_offsets(row, &d, &f, err, errlen);
		if (!ret && !f.free_threaded)
			ret = check_main_interp(img, runtime_vaddr, &f, err,
						errlen);
	} else if (row) {
		f = *row;
		ret = f.gil_in_runtime ?
			      0 :
			      facts_312(img, runtime_vaddr, &f, err, errlen);
	} else {
		snprintf(err, errlen, "no GIL facts for %d.%d", major, minor);
		ret = -ENOTSUP;
	}
	if (ret)
		return ret == -ENOMEM ? ret : -ENOTSUP;
	*out = intern(&f);
	return *out ? 0 : -ENOMEM;
}

struct gs_gil pyver_gil_layout(uint64_t gil_addr, const struct py_facts *f)
{
	return (struct gs_gil){
		.addr = gil_addr,
		.last_holder_off = f->gil_last_holder,
		.locked_off = f->gil_locked,
		.tstate_tid_off = f->tstate_native_thread_id ?
					  f->tstate_native_thread_id :
					  GS_OFF_NONE,
	};
}
