/* SPDX-License-Identifier: GPL-2.0 */
/* A small streaming JSON writer: objects, arrays, escaped strings. */
#ifndef GS_JSON_H
#define GS_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE *out;
	int depth;
	bool need_comma[JSON_MAX_DEPTH];
};

/*
 * S as a JSON string, the one escaper of every JSON gilscope writes: '"',
 * '\\' and control characters escaped, valid UTF-8 copied, and any byte
 * that is not part of valid UTF-8 (a thread's or file's name is any bytes)
 * written as the Latin-1 character of the same value (\u00XX), so that the
 * output is always valid JSON. JSON_HTML_SAFE escapes '<', '>' and '&' too,
 * for a string inside an HTML <script> element.
 */
#define JSON_HTML_SAFE 1u
void json_put_string(FILE *out, const char *s, unsigned int flags);

void json_init(struct json *j, FILE *out);
/* KEY is NULL inside arrays and at the top. */
void json_begin_object(struct json *j, const char *key);
void json_end_object(struct json *j);
void json_begin_array(struct json *j, const char *key);
void json_end_array(struct json *j);
void json_string(struct json *j, const char *key, const char *val);
void json_u64(struct json *j, const char *key, uint64_t val);
void json_double(struct json *j, const char *key, double val);
void json_bool(struct json *j, const char *key, bool val);
void json_null(struct json *j, const char *key);

#endif /* GS_JSON_H */
