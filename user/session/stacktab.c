// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session/stacktab.h"

#define ST_MAGIC "GSTK"
#define ST_VERSION 1
#define MAX_NAME 4096
#define MAX_STACK_FRAMES 4096
#define MAX_FRAMES_TOTAL (16u << 20)

enum { TAG_META = 'M', TAG_FRAME = 'F', TAG_STACK = 'S', TAG_THREAD = 'T' };

void stacktab_init(struct stacktab *t)
{
	memset(t, 0, sizeof(*t));
}

void stacktab_free(struct stacktab *t)
{
	for (size_t i = 0; i < t->n_frames; i++) {
		free(t->frames[i].name);
		free(t->frames[i].file);
	}
	for (size_t i = 0; i < t->n_stacks; i++)
		free(t->stacks[i].fids);
	for (size_t i = 0; i < t->n_threads; i++)
		free(t->threads[i].name);
	free(t->frames);
	free(t->frame_slots);
	free(t->stacks);
	free(t->stack_slots);
	free(t->threads);
	free(t->thread_slots);
	free(t->remap);
	kv_free(&t->meta);
	memset(t, 0, sizeof(*t));
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, n * size);
	if (!q)
		return -ENOMEM;
	memset((char *)q + *cap * size, 0, (n - *cap) * size);
	*p = q;
	*cap = n;
	return 0;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t frame_hash(uint8_t kind, const char *name, const char *file,
			   int32_t line)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = hash_bytes(h, &kind, 1);
	h = hash_bytes(h, name, strlen(name) + 1);
	h = hash_bytes(h, file, strlen(file) + 1);
	return hash_bytes(h, &line, sizeof(line));
}

static bool frame_is(const struct st_frame *f, uint8_t kind, const char *name,
		     const char *file, int32_t line)
{
	return f->kind == kind && f->line == line && !strcmp(f->name, name) &&
	       !strcmp(f->file, file);
}

/* Rebuild an open-addressing table of ids + 1 with room for N. */
static int rehash(uint32_t **slots, size_t *cap, size_t n,
		  uint64_t (*key)(const struct stacktab *, uint32_t),
		  const struct stacktab *t)
{
	size_t c = *cap ? *cap : 256;
	uint32_t *s;

	while (c < 2 * (n + 1))
		c *= 2;
	if (c == *cap)
		return 0;
	s = calloc(c, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		size_t j = key(t, i) & (c - 1);

		while (s[j])
			j = (j + 1) & (c - 1);
		s[j] = i + 1;
	}
	free(*slots);
	*slots = s;
	*cap = c;
	return 0;
}

static uint64_t frame_key(const struct stacktab *t, uint32_t i)
{
	const struct st_frame *f = &t->frames[i];

	return frame_hash(f->kind, f->name, f->file, f->line);
}

static uint64_t stack_hash(uint8_t kind, uint64_t id)
{
	return (id ^ kind) * 0x9e3779b97f4a7c15ull >> 7;
}

static uint64_t stack_key(const struct stacktab *t, uint32_t i)
{
	return stack_hash(t->stacks[i].kind, t->stacks[i].id);
}

int64_t stacktab_frame(struct stacktab *t, uint8_t kind, const char *name,
		       const char *file, int32_t line)
{
	uint64_t h;
	size_t j;
	struct st_frame *f;

	if (!file)
		file = "";
	h = frame_hash(kind, name, file, line);
	for (j = t->frame_slot_cap ? h & (t->frame_slot_cap - 1) : 0;
	     t->frame_slot_cap && t->frame_slots[j];
	     j = (j + 1) & (t->frame_slot_cap - 1))
		if (frame_is(&t->frames[t->frame_slots[j] - 1], kind, name,
			     file, line))
			return t->frame_slots[j] - 1;
	if (t->n_frames >= MAX_FRAMES_TOTAL ||
	    grow((void **)&t->frames, &t->cap_frames, t->n_frames + 1,
		 sizeof(*t->frames)))
		return -1;
	f = &t->frames[t->n_frames];
	f->name = strdup(name);
	f->file = strdup(file);
	if (!f->name || !f->file) {
		free(f->name);
		free(f->file);
		return -1;
	}
	f->kind = kind;
	f->line = line;
	t->n_frames++;
	if (rehash(&t->frame_slots, &t->frame_slot_cap, t->n_frames, frame_key,
		   t))
		return -1;
	/* a rehash placed it already; otherwise claim the free slot */
	for (j = h & (t->frame_slot_cap - 1); t->frame_slots[j];
	     j = (j + 1) & (t->frame_slot_cap - 1))
		if (t->frame_slots[j] == t->n_frames)
			return t->n_frames - 1;
	t->frame_slots[j] = t->n_frames;
	return t->n_frames - 1;
}

