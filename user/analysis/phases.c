// SPDX-License-Identifier: GPL-2.0
/*
 * Phases of a process's life, from the analysis's accounted intervals.
 *
 * 1. A sweep over the intervals gives elementary segments where the number
 *    of threads wanting the GIL (W) is constant: W >= 2 threaded, W == 1
 *    serial (and which thread), W == 0 native (something ran) or idle.
 * 2. Threaded segments closer than PH_MIN_PHASE_NS to each other make one
 *    threaded run; runs shorter than that are blips of the phase around.
 * 3. A run takes in the short serial segments next to it whose thread
 *    wanted the GIL half the run: the first worker alone before the others
 *    started, the last one finishing alone (PH_WIDEN_SHARE, PH_TAIL_SHARE).
 * 4. Between runs, a new phase starts where a stretch of another kind
 *    lasts PH_MIN_PHASE_NS or more; shorter stretches stay in the phase.
 * 5. Per phase and thread, the time in each state gives the figures.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "analysis/phases.h"

void ph_log_init(struct ph_log *log, int ncpus)
{
	memset(log, 0, sizeof(*log));
	log->ncpus = ncpus;
}

void ph_log_free(struct ph_log *log)
{
	for (size_t i = 0; i < log->n; i++)
		free(log->procs[i].v);
	free(log->procs);
	free(log->slots);
	memset(log, 0, sizeof(*log));
}

const struct an_sink *ph_log_sink(struct ph_log *log)
{
	memset(&log->sink, 0, sizeof(log->sink));
	log->sink.ctx = log;
	log->sink.account = ph_account;
	log->sink.event = ph_event;
	return &log->sink;
}

static size_t slot_of(const struct ph_log *log, const struct an_process *p)
{
	size_t h = (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ull);

	for (h &= log->nslots - 1;; h = (h + 1) & (log->nslots - 1))
		if (!log->slots[h] || log->procs[log->slots[h] - 1].p == p)
			return h;
}

static struct ph_proc_log *proc_log(const struct ph_log *log,
				    const struct an_process *p)
{
	size_t h;

	if (!log->nslots)
		return NULL;
	h = slot_of(log, p);
	return log->slots[h] ? &log->procs[log->slots[h] - 1] : NULL;
}

/* Keep the table at most half full: rebuilt at twice the size. */
static int grow_slots(struct ph_log *log)
{
	size_t n = log->nslots ? log->nslots * 2 : 64;
	size_t *old = log->slots;

	if (log->nslots && (log->n + 1) * 2 <= log->nslots)
		return 0;
	log->slots = calloc(n, sizeof(*log->slots));
	if (!log->slots) {
		log->slots = old;
		return -1;
	}
	log->nslots = n;
	for (size_t i = 0; i < log->n; i++)
		log->slots[slot_of(log, log->procs[i].p)] = i + 1;
	free(old);
	return 0;
}

struct ph_proc_log *ph_proc_log_of(struct ph_log *log,
				   const struct an_process *p)
{
	struct ph_proc_log *pl = proc_log(log, p);

	if (pl)
		return pl;
	if (grow_slots(log))
		return NULL;
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 8;
		void *v = realloc(log->procs, cap * sizeof(*log->procs));

		if (!v)
			return NULL;
		log->procs = v;
		log->cap = cap;
	}
	pl = &log->procs[log->n++];
	memset(pl, 0, sizeof(*pl));
	pl->p = p;
	log->slots[slot_of(log, p)] = log->n;
	return pl;
}

