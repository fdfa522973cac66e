// SPDX-License-Identifier: GPL-2.0
/*
 * pprof's profile.proto (github.com/google/pprof/proto/profile.proto),
 * gzip-compressed: what Pyroscope, Parca, Grafana and `go tool pprof` read.
 * One function per (name, file), one location per frame (with its line),
 * one sample per row, leaf first, labelled with the thread and process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "views/flame_out.h"
#include "views/pftrace_pb.h"

/* profile.proto field numbers */
enum {
	PROFILE_SAMPLE_TYPE = 1,
	PROFILE_SAMPLE = 2,
	PROFILE_LOCATION = 4,
	PROFILE_FUNCTION = 5,
	PROFILE_STRING_TABLE = 6,
	PROFILE_TIME_NANOS = 9,
	PROFILE_DURATION_NANOS = 10,
	PROFILE_PERIOD_TYPE = 11,
	PROFILE_PERIOD = 12,
	PROFILE_DEFAULT_SAMPLE_TYPE = 14,
	VALUETYPE_TYPE = 1,
	VALUETYPE_UNIT = 2,
	SAMPLE_LOCATION_ID = 1,
	SAMPLE_VALUE = 2,
	SAMPLE_LABEL = 3,
	LABEL_KEY = 1,
	LABEL_STR = 2,
	LABEL_NUM = 3,
	LOCATION_ID = 1,
	LOCATION_LINE = 4,
	LINE_FUNCTION_ID = 1,
	LINE_LINE = 2,
	FUNCTION_ID = 1,
	FUNCTION_NAME = 2,
	FUNCTION_SYSTEM_NAME = 3,
	FUNCTION_FILENAME = 4,
};

/* The string table, interned. */
struct strings {
	char **v;
	size_t n, cap;
	uint32_t *slots; /* index + 1 */
	size_t slot_cap;
	int err;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static int strings_rehash(struct strings *t)
{
	size_t cap = t->slot_cap ? t->slot_cap * 2 : 1024;
	uint32_t *s = calloc(cap, sizeof(*s));

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = str_hash(t->v[i]) & (cap - 1);

		while (s[j])
			j = (j + 1) & (cap - 1);
		s[j] = i + 1;
	}
	free(t->slots);
	t->slots = s;
	t->slot_cap = cap;
	return 0;
}

static uint64_t intern(struct strings *t, const char *s)
{
	size_t j;

	if (t->err)
		return 0;
	if (2 * (t->n + 1) > t->slot_cap && strings_rehash(t))
		goto oom;
	for (j = str_hash(s) & (t->slot_cap - 1); t->slots[j];
	     j = (j + 1) & (t->slot_cap - 1))
		if (!strcmp(t->v[t->slots[j] - 1], s))
			return t->slots[j] - 1;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		char **v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			goto oom;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n] = strdup(s);
	if (!t->v[t->n])
		goto oom;
	t->slots[j] = ++t->n;
	return t->n - 1;
oom:
	t->err = -ENOMEM;
	return 0;
}

static void strings_free(struct strings *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	free(t->slots);
}

static const char *sample_type(enum fl_what w)
{
	switch (w) {
	case FL_ONCPU:
		return "cpu";
	case FL_GILWAIT:
		return "gil_wait";
	case FL_OFFCPU:
		return "off_cpu";
	default:
		return "wall";
	}
}

static void value_type(struct pb *b, struct strings *s, uint32_t field,
		       enum fl_what w)
{
	pb_begin(b, field);
	pb_uint(b, VALUETYPE_TYPE, intern(s, sample_type(w)));
	pb_uint(b, VALUETYPE_UNIT, intern(s, "nanoseconds"));
	pb_end(b);
}

static void label(struct pb *b, struct strings *s, const char *key,
		  const char *str, uint64_t num)
{
	pb_begin(b, SAMPLE_LABEL);
	pb_uint(b, LABEL_KEY, intern(s, key));
	if (str)
		pb_uint(b, LABEL_STR, intern(s, str));
	else
		pb_int(b, LABEL_NUM, (int64_t)num);
	pb_end(b);
}