const struct st_stack *stacktab_find(const struct stacktab *t, uint8_t kind,
				     uint64_t id)
{
	size_t j;

	if (!t->stack_slot_cap)
		return NULL;
	for (j = stack_hash(kind, id) & (t->stack_slot_cap - 1);
	     t->stack_slots[j]; j = (j + 1) & (t->stack_slot_cap - 1)) {
		const struct st_stack *s = &t->stacks[t->stack_slots[j] - 1];

		if (s->id == id && s->kind == kind)
			return s;
	}
	return NULL;
}

int stacktab_add_stack(struct stacktab *t, uint8_t kind, uint64_t id,
		       uint32_t pid, uint32_t flags, const uint32_t *fids,
		       uint32_t n)
{
	struct st_stack *s;
	size_t j;

	if (stacktab_find(t, kind, id))
		return 0;
	if (n > MAX_STACK_FRAMES)
		return -E2BIG;
	if (grow((void **)&t->stacks, &t->cap_stacks, t->n_stacks + 1,
		 sizeof(*t->stacks)))
		return -ENOMEM;
	s = &t->stacks[t->n_stacks];
	s->fids = malloc((n ? n : 1) * sizeof(*fids));
	if (!s->fids)
		return -ENOMEM;
	memcpy(s->fids, fids, n * sizeof(*fids));
	s->id = id;
	s->kind = kind;
	s->pid = pid;
	s->flags = flags;
	s->n = n;
	t->n_stacks++;
	if (rehash(&t->stack_slots, &t->stack_slot_cap, t->n_stacks, stack_key,
		   t))
		return -ENOMEM;
	for (j = stack_hash(kind, id) & (t->stack_slot_cap - 1);
	     t->stack_slots[j]; j = (j + 1) & (t->stack_slot_cap - 1))
		if (t->stack_slots[j] == t->n_stacks)
			return 0;
	t->stack_slots[j] = t->n_stacks;
	return 0;
}

static uint64_t thread_hash(uint32_t pid, uint32_t tid)
{
	return ((uint64_t)pid << 32 | tid) * 0x9e3779b97f4a7c15ull >> 7;
}

static uint64_t thread_key(const struct stacktab *t, uint32_t i)
{
	return thread_hash(t->threads[i].pid, t->threads[i].tid);
}

/* The index's slot of (PID, TID): its entry, or the empty slot for it. */
static size_t thread_slot(const struct stacktab *t, uint32_t pid, uint32_t tid)
{
	size_t mask = t->thread_slot_cap - 1, j = thread_hash(pid, tid) & mask;

	while (t->thread_slots[j]) {
		const struct st_thread *th =
			&t->threads[t->thread_slots[j] - 1];

		if (th->pid == pid && th->tid == tid)
			break;
		j = (j + 1) & mask;
	}
	return j;
}

int stacktab_set_thread(struct stacktab *t, uint32_t pid, uint32_t tid,
			const char *name)
{
	char *copy = strdup(name);
	struct st_thread *th;
	size_t j;

	if (!copy)
		return -ENOMEM;
	if (rehash(&t->thread_slots, &t->thread_slot_cap, t->n_threads,
		   thread_key, t)) {
		free(copy);
		return -ENOMEM;
	}
	j = thread_slot(t, pid, tid);
	if (t->thread_slots[j]) {
		th = &t->threads[t->thread_slots[j] - 1];
		free(th->name);
		th->name = copy;
		return 0;
	}
	if (grow((void **)&t->threads, &t->cap_threads, t->n_threads + 1,
		 sizeof(*t->threads))) {
		free(copy);
		return -ENOMEM;
	}
	th = &t->threads[t->n_threads++];
	th->pid = pid;
	th->tid = tid;
	th->name = copy;
	t->thread_slots[j] = t->n_threads;
	return 0;
}

