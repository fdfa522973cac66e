/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Protocol buffers wire format, encode side only: varints, fixed64, strings
 * and nested messages into a growable buffer. Enough to write Perfetto
 * traces by hand without an SDK.
 *
 *   struct pb b;
 *   pb_init(&b);
 *   pb_begin(&b, 1);            a nested message in field 1
 *   pb_uint(&b, 8, 1234);       a varint field
 *   pb_end(&b);                 its length is filled in here
 *   fwrite(b.data, 1, b.len, f); pb_reset(&b);
 *   pb_free(&b);
 *
 * Out of memory is sticky: b.failed is set, later calls do nothing.
 */
#ifndef GS_PFTRACE_PB_H
#define GS_PFTRACE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_MAX_DEPTH 8
#define PB_VARINT_MAX 10

enum pb_wire {
	PB_VARINT = 0,
	PB_I64 = 1,
	PB_LEN = 2,
	PB_I32 = 5,
};

struct pb {
	uint8_t *data;
	size_t len, cap;
	int depth;
	size_t open[PB_MAX_DEPTH]; /* where each open message's length goes */
	bool failed;
};

void pb_init(struct pb *b);
void pb_free(struct pb *b);
/* Forget the content, keep the memory. */
void pb_reset(struct pb *b);

/* The varint encoding of V into OUT; returns its length (1-10). */
size_t pb_varint_encode(uint8_t out[PB_VARINT_MAX], uint64_t v);

void pb_raw(struct pb *b, const void *p, size_t n);
void pb_varint(struct pb *b, uint64_t v);
void pb_tag(struct pb *b, uint32_t field, enum pb_wire wire);

/* uint32/uint64/enum/bool fields */
void pb_uint(struct pb *b, uint32_t field, uint64_t v);
/* int32/int64 fields: negative numbers take ten bytes, as protobuf says */
void pb_int(struct pb *b, uint32_t field, int64_t v);
void pb_fixed64(struct pb *b, uint32_t field, uint64_t v);
void pb_double(struct pb *b, uint32_t field, double v);
void pb_bytes(struct pb *b, uint32_t field, const void *p, size_t n);
void pb_string(struct pb *b, uint32_t field, const char *s);

/* A nested message in FIELD, closed by pb_end. */
void pb_begin(struct pb *b, uint32_t field);
void pb_end(struct pb *b);

#endif /* GS_PFTRACE_PB_H */
