/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Threading locks of one process, followed from their acquisitions and
 * releases: who holds each, how long it was held and waited for, hand-offs
 * from a releaser to a waiter. Bounded: when the table fills, locks nobody
 * holds or waited for are forgotten first.
 */
#ifndef GS_LOCKS_H
#define GS_LOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct an_lock {
	uint64_t addr; /* the sem_t (or the --lock argument) */
	uint32_t holder;
	uint64_t held_since;
	uint64_t acquisitions, contended, handoffs, releases;
	uint64_t wait_ns, held_ns;
	uint32_t last_releaser;
	uint64_t release_ts;
	bool release_pending;
};

struct lock_table {
	struct an_lock *slots; /* open addressing by addr; addr 0 = empty */
	size_t cap, n;
};

/* The lock at ADDR, created when absent (NULL only without memory). */
struct an_lock *locks_get(struct lock_table *t, uint64_t addr);
struct an_lock *locks_find(const struct lock_table *t, uint64_t addr);
void locks_free(struct lock_table *t);

/* Locks sorted by wait time, most waited for first; caller frees. */
struct an_lock **locks_sorted(const struct lock_table *t, size_t *n);

#endif /* GS_LOCKS_H */
