/* SPDX-License-Identifier: GPL-2.0 */
/* Read a session file and run the analysis over it: what every view uses. */
#ifndef GS_REPLAY_H
#define GS_REPLAY_H

#include "analysis/analysis.h"
#include "analysis/phases.h"
#include "session/session.h"
#include "session/stacktab.h"

struct replay {
	struct gs_reader *reader;
	struct analysis *an;
	struct session_summary info;
	/* the accounted intervals, for the report's phases */
	struct ph_log phases;
	/* the session's stack table (frames, stacks, Python thread names):
	 * what names threads and locks (user/analysis/names.c) and draws flames */
	struct stacktab tab;
	int stack_tables; /* STACKS chunks read: 0 without stacks */
};

/*
 * Read PATH and run the analysis over it; SINK (may be NULL) sees every
 * slice, hand-off and raw event on the way. Threads and locks are then
 * named as Python knows them (user/analysis/names.h). Returns 0, or -errno with a
 * one-line cause in ERR.
 */
int replay_open(const char *path, const struct an_sink *sink, struct replay *rp,
		char *err, size_t errlen);
void replay_close(struct replay *rp);

/*
 * What replay_open() does before the events, for live views that keep a
 * session of their own (gilscope top): the processes and threads there
 * when recording started, and the images in force as events come.
 */
void replay_add_initial(struct analysis *an, const struct gs_session *s);
void replay_use_images(struct analysis *an, const struct gs_session *s);

#endif /* GS_REPLAY_H */
