/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stack table of a session: frames (a Python function with file and
 * line, a native symbol with its module), the interned stacks BPF named by
 * id, and the threads' Python names. The recorder fills it as stacks
 * arrive and writes it as STACKS chunks; `gilscope flame` reads it back.
 * Encoding: docs/flamegraphs.md.
 */
#ifndef GS_STACKTAB_H
#define GS_STACKTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/kv.h"

enum st_frame_kind {
	ST_PYTHON = 1, /* name = qualified function name, file, line */
	ST_NATIVE = 2, /* name = symbol or module+0xoffset, file = module */
	ST_SYNTH = 3,  /* made up by gilscope: [GIL wait], [sleep] ... */
};

struct st_frame {
	char *name;
	char *file;
	int32_t line;
	uint8_t kind;
};

struct st_stack {
	uint64_t id;
	uint32_t pid;
	uint32_t flags; /* GS_STACKF_* */
	uint8_t kind;	/* GS_SREC_PYTHON or GS_SREC_NATIVE */
	uint32_t n;
	uint32_t *fids; /* root first */
};

struct st_thread {
	uint32_t pid, tid;
	char *name;
};

struct stacktab {
	struct st_frame *frames;
	size_t n_frames, cap_frames;
	uint32_t *frame_slots; /* open addressing: fid + 1, 0 empty */
	size_t frame_slot_cap;
	struct st_stack *stacks;
	size_t n_stacks, cap_stacks;
	uint32_t *stack_slots;
	size_t stack_slot_cap;
	struct st_thread *threads; /* one per (pid, tid) */
	size_t n_threads, cap_threads;
	uint32_t *thread_slots; /* open addressing by (pid, tid): index + 1 */
	size_t thread_slot_cap;
	struct kv_list meta;
	size_t frames_written; /* stacktab_flush: frames before this went out */
	uint64_t dropped;      /* decoded records that were malformed */
	/* decoding: the writer's frame ids -> ours (+1, 0 unknown) */
	uint32_t *remap;
	size_t remap_cap;
};

void stacktab_init(struct stacktab *t);
void stacktab_free(struct stacktab *t);

/* The frame's id (interned), or -1 without memory. FILE may be NULL. */
int64_t stacktab_frame(struct stacktab *t, uint8_t kind, const char *name,
		       const char *file, int32_t line);
/* Add a stack (FIDS root first; copied). An id seen before is kept as
 * it was. 0, or -errno. */
int stacktab_add_stack(struct stacktab *t, uint8_t kind, uint64_t id,
		       uint32_t pid, uint32_t flags, const uint32_t *fids,
		       uint32_t n);
const struct st_stack *stacktab_find(const struct stacktab *t, uint8_t kind,
				     uint64_t id);
int stacktab_set_thread(struct stacktab *t, uint32_t pid, uint32_t tid,
			const char *name);
/* The Python name of thread TID of process PID (the newest), or NULL. */
const char *stacktab_thread_name(const struct stacktab *t, uint32_t pid,
				 uint32_t tid);

/* Encode the whole table as one or more payloads of at most about
 * MAX_BYTES each (records are never split); CB gets each one. */
int stacktab_encode(const struct stacktab *t, size_t max_bytes,
		    int (*cb)(void *ctx, const void *buf, size_t len,
			      uint32_t records),
		    void *ctx);
/*
 * For a writer that writes as it goes: encode what was added since the last
 * flush (the frames not written yet, the stacks, the thread names and the
 * meta record), then forget all but the frames, which later stacks name.
 * A stack id added again after a flush is written again; readers keep the
 * first. The payloads of successive flushes, decoded in order, give the
 * table that stacktab_encode() would have given. 0 or CB's error.
 */
int stacktab_flush(struct stacktab *t, size_t max_bytes,
		   int (*cb)(void *ctx, const void *buf, size_t len,
			     uint32_t records),
		   void *ctx);
/* Records waiting for stacktab_flush() (stacks and names). */
static inline size_t stacktab_pending(const struct stacktab *t)
{
	return t->n_stacks + t->n_threads;
}
/* Add what one payload holds. Frames named by a payload before must have
 * been decoded earlier (the writer puts every frame before its first use).
 * Returns 0 or -EINVAL for a payload that is not a stack table; malformed
 * records are skipped and counted in t->dropped. */
int stacktab_decode(struct stacktab *t, const void *buf, size_t len);

void stacktab_frame_text(const struct st_frame *f, char *out, size_t len);
void stacktab_one_line(char *s);

#endif /* GS_STACKTAB_H */
