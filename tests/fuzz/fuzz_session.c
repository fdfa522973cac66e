// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: a session file through everything that reads one.
 *
 * Each input is a whole session file. It is written to a file in /dev/shm
 * (the reader takes a path), then read as `gilscope report` and `gilscope
 * dump` read it: replay_open() (reader, metadata pass, events pass,
 * analysis), report_json() and report_text() into /dev/null, replay_close(),
 * then dump_session(). Built with -DFUZZ_TIMELINE (fuzz_timeline), it reads
 * the session as `gilscope timeline` does instead: replay_open() with the
 * timeline model's sink, then the Perfetto, JSON and HTML writers.
 *
 * Every chunk of a session carries a CRC, so byte-level mutations of a real
 * file die at the first checksum. The custom mutator below also mutates the
 * file as a session: it decodes a chunk (inflating events), changes records
 * or key=value lines, encodes it again and fixes its size, count and CRC;
 * it drops, repeats, swaps and cuts chunks. Inputs stay plain session files:
 * a crash reproducer is replayed with `./gilscope report FILE` as well as
 * with this binary.
 *
 *   make fuzz FUZZ_SECONDS=60
 *   build/fuzz/fuzz_session tests/fuzz/crashes/FILE      (replay one input)
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include "views/dump.h"
#include "analysis/replay.h"
#include "views/report.h"
#include "session/session.h"
#ifdef FUZZ_TIMELINE
#include "views/pftrace.h"
#include "views/timeline_html.h"
#include "views/timeline_json.h"
#include "views/timeline_model.h"
#endif

#define HDR_SIZE sizeof(struct gs_file_header)
#define CHUNK_HDR sizeof(struct gs_chunk_header)
#define EV_SIZE sizeof(struct gs_event)
#define MAX_CHUNKS 4096
/* the mutator inflates at most this much of one events chunk */
#define MAX_RAW (4u << 20)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static char path[64];
static FILE *devnull;

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(path, sizeof(path), "/dev/shm/gilscope-fuzz-%d.data",
		 getpid());
	devnull = fopen("/dev/null", "w");
	if (!devnull) {
		perror("/dev/null");
		exit(1);
	}
	atexit(remove_file);
	return 0;
}

static int write_input(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t done = 0;

	if (fd < 0) {
		perror(path);
		abort();
	}
	while (done < size) {
		ssize_t n = write(fd, data + done, size - done);

		if (n <= 0) {
			perror(path);
			abort();
		}
		done += n;
	}
	close(fd);
	return 0;
}

#ifdef FUZZ_TIMELINE
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tl_info info = { .kernel = "",
				.machine = "",
				.hostname = "",
				.command = "",
				.report_text = "report" };
	struct tl_model m;
	struct replay rp;
	char err[512];

	write_input(data, size);
	tl_model_init(&m);
	if (!replay_open(path, tl_model_sink(&m), &rp, err, sizeof(err))) {
		info.duration_ns = rp.info.duration_ns;
		if (!tl_model_finish(&m, rp.an,
				     rp.an->t0 + rp.info.duration_ns)) {
			pftrace_write(devnull, &m, &info);
			timeline_json_write(devnull, &m, &info);
			timeline_html_write(devnull, &m, &info);
		}
		replay_close(&rp);
	}
	tl_model_free(&m);
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct replay rp;
	char err[512];

	write_input(data, size);
	if (!replay_open(path, NULL, &rp, err, sizeof(err))) {
		report_json(devnull, &rp.info, rp.an);
		report_text(devnull, &rp.info, rp.an);
		replay_close(&rp);
	}
	dump_session(devnull, path, err, sizeof(err));
	return 0;
}
#endif

/* ------------------------------------------------------------ mutator */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	/* xorshift64* */
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ull;
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

struct chunk_ref {
	size_t off; /* of the chunk header */
	size_t len; /* header and payload */
};

/* The chunks of DATA whose framing holds (marker, size within the input). */
static int find_chunks(const uint8_t *data, size_t size, struct chunk_ref *out,
		       int max, size_t *data_start)
{
	struct gs_file_header fh;
	size_t off;
	int n = 0;

	if (size < HDR_SIZE)
		return -1;
	memcpy(&fh, data, sizeof(fh));
	if (memcmp(fh.magic, GS_SESSION_MAGIC, sizeof(fh.magic)) ||
	    fh.header_size < HDR_SIZE || fh.header_size > size)
		return -1;
	off = fh.header_size;
	*data_start = off;
	while (n < max && size - off >= CHUNK_HDR) {
		struct gs_chunk_header h;

		memcpy(&h, data + off, sizeof(h));
		if (h.magic != GS_CHUNK_MAGIC ||
		    h.size > size - off - CHUNK_HDR)
			break;
		out[n].off = off;
		out[n++].len = CHUNK_HDR + h.size;
		off += CHUNK_HDR + h.size;
	}
	return n;
}

