// SPDX-License-Identifier: GPL-2.0
/*
 * The stack table (user/session/stacktab.c): its encoding, written whole or
 * flushed as it goes, damaged payloads, and thread names by index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "stackrec.h"
#include "session/stacktab.h"

#define N 40000

/* ------------------------------------------------------------ stack table */

static int collect(void *ctx, const void *buf, size_t len, uint32_t records)
{
	struct stacktab *into = ctx;

	assert_true(records > 0);
	return stacktab_decode(into, buf, len);
}

static int count_payloads(void *ctx, const void *buf, size_t len,
			  uint32_t records)
{
	(void)buf;
	(void)len;
	(void)records;
	++*(int *)ctx;
	return 0;
}

static void test_stacktab_round_trip(void **state)
{
	struct stacktab t, back;
	uint32_t fids[3];
	const struct st_stack *s;
	int payloads = 0;

	(void)state;
	stacktab_init(&t);
	stacktab_init(&back);
	fids[0] = stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py", 10);
	fids[1] = stacktab_frame(&t, ST_PYTHON, "Worker.run", "/x/app.py", 22);
	fids[2] = stacktab_frame(&t, ST_NATIVE, "read", "libc.so.6", 0);
	/* interned: the same frame twice is one id */
	assert_int_equal(stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py", 10),
			 fids[0]);
	assert_int_not_equal(stacktab_frame(&t, ST_PYTHON, "main", "/x/app.py",
					    11),
			     fids[0]);
	assert_int_equal(stacktab_add_stack(&t, GS_SREC_PYTHON, 0xabc, 7,
					    GS_STACKF_TRUNCATED, fids, 2),
			 0);
	assert_int_equal(stacktab_add_stack(&t, GS_SREC_NATIVE, 0xabc, 7, 0,
					    fids + 2, 1),
			 0);
	for (int i = 0; i < 2000; i++) {
		uint32_t one = stacktab_frame(&t, ST_PYTHON, "f", "g.py", i);

		assert_int_equal(stacktab_add_stack(&t, GS_SREC_PYTHON,
						    1000 + i, 7, 0, &one, 1),
				 0);
	}
	assert_int_equal(stacktab_set_thread(&t, 7, 8, "worker-1"), 0);
	assert_int_equal(stacktab_set_thread(&t, 7, 8, "worker-2"), 0);
	kv_set(&t.meta, "sample_hz", "99");

	/* small payloads: a table in many chunks reads back whole */
	assert_int_equal(stacktab_encode(&t, 4096, count_payloads, &payloads),
			 0);
	assert_true(payloads > 5);
	assert_int_equal(stacktab_encode(&t, 4096, collect, &back), 0);
	assert_int_equal(back.dropped, 0);
	assert_int_equal(back.n_stacks, t.n_stacks);
	s = stacktab_find(&back, GS_SREC_PYTHON, 0xabc);
	assert_non_null(s);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->flags, GS_STACKF_TRUNCATED);
	assert_string_equal(back.frames[s->fids[1]].name, "Worker.run");
	assert_int_equal(back.frames[s->fids[1]].line, 22);
	s = stacktab_find(&back, GS_SREC_NATIVE, 0xabc);
	assert_non_null(s);
	assert_string_equal(back.frames[s->fids[0]].file, "libc.so.6");
	assert_null(stacktab_find(&back, GS_SREC_PYTHON, 0xdead0000));
	assert_string_equal(stacktab_thread_name(&back, 7, 8), "worker-2");
	assert_string_equal(kv_get(&back.meta, "sample_hz"), "99");
	stacktab_free(&t);
	stacktab_free(&back);
}

/* The table a recorder writes as it goes, in three flushes: an old frame
 * and a new one, a tid named again, an id sent again. */
static void flush_in_three(struct stacktab *t,
			   int (*cb)(void *, const void *, size_t, uint32_t),
			   void *ctx)
{
	uint32_t fids[2];

	fids[0] = stacktab_frame(t, ST_PYTHON, "main", "app.py", 1);
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 1, 7, 0, fids, 1), 0);
	assert_int_equal(stacktab_set_thread(t, 7, 8, "first"), 0);
	assert_int_equal(stacktab_pending(t), 2);
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
	/* only the frames stay */
	assert_int_equal(stacktab_pending(t), 0);
	assert_int_equal(t->n_frames, 1);
	assert_int_equal(stacktab_frame(t, ST_PYTHON, "main", "app.py", 1),
			 fids[0]);
	fids[1] = stacktab_frame(t, ST_PYTHON, "work", "app.py", 5);
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 2, 7, 0, fids, 2), 0);
	/* sent again after its flush */
	assert_int_equal(
		stacktab_add_stack(t, GS_SREC_PYTHON, 1, 7, 0, fids, 1), 0);
	assert_int_equal(stacktab_set_thread(t, 7, 8, "second"), 0);
	kv_set(&t->meta, "sample_hz", "99");
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
	assert_int_equal(t->meta.n, 0);
	/* nothing pending: nothing written */
	assert_int_equal(stacktab_flush(t, 1 << 20, cb, ctx), 0);
}