void ph_account(void *ctx, const struct an_thread *t, enum an_sched state,
		enum gs_reason reason, bool gil_holding, bool gil_waiting,
		uint64_t start, uint64_t end)
{
	struct ph_log *log = ctx;
	struct ph_proc_log *pl;

	/* unknown time is given again once known; the dead do nothing */
	if (state == AN_UNKNOWN || state == AN_DEAD || end <= start ||
	    !t->proc || log->oom)
		return;
	pl = ph_proc_log_of(log, t->proc);
	if (pl && pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		void *v = realloc(pl->v, cap * sizeof(*pl->v));

		pl->cap = v ? cap : pl->cap;
		pl->v = v ? v : pl->v;
	}
	if (!pl || pl->n == pl->cap) {
		log->oom = true;
		return;
	}
	pl->v[pl->n++] = (struct ph_span){ .t = t,
					   .start = start,
					   .end = end,
					   .state = state,
					   .reason = reason,
					   .holding = gil_holding,
					   .waiting = gil_waiting };
}

const char *ph_kind_name(enum ph_kind k)
{
	static const char *const names[PH_KINDS] = { "idle", "native", "serial",
						     "threaded" };

	return k < PH_KINDS ? names[k] : "?";
}

/* Holding the GIL or waiting for it, or a new thread waiting for a CPU
 * before its first request (milliseconds on a loaded machine): it wants
 * to run Python all the same. */
static bool wants_gil(const struct ph_span *s)
{
	return s->holding || s->waiting || s->starting;
}

static bool runs_native(const struct ph_span *s)
{
	return s->state == AN_RUNNING && !s->holding;
}

/* ------------------------------------------------- 1. elementary segments */

/* 16 bytes: a busy session has millions */
struct edge {
	uint64_t ts;
	uint32_t t;	     /* the thread's index in by_thread.th, + 1 */
	int8_t want, native; /* +1, -1 or 0 */
};

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	/* ends before starts: a thread going from one interval to the
	 * next at the same instant does not count twice */
	return (x->want + x->native) - (y->want + y->native);
}

struct seg {
	uint64_t start, end;
	enum ph_kind kind;
	const struct an_thread *t; /* PH_SERIAL: the thread */
	bool taken;		   /* part of a threaded run */
};

struct segs {
	struct seg *v;
	size_t n;
};

static enum ph_kind kind_of(int want, int native)
{
	if (want >= 2)
		return PH_THREADED;
	if (want == 1)
		return PH_SERIAL;
	return native > 0 ? PH_NATIVE : PH_IDLE;
}

static void seg_push(struct segs *s, uint64_t start, uint64_t end,
		     enum ph_kind kind, const struct an_thread *t)
{
	struct seg *last = s->n ? &s->v[s->n - 1] : NULL;

	if (end <= start)
		return;
	if (last && last->kind == kind && last->t == t && last->end == start) {
		last->end = end;
		return;
	}
	s->v[s->n++] = (struct seg){
		.start = start, .end = end, .kind = kind, .t = t
	};
}

/* ------------------------------------------- per-thread view of the spans */

struct thread_spans {
	const struct an_thread *t;
	size_t lo, hi; /* its spans in the (thread, start) order */
};

struct by_thread {
	struct ph_span *v;
	size_t n;
	struct thread_spans *th;
	size_t n_th;
};

