// SPDX-License-Identifier: GPL-2.0
/* The live analysis of `gilscope top` (top_feed.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "analysis/replay.h"
#include "cmd/top_feed.h"
#include "session/keys.h"

/* ------------------------------------------------------------ sink */

/* The flame model sees every interval and stack event; the hand-offs go
 * to the interval figures. */
static void on_account(void *ctx, const struct an_thread *t,
		       enum an_sched state, enum gs_reason reason, bool holding,
		       bool waiting, uint64_t start, uint64_t end)
{
	struct top_feed *f = ctx;
	const struct an_sink *fl = fl_model_sink(&f->fl);

	fl->account(fl->ctx, t, state, reason, holding, waiting, start, end);
}

static void on_raw_event(void *ctx, const struct gs_event *e)
{
	struct top_feed *f = ctx;
	const struct an_sink *fl = fl_model_sink(&f->fl);

	fl->event(fl->ctx, e);
}

static void on_handoff(void *ctx, const struct an_process *p, uint32_t from_tid,
		       uint32_t to_tid, uint64_t release_ts,
		       uint64_t acquire_ts, bool forced)
{
	struct top_feed *f = ctx;

	(void)from_tid;
	(void)forced;
	top_model_handoff(&f->model, p, to_tid, release_ts, acquire_ts);
}

void top_feed_init(struct top_feed *f)
{
	memset(f, 0, sizeof(*f));
	fl_model_init(&f->fl, FL_GILWAIT, 0, 0);
	top_model_init(&f->model);
	f->sink = (struct an_sink){
		.ctx = f,
		.account = on_account,
		.event = on_raw_event,
		.handoff = on_handoff,
	};
}

void top_feed_free(struct top_feed *f)
{
	struct gs_session *s = &f->sess;

	an_free(f->an);
	fl_model_free(&f->fl);
	top_model_free(&f->model);
	free(f->pend);
	free(f->tmp);
	kv_free(&s->host);
	kv_free(&s->trailer);
	for (size_t i = 0; i < s->n_images; i++)
		kv_free(&s->images[i].kv);
	free(s->images);
	free(s->images_by_pid);
	for (size_t i = 0; i < s->n_threads; i++)
		kv_free(&s->threads[i]);
	free(s->threads);
	memset(f, 0, sizeof(*f));
}

/* ------------------------------------------------------------ session */

/* A PROCESS record: a new image, or more keys for one known. */
static int add_image(struct top_feed *f, const struct kv_list *kv)
{
	struct gs_session *s = &f->sess;
	uint32_t pid = kv_get_u64(kv, GS_KEY_PID, 0);
	uint64_t since = kv_get_u64(kv, GS_KEY_SINCE_NS, 0);
	struct gs_image *img;

	for (size_t i = s->n_images; i > 0; i--)
		if (s->images[i - 1].pid == pid &&
		    s->images[i - 1].since_ns == since)
			return kv_merge(&s->images[i - 1].kv, kv);
	if (s->n_images == f->cap_images) {
		size_t cap = f->cap_images ? f->cap_images * 2 : 64;

		img = realloc(s->images, cap * sizeof(*img));
		if (!img)
			return -ENOMEM;
		s->images = img;
		f->cap_images = cap;
	}
	img = &s->images[s->n_images++];
	*img = (struct gs_image){ .pid = pid, .since_ns = since };
	return kv_merge(&img->kv, kv) || gs_session_index(s) ? -ENOMEM : 0;
}

/*
 * An image that came after the analysis passed its start (a libpython
 * found late): the process takes it now.
 */
static void image_late(struct top_feed *f, const struct kv_list *kv)
{
	uint32_t pid = kv_get_u64(kv, GS_KEY_PID, 0);
	struct an_process *p = f->an ? an_find_process(f->an, pid) : NULL;

	if (p && kv_get_u64(kv, GS_KEY_SINCE_NS, 0) <= f->released &&
	    f->an->image_cb)
		f->an->image_cb(p, f->released, f->an->image_ctx);
}

static int add_thread(struct gs_session *s, const struct kv_list *kv)
{
	struct kv_list *v =
		realloc(s->threads, (s->n_threads + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->threads = v;
	memset(&v[s->n_threads], 0, sizeof(*v));
	return kv_merge(&v[s->n_threads++], kv);
}

void top_feed_kv(struct top_feed *f, int chunk_type, const struct kv_list *kv)
{
	int err = 0;

	switch (chunk_type) {
	case GS_CHUNK_HOST:
		err = kv_merge(&f->sess.host, kv);
		break;
	case GS_CHUNK_PROCESS:
		err = add_image(f, kv);
		if (!err)
			image_late(f, kv);
		break;
	case GS_CHUNK_THREAD:
		/* snapshots of the start only: later ones have no use */
		if (!f->an)
			err = add_thread(&f->sess, kv);
		break;
	}
	if (err)
		f->err = err;
}

/* ------------------------------------------------------------ events */

void top_feed_event(struct top_feed *f, const struct gs_event *e)
{
	if (f->n_pend == f->cap_pend) {
		size_t cap = f->cap_pend ? f->cap_pend * 2 : 16384;
		struct gs_event *v = realloc(f->pend, cap * sizeof(*v));
		struct gs_event *t = v ? realloc(f->tmp, cap * sizeof(*t)) :
					 NULL;

		if (v)
			f->pend = v;
		if (!t) {
			f->err = -ENOMEM;
			return;
		}
		f->tmp = t;
		f->cap_pend = cap;
	}
	if (f->an && e->ts < f->released)
		f->late++;
	f->pend[f->n_pend++] = *e;
}

/* The analysis, once the records of the start are all in. */
static int start_analysis(struct top_feed *f)
{
	const char *mode = kv_get(&f->sess.host, GS_KEY_MODE);

	f->an = an_new(kv_get_u64(&f->sess.host, GS_KEY_START_NS, 0));
	if (!f->an)
		return -ENOMEM;
	f->an->light = mode && !strcmp(mode, GS_MODE_LIGHT);
	f->light = f->an->light;
	replay_use_images(f->an, &f->sess);
	an_set_sink(f->an, &f->sink);
	replay_add_initial(f->an, &f->sess);
	f->released = f->an->t0;
	return 0;
}

void top_feed_release(struct top_feed *f, uint64_t upto, bool flush)
{
	size_t k = 0;

	if (!f->an && start_analysis(f)) {
		f->err = -ENOMEM;
		return;
	}
	gs_sort_events(f->pend, f->tmp, f->n_pend);
	while (k < f->n_pend && f->pend[k].ts <= upto)
		an_event(f->an, &f->pend[k++]);
	memmove(f->pend, f->pend + k, (f->n_pend - k) * sizeof(*f->pend));
	f->n_pend -= k;
	if (upto > f->released)
		f->released = upto;
	if (flush)
		an_flush_to(f->an, upto);
}
