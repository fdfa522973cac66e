/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The session file: a header, then self-delimiting chunks (each with its own
 * length and CRC), so that a file cut short anywhere is readable up to the
 * last complete chunk. Format: docs/session-format.md.
 */
#ifndef GS_SESSION_H
#define GS_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gilscope.h"
#include "common/kv.h"

#define GS_SESSION_MAGIC "GILSCOPE"
#define GS_SESSION_VERSION 1
#define GS_CHUNK_MAGIC 0x4b484347u /* "GCHK" little endian */

enum gs_chunk_type {
	GS_CHUNK_HOST = 1,    /* key=value: machine and session facts */
	GS_CHUNK_PROCESS = 2, /* key=value: one process image */
	GS_CHUNK_EVENTS = 3,  /* struct gs_event[], sorted by ts */
	GS_CHUNK_THREAD = 4,  /* key=value: a thread's state when attaching */
	GS_CHUNK_TRAILER = 5, /* key=value: counts, written last */
	/* binary, zlib: the stack table (user/session/stacktab.c,
	 * docs/flamegraphs.md); kept by the reader as a blob */
	GS_CHUNK_STACKS = 6,
};

#define GS_CHUNK_ZLIB 0x1

struct gs_file_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
};

struct gs_chunk_header {
	uint32_t magic;
	uint16_t type;
	uint16_t flags;
	uint32_t size;	   /* payload bytes in the file */
	uint32_t raw_size; /* payload bytes once decompressed */
	uint32_t crc;	/* crc32 of this header (crc = 0), then the payload */
	uint32_t count; /* records in the payload */
};

/* The crc a chunk header h with h->size bytes of payload must carry. */
uint32_t gs_chunk_crc(const struct gs_chunk_header *h, const void *payload);

/* The header of a chunk of this payload, its magic and crc set. */
struct gs_chunk_header gs_chunk_header_for(uint16_t type, uint16_t flags,
					   const void *payload, uint32_t size,
					   uint32_t raw_size, uint32_t count);

/* Events reach the ring buffer in commit order, not quite in timestamp
 * order; readers (and live views) hold back this much time to restore it. */
#define GS_REORDER_WINDOW_NS 50000000ull

/*
 * Stable merge sort of N events by timestamp (TMP has room for N): events
 * of one CPU arrive in program order, and two with the same timestamp must
 * stay in it (a syscall entry before the switch-out it causes).
 */
void gs_sort_events(struct gs_event *v, struct gs_event *tmp, size_t n);

/* ---- writing ---- */

struct gs_writer;

int gs_writer_open(const char *path, struct gs_writer **out);
/* Write a key=value chunk now (host, process, thread, trailer). */
int gs_writer_kv(struct gs_writer *w, enum gs_chunk_type type,
		 const struct kv_list *kv);
/* Buffer one event; full buffers are written as a compressed chunk. */
int gs_writer_event(struct gs_writer *w, const struct gs_event *e);
/* Write a binary chunk now (zlib-compressed when that is smaller). */
int gs_writer_blob(struct gs_writer *w, enum gs_chunk_type type,
		   const void *data, size_t len, uint32_t count);
/* Write the buffered events as a chunk now. */
int gs_writer_flush(struct gs_writer *w);
uint64_t gs_writer_bytes(const struct gs_writer *w);
/* Flush and close; returns the first error seen while writing, if any. */
int gs_writer_close(struct gs_writer *w);

/* ---- reading ---- */

struct gs_image {
	struct kv_list kv; /* every key seen for this pid and since_ns */
	uint32_t pid;
	uint64_t since_ns;
};

/* A binary chunk the reader keeps for the module that knows it. */
struct gs_blob {
	uint16_t type;
	uint32_t count;
	unsigned char *data; /* decompressed */
	size_t size;
};

struct gs_session {
	struct kv_list host;
	struct kv_list trailer;
	struct gs_image *images; /* in file order */
	size_t n_images;
	uint32_t *images_by_pid; /* image indices by (pid, since_ns) */
	struct kv_list *threads; /* snapshots of threads found when attaching */
	size_t n_threads;
	struct gs_blob *blobs; /* STACKS chunks, in file order */
	size_t n_blobs;
	uint64_t events;  /* events readable in the file */
	bool finalized;	  /* a trailer was found */
	bool cut_short;	  /* the file ends inside a chunk */
	char damage[160]; /* what stopped the reading early, "" if none */
	/* events pass: most EVENTS chunks merged at once, and events let out
	 * with the cap of open chunks reached (order then not guaranteed) */
	uint32_t peak_open_chunks;
	/* STACKS chunks past the reader's cap (256 MB of them): not kept */
	uint32_t blobs_skipped;
	uint64_t events_past_window;
};

/* What a view says about the session it shows (its header lines). */
struct session_summary {
	const char *path;
	const char *mode;    /* "exact", "light" */
	const char *command; /* what was recorded */
	uint64_t duration_ns;
	uint64_t events;
	uint64_t lost;
	/* events read past the reader's cap of open chunks: their order
	 * is not guaranteed (only a hostile file has any) */
	uint64_t out_of_order;
	/* switch-ins the kernel did not report (the trailer's count) */
	uint64_t unseen_switch_ins;
	/* lost and unseen_switch_ins were read from a trailer: without
	 * one (the recorder was killed) they are unknown, not 0 */
	bool counts_known;
	bool cut_short;
	const char *damage; /* "" when the file was read whole */
};

struct gs_reader;

/* EVENTS chunks the reader merges at once at most (user/session/session_events.c) */
#define GS_READER_MAX_RUNS 1024

/*
 * Open PATH and read its metadata (every chunk but the events). Returns 0 or
 * -errno with a one-line cause in ERR. A file cut short or damaged after its
 * header is not an error: session->damage says where reading stops.
 */
int gs_reader_open(const char *path, struct gs_reader **out, char *err,
		   size_t errlen);
const struct gs_session *gs_reader_session(const struct gs_reader *r);
/* Next event in timestamp order: 1, or 0 at the end. */
int gs_reader_next(struct gs_reader *r, struct gs_event *e);
void gs_reader_close(struct gs_reader *r);

/* (Re)build the index gs_session_image() searches after images were
 * added (live views keep a session of their own). 0 or -ENOMEM. */
int gs_session_index(struct gs_session *s);
/* The image (exec generation) of PID in force at TS, or NULL. */
const struct gs_image *gs_session_image(const struct gs_session *s,
					uint32_t pid, uint64_t ts);

#endif /* GS_SESSION_H */
