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
#include "session/session.h"

#define EVENTS_PER_CHUNK 16384
#define MAX_RAW_CHUNK (64u << 20) /* no chunk expands beyond this */
#define MAX_META_CHUNK (1u << 20) /* key=value chunks are small */
#define MAX_IMAGES 65536
#define MAX_THREADS 65536
#define REORDER_WINDOW_NS GS_REORDER_WINDOW_NS

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
uint32_t gs_chunk_crc(const struct gs_chunk_header *h, const void *payload)
{
	struct gs_chunk_header copy = *h;
	uLong crc;

	copy.crc = 0;
	crc = crc32(0, (const Bytef *)&copy, sizeof(copy));
	return crc32(crc, payload, h->size);
}

struct gs_chunk_header gs_chunk_header_for(uint16_t type, uint16_t flags,
					   const void *payload, uint32_t size,
					   uint32_t raw_size, uint32_t count)
{
	struct gs_chunk_header h = {
		.magic = GS_CHUNK_MAGIC,
		.type = type,
		.flags = flags,
		.size = size,
		.raw_size = raw_size,
		.count = count,
	};

	h.crc = gs_chunk_crc(&h, payload);
	return h;
}

static int write_chunk(struct gs_writer *w, uint16_t type, uint16_t flags,
		       const void *payload, uint32_t size, uint32_t raw_size,
		       uint32_t count)
{
	struct gs_chunk_header h = gs_chunk_header_for(type, flags, payload,
						       size, raw_size, count);

	write_all(w, &h, sizeof(h));
	return write_all(w, payload, size);
}

/*
 * PATH for writing, readable by its owner only: a session holds the command
 * lines and stacks of processes traced as root (perf.data is 0600 too). A
 * file that existed is made 0600 as well; a device (/dev/null) is left as
 * it is. Returns the descriptor or -errno.
 */
