/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the session reader (session/session_read.c: the metadata pass,
 * session_events.c: the events in timestamp order): the reader's state.
 * See docs/session-format.md.
 */
#ifndef GS_SESSION_INT_H
#define GS_SESSION_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>
#include "session/session.h"

#define MAX_RAW_CHUNK (64u << 20) /* no chunk expands beyond this */
#define MAX_META_CHUNK (1u << 20) /* key=value chunks are small */
#define MAX_IMAGES 65536
#define MAX_THREADS 65536
#define REORDER_WINDOW_NS GS_REORDER_WINDOW_NS

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

/* The first damage found, at byte OFF (the others follow from it). */
void set_damage(struct gs_reader *r, long off, const char *what);
/* A header read in full at OFF is one gilscope could have written. */
bool chunk_header_ok(struct gs_reader *r, const struct gs_chunk_header *h,
		     long off);
/* session_events.c: an event run's memory */
void run_free(struct event_run *run);

#endif /* GS_SESSION_INT_H */
