// SPDX-License-Identifier: GPL-2.0
/*
 * Open addressing with linear probing, at most half full. A removal moves
 * the entries that follow back into the hole (no tombstones), so a map
 * through which a million short-lived processes passed costs what one
 * holding only the live ones does.
 */
#include <errno.h>
#include <stdlib.h>
#include "common/pidmap.h"

#define MIN_CAP 64

static size_t home_of(const struct pidmap *m, int32_t id)
{
	/* Fibonacci hashing: ids come in runs, the high bits spread them */
	return ((uint64_t)(uint32_t)id * 0x9e3779b97f4a7c15ull >> 32) &
	       (m->cap - 1);
}

/* The slot holding ID, or the free slot where it would go. */
static size_t slot_of(const struct pidmap *m, int32_t id)
{
	size_t i = home_of(m, id);

	while (m->slots[i].val && m->slots[i].id != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *pidmap_get(const struct pidmap *m, int32_t id)
{
	if (!m->n)
		return NULL;
	return m->slots[slot_of(m, id)].val;
}

static int grow(struct pidmap *m)
{
	struct pidmap old = *m;

	m->cap = old.cap ? old.cap * 2 : MIN_CAP;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (!m->slots) {
		*m = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.slots[i].val)
			m->slots[slot_of(m, old.slots[i].id)] = old.slots[i];
	free(old.slots);
	return 0;
}

int pidmap_put(struct pidmap *m, int32_t id, void *val)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap && grow(m))
		return -ENOMEM;
	i = slot_of(m, id);
	if (!m->slots[i].val)
		m->n++;
	m->slots[i] = (struct pidmap_slot){ .id = id, .val = val };
	return 0;
}

/* May the entry at J, whose home slot is H, move back to the hole at I?
 * Not when H lies cyclically in (I, J]: it would then precede its home. */
static bool may_fill(size_t i, size_t j, size_t h)
{
	if (i < j)
		return h <= i || h > j;
	return h <= i && h > j;
}

void *pidmap_remove(struct pidmap *m, int32_t id)
{
	size_t hole, j;
	void *val;

	if (!m->n)
		return NULL;
	hole = slot_of(m, id);
	val = m->slots[hole].val;
	if (!val)
		return NULL;
	for (j = (hole + 1) & (m->cap - 1); m->slots[j].val;
	     j = (j + 1) & (m->cap - 1)) {
		if (may_fill(hole, j, home_of(m, m->slots[j].id))) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole] = (struct pidmap_slot){ 0 };
	m->n--;
	return val;
}

void *pidmap_next(const struct pidmap *m, size_t *pos)
{
	while (*pos < m->cap) {
		void *val = m->slots[(*pos)++].val;

		if (val)
			return val;
	}
	return NULL;
}

void pidmap_free(struct pidmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}
