// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include "pyver.h"

/* The GIL's own layout is the same in 3.9-3.13 (pycore_gil.h). */
#define GIL_LAYOUT                                                      \
	.gil_last_holder = 0x08, .gil_locked = 0x10,                    \
	.gil_switch_number = 0x18, .gil_cond = 0x20, .gil_mutex = 0x50, \
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
	  GIL_LAYOUT,
	  /* DWARF of Debian's 3.11.2 (python3.11-dbg) */
	  .stk = {
		  .tstate_frame = 0x38, .cframe_frame = 0x08,
		  .frame_code = 0x20, .frame_previous = 0x30,
		  .frame_instr = 0x38, .frame_owner = 0x45,
		  .frame_localsplus = 0x48, .owner_cstack = -1,
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
		  .dict_values = 0x28, .keys_log2_index_bytes = 0x09,
		  .keys_kind = 0x0a, .keys_nentries = 0x18,
		  .keys_indices = 0x20,
	  } },
};

const struct py_facts *pyver_facts(int major, int minor)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].major == major && table[i].minor == minor)
			return &table[i];
	return NULL;
}