const char *stacktab_thread_name(const struct stacktab *t, uint32_t pid,
				 uint32_t tid)
{
	size_t j;

	if (!t->thread_slot_cap)
		return NULL;
	j = thread_slot(t, pid, tid);
	return t->thread_slots[j] ? t->threads[t->thread_slots[j] - 1].name :
				    NULL;
}

/* ------------------------------------------------------------ encoding */

struct buf {
	unsigned char *p;
	size_t n, cap;
	int err;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->err)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		unsigned char *q;

		while (cap < b->n + n)
			cap *= 2;
		q = realloc(b->p, cap);
		if (!q) {
			b->err = -ENOMEM;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

#define PUT(b, v)                        \
	do {                             \
		__typeof__(v) _v = (v);  \
		put(b, &_v, sizeof(_v)); \
	} while (0)

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > MAX_NAME)
		n = MAX_NAME;
	PUT(b, (uint16_t)n);
	put(b, s, n);
}

struct encoder {
	struct buf b;
	uint32_t records;
	size_t max;
	int (*cb)(void *ctx, const void *buf, size_t len, uint32_t records);
	void *ctx;
};

static void start_payload(struct encoder *e)
{
	e->b.n = 0;
	e->records = 0;
	put(&e->b, ST_MAGIC, 4);
	PUT(&e->b, (uint32_t)ST_VERSION);
}

/* After a record: hand a full payload to the callback. */
static int end_record(struct encoder *e, bool last)
{
	int err;

	e->records++;
	if (e->b.err)
		return e->b.err;
	if (!last && e->b.n < e->max)
		return 0;
	err = e->cb(e->ctx, e->b.p, e->b.n, e->records);
	start_payload(e);
	return err;
}

static void put_frame(struct buf *b, const struct st_frame *f, uint32_t fid)
{
	PUT(b, (uint8_t)TAG_FRAME);
	PUT(b, fid);
	PUT(b, f->kind);
	PUT(b, f->line);
	put_str(b, f->name);
	put_str(b, f->file);
}

static void put_stack(struct buf *b, const struct st_stack *s)
{
	PUT(b, (uint8_t)TAG_STACK);
	PUT(b, s->kind);
	PUT(b, s->id);
	PUT(b, s->pid);
	PUT(b, s->flags);
	PUT(b, s->n);
	put(b, s->fids, s->n * sizeof(*s->fids));
}

static void put_thread(struct buf *b, const struct st_thread *th)
{
	PUT(b, (uint8_t)TAG_THREAD);
	PUT(b, th->pid);
	PUT(b, th->tid);
	put_str(b, th->name);
}

/* The table as payloads, its frames from FIRST_FRAME on (the others went
 * out before). */
static int
encode_from(const struct stacktab *t, size_t first_frame, size_t max_bytes,
	    int (*cb)(void *ctx, const void *buf, size_t len, uint32_t records),
	    void *ctx)
{
	struct encoder e = { .max = max_bytes, .cb = cb, .ctx = ctx };
	char *meta = NULL;
	size_t len = 0;
	int err = 0;

	start_payload(&e);
	if (t->meta.n) {
		meta = kv_encode(&t->meta, &len);
		if (!meta)
			return -ENOMEM;
		PUT(&e.b, (uint8_t)TAG_META);
		PUT(&e.b, (uint32_t)len);
		put(&e.b, meta, len);
		free(meta);
		err = end_record(&e, false);
	}
	for (size_t i = first_frame; !err && i < t->n_frames; i++) {
		put_frame(&e.b, &t->frames[i], i);
		err = end_record(&e, false);
	}
	for (size_t i = 0; !err && i < t->n_stacks; i++) {
		put_stack(&e.b, &t->stacks[i]);
		err = end_record(&e, false);
	}
	for (size_t i = 0; !err && i < t->n_threads; i++) {
		put_thread(&e.b, &t->threads[i]);
		err = end_record(&e, false);
	}
	if (!err && e.records)
		err = e.cb(e.ctx, e.b.p, e.b.n, e.records);
	free(e.b.p);
	return err;
}

