// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <string.h>
#include "common/utf8.h"

int utf8_seq_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	int n;

	if (*p < 0x80)
		return *p ? 1 : 0;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef)
		n = 3;
	else if (*p >= 0xf0 && *p <= 0xf4)
		n = 4;
	else
		return 0;
	/* the second byte's range is narrower after these leads */
	if (*p == 0xe0)
		lo = 0xa0;
	else if (*p == 0xed)
		hi = 0x9f;
	else if (*p == 0xf0)
		lo = 0x90;
	else if (*p == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* The escape of the byte at P into E (at least 5 bytes), or "" */
static void escape_of(const unsigned char *p, char *e)
{
	if (*p == '\n')
		strcpy(e, "\\n");
	else if (*p == '\t')
		strcpy(e, "\\t");
	else if (*p == '\r')
		strcpy(e, "\\r");
	else if (*p < 0x20 || *p == 0x7f || !utf8_seq_len(p))
		snprintf(e, 5, "\\x%02x", *p);
	else
		e[0] = '\0';
}

/* The next piece of S to show: its escape in E (5 bytes) for one byte,
 * or E "" and the length of the valid character to copy as it is. */
static size_t next_piece(const unsigned char *p, char *e)
{
	escape_of(p, e);
	return e[0] ? strlen(e) : (size_t)utf8_seq_len(p);
}

const char *printable(char *out, size_t len, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p) {
		char e[5];
		size_t n = next_piece(p, e);

		if (o + n >= len)
			break;
		memcpy(out + o, e[0] ? e : (const char *)p, n);
		o += n;
		p += e[0] ? 1 : n;
	}
	out[o] = '\0';
	return out;
}

void fput_printable(const char *s, FILE *out)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		char e[5];
		size_t n = next_piece(p, e);

		fwrite(e[0] ? e : (const char *)p, 1, n, out);
		p += e[0] ? 1 : n;
	}
}
