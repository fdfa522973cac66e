// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "views/timeline_model.h"

/* ------------------------------------------------------------ vectors */

static void vec_init(struct tl_vec *v, size_t size)
{
	memset(v, 0, sizeof(*v));
	v->size = size;
}

/* A new zeroed record at the end, or NULL without memory. */
static void *vec_push(struct tl_vec *v)
{
	void *p;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 1024;

		p = realloc(v->data, cap * v->size);
		if (!p)
			return NULL;
		v->data = p;
		v->cap = cap;
	}
	p = tl_at(v, v->n++);
	memset(p, 0, v->size);
	return p;
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	q = realloc(p, n * size);
	if (!q)
		return NULL;
	memset((char *)q + *cap * size, 0, (n - *cap) * size);
	*cap = n;
	return q;
}

/* ----------------------------------------- object pointer -> index */

/*
 * The sink names threads and processes by pointer (valid until replay
 * ends); give each a dense index the first time it is seen.
 */
struct seen {
	const void ***objs;
	size_t *n, *cap;
	uint32_t **slots;
	size_t *slot_cap;
};

static size_t ptr_hash(const void *p, size_t cap)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x & (cap - 1);
}

static int rehash(struct seen *s, size_t cap)
{
	uint32_t *slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < *s->n; i++) {
		size_t h = ptr_hash((*s->objs)[i], cap);

		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = (uint32_t)i + 1;
	}
	free(*s->slots);
	*s->slots = slots;
	*s->slot_cap = cap;
	return 0;
}

static uint32_t seen_index(struct seen *s, const void *obj)
{
	const void **objs;
	size_t h;

	if ((*s->n + 1) * 2 > *s->slot_cap &&
	    rehash(s, *s->slot_cap ? *s->slot_cap * 2 : 64))
		return TL_NONE;
	h = ptr_hash(obj, *s->slot_cap);
	while ((*s->slots)[h]) {
		uint32_t i = (*s->slots)[h] - 1;

		if ((*s->objs)[i] == obj)
			return i;
		h = (h + 1) & (*s->slot_cap - 1);
	}
	objs = grow(*s->objs, s->cap, *s->n + 1, sizeof(*objs));
	if (!objs)
		return TL_NONE;
	*s->objs = objs;
	objs[*s->n] = obj;
	(*s->slots)[h] = (uint32_t)++ * s->n;
	return (uint32_t)(*s->n - 1);
}

static uint32_t seen_find(struct seen *s, const void *obj)
{
	size_t h;

	if (!*s->slot_cap)
		return TL_NONE;
	for (h = ptr_hash(obj, *s->slot_cap); (*s->slots)[h];
	     h = (h + 1) & (*s->slot_cap - 1)) {
		uint32_t i = (*s->slots)[h] - 1;

		if ((*s->objs)[i] == obj)
			return i;
	}
	return TL_NONE;
}

static struct seen seen_threads(struct tl_model *m)
{
	return (struct seen){ &m->seen_threads, &m->n_seen_threads,
			      &m->cap_seen_threads, &m->thread_slots,
			      &m->thread_slot_cap };
}

static struct seen seen_procs(struct tl_model *m)
{
	return (struct seen){ &m->seen_procs, &m->n_seen_procs,
			      &m->cap_seen_procs, &m->proc_slots,
			      &m->proc_slot_cap };
}

/* ------------------------------------------------------------- the sink */

static void on_slice(void *ctx, const struct an_thread *t,
		     const struct an_slice *s, uint64_t start, uint64_t end)
{
	struct tl_model *m = ctx;
	struct seen st = seen_threads(m);
	uint32_t lane = seen_index(&st, t);
	struct tl_slice *r;

	if (lane == TL_NONE || !(r = vec_push(&m->slices))) {
		m->failed = true;
		return;
	}
	r->start = start;
	r->end = end;
	r->detail = s->detail;
	r->lane = lane;
	r->kind = (uint8_t)s->kind;
	r->reason = (uint8_t)s->reason;
	r->cpu = (int16_t)s->cpu;
	r->sys_nr = (int16_t)s->sys_nr;
	r->lock_holder = s->lock_holder;
}

static void on_handoff(void *ctx, const struct an_process *p, uint32_t from_tid,
		       uint32_t to_tid, uint64_t release_ts,
		       uint64_t acquire_ts, bool forced)
{
	struct tl_model *m = ctx;
	struct tl_handoff *h = vec_push(&m->handoffs);

	if (!h) {
		m->failed = true;
		return;
	}
	h->release = release_ts;
	h->acquire = acquire_ts;
	h->pid = p->pid;
	h->from_tid = from_tid;
	h->to_tid = to_tid;
	h->forced = forced;
}

