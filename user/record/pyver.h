/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Version-specific facts about CPython: where the GIL lives and its layout,
 * the thread state's native_thread_id, and what stacks need. One table
 * keeps what the interpreter does not publish; from 3.13 on the rest comes
 * from the file's own _Py_DebugOffsets (user/record/debugoffs.h), so a 3.13+
 * release needs a table row only for facts the debug offsets lack.
 *
 * pyver_facts_for() gives the facts of one interpreter file; the result
 * lives as long as the program (interned), so pointers to it can be kept.
 */
#ifndef GS_PYVER_H
#define GS_PYVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gilscope.h"
#include "record/debugoffs.h"

struct elfimg;

/* glibc's struct pthread (what a pthread_t points to): its tid, the same
 * in 2.31 (bullseye) and 2.36 (bookworm), measured */
#define GLIBC_PTHREAD_TID 0x2d0

struct py_facts {
	int major, minor;
	/*
	 * The main interpreter's GIL (struct _gil_runtime_state) is at
	 * gil_in_runtime from &_PyRuntime: in the runtime itself in 3.9-3.11,
	 * in _PyRuntime._main_interpreter._gil from 3.12 (main_in_runtime +
	 * interp_gil). 0: not known, no GIL to trace.
	 */
	uint64_t gil_in_runtime;
	/* 3.12+: the interpreter state; _PyRuntime.interpreters.head and
	 * PyInterpreterState.ceval.gil (the GIL it uses, checked against
	 * gil_in_runtime at run time); all 0 before 3.12 */
	uint64_t main_in_runtime, interp_gil;
	uint64_t runtime_interp_head, interp_ceval_gil;
	/* fields of struct _gil_runtime_state */
	uint64_t gil_last_holder, gil_locked, gil_switch_number;
	uint64_t gil_cond, gil_mutex, gil_switch_cond, gil_switch_mutex;
	uint64_t gil_size;
	/* PyThreadState.native_thread_id, 0 if absent */
	uint64_t tstate_native_thread_id;
	/* without it (3.9, 3.10): PyThreadState.thread_id, the thread's
	 * pthread_t, whose glibc struct pthread holds the tid (at
	 * GLIBC_PTHREAD_TID) */
	uint64_t tstate_thread_id;
	/* Py_GIL_DISABLED: a free-threaded build, no GIL (gil_in_runtime 0) */
	bool free_threaded;
	/* 3.13+: the file's _Py_DebugOffsets, every field */
	bool has_debug_offsets;
	struct py_debug_offsets dbg;
	/* Python stacks (user/record/stacks.c, bpf/stacks.bpf.h); stk_frame_code
	 * 0: no stack facts for this version. 3.13+: filled from the debug
	 * offsets where they carry the fact (pyver_from_debug_offsets), the
	 * rest from the version's row. */
	struct py_stack_facts {
		/* tstate -> cframe -> current frame (has_cframe, 3.11 and
		 * 3.12), else the tstate field is the frame itself */
		uint16_t tstate_frame, cframe_frame;
		bool has_cframe;
		/* a frame: _PyInterpreterFrame (3.11+) or PyFrameObject
		 * (3.9, 3.10: previous is f_back, instr is f_lasti) */
		uint16_t frame_code, frame_previous, frame_instr;
		uint16_t frame_owner, frame_localsplus;
		/* frames owned by owner_cstack or above are the
		 * interpreter's own entry frames (3.12+), no code: skipped;
		 * -1: none */
		int owner_cstack;
		/* low bits of f_executable and localsplus that tag a
		 * _PyStackRef (3.14+), cleared to get the object */
		uint8_t ref_tag_bits;
		/* bytes of frame_instr: 8, a pointer to the instruction
		 * (3.11+); 4, f_lasti, an int offset (3.9, 3.10) */
		uint8_t instr_size;
		/* PyCodeObject; instructions start at code_adaptive */
		uint16_t code_firstlineno, code_filename, code_name;
		uint16_t code_qualname, code_linetable, code_adaptive;
		int linetable_format; /* PY_LINETABLE_* */
		/* strings and bytes */
		uint16_t str_length, str_state, str_ascii_data,
			str_compact_data;
		uint16_t bytes_size, bytes_data;
		/* the thread list: _PyRuntime -> interpreters -> threads */
		uint16_t runtime_interp_head, interp_next, interp_threads_head;
		uint16_t tstate_next;
		/* instance attributes, for threading.Thread's name */
		uint16_t type_name, type_flags, type_dictoffset,
			type_cached_keys, type_basicsize;
		uint64_t managed_dict_flag;	      /* 0: no managed dicts */
		int16_t managed_dict, managed_values; /* from the object */
		/* 3.12: one word at managed_dict, values when its low bit
		 * is set (PyDictOrValues) */
		bool managed_tagged;
		/* 3.13+: values inline at the object's tp_basicsize */
		uint64_t inline_values_flag;
		uint16_t dict_keys, dict_values;
		uint16_t values_data; /* values[] in PyDictValues */
		uint16_t keys_log2_index_bytes, keys_kind, keys_nentries;
		uint16_t keys_indices;
		/* 3.9, 3.10: dk_size (index width follows from it, entries
		 * are all (hash, key, value)); 0: 3.11+ keys */
		uint16_t keys_dk_size;
	} stk;
};

/* line number tables, and what frame_instr means with each */
enum {
	PY_LINETABLE_NONE = 0,
	PY_LINETABLE_311 = 1, /* 3.11+ location table; instr a pointer */
	PY_LINETABLE_39 = 2,  /* co_lnotab; f_lasti in bytes */
	PY_LINETABLE_310 = 3, /* 3.10 co_linetable; f_lasti in code units */
};

/* The table's row for MAJOR.MINOR, or NULL: facts that need no file. */
const struct py_facts *pyver_facts(int major, int minor);

/*
 * The facts of interpreter file IMG (Python MAJOR.MINOR, _PyRuntime at
 * RUNTIME_VADDR): the row completed from the file's debug offsets (3.13+)
 * or its initialised _PyRuntime (3.12). Returns 0 and an interned *OUT
 * (free_threaded set: no GIL), or -ENOTSUP with ERR saying why.
 */
int pyver_facts_for(const struct elfimg *img, uint64_t runtime_vaddr, int major,
		    int minor, const struct py_facts **out, char *err,
		    size_t errlen);

/*
 * The pure part of it for 3.13+: ROW (may be NULL: a version without a
 * row) completed from debug offsets D into *F. Returns 0, or -ENOTSUP
 * when D's GIL is not laid out as gilscope knows it.
 */
int pyver_from_debug_offsets(const struct py_facts *row,
			     const struct py_debug_offsets *d,
			     struct py_facts *f, char *err, size_t errlen);

/*
 * The GIL at GIL_ADDR (0: not known yet) as the probes read it: where its
 * last holder and locked flag are, and PyThreadState's native_thread_id
 * (GS_OFF_NONE when F has none). One layout for the traced map and the
 * stack walker.
 */
struct gs_gil pyver_gil_layout(uint64_t gil_addr, const struct py_facts *f);

#endif /* GS_PYVER_H */
