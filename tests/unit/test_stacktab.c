// SPDX-License-Identifier: GPL-2.0
/* Thread names of the stack table (user/session/stacktab.c), by index. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "session/stacktab.h"

#define N 40000

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
		cmocka_unit_test(test_many_thread_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