/* An output buffer of at most CAP bytes; OK turns false when it overflows. */
struct out {
	uint8_t *p;
	size_t n, cap;
	bool ok;
};

static void put(struct out *o, const void *src, size_t len)
{
	if (!o->ok || len > o->cap - o->n) {
		o->ok = false;
		return;
	}
	memcpy(o->p + o->n, src, len);
	o->n += len;
}

/* Append a chunk with a correct size, CRC and (unless told) count. */
static void put_chunk(struct out *o, uint16_t type, uint16_t flags,
		      const void *payload, uint32_t size, uint32_t raw_size,
		      uint32_t count)
{
	struct gs_chunk_header h = gs_chunk_header_for(type, flags, payload,
						       size, raw_size, count);

	put(o, &h, sizeof(h));
	put(o, payload, size);
}

/* Events: store compressed when that is what fits (or by chance). */
static void put_events(struct out *o, struct rng *r, const void *raw,
		       size_t raw_len, uint32_t count)
{
	uLongf zlen = compressBound(raw_len);
	uint8_t *z;

	if (o->n + CHUNK_HDR + raw_len <= o->cap && below(r, 3)) {
		put_chunk(o, GS_CHUNK_EVENTS, 0, raw, raw_len, raw_len, count);
		return;
	}
	z = malloc(zlen);
	if (!z || compress2(z, &zlen, raw, raw_len, 1) != Z_OK) {
		free(z);
		o->ok = false;
		return;
	}
	put_chunk(o, GS_CHUNK_EVENTS, GS_CHUNK_ZLIB, z, zlen, raw_len, count);
	free(z);
}

/* Inflate an events chunk (or copy it); NULL when it is not decodable. */
static uint8_t *decode_events(const struct gs_chunk_header *h,
			      const uint8_t *payload, size_t *raw_len)
{
	uLongf len = h->raw_size;
	uint8_t *raw;

	if (h->raw_size > MAX_RAW || h->raw_size % EV_SIZE)
		return NULL;
	raw = malloc(h->raw_size + EV_SIZE * 64); /* room to add events */
	if (!raw)
		return NULL;
	if (!(h->flags & GS_CHUNK_ZLIB)) {
		if (h->size != h->raw_size)
			goto fail;
		memcpy(raw, payload, h->size);
	} else if (uncompress(raw, &len, payload, h->size) != Z_OK ||
		   len != h->raw_size) {
		goto fail;
	}
	*raw_len = h->raw_size;
	return raw;
fail:
	free(raw);
	return NULL;
}

static const uint64_t interesting64[] = {
	0,
	1,
	2,
	0x7f,
	0x80,
	0xff,
	0x100,
	0xffff,
	0x7fffffff,
	0x80000000,
	0xffffffff,
	0x100000000ull,
	50000000,
	50000001,
	(uint64_t)-110,
	(uint64_t)-1,
	(uint64_t)-2,
	0x7fffffffffffffffull,
	0x8000000000000000ull,
};

static const uint32_t syscalls[] = {
	0,   1,	  7,   16,  23,	 35,  42,  45,	59,  61,   202,
	230, 231, 232, 257, 270, 271, 281, 441, 449, 1000, 0xffffffff,
};

static uint64_t pick64(struct rng *r, const struct gs_event *ev, size_t n)
{
	const struct gs_event *o = &ev[below(r, n)];

	switch (below(r, 8)) {
	case 0:
		return rnd(r);
	case 1:
	case 2:
		return interesting64[below(r, ARRAY_SIZE(interesting64))];
	case 3:
		return o->arg[below(r, 3)];
	case 4:
		return o->ts + below(r, 3) * 25000000 - 25000000;
	case 5:
		return (uint64_t)o->tgid << 32 | o->tid;
	case 6:
		return o->arg[0] + below(r, 256) - 128;
	default:
		return below(r, 1000);
	}
}

static uint32_t pick32(struct rng *r, const struct gs_event *ev, size_t n)
{
	const struct gs_event *o = &ev[below(r, n)];

	switch (below(r, 6)) {
	case 0:
		return o->tid;
	case 1:
		return o->tgid;
	case 2:
		return (uint32_t)
			interesting64[below(r, ARRAY_SIZE(interesting64))];
	case 3:
		return syscalls[below(r, ARRAY_SIZE(syscalls))];
	case 4:
		return o->tid + 1;
	default:
		return (uint32_t)rnd(r);
	}
}