static void samples(struct pb *b, struct strings *s, const struct fl_profile *p)
{
	for (size_t i = 0; i < p->n_rows; i++) {
		const struct fl_row *r = &p->rows[i];
		const struct fl_pthread *t = &p->threads[r->thread];

		pb_begin(b, PROFILE_SAMPLE);
		pb_begin(b, SAMPLE_LOCATION_ID); /* packed, leaf first */
		for (uint32_t k = r->n; k-- > 0;)
			pb_varint(b, r->fids[k] + 1);
		pb_end(b);
		pb_int(b, SAMPLE_VALUE, (int64_t)r->ns);
		label(b, s, "thread", t->label, 0);
		label(b, s, "tid", NULL, t->tid);
		label(b, s, "pid", NULL, t->pid);
		pb_end(b);
	}
}

/* The function's name as pprof shows it: Python and native frames by
 * their own name (the file is a field), gilscope's frames by their text. */
static uint64_t function_name(struct strings *s, const struct st_frame *f)
{
	char text[1024];

	if (f->kind == ST_PYTHON || f->kind == ST_NATIVE)
		return intern(s, f->name);
	stacktab_frame_text(f, text, sizeof(text));
	return intern(s, text);
}

/* Locations (one per frame) and functions (one per name and file). */
static void locations(struct pb *b, struct strings *s,
		      const struct fl_profile *p)
{
	uint64_t *fn_of = calloc(p->names.n_frames + 1, sizeof(*fn_of));
	struct strings fns = { 0 };

	if (!fn_of) {
		b->failed = true;
		return;
	}
	for (size_t i = 0; i < p->names.n_frames; i++) {
		const struct st_frame *f = &p->names.frames[i];
		char key[1200];
		size_t before = fns.n;

		snprintf(key, sizeof(key), "%d\x1f%s\x1f%s", f->kind, f->name,
			 f->file);
		fn_of[i] = intern(&fns, key) + 1;
		if (fns.n > before) {
			pb_begin(b, PROFILE_FUNCTION);
			pb_uint(b, FUNCTION_ID, fn_of[i]);
			pb_uint(b, FUNCTION_NAME, function_name(s, f));
			pb_uint(b, FUNCTION_SYSTEM_NAME, function_name(s, f));
			pb_uint(b, FUNCTION_FILENAME, intern(s, f->file));
			pb_end(b);
		}
		pb_begin(b, PROFILE_LOCATION);
		pb_uint(b, LOCATION_ID, i + 1);
		pb_begin(b, LOCATION_LINE);
		pb_uint(b, LINE_FUNCTION_ID, fn_of[i]);
		if (f->line > 0)
			pb_int(b, LINE_LINE, f->line);
		pb_end(b);
		pb_end(b);
	}
	if (fns.err)
		b->failed = true;
	strings_free(&fns);
	free(fn_of);
}

static int gzip_out(FILE *out, const uint8_t *data, size_t len)
{
	unsigned char buf[1 << 16];
	z_stream z = { 0 };
	int ret;

	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)data;
	z.avail_in = len;
	do {
		z.next_out = buf;
		z.avail_out = sizeof(buf);
		ret = deflate(&z, Z_FINISH);
		fwrite(buf, 1, sizeof(buf) - z.avail_out, out);
	} while (ret == Z_OK);
	deflateEnd(&z);
	return ret == Z_STREAM_END && !ferror(out) ? 0 : -EIO;
}

int flame_write_pprof(FILE *out, const struct fl_profile *p,
		      const struct fl_info *info)
{
	struct strings s = { 0 };
	struct pb b;
	int err;

	pb_init(&b);
	intern(&s, ""); /* string 0 is the empty string */
	value_type(&b, &s, PROFILE_SAMPLE_TYPE, p->what);
	samples(&b, &s, p);
	locations(&b, &s, p);
	if (info->realtime_at_start_ns)
		pb_int(&b, PROFILE_TIME_NANOS,
		       (int64_t)info->realtime_at_start_ns);
	pb_int(&b, PROFILE_DURATION_NANOS, (int64_t)info->duration_ns);
	value_type(&b, &s, PROFILE_PERIOD_TYPE, p->what);
	pb_int(&b, PROFILE_PERIOD, 1);
	pb_uint(&b, PROFILE_DEFAULT_SAMPLE_TYPE,
		intern(&s, sample_type(p->what)));
	for (size_t i = 0; i < s.n; i++)
		pb_string(&b, PROFILE_STRING_TABLE, s.v[i]);
	err = b.failed || s.err ? -ENOMEM : gzip_out(out, b.data, b.len);
	strings_free(&s);
	pb_free(&b);
	return err;
}
