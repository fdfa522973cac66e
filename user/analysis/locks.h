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
	/* lifetimes: an address freed and reused by another lock starts a
	 * new one (gen + 1) when its waits' stacks say so (site_key) */
	uint32_t gen;
	uint64_t site_key;   /* kind and site of its first wait, 0 unknown */
	uint64_t site_stack; /* that wait's Python stack id */
	uint32_t owner;	     /* the thread it was waited for (held it or let
			      * it go), first seen */
	bool rlock; /* a wait on it was in a C RLock's acquire: a Lock by
		     * its stack is an RLock */
	/* named by user/analysis/names.c: "Lock", "Queue", "join(worker)" ...; and
	 * "function (file:line)" where it was first waited for */
	char kind[48];
	char site[96];
};

struct lock_table {
	struct an_lock *slots; /* open addressing by addr; addr 0 = empty */
	size_t cap, n;
	struct an_lock *retired; /* ended lifetimes of reused addresses */
	size_t n_retired, cap_retired;
};

/* The lock at ADDR, created when absent (NULL only without memory). */
struct an_lock *locks_get(struct lock_table *t, uint64_t addr);
struct an_lock *locks_find(const struct lock_table *t, uint64_t addr);
void locks_free(struct lock_table *t);
/* L's address now holds another lock: keep L's figures as a lifetime of
 * their own and start L again (gen + 1), keeping who holds it now. */
void locks_new_lifetime(struct lock_table *t, struct an_lock *l);
/* The lock at ADDR in lifetime GEN, current or retired, or NULL. */
const struct an_lock *locks_find_gen(const struct lock_table *t, uint64_t addr,
				     uint32_t gen);

/* Locks (every lifetime) sorted by wait time, most waited for first;
 * caller frees. */
struct an_lock **locks_sorted(const struct lock_table *t, size_t *n);

#endif /* GS_LOCKS_H */
