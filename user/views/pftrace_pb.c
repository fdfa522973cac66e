// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>
#include "views/pftrace_pb.h"

/*
 * A nested message's length is known only at its end: reserve the longest
 * length varint we accept (5 bytes, messages under 32 GiB), then move the
 * body back over what the real length did not use, so that the output is
 * the canonical (shortest) encoding.
 */
#define PB_LEN_RESERVE 5

void pb_init(struct pb *b)
{
	memset(b, 0, sizeof(*b));
}

void pb_free(struct pb *b)
{
	free(b->data);
	pb_init(b);
}

void pb_reset(struct pb *b)
{
	b->len = 0;
	b->depth = 0;
}

static bool pb_reserve(struct pb *b, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (b->failed)
		return false;
	if (b->len + n <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

size_t pb_varint_encode(uint8_t out[PB_VARINT_MAX], uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

void pb_raw(struct pb *b, const void *p, size_t n)
{
	if (!n || !pb_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void pb_varint(struct pb *b, uint64_t v)
{
	uint8_t tmp[PB_VARINT_MAX];

	pb_raw(b, tmp, pb_varint_encode(tmp, v));
}

void pb_tag(struct pb *b, uint32_t field, enum pb_wire wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

void pb_uint(struct pb *b, uint32_t field, uint64_t v)
{
	pb_tag(b, field, PB_VARINT);
	pb_varint(b, v);
}

void pb_int(struct pb *b, uint32_t field, int64_t v)
{
	pb_uint(b, field, (uint64_t)v);
}

void pb_fixed64(struct pb *b, uint32_t field, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	pb_tag(b, field, PB_I64);
	pb_raw(b, le, sizeof(le));
}

void pb_double(struct pb *b, uint32_t field, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	pb_fixed64(b, field, bits);
}

void pb_bytes(struct pb *b, uint32_t field, const void *p, size_t n)
{
	pb_tag(b, field, PB_LEN);
	pb_varint(b, n);
	pb_raw(b, p, n);
}

void pb_string(struct pb *b, uint32_t field, const char *s)
{
	pb_bytes(b, field, s, strlen(s));
}

void pb_begin(struct pb *b, uint32_t field)
{
	if (b->depth >= PB_MAX_DEPTH) {
		b->failed = true; /* a writer bug, not data: stop */
		return;
	}
	pb_tag(b, field, PB_LEN);
	if (!pb_reserve(b, PB_LEN_RESERVE))
		return;
	b->open[b->depth++] = b->len;
	b->len += PB_LEN_RESERVE;
}

void pb_end(struct pb *b)
{
	uint8_t tmp[PB_VARINT_MAX];
	size_t at, body, n;

	if (b->failed || b->depth <= 0)
		return;
	at = b->open[--b->depth];
	body = b->len - at - PB_LEN_RESERVE;
	n = pb_varint_encode(tmp, body);
	if (n > PB_LEN_RESERVE) {
		b->failed = true;
		return;
	}
	memmove(b->data + at + n, b->data + at + PB_LEN_RESERVE, body);
	memcpy(b->data + at, tmp, n);
	b->len -= PB_LEN_RESERVE - n;
}
