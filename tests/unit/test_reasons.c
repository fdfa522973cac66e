// SPDX-License-Identifier: GPL-2.0
/*
 * The reasons' table (user/common/reasons.c) is what every view says of a
 * blocking reason: its rows are whole and distinct, and the views read them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/reasons.h"
#include "analysis/analysis.h"
#include "views/timeline_page.h"

static void test_rows_are_whole_and_distinct(void **state)
{
	(void)state;
	for (int r = 0; r < GS_R_COUNT; r++) {
		const struct gs_reason_info *a = reason_info(r);
		char label[64];

		assert_non_null(a->key);
		assert_non_null(a->flame);
		assert_non_null(a->help);
		assert_int_equal(strlen(a->colour), 7);
		assert_int_equal(a->colour[0], '#');
		assert_true(a->flame[0] == '[' && strchr(a->flame, ']'));
		snprintf(label, sizeof(label), "blocked: %s", a->key);
		assert_string_equal(a->label, label);
		for (int q = 0; q < r; q++) {
			assert_string_not_equal(reason_info(q)->key, a->key);
			assert_string_not_equal(reason_info(q)->colour,
						a->colour);
			assert_string_not_equal(reason_info(q)->flame,
						a->flame);
		}
	}
	assert_ptr_equal(reason_info(GS_R_COUNT), reason_info(GS_R_OTHER));
	assert_ptr_equal(reason_info((enum gs_reason) - 1),
			 reason_info(GS_R_OTHER));
	assert_string_equal(reason_name(GS_R_SLEEP), "sleep");
}

/* A blocked slice is named by its reason's row. */
static void test_slice_names_read_the_table(void **state)
{
	struct an_slice s = { .kind = AN_SLICE_BLOCKED };

	(void)state;
	for (int r = 0; r <= GS_R_COUNT; r++) {
		s.reason = r;
		assert_string_equal(an_slice_name(&s), reason_info(r)->label);
	}
}

/* The HTML page's colours and legend have every reason's row. */
static void test_page_states_read_the_table(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	tl_page_write_states(f);
	fclose(f);
	for (int r = 0; r < GS_R_COUNT; r++) {
		const struct gs_reason_info *a = reason_info(r);
		char want[160];

		snprintf(want, sizeof(want), "'%s': '%s'", a->label, a->colour);
		assert_non_null(strstr(buf, want));
		snprintf(want, sizeof(want), "'%s': '%s'", a->label, a->help);
		assert_non_null(strstr(buf, want));
	}
	assert_non_null(strstr(buf, "'GIL held': '#2ca02c'"));
	assert_non_null(strstr(buf, "'unknown': 'not known'\n};\n"));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_are_whole_and_distinct),
		cmocka_unit_test(test_slice_names_read_the_table),
		cmocka_unit_test(test_page_states_read_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
