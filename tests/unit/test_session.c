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
#include "replay.h"
#include "session.h"

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
		struct gs_event e = { .type = GS_EV_SYS_ENTER, .tid = 42, .tgid = 42 };

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
	assert_string_equal(kv_get(&s->host, "kernel"), "6.18 with = and\nnewline");
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
		assert_false(s->finalized && s->damage[0] == '\0' && n < N_EVENTS);
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
	assert_int_not_equal(replay_open("/etc/passwd", NULL, &rp, err, sizeof(err)), 0);
	assert_int_not_equal(replay_open("/nonexistent", NULL, &rp, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "cannot open"));
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
	};
	int fd = mkstemp(path), ret;

	if (fd >= 0)
		close(fd);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