int stacktab_encode(const struct stacktab *t, size_t max_bytes,
		    int (*cb)(void *ctx, const void *buf, size_t len,
			      uint32_t records),
		    void *ctx)
{
	return encode_from(t, 0, max_bytes, cb, ctx);
}

/* The stacks and names that went out: later ones start a new batch. */
static void drop_written(struct stacktab *t)
{
	for (size_t i = 0; i < t->n_stacks; i++)
		free(t->stacks[i].fids);
	for (size_t i = 0; i < t->n_threads; i++)
		free(t->threads[i].name);
	free(t->stacks);
	free(t->stack_slots);
	free(t->threads);
	free(t->thread_slots);
	t->stacks = NULL;
	t->stack_slots = NULL;
	t->threads = NULL;
	t->thread_slots = NULL;
	t->thread_slot_cap = 0;
	t->n_stacks = t->cap_stacks = t->stack_slot_cap = 0;
	t->n_threads = t->cap_threads = 0;
	kv_free(&t->meta);
	t->frames_written = t->n_frames;
}

int stacktab_flush(struct stacktab *t, size_t max_bytes,
		   int (*cb)(void *ctx, const void *buf, size_t len,
			     uint32_t records),
		   void *ctx)
{
	int err = encode_from(t, t->frames_written, max_bytes, cb, ctx);

	/* also after an error: the file is damaged from there on anyway,
	 * and memory must not grow */
	drop_written(t);
	return err;
}

