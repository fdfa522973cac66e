// SPDX-License-Identifier: GPL-2.0
/*
 * The session file: what is written is read back, and a file cut short or
 * damaged anywhere gives the readable part or a clear error, never a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>
#include "analysis/replay.h"
#include "session/session.h"

#define N_EVENTS 40000

static char path[] = "/tmp/gs-test-session-XXXXXX";

static int write_session(const char *file, bool finalize)
{
	struct gs_writer *w;
	struct kv_list host = {}, proc = {}, trailer = {};
	int ret;

	ret = gs_writer_open(file, &w);
	if (ret)
		return ret;
	kv_set(&host, "start_ns", "1000");
	kv_set(&host, "kernel", "6.18 with = and\nnewline");
	gs_writer_kv(w, GS_CHUNK_HOST, &host);
	kv_set(&proc, "pid", "42");
	kv_set(&proc, "since_ns", "0");
	kv_set(&proc, "origin", "launch");
	gs_writer_kv(w, GS_CHUNK_PROCESS, &proc);
	/* written out of order, as the ring buffer delivers across CPUs */
	for (int i = 0; i < N_EVENTS; i++) {
		struct gs_event e = { .type = GS_EV_SYS_ENTER,
				      .tid = 42,
				      .tgid = 42 };

		e.ts = 1000 + (uint64_t)i * 10 + (i % 3 == 0 ? 25 : 0);
		e.a32 = i;
		gs_writer_event(w, &e);
	}
	if (finalize) {
		kv_set(&trailer, "end_ns", "500000");
		kv_set(&trailer, "events", "40000");
		gs_writer_flush(w);
		gs_writer_kv(w, GS_CHUNK_TRAILER, &trailer);
	}
	ret = gs_writer_close(w);
	kv_free(&host);
	kv_free(&proc);
	kv_free(&trailer);
	return ret;
}

static long read_all(const char *file, const struct gs_session **sess,
		     struct gs_reader **rd, bool *ordered)
{
	struct gs_event e;
	char err[256];
	uint64_t last = 0;
	long n = 0;

	if (gs_reader_open(file, rd, err, sizeof(err)))
		return -1;
	*sess = gs_reader_session(*rd);
	*ordered = true;
	while (gs_reader_next(*rd, &e) == 1) {
		if (e.ts < last)
			*ordered = false;
		last = e.ts;
		n++;
	}
	return n;
}

static void test_round_trip(void **state)
{
	const struct gs_session *s;
	struct gs_reader *r;
	bool ordered;

	(void)state;
	assert_int_equal(write_session(path, true), 0);
	assert_int_equal(read_all(path, &s, &r, &ordered), N_EVENTS);
	assert_true(ordered);
	assert_true(s->finalized);
	assert_false(s->cut_short);
	assert_string_equal(s->damage, "");
	assert_string_equal(kv_get(&s->host, "kernel"),
			    "6.18 with = and\nnewline");
	assert_int_equal(s->n_images, 1);
	assert_int_equal(s->images[0].pid, 42);
	assert_int_equal(kv_get_u64(&s->trailer, "events", 0), N_EVENTS);
	gs_reader_close(r);
}

static long file_size(const char *file)
{
	FILE *f = fopen(file, "rb");
	long n;

	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return n;
}

/* Every prefix of the file opens or fails cleanly; events never grow. */
static void test_truncated_anywhere(void **state)
{
	char cut[64];
	long size;

	(void)state;
	assert_int_equal(write_session(path, true), 0);
	size = file_size(path);
	snprintf(cut, sizeof(cut), "%s.cut", path);
	for (long len = 0; len < size; len += 1 + len / 7) {
		const struct gs_session *s;
		struct gs_reader *r;
		bool ordered;
		long n;

		assert_int_equal(truncate(path, size), 0);
		{
			FILE *in = fopen(path, "rb"), *out = fopen(cut, "wb");
			char *buf = malloc(len + 1);

			assert_int_equal(fread(buf, 1, len, in), (size_t)len);
			fwrite(buf, 1, len, out);
			fclose(in);
			fclose(out);
			free(buf);
		}
		n = read_all(cut, &s, &r, &ordered);
		if (n < 0)
			continue; /* the file header itself is cut: refused */
		assert_true(n <= N_EVENTS);
		assert_true(ordered);
		assert_false(s->finalized && s->damage[0] == '\0' &&
			     n < N_EVENTS);
		gs_reader_close(r);
	}
	unlink(cut);
}

