// SPDX-License-Identifier: GPL-2.0
/*
 * Session file writer and reader. See docs/session-format.md.
 *
 * The reader never trusts the file: every length is checked against what is
 * left and against fixed caps, every payload against its CRC, so that a file
 * cut short or damaged anywhere yields what precedes the damage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "session.h"

#define EVENTS_PER_CHUNK 16384
#define MAX_RAW_CHUNK (64u << 20)  /* no chunk expands beyond this */
#define MAX_META_CHUNK (1u << 20)  /* key=value chunks are small */
#define MAX_IMAGES 65536
#define MAX_THREADS 65536
/* Events reach the ring buffer in commit order, not quite in timestamp
 * order; the reader holds back this much time to restore the order. */
#define REORDER_WINDOW_NS 50000000ull

/* ---------------------------------------------------------------- writer */

struct gs_writer {
	int fd;
	int err;
	uint64_t bytes;
	struct gs_event *buf, *tmp;
	size_t n;
	unsigned char *zbuf;
	size_t zcap;
};

static int write_all(struct gs_writer *w, const void *data, size_t len)
{
	const char *p = data;

	while (len && !w->err) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			w->err = n < 0 ? -errno : -EIO;
			break;
		}
		p += n;
		len -= n;
		w->bytes += n;
	}
	return w->err;
}

/* The CRC covers the header (with crc = 0) and the payload. */
static uint32_t chunk_crc(const struct gs_chunk_header *h, const void *payload)
{
	struct gs_chunk_header copy = *h;
	uLong crc;

	copy.crc = 0;
	crc = crc32(0, (const Bytef *)&copy, sizeof(copy));
	return crc32(crc, payload, h->size);
}

static int write_chunk(struct gs_writer *w, uint16_t type, uint16_t flags,
		       const void *payload, uint32_t size, uint32_t raw_size,
		       uint32_t count)
{
	struct gs_chunk_header h = {
		.magic = GS_CHUNK_MAGIC,
		.type = type,
		.flags = flags,
		.size = size,
		.raw_size = raw_size,
		.count = count,
	};

	h.crc = chunk_crc(&h, payload);

	write_all(w, &h, sizeof(h));
	return write_all(w, payload, size);
}

int gs_writer_open(const char *path, struct gs_writer **out)
{
	struct gs_file_header h = { .version = GS_SESSION_VERSION,
				    .header_size = sizeof(h) };
	struct gs_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->buf = calloc(EVENTS_PER_CHUNK, sizeof(*w->buf));
	w->tmp = calloc(EVENTS_PER_CHUNK, sizeof(*w->tmp));
	w->zcap = compressBound(EVENTS_PER_CHUNK * sizeof(*w->buf));
	w->zbuf = malloc(w->zcap);
	if (!w->buf || !w->tmp || !w->zbuf) {
		err = -ENOMEM;
		goto fail;
	}
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		err = -errno;
		goto fail;
	}
	memcpy(h.magic, GS_SESSION_MAGIC, sizeof(h.magic));
	err = write_all(w, &h, sizeof(h));
	if (err) {
		close(w->fd);
		goto fail;
	}
	*out = w;
	return 0;
fail:
	free(w->buf);
	free(w->tmp);
	free(w->zbuf);
	free(w);
	return err;
}

int gs_writer_kv(struct gs_writer *w, enum gs_chunk_type type,
		 const struct kv_list *kv)
{
	size_t len;
	char *text = kv_encode(kv, &len);
	int err;

	if (!text)
		return -ENOMEM;
	err = write_chunk(w, type, 0, text, len, len, kv->n);
	free(text);
	return err;
}

/*
 * Stable merge sort by timestamp: events of one CPU arrive in program order,
 * and two with the same timestamp must stay in it (a syscall entry before
 * the switch-out it causes).
 */
/* A binary chunk (STACKS): compressed when that is smaller. */
int gs_writer_blob(struct gs_writer *w, enum gs_chunk_type type,
		   const void *data, size_t len, uint32_t count)
{
	uLongf zlen = compressBound(len);
	unsigned char *z;
	int err;

	if (len > MAX_RAW_CHUNK)
		return -E2BIG;
	z = malloc(zlen);
	if (z && compress2(z, &zlen, data, len, 1) == Z_OK && zlen < len)
		err = write_chunk(w, type, GS_CHUNK_ZLIB, z, zlen, len, count);
	else
		err = write_chunk(w, type, 0, data, len, len, count);
	free(z);
	return err;
}

