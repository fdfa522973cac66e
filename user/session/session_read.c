// SPDX-License-Identifier: GPL-2.0
/*
 * Session file reader: the metadata pass (host, images, threads, blobs,
 * trailer) and what it keeps. See docs/session-format.md.
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
#include "session/session_int.h"
#include "session/keys.h"

void set_damage(struct gs_reader *r, long off, const char *what)
{
	if (!r->s.damage[0])
		snprintf(r->s.damage, sizeof(r->s.damage), "%s at byte %ld",
			 what, off);
}

/* A header read in full at OFF is one gilscope could have written. */
bool chunk_header_ok(struct gs_reader *r, const struct gs_chunk_header *h,
		     long off)
{
	if (h->magic != GS_CHUNK_MAGIC) {
		set_damage(r, off, "bad chunk marker");
		return false;
	}
	if (h->size > MAX_RAW_CHUNK || h->raw_size > MAX_RAW_CHUNK) {
		set_damage(r, off, "chunk larger than any gilscope writes");
		return false;
	}
	return true;
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

	n = fread(h, 1, sizeof(*h), r->f);
	if (n == 0 && feof(r->f))
		return 0;
	if (n != sizeof(*h)) {
		r->s.cut_short = true;
		set_damage(r, off, "file ends inside a chunk header");
		return -1;
	}
	if (!chunk_header_ok(r, h, off))
		return -1;
	*payload = malloc(h->size ? h->size : 1);
	if (!*payload)
		return -1;
	if (fread(*payload, 1, h->size, r->f) != h->size) {
		r->s.cut_short = true;
		set_damage(r, off, "file ends inside a chunk");
		goto bad;
	}
	if (gs_chunk_crc(h, *payload) != h->crc) {
		set_damage(r, off, "checksum mismatch");
		goto bad;
	}
	return 1;
bad:
	free(*payload);
	*payload = NULL;
	return -1;
}

/* ---- images: deduplicated by (pid, since_ns) in a hash while scanning */

static uint64_t image_hash(uint32_t pid, uint64_t since)
{
	uint64_t h = (since ^ ((uint64_t)pid << 32)) * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 31);
}

/* The slot of image (PID, SINCE), or the empty slot where it would go. */
static uint32_t *image_slot(const struct gs_reader *r, uint32_t pid,
			    uint64_t since)
{
	size_t mask = r->n_slots - 1;
	size_t i = image_hash(pid, since) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t *slot = &r->image_slots[i];
		const struct gs_image *img;

		if (!*slot)
			return slot;
		img = &r->s.images[*slot - 1];
		if (img->pid == pid && img->since_ns == since)
			return slot;
	}
}

/* Room in the hash for one more image: it stays at most half full. */
static int grow_image_hash(struct gs_reader *r)
{
	size_t n = r->s.n_images, slots;
	uint32_t *v;

	if (2 * (n + 1) <= r->n_slots)
		return 0;
	slots = r->n_slots ? 2 * r->n_slots : 256;
	v = calloc(slots, sizeof(*v));
	if (!v)
		return -ENOMEM;
	free(r->image_slots);
	r->image_slots = v;
	r->n_slots = slots;
	for (size_t i = 0; i < n; i++)
		*image_slot(r, r->s.images[i].pid, r->s.images[i].since_ns) =
			i + 1;
	return 0;
}

static int grow_images(struct gs_reader *r)
{
	size_t cap = r->images_cap ? 2 * r->images_cap : 64;
	struct gs_image *v;

	if (r->s.n_images < r->images_cap)
		return 0;
	v = realloc(r->s.images, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	r->s.images = v;
	r->images_cap = cap;
	return 0;
}

/* A PROCESS chunk: a new image, or more keys for one seen before. */
static int add_image(struct gs_reader *r, const struct kv_list *kv)
{
	uint32_t pid = kv_get_u64(kv, GS_KEY_PID, 0);
	uint64_t since = kv_get_u64(kv, GS_KEY_SINCE_NS, 0);
	struct gs_image *img;
	uint32_t *slot;

	if (grow_image_hash(r))
		return -ENOMEM;
	slot = image_slot(r, pid, since);
	if (*slot)
		return kv_merge(&r->s.images[*slot - 1].kv, kv);
	if (r->s.n_images >= MAX_IMAGES)
		return 0;
	if (grow_images(r))
		return -ENOMEM;
	img = &r->s.images[r->s.n_images++];
	memset(img, 0, sizeof(*img));
	img->pid = pid;
	img->since_ns = since;
	*slot = r->s.n_images;
	return kv_merge(&img->kv, kv);
}

static int image_cmp(const void *a, const void *b, void *ctx)
{
	const struct gs_image *images = ctx;
	const struct gs_image *x = &images[*(const uint32_t *)a];
	const struct gs_image *y = &images[*(const uint32_t *)b];

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->since_ns != y->since_ns)
		return x->since_ns < y->since_ns ? -1 : 1;
	return 0;
}