/* A flipped byte anywhere: damage is reported, nothing crashes. */
static void test_corrupted_anywhere(void **state)
{
	long size;
	FILE *f;

	(void)state;
	assert_int_equal(write_session(path, true), 0);
	size = file_size(path);
	for (long off = 16; off < size; off += 1 + off / 5) {
		const struct gs_session *s;
		struct gs_reader *r;
		bool ordered;
		int c;
		long n;

		f = fopen(path, "r+b");
		fseek(f, off, SEEK_SET);
		c = fgetc(f);
		fseek(f, off, SEEK_SET);
		fputc(c ^ 0x5a, f);
		fclose(f);
		n = read_all(path, &s, &r, &ordered);
		assert_true(n >= 0);
		assert_true(n <= N_EVENTS);
		assert_string_not_equal(s->damage, "");
		gs_reader_close(r);
		f = fopen(path, "r+b");
		fseek(f, off, SEEK_SET);
		fputc(c, f);
		fclose(f);
	}
}

static void test_unfinished_is_flagged(void **state)
{
	const struct gs_session *s;
	struct gs_reader *r;
	bool ordered;

	(void)state;
	assert_int_equal(write_session(path, false), 0);
	assert_int_equal(read_all(path, &s, &r, &ordered), N_EVENTS);
	assert_false(s->finalized);
	gs_reader_close(r);
}

static void test_future_version_refused(void **state)
{
	struct gs_file_header h = { .version = GS_SESSION_VERSION + 1,
				    .header_size = sizeof(h) };
	struct gs_reader *r;
	char err[256];
	FILE *f = fopen(path, "wb");

	(void)state;
	memcpy(h.magic, GS_SESSION_MAGIC, 8);
	fwrite(&h, sizeof(h), 1, f);
	fclose(f);
	assert_int_not_equal(gs_reader_open(path, &r, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "newer gilscope"));
}