static void sort_events(struct gs_event *v, struct gs_event *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	sort_events(v, tmp, mid);
	sort_events(v + mid, tmp, n - mid);
	if (v[mid - 1].ts <= v[mid].ts)
		return; /* already in order: the common case */
	while (i < mid && j < n)
		tmp[k++] = v[j].ts < v[i].ts ? v[j++] : v[i++];
	while (i < mid)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

int gs_writer_flush(struct gs_writer *w)
{
	uLongf zlen = w->zcap;
	size_t raw = w->n * sizeof(*w->buf);
	int err;

	if (!w->n)
		return w->err;
	sort_events(w->buf, w->tmp, w->n);
	if (compress2(w->zbuf, &zlen, (const Bytef *)w->buf, raw, 1) == Z_OK)
		err = write_chunk(w, GS_CHUNK_EVENTS, GS_CHUNK_ZLIB, w->zbuf,
				  zlen, raw, w->n);
	else
		err = write_chunk(w, GS_CHUNK_EVENTS, 0, w->buf, raw, raw,
				  w->n);
	w->n = 0;
	return err;
}

int gs_writer_event(struct gs_writer *w, const struct gs_event *e)
{
	w->buf[w->n++] = *e;
	if (w->n == EVENTS_PER_CHUNK)
		return gs_writer_flush(w);
	return w->err;
}

uint64_t gs_writer_bytes(const struct gs_writer *w)
{
	return w->bytes;
}

int gs_writer_close(struct gs_writer *w)
{
	int err;

	gs_writer_flush(w);
	if (!w->err && fsync(w->fd) && errno != EINVAL && errno != EROFS)
		w->err = -errno;
	if (close(w->fd) && !w->err)
		w->err = -errno;
	err = w->err;
	free(w->buf);
	free(w->tmp);
	free(w->zbuf);
	free(w);
	return err;
}

/* ---------------------------------------------------------------- reader */

/* A min-heap of events by (timestamp, arrival): the reorder window. */
struct heap_item {
	struct gs_event e;
	uint64_t seq;
};

struct event_heap {
	struct heap_item *v;
	size_t n, cap;
	uint64_t seq;
};

static bool before(const struct heap_item *a, const struct heap_item *b)
{
	return a->e.ts < b->e.ts || (a->e.ts == b->e.ts && a->seq < b->seq);
}

struct gs_reader {
	FILE *f;
	struct gs_session s;
	long data_start; /* offset of the first chunk */
	long stop_at;	 /* no chunk is read at or past this offset */
	struct gs_event *chunk;
	size_t chunk_n, chunk_pos;
	struct event_heap heap;
	uint64_t newest_ts;
	bool eof;
};

static void heap_push(struct event_heap *h, const struct gs_event *e)
{
	struct heap_item item = { .e = *e, .seq = h->seq++ };
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 4096;
		struct heap_item *v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return; /* dropping beats crashing; counted nowhere */
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	while (i && before(&item, &h->v[(i - 1) / 2])) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = item;
}

static void heap_pop(struct event_heap *h, struct gs_event *out)
{
	struct heap_item last;
	size_t i = 0;

	*out = h->v[0].e;
	last = h->v[--h->n];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
}

static void set_damage(struct gs_reader *r, long off, const char *what)
{
	if (!r->s.damage[0])
		snprintf(r->s.damage, sizeof(r->s.damage), "%s at byte %ld",
			 what, off);
}

/*
 * Read the chunk at the current position. Returns 1 with the header and
 * payload (as stored), 0 at a clean end of file, -1 where the file is cut
 * short or damaged (recorded in r->s).
 */
static int read_chunk(struct gs_reader *r, struct gs_chunk_header *h,
		      unsigned char **payload)
{
	long off = ftell(r->f);
	size_t n;

	if (r->stop_at >= 0 && off >= r->stop_at)
		return 0;
	n = fread(h, 1, sizeof(*h), r->f);
	if (n == 0 && feof(r->f))
		return 0;
	if (n != sizeof(*h)) {
		r->s.cut_short = true;
		set_damage(r, off, "file ends inside a chunk header");
		return -1;
	}
	if (h->magic != GS_CHUNK_MAGIC) {
		set_damage(r, off, "bad chunk marker");
		return -1;
	}
	if (h->size > MAX_RAW_CHUNK || h->raw_size > MAX_RAW_CHUNK) {
		set_damage(r, off, "chunk larger than any gilscope writes");
		return -1;
	}
	*payload = malloc(h->size ? h->size : 1);
	if (!*payload)
		return -1;
	if (fread(*payload, 1, h->size, r->f) != h->size) {
		r->s.cut_short = true;
		set_damage(r, off, "file ends inside a chunk");
		goto bad;
	}
	if (chunk_crc(h, *payload) != h->crc) {
		set_damage(r, off, "checksum mismatch");
		goto bad;
	}
	return 1;
bad:
	free(*payload);
	*payload = NULL;
	return -1;
}

static int add_image(struct gs_session *s, const struct kv_list *kv)
{
	uint32_t pid = kv_get_u64(kv, "pid", 0);
	uint64_t since = kv_get_u64(kv, "since_ns", 0);
	struct gs_image *img;

	for (size_t i = 0; i < s->n_images; i++)
		if (s->images[i].pid == pid && s->images[i].since_ns == since)
			return kv_merge(&s->images[i].kv, kv);
	if (s->n_images >= MAX_IMAGES)
		return 0;
	img = realloc(s->images, (s->n_images + 1) * sizeof(*img));
	if (!img)
		return -ENOMEM;
	s->images = img;
	img = &s->images[s->n_images++];
	memset(img, 0, sizeof(*img));
	img->pid = pid;
	img->since_ns = since;
	return kv_merge(&img->kv, kv);
}

static int add_thread(struct gs_session *s, const struct kv_list *kv)
{
	struct kv_list *t;

	if (s->n_threads >= MAX_THREADS)
		return 0;
	t = realloc(s->threads, (s->n_threads + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->threads = t;
	t = &s->threads[s->n_threads++];
	memset(t, 0, sizeof(*t));
	return kv_merge(t, kv);
}

static int take_meta(struct gs_reader *r, const struct gs_chunk_header *h,
		     const unsigned char *payload)
{
	struct kv_list kv = {};
	int err;

	if (h->size > MAX_META_CHUNK || h->flags) {
		set_damage(r, ftell(r->f), "malformed metadata chunk");
		return -1;
	}
	err = kv_decode(&kv, (const char *)payload, h->size);
	if (!err) {
		switch (h->type) {
		case GS_CHUNK_HOST:
			err = kv_merge(&r->s.host, &kv);
			break;
		case GS_CHUNK_PROCESS:
			err = add_image(&r->s, &kv);
			break;
		case GS_CHUNK_THREAD:
			err = add_thread(&r->s, &kv);
			break;
		case GS_CHUNK_TRAILER:
			err = kv_merge(&r->s.trailer, &kv);
			r->s.finalized = true;
			break;
		}
	}
	kv_free(&kv);
	if (err) {
		set_damage(r, ftell(r->f), "malformed metadata chunk");
		return -1;
	}
	return 0;
}

#define MAX_BLOB_BYTES (256u << 20) /* all kept binary chunks together */

/* Keep a STACKS chunk's payload, decompressed; damage ends the reading. */
static int take_blob(struct gs_reader *r, const struct gs_chunk_header *h,
		     const unsigned char *payload)
{
	struct gs_blob *b;
	unsigned char *data;
	uLongf raw = h->raw_size;
	size_t kept = 0;

	for (size_t i = 0; i < r->s.n_blobs; i++)
		kept += r->s.blobs[i].size;
	if (kept + h->raw_size > MAX_BLOB_BYTES)
		return 0; /* more than any recording makes: ignored */
	data = malloc(h->raw_size ? h->raw_size : 1);
	b = realloc(r->s.blobs, (r->s.n_blobs + 1) * sizeof(*b));
	if (b)
		r->s.blobs = b;
	if (!data || !b)
		goto bad;
	if (h->flags & GS_CHUNK_ZLIB) {
		if (uncompress(data, &raw, payload, h->size) != Z_OK ||
		    raw != h->raw_size)
			goto bad;
	} else if (h->size == h->raw_size) {
		memcpy(data, payload, h->size);
	} else {
		goto bad;
	}
	r->s.blobs[r->s.n_blobs++] = (struct gs_blob){
		.type = h->type, .count = h->count, .data = data, .size = raw
	};
	return 0;
bad:
	free(data);
	set_damage(r, ftell(r->f), "malformed stacks chunk");
	return -1;
}

/* First pass: metadata only; event chunks are counted and skipped. */
static void scan_metadata(struct gs_reader *r)
{
	struct gs_chunk_header h;
	unsigned char *payload = NULL;
	long off;

	for (;;) {
		bool is_events;
		int got;

		off = ftell(r->f);
		got = read_chunk(r, &h, &payload);
		if (got <= 0)
			break;
		is_events = h.type == GS_CHUNK_EVENTS;
		if (is_events)
			r->s.events += h.count;
		else if (h.type >= GS_CHUNK_HOST && h.type <= GS_CHUNK_TRAILER &&
			 take_meta(r, &h, payload)) {
			free(payload);
			break;
		} else if (h.type == GS_CHUNK_STACKS && take_blob(r, &h, payload)) {
			free(payload);
			break;
		}
		free(payload);
		payload = NULL;
	}
	/* the second pass stops where the first one found damage */
	r->stop_at = r->s.damage[0] ? off : -1;
}

int gs_reader_open(const char *path, struct gs_reader **out, char *err,
		   size_t errlen)
{
	struct gs_file_header h;
	struct gs_reader *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->stop_at = -1;
	r->f = fopen(path, "rb");
	if (!r->f) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(-ret));
		goto fail;
	}
	if (fread(&h, 1, sizeof(h), r->f) != sizeof(h) ||
	    memcmp(h.magic, GS_SESSION_MAGIC, sizeof(h.magic))) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s is not a gilscope session file%s", path,
			 ftell(r->f) < (long)sizeof(h) ? " (empty or too short)" : "");
		goto fail;
	}
	if (h.version > GS_SESSION_VERSION) {
		ret = -EPROTONOSUPPORT;
		snprintf(err, errlen,
			 "%s has session format version %u, this gilscope reads up to %u: use a newer gilscope",
			 path, h.version, GS_SESSION_VERSION);
		goto fail;
	}
	if (h.header_size < sizeof(h) || h.header_size > 4096 ||
	    fseek(r->f, h.header_size, SEEK_SET)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: damaged file header", path);
		goto fail;
	}
	r->data_start = h.header_size;
	scan_metadata(r);
	fseek(r->f, r->data_start, SEEK_SET);
	clearerr(r->f);
	*out = r;
	return 0;