int gs_session_index(struct gs_session *s)
{
	uint32_t *order;

	if (!s->n_images)
		return 0;
	order = realloc(s->images_by_pid, s->n_images * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_images; i++)
		order[i] = i;
	qsort_r(order, s->n_images, sizeof(*order), image_cmp, s->images);
	s->images_by_pid = order;
	return 0;
}

/* After the metadata pass: the index gs_session_image() searches. */
static int index_images(struct gs_reader *r)
{
	free(r->image_slots);
	r->image_slots = NULL;
	return gs_session_index(&r->s);
}

static const struct gs_image *image_at(const struct gs_session *s, size_t i)
{
	return &s->images[s->images_by_pid[i]];
}

const struct gs_image *gs_session_image(const struct gs_session *s,
					uint32_t pid, uint64_t ts)
{
	size_t lo = 0, hi = s->n_images;

	/* the first image past (pid, ts) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct gs_image *img = image_at(s, mid);

		if (img->pid < pid || (img->pid == pid && img->since_ns <= ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && image_at(s, lo - 1)->pid == pid)
		return image_at(s, lo - 1);
	/* events before the first known image belong to it */
	if (lo < s->n_images && image_at(s, lo)->pid == pid)
		return image_at(s, lo);
	return NULL;
}

/* ---- metadata pass */

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
			err = add_image(r, &kv);
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

	if (r->blob_bytes + h->raw_size > MAX_BLOB_BYTES) {
		r->s.blobs_skipped++; /* flame says so */
		return 0;
	}
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
	r->blob_bytes += raw;
	return 0;
bad:
	free(data);
	set_damage(r, ftell(r->f), "malformed stacks chunk");
	return -1;
}

/*
 * First pass: metadata, and every chunk's CRC; event chunks are counted and
 * skipped. The events pass reads no chunk at or past where this one stopped.
 */
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
		else if (h.type >= GS_CHUNK_HOST &&
			 h.type <= GS_CHUNK_TRAILER &&
			 take_meta(r, &h, payload)) {
			free(payload);
			break;
		} else if (h.type == GS_CHUNK_STACKS &&
			   take_blob(r, &h, payload)) {
			free(payload);
			break;
		}
		free(payload);
		payload = NULL;
	}
	r->stop_at = off;
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
	r->f = fopen(path, "rb");
	if (!r->f) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path,
			 strerror(-ret));
		goto fail;
	}
	r->fd = fileno(r->f);
	if (fread(&h, 1, sizeof(h), r->f) != sizeof(h) ||
	    memcmp(h.magic, GS_SESSION_MAGIC, sizeof(h.magic))) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s is not a gilscope session file%s",
			 path,
			 ftell(r->f) < (long)sizeof(h) ?
				 " (empty or too short)" :
				 "");
		goto fail;
	}
	if (h.version > GS_SESSION_VERSION) {
		ret = -EPROTONOSUPPORT;
		snprintf(
			err, errlen,
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
	r->cursor = r->data_start;
	scan_metadata(r);
	ret = index_images(r);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
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
	free(r->s.images_by_pid);
	free(r->image_slots);
	for (size_t i = 0; i < r->s.n_threads; i++)
		kv_free(&r->s.threads[i]);
	free(r->s.threads);
	for (size_t i = 0; i < r->s.n_blobs; i++)
		free(r->s.blobs[i].data);
	free(r->s.blobs);
	for (size_t i = 0; i < r->n_runs; i++)
		run_free(r->runs[i]);
	for (size_t i = 0; i < r->n_spare; i++)
		run_free(r->spare[i]);
	free(r);
}