static void on_counts(void *ctx, const struct an_process *p, uint64_t ts,
		      int gil_waiters, int runnable)
{
	struct tl_model *m = ctx;
	struct seen sp = seen_procs(m);
	uint32_t proc = seen_index(&sp, p);
	struct tl_count *c = NULL;
	uint32_t *last;

	if (proc == TL_NONE)
		goto fail;
	last = grow(m->last_count, &m->cap_last_count, proc + 1, sizeof(*last));
	if (!last)
		goto fail;
	m->last_count = last;
	if (last[proc]) {
		c = TL_COUNT(m, last[proc] - 1);
		if (c->waiters == gil_waiters && c->runnable == runnable)
			return;
		if (c->ts != ts)
			c = NULL; /* a change at a new time: a new point */
	}
	if (!c) {
		c = vec_push(&m->counts);
		if (!c)
			goto fail;
		last[proc] = (uint32_t)m->counts.n;
	}
	c->ts = ts;
	c->proc = proc;
	c->waiters = gil_waiters;
	c->runnable = runnable;
	return;
fail:
	m->failed = true;
}

static struct tl_cpu_now *cpu_now(struct tl_model *m, unsigned int cpu)
{
	struct tl_cpu_now *now =
		grow(m->cpu_now, &m->n_cpu_now, cpu + 1, sizeof(*now));

	if (!now)
		return NULL;
	m->cpu_now = now;
	return &now[cpu];
}

static void push_seg(struct tl_model *m, const struct tl_cpu_now *now,
		     uint64_t end, uint16_t cpu)
{
	struct tl_cpuseg *s;

	if (end <= now->since && now->since)
		return;
	s = vec_push(&m->cpusegs);
	if (!s) {
		m->failed = true;
		return;
	}
	/* since 0: it was running when the session began; the start is set
	 * when the session's start is known */
	s->start = now->since;
	s->end = end;
	s->tid = now->tid;
	s->pid = now->tgid;
	s->lane = now->traced ? 0 : TL_NONE; /* resolved in finish */
	s->cpu = cpu;
}

/*
 * Who ran on the CPU until this switch. Only switches that involve a traced
 * task are recorded, so another task is known to have run only when the
 * switch that ends its run names it as the previous task.
 */
static void track_cpu(struct tl_model *m, const struct gs_event *e)
{
	struct tl_cpu_now *now = cpu_now(m, e->cpu);
	uint32_t next = (uint32_t)e->arg[0];
	bool prev_traced = e->flags & GS_F_PREV_TRACED;

	if (!now) {
		m->failed = true;
		return;
	}
	if (!now->known && prev_traced) {
		now->since = 0;
		now->tid = e->tid;
		now->tgid = e->tgid;
		now->traced = true;
		now->known = true;
	}
	if (now->known && now->tid == e->tid && now->tid &&
	    now->traced == prev_traced)
		push_seg(m, now, e->ts, e->cpu);
	now->since = e->ts;
	now->tid = next;
	now->tgid = (uint32_t)(e->arg[0] >> 32);
	now->traced = e->flags & GS_F_NEXT_TRACED;
	now->known = true;
}

static void on_event(void *ctx, const struct gs_event *e)
{
	struct tl_model *m = ctx;
	struct tl_sched *s;

	if (e->type != GS_EV_SWITCH && e->type != GS_EV_WAKING)
		return;
	s = vec_push(&m->sched);
	if (!s) {
		m->failed = true;
		return;
	}
	s->ts = e->ts;
	s->cpu = e->cpu;
	s->type = e->type;
	s->flags = e->flags;
	if (e->type == GS_EV_SWITCH) {
		s->prev_tid = e->tid;
		s->prev_tgid = e->tgid;
		s->prev_state = e->a32;
		s->next_tid = (uint32_t)e->arg[0];
		s->next_tgid = (uint32_t)(e->arg[0] >> 32);
		track_cpu(m, e);
	} else {
		s->prev_tid = (uint32_t)e->arg[0];
		s->prev_tgid = (uint32_t)(e->arg[0] >> 32);
		s->next_tid = e->tid;
		s->next_tgid = e->tgid;
		s->prev_state = e->a32;
	}
}

void tl_model_init(struct tl_model *m)
{
	memset(m, 0, sizeof(*m));
	vec_init(&m->slices, sizeof(struct tl_slice));
	vec_init(&m->handoffs, sizeof(struct tl_handoff));
	vec_init(&m->counts, sizeof(struct tl_count));
	vec_init(&m->sched, sizeof(struct tl_sched));
	vec_init(&m->cpusegs, sizeof(struct tl_cpuseg));
	m->sink = (struct an_sink){
		.ctx = m,
		.slice = on_slice,
		.handoff = on_handoff,
		.counts = on_counts,
		.event = on_event,
	};
}