fail:
	gs_reader_close(r);
	return ret;
}

const struct gs_session *gs_reader_session(const struct gs_reader *r)
{
	return &r->s;
}

/* Load the next events chunk into r->chunk; false at the end. */
static bool load_event_chunk(struct gs_reader *r)
{
	struct gs_chunk_header h;
	unsigned char *payload;
	uLongf raw;

	for (;;) {
		if (read_chunk(r, &h, &payload) <= 0)
			return false;
		if (h.type != GS_CHUNK_EVENTS) {
			free(payload);
			continue;
		}
		if (h.raw_size % sizeof(struct gs_event) ||
		    h.raw_size / sizeof(struct gs_event) != h.count) {
			set_damage(r, ftell(r->f), "malformed events chunk");
			free(payload);
			return false;
		}
		free(r->chunk);
		r->chunk = malloc(h.raw_size ? h.raw_size : 1);
		if (!r->chunk) {
			free(payload);
			return false;
		}
		raw = h.raw_size;
		if (h.flags & GS_CHUNK_ZLIB) {
			if (uncompress((Bytef *)r->chunk, &raw, payload, h.size) !=
				    Z_OK ||
			    raw != h.raw_size) {
				set_damage(r, ftell(r->f), "undecodable events chunk");
				free(payload);
				return false;
			}
		} else if (h.size == h.raw_size) {
			memcpy(r->chunk, payload, h.size);
		} else {
			set_damage(r, ftell(r->f), "malformed events chunk");
			free(payload);
			return false;
		}
		free(payload);
		r->chunk_n = h.count;
		r->chunk_pos = 0;
		if (r->chunk_n)
			return true;
	}
}

