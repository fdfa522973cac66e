// SPDX-License-Identifier: GPL-2.0
#include <math.h>
#include "common/json.h"
#include "common/utf8.h"

void json_init(struct json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->need_comma[0] = false;
}

static bool needs_unicode_escape(unsigned char c, unsigned int flags)
{
	if (c < 0x20 || c == 0x7f)
		return true;
	return (flags & JSON_HTML_SAFE) && (c == '<' || c == '>' || c == '&');
}

void json_put_string(FILE *out, const char *s, unsigned int flags)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) {
			int n = utf8_seq_len(p);

			/* JSON is UTF-8: a stray byte (a comm is any bytes)
			 * becomes the Latin-1 character of the same value */
			if (!n) {
				fprintf(out, "\\u%04x", *p);
				continue;
			}
			fwrite(p, 1, n, out);
			p += n - 1;
			continue;
		}
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (needs_unicode_escape(*p, flags))
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* Comma, newline, indentation and the key of the next value. */
static void prefix(struct json *j, const char *key)
{
	if (j->need_comma[j->depth])
		fputc(',', j->out);
	if (j->depth)
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	j->need_comma[j->depth] = true;
	if (key) {
		json_put_string(j->out, key, 0);
		fputs(": ", j->out);
	}
}

static void open_scope(struct json *j, const char *key, char c)
{
	prefix(j, key);
	fputc(c, j->out);
	if (j->depth < JSON_MAX_DEPTH - 1)
		j->depth++;
	j->need_comma[j->depth] = false;
}

static void close_scope(struct json *j, char c)
{
	bool had = j->need_comma[j->depth];

	if (j->depth)
		j->depth--;
	if (had)
		fprintf(j->out, "\n%*s", 2 * j->depth, "");
	fputc(c, j->out);
	if (!j->depth)
		fputc('\n', j->out);
}

void json_begin_object(struct json *j, const char *key)
{
	open_scope(j, key, '{');
}

void json_end_object(struct json *j)
{
	close_scope(j, '}');
}

void json_begin_array(struct json *j, const char *key)
{
	open_scope(j, key, '[');
}

void json_end_array(struct json *j)
{
	close_scope(j, ']');
}

void json_string(struct json *j, const char *key, const char *val)
{
	prefix(j, key);
	json_put_string(j->out, val ? val : "", 0);
}

void json_u64(struct json *j, const char *key, uint64_t val)
{
	prefix(j, key);
	fprintf(j->out, "%llu", (unsigned long long)val);
}

void json_double(struct json *j, const char *key, double val)
{
	prefix(j, key);
	if (isfinite(val))
		fprintf(j->out, "%.6g", val);
	else
		fputs("null", j->out);
}

void json_bool(struct json *j, const char *key, bool val)
{
	prefix(j, key);
	fputs(val ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
	prefix(j, key);
	fputs("null", j->out);
}
