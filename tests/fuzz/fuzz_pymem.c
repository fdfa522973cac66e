// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: an interpreter's memory through everything the
 * recorder reads of it (user/record/pyobj.c: thread lists, frames, code objects,
 * their names, files and line tables, str objects of every kind, threading
 * names through instance dicts).
 *
 * An input is a memory image: struct pymem_header (magic, the minor
 * version whose facts apply, the address of _PyRuntime), then regions
 * (address, length, bytes). A read that is not inside one region fails, as
 * a read of unmapped memory does; the header may ask for reads that see
 * bytes changed since the last read of them (a program that scribbles over
 * its own interpreter state while it is read). The walk is pymem_walk.c's. Seeds are
 * captured from real interpreters (capture_pymem.c, make_pymem_corpus.py):
 * only the bytes the walk read.
 *
 *   make fuzz FUZZ_TARGETS=pymem
 *   build/fuzz/fuzz_pymem FILE            (replay one input)
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include "pymem_walk.h"

#define MAX_REGIONS 1024

struct image {
	const uint8_t *data[MAX_REGIONS];
	uint64_t addr[MAX_REGIONS];
	uint32_t len[MAX_REGIONS];
	int n;
	unsigned int reads, scribble_every;
	uint8_t scribble_xor;
};

static int image_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct image *im = ctx;

	for (int i = 0; i < im->n; i++) {
		if (addr < im->addr[i] || addr - im->addr[i] > im->len[i] ||
		    len > im->len[i] - (addr - im->addr[i]))
			continue;
		memcpy(buf, im->data[i] + (addr - im->addr[i]), len);
		/* the program wrote there since the last read */
		if (len && im->scribble_every &&
		    ++im->reads % im->scribble_every == 0)
			*(uint8_t *)buf ^= im->scribble_xor;
		return 0;
	}
	return -EFAULT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct image im;
	struct pymem_header h;
	struct pyobj_mem m = { .read = image_read, .ctx = &im };
	size_t off = sizeof(h);

	if (size < sizeof(h))
		return 0;
	memcpy(&h, data, sizeof(h));
	im.n = 0;
	im.reads = 0;
	im.scribble_every = h.scribble_every;
	im.scribble_xor = h.scribble_xor;
	while (im.n < MAX_REGIONS &&
	       size - off >= sizeof(struct pymem_region)) {
		struct pymem_region r;

		memcpy(&r, data + off, sizeof(r));
		off += sizeof(r);
		if (r.len > size - off)
			r.len = size - off;
		im.addr[im.n] = r.addr;
		im.len[im.n] = r.len;
		im.data[im.n++] = data + off;
		off += r.len;
	}
	pymem_walk(&m, pymem_facts(h.minor), h.runtime);
	return 0;
}
