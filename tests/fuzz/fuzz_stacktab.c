// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the stack table of a session (STACKS chunks, as
 * `gilscope flame` reads them): frames with names, files and lines, stacks
 * of frame ids, thread names, the meta record.
 *
 * An input is one or more STACKS payloads (decompressed), joined by
 * "GSFZPAY1"; they are decoded in order into one table, as the reader
 * does. Then the table is encoded again and decoded into a second one,
 * which must hold as many frames, stacks and thread names (a difference
 * aborts: a finding), and looked up as flame does. Seeds:
 * make_stacktab_corpus.py.
 *
 *   make fuzz FUZZ_TARGETS=stacktab
 *   build/fuzz/fuzz_stacktab FILE         (replay one input)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "session/stacktab.h"

#define MARKER "GSFZPAY1"

static int decode_cb(void *ctx, const void *buf, size_t len, uint32_t records)
{
	(void)records;
	return stacktab_decode(ctx, buf, len) == -EINVAL ? -1 : 0;
}

static void check_round_trip(const struct stacktab *t)
{
	struct stacktab again;

	stacktab_init(&again);
	if (stacktab_encode(t, 65536, decode_cb, &again) ||
	    again.n_frames != t->n_frames || again.n_stacks != t->n_stacks ||
	    again.n_threads != t->n_threads || again.dropped) {
		fprintf(stderr,
			"round trip: %zu/%zu frames, %zu/%zu stacks, %zu/%zu threads, %llu dropped\n",
			again.n_frames, t->n_frames, again.n_stacks,
			t->n_stacks, again.n_threads, t->n_threads,
			(unsigned long long)again.dropped);
		abort();
	}
	stacktab_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size, *next;
	struct stacktab t;

	stacktab_init(&t);
	for (; p <= end; p = next + 8) {
		next = memmem(p, end - p, MARKER, 8);
		if (!next)
			next = end;
		if (stacktab_decode(&t, p, next - p) && next == end)
			break;
	}
	for (size_t i = 0; i < t.n_stacks; i++) {
		const struct st_stack *s = &t.stacks[i];

		if (stacktab_find(&t, s->kind, s->id) == NULL)
			abort(); /* a stack that was added is found */
		stacktab_thread_name(&t, s->pid, s->pid);
	}
	check_round_trip(&t);
	stacktab_free(&t);
	return 0;
}
