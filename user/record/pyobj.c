// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "record/pyobj.h"

#define MAX_STR_CHARS 1024
#define MAX_FRAMES 4096
#define MAX_DICT_ENTRIES 4096
#define MAX_DICT_LOG2_INDEX 32 /* a dict's index table: 4 GiB at most */

/* PyUnicode state bits (3.9-3.11 and 3.12+ alike for these) */
#define STATE_KIND(s) (((s) >> 2) & 7)
#define STATE_COMPACT(s) (((s) >> 5) & 1)
#define STATE_ASCII(s) (((s) >> 6) & 1)

int pyobj_u64(const struct pyobj_mem *m, uint64_t addr, uint64_t *out)
{
	if (!addr)
		return -EFAULT;
	return m->read(m->ctx, addr, out, sizeof(*out));
}

uint32_t pyobj_tstate_tid(const struct pyobj_mem *m, const struct py_facts *f,
			  uint64_t tstate, bool *from_pthread)
{
	uint64_t tid = 0, pthread = 0;
	int32_t ptid = 0;

	*from_pthread = false;
	if (!tstate)
		return 0;
	if (f->tstate_native_thread_id)
		return pyobj_u64(m, tstate + f->tstate_native_thread_id,
				 &tid) ||
				       tid >= (1u << 31) ?
			       0 :
			       (uint32_t)tid;
	if (!f->tstate_thread_id ||
	    pyobj_u64(m, tstate + f->tstate_thread_id, &pthread) || !pthread ||
	    m->read(m->ctx, pthread + GLIBC_PTHREAD_TID, &ptid, sizeof(ptid)) ||
	    ptid <= 0)
		return 0;
	*from_pthread = true;
	return (uint32_t)ptid;
}

/* Append code point CP to OUT as UTF-8, if it fits. */
static size_t put_utf8(char *out, size_t pos, size_t len, uint32_t cp)
{
	unsigned char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = 0xc0 | cp >> 6;
		b[1] = 0x80 | (cp & 0x3f);
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = 0xe0 | cp >> 12;
		b[1] = 0x80 | ((cp >> 6) & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		n = 3;
	} else {
		b[0] = 0xf0 | (cp >> 18 & 7);
		b[1] = 0x80 | ((cp >> 12) & 0x3f);
		b[2] = 0x80 | ((cp >> 6) & 0x3f);
		b[3] = 0x80 | (cp & 0x3f);
		n = 4;
	}
	if (pos + n >= len)
		return pos;
	memcpy(out + pos, b, n);
	return pos + n;
}

static int decode_units(const unsigned char *raw, size_t chars, int kind,
			char *out, size_t len)
{
	size_t pos = 0;

	for (size_t i = 0; i < chars; i++) {
		uint32_t cp;

		if (kind == 1) {
			cp = raw[i];
		} else if (kind == 2) {
			uint16_t u;

			memcpy(&u, raw + 2 * i, 2);
			cp = u;
		} else {
			memcpy(&cp, raw + 4 * i, 4);
			if (cp > 0x10ffff)
				cp = 0xfffd;
		}
		pos = put_utf8(out, pos, len, cp);
	}
	out[pos] = '\0';
	return 0;
}

int pyobj_str(const struct pyobj_mem *m, uint64_t addr, char *out, size_t len)
{
	const struct py_stack_facts *f = m->f;
	unsigned char raw[MAX_STR_CHARS * 4];
	uint64_t length = 0;
	uint32_t state = 0;
	int kind, err;

	if (!len)
		return -EINVAL;
	out[0] = '\0';
	if (!addr)
		return -EFAULT;
	err = m->read(m->ctx, addr + f->str_length, &length, sizeof(length));
	if (!err)
		err = m->read(m->ctx, addr + f->str_state, &state,
			      sizeof(state));
	if (err)
		return err;
	if (!STATE_COMPACT(state))
		return -ENOTSUP; /* legacy strings do not name code */
	kind = STATE_ASCII(state) ? 1 : STATE_KIND(state);
	if (kind != 1 && kind != 2 && kind != 4)
		return -EINVAL;
	if (length > MAX_STR_CHARS)
		length = MAX_STR_CHARS;
	if (length && m->read(m->ctx,
			      addr + (STATE_ASCII(state) ? f->str_ascii_data :
							   f->str_compact_data),
			      raw, length * kind))
		return -EFAULT;
	return decode_units(raw, length, kind, out, len);
}

/* Is TYPE the type named "code"? */
static bool is_code_type(const struct pyobj_mem *m, uint64_t type)
{
	char name[8] = "";
	uint64_t name_ptr;

	if (pyobj_u64(m, type + m->f->type_name, &name_ptr) || !name_ptr ||
	    m->read(m->ctx, name_ptr, name, 5))
		return false;
	return !memcmp(name, "code", 5);
}