const struct an_sink *tl_model_sink(struct tl_model *m)
{
	return &m->sink;
}

void tl_model_free(struct tl_model *m)
{
	free(m->slices.data);
	free(m->handoffs.data);
	free(m->counts.data);
	free(m->sched.data);
	free(m->cpusegs.data);
	free(m->lanes);
	free(m->procs);
	free(m->cpus);
	free(m->cpu_seg_first);
	free(m->lane_by_tid);
	free(m->seen_threads);
	free(m->seen_procs);
	free(m->thread_slots);
	free(m->proc_slots);
	free(m->last_count);
	free(m->cpu_now);
	memset(m, 0, sizeof(*m));
}

/* ----------------------------------------------------------- finishing */

static int build_lanes(struct tl_model *m, const struct analysis *an)
{
	size_t n = 0, k = 0;

	for (size_t i = 0; i < an->n_procs; i++)
		n += an->procs[i]->n_threads;
	m->lanes = calloc(n ? n : 1, sizeof(*m->lanes));
	m->procs = calloc(an->n_procs ? an->n_procs : 1, sizeof(*m->procs));
	if (!m->lanes || !m->procs)
		return -ENOMEM;
	for (size_t i = 0; i < an->n_procs; i++) {
		const struct an_process *p = an->procs[i];

		m->procs[i].p = p;
		m->procs[i].first_lane = k;
		m->procs[i].n_lanes = p->n_threads;
		for (size_t j = 0; j < p->n_threads; j++, k++) {
			m->lanes[k].t = p->threads[j];
			m->lanes[k].proc = (uint32_t)i;
		}
	}
	m->n_lanes = n;
	m->n_procs = an->n_procs;
	return 0;
}

static int cmp_slice(const void *a, const void *b)
{
	const struct tl_slice *x = a, *y = b;

	if (x->lane != y->lane)
		return x->lane < y->lane ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Collection indexes to lanes; slices sorted by lane, then time. */
static int sort_slices(struct tl_model *m)
{
	struct seen st = seen_threads(m);
	uint32_t *map = malloc((m->n_seen_threads + 1) * sizeof(*map));
	size_t n = 0;

	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_seen_threads; i++)
		map[i] = TL_NONE;
	for (size_t l = 0; l < m->n_lanes; l++) {
		uint32_t i = seen_find(&st, m->lanes[l].t);

		if (i != TL_NONE)
			map[i] = (uint32_t)l;
	}
	for (size_t i = 0; i < m->slices.n; i++) {
		struct tl_slice *s = TL_SLICE(m, i);

		s->lane = s->lane < m->n_seen_threads ? map[s->lane] : TL_NONE;
	}
	free(map);
	if (m->slices.n) /* qsort on a NULL array is undefined */
		qsort(m->slices.data, m->slices.n, m->slices.size, cmp_slice);
	while (n < m->slices.n && TL_SLICE(m, n)->lane != TL_NONE)
		n++;
	m->slices.n = n; /* threads the report does not know: none expected */
	for (size_t i = 0; i < n; i++) {
		struct tl_lane *l = &m->lanes[TL_SLICE(m, i)->lane];

		if (!l->n)
			l->first = i;
		l->n++;
	}
	return 0;
}

static int cmp_lane_key(const struct tl_model *m, uint32_t a, uint32_t pid,
			uint32_t tid, uint64_t start)
{
	const struct an_thread *t = m->lanes[a].t;

	if (t->tgid != pid)
		return t->tgid < pid ? -1 : 1;
	if (t->tid != tid)
		return t->tid < tid ? -1 : 1;
	return t->start_ns < start ? -1 : t->start_ns > start;
}

static const struct tl_model *sort_model; /* qsort has no context argument */

static int cmp_lane(const void *a, const void *b)
{
	const struct an_thread *t = sort_model->lanes[*(const uint32_t *)b].t;

	return cmp_lane_key(sort_model, *(const uint32_t *)a, t->tgid, t->tid,
			    t->start_ns);
}

static int index_lanes(struct tl_model *m)
{
	m->lane_by_tid = malloc((m->n_lanes + 1) * sizeof(*m->lane_by_tid));
	if (!m->lane_by_tid)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_lanes; i++)
		m->lane_by_tid[i] = (uint32_t)i;
	sort_model = m;
	if (m->n_lanes)
		qsort(m->lane_by_tid, m->n_lanes, sizeof(uint32_t), cmp_lane);
	sort_model = NULL;
	return 0;
}

