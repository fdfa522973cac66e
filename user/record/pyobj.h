/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading CPython objects from another process's memory: strings, bytes,
 * code objects (name, file, line of an instruction), a thread's frames and
 * an instance attribute. Memory comes through a callback, so that unit tests
 * can feed fake memory; the layouts come from user/record/pyver.c's table.
 * Nothing read is trusted: every length is capped, every pointer may fail.
 */
#ifndef GS_PYOBJ_H
#define GS_PYOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "record/pyver.h"

/* Read LEN bytes at ADDR: 0, or -errno. */
typedef int (*pyobj_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

struct pyobj_mem {
	pyobj_read_fn read;
	void *ctx;
	const struct py_stack_facts *f;
	uint64_t code_type; /* PyCode_Type once one code object was checked */
};

#define PYOBJ_MAX_LINETABLE (64u << 10)

struct pyobj_code {
	char name[128];
	char qualname[256];
	char file[512];
	int firstlineno;
	unsigned char *linetable; /* malloc'd, may be NULL */
	size_t linetable_len;
};

int pyobj_u64(const struct pyobj_mem *m, uint64_t addr, uint64_t *out);
/*
 * The thread id thread state TSTATE names: its native_thread_id, or (3.9,
 * 3.10) the tid in glibc's struct pthread of its thread_id, which another
 * libc lays out otherwise: then *FROM_PTHREAD is set and the caller checks
 * that it is one of the process's threads. 0: unknown.
 */
uint32_t pyobj_tstate_tid(const struct pyobj_mem *m, const struct py_facts *f,
			  uint64_t tstate, bool *from_pthread);
/* A str object as UTF-8 in OUT (cut to LEN - 1 bytes); 0 or -errno. */
int pyobj_str(const struct pyobj_mem *m, uint64_t addr, char *out, size_t len);
/* A code object (its type must be named "code"); 0 or -errno. Free with
 * pyobj_code_free. */
int pyobj_code(struct pyobj_mem *m, uint64_t addr, struct pyobj_code *c);
void pyobj_code_free(struct pyobj_code *c);
/* Line of the instruction at INSTR in code object CODE (frame's
 * prev_instr), firstlineno when unknown. */
int pyobj_code_line(const struct pyobj_code *c, const struct py_stack_facts *f,
		    int format, uint64_t code, uint64_t instr);
/* 3.11 location table: line of code unit OFFSET (-1 before the first
 * instruction gives FIRSTLINENO); -1 for an instruction without a line. */
int pyobj_linetable_line(const unsigned char *lt, size_t len, int firstlineno,
			 long offset);
/* The frame a thread is executing (its innermost), 0 if none. */
uint64_t pyobj_top_frame(const struct pyobj_mem *m, uint64_t tstate);

/* One frame as read: its code object (tag cleared), instruction (a
 * pointer, or f_lasti), the frame it returns to; shim: the interpreter's
 * own entry frame, no code of the program (3.12+), to be skipped. */
struct pyobj_frame {
	uint64_t code, instr, previous;
	bool shim;
};

int pyobj_frame(const struct pyobj_mem *m, uint64_t frame,
		struct pyobj_frame *out);
/* An object reference as a frame holds it (a _PyStackRef from 3.14). */
uint64_t pyobj_ref(const struct py_stack_facts *f, uint64_t ref);
/* The outermost frame of a thread with code (its first function), 0 if
 * none. */
uint64_t pyobj_bottom_frame(const struct pyobj_mem *m, uint64_t tstate);
/* Attribute NAME of instance OBJ when it is a str (instance dict only). */
int pyobj_attr_str(const struct pyobj_mem *m, uint64_t obj, const char *name,
		   char *out, size_t len);

#endif /* GS_PYOBJ_H */
