// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>
#include "analysis/locks.h"

#define MIN_CAP 256
#define MAX_CAP 16384 /* then locks of no interest are forgotten */

static size_t slot_of(uint64_t addr, size_t cap)
{
	return (size_t)((addr >> 3) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static struct an_lock *probe(struct an_lock *slots, size_t cap, uint64_t addr)
{
	size_t i = slot_of(addr, cap);

	while (slots[i].addr && slots[i].addr != addr)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static bool worth_keeping(const struct an_lock *l)
{
	return l->holder || l->wait_ns || l->contended;
}

/* Grow, or at the cap, rebuild with only the locks worth keeping. */
static int rehash(struct lock_table *t)
{
	size_t cap = t->cap ? t->cap : MIN_CAP;
	bool prune = false;
	struct an_lock *slots;

	if (t->cap && t->cap < MAX_CAP)
		cap = t->cap * 2;
	else if (t->cap)
		prune = true;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	t->n = 0;
	for (size_t i = 0; i < t->cap; i++) {
		struct an_lock *l = &t->slots[i];

		if (!l->addr || (prune && !worth_keeping(l)))
			continue;
		*probe(slots, cap, l->addr) = *l;
		t->n++;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

struct an_lock *locks_find(const struct lock_table *t, uint64_t addr)
{
	struct an_lock *l;

	if (!t->cap || !addr)
		return NULL;
	l = probe(t->slots, t->cap, addr);
	return l->addr ? l : NULL;
}

struct an_lock *locks_get(struct lock_table *t, uint64_t addr)
{
	struct an_lock *l = locks_find(t, addr);

	if (l || !addr)
		return l;
	if (2 * (t->n + 1) > t->cap && rehash(t))
		return NULL;
	/* a table full of locks worth keeping stays full: drop this one */
	if (2 * (t->n + 1) > t->cap)
		return NULL;
	l = probe(t->slots, t->cap, addr);
	memset(l, 0, sizeof(*l));
	l->addr = addr;
	t->n++;
	return l;
}

void locks_new_lifetime(struct lock_table *t, struct an_lock *l)
{
	struct an_lock next = { .addr = l->addr, .gen = l->gen + 1 };

	if (t->n_retired == t->cap_retired) {
		size_t cap = t->cap_retired ? 2 * t->cap_retired : 16;
		struct an_lock *v = realloc(t->retired, cap * sizeof(*v));

		if (!v)
			return; /* the lifetimes stay merged */
		t->retired = v;
		t->cap_retired = cap;
	}
	next.holder = l->holder;
	next.held_since = l->held_since;
	next.last_releaser = l->last_releaser;
	next.release_ts = l->release_ts;
	next.release_pending = l->release_pending;
	/* a hold in progress is the new lock's (its waiter took it first) */
	l->holder = 0;
	t->retired[t->n_retired++] = *l;
	*l = next;
}

const struct an_lock *locks_find_gen(const struct lock_table *t, uint64_t addr,
				     uint32_t gen)
{
	const struct an_lock *l = locks_find(t, addr);

	if (l && l->gen == gen)
		return l;
	for (size_t i = 0; i < t->n_retired; i++)
		if (t->retired[i].addr == addr && t->retired[i].gen == gen)
			return &t->retired[i];
	return NULL;
}

void locks_free(struct lock_table *t)
{
	free(t->retired);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

static int by_wait(const void *a, const void *b)
{
	const struct an_lock *x = *(struct an_lock *const *)a;
	const struct an_lock *y = *(struct an_lock *const *)b;

	if (x->wait_ns != y->wait_ns)
		return x->wait_ns < y->wait_ns ? 1 : -1;
	return x->acquisitions < y->acquisitions ? 1 :
	       x->acquisitions > y->acquisitions ? -1 :
						   0;
}

struct an_lock **locks_sorted(const struct lock_table *t, size_t *n)
{
	struct an_lock **v = calloc(t->n + t->n_retired + 1, sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].addr)
			v[(*n)++] = &t->slots[i];
	for (size_t i = 0; i < t->n_retired; i++)
		v[(*n)++] = &t->retired[i];
	if (*n)
		qsort(v, *n, sizeof(*v), by_wait);
	return v;
}