static int span_cmp(const void *a, const void *b)
{
	const struct ph_span *x = a, *y = b;

	if (x->t != y->t)
		return (uintptr_t)x->t < (uintptr_t)y->t ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* A thread's runnable spans before it first holds or waits for the GIL
 * (none for a thread that never does: it does not run Python). */
static void mark_start(struct ph_span *v, size_t n)
{
	size_t first = 0;

	while (first < n && !v[first].holding && !v[first].waiting)
		first++;
	for (size_t i = 0; first < n && i < first; i++)
		v[i].starting = v[i].state == AN_RUNNABLE;
}

/* PL's spans sorted in place (their order is nobody else's business: the
 * log is for phases alone; a copy was a third of a big report's memory). */
static int by_thread_make(struct ph_proc_log *pl, struct by_thread *bt)
{
	memset(bt, 0, sizeof(*bt));
	bt->v = pl->v;
	bt->th = malloc(pl->n * sizeof(*bt->th));
	if (!bt->th)
		return -ENOMEM;
	bt->n = pl->n;
	qsort(bt->v, bt->n, sizeof(*bt->v), span_cmp);
	for (size_t i = 0; i < bt->n; i++) {
		if (!bt->n_th || bt->th[bt->n_th - 1].t != bt->v[i].t)
			bt->th[bt->n_th++] =
				(struct thread_spans){ bt->v[i].t, i, i };
		bt->th[bt->n_th - 1].hi = i + 1;
	}
	for (size_t k = 0; k < bt->n_th; k++)
		mark_start(bt->v + bt->th[k].lo, bt->th[k].hi - bt->th[k].lo);
	return 0;
}

static void by_thread_free(struct by_thread *bt)
{
	free(bt->th);
}

static const struct thread_spans *spans_of(const struct by_thread *bt,
					   const struct an_thread *t)
{
	size_t lo = 0, hi = bt->n_th;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (bt->th[mid].t == t)
			return &bt->th[mid];
		if ((uintptr_t)bt->th[mid].t < (uintptr_t)t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static uint64_t overlap(const struct ph_span *s, uint64_t a, uint64_t b)
{
	uint64_t lo = s->start > a ? s->start : a, hi = s->end < b ? s->end : b;

	return hi > lo ? hi - lo : 0;
}

/* Did T want the GIL a 1/SHARE of [A, B)? */
static bool wanted_in(const struct by_thread *bt, const struct an_thread *t,
		      uint64_t a, uint64_t b, unsigned int share)
{
	const struct thread_spans *ts = spans_of(bt, t);
	size_t lo, hi;
	uint64_t want = 0;

	if (!ts)
		return false;
	lo = ts->lo;
	hi = ts->hi;
	while (lo < hi) { /* the first span that ends after A */
		size_t mid = (lo + hi) / 2;

		if (bt->v[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < ts->hi && bt->v[i].start < b; i++)
		if (wants_gil(&bt->v[i]))
			want += overlap(&bt->v[i], a, b);
	return want * share >= b - a;
}

static size_t make_edges(const struct by_thread *bt, struct edge *e)
{
	size_t k = 0;

	for (size_t th = 0; th < bt->n_th; th++) {
		for (size_t i = bt->th[th].lo; i < bt->th[th].hi; i++) {
			const struct ph_span *v = &bt->v[i];
			int8_t want = wants_gil(v), native = runs_native(v);

			e[k++] = (struct edge){ v->start, (uint32_t)th + 1,
						want, native };
			e[k++] = (struct edge){ v->end, (uint32_t)th + 1, -want,
						-native };
		}
	}
	qsort(e, k, sizeof(*e), edge_cmp);
	return k;
}

/* Segments from the first interval's start to the last one's end. */
static int sweep(const struct by_thread *bt, struct segs *out)
{
	struct edge *e = malloc(2 * bt->n * sizeof(*e));
	size_t k;
	int want = 0, native = 0;
	uint32_t who = 0; /* xor of the wanting threads: the one when W=1 */

	out->v = malloc(2 * bt->n * sizeof(*out->v));
	out->n = 0;
	if (!e || !out->v) {
		free(e);
		return -ENOMEM;
	}
	k = make_edges(bt, e);
	for (size_t i = 0; i < k; i++) {
		if (i && e[i].ts > e[i - 1].ts)
			seg_push(out, e[i - 1].ts, e[i].ts,
				 kind_of(want, native),
				 want == 1 && who ? bt->th[who - 1].t : NULL);
		want += e[i].want;
		native += e[i].native;
		if (e[i].want)
			who ^= e[i].t;
	}
	free(e);
	return 0;
}

/* ---------------------------------------------------- 2, 3. threaded runs */

struct run {
	size_t a, b; /* segments a .. b, inclusive */
};

/* The next threaded run from segment I on, before smoothing it: threaded
 * segments less than a minimum phase apart. Returns false when none. */
static bool next_run(const struct segs *s, size_t i, struct run *r)
{
	size_t last;

	while (i < s->n && s->v[i].kind != PH_THREADED)
		i++;
	if (i == s->n)
		return false;
	r->a = last = i;
	for (size_t j = i + 1; j < s->n; j++) {
		if (s->v[j].start - s->v[last].end >= PH_MIN_PHASE_NS)
			break;
		if (s->v[j].kind == PH_THREADED)
			last = j;
	}
	r->b = last;
	return true;
}

static uint64_t run_len(const struct segs *s, const struct run *r)
{
	return s->v[r->b].end - s->v[r->a].start;
}

/* wanted_in over one range for a few threads, remembered: the segments
 * around a run alternate between a few threads, and each answer scans the
 * thread's spans over the whole run (quadratic in a busy session) */
#define WANT_MEMO 8

struct want_memo {
	uint64_t a, b;
	unsigned int share;
	const struct an_thread *t[WANT_MEMO];
	bool v[WANT_MEMO];
	int n, next;
};

static bool wanted_memo(struct want_memo *m, const struct by_thread *bt,
			const struct an_thread *t)
{
	int k;

	for (k = 0; k < m->n; k++)
		if (m->t[k] == t)
			return m->v[k];
	k = m->n < WANT_MEMO ? m->n++ : m->next++ % WANT_MEMO;
	m->t[k] = t;
	m->v[k] = wanted_in(bt, t, m->a, m->b, m->share);
	return m->v[k];
}

/* A lone stretch of a worker: not the process's main thread (the one that
 * starts and joins them, and goes on alone after), wanting the GIL a
 * 1/SHARE of [A, B) (M's range). Short threaded blips (the joining thread
 * woken a moment while the last worker runs) come along. */
static bool tail_of(const struct seg *g, const struct by_thread *bt,
		    struct want_memo *m)
{
	if (g->kind == PH_THREADED)
		return true;
	return g->kind == PH_SERIAL && g->t->tid != g->t->tgid &&
	       wanted_memo(m, bt, g->t);
}

/* A lone stretch of a worker started during [A, B): the last of a batch,
 * started late (its starter waited for the GIL), may run mostly alone. */
static bool started_in(const struct seg *g, uint64_t a, uint64_t b)
{
	return g->kind == PH_SERIAL && g->t->tid != g->t->tgid &&
	       g->t->start_ns >= a && g->t->start_ns < b;
}

/* Step 3: take in the short lone stretches of the run's own workers:
 * before it, one that wanted the GIL half the run; after it, a member of
 * the run, one that wanted it half the run's last minimum phase, or one
 * started in the run (started late, it wanted it less of the run). */
static void widen(const struct segs *s, const struct by_thread *bt,
		  struct run *r)
{
	uint64_t a = s->v[r->a].start, b = s->v[r->b].end, added = 0;
	uint64_t most = (b - a) / PH_TAIL_SHARE;
	size_t last = r->b;
	struct want_memo before = { .a = a, .b = b, .share = PH_WIDEN_SHARE };
	struct want_memo member = { .a = a, .b = b, .share = PH_MEMBER_SHARE };
	struct want_memo late = { .a = b - PH_MIN_PHASE_NS,
				  .b = b,
				  .share = PH_WIDEN_SHARE };

	if (most < PH_MIN_PHASE_NS)
		most = PH_MIN_PHASE_NS;
	while (r->a > 0) {
		const struct seg *g = &s->v[r->a - 1];

		if (g->taken || added + (g->end - g->start) >= most ||
		    g->kind != PH_SERIAL || !tail_of(g, bt, &before))
			break;
		added += g->end - g->start;
		r->a--;
	}
	added = 0;
	for (size_t i = r->b + 1; i < s->n; i++) {
		const struct seg *g = &s->v[i];
		bool worker = tail_of(g, bt, &member) ||
			      tail_of(g, bt, &late) || started_in(g, a, b);

		/* the joiner's moment with the GIL between two joins, or
		 * nobody's, is crossed when a worker's stretch follows */
		if (added + (g->end - g->start) >= most ||
		    (!worker && g->end - g->start >= PH_TAIL_GAP_NS))
			break;
		added += g->end - g->start;
		if (worker && g->kind == PH_SERIAL) /* end on a worker's */
			last = i;
	}
	r->b = last;
}

/* ------------------------------------------------------- 4. the phases */

struct phases_acc {
	struct phase *v;
	size_t n;
};

static void phase_push(struct phases_acc *acc, enum ph_kind kind,
		       uint64_t start, uint64_t end)
{
	if (end > start)
		acc->v[acc->n++] = (struct phase){ .kind = kind,
						   .start = start,
						   .end = end };
}

/* The kind a non-threaded stretch counts as: a short burst of two
 * threads wanting the GIL is part of the serial work around it. */
static enum ph_kind stretch_kind(const struct seg *g)
{
	return g->kind == PH_THREADED ? PH_SERIAL : g->kind;
}

/* Step 4 for the segments [A, B): a new phase where a stretch of one
 * kind lasts a minimum phase or more and differs from the current one. */
static void split_stretch(const struct segs *s, size_t a, size_t b,
			  struct phases_acc *acc)
{
	uint64_t start, dur[PH_KINDS] = { 0 };
	enum ph_kind cur = PH_KINDS;
	size_t i = a;

	if (a >= b)
		return;
	start = s->v[a].start;
	while (i < b) {
		enum ph_kind k = stretch_kind(&s->v[i]);
		size_t j = i;

		while (j < b && stretch_kind(&s->v[j]) == k)
			j++;
		if (s->v[j - 1].end - s->v[i].start >= PH_MIN_PHASE_NS &&
		    k != cur) {
			if (cur != PH_KINDS) {
				phase_push(acc, cur, start, s->v[i].start);
				start = s->v[i].start;
			}
			cur = k;
		}
		for (size_t m = i; m < j; m++)
			dur[k] += s->v[m].end - s->v[m].start;
		i = j;
	}
	if (cur == PH_KINDS) { /* no long stretch: the kind it was most */
		cur = PH_IDLE;
		for (int k = 0; k < PH_KINDS; k++)
			if (dur[k] > dur[cur])
				cur = k;
	}
	phase_push(acc, cur, start, s->v[b - 1].end);
}

static void make_phases(struct segs *s, const struct by_thread *bt,
			struct phases_acc *acc)
{
	size_t done = 0, i = 0;
	struct run r;

	while (next_run(s, i, &r)) {
		i = r.b + 1;
		if (run_len(s, &r) < PH_MIN_PHASE_NS)
			continue;
		widen(s, bt, &r);
		for (size_t m = r.a; m <= r.b; m++)
			s->v[m].taken = true;
		split_stretch(s, done, r.a, acc);
		phase_push(acc, PH_THREADED, s->v[r.a].start, s->v[r.b].end);
		done = i = r.b + 1;
	}
	split_stretch(s, done, s->n, acc);
}

/* ------------------------------------------------------- 5. the figures */

struct thread_in_phase {
	uint64_t present, on_cpu, work, held, wait, want, own_wait;
};

/* Waits a thread has for its own sake: not for the GIL, not for a lock or
 * a join (other threads' work, which would go faster too). */
static bool own_wait(const struct ph_span *s)
{
	return s->state == AN_BLOCKED && !s->waiting && s->reason != GS_R_GIL &&
	       s->reason != GS_R_LOCK;
}

static void add_span(struct thread_in_phase *x, const struct ph_span *s,
		     uint64_t d)
{
	x->present += d;
	if (s->state == AN_RUNNING)
		x->on_cpu += d;
	if (s->state == AN_RUNNING && !s->waiting)
		x->work += d;
	if (s->holding)
		x->held += d;
	if (s->waiting)
		x->wait += d;
	if (wants_gil(s))
		x->want += d;
	if (own_wait(s))
		x->own_wait += d;
}

static void fold(struct phase *ph, const struct thread_in_phase *x,
		 const struct an_thread *t)
{
	uint64_t path = x->work + x->own_wait;

	ph->on_cpu += x->on_cpu;
	ph->work += x->work;
	ph->gil_held += x->held;
	if (!x->want || x->want * PH_MEMBER_SHARE < ph->end - ph->start)
		return;
	ph->members++;
	ph->member_time += x->present;
	ph->member_gil_wait += x->wait;
	ph->member_want += x->want;
	if (path > ph->longest_path) {
		ph->longest_path = path;
		ph->longest_cpu = x->work;
		ph->longest_tid = t->tid;
	}
}

/* One thread's spans (sorted) against the phases (sorted, disjoint). */
static void thread_figures(const struct by_thread *bt,
			   const struct thread_spans *ts, struct ph_phases *out)
{
	struct thread_in_phase x;

	for (size_t k = 0; k < out->n; k++) {
		struct phase *ph = &out->v[k];
		size_t lo = ts->lo, hi = ts->hi;

		memset(&x, 0, sizeof(x));
		while (lo < hi) { /* the first span ending after the start */
			size_t mid = (lo + hi) / 2;

			if (bt->v[mid].end <= ph->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t i = lo; i < ts->hi && bt->v[i].start < ph->end; i++)
			add_span(&x, &bt->v[i],
				 overlap(&bt->v[i], ph->start, ph->end));
		if (x.present)
			fold(ph, &x, ts->t);
	}
}

static void judge(struct phase *ph, int ncpus)
{
	uint64_t spread;

	ph->contended =
		ph->kind == PH_THREADED && ph->members >= 2 &&
		(ph->member_gil_wait * 100 >=
			 ph->member_time * PH_CONTENDED_PCT ||
		 ph->member_want >= ph->gil_held + (ph->end - ph->start));
	if (!ph->contended)
		return;
	spread = (ph->work + ncpus - 1) / ncpus;
	ph->whatif_ns = spread > ph->longest_path ? spread : ph->longest_path;
}

int ph_compute(const struct ph_log *log, const struct an_process *p,
	       struct ph_phases *out)
{
	/* sorted in place by by_thread_make: the same spans */
	struct ph_proc_log *pl = (struct ph_proc_log *)proc_log(log, p);
	struct by_thread bt;
	struct phases_acc acc = { 0 };
	struct segs s = { 0 };
	int ret;

	memset(out, 0, sizeof(*out));
	out->ncpus = log->ncpus > 0 ? log->ncpus : an_cpu_count(p->cpus);
	if (out->ncpus < 1)
		out->ncpus = 1;
	if (!pl || !pl->n || log->oom)
		return 0;
	ret = by_thread_make(pl, &bt);
	if (!ret)
		ret = sweep(&bt, &s);
	/* every segment is at most one phase, and every phase ends one;
	 * start-up and shutdown may split two more */
	acc.v = ret ? NULL : calloc(s.n + 3, sizeof(*acc.v));
	if (!ret && !acc.v)
		ret = -ENOMEM;
	if (!ret) {
		make_phases(&s, &bt, &acc);
		ph_roles(pl, acc.v, &acc.n);
		out->v = acc.v;
		out->n = acc.n;
		for (size_t i = 0; i < bt.n_th; i++)
			thread_figures(&bt, &bt.th[i], out);
		for (size_t k = 0; k < out->n; k++)
			judge(&out->v[k], out->ncpus);
	}
	free(s.v);
	by_thread_free(&bt);
	return ret;
}

void ph_phases_free(struct ph_phases *ph)
{
	free(ph->v);
	memset(ph, 0, sizeof(*ph));
}