/* Change a few fields of a few records, with values from the chunk itself. */
static void mutate_events(struct rng *r, uint8_t *raw, size_t *raw_len)
{
	struct gs_event *ev = (struct gs_event *)raw;
	size_t n = *raw_len / EV_SIZE, rounds = 1 + below(r, 4);

	if (!n)
		return;
	for (size_t k = 0; k < rounds; k++) {
		struct gs_event *e = &ev[below(r, n)];

		switch (below(r, 12)) {
		case 0:
			e->ts = pick64(r, ev, n);
			break;
		case 1:
			e->tid = pick32(r, ev, n);
			break;
		case 2:
			e->tgid = pick32(r, ev, n);
			break;
		case 3:
			e->type = below(r, 4) ? below(r, GS_EV_MAX + 1) :
						rnd(r);
			break;
		case 4:
			e->flags = rnd(r);
			break;
		case 5:
			e->cpu = below(r, 2) ? below(r, 8) : rnd(r);
			break;
		case 6:
			e->a32 = pick32(r, ev, n);
			break;
		case 7:
		case 8:
			e->arg[below(r, 3)] = pick64(r, ev, n);
			break;
		case 9: /* repeat a record, possibly elsewhere */
			*e = ev[below(r, n)];
			break;
		case 10: /* add a copy of a record at the end */
			if (k == 0) {
				ev[n] = ev[below(r, n)];
				ev[n].ts += below(r, 1000000);
				*raw_len += EV_SIZE;
				n++;
			}
			break;
		default: /* drop the tail */
			if (k == 0 && n > 1) {
				n = 1 + below(r, n - 1);
				*raw_len = n * EV_SIZE;
			}
			break;
		}
	}
}

static const char *const keys[] = {
	"pid",
	"since_ns",
	"origin",
	"command",
	"ppid",
	"python",
	"gil_method",
	"gil_addr",
	"gil_size",
	"gil_cond_off",
	"gil_mutex_off",
	"gil_switch_cond_off",
	"gil_switch_mutex_off",
	"switch_number_start",
	"switch_number_end",
	"gil_locked",
	"gil_last_holder_tid",
	"tgid",
	"tid",
	"state",
	"syscall",
	"arg0",
	"arg1",
	"comm",
	"start_ns",
	"end_ns",
	"lost",
	"mode",
	"events",
	"finalized",
	"take_gil",
	"exe",
};

static const char *const values[] = {
	"0",
	"1",
	"2",
	"-1",
	"",
	"0x",
	"0x0",
	"18446744073709551615",
	"18446744073709551616",
	"4294967295",
	"4294967296",
	"0xffffffffffffffff",
	"attach",
	"launch",
	"fork",
	"exec",
	"R",
	"S",
	"D",
	"T",
	"Z",
	"none",
	"dynsym",
	"debuginfo",
	"3.11.2",
	"208",
	"32",
	"120",
	"0777",
	"1e9",
	"\\n",
	"a\\=b",
};

/* Append "key=value\n" (or a damaged variant) built from known words. */
static size_t kv_line(struct rng *r, char *buf, size_t cap, const uint8_t *text,
		      size_t len)
{
	const char *key = keys[below(r, ARRAY_SIZE(keys))];
	char val[400];
	size_t n;

	switch (below(r, 5)) {
	case 0: /* a number taken from the chunk, nudged */
		if (len) {
			size_t at = below(r, len);
			char num[21];
			int d = 0;

			while (at < len && (text[at] < '0' || text[at] > '9'))
				at++;
			while (at < len && d < 20 && text[at] >= '0' &&
			       text[at] <= '9')
				num[d++] = text[at++];
			num[d] = '\0';
			snprintf(val, sizeof(val), "%llu",
				 strtoull(d ? num : "1", NULL, 10) +
					 below(r, 3) - 1);
			break;
		}
		/* fall through */
	case 1:
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)interesting64[below(
				 r, ARRAY_SIZE(interesting64))]);
		break;
	case 2: /* longer than any field it is copied into */
		memset(val, 'A' + below(r, 26), sizeof(val) - 1);
		val[below(r, sizeof(val))] = '\0';
		break;
	default:
		snprintf(val, sizeof(val), "%s",
			 values[below(r, ARRAY_SIZE(values))]);
		break;
	}
	n = snprintf(buf, cap, "%s=%s\n", key, val);
	return n < cap ? n : cap - 1;
}

