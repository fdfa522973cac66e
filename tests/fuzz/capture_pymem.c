// SPDX-License-Identifier: GPL-2.0
/*
 * Capture a seed of the pymem fuzz target from a live Python process: the
 * walk of pymem_walk.c runs against /proc/PID/mem, every range it reads is
 * noted, and the ranges (merged) are written with the header.
 *
 *   build/fuzz/capture_pymem PID OUT
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "record/interp.h"
#include "pymem_walk.h"

#define MAX_READS 65536

struct capture {
	int fd;
	uint64_t start[MAX_READS], end[MAX_READS];
	int n;
};

static int live_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct capture *c = ctx;
	ssize_t n = pread(c->fd, buf, len, (off_t)addr);

	if (n != (ssize_t)len)
		return -EFAULT;
	if (c->n < MAX_READS) {
		c->start[c->n] = addr;
		c->end[c->n++] = addr + len;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sort the ranges by start and merge those that touch. */
static int merge(struct capture *c)
{
	uint64_t(*r)[2] = malloc(sizeof(*r) * (c->n ? c->n : 1));
	int n = 0;

	if (!r)
		exit(1);
	for (int i = 0; i < c->n; i++) {
		r[i][0] = c->start[i];
		r[i][1] = c->end[i];
	}
	qsort(r, c->n, sizeof(*r), cmp_u64);
	for (int i = 0; i < c->n; i++) {
		if (n && r[i][0] <= c->end[n - 1]) {
			if (r[i][1] > c->end[n - 1])
				c->end[n - 1] = r[i][1];
			continue;
		}
		c->start[n] = r[i][0];
		c->end[n++] = r[i][1];
	}
	free(r);
	return c->n = n;
}

static int write_seed(struct capture *c, const char *out, int minor,
		      uint64_t runtime)
{
	struct pymem_header h = { .minor = minor, .runtime = runtime };
	FILE *f = fopen(out, "wb");
	char buf[65536];

	memcpy(h.magic, PYMEM_MAGIC, sizeof(h.magic));
	if (!f || fwrite(&h, sizeof(h), 1, f) != 1)
		return -1;
	for (int i = 0; i < c->n; i++) {
		struct pymem_region r = { c->start[i],
					  (uint32_t)(c->end[i] - c->start[i]) };

		if (r.len > sizeof(buf) ||
		    pread(c->fd, buf, r.len, (off_t)r.addr) != r.len ||
		    fwrite(&r, sizeof(r), 1, f) != 1 ||
		    fwrite(buf, r.len, 1, f) != 1)
			return -1;
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	static struct capture c;
	struct pyobj_mem m = { .read = live_read, .ctx = &c };
	char path[64], err[512];
	struct interp in;
	uint64_t bias;
	int named;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PID OUT\n", argv[0]);
		return 2;
	}
	if (interp_for_pid(atoi(argv[1]), &in, &bias, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	c.fd = open(path, O_RDONLY);
	if (c.fd < 0) {
		perror(path);
		return 1;
	}
	named = pymem_walk(&m, pymem_facts(in.minor), in.runtime_vaddr + bias);
	merge(&c);
	if (write_seed(&c, argv[2], in.minor, in.runtime_vaddr + bias)) {
		perror(argv[2]);
		return 1;
	}
	printf("%s: Python %s, %d frames named, %d ranges\n", argv[2],
	       in.version, named, c.n);
	return 0;
}
