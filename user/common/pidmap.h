/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A map from a process or thread id to a pointer: what the recorder keeps
 * for each live process. Entries are removed when their process exits, so
 * the map holds the processes alive now, however many came and went; there
 * is no ceiling past which a new process would be ignored.
 */
#ifndef GS_PIDMAP_H
#define GS_PIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pidmap_slot {
	int32_t id;
	void *val; /* NULL: the slot is free */
};

struct pidmap {
	struct pidmap_slot *slots;
	size_t cap, n;
};

/* The value of ID, or NULL. */
void *pidmap_get(const struct pidmap *m, int32_t id);
/* Set ID's value (VAL not NULL), replacing any. 0 or -ENOMEM. */
int pidmap_put(struct pidmap *m, int32_t id, void *val);
/* Remove ID; returns the value it had, or NULL. */
void *pidmap_remove(struct pidmap *m, int32_t id);
/* The next value at or after *POS, which is moved past it; NULL at the end.
 * for (size_t i = 0; (v = pidmap_next(m, &i));) visits every value; the
 * map must not change meanwhile. */
void *pidmap_next(const struct pidmap *m, size_t *pos);
/* The slots only: the values are the caller's. */
void pidmap_free(struct pidmap *m);

#endif /* GS_PIDMAP_H */
