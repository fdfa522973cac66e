/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the recorder reads of a live interpreter, as one walk over memory
 * (user/record/stacks.c's scan, name and stack walks, through user/record/pyobj.c):
 * shared by the pymem fuzz target and the tool that captures its seeds
 * from a real process.
 */
#ifndef GS_PYMEM_WALK_H
#define GS_PYMEM_WALK_H

#include <stdint.h>
#include "record/pyobj.h"

/*
 * The input's header: "GSMEM1\0\0", the minor version, how the program
 * scribbles over its memory while it is read (every SCRIBBLE_EVERY-th read,
 * 0 never, gets its first byte XORed with SCRIBBLE_XOR: a value that
 * changes between two reads of it), _PyRuntime.
 */
#define PYMEM_MAGIC "GSMEM1\0"
struct pymem_header {
	char magic[8];
	uint8_t minor;
	uint8_t scribble_every, scribble_xor;
	uint8_t pad[5];
	uint64_t runtime;
};

/* region records follow: address, length, bytes */
struct pymem_region {
	uint64_t addr;
	uint32_t len;
} __attribute__((packed));

/* Facts for 3.MINOR with stack facts, else 3.11's. */
const struct py_facts *pymem_facts(int minor);

/*
 * Walk the interpreters and threads from RUNTIME: each thread's Python
 * name, its frames with their code objects (names, file, line table) and
 * lines. Returns how many frames were named.
 */
int pymem_walk(struct pyobj_mem *m, const struct py_facts *f, uint64_t runtime);

#endif /* GS_PYMEM_WALK_H */