static int read_bytes(const struct pyobj_mem *m, uint64_t addr,
		      unsigned char **out, size_t *len)
{
	uint64_t size;
	unsigned char *buf;

	*out = NULL;
	*len = 0;
	if (pyobj_u64(m, addr + m->f->bytes_size, &size))
		return -EFAULT;
	if (size > PYOBJ_MAX_LINETABLE)
		return -E2BIG;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	if (size && m->read(m->ctx, addr + m->f->bytes_data, buf, size)) {
		free(buf);
		return -EFAULT;
	}
	*out = buf;
	*len = size;
	return 0;
}

int pyobj_code(struct pyobj_mem *m, uint64_t addr, struct pyobj_code *c)
{
	const struct py_stack_facts *f = m->f;
	uint64_t type, name, qualname, file, table;
	int32_t first = 0;

	memset(c, 0, sizeof(*c));
	if (pyobj_u64(m, addr + 8, &type))
		return -EFAULT;
	if (type != m->code_type) {
		if (!is_code_type(m, type))
			return -EINVAL;
		m->code_type = type;
	}
	if (pyobj_u64(m, addr + f->code_name, &name) ||
	    pyobj_u64(m, addr + f->code_filename, &file) ||
	    m->read(m->ctx, addr + f->code_firstlineno, &first, sizeof(first)))
		return -EFAULT;
	if (pyobj_str(m, name, c->name, sizeof(c->name)) ||
	    pyobj_str(m, file, c->file, sizeof(c->file)))
		return -EFAULT;
	c->firstlineno = first;
	if (!f->code_qualname ||
	    pyobj_u64(m, addr + f->code_qualname, &qualname) ||
	    pyobj_str(m, qualname, c->qualname, sizeof(c->qualname)))
		snprintf(c->qualname, sizeof(c->qualname), "%s", c->name);
	if (f->code_linetable &&
	    !pyobj_u64(m, addr + f->code_linetable, &table))
		read_bytes(m, table, &c->linetable, &c->linetable_len);
	return 0;
}

void pyobj_code_free(struct pyobj_code *c)
{
	free(c->linetable);
	c->linetable = NULL;
	c->linetable_len = 0;
}

/* ------------------------------------------------ 3.11 location table */

static unsigned int scan_varint(const unsigned char *p,
				const unsigned char *end,
				const unsigned char **next)
{
	unsigned int read, val, shift = 0;

	if (p >= end) {
		*next = end;
		return 0;
	}
	read = *p++;
	val = read & 63;
	while ((read & 64) && p < end && shift < 24) {
		read = *p++;
		shift += 6;
		val |= (read & 63) << shift;
	}
	*next = p;
	return val;
}

static int line_delta(const unsigned char *p, const unsigned char *end)
{
	int code = (*p >> 3) & 15;
	const unsigned char *next;
	unsigned int u;

	switch (code) {
	case 13: /* no columns */
	case 14: /* long form */
		u = scan_varint(p + 1, end, &next);
		return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
	case 11: /* one line, +1 */
		return 1;
	case 12: /* one line, +2 */
		return 2;
	default: /* 15: no location; 0-10: same line */
		return 0;
	}
}

int pyobj_linetable_line(const unsigned char *lt, size_t len, int firstlineno,
			 long offset)
{
	const unsigned char *p = lt, *end = lt + len;
	long start = 0;
	/* a hostile table's deltas add up past an int: 64-bit, checked */
	long long line = firstlineno;

	if (offset < 0 || !lt)
		return firstlineno;
	while (p < end) {
		long units = (*p & 7) + 1;
		bool no_line = (*p >> 3) == 0x1f;

		line += line_delta(p, end);
		if (offset >= start && offset < start + units) {
			if (no_line)
				return -1;
			return line >= 0 && line <= INT_MAX ? (int)line :
							      firstlineno;
		}
		start += units;
		/* the next entry starts with the high bit set */
		do
			p++;
		while (p < end && !(*p & 128));
	}
	return firstlineno;
}

/* 3.9 co_lnotab: (bytes, line) increments; the line of byte offset ADDR */
static int lnotab_line(const unsigned char *lt, size_t len, int firstlineno,
		       long addr)
{
	long long line = firstlineno;
	long at = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		at += lt[i];
		if (at > addr)
			break;
		line += (signed char)lt[i + 1];
	}
	return line >= 0 && line <= INT_MAX ? (int)line : firstlineno;
}

/* 3.10 co_linetable: (bytes, line) deltas of ranges, -128: no line; the
 * line of byte offset ADDR, -1 for none */
