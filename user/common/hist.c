// SPDX-License-Identifier: GPL-2.0
#include "common/hist.h"

#define SUB (1u << HIST_SUB_BITS)

/* Values below SUB get a bucket each; above, SUB buckets per power of two:
 * bucket = shift * SUB + (v >> shift), with v >> shift in [SUB, 2 * SUB). */
static unsigned int bucket_of(uint64_t v)
{
	unsigned int shift;

	if (v < SUB)
		return v;
	shift = 63 - __builtin_clzll(v) - HIST_SUB_BITS;
	return shift * SUB + (unsigned int)(v >> shift);
}

/* Largest value that falls into bucket B. */
static uint64_t bucket_top(unsigned int b)
{
	unsigned int shift, mant;

	if (b < SUB)
		return b;
	shift = b / SUB - 1;
	mant = b - shift * SUB;
	return (((uint64_t)mant + 1) << shift) - 1;
}

void hist_add(struct hist *h, uint64_t v)
{
	unsigned int b = bucket_of(v);

	if (b >= HIST_BUCKETS)
		b = HIST_BUCKETS - 1;
	h->bucket[b]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	rank = (uint64_t)(q * (h->count - 1)) + 1;
	for (unsigned int b = 0; b < HIST_BUCKETS; b++) {
		seen += h->bucket[b];
		if (seen >= rank) {
			uint64_t top = bucket_top(b);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