/* Re-encode chunk C of IN into O after changing its payload. */
static void mutate_chunk(struct out *o, struct rng *r, const uint8_t *in,
			 const struct chunk_ref *c, size_t max_size)
{
	struct gs_chunk_header h;
	const uint8_t *payload = in + c->off + CHUNK_HDR;
	uint8_t *buf;
	size_t len, cap;

	memcpy(&h, in + c->off, sizeof(h));
	if (h.type == GS_CHUNK_EVENTS) {
		buf = decode_events(&h, payload, &len);
		if (!buf) {
			o->ok = false;
			return;
		}
		if (below(r, 4) || !len) {
			mutate_events(r, buf, &len);
		} else {
			len = LLVMFuzzerMutate(buf, len,
					       h.raw_size + EV_SIZE * 64);
			len -= len % EV_SIZE;
		}
		put_events(o, r, buf, len,
			   below(r, 16) ? len / EV_SIZE : rnd(r));
		free(buf);
		return;
	}
	cap = h.size + 512 < max_size ? h.size + 512 : max_size;
	buf = malloc(cap + 1);
	if (!buf) {
		o->ok = false;
		return;
	}
	len = h.size < cap ? h.size : cap;
	memcpy(buf, payload, len);
	if (len && below(r, 2)) {
		len = LLVMFuzzerMutate(buf, len, cap);
	} else {
		/* insert a line at a line start (or the end) */
		size_t at = below(r, len + 1), n;
		char line[512];

		while (at < len && at && buf[at - 1] != '\n')
			at++;
		n = kv_line(r, line, sizeof(line), payload, h.size);
		if (len + n <= cap) {
			memmove(buf + at + n, buf + at, len - at);
			memcpy(buf + at, line, n);
			len += n;
		}
	}
	put_chunk(o, h.type, below(r, 32) ? h.flags : 1, buf, len, len,
		  below(r, 8) ? h.count : rnd(r));
	free(buf);
}

/* A header field set to an edge value; only the CRC is made right again. */
static void mutate_header(struct out *o, struct rng *r, const uint8_t *in,
			  const struct chunk_ref *c)
{
	struct gs_chunk_header h;

	memcpy(&h, in + c->off, sizeof(h));
	switch (below(r, 5)) {
	case 0:
		h.type = below(r, 2) ? below(r, 8) : rnd(r);
		break;
	case 1:
		h.flags = rnd(r);
		break;
	case 2:
		h.raw_size = below(r, 2) ? (uint32_t)rnd(r) :
					   h.raw_size + EV_SIZE;
		break;
	case 3:
		h.count = below(r, 2) ? (uint32_t)rnd(r) : h.count + 1;
		break;
	default:
		h.raw_size = 64u << 20;
		h.count = h.raw_size / EV_SIZE;
		break;
	}
	h.crc = gs_chunk_crc(&h, in + c->off + CHUNK_HDR);
	put(o, &h, sizeof(h));
	put(o, in + c->off + CHUNK_HDR, h.size);
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
			       unsigned int seed)
{
	static struct chunk_ref chunks[MAX_CHUNKS];
	struct rng r = { .s = seed * 0x9e3779b97f4a7c15ull + 1 };
	struct out o = { .cap = max_size, .ok = true };
	size_t start;
	int n, k, op;

	n = find_chunks(data, size, chunks, MAX_CHUNKS, &start);
	op = below(&r, 16);
	if (n <= 0 || op < 4)
		return LLVMFuzzerMutate(data, size, max_size);
	o.p = malloc(max_size);
	if (!o.p)
		return LLVMFuzzerMutate(data, size, max_size);
	k = below(&r, n);
	put(&o, data, start);
	for (int i = 0; i < n; i++) {
		const struct chunk_ref *c = &chunks[i];

		if (i != k) {
			put(&o, data + c->off, c->len);
			continue;
		}
		switch (op) {
		case 4 ... 10:
			mutate_chunk(&o, &r, data, c, max_size);
			break;
		case 11:
			mutate_header(&o, &r, data, c);
			break;
		case 12: /* drop it */
			break;
		case 13: /* repeat it */
			put(&o, data + c->off, c->len);
			put(&o, data + c->off, c->len);
			break;
		case 14: /* swap it with the next one */
			if (i + 1 < n) {
				put(&o, data + chunks[i + 1].off,
				    chunks[i + 1].len);
				put(&o, data + c->off, c->len);
				i++;
			} else {
				put(&o, data + c->off, c->len);
			}
			break;
		default: /* cut the file inside it */
			put(&o, data + c->off, below(&r, c->len));
			i = n;
			break;
		}
	}
	/* whatever followed the last well-framed chunk */
	if (op != 15 && n && chunks[n - 1].off + chunks[n - 1].len < size)
		put(&o, data + chunks[n - 1].off + chunks[n - 1].len,
		    size - chunks[n - 1].off - chunks[n - 1].len);
	if (!o.ok || !o.n) {
		free(o.p);
		return LLVMFuzzerMutate(data, size, max_size);
	}
	memcpy(data, o.p, o.n);
	free(o.p);
	return o.n;
}