uint32_t tl_find_lane(const struct tl_model *m, uint32_t pid, uint32_t tid,
		      uint64_t ts)
{
	size_t lo = 0, hi = m->n_lanes;
	uint32_t best = TL_NONE;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cmp_lane_key(m, m->lane_by_tid[mid], pid, tid, 0) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* a tid used twice in the session: the thread alive at TS */
	for (; lo < m->n_lanes; lo++) {
		uint32_t l = m->lane_by_tid[lo];
		const struct an_thread *t = m->lanes[l].t;

		if (t->tgid != pid || t->tid != tid)
			break;
		if (best == TL_NONE || t->start_ns <= ts)
			best = l;
	}
	return best;
}

/* The slice of LANE at TS: one that ends at TS (ENDING) or starts there. */
static uint32_t slice_at(const struct tl_model *m, uint32_t lane, uint64_t ts,
			 bool ending)
{
	const struct tl_lane *l = &m->lanes[lane];
	size_t lo = l->first, hi = l->first + l->n;

	if (!l->n)
		return TL_NONE;
	/* first slice starting after TS (at or after TS when ENDING) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t s = TL_SLICE(m, mid)->start;

		if (s < ts || (!ending && s == ts))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > l->first && TL_SLICE(m, lo - 1)->end >= ts)
		return (uint32_t)(lo - 1);
	if (ending && lo < l->first + l->n && TL_SLICE(m, lo)->start == ts)
		return (uint32_t)lo; /* released at the thread's first instant */
	return TL_NONE;
}

/*
 * Every hand-off becomes an arrow from the releaser's slice (the one that
 * ends at the release) to the taker's (the one that starts at the take).
 * Perfetto takes many flow ids a slice; Chrome JSON takes one, so a slice
 * that both receives and passes the GIL continues the same chain there.
 */
static void bind_flows(struct tl_model *m)
{
	uint32_t chains = 0;

	for (size_t i = 0; i < m->handoffs.n; i++) {
		struct tl_handoff *h = TL_HANDOFF(m, i);
		struct tl_slice *from = NULL, *to = NULL;

		h->from_lane = tl_find_lane(m, h->pid, h->from_tid, h->release);
		h->to_lane = tl_find_lane(m, h->pid, h->to_tid, h->acquire);
		h->from_slice =
			h->from_lane == TL_NONE ?
				TL_NONE :
				slice_at(m, h->from_lane, h->release, true);
		h->to_slice =
			h->to_lane == TL_NONE ?
				TL_NONE :
				slice_at(m, h->to_lane, h->acquire, false);
		if (h->from_slice != TL_NONE)
			from = TL_SLICE(m, h->from_slice);
		if (h->to_slice != TL_NONE)
			to = TL_SLICE(m, h->to_slice);
		if (!from || !to || from->flow_out || to->flow_in) {
			h->from_slice = h->to_slice = TL_NONE;
			m->unbound_flows++;
			continue;
		}
		from->flow_out = (uint32_t)i + 1;
		to->flow_in = (uint32_t)i + 1;
		h->chain = from->flow_in ?
				   TL_HANDOFF(m, from->flow_in - 1)->chain :
				   ++chains;
	}
}

