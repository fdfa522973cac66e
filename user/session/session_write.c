// SPDX-License-Identifier: GPL-2.0
/*
 * Session file writer. See docs/session-format.md.
 *
 * Chunks of key=value records, blobs and events (sorted, zlib), each with
 * its length and CRC; the file is created mode 0600.
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
