// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "analysis/names.h"
#include "analysis/replay.h"
#include "session/stacktab.h"
#include "session/keys.h"

/* Fill a process's interpreter facts and names from one of its images. */
static void image_kv(struct an_process *p, const struct kv_list *kv)
{
	const char *v;

	if ((v = kv_get(kv, GS_KEY_COMMAND)))
		snprintf(p->command, sizeof(p->command), "%s", v);
	if ((v = kv_get(kv, GS_KEY_PPID)) && !p->ppid)
		p->ppid = kv_get_u64(kv, GS_KEY_PPID, 0);
	v = kv_get(kv, GS_KEY_PYTHON);
	snprintf(p->python, sizeof(p->python), "%s", v ? v : "");
	v = kv_get(kv, GS_KEY_GIL_METHOD);
	snprintf(p->gil_method, sizeof(p->gil_method), "%s", v ? v : "none");
	an_gil_from_base(&p->gil, kv_get_u64(kv, GS_KEY_GIL_ADDR, 0),
			 kv_get_u64(kv, GS_KEY_GIL_COND_OFF, 0),
			 kv_get_u64(kv, GS_KEY_GIL_MUTEX_OFF, 0),
			 kv_get_u64(kv, GS_KEY_GIL_SWITCH_COND_OFF, 0),
			 kv_get_u64(kv, GS_KEY_GIL_SWITCH_MUTEX_OFF, 0),
			 kv_get_u64(kv, GS_KEY_GIL_SIZE, 0));
	if (kv_has(kv, GS_KEY_SWITCH_NUMBER_START)) {
		p->have_switch_start = true;
		p->switch_start = kv_get_u64(kv, GS_KEY_SWITCH_NUMBER_START, 0);
	}
	if (kv_has(kv, GS_KEY_SWITCH_NUMBER_END)) {
		p->have_switch_end = true;
		p->switch_end = kv_get_u64(kv, GS_KEY_SWITCH_NUMBER_END, 0);
	}
}

/* Fill a process's interpreter facts from the image in force at TS. */
static void apply_image(struct an_process *p, uint64_t ts, void *ctx)
{
	const struct gs_session *s = ctx;
	const struct gs_image *img = gs_session_image(s, p->pid, ts);

	if (img)
		image_kv(p, &img->kv);
}

void replay_use_images(struct analysis *an, const struct gs_session *s)
{
	an_set_image_callback(an, apply_image, (void *)s);
}

void replay_add_initial(struct analysis *an, const struct gs_session *s)
{
	for (size_t i = 0; i < s->n_images; i++) {
		const struct gs_image *img = &s->images[i];
		const char *origin = kv_get(&img->kv, GS_KEY_ORIGIN);
		struct an_process *p;

		if (!origin || (strcmp(origin, GS_ORIGIN_LAUNCH) &&
				strcmp(origin, GS_ORIGIN_ATTACH)))
			continue;
		if (an_find_process(an, img->pid))
			continue;
		p = an_add_process(an, img->pid,
				   kv_get_u64(&img->kv, GS_KEY_PPID, 0),
				   an->t0);
		if (p)
			apply_image(p, an->t0, (void *)s);
	}
	for (size_t i = 0; i < s->n_threads; i++) {
		const struct kv_list *kv = &s->threads[i];
		struct an_process *p =
			an_find_process(an, kv_get_u64(kv, GS_KEY_TGID, 0));
		const char *state = kv_get(kv, GS_KEY_STATE),
			   *comm = kv_get(kv, GS_KEY_COMM);
		struct an_thread *t;

		if (!p)
			continue;
		t = an_add_thread(an, p, kv_get_u64(kv, GS_KEY_TID, 0),
				  state ? state[0] : 0,
				  (int)kv_get_u64(kv, GS_KEY_SYSCALL,
						  (uint64_t)-1),
				  kv_get_u64(kv, GS_KEY_ARG0, 0),
				  kv_get_u64(kv, GS_KEY_ARG1, 0));
		if (t && comm)
			snprintf(t->name, sizeof(t->name), "%s", comm);
	}
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];
		const struct gs_image *img =
			gs_session_image(s, p->pid, an->t0);

		if (img && kv_has(&img->kv, GS_KEY_GIL_LOCKED))
			an_set_gil_state(
				p, kv_get_u64(&img->kv, GS_KEY_GIL_LOCKED, 0),
				kv_get_u64(&img->kv, GS_KEY_GIL_LAST_HOLDER_TID,
					   0));
	}
}