static int linetable310_line(const unsigned char *lt, size_t len,
			     int firstlineno, long addr)
{
	long long line = firstlineno;
	long start = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		long end = start + lt[i];
		int delta = (signed char)lt[i + 1];

		if (delta != -128)
			line += delta;
		if (addr >= start && addr < end)
			return delta == -128		    ? -1 :
			       line >= 0 && line <= INT_MAX ? (int)line :
							      firstlineno;
		start = end;
	}
	return firstlineno;
}

int pyobj_code_line(const struct pyobj_code *c, const struct py_stack_facts *f,
		    int format, uint64_t code, uint64_t instr)
{
	/* f_lasti (3.9, 3.10): an int, -1 before the first instruction */
	long lasti = (int32_t)(uint32_t)instr;
	long offset;
	int line;

	if (!c->linetable)
		return c->firstlineno;
	switch (format) {
	case PY_LINETABLE_39:
		return lasti < 0 ? c->firstlineno :
				   lnotab_line(c->linetable, c->linetable_len,
					       c->firstlineno, lasti);
	case PY_LINETABLE_310:
		line = lasti < 0 ?
			       c->firstlineno :
			       linetable310_line(c->linetable, c->linetable_len,
						 c->firstlineno, lasti * 2);
		return line < 0 ? c->firstlineno : line;
	case PY_LINETABLE_311:
		break;
	default:
		return c->firstlineno;
	}
	/* prev_instr is a 2-byte code unit pointer; before the first
	 * instruction it points one unit before the code */
	if (instr < code + f->code_adaptive)
		offset = -1;
	else
		offset = (long)((instr - (code + f->code_adaptive)) / 2);
	line = pyobj_linetable_line(c->linetable, c->linetable_len,
				    c->firstlineno, offset);
	return line < 0 ? c->firstlineno : line;
}

/* ------------------------------------------------ frames and threads */

uint64_t pyobj_top_frame(const struct pyobj_mem *m, uint64_t tstate)
{
	const struct py_stack_facts *f = m->f;
	uint64_t frame = 0;

	if (pyobj_u64(m, tstate + f->tstate_frame, &frame))
		return 0;
	if (frame && f->has_cframe &&
	    pyobj_u64(m, frame + f->cframe_frame, &frame))
		return 0;
	return frame;
}

uint64_t pyobj_ref(const struct py_stack_facts *f, uint64_t ref)
{
	return ref & ~(uint64_t)f->ref_tag_bits;
}

int pyobj_frame(const struct pyobj_mem *m, uint64_t frame,
		struct pyobj_frame *out)
{
	const struct py_stack_facts *f = m->f;
	uint64_t instr = 0;
	uint8_t owner = 0;
	int err;

	err = pyobj_u64(m, frame + f->frame_previous, &out->previous);
	if (!err)
		err = pyobj_u64(m, frame + f->frame_code, &out->code);
	if (!err)
		err = m->read(m->ctx, frame + f->frame_instr, &instr,
			      f->instr_size == 4 ? 4 : 8);
	if (!err && f->owner_cstack >= 0)
		err = m->read(m->ctx, frame + f->frame_owner, &owner, 1);
	if (err)
		return err;
	out->code = pyobj_ref(f, out->code);
	out->instr = instr;
	out->shim = f->owner_cstack >= 0 && owner >= f->owner_cstack;
	return 0;
}

uint64_t pyobj_bottom_frame(const struct pyobj_mem *m, uint64_t tstate)
{
	uint64_t frame = pyobj_top_frame(m, tstate), bottom = 0;
	struct pyobj_frame fr;

	for (int i = 0; frame && i < MAX_FRAMES; i++) {
		if (pyobj_frame(m, frame, &fr))
			return 0;
		if (!fr.shim)
			bottom = frame;
		frame = fr.previous;
	}
	return frame ? 0 : bottom;
}

/*
 * A dict keys object's index table size (log2 of its bytes) and kind (0:
 * (hash, key, value) entries, else (key, value)). 3.9 and 3.10 store only
 * dk_size: an index is 1, 2, 4 or 8 bytes as dk_size needs, entries are
 * all (hash, key, value).
 */
static int keys_layout(const struct pyobj_mem *m, uint64_t keys,
		       uint8_t *log2_index, uint8_t *kind)
{
	const struct py_stack_facts *f = m->f;
	uint64_t size = 0;

	if (!f->keys_dk_size) {
		if (m->read(m->ctx, keys + f->keys_log2_index_bytes, log2_index,
			    1) ||
		    m->read(m->ctx, keys + f->keys_kind, kind, 1))
			return -EFAULT;
		return *log2_index > MAX_DICT_LOG2_INDEX ? -EINVAL : 0;
	}
	if (pyobj_u64(m, keys + f->keys_dk_size, &size) || size < 8 ||
	    size > (1ull << 26) || (size & (size - 1)))
		return -EINVAL;
	*kind = 0;
	*log2_index = __builtin_ctzll(size) + (size <= 0xff   ? 0 :
					       size <= 0xffff ? 1 :
								2);
	return 0;
}

