// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/flame_priv.h"
#include "stackrec.h"
#include "common/syscalls.h"

static const char *const what_names[] = {
	[FL_WALL] = "wall",
	[FL_ONCPU] = "oncpu",
	[FL_GILWAIT] = "gil-wait",
	[FL_OFFCPU] = "offcpu",
};

const char *fl_what_name(enum fl_what w)
{
	return (unsigned int)w <= FL_OFFCPU ? what_names[w] : "?";
}

int fl_what_parse(const char *s, enum fl_what *w)
{
	for (int i = 0; i <= FL_OFFCPU; i++) {
		if (!strcmp(s, what_names[i])) {
			*w = i;
			return 0;
		}
	}
	if (!strcmp(s, "gil") || !strcmp(s, "gilwait")) {
		*w = FL_GILWAIT;
		return 0;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------ threads */

static uint64_t tkey(uint32_t tgid, uint32_t tid)
{
	return ((uint64_t)tgid << 32 | tid) * 0x9e3779b97f4a7c15ull >> 20;
}

static int slots_put(struct fl_model *m, uint32_t tgid, uint32_t tid,
		     uint32_t index)
{
	size_t j;

	if (m->slot_cap < 2 * (m->n_threads + 1)) {
		size_t cap = m->slot_cap ? m->slot_cap * 2 : 256;
		uint32_t *s = calloc(cap, sizeof(*s));

		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < m->slot_cap; i++) {
			const struct fl_thread *t;

			if (!m->slots[i])
				continue;
			t = m->threads[m->slots[i] - 1];
			for (j = tkey(t->tgid, t->tid) & (cap - 1); s[j];
			     j = (j + 1) & (cap - 1))
				;
			s[j] = m->slots[i];
		}
		free(m->slots);
		m->slots = s;
		m->slot_cap = cap;
	}
	for (j = tkey(tgid, tid) & (m->slot_cap - 1); m->slots[j];
	     j = (j + 1) & (m->slot_cap - 1)) {
		const struct fl_thread *t = m->threads[m->slots[j] - 1];

		if (t->tgid == tgid && t->tid == tid)
			break; /* a reused tid: the newest thread wins */
	}
	m->slots[j] = index + 1;
	return 0;
}

static struct fl_thread *thread_find(const struct fl_model *m, uint32_t tgid,
				     uint32_t tid)
{
	if (!m->slot_cap)
		return NULL;
	for (size_t j = tkey(tgid, tid) & (m->slot_cap - 1); m->slots[j];
	     j = (j + 1) & (m->slot_cap - 1)) {
		struct fl_thread *t = m->threads[m->slots[j] - 1];

		if (t->tgid == tgid && t->tid == tid)
			return t;
	}
	return NULL;
}

static struct fl_thread *thread_new(struct fl_model *m, uint32_t tgid,
				    uint32_t tid)
{
	struct fl_thread *t;

	if (m->n_threads == m->cap_threads) {
		size_t cap = m->cap_threads ? m->cap_threads * 2 : 64;
		struct fl_thread **v = realloc(m->threads, cap * sizeof(*v));

		if (!v)
			return NULL;
		m->threads = v;
		m->cap_threads = cap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tgid = tgid;
	t->tid = tid;
	t->index = m->n_threads;
	m->threads[m->n_threads++] = t;
	if (slots_put(m, tgid, tid, t->index)) {
		m->n_threads--;
		free(t);
		return NULL;
	}
	return t;
}

static bool wanted(const struct fl_model *m, uint32_t tgid, uint32_t tid)
{
	return (!m->pid || m->pid == tgid) && (!m->tid || m->tid == tid);
}

/* ------------------------------------------------------------ rows */

static uint64_t agg_hash(const struct fl_agg *a)
{
	uint64_t h = a->py * 0x9e3779b97f4a7c15ull;

	h ^= (a->native + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	h ^= ((uint64_t)a->thread << 32 | (uint64_t)(uint16_t)a->sys << 16 |
	      a->cat << 8 | a->reason) *
	     0x94d049bb133111ebull;
	h ^= a->flags;
	return h ^ h >> 29;
}

static bool agg_same(const struct fl_agg *a, const struct fl_agg *b)
{
	return a->py == b->py && a->native == b->native &&
	       a->thread == b->thread && a->sys == b->sys && a->cat == b->cat &&
	       a->reason == b->reason && a->flags == b->flags;
}

static int agg_grow(struct fl_model *m)
{
	size_t cap = m->agg_cap ? m->agg_cap * 2 : 1024;
	struct fl_agg *v = calloc(cap, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->agg_cap; i++) {
		size_t j;

		if (!m->agg[i].used)
			continue;
		for (j = agg_hash(&m->agg[i]) & (cap - 1); v[j].used;
		     j = (j + 1) & (cap - 1))
			;
		v[j] = m->agg[i];
	}
	free(m->agg);
	m->agg = v;
	m->agg_cap = cap;
	return 0;
}

static void agg_add(struct fl_model *m, const struct fl_agg *key, uint64_t ns)
{
	size_t j;

	if (!ns || m->err)
		return;
	if (2 * (m->n_agg + 1) > m->agg_cap && agg_grow(m)) {
		m->err = -ENOMEM;
		return;
	}
	for (j = agg_hash(key) & (m->agg_cap - 1); m->agg[j].used;
	     j = (j + 1) & (m->agg_cap - 1)) {
		if (agg_same(&m->agg[j], key)) {
			m->agg[j].ns += ns;
			return;
		}
	}
	m->agg[j] = *key;
	m->agg[j].used = 1;
	m->agg[j].ns = ns;
	m->n_agg++;
}

/* Time of category CAT on point P (NULL: no stack known). */
static void add_time(struct fl_model *m, const struct fl_thread *t,
		     const struct fl_point *p, enum fl_cat cat,
		     enum gs_reason reason, int sys, uint64_t ns)
{
	struct fl_agg k = { .thread = t->index, .cat = cat, .sys = -1 };

	if (p) {
		k.py = p->py;
		if (!p->py && !(p->flags & (GS_STKF_NO_TSTATE | GS_STKF_STALE)))
			k.flags |= FL_NO_PYTHON;
		/* the native stack tells where the CPU was (a sample, a
		 * preemption) or what the thread blocked in (a switch-out) */
		if (cat < C_N_CPU &&
		    (p->why == GS_STK_SAMPLE || p->why == GS_STK_PREEMPT)) {
			k.native = p->native;
			k.flags = p->flags & GS_STKF_KERNEL;
		} else if (cat == C_BLOCKED && p->why == GS_STK_OFFCPU) {
			k.native = p->native;
		}
	}
	if (cat == C_BLOCKED) {
		k.reason = reason;
		k.sys = m->what == FL_OFFCPU ? sys : -1;
	}
	agg_add(m, &k, ns);
}

/* ------------------------------------------------------------ points */

static void take_pending(struct fl_model *m, struct fl_thread *t,
			 const struct fl_point *p)
{
	for (int c = 0; c < C_N_CPU; c++) {
		add_time(m, t, p, c, 0, -1, t->pending[c]);
		t->pending[c] = 0;
	}
}

static void add_point(struct fl_model *m, struct fl_thread *t,
		      const struct fl_point *pt)
{
	struct fl_point p = *pt;

	m->points++;
	/* the on-CPU time counted so far ends here: it ran on this stack */
	take_pending(m, t, &p);
	/* the stand-in for later waits without a stack of their own: not
	 * one without Python frames (a new thread's first wait, before its
	 * bootstrap runs): its later waits are in its Python code */
	if (p.why == GS_STK_GIL_WAIT && p.py) {
		t->gilwait = p;
		t->has_gilwait = true;
	}
	if (t->n_pts == t->cap_pts) {
		size_t cap = t->cap_pts ? t->cap_pts * 2 : 8;
		struct fl_point *v = realloc(t->pts, cap * sizeof(*v));

		if (!v) {
			m->err = -ENOMEM;
			return;
		}
		t->pts = v;
		t->cap_pts = cap;
	}
	t->pts[t->n_pts++] = p;
}

static struct fl_thread *event_thread(struct fl_model *m, uint32_t tgid,
				      uint32_t tid)
{
	struct fl_thread *t;

	if (!wanted(m, tgid, tid))
		return NULL;
	t = thread_find(m, tgid, tid);
	if (!t)
		t = thread_new(m, tgid, tid);
	if (!t)
		m->err = -ENOMEM;
	return t;
}

static void on_stack(struct fl_model *m, const struct gs_event *e)
{
	struct fl_point p = { .ts = e->ts,
			      .py = e->arg[0],
			      .native = e->arg[1],
			      .why = e->a32,
			      .flags = e->flags };
	struct fl_thread *t = event_thread(m, e->tgid, e->tid);

	if (t)
		add_point(m, t, &p);
}

/* A switch-out that sent no stack of its own: the thread's last one is
 * taken again (GS_F_STACK_SAME, a thread waiting for the GIL again where
 * it waited before). */
static void on_switch_same(struct fl_model *m, const struct gs_event *e)
{
	struct fl_thread *t = event_thread(m, e->tgid, e->tid);
	struct fl_point p;

	if (!t)
		return;
	if (t->n_pts)
		p = t->pts[t->n_pts - 1];
	else if (t->has_last)
		p = t->last;
	else
		return;
	p.ts = e->ts;
	p.why = GS_STK_OFFCPU;
	add_point(m, t, &p);
}

static void on_event(void *ctx, const struct gs_event *e)
{
	if (e->type == GS_EV_STACK)
		on_stack(ctx, e);
	else if (e->type == GS_EV_SWITCH &&
		 (e->flags & (GS_F_PREV_TRACED | GS_F_STACK_SAME)) ==
			 (GS_F_PREV_TRACED | GS_F_STACK_SAME))
		on_switch_same(ctx, e);
}

/*
 * The stack of a frozen interval [A, B): the first stack taken inside it,
 * else the last one before it.
 */
static const struct fl_point *frozen_stack(const struct fl_thread *t,
					   uint64_t a, uint64_t b)
{
	const struct fl_point *before = t->has_last ? &t->last : NULL;

	for (size_t i = 0; i < t->n_pts; i++) {
		const struct fl_point *p = &t->pts[i];

		if (p->ts >= a && p->ts <= b)
			return p;
		if (p->ts < a)
			before = p;
	}
	return before;
}

/*
 * The stack of a GIL wait [A, B): one taken inside it (a switch-out of the
 * wait, or take_gil's entry), else the thread's last GIL_WAIT stack:
 * take_gil's entry sends one only when it changed, and a switch-out asleep
 * on the GIL after it sends none. A take that found the GIL free sends
 * none either, so a wait that starts in the futex after such a take has
 * its stack from its switch-out only.
 */
static const struct fl_point *wait_stack(const struct fl_thread *t, uint64_t a,
					 uint64_t b)
{
	for (size_t i = 0; i < t->n_pts; i++)
		if (t->pts[i].ts >= a && t->pts[i].ts <= b)
			return &t->pts[i];
	return t->has_gilwait ? &t->gilwait : frozen_stack(t, a, b);
}

/* On-CPU [A, B): each piece up to a stack taken inside goes to it, the
 * rest waits for the next stack. */
static void cpu_split(struct fl_model *m, struct fl_thread *t, uint64_t a,
		      uint64_t b, enum fl_cat cat)
{
	uint64_t cur = a;

	for (size_t i = 0; i < t->n_pts; i++) {
		const struct fl_point *p = &t->pts[i];

		if (p->ts <= a || p->ts > b)
			continue;
		add_time(m, t, p, cat, 0, -1, p->ts - cur);
		cur = p->ts;
	}
	t->pending[cat] += b - cur;
}

/* Stacks before B are of no use to later intervals, but the last one. */
static void prune(struct fl_thread *t, uint64_t b)
{
	size_t k = 0;

	while (k < t->n_pts && t->pts[k].ts < b)
		k++;
	if (!k)
		return;
	t->last = t->pts[k - 1];
	t->has_last = true;
	memmove(t->pts, t->pts + k, (t->n_pts - k) * sizeof(*t->pts));
	t->n_pts -= k;
}

/* The thread's state for an_thread AT, a new one when its tid was reused. */
static struct fl_thread *thread_of(struct fl_model *m,
				   const struct an_thread *at)
{
	struct fl_thread *t = thread_find(m, at->tgid, at->tid);

	if (t && t->at && t->at != at) {
		/* the tid names another thread now: close the old one */
		take_pending(m, t, t->has_last ? &t->last : NULL);
		t = NULL;
	}
	if (!t)
		t = thread_new(m, at->tgid, at->tid);
	if (t)
		t->at = at;
	return t;
}

static void account_wall(struct fl_model *m, struct fl_thread *t,
			 const struct an_thread *at, enum an_sched state,
			 enum gs_reason reason, bool holding, bool waiting,
			 uint64_t a, uint64_t b, bool again)
{
	uint64_t ns = b - a;

	(void)at;
	if (again) {
		/* known at last: what was not a GIL wait then */
		ns = ns > t->unknown_waiting ? ns - t->unknown_waiting : 0;
		t->unknown_waiting = 0;
	}
	if (waiting) {
		add_time(m, t, wait_stack(t, a, b), C_GILWAIT, 0, -1, ns);
		if (state == AN_UNKNOWN)
			t->unknown_waiting += ns;
		return;
	}
	switch (state) {
	case AN_RUNNING:
		if (again)
			add_time(m, t, frozen_stack(t, a, b),
				 holding ? C_CPU_HELD : C_CPU_NOGIL, 0, -1, ns);
		else
			cpu_split(m, t, a, b,
				  holding ? C_CPU_HELD : C_CPU_NOGIL);
		break;
	case AN_RUNNABLE:
		add_time(m, t, frozen_stack(t, a, b), C_RUNNABLE, 0, -1, ns);
		break;
	case AN_BLOCKED:
		add_time(m, t, frozen_stack(t, a, b), C_BLOCKED, reason, -1,
			 ns);
		break;
	default:
		break;
	}
}

static void on_account(void *ctx, const struct an_thread *at,
		       enum an_sched state, enum gs_reason reason, bool holding,
		       bool waiting, uint64_t a, uint64_t b)
{
	struct fl_model *m = ctx;
	struct fl_thread *t;
	bool again;
	enum fl_cat cpu;

	if (b <= a || !wanted(m, at->tgid, at->tid) || m->err)
		return;
	t = thread_of(m, at);
	if (!t) {
		m->err = -ENOMEM;
		return;
	}
	/* time first counted as unknown, now with its state */
	again = a < t->acct_end;
	cpu = waiting ? C_CPU_SPIN : holding ? C_CPU_HELD : C_CPU_NOGIL;
	switch (m->what) {
	case FL_WALL:
		account_wall(m, t, at, state, reason, holding, waiting, a, b,
			     again);
		break;
	case FL_ONCPU:
		if (state == AN_RUNNING && again)
			add_time(m, t, frozen_stack(t, a, b), cpu, 0, -1,
				 b - a);
		else if (state == AN_RUNNING)
			cpu_split(m, t, a, b, cpu);
		break;
	case FL_GILWAIT:
		if (waiting)
			add_time(m, t, wait_stack(t, a, b), C_GILWAIT, 0, -1,
				 b - a);
		break;
	case FL_OFFCPU:
		if (state == AN_BLOCKED)
			add_time(m, t,
				 waiting ? wait_stack(t, a, b) :
					   frozen_stack(t, a, b),
				 C_BLOCKED, reason,
				 at->in_sys ? at->sys_nr : -1, b - a);
		break;
	}
	if (b > t->acct_end)
		t->acct_end = b;
	prune(t, b);
}

void fl_model_flush_pending(struct fl_model *m)
{
	for (size_t i = 0; i < m->n_threads; i++) {
		struct fl_thread *t = m->threads[i];

		take_pending(m, t, t->has_last ? &t->last : NULL);
	}
}

void fl_model_init(struct fl_model *m, enum fl_what what, uint32_t pid,
		   uint32_t tid)
{
	memset(m, 0, sizeof(*m));
	m->what = what;
	m->pid = pid;
	m->tid = tid;
	m->sink = (struct an_sink){
		.ctx = m,
		.event = on_event,
		.account = on_account,
	};
}

const struct an_sink *fl_model_sink(struct fl_model *m)
{
	return &m->sink;
}

void fl_model_free(struct fl_model *m)
{
	for (size_t i = 0; i < m->n_threads; i++) {
		free(m->threads[i]->pts);
		free(m->threads[i]);
	}
	free(m->threads);
	free(m->slots);
	free(m->agg);
	memset(m, 0, sizeof(*m));
}

void fl_profile_free(struct fl_profile *p)
{
	for (size_t i = 0; i < p->n_rows; i++)
		free(p->rows[i].fids);
	free(p->rows);
	free(p->threads);
	stacktab_free(&p->names);
	memset(p, 0, sizeof(*p));
}