/* The stack table of the session, from its STACKS chunks: their count,
 * or -ENOMEM. */
static int load_stacks(const struct gs_session *s, struct stacktab *tab)
{
	int loaded = 0;

	for (size_t i = 0; i < s->n_blobs; i++) {
		if (s->blobs[i].type != GS_CHUNK_STACKS)
			continue;
		if (stacktab_decode(tab, s->blobs[i].data, s->blobs[i].size) ==
		    -ENOMEM)
			return -ENOMEM;
		loaded++;
	}
	return loaded;
}

int replay_open(const char *path, const struct an_sink *sink, struct replay *rp,
		char *err, size_t errlen)
{
	const struct gs_session *s;
	struct gs_event e;
	uint64_t last_ts = 0, end;
	int ret;

	memset(rp, 0, sizeof(*rp));
	stacktab_init(&rp->tab);
	ret = gs_reader_open(path, &rp->reader, err, errlen);
	if (ret)
		return ret;
	s = gs_reader_session(rp->reader);
	rp->stack_tables = load_stacks(s, &rp->tab);
	if (rp->stack_tables < 0) {
		snprintf(err, errlen, "%s: out of memory", path);
		replay_close(rp);
		return -ENOMEM;
	}
	if (!kv_has(&s->host, GS_KEY_START_NS)) {
		snprintf(err, errlen,
			 "%s: the session has no readable header record%s",
			 path,
			 s->damage[0] ? " (the file is damaged or cut short)" :
					"");
		replay_close(rp);
		return -EINVAL;
	}
	rp->an = an_new(kv_get_u64(&s->host, GS_KEY_START_NS, 0));
	if (!rp->an) {
		replay_close(rp);
		return -ENOMEM;
	}
	replay_use_images(rp->an, s);
	ph_log_init(&rp->phases, (int)kv_get_u64(&s->host, GS_KEY_CPUS, 0));
	if (sink) {
		/* a view with its own model: no phases (their log holds every
		 * accounted interval, as much memory as the view's model) */
		an_set_sink(rp->an, sink);
	} else {
		an_set_sink(rp->an, ph_log_sink(&rp->phases));
		rp->an->phases = &rp->phases;
		rp->phases.an = rp->an;
		rp->phases.tab = &rp->tab;
	}
	an_set_lock_site(rp->an, names_lock_key, &rp->tab);
	rp->an->light = !strcmp(kv_get(&s->host, GS_KEY_MODE) ?
					kv_get(&s->host, GS_KEY_MODE) :
					"",
				GS_MODE_LIGHT);
	replay_add_initial(rp->an, s);
	while (gs_reader_next(rp->reader, &e) == 1) {
		an_event(rp->an, &e);
		if (e.ts > last_ts)
			last_ts = e.ts;
	}
	end = kv_get_u64(&s->trailer, GS_KEY_END_NS, 0);
	if (!end)
		end = last_ts > rp->an->t0 ? last_ts : rp->an->t0;
	an_finish(rp->an, end);
	names_apply(rp->an, &rp->tab);
	rp->info.path = path;
	rp->info.mode = kv_get(&s->host, GS_KEY_MODE);
	rp->info.command = kv_get(&s->host, GS_KEY_COMMAND);
	rp->info.duration_ns = end - rp->an->t0;
	rp->info.events = rp->an->events;
	rp->info.lost = kv_get_u64(&s->trailer, GS_KEY_LOST, 0);
	rp->info.out_of_order = s->events_past_window;
	rp->info.unseen_switch_ins =
		kv_get_u64(&s->trailer, GS_KEY_UNSEEN_SWITCH_INS, 0);
	rp->info.counts_known = s->finalized;
	rp->info.cut_short = !s->finalized || s->cut_short;
	rp->info.damage =
		s->damage[0] ?
			s->damage :
			(!s->finalized ?
				 "no trailer: the recorder did not finish" :
				 "");
	return 0;
}

void replay_close(struct replay *rp)
{
	stacktab_free(&rp->tab);
	an_free(rp->an);
	ph_log_free(&rp->phases);
	gs_reader_close(rp->reader);
	memset(rp, 0, sizeof(*rp));
}