static int cmp_count(const void *a, const void *b)
{
	const struct tl_count *x = a, *y = b;

	if (x->proc != y->proc)
		return x->proc < y->proc ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static int sort_counts(struct tl_model *m)
{
	struct seen sp = seen_procs(m);
	uint32_t *map = malloc((m->n_seen_procs + 1) * sizeof(*map));
	size_t n = 0;

	if (!map)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_seen_procs; i++)
		map[i] = TL_NONE;
	for (size_t j = 0; j < m->n_procs; j++) {
		uint32_t i = seen_find(&sp, m->procs[j].p);

		if (i != TL_NONE)
			map[i] = (uint32_t)j;
	}
	for (size_t i = 0; i < m->counts.n; i++) {
		struct tl_count *c = TL_COUNT(m, i);

		c->proc = c->proc < m->n_seen_procs ? map[c->proc] : TL_NONE;
	}
	free(map);
	if (m->counts.n)
		qsort(m->counts.data, m->counts.n, m->counts.size, cmp_count);
	while (n < m->counts.n && TL_COUNT(m, n)->proc != TL_NONE)
		n++;
	m->counts.n = n;
	for (size_t i = 0; i < n; i++) {
		struct tl_proc *p = &m->procs[TL_COUNT(m, i)->proc];

		if (!p->n_counts)
			p->first_count = i;
		p->n_counts++;
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct tl_cpuseg *x = a, *y = b;

	if (x->cpu != y->cpu)
		return x->cpu < y->cpu ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Close what still runs, name the threads, sort by CPU and time. */
static void finish_segs(struct tl_model *m)
{
	size_t n = 0;

	for (size_t c = 0; c < m->n_cpu_now; c++) {
		const struct tl_cpu_now *now = &m->cpu_now[c];

		/* another task's end is not known: leave it out */
		if (now->known && now->traced && now->tid)
			push_seg(m, now, m->end, (uint16_t)c);
	}
	for (size_t i = 0; i < m->cpusegs.n; i++) {
		struct tl_cpuseg s = *TL_CPUSEG(m, i);

		if (s.lane != TL_NONE) {
			s.lane = tl_find_lane(m, s.pid, s.tid,
					      s.start ? s.start : m->t0);
			if (s.lane == TL_NONE)
				continue;
		}
		if (s.lane != TL_NONE) {
			/* a thread runs within its life: the recorder may not
			 * see the last switch of a thread that exits */
			const struct an_thread *t = m->lanes[s.lane].t;
			uint64_t born = t->start_ns > m->t0 ? t->start_ns :
							      m->t0;

			if (s.start < born)
				s.start = born;
			if (s.end > t->end_ns)
				s.end = t->end_ns;
		}
		if (s.end > s.start)
			*TL_CPUSEG(m, n++) = s;
	}
	m->cpusegs.n = n;
	if (n)
		qsort(m->cpusegs.data, n, m->cpusegs.size, cmp_seg);
}

/* The CPUs the scheduler events name, ascending, and where their
 * segments start. */
static int list_cpus(struct tl_model *m)
{
	size_t cap = 0, k = 0;
	uint8_t *seen = NULL;

	for (size_t i = 0; i < m->sched.n; i++) {
		unsigned int c = TL_SCHED(m, i)->cpu;
		uint8_t *p = grow(seen, &cap, c + 1, 1);

		if (!p) {
			free(seen);
			return -ENOMEM;
		}
		seen = p;
		seen[c] = 1;
	}
	m->cpus = calloc(cap + 1, sizeof(*m->cpus));
	m->cpu_seg_first = calloc(cap + 2, sizeof(*m->cpu_seg_first));
	if (!m->cpus || !m->cpu_seg_first) {
		free(seen);
		return -ENOMEM;
	}
	for (size_t c = 0; c < cap; c++)
		if (seen[c])
			m->cpus[m->n_cpus++] = (uint16_t)c;
	free(seen);
	for (size_t r = 0; r <= m->n_cpus; r++) {
		while (k < m->cpusegs.n &&
		       (r == m->n_cpus || TL_CPUSEG(m, k)->cpu < m->cpus[r]))
			k++;
		m->cpu_seg_first[r] = (uint32_t)k;
	}
	return 0;
}

int tl_cpu_row(const struct tl_model *m, unsigned int cpu)
{
	size_t lo = 0, hi = m->n_cpus;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->cpus[mid] < cpu)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->n_cpus && m->cpus[lo] == cpu ? (int)lo : -1;
}

int tl_model_finish(struct tl_model *m, const struct analysis *an, uint64_t end)
{
	int ret;

	if (m->failed)
		return -ENOMEM;
	m->t0 = an->t0;
	m->end = end;
	ret = build_lanes(m, an);
	if (!ret)
		ret = sort_slices(m);
	if (!ret)
		ret = index_lanes(m);
	if (ret)
		return ret;
	bind_flows(m);
	ret = sort_counts(m);
	if (ret)
		return ret;
	finish_segs(m);
	if (m->failed)
		return -ENOMEM;
	return list_cpus(m);
}

const char *tl_slice_name(const struct tl_slice *s)
{
	struct an_slice as = { .kind = s->kind, .reason = s->reason };

	return an_slice_name(&as);
}

int tl_slice_code(const struct tl_slice *s)
{
	if (s->kind != AN_SLICE_BLOCKED)
		return s->kind < AN_SLICE_BLOCKED ? s->kind : AN_SLICE_UNKNOWN;
	return AN_SLICE_BLOCKED +
	       (s->reason < GS_R_COUNT ? s->reason : GS_R_OTHER);
}

const char *tl_code_name(int code)
{
	struct tl_slice s = { .kind = (uint8_t)code };

	if (code >= AN_SLICE_BLOCKED) {
		s.kind = AN_SLICE_BLOCKED;
		s.reason = (uint8_t)(code - AN_SLICE_BLOCKED);
	}
	return tl_slice_name(&s);
}