/* Read in order, the payloads of successive flushes give the whole table. */
static void test_stacktab_flush(void **state)
{
	struct stacktab t, back;
	const struct st_stack *s;
	int payloads = 0;

	(void)state;
	stacktab_init(&t);
	flush_in_three(&t, count_payloads, &payloads);
	assert_int_equal(payloads, 2);
	stacktab_free(&t);

	stacktab_init(&t);
	stacktab_init(&back);
	flush_in_three(&t, collect, &back);
	assert_int_equal(back.dropped, 0);
	assert_int_equal(back.n_stacks, 2);
	s = stacktab_find(&back, GS_SREC_PYTHON, 2);
	assert_non_null(s);
	assert_int_equal(s->n, 2);
	assert_string_equal(back.frames[s->fids[0]].name, "main");
	assert_string_equal(back.frames[s->fids[1]].name, "work");
	assert_string_equal(stacktab_thread_name(&back, 7, 8), "second");
	assert_string_equal(kv_get(&back.meta, "sample_hz"), "99");
	stacktab_free(&t);
	stacktab_free(&back);
}

struct kept {
	unsigned char **buf;
	size_t *len;
};

static int keep(void *ctx, const void *data, size_t n, uint32_t records)
{
	struct kept *k = ctx;

	(void)records;
	*k->buf = malloc(n);
	memcpy(*k->buf, data, n);
	*k->len = n;
	return 0;
}

/* Whatever the bytes, decoding never reads past them nor crashes. */
static void test_stacktab_damage(void **state)
{
	struct stacktab t, back;
	unsigned char *buf = NULL;
	size_t len = 0;
	uint32_t fid;

	(void)state;
	stacktab_init(&t);
	fid = stacktab_frame(&t, ST_PYTHON, "main", "app.py", 1);
	stacktab_add_stack(&t, GS_SREC_PYTHON, 5, 1, 0, &fid, 1);
	stacktab_set_thread(&t, 1, 2, "w");
	{
		struct kept out = { &buf, &len };

		assert_int_equal(stacktab_encode(&t, 1 << 20, keep, &out), 0);
	}
	for (size_t cut = 0; cut < len; cut++) {
		stacktab_init(&back);
		stacktab_decode(&back, buf, cut);
		stacktab_free(&back);
	}
	srand(1);
	for (int round = 0; round < 2000; round++) {
		unsigned char *copy = malloc(len);

		memcpy(copy, buf, len);
		copy[8 + rand() % (len - 8)] ^= 1 << (rand() % 8);
		stacktab_init(&back);
		stacktab_decode(&back, copy, len);
		stacktab_free(&back);
		free(copy);
	}
	stacktab_init(&back);
	assert_int_equal(stacktab_decode(&back, "nope", 4), -22);
	stacktab_free(&back);
	free(buf);
	stacktab_free(&t);
}

/* ------------------------------------------------------------ thread names */

static int count(void *ctx, const void *buf, size_t len, uint32_t records)
{
	(void)buf;
	(void)len;
	*(uint32_t *)ctx += records;
	return 0;
}

/*
 * 40 000 threads of 200 processes (each tid in two processes, as reused
 * ids are): each found by (pid, tid), a name set again replaces it, and a
 * flush forgets them all. Linear searches took N^2 / 2 = 8e8 comparisons;
 * the index takes well under a second even under the sanitizers.
 */
static void test_many_thread_names(void **state)
{
	struct stacktab t;
	char name[32];
	uint32_t records = 0;
	clock_t start = clock();

	(void)state;
	stacktab_init(&t);
	for (uint32_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "w-%u", i);
		assert_int_equal(stacktab_set_thread(&t, 1000 + i % 200, i / 2,
						     name),
				 0);
	}
	assert_int_equal(t.n_threads, N);
	for (uint32_t i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "w-%u", i);
		assert_string_equal(
			stacktab_thread_name(&t, 1000 + i % 200, i / 2), name);
	}
	assert_null(stacktab_thread_name(&t, 999, 0));
	assert_null(stacktab_thread_name(&t, 1000, 1)); /* pid 1001's */
	assert_int_equal(stacktab_set_thread(&t, 1001, 0, "again"), 0);
	assert_int_equal(t.n_threads, N);
	assert_string_equal(stacktab_thread_name(&t, 1001, 0), "again");
	assert_true(clock() - start < 5 * CLOCKS_PER_SEC);

	assert_int_equal(stacktab_flush(&t, 1 << 20, count, &records), 0);
	assert_true(records >= N);
	assert_null(stacktab_thread_name(&t, 1001, 0));
	assert_int_equal(stacktab_set_thread(&t, 1001, 0, "after"), 0);
	assert_string_equal(stacktab_thread_name(&t, 1001, 0), "after");
	stacktab_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stacktab_round_trip),
		cmocka_unit_test(test_stacktab_damage),
		cmocka_unit_test(test_stacktab_flush),
		cmocka_unit_test(test_many_thread_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
