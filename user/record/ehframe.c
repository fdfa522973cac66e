// SPDX-License-Identifier: GPL-2.0
/*
 * Function bounds from .eh_frame_hdr's sorted table of (function start, FDE)
 * pairs: a binary search finds the last start at or below an address, and
 * that FDE's pc_range says where the function ends. Only the few fields on
 * the way are decoded (the CIE's augmentation for the FDE pointer encoding);
 * the unwind instructions are not.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "record/ehframe.h"
#include "record/elfimg.h"

#define EH_VERSION 1
#define EH_OMIT 0xff
/* pointer encodings (DW_EH_PE_*): value format in the low bits */
#define PE_FORMAT 0x0f
#define PE_ABSPTR 0x00
#define PE_ULEB128 0x01
#define PE_UDATA2 0x02
#define PE_UDATA4 0x03
#define PE_UDATA8 0x04
#define PE_SLEB128 0x09
#define PE_SDATA2 0x0a
#define PE_SDATA4 0x0b
#define PE_SDATA8 0x0c
/* ... and what it is relative to in the high ones */
#define PE_APPL 0x70
#define PE_PCREL 0x10
#define PE_DATAREL 0x30
/* the table encoding GNU ld writes: 4-byte offsets from the header */
#define TABLE_DATAREL_SDATA4 (PE_DATAREL | PE_SDATA4)
#define MAX_FDES (1u << 24)
#define RECORD_HEAD 64 /* bytes of a CIE or FDE read: more than decoded */

/* A little-endian cursor over bytes read from the file at VADDR. */
struct cursor {
	const uint8_t *p, *end;
	uint64_t vaddr; /* of p */
	bool bad;
};

static const uint8_t *take(struct cursor *c, size_t n)
{
	const uint8_t *at = c->p;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->vaddr += n;
	return at;
}

