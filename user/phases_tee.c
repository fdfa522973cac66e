// SPDX-License-Identifier: GPL-2.0
/* The phases' log as one more listener of the analysis: a sink that keeps
 * the accounted intervals and passes everything on to the view's sink. */
#include <string.h>
#include "phases.h"

static const struct an_sink *next_of(void *ctx)
{
	return ((struct ph_tee *)ctx)->next;
}

static void tee_slice(void *ctx, const struct an_thread *t,
		      const struct an_slice *s, uint64_t start, uint64_t end)
{
	const struct an_sink *n = next_of(ctx);

	n->slice(n->ctx, t, s, start, end);
}

static void tee_handoff(void *ctx, const struct an_process *p, uint32_t from,
			uint32_t to, uint64_t release_ts, uint64_t acquire_ts,
			bool forced)
{
	const struct an_sink *n = next_of(ctx);

	n->handoff(n->ctx, p, from, to, release_ts, acquire_ts, forced);
}

static void tee_lock_handoff(void *ctx, const struct an_process *p,
			     uint64_t lock, uint32_t from, uint32_t to,
			     uint64_t release_ts, uint64_t acquire_ts)
{
	const struct an_sink *n = next_of(ctx);

	n->lock_handoff(n->ctx, p, lock, from, to, release_ts, acquire_ts);
}

static void tee_counts(void *ctx, const struct an_process *p, uint64_t ts,
		       int gil_waiters, int runnable)
{
	const struct an_sink *n = next_of(ctx);

	n->counts(n->ctx, p, ts, gil_waiters, runnable);
}

static void tee_event(void *ctx, const struct gs_event *e)
{
	const struct an_sink *n = next_of(ctx);

	n->event(n->ctx, e);
}

static void tee_account(void *ctx, const struct an_thread *t,
			enum an_sched state, enum gs_reason reason,
			bool holding, bool waiting, uint64_t start,
			uint64_t end)
{
	struct ph_tee *tee = ctx;

	ph_account(tee->log, t, state, reason, holding, waiting, start, end);
	if (tee->next && tee->next->account)
		tee->next->account(tee->next->ctx, t, state, reason, holding,
				   waiting, start, end);
}

const struct an_sink *ph_tee(struct ph_tee *tee, struct ph_log *log,
			     const struct an_sink *next)
{
	memset(tee, 0, sizeof(*tee));
	tee->log = log;
	tee->next = next;
	tee->sink.ctx = tee;
	/* only what NEXT listens to: the analysis skips work nobody sees */
	tee->sink.slice = next && next->slice ? tee_slice : NULL;
	tee->sink.handoff = next && next->handoff ? tee_handoff : NULL;
	tee->sink.lock_handoff = next && next->lock_handoff ? tee_lock_handoff :
							      NULL;
	tee->sink.counts = next && next->counts ? tee_counts : NULL;
	tee->sink.event = next && next->event ? tee_event : NULL;
	tee->sink.account = tee_account;
	return &tee->sink;
}