static int open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) != 0600 && fchmod(fd, 0600)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
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
	w->fd = open_private(path);
	if (w->fd < 0) {
		err = w->fd;
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

void gs_sort_events(struct gs_event *v, struct gs_event *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if (n < 2)
		return;
	gs_sort_events(v, tmp, mid);
	gs_sort_events(v + mid, tmp, n - mid);
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
	gs_sort_events(w->buf, w->tmp, w->n);
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

/*
 * Events come back in timestamp order by merging the EVENTS chunks, which
 * the writer sorted: each open chunk is a "run", decoded a few KB at a time
 * from the file, and a min-heap of runs keyed by (head timestamp, open
 * order) gives the next event; ties go to the chunk earlier in the file, so
 * events with one timestamp keep their file order.
 *
 * A chunk is opened before the heap's minimum is emitted while the newest
 * first event of an opened chunk is at most REORDER_WINDOW_NS later than
 * that minimum: an event later in the file comes out of order only if one
 * more than the window newer came before it. Memory is bounded by the open
 * runs (about 80 KB each), whatever the chunk sizes or timestamps; at
 * MAX_OPEN_RUNS the minimum is emitted anyway (only a hostile file gets
 * there: a real one holds a few chunks per 50 ms) and counted.
 */
#define MAX_OPEN_RUNS GS_READER_MAX_RUNS
#define RUN_IN_BYTES (16u << 10)
#define RUN_OUT_EVENTS 512
#define RUN_OUT_BYTES (RUN_OUT_EVENTS * sizeof(struct gs_event))
#define ZLIB_HEADER 2
#define ZLIB_TRAILER 4 /* Adler-32: the chunk CRC covers these bytes already */

struct event_run {
	struct gs_event *out; /* decoded events; the last one may be partial */
	size_t out_bytes;     /* bytes decoded into out */
	size_t n_full;	      /* whole events in out */
	size_t pos;	      /* the head: next event to emit */
	uint64_t head_ts;     /* out[pos].ts, the heap key */
	uint64_t order;	      /* runs opened before this one */
	uint64_t raw_left;    /* decoded bytes the chunk still owes */
	long in_off;	      /* next payload byte to read */
	uint32_t in_left;     /* payload bytes not read yet */
	long end_off;	      /* where the chunk ends, for damage messages */
	bool zlib;
	bool ended; /* stream end (zlib) or all bytes read (stored) */
	unsigned char *in;
	z_stream z;
};

struct gs_reader {
	FILE *f;
	int fd;
	struct gs_session s;
	long data_start; /* offset of the first chunk */
	long stop_at; /* where the first pass stopped; nothing is read past */
	/* events pass */
	long cursor; /* next chunk header to look at */
	bool cursor_done;
	struct event_run *runs[MAX_OPEN_RUNS]; /* min-heap */
	size_t n_runs;
	struct event_run *spare[MAX_OPEN_RUNS]; /* closed runs, for reuse */
	size_t n_spare;
	uint64_t opened;
	uint64_t frontier_ts; /* newest first event of an opened run */
	/* metadata pass */
	uint32_t *image_slots; /* hash of (pid, since_ns): image index + 1 */
	size_t n_slots;
	size_t images_cap;
	size_t blob_bytes;
};

static void set_damage(struct gs_reader *r, long off, const char *what)
{
	if (!r->s.damage[0])
		snprintf(r->s.damage, sizeof(r->s.damage), "%s at byte %ld",
			 what, off);
}

/* A header read in full at OFF is one gilscope could have written. */
static bool chunk_header_ok(struct gs_reader *r,
			    const struct gs_chunk_header *h, long off)
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
	uint32_t pid = kv_get_u64(kv, "pid", 0);
	uint64_t since = kv_get_u64(kv, "since_ns", 0);
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

/* ---- events pass */

static bool pread_all(int fd, void *buf, size_t len, long off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		off += n;
		len -= n;
	}
	return true;
}

/* The header of the next EVENTS chunk past the cursor; false at the end. */
static bool next_events_chunk(struct gs_reader *r, struct gs_chunk_header *h,
			      long *off)
{
	while (!r->cursor_done) {
		*off = r->cursor;
		if (*off >= r->stop_at)
			break;
		/* checked by the first pass: fails only if the file changed */
		if (!pread_all(r->fd, h, sizeof(*h), *off)) {
			set_damage(r, *off, "file ends inside a chunk header");
			break;
		}
		if (!chunk_header_ok(r, h, *off))
			break;
		r->cursor += sizeof(*h) + h->size;
		if (h->type == GS_CHUNK_EVENTS)
			return true;
	}
	r->cursor_done = true;
	return false;
}

/* Damage in RUN's chunk: the run ends and no further chunk is opened. */
static bool run_damaged(struct gs_reader *r, struct event_run *run,
			const char *what)
{
	set_damage(r, run->end_off, what);
	r->cursor_done = true;
	run->ended = true;
	run->out_bytes = run->n_full = run->pos = 0;
	return false;
}

static bool run_read_input(struct gs_reader *r, struct event_run *run)
{
	uint32_t len = run->in_left;

	if (len > RUN_IN_BYTES)
		len = RUN_IN_BYTES;

	if (!pread_all(r->fd, run->in, len, run->in_off))
		return false;
	run->z.next_in = run->in;
	run->z.avail_in = len;
	run->in_off += len;
	run->in_left -= len;
	return true;
}

/* Inflate more of RUN's chunk into the free end of its buffer. */
static bool run_inflate(struct gs_reader *r, struct event_run *run)
{
	size_t space = RUN_OUT_BYTES - run->out_bytes;
	/* one byte more than owed shows a stream longer than raw_size */
	size_t avail = run->raw_left < space ? run->raw_left + 1 : space;
	size_t produced;
	int ret;

	if (!run->z.avail_in && run->in_left && !run_read_input(r, run))
		return false;
	run->z.next_out = (Bytef *)run->out + run->out_bytes;
	run->z.avail_out = avail;
	ret = inflate(&run->z, Z_NO_FLUSH);
	produced = avail - run->z.avail_out;
	if (produced > run->raw_left)
		return false;
	run->out_bytes += produced;
	run->raw_left -= produced;
	if (ret == Z_STREAM_END) {
		run->ended = true;
		return !run->raw_left;
	}
	/* Z_BUF_ERROR: no progress without more input */
	return ret == Z_OK || (ret == Z_BUF_ERROR && run->in_left);
}

/* A stored chunk: its bytes are the events. */
static bool run_read_stored(struct gs_reader *r, struct event_run *run)
{
	size_t space = RUN_OUT_BYTES - run->out_bytes;
	size_t len = run->raw_left < space ? run->raw_left : space;

	if (!pread_all(r->fd, (char *)run->out + run->out_bytes, len,
		       run->in_off))
		return false;
	run->in_off += len;
	run->out_bytes += len;
	run->raw_left -= len;
	run->ended = !run->raw_left;
	return true;
}

/* Decode RUN's next events once its buffer is used up: false at its end. */
static bool run_fill(struct gs_reader *r, struct event_run *run)
{
	size_t used = run->n_full * sizeof(struct gs_event);

	/* the partial event at the end moves to the front */
	memmove(run->out, (char *)run->out + used, run->out_bytes - used);
	run->out_bytes -= used;
	run->pos = 0;
	while (run->out_bytes < sizeof(struct gs_event) && !run->ended) {
		bool ok = run->zlib ? run_inflate(r, run) :
				      run_read_stored(r, run);

		if (!ok)
			return run_damaged(r, run, "undecodable events chunk");
	}
	run->n_full = run->out_bytes / sizeof(struct gs_event);
	return run->n_full > 0;
}

/* Move RUN's head to its next event of a known type: false at its end. */
static bool run_settle(struct gs_reader *r, struct event_run *run)
{
	for (;;) {
		for (; run->pos < run->n_full; run->pos++) {
			const struct gs_event *e = &run->out[run->pos];

			if (e->type != GS_EV_NONE && e->type < GS_EV_MAX) {
				run->head_ts = e->ts;
				return true;
			}
		}
		if (!run_fill(r, run))
			return false;
	}
}

static struct event_run *run_alloc(struct gs_reader *r)
{
	struct event_run *run;

	if (r->n_spare)
		return r->spare[--r->n_spare];
	run = calloc(1, sizeof(*run));
	if (!run)
		return NULL;
	run->out = malloc(RUN_OUT_BYTES);
	run->in = malloc(RUN_IN_BYTES);
	if (!run->out || !run->in ||
	    inflateInit2(&run->z, -MAX_WBITS) != Z_OK) {
		free(run->out);
		free(run->in);
		free(run);
		return NULL;
	}
	return run;
}

static void run_free(struct event_run *run)
{
	inflateEnd(&run->z);
	free(run->out);
	free(run->in);
	free(run);
}

/* A run kept for the next chunk: the inflate state is reset, not rebuilt. */
static void run_recycle(struct gs_reader *r, struct event_run *run)
{
	if (r->n_spare < MAX_OPEN_RUNS)
		r->spare[r->n_spare++] = run;
	else
		run_free(run);
}

/* The two bytes before the deflate data: deflate, no preset dictionary. */
static bool zlib_header_ok(const unsigned char *p)
{
	return (p[0] & 0x0f) == Z_DEFLATED && (p[0] >> 4) <= 7 &&
	       !(p[1] & 0x20) && (p[0] << 8 | p[1]) % 31 == 0;
}

/* Set RUN up to decode the chunk whose header H is at OFF. */
static bool run_start(struct gs_reader *r, struct event_run *run,
		      const struct gs_chunk_header *h, long off)
{
	long payload = off + sizeof(*h);

	run->out_bytes = run->n_full = run->pos = 0;
	run->raw_left = h->raw_size;
	run->end_off = payload + h->size;
	run->zlib = h->flags & GS_CHUNK_ZLIB;
	run->ended = false;
	run->in_off = payload;
	if (h->raw_size % sizeof(struct gs_event) ||
	    h->raw_size / sizeof(struct gs_event) != h->count ||
	    (!run->zlib && h->size != h->raw_size))
		return run_damaged(r, run, "malformed events chunk");
	if (!run->zlib)
		return true;
	run->in_left = h->size >= ZLIB_HEADER + ZLIB_TRAILER ?
			       h->size - ZLIB_TRAILER :
			       0;
	inflateReset(&run->z);
	run->z.avail_in = 0;
	if (!run->in_left || !run_read_input(r, run) ||
	    !zlib_header_ok(run->in))
		return run_damaged(r, run, "undecodable events chunk");
	run->z.next_in += ZLIB_HEADER;
	run->z.avail_in -= ZLIB_HEADER;
	return true;
}

static bool run_before(const struct event_run *a, const struct event_run *b)
{
	return a->head_ts < b->head_ts ||
	       (a->head_ts == b->head_ts && a->order < b->order);
}

static void runs_sift_down(struct gs_reader *r, size_t i)
{
	struct event_run *run = r->runs[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= r->n_runs)
			break;
		if (c + 1 < r->n_runs && run_before(r->runs[c + 1], r->runs[c]))
			c++;
		if (!run_before(r->runs[c], run))
			break;
		r->runs[i] = r->runs[c];
		i = c;
	}
	r->runs[i] = run;
}

