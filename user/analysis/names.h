/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names as a Python programmer knows them, for every view: a thread by its
 * threading.Thread.name, a lock by its kind (Lock, Queue, Event,
 * join(worker) ...) and where it was first waited for, threads of one
 * name pattern and entry function as a group.
 *
 * They come from the session's stack table (user/session/stacktab.h): the Python
 * names the recorder read, and the Python stacks of lock waits.
 */
#ifndef GS_NAMES_H
#define GS_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "session/stacktab.h"

/*
 * After an_finish: every thread with a Python name is called by it (its
 * comm stays in os_name), each lock gets its kind and site, each thread
 * its entry function. TAB may be empty (a session without stacks).
 */
void names_apply(struct analysis *an, const struct stacktab *tab);

/* an_lock_site_cb over a stack table (CTX): the key of a lock wait's kind
 * and site, 0 when the stack says nothing. */
uint64_t names_lock_key(void *ctx, uint32_t pid, uint64_t stack);

/* "Queue first waited at worker (pipeline.py:30)": where the program
 * first waited for it (not where it was made: nothing tells); "lock
 * 0x7f..." when unnamed. */
void names_lock_label(const struct an_lock *l, char *buf, size_t len);

/* A lock wait of T's, as the lock it names (its lifetime), or NULL. */
const struct an_lock *names_waited_lock(const struct an_thread *t,
					const struct an_lockwait *w);

/* Threads of one process that share a name pattern (digits folded) and
 * an entry function. */
struct name_group {
	char pattern[64]; /* "Thread-* (process_request_thread)" */
	char entry[96];	  /* "process_request_thread (server.py:12)", "" */
	size_t n;
	uint32_t *members; /* indexes into p->threads, creation order */
};

/* P's threads in groups (a group of one for a thread alone), in the order
 * of their first member. 0 or -ENOMEM. */
int names_groups(const struct an_process *p, struct name_group **out,
		 size_t *n);
void names_groups_free(struct name_group *g, size_t n);

#endif /* GS_NAMES_H */
