/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CPython's _Py_DebugOffsets (3.13 and later): the table that starts
 * _PyRuntime (cookie "xdebugpy", then PY_VERSION_HEX, the free-threading
 * flag and groups of uint64 offsets) and tells a tool outside the process
 * where the fields it needs are. The interpreter file's `.PyRuntime` section
 * holds the initialised table, so a command can be read before it runs; a
 * running process has the same bytes at &_PyRuntime.
 *
 * The table's own layout differs per minor version (fields are added
 * inside the groups); the rows in debugoffs.c give the field order of each,
 * taken from the DWARF of Debian's builds and CPython's
 * Include/internal/pycore_debug_offsets.h. A new minor version is one row.
 *
 * What a caller gets: struct py_debug_offsets, the union of every version's
 * fields under CPython's names. Each offset is relative to the start of
 * its own structure (runtime_state: &_PyRuntime; interpreter_state: a
 * PyInterpreterState; thread_state: a PyThreadState; interpreter_frame: a
 * _PyInterpreterFrame; code_object: a PyCodeObject; unicode_object: a
 * PyUnicodeObject; ...). A field the version does not publish holds
 * PYDO_NONE; test it with pydo_has(). Sizes are sizes, not offsets
 * (`size` of each group, unicode_object.asciiobject_size, ...).
 *
 * Facts beyond the table (the GIL's own fields, where the main interpreter
 * lives) are derived in user/record/pyver.c.
 */
#ifndef GS_DEBUGOFFS_H
#define GS_DEBUGOFFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PYDO_COOKIE "xdebugpy"
#define PYDO_NONE UINT64_MAX
/* Enough bytes for every known layout (3.15: 888). */
#define PYDO_MAX_BYTES 1024

struct elfimg;

struct py_debug_offsets {
	uint64_t version;   /* PY_VERSION_HEX of the build */
	bool free_threaded; /* Py_GIL_DISABLED (3.13t, 3.14t) */
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, threads_main, gc;
		uint64_t imports_modules, sysdict, builtins;
		uint64_t ceval_gil;	    /* ceval.gil: the GIL in use */
		uint64_t gil_runtime_state; /* _gil: the interpreter's own */
		/* offsetof(struct _gil_runtime_state, enabled); 0 when not
		 * free-threaded */
		uint64_t gil_runtime_state_enabled;
		uint64_t gil_runtime_state_locked; /* _gil.locked */
		uint64_t gil_runtime_state_holder; /* _gil.last_holder */
		uint64_t code_object_generation, tlbc_generation;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, base_frame;
		uint64_t last_profiled_frame, last_profiled_frame_seq;
		uint64_t thread_id, native_thread_id, datastack_chunk, status;
		uint64_t holds_gil, gil_requested, current_exception;
		uint64_t exc_state;
	} thread_state;
	struct {
		uint64_t exc_value;
	} err_stackitem;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus;
		uint64_t owner, stackpointer, tlbc_index;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable;
		uint64_t firstlineno, argcount, localsplusnames;
		uint64_t localspluskinds, co_code_adaptive, co_tlbc;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags, tp_basicsize;
		uint64_t tp_dictoffset;
	} type_object;
	struct {
		uint64_t size, ht_cached_keys;
	} heap_type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object, list_object;
	struct {
		uint64_t size, used, table, mask;
	} set_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length;
		uint64_t asciiobject_size; /* ASCII data follow this */
		uint64_t compactunicodeobject_size;
	} unicode_object;
	struct {
		uint64_t size, collecting, frame, generation_stats_size;
		uint64_t generation_stats;
	} gc;
	struct {
		uint64_t size, gi_name, gi_iframe, gi_frame_state;
	} gen_object;
	struct {
		uint64_t next, prev;
	} llist_node;
	struct {
		uint64_t eval_breaker, remote_debugger_support;
		uint64_t remote_debugging_enabled, debugger_pending_call;
		uint64_t debugger_script_path, debugger_script_path_size;
	} debugger_support;
};

static inline bool pydo_has(uint64_t field)
{
	return field != PYDO_NONE;
}

/*
 * Parse LEN bytes that start with the cookie. Returns 0; -ENOENT when
 * there is no cookie (before 3.13, or not _PyRuntime); -ENOTSUP when the
 * version's layout is not known (a minor version without a row, or a
 * pre-release of one); -EINVAL when the bytes fail the checks (an offset
 * outside its structure: a layout that is not the row's). ERR says which.
 */
int pydo_parse(const void *buf, size_t len, struct py_debug_offsets *d,
	       char *err, size_t errlen);

/* The same from the file image, at _PyRuntime's virtual address. */
int pydo_read_elf(const struct elfimg *img, uint64_t runtime_vaddr,
		  struct py_debug_offsets *d, char *err, size_t errlen);

/* Bytes of the table for D's version (what pydo_parse() reads), 0 when
 * the version has no row: for tests that build synthetic tables. */
size_t pydo_layout_bytes(uint32_t version);
/* Write D as version D->version's table into BUF (the inverse of
 * pydo_parse()); returns the bytes written or 0. For tests. */
size_t pydo_write(const struct py_debug_offsets *d, void *buf, size_t len);

#endif /* GS_DEBUGOFFS_H */
