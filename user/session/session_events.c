// SPDX-License-Identifier: GPL-2.0
/*
 * Session file reader: the events pass, every EVENTS chunk merged in
 * timestamp order (how: session_int.h). See docs/session-format.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "session/session_int.h"

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

void run_free(struct event_run *run)
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