static void test_empty_and_foreign_files(void **state)
{
	struct gs_reader *r;
	struct replay rp;
	char err[256];
	FILE *f = fopen(path, "wb");

	(void)state;
	fclose(f);
	assert_int_not_equal(gs_reader_open(path, &r, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not a gilscope session"));
	assert_int_not_equal(
		replay_open("/etc/passwd", NULL, &rp, err, sizeof(err)), 0);
	assert_int_not_equal(
		replay_open("/nonexistent", NULL, &rp, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot open"));
}

/* ---- the events pass: merge of the sorted chunks */

#define MS 1000000ull
#define T0 (1000 * MS)

static struct gs_writer *begin_session(void)
{
	struct kv_list host = {};
	struct gs_writer *w;

	assert_int_equal(gs_writer_open(path, &w), 0);
	kv_set(&host, "start_ns", "1000");
	gs_writer_kv(w, GS_CHUNK_HOST, &host);
	kv_free(&host);
	return w;
}

/* One chunk of N events at TS[i], numbered from FIRST in a32. */
static void put_events(struct gs_writer *w, const uint64_t *ts, int n,
		       int first)
{
	for (int i = 0; i < n; i++) {
		struct gs_event e = { .type = GS_EV_SYS_ENTER, .tid = 7 };

		e.ts = ts[i];
		e.a32 = first + i;
		assert_int_equal(gs_writer_event(w, &e), 0);
	}
	assert_int_equal(gs_writer_flush(w), 0);
}

/* Every event of the file, in the order the reader gives them. */
static long read_events(const char *file, struct gs_event *out, long max,
			struct gs_session *copy)
{
	struct gs_reader *r;
	struct gs_event e;
	char err[256];
	long n = 0;

	assert_int_equal(gs_reader_open(file, &r, err, sizeof(err)), 0);
	while (gs_reader_next(r, &e) == 1) {
		if (n < max)
			out[n] = e;
		n++;
	}
	if (copy) {
		const struct gs_session *s = gs_reader_session(r);

		memset(copy, 0, sizeof(*copy));
		copy->events = s->events;
		copy->peak_open_chunks = s->peak_open_chunks;
		copy->events_past_window = s->events_past_window;
		memcpy(copy->damage, s->damage, sizeof(copy->damage));
	}
	gs_reader_close(r);
	return n;
}

/* Two chunks that overlap in time come back merged, ties in file order. */
static void test_overlapping_chunks_merged(void **state)
{
	/* chunk 2 starts 40 ms before chunk 1 ends: inside the window */
	uint64_t a[] = { T0, T0 + 10 * MS, T0 + 20 * MS, T0 + 50 * MS };
	uint64_t b[] = { T0 + 10 * MS, T0 + 15 * MS, T0 + 50 * MS,
			 T0 + 60 * MS };
	int want[] = { 0, 1, 4, 5, 2, 3, 6, 7 };
	struct gs_event ev[8];
	struct gs_session s;
	struct gs_writer *w;

	(void)state;
	w = begin_session();
	put_events(w, a, 4, 0);
	put_events(w, b, 4, 4);
	assert_int_equal(gs_writer_close(w), 0);
	assert_int_equal(read_events(path, ev, 8, &s), 8);
	assert_int_equal(s.events, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ev[i].a32, want[i]);
}

/*
 * An event more than the window older than one before it in the file comes
 * out where it is read, as the reorder window has always done: chunk 3 is
 * 100 ms older than chunk 2, which is 200 ms newer than chunk 1.
 */
static void test_order_past_the_window(void **state)
{
	uint64_t a[] = { T0, T0 + MS };
	uint64_t b[] = { T0 + 200 * MS, T0 + 201 * MS };
	uint64_t late[] = { T0 - 100 * MS, T0 + 199 * MS };
	int want[] = { 0, 1, 4, 5, 2, 3 };
	struct gs_event ev[6];
	struct gs_writer *w;

	(void)state;
	w = begin_session();
	put_events(w, a, 2, 0);
	put_events(w, b, 2, 2);
	put_events(w, late, 2, 4);
	assert_int_equal(gs_writer_close(w), 0);
	assert_int_equal(read_events(path, ev, 6, NULL), 6);
	for (int i = 0; i < 6; i++)
		assert_int_equal(ev[i].a32, want[i]);
}

/* Events of one timestamp in many chunks: all read, in file order, with at
 * most GS_READER_MAX_RUNS chunks open. */
static void test_identical_timestamps_bounded(void **state)
{
	const int chunks = GS_READER_MAX_RUNS + 300, per = 7;
	uint64_t ts[7];
	struct gs_event *ev = calloc(chunks * per, sizeof(*ev));
	struct gs_session s;
	struct gs_writer *w;

	(void)state;
	for (int i = 0; i < per; i++)
		ts[i] = T0;
	w = begin_session();
	for (int k = 0; k < chunks; k++)
		put_events(w, ts, per, k * per);
	assert_int_equal(gs_writer_close(w), 0);
	assert_int_equal(read_events(path, ev, chunks * per, &s), chunks * per);
	assert_int_equal(s.events, chunks * per);
	assert_int_equal(s.peak_open_chunks, GS_READER_MAX_RUNS);
	assert_true(s.events_past_window > 0);
	for (int i = 0; i < chunks * per; i++)
		assert_int_equal(ev[i].a32, i);
	free(ev);
}

/*
 * Full chunks (16384 events, 16.4 ms here) of a stream where every 5th event
 * comes 3.001 ms late, on the timestamp of an event 3001 places before it:
 * each event once, sorted, ties in file order. Open at most:
 * chunks 0-5, when the head is in chunk 0's last 4 ms (chunk 4 then starts
 * within 50 ms of it, so chunk 5 is opened too): the window and two more.
 */
static void test_full_chunks_sorted(void **state)
{
	const int n = 100000;
	struct gs_event *ev = calloc(n, sizeof(*ev));
	unsigned char *seen = calloc(n, 1);
	struct gs_session s;
	struct gs_reader *r;
	struct gs_event e;
	char err[256];
	int ties = 0;
	struct gs_writer *w;

	(void)state;
	w = begin_session();
	for (int i = 0; i < n; i++) {
		struct gs_event e = { .type = GS_EV_SYS_ENTER, .a32 = i };

		e.ts = T0 + (uint64_t)i * 1000 - (i % 5 ? 0 : 3001000);
		assert_int_equal(gs_writer_event(w, &e), 0);
	}
	assert_int_equal(gs_writer_close(w), 0);
	assert_int_equal(read_events(path, ev, n, &s), n);
	assert_int_equal(s.events, n);
	assert_int_equal(s.peak_open_chunks, 6);
	for (int i = 0; i < n; i++)
		seen[ev[i].a32]++;
	for (int i = 0; i < n; i++) {
		assert_int_equal(seen[i], 1);
		if (i && ev[i - 1].ts == ev[i].ts) {
			assert_int_equal(ev[i - 1].a32 + 3001, ev[i].a32);
			ties++;
		} else if (i) {
			assert_true(ev[i - 1].ts < ev[i].ts);
		}
	}
	assert_int_equal(ties, n / 5 - 601);
	free(ev);
	free(seen);
	/* closed with chunks still open: nothing leaks (ASan) */
	assert_int_equal(gs_reader_open(path, &r, err, sizeof(err)), 0);
	for (int i = 0; i < n / 2; i++)
		assert_int_equal(gs_reader_next(r, &e), 1);
	gs_reader_close(r);
}

/* ---- hand-made chunks: what the writer never produces */

static void put_raw_chunk(FILE *f, uint16_t type, uint16_t flags,
			  const void *payload, uint32_t size, uint32_t raw_size,
			  uint32_t count)
{
	struct gs_chunk_header h = { .magic = GS_CHUNK_MAGIC,
				     .type = type,
				     .flags = flags,
				     .size = size,
				     .raw_size = raw_size,
				     .count = count };

	h.crc = crc32(crc32(0, (const Bytef *)&h, sizeof(h)), payload, size);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(payload, 1, size, f);
}

static FILE *begin_raw_file(void)
{
	struct gs_file_header h = { .version = GS_SESSION_VERSION,
				    .header_size = sizeof(h) };
	FILE *f = fopen(path, "wb");

	memcpy(h.magic, GS_SESSION_MAGIC, sizeof(h.magic));
	fwrite(&h, sizeof(h), 1, f);
	return f;
}

/* N events from TS0 by STEP (negative: descending), numbered from FIRST. */
static void fill_events(struct gs_event *v, int n, uint64_t ts0, int64_t step,
			int first)
{
	for (int i = 0; i < n; i++)
		v[i] = (struct gs_event){ .type = GS_EV_SYS_ENTER,
					  .ts = ts0 + i * step,
					  .a32 = first + i };
}

/* N events compressed in a chunk whose header claims CLAIMED. */
static void put_zlib_claiming(FILE *f, const struct gs_event *v, int n,
			      int claimed)
{
	uLong raw = n * sizeof(*v);
	uLongf zlen = compressBound(raw);
	unsigned char *z = malloc(zlen);

	assert_int_equal(compress2(z, &zlen, (const Bytef *)v, raw, 1), Z_OK);
	put_raw_chunk(f, GS_CHUNK_EVENTS, GS_CHUNK_ZLIB, z, zlen,
		      claimed * sizeof(*v), claimed);
	free(z);
}

static void put_zlib_events(FILE *f, const struct gs_event *v, int n)
{
	put_zlib_claiming(f, v, n, n);
}

/* A stored chunk, an unsorted one and one with unknown types: every event
 * of a known type comes out, nothing hangs. */
static void test_stored_and_unsorted_chunks(void **state)
{
	static struct gs_event v[3000], ev[6000];
	static int seen[5000];
	struct gs_session s;
	FILE *f;

	(void)state;
	f = begin_raw_file();
	fill_events(v, 1000, T0, 1000, 0);
	put_raw_chunk(f, GS_CHUNK_EVENTS, 0, v, sizeof(v[0]) * 1000,
		      sizeof(v[0]) * 1000, 1000);
	fill_events(v, 3000, T0 + 2 * MS, -1000, 1000); /* descending */
	put_zlib_events(f, v, 3000);
	fill_events(v, 1000, T0, 7, 4000);
	v[10].type = GS_EV_NONE;
	v[20].type = GS_EV_MAX;
	put_zlib_events(f, v, 1000);
	fclose(f);
	assert_int_equal(read_events(path, ev, 6000, &s), 4998);
	assert_int_equal(s.events, 5000);
	assert_string_equal(s.damage, "");
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 4998; i++)
		seen[ev[i].a32]++;
	for (int i = 0; i < 5000; i++)
		assert_int_equal(seen[i], i == 4010 || i == 4020 ? 0 : 1);
}

/*
 * A chunk with a valid CRC that does not inflate, whose sizes disagree, or
 * that inflates to fewer or more bytes than its header says: the chunks
 * before it are read in full, none of it, none after it; the damage is told.
 */
static void test_undecodable_chunk_stops_reading(void **state)
{
	static const char *const damage[] = {
		"undecodable events chunk",
		"malformed events chunk",
		"undecodable events chunk",
		"undecodable events chunk",
	};
	static struct gs_event v[500], ev[2000];
	unsigned char junk[64];
	struct gs_session s;
	FILE *f;

	(void)state;
	memset(junk, 0xa5, sizeof(junk));
	junk[0] = 0x78; /* a zlib header, then no deflate stream */
	junk[1] = 0x01;
	for (int bad = 0; bad < 4; bad++) {
		f = begin_raw_file();
		fill_events(v, 500, T0, 1000, 0);
		put_zlib_events(f, v, 500);
		fill_events(v, 500, T0 + 100, 1000, 500);
		put_zlib_events(f, v, 500);
		if (bad == 0)
			put_raw_chunk(f, GS_CHUNK_EVENTS, GS_CHUNK_ZLIB, junk,
				      sizeof(junk), sizeof(v), 500);
		else if (bad == 1) /* raw_size says 500 events, count 400 */
			put_raw_chunk(f, GS_CHUNK_EVENTS, 0, v, sizeof(v),
				      sizeof(v), 400);
		else
			put_zlib_claiming(f, v, 300, bad == 2 ? 400 : 200);
		fill_events(v, 500, T0 + 200, 1000, 1000);
		put_zlib_events(f, v, 500);
		fclose(f);
		assert_int_equal(read_events(path, ev, 2000, &s), 1000);
		assert_non_null(strstr(s.damage, damage[bad]));
		for (int i = 1; i < 1000; i++)
			assert_true(ev[i - 1].ts <= ev[i].ts);
	}
}

/* ---- images */

#define N_PIDS 1000
#define N_GENS 3
#define N_IMAGES (N_PIDS * N_GENS)

/* Image K, in the order written: pids interleaved, generations shuffled. */
static void image_of(int k, uint32_t *pid, uint64_t *since)
{
	int j = (k * 7) % N_IMAGES;

	*pid = 100 + j % N_PIDS;
	*since = 500 + (uint64_t)(j / N_PIDS) * 1000;
}

static void put_image(struct gs_writer *w, int k, const char *key)
{
	struct kv_list kv = {};
	uint64_t since;
	uint32_t pid;

	image_of(k, &pid, &since);
	kv_setf(&kv, "pid", "%u", pid);
	kv_setf(&kv, "since_ns", "%llu", (unsigned long long)since);
	kv_setf(&kv, key, "%d", k);
	gs_writer_kv(w, GS_CHUNK_PROCESS, &kv);
	kv_free(&kv);
}

/* What gs_session_image() has always answered, by a walk over all images. */
static const struct gs_image *image_by_walk(const struct gs_session *s,
					    uint32_t pid, uint64_t ts)
{
	const struct gs_image *best = NULL, *first = NULL;

	for (size_t i = 0; i < s->n_images; i++) {
		const struct gs_image *img = &s->images[i];

		if (img->pid != pid)
			continue;
		if (img->since_ns <= ts &&
		    (!best || img->since_ns > best->since_ns))
			best = img;
		if (!first || img->since_ns < first->since_ns)
			first = img;
	}
	return best ? best : first;
}

/* Images stay in file order, repeats merge into the first, and the image in
 * force at any time is the one a walk over all of them finds. */
static void test_images_merged_and_found(void **state)
{
	static const uint64_t times[] = { 0,	499,  500,  501,
					  1499, 1500, 2500, 1u << 30 };
	const struct gs_session *s;
	struct gs_reader *r;
	struct gs_writer *w;
	char err[256];

	(void)state;
	assert_int_equal(gs_writer_open(path, &w), 0);
	for (int k = 0; k < N_IMAGES; k++)
		put_image(w, k, "first");
	for (int k = 0; k < N_IMAGES; k += 10)
		put_image(w, k, "again");
	assert_int_equal(gs_writer_close(w), 0);
	assert_int_equal(gs_reader_open(path, &r, err, sizeof(err)), 0);
	s = gs_reader_session(r);
	assert_int_equal(s->n_images, N_IMAGES);
	for (int k = 0; k < N_IMAGES; k++) {
		const struct gs_image *img = &s->images[k];
		uint64_t since;
		uint32_t pid;

		image_of(k, &pid, &since);
		assert_int_equal(img->pid, pid);
		assert_int_equal(img->since_ns, since);
		assert_int_equal(kv_get_u64(&img->kv, "first", 0), k);
		assert_int_equal(kv_get_u64(&img->kv, "again", N_IMAGES),
				 k % 10 ? N_IMAGES : k);
	}
	for (uint32_t pid = 95; pid < 100 + N_PIDS + 5; pid++)
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
			assert_ptr_equal(gs_session_image(s, pid, times[t]),
					 image_by_walk(s, pid, times[t]));
	assert_null(gs_session_image(s, 99, 1000));
	assert_int_equal(gs_session_image(s, 100, 0)->since_ns, 500);
	assert_int_equal(gs_session_image(s, 100, 2499)->since_ns, 1500);
	gs_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_anywhere),
		cmocka_unit_test(test_corrupted_anywhere),
		cmocka_unit_test(test_unfinished_is_flagged),
		cmocka_unit_test(test_future_version_refused),
		cmocka_unit_test(test_empty_and_foreign_files),
		cmocka_unit_test(test_overlapping_chunks_merged),
		cmocka_unit_test(test_order_past_the_window),
		cmocka_unit_test(test_identical_timestamps_bounded),
		cmocka_unit_test(test_full_chunks_sorted),
		cmocka_unit_test(test_stored_and_unsorted_chunks),
		cmocka_unit_test(test_undecodable_chunk_stops_reading),
		cmocka_unit_test(test_images_merged_and_found),
	};
	int fd = mkstemp(path), ret;

	if (fd >= 0)
		close(fd);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
