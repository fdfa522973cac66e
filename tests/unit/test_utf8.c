// SPDX-License-Identifier: GPL-2.0
/*
 * Names are any bytes: the one JSON escaper writes valid JSON (and keeps
 * valid UTF-8 as it is) whatever they hold, and printable() (fput_printable()
 * uncut) shows a command on one line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "common/json.h"
#include "common/utf8.h"

static char *escaped(const char *s, unsigned int flags)
{
	char *buf = NULL;
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	json_put_string(out, s, flags);
	assert_int_equal(fclose(out), 0);
	return buf;
}

static void expect_json(const char *s, unsigned int flags, const char *want)
{
	char *got = escaped(s, flags);

	assert_string_equal(got, want);
	free(got);
}

static void test_sequence_lengths(void **state)
{
	(void)state;
	assert_int_equal(utf8_seq_len((const unsigned char *)"a"), 1);
	assert_int_equal(utf8_seq_len((const unsigned char *)""), 0);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xc3\xa9"), 2);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac"),
			 3);
	assert_int_equal(
		utf8_seq_len((const unsigned char *)"\xf0\x9f\x90\x8d"), 4);
	/* a lone continuation, an overlong '/', a surrogate (U+DCFF, what
	 * Python's surrogateescape makes of a byte 0xff), past U+10FFFF, a
	 * sequence cut by the end of the string */
	assert_int_equal(utf8_seq_len((const unsigned char *)"\x80"), 0);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xc0\xaf"), 0);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xed\xb3\xbf"),
			 0);
	assert_int_equal(
		utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80"), 0);
	assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82"), 0);
}

static void test_json_keeps_utf8_and_escapes_the_rest(void **state)
{
	(void)state;
	expect_json("caf\xc3\xa9 \xe2\x82\xac", 0,
		    "\"caf\xc3\xa9 \xe2\x82\xac\"");
	/* every byte outside valid UTF-8 as the Latin-1 character */
	expect_json("w\xff\xfe", 0, "\"w\\u00ff\\u00fe\"");
	expect_json("f\xed\xb3\xbf.py", 0, "\"f\\u00ed\\u00b3\\u00bf.py\"");
	expect_json("cut \xe2\x82", 0, "\"cut \\u00e2\\u0082\"");
	expect_json("a\"b\\c\nd\te\x01\x7f", 0,
		    "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");
	expect_json("<module> & </script>", 0, "\"<module> & </script>\"");
	expect_json("<module> & </script>", JSON_HTML_SAFE,
		    "\"\\u003cmodule\\u003e \\u0026 \\u003c/script\\u003e\"");
}

static void test_printable(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(printable(buf, sizeof(buf), "python3 x.py"),
			    "python3 x.py");
	assert_string_equal(printable(buf, sizeof(buf),
				      "python3 -c import os\nos.getpid()\t\r"),
			    "python3 -c import os\\nos.getpid()\\t\\r");
	assert_string_equal(printable(buf, sizeof(buf),
				      "\x1b[2Jcaf\xc3\xa9 \xff\x7f"),
			    "\\x1b[2Jcaf\xc3\xa9 \\xff\\x7f");
	/* cut at the buffer, never inside an escape or a character */
	assert_string_equal(printable(buf, 6, "abcd\n"), "abcd");
	assert_string_equal(printable(buf, 5, "ab\xc3\xa9"), "ab\xc3\xa9");
	assert_string_equal(printable(buf, 4, "ab\xc3\xa9"), "ab");
	assert_string_equal(printable(buf, 1, "abc"), "");
}

/* fput_printable(): the same escapes, uncut (dump's process lines) */
static void test_fput_printable(void **state)
{
	char *buf = NULL, big[600], want[1200];
	size_t len;
	FILE *out = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(out);
	memset(big, 'a', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	fput_printable("x\ny\xff\xc3\xa9", out);
	fput_printable(big, out);
	assert_int_equal(fclose(out), 0);
	snprintf(want, sizeof(want), "x\\ny\\xff\xc3\xa9%.*s\\n",
		 (int)sizeof(big) - 2, big);
	assert_string_equal(buf, want);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_lengths),
		cmocka_unit_test(test_json_keeps_utf8_and_escapes_the_rest),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_fput_printable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