int gs_reader_next(struct gs_reader *r, struct gs_event *e)
{
	for (;;) {
		if (r->heap.n &&
		    (r->eof || r->heap.v[0].e.ts + REORDER_WINDOW_NS < r->newest_ts)) {
			heap_pop(&r->heap, e);
			return 1;
		}
		if (r->eof)
			return 0;
		if (r->chunk_pos == r->chunk_n && !load_event_chunk(r)) {
			r->eof = true;
			continue;
		}
		const struct gs_event *next = &r->chunk[r->chunk_pos++];

		if (next->type == GS_EV_NONE || next->type >= GS_EV_MAX)
			continue;
		heap_push(&r->heap, next);
		if (next->ts > r->newest_ts)
			r->newest_ts = next->ts;
	}
}

void gs_reader_close(struct gs_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	kv_free(&r->s.host);
	kv_free(&r->s.trailer);
	for (size_t i = 0; i < r->s.n_images; i++)
		kv_free(&r->s.images[i].kv);
	free(r->s.images);
	for (size_t i = 0; i < r->s.n_threads; i++)
		kv_free(&r->s.threads[i]);
	free(r->s.threads);
	for (size_t i = 0; i < r->s.n_blobs; i++)
		free(r->s.blobs[i].data);
	free(r->s.blobs);
	free(r->chunk);
	free(r->heap.v);
	free(r);
}

const struct gs_image *gs_session_image(const struct gs_session *s,
					uint32_t pid, uint64_t ts)
{
	const struct gs_image *best = NULL;

	for (size_t i = 0; i < s->n_images; i++) {
		const struct gs_image *img = &s->images[i];

		if (img->pid != pid)
			continue;
		if (img->since_ns <= ts &&
		    (!best || img->since_ns >= best->since_ns))
			best = img;
	}
	/* events before the first known image belong to it */
	if (!best)
		for (size_t i = 0; i < s->n_images; i++)
			if (s->images[i].pid == pid &&
			    (!best || s->images[i].since_ns < best->since_ns))
				best = &s->images[i];
	return best;
}
