// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include "pyver.h"

/* The GIL's own layout is the same in 3.9-3.13 (pycore_gil.h). */
#define GIL_LAYOUT                                                          \
	.gil_last_holder = 0x08, .gil_locked = 0x10,                        \
	.gil_switch_number = 0x18, .gil_cond = 0x20, .gil_mutex = 0x50,     \
	.gil_switch_cond = 0x78, .gil_switch_mutex = 0xa8, .gil_size = 0xd0

static const struct py_facts table[] = {
	/* R+0x160 (DWARF of 3.9, bindings of 3.10) */
	{ .major = 3, .minor = 9, .gil_in_runtime = 0x160, GIL_LAYOUT },
	{ .major = 3, .minor = 10, .gil_in_runtime = 0x160, GIL_LAYOUT },
	/* DWARF of Debian's 3.11.2 and pyenv's 3.11.7 */
	{ .major = 3,
	  .minor = 11,
	  .gil_in_runtime = 0x168,
	  .tstate_native_thread_id = 0xa0,
	  GIL_LAYOUT },
};

const struct py_facts *pyver_facts(int major, int minor)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].major == major && table[i].minor == minor)
			return &table[i];
	return NULL;
}
