/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `gilscope top`'s analysis, fed live: what `record` would write to a
 * session file (key=value records, events) goes into a session kept in
 * memory and, through a reorder buffer that restores timestamp order as the
 * session reader does (events held back GS_REORDER_WINDOW_NS, sorted with
 * the writer's sort), into the same analysis `report` runs.
 */
#ifndef GS_TOP_FEED_H
#define GS_TOP_FEED_H

#include <stdbool.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "views/flame_model.h"
#include "common/kv.h"
#include "session/session.h"
#include "cmd/top_model.h"

struct top_feed {
	struct gs_session sess; /* images and threads as record writes them */
	size_t cap_images;
	struct analysis *an; /* once the first events are let out */
	bool light;
	struct gs_event *pend, *tmp; /* events held back, in arrival order */
	size_t n_pend, cap_pend;
	uint64_t released; /* events up to here went to the analysis */
	uint64_t late;	   /* events that came older than that */
	struct an_sink sink;
	struct fl_model fl; /* GIL wait by Python stack */
	struct top_model model;
	int err;
};

void top_feed_init(struct top_feed *f);
void top_feed_free(struct top_feed *f);
/* record_sink's kv and event (record.h). */
void top_feed_kv(struct top_feed *f, int chunk_type, const struct kv_list *kv);
void top_feed_event(struct top_feed *f, const struct gs_event *e);
/* Let every event up to UPTO go into the analysis, in timestamp order; with
 * FLUSH, account every thread up to UPTO (an interval ends there). */
void top_feed_release(struct top_feed *f, uint64_t upto, bool flush);

#endif /* GS_TOP_FEED_H */
