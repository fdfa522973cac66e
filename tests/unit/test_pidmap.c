// SPDX-License-Identifier: GPL-2.0
/*
 * The recorder's map of live processes: what is put is found, what is
 * removed is gone while everything else stays findable (removal shifts
 * entries back), and a long churn of processes leaves the map no bigger
 * than the most that were alive at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "common/pidmap.h"

#define IDS 5000

static void test_put_get_remove(void **state)
{
	struct pidmap m = {};
	int vals[3];

	(void)state;
	assert_null(pidmap_get(&m, 1));
	assert_null(pidmap_remove(&m, 1));
	assert_int_equal(pidmap_put(&m, 1, &vals[0]), 0);
	assert_int_equal(pidmap_put(&m, -7, &vals[1]), 0);
	assert_int_equal(pidmap_put(&m, 1, &vals[2]), 0); /* replaced */
	assert_int_equal(m.n, 2);
	assert_ptr_equal(pidmap_get(&m, 1), &vals[2]);
	assert_ptr_equal(pidmap_get(&m, -7), &vals[1]);
	assert_ptr_equal(pidmap_remove(&m, 1), &vals[2]);
	assert_null(pidmap_get(&m, 1));
	assert_ptr_equal(pidmap_get(&m, -7), &vals[1]);
	assert_int_equal(m.n, 1);
	pidmap_free(&m);
}

/* Random puts and removes against a plain array of what should be there. */
static void test_churn_matches_a_reference(void **state)
{
	static int present[IDS];
	struct pidmap m = {};
	size_t live = 0, seen, pos;
	unsigned int seed = 12345;

	(void)state;
	for (int round = 0; round < 400000; round++) {
		int id = rand_r(&seed) % IDS;

		if (present[id]) {
			assert_ptr_equal(pidmap_remove(&m, id), &present[id]);
			present[id] = 0;
			live--;
		} else {
			assert_int_equal(pidmap_put(&m, id, &present[id]), 0);
			present[id] = 1;
			live++;
		}
		if (round % 50000)
			continue;
		for (int k = 0; k < IDS; k++)
			assert_ptr_equal(pidmap_get(&m, k),
					 present[k] ? &present[k] : NULL);
	}
	assert_int_equal(m.n, live);
	for (pos = 0, seen = 0; pidmap_next(&m, &pos);)
		seen++;
	assert_int_equal(seen, live);
	pidmap_free(&m);
}

/* A million processes, at most 100 alive: the table stays small. */
static void test_bounded_by_the_live_ones(void **state)
{
	struct pidmap m = {};
	int val;

	(void)state;
	for (int32_t pid = 1; pid <= 1000000; pid++) {
		assert_int_equal(pidmap_put(&m, pid, &val), 0);
		if (pid > 100)
			assert_ptr_equal(pidmap_remove(&m, pid - 100), &val);
	}
	assert_int_equal(m.n, 100);
	assert_true(m.cap <= 256);
	for (int32_t pid = 1000000 - 99; pid <= 1000000; pid++)
		assert_ptr_equal(pidmap_get(&m, pid), &val);
	pidmap_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_remove),
		cmocka_unit_test(test_churn_matches_a_reference),
		cmocka_unit_test(test_bounded_by_the_live_ones),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
