/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `gilscope top`'s screen: an interval snapshot (top_model.h) as lines of
 * text sized to the terminal (the most important columns kept when it is
 * narrow), drawn with curses by a thread of its own, which also reads the
 * keys. The recorder's thread never waits for the terminal.
 */
#ifndef GS_TOP_VIEW_H
#define GS_TOP_VIEW_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include "cmd/top_model.h"

enum tv_sort {
	TV_WAIT,
	TV_HELD,
	TV_CPU,
	TV_RUNQ,
	TV_BLOCKED,
	TV_HANDOFFS,
	TV_TID,
	TV_NAME,
};

struct tv_state {
	enum tv_sort sort;
	int scroll;	   /* first row shown below the headers */
	const char *scope; /* "every Python process", "PID 1234" */
	double interval_s;
};

/* Line kinds, for the screen's attributes. */
enum tv_line { TV_TITLE, TV_KEYS, TV_HEAD, TV_PROC, TV_THREAD, TV_TEXT };

/* Sort S's processes and their threads as ST says. */
void tv_sort(struct tm_snapshot *s, enum tv_sort sort);
/* S (sorted) as lines of at most WIDTH characters: the title, the keys,
 * then the rows; LINE gets each one. */
void tv_lines(const struct tm_snapshot *s, const struct tv_state *st, int width,
	      void (*line)(void *ctx, enum tv_line kind, const char *text),
	      void *ctx);
/* The same on FILE, WIDTH wide, without the keys (top --once). */
void tv_print(FILE *out, struct tm_snapshot *s, const struct tv_state *st,
	      int width);

/* What the screen's thread shares with the recorder's. */
struct tv_shared {
	pthread_mutex_t lock;
	struct tm_snapshot *latest; /* not yet taken by the screen */
	volatile bool stop;	    /* the screen must end (set by top.c) */
	volatile bool quit;	    /* `q` was pressed (set by the screen) */
	struct tv_state st;
};

/* The screen's thread: draws the latest snapshot, reads keys, until
 * SHARED->stop or `q`; the terminal is restored when it returns. */
void *tv_main(void *shared);

#endif /* GS_TOP_VIEW_H */