/* ------------------------------------------------------------ decoding */

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static void get(struct rd *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

/* A length-prefixed string into a malloc'd, NUL-terminated copy. */
static char *get_str(struct rd *r)
{
	uint16_t n = 0;
	char *s;

	get(r, &n, sizeof(n));
	if (r->bad || n > MAX_NAME || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	/* a NUL inside would cut the name: keep what precedes it */
	return s;
}

static int decode_frame(struct stacktab *t, struct rd *r)
{
	uint32_t fid = 0;
	uint8_t kind = 0;
	int32_t line = 0;
	char *name, *file;
	int64_t mine;
	int err = 0;

	get(r, &fid, sizeof(fid));
	get(r, &kind, sizeof(kind));
	get(r, &line, sizeof(line));
	name = get_str(r);
	file = name ? get_str(r) : NULL;
	if (r->bad || !name || !file)
		goto bad;
	if (fid >= MAX_FRAMES_TOTAL || kind < ST_PYTHON || kind > ST_SYNTH)
		goto bad;
	mine = stacktab_frame(t, kind, name, file, line);
	if (mine < 0 || grow((void **)&t->remap, &t->remap_cap, fid + 1,
			     sizeof(*t->remap))) {
		err = -ENOMEM;
		goto out;
	}
	t->remap[fid] = (uint32_t)mine + 1;
	goto out;
bad:
	t->dropped++;
out:
	free(name);
	free(file);
	return err;
}

static int decode_stack(struct stacktab *t, struct rd *r)
{
	uint64_t id = 0;
	uint32_t pid = 0, flags = 0, n = 0, *fids;
	uint8_t kind = 0;
	int err;

	get(r, &kind, sizeof(kind));
	get(r, &id, sizeof(id));
	get(r, &pid, sizeof(pid));
	get(r, &flags, sizeof(flags));
	get(r, &n, sizeof(n));
	if (r->bad || n > MAX_STACK_FRAMES ||
	    (size_t)(r->end - r->p) < (size_t)n * 4) {
		r->bad = true;
		return 0;
	}
	fids = malloc((n ? n : 1) * sizeof(*fids));
	if (!fids)
		return -ENOMEM;
	get(r, fids, (size_t)n * 4);
	for (uint32_t i = 0; i < n; i++) {
		if (fids[i] >= t->remap_cap || !t->remap[fids[i]]) {
			t->dropped++;
			free(fids);
			return 0;
		}
		fids[i] = t->remap[fids[i]] - 1;
	}
	err = stacktab_add_stack(t, kind, id, pid, flags, fids, n);
	free(fids);
	return err == -E2BIG ? 0 : err;
}

static int decode_thread(struct stacktab *t, struct rd *r)
{
	uint32_t pid = 0, tid = 0;
	char *name;
	int err;

	get(r, &pid, sizeof(pid));
	get(r, &tid, sizeof(tid));
	name = get_str(r);
	if (r->bad || !name) {
		free(name);
		return r->bad ? 0 : -ENOMEM;
	}
	err = stacktab_set_thread(t, pid, tid, name);
	free(name);
	return err;
}

static int decode_meta(struct stacktab *t, struct rd *r)
{
	struct kv_list kv = {};
	uint32_t len = 0;
	int err;

	get(r, &len, sizeof(len));
	if (r->bad || (size_t)(r->end - r->p) < len) {
		r->bad = true;
		return 0;
	}
	if (kv_decode(&kv, (const char *)r->p, len)) {
		t->dropped++;
	} else {
		err = kv_merge(&t->meta, &kv);
		if (err) {
			kv_free(&kv);
			return err;
		}
	}
	kv_free(&kv);
	r->p += len;
	return 0;
}

int stacktab_decode(struct stacktab *t, const void *buf, size_t len)
{
	struct rd r = { .p = buf, .end = (const unsigned char *)buf + len };
	uint32_t version = 0;
	char magic[4];
	int err = 0;

	get(&r, magic, 4);
	get(&r, &version, sizeof(version));
	if (r.bad || memcmp(magic, ST_MAGIC, 4) || version != ST_VERSION)
		return -EINVAL;
	while (!err && !r.bad && r.p < r.end) {
		uint8_t tag = 0;

		get(&r, &tag, 1);
		switch (tag) {
		case TAG_FRAME:
			err = decode_frame(t, &r);
			break;
		case TAG_STACK:
			err = decode_stack(t, &r);
			break;
		case TAG_THREAD:
			err = decode_thread(t, &r);
			break;
		case TAG_META:
			err = decode_meta(t, &r);
			break;
		default:
			r.bad = true;
		}
	}
	if (r.bad)
		t->dropped++;
	return err;
}

/* ------------------------------------------------------------ frame text */

/* Library files by their import path, others by their base name. */
static const char *short_file(const char *file, char *buf, size_t len)
{
	static const char *const roots[] = { "site-packages/",
					     "dist-packages/" };
	const char *p, *base;

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++)
		if ((p = strstr(file, roots[i])))
			return p + strlen(roots[i]);
	p = strstr(file, "/lib/python3");
	if (p && (p = strchr(p + 12, '/')))
		return p + 1;
	base = strrchr(file, '/');
	if (!base)
		return file;
	/* "pkg/__init__.py" says more than "__init__.py" */
	if (!strcmp(base, "/__init__.py") || !strcmp(base, "/__main__.py")) {
		const char *q = base;

		while (q > file && q[-1] != '/')
			q--;
		snprintf(buf, len, "%s", q);
		return buf;
	}
	return base + 1;
}

/* One line of text: no ';' (the folded format's separator), no line breaks. */
void stacktab_one_line(char *s)
{
	for (; *s; s++)
		if (*s == ';')
			*s = ':';
		else if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* A frame as people read it: "func (file.py:12)", "sym (lib.so)". */
void stacktab_frame_text(const struct st_frame *f, char *out, size_t len)
{
	char buf[256];

	switch (f->kind) {
	case ST_PYTHON:
		if (f->file[0])
			snprintf(out, len, "%s (%s:%d)", f->name,
				 short_file(f->file, buf, sizeof(buf)),
				 f->line);
		else
			snprintf(out, len, "%s", f->name);
		break;
	case ST_NATIVE:
		snprintf(out, len, "%s (%s)", f->name, f->file);
		break;
	default:
		snprintf(out, len, "%s", f->name);
	}
	stacktab_one_line(out);
}
