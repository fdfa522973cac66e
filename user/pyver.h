/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Version-specific facts about CPython, in one table: where the GIL lives and
 * its layout. Supporting a version is adding a row (shared/notes/cpython-gil.md
 * has the facts; 3.13+ also publish them in _Py_DebugOffsets).
 */
#ifndef GS_PYVER_H
#define GS_PYVER_H

#include <stdint.h>

struct py_facts {
	int major, minor;
	/* offset of struct _gil_runtime_state from &_PyRuntime; 0 when the
	 * GIL is reached through the interpreter state (3.12+) */
	uint64_t gil_in_runtime;
	/* fields of struct _gil_runtime_state */
	uint64_t gil_last_holder, gil_locked, gil_switch_number;
	uint64_t gil_cond, gil_mutex, gil_switch_cond, gil_switch_mutex;
	uint64_t gil_size;
	/* PyThreadState.native_thread_id, 0 if absent */
	uint64_t tstate_native_thread_id;
	/* Python stacks (user/stacks.c, bpf/stacks.bpf.h); stk_frame_code
	 * 0: no stack facts for this version */
	struct py_stack_facts {
		/* tstate -> cframe -> current frame (cframe_frame 0: the
		 * tstate field is the frame itself) */
		uint16_t tstate_frame, cframe_frame;
		uint16_t frame_code, frame_previous, frame_instr;
		uint16_t frame_owner, frame_localsplus;
		int owner_cstack; /* owner of C-stack shim frames, -1 none */
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
			type_cached_keys;
		uint64_t managed_dict_flag;	      /* 0: no managed dicts */
		int16_t managed_dict, managed_values; /* from the object */
		uint16_t dict_keys, dict_values;
		uint16_t keys_log2_index_bytes, keys_kind, keys_nentries;
		uint16_t keys_indices;
	} stk;
};

/* co_linetable formats */
enum { PY_LINETABLE_NONE = 0, PY_LINETABLE_311 = 1 /* PEP 626 locations */ };

/* The row for MAJOR.MINOR, or NULL when the version is not supported. */
const struct py_facts *pyver_facts(int major, int minor);

#endif /* GS_PYVER_H */