static void runs_push(struct gs_reader *r, struct event_run *run)
{
	size_t i = r->n_runs++;

	while (i && run_before(run, r->runs[(i - 1) / 2])) {
		r->runs[i] = r->runs[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	r->runs[i] = run;
}

/*
 * Open the next EVENTS chunk as a run in the heap; chunks without events
 * are passed over. False when no chunk is left (or one is damaged).
 */
static bool open_next_run(struct gs_reader *r)
{
	struct gs_chunk_header h;
	long off;

	while (next_events_chunk(r, &h, &off)) {
		struct event_run *run = run_alloc(r);

		if (!run) {
			set_damage(r, off, "out of memory for events chunk");
			r->cursor_done = true;
			return false;
		}
		if (!run_start(r, run, &h, off) || !run_settle(r, run)) {
			run_recycle(r, run);
			continue;
		}
		run->order = r->opened++;
		if (run->head_ts > r->frontier_ts)
			r->frontier_ts = run->head_ts;
		runs_push(r, run);
		if (r->n_runs > r->s.peak_open_chunks)
			r->s.peak_open_chunks = r->n_runs;
		return true;
	}
	return false;
}

/*
 * Before the heap's minimum goes out: may a chunk not opened yet still hold
 * an earlier event? Yes while the newest chunk start seen is within the
 * window of it (the old reader's rule: hold an event until one more than
 * the window newer has been read).
 */
static bool needs_another_run(struct gs_reader *r)
{
	uint64_t head;

	if (r->cursor_done)
		return false;
	if (!r->n_runs)
		return true;
	head = r->runs[0]->head_ts;
	if (r->frontier_ts > head && r->frontier_ts - head > REORDER_WINDOW_NS)
		return false;
	if (r->n_runs < MAX_OPEN_RUNS)
		return true;
	r->s.events_past_window++;
	return false;
}

int gs_reader_next(struct gs_reader *r, struct gs_event *e)
{
	struct event_run *top;

	while (needs_another_run(r) && open_next_run(r))
		;
	if (!r->n_runs)
		return 0;
	top = r->runs[0];
	*e = top->out[top->pos++];
	if (!run_settle(r, top)) {
		run_recycle(r, top);
		r->runs[0] = r->runs[--r->n_runs];
	}
	if (r->n_runs)
		runs_sift_down(r, 0);
	return 1;
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