static uint64_t get_uint(struct cursor *c, size_t n)
{
	const uint8_t *b = take(c, n);
	uint64_t v = 0;

	for (size_t i = 0; b && i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static int64_t get_sint(struct cursor *c, size_t n)
{
	uint64_t v = get_uint(c, n);

	if (n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~0ull << (8 * n);
	return (int64_t)v;
}

static uint64_t get_leb(struct cursor *c, bool is_signed)
{
	uint64_t v = 0;
	unsigned int shift = 0;
	const uint8_t *b;

	do {
		b = take(c, 1);
		if (!b)
			return 0;
		if (shift < 64)
			v |= (uint64_t)(*b & 0x7f) << shift;
		shift += 7;
	} while (*b & 0x80);
	if (is_signed && shift < 64 && (*b & 0x40))
		v |= ~0ull << shift;
	return v;
}

/* A value in encoding ENC; BASE is what DATAREL values are relative to. */
static uint64_t get_encoded(struct cursor *c, uint8_t enc, uint64_t base)
{
	uint64_t at = c->vaddr, v;

	switch (enc & PE_FORMAT) {
	case PE_ABSPTR:
	case PE_UDATA8:
		v = get_uint(c, 8);
		break;
	case PE_ULEB128:
		v = get_leb(c, false);
		break;
	case PE_UDATA2:
		v = get_uint(c, 2);
		break;
	case PE_UDATA4:
		v = get_uint(c, 4);
		break;
	case PE_SLEB128:
		v = get_leb(c, true);
		break;
	case PE_SDATA2:
		v = (uint64_t)get_sint(c, 2);
		break;
	case PE_SDATA4:
		v = (uint64_t)get_sint(c, 4);
		break;
	case PE_SDATA8:
		v = get_uint(c, 8);
		break;
	default:
		c->bad = true;
		return 0;
	}
	switch (enc & PE_APPL) {
	case 0:
		return v;
	case PE_PCREL:
		return at + v;
	case PE_DATAREL:
		return base + v;
	}
	c->bad = true;
	return 0;
}

/* Read up to RECORD_HEAD bytes at VADDR into BUF (fewer at the file's end). */
static int cursor_at(const struct elfimg *img, uint64_t vaddr, uint8_t *buf,
		     size_t len, struct cursor *c)
{
	while (len && elfimg_read_vaddr(img, vaddr, buf, len))
		len /= 2;
	if (!len)
		return -EINVAL;
	*c = (struct cursor){ .p = buf, .end = buf + len, .vaddr = vaddr };
	return 0;
}

/* The FDE pointer encoding of the CIE at VADDR ('R' in its augmentation). */
static int cie_fde_encoding(const struct elfimg *img, uint64_t vaddr,
			    uint8_t *enc)
{
	uint8_t buf[RECORD_HEAD];
	const uint8_t *aug, *b;
	struct cursor c;
	uint32_t len;
	size_t n;

	if (cursor_at(img, vaddr, buf, sizeof(buf), &c))
		return -EINVAL;
	len = get_uint(&c, 4);
	if (len == 0xffffffff ||
	    get_uint(&c, 4) != 0) /* 64-bit, or not a CIE */
		return -EINVAL;
	b = take(&c, 1); /* version */
	aug = c.p;
	n = strnlen((const char *)aug, c.end - c.p);
	if (!b || !take(&c, n + 1))
		return -EINVAL;
	*enc = PE_ABSPTR;
	if (aug[0] != 'z')
		return c.bad ? -EINVAL : 0;
	get_leb(&c, false); /* code alignment */
	get_leb(&c, true);  /* data alignment */
	if (*b == 1)
		take(&c, 1); /* return address register */
	else
		get_leb(&c, false);
	get_leb(&c, false); /* augmentation data length */
	for (size_t i = 1; i < n && !c.bad; i++) {
		switch (aug[i]) {
		case 'R':
			b = take(&c, 1);
			if (b)
				*enc = *b;
			return c.bad ? -EINVAL : 0;
		case 'P':
			b = take(&c, 1);
			if (b)
				get_encoded(&c, *b & ~0x80, 0);
			break;
		case 'L':
			take(&c, 1);
			break;
		case 'S':
		case 'B':
			break;
		default:
			return -EINVAL;
		}
	}
	return c.bad ? -EINVAL : 0;
}

/* The range [*START, *END) the FDE at VADDR covers. */
static int fde_range(const struct elfimg *img, uint64_t vaddr, uint64_t *start,
		     uint64_t *end)
{
	uint8_t buf[RECORD_HEAD], enc;
	uint64_t cie_field, cie;
	struct cursor c;
	uint32_t len;

	if (cursor_at(img, vaddr, buf, sizeof(buf), &c))
		return -EINVAL;
	len = get_uint(&c, 4);
	if (len == 0xffffffff) /* 64-bit DWARF: not emitted for x86-64 code */
		return -EINVAL;
	cie_field = c.vaddr;
	cie = cie_field - get_uint(&c, 4);
	if (c.bad || cie == cie_field || cie_fde_encoding(img, cie, &enc))
		return -EINVAL;
	*start = get_encoded(&c, enc, 0);
	*end = *start + get_encoded(&c, enc & PE_FORMAT, 0);
	return c.bad || *end < *start ? -EINVAL : 0;
}

/* The .eh_frame_hdr table: N entries of 8 bytes from TABLE. */
struct hdr_table {
	uint64_t hdr, table;
	uint32_t n;
};

static int read_hdr(const struct elfimg *img, struct hdr_table *t)
{
	uint8_t buf[RECORD_HEAD];
	const uint8_t *h;
	struct cursor c;

	if (elfimg_eh_frame_hdr(img, &t->hdr))
		return -ENOENT;
	if (cursor_at(img, t->hdr, buf, sizeof(buf), &c))
		return -EINVAL;
	h = take(&c, 4);
	if (!h || h[0] != EH_VERSION || h[2] == EH_OMIT ||
	    h[3] != TABLE_DATAREL_SDATA4)
		return -EINVAL;
	if (h[1] != EH_OMIT)
		get_encoded(&c, h[1], t->hdr); /* eh_frame_ptr */
	t->n = get_encoded(&c, h[2], t->hdr);
	t->table = c.vaddr;
	return c.bad || t->n > MAX_FDES ? -EINVAL : 0;
}

static int table_entry(const struct elfimg *img, const struct hdr_table *t,
		       uint32_t i, uint64_t *start, uint64_t *fde)
{
	int32_t e[2];

	if (elfimg_read_vaddr(img, t->table + 8ull * i, e, sizeof(e)))
		return -EINVAL;
	*start = t->hdr + (int64_t)e[0];
	*fde = t->hdr + (int64_t)e[1];
	return 0;
}

int ehframe_function(const struct elfimg *img, uint64_t addr, uint64_t *start,
		     uint64_t *end)
{
	uint32_t lo = 0, hi, mid;
	uint64_t s, fde = 0;
	struct hdr_table t;
	int err;

	err = read_hdr(img, &t);
	if (err)
		return err;
	/* the last entry that starts at or below ADDR */
	hi = t.n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (table_entry(img, &t, mid, &s, &fde))
			return -EINVAL;
		if (s <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || table_entry(img, &t, lo - 1, &s, &fde))
		return -ENOENT;
	err = fde_range(img, fde, start, end);
	if (err)
		return err;
	return addr >= *start && addr < *end ? 0 : -ENOENT;
}
