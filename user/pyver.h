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
};

/* The row for MAJOR.MINOR, or NULL when the version is not supported. */
const struct py_facts *pyver_facts(int major, int minor);

#endif /* GS_PYVER_H */