/* Index of the str key NAME among the entries of a dict's keys, or -1. */
static long keys_index(const struct pyobj_mem *m, uint64_t keys,
		       const char *name)
{
	const struct py_stack_facts *f = m->f;
	uint8_t log2_index = 0, kind = 0;
	uint64_t nentries = 0, entries, key;
	size_t esize;
	char buf[64];

	if (keys_layout(m, keys, &log2_index, &kind) ||
	    pyobj_u64(m, keys + f->keys_nentries, &nentries))
		return -1;
	/* entries follow the index table: (hash, key, value) for general
	 * keys, (key, value) for str-only keys */
	entries = keys + f->keys_indices + (1ull << log2_index);
	esize = kind == 0 ? 24 : 16;
	for (uint64_t i = 0; i < nentries && i < MAX_DICT_ENTRIES; i++) {
		uint64_t at = entries + i * esize + (kind == 0 ? 8 : 0);

		if (pyobj_u64(m, at, &key) || !key)
			continue;
		if (!pyobj_str(m, key, buf, sizeof(buf)) && !strcmp(buf, name))
			return (long)i;
	}
	return -1;
}

/* The value of str key NAME in a dict (keys + optional split values). */
static uint64_t dict_value(const struct pyobj_mem *m, uint64_t keys,
			   uint64_t values, const char *name)
{
	uint8_t kind = 0, log2_index = 0;
	uint64_t value = 0;
	long i = keys_index(m, keys, name);

	if (i < 0)
		return 0;
	if (values) {
		pyobj_u64(m, values + m->f->values_data + 8 * i, &value);
		return value;
	}
	if (keys_layout(m, keys, &log2_index, &kind)) /* may have changed */
		return 0;
	pyobj_u64(m,
		  keys + m->f->keys_indices + (1ull << log2_index) +
			  i * (kind == 0 ? 24 : 16) + (kind == 0 ? 16 : 8),
		  &value);
	return value;
}

static uint64_t dict_get(const struct pyobj_mem *m, uint64_t dict,
			 const char *name)
{
	uint64_t keys, values;

	if (pyobj_u64(m, dict + m->f->dict_keys, &keys) ||
	    pyobj_u64(m, dict + m->f->dict_values, &values))
		return 0;
	return dict_value(m, keys, values, name);
}

/* The dict or values of an object whose type manages them (3.11+): DICT
 * when it has one, else VALUES with the type's cached keys. */
static void managed(const struct pyobj_mem *m, uint64_t obj, uint64_t type,
		    uint64_t flags, uint64_t *dict, uint64_t *values)
{
	const struct py_stack_facts *f = m->f;
	uint64_t basicsize = 0;
	uint8_t valid = 0;

	pyobj_u64(m, obj + f->managed_dict, dict);
	if (f->managed_tagged && (*dict & 1)) {
		/* 3.12: PyDictOrValues holds values, tagged */
		*values = *dict - 1;
		*dict = 0;
	} else if (f->managed_values) {
		pyobj_u64(m, obj + f->managed_values, values);
	} else if (!*dict && f->inline_values_flag &&
		   (flags & f->inline_values_flag) &&
		   !pyobj_u64(m, type + f->type_basicsize, &basicsize) &&
		   basicsize && basicsize < (1u << 20) &&
		   !m->read(m->ctx, obj + basicsize + 3, &valid, 1) && valid) {
		/* 3.13+: inline values, `valid` (byte 3) while no dict
		 * took them over */
		*values = obj + basicsize;
	}
}

int pyobj_attr_str(const struct pyobj_mem *m, uint64_t obj, const char *name,
		   char *out, size_t len)
{
	const struct py_stack_facts *f = m->f;
	uint64_t type, flags = 0, dict = 0, values = 0, value = 0, keys;
	int64_t dictoffset = 0;

	if (pyobj_u64(m, obj + 8, &type) ||
	    pyobj_u64(m, type + f->type_flags, &flags))
		return -EFAULT;
	if (f->managed_dict_flag && (flags & f->managed_dict_flag)) {
		managed(m, obj, type, flags, &dict, &values);
		if (!dict && values &&
		    !pyobj_u64(m, type + f->type_cached_keys, &keys))
			value = dict_value(m, keys, values, name);
	} else if (!m->read(m->ctx, type + f->type_dictoffset, &dictoffset,
			    sizeof(dictoffset)) &&
		   dictoffset > 0) {
		pyobj_u64(m, obj + dictoffset, &dict);
	}
	if (!value && dict)
		value = dict_get(m, dict, name);
	if (!value)
		return -ENOENT;
	return pyobj_str(m, value, out, len);
}
