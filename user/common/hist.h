/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A log-linear histogram of durations: fixed memory, percentiles within 1 %
 * (128 sub-buckets per power of two), exact maximum.
 */
#ifndef GS_HIST_H
#define GS_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_BUCKETS (64 << HIST_SUB_BITS)

struct hist {
	uint64_t count, max, sum;
	uint32_t bucket[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
/* The value at quantile Q (0..1): the upper bound of its bucket, capped at
 * the maximum; 0 when empty. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif /* GS_HIST_H */
