// SPDX-License-Identifier: GPL-2.0
/* The output formats' table (user/cmd/formats.c): suffix to row, help. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cmd/formats.h"

static const struct out_format table[] = {
	{ .suffixes = { ".svg" }, .help = "a picture" },
	{ .suffixes = { ".speedscope.json" }, .help = "speedscope" },
	{ .suffixes = { ".json", ".js" }, .help = "plain JSON" },
	{ .suffixes = { ".pb.gz", ".pprof" }, .help = "pprof" },
};

static void test_suffix_chooses_the_row(void **state)
{
	size_t n = N_FORMATS(table);

	(void)state;
	assert_ptr_equal(out_format_of(table, n, "a.svg"), &table[0]);
	assert_ptr_equal(out_format_of(table, n, "A.SVG"), &table[0]);
	/* the first row that matches: its order decides */
	assert_ptr_equal(out_format_of(table, n, "x.speedscope.json"),
			 &table[1]);
	assert_ptr_equal(out_format_of(table, n, "x.json"), &table[2]);
	assert_ptr_equal(out_format_of(table, n, "x.js"), &table[2]);
	assert_ptr_equal(out_format_of(table, n, "x.pprof"), &table[3]);
	assert_ptr_equal(out_format_of(table, n, "x.pb.gz"), &table[3]);
	assert_null(out_format_of(table, n, "x.gz"));
	assert_null(out_format_of(table, n, ".svg")); /* no name before it */
	assert_null(out_format_of(table, n, "svg"));
}

static void test_help_lists_the_rows(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	out_formats_help(f, table, N_FORMATS(table));
	fclose(f);
	assert_string_equal(buf, "  .svg              a picture\n"
				 "  .speedscope.json  speedscope\n"
				 "  .json             plain JSON\n"
				 "  .pb.gz            pprof\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suffix_chooses_the_row),
		cmocka_unit_test(test_help_lists_the_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
