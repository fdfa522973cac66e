// SPDX-License-Identifier: GPL-2.0
/*
 * Interval figures for `gilscope top` (top_model.h). The analysis only
 * grows its process and thread arrays, so the counters of the last
 * interval's end are kept in arrays of the same shape.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/flame_priv.h"
#include "stackrec.h"
#include "record/stacks.h"
#include "cmd/top_model.h"

struct tm_prev {
	uint64_t on_cpu, on_cpu_gil, runnable, held, wait;
	uint64_t blocked[GS_R_COUNT];
};

/* GIL wait on one Python stack: of one flame-model thread (cumulative),
 * or of one thread or process in the interval (a difference). */
struct tm_gilwait {
	uint32_t tgid, tid, thread; /* thread: the flame model's index */
	uint64_t py, ns;
};

enum { PP_HELD, PP_WAITER, PP_HANDOFFS, PP_FORCED, PP_N };

void top_model_init(struct top_model *m)
{
	memset(m, 0, sizeof(*m));
}

void top_model_free(struct top_model *m)
{
	for (size_t i = 0; i < m->n_prev_procs; i++)
		free(m->prev[i]);
	free(m->prev);
	free(m->n_prev);
	free(m->prev_proc);
	free(m->handoffs);
	free(m->waits);
	memset(m, 0, sizeof(*m));
}

void top_model_handoff(struct top_model *m, const struct an_process *p,
		       uint32_t to_tid, uint64_t release_ts,
		       uint64_t acquire_ts)
{
	if (m->n_handoffs == m->cap_handoffs) {
		size_t cap = m->cap_handoffs ? m->cap_handoffs * 2 : 1024;
		struct tm_handoff *v = realloc(m->handoffs, cap * sizeof(*v));

		if (!v)
			return; /* the interval's p99 is then of fewer */
		m->handoffs = v;
		m->cap_handoffs = cap;
	}
	m->handoffs[m->n_handoffs++] = (struct tm_handoff){
		.pid = p->pid,
		.to_tid = to_tid,
		.ns = acquire_ts - release_ts,
	};
}

double tm_pct(uint64_t ns, uint64_t life_ns)
{
	return life_ns ? 100.0 * ns / life_ns : 0.0;
}

uint64_t tm_blocked_total(const struct tm_thread *t)
{
	uint64_t sum = 0;

	for (int r = 0; r < GS_R_COUNT; r++)
		sum += t->blocked_ns[r];
	return sum;
}

/* ------------------------------------------------------------ counters */

/* Room for the counters of every process and thread the analysis has. */
static int grow_prev(struct top_model *m, const struct analysis *an)
{
	if (an->n_procs > m->n_prev_procs) {
		size_t n = an->n_procs;
		struct tm_prev **prev = realloc(m->prev, n * sizeof(*prev));
		size_t *n_prev =
			prev ? realloc(m->n_prev, n * sizeof(*n_prev)) : NULL;
		uint64_t *pp =
			n_prev ? realloc(m->prev_proc, n * PP_N * sizeof(*pp)) :
				 NULL;

		if (prev)
			m->prev = prev;
		if (n_prev)
			m->n_prev = n_prev;
		if (!pp)
			return -ENOMEM;
		m->prev_proc = pp;
		for (size_t i = m->n_prev_procs; i < n; i++) {
			m->prev[i] = NULL;
			m->n_prev[i] = 0;
			memset(&pp[i * PP_N], 0, PP_N * sizeof(*pp));
		}
		m->n_prev_procs = n;
	}
	for (size_t i = 0; i < an->n_procs; i++) {
		size_t n = an->procs[i]->n_threads;
		struct tm_prev *v;

		if (n <= m->n_prev[i])
			continue;
		v = realloc(m->prev[i], n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + m->n_prev[i], 0, (n - m->n_prev[i]) * sizeof(*v));
		m->prev[i] = v;
		m->n_prev[i] = n;
	}
	return 0;
}

/* What T did since PREV, which becomes its counters now. */
static void thread_delta(struct tm_thread *out, const struct an_thread *t,
			 struct tm_prev *prev)
{
	struct tm_prev now = {
		.on_cpu = t->on_cpu_ns,
		.on_cpu_gil = t->on_cpu_gil_ns,
		.runnable = t->runnable_ns,
		.held = t->gil_held_ns,
		.wait = t->gil_wait_ns,
	};

	memcpy(now.blocked, t->blocked_ns, sizeof(now.blocked));
	out->tid = t->tid;
	out->exited = t->exited;
	out->on_cpu_ns = now.on_cpu - prev->on_cpu;
	out->on_cpu_gil_ns = now.on_cpu_gil - prev->on_cpu_gil;
	out->runnable_ns = now.runnable - prev->runnable;
	out->gil_held_ns = now.held - prev->held;
	out->gil_wait_ns = now.wait - prev->wait;
	for (int r = 0; r < GS_R_COUNT; r++)
		out->blocked_ns[r] = now.blocked[r] - prev->blocked[r];
	out->life_ns =
		out->on_cpu_ns + out->runnable_ns + tm_blocked_total(out);
	*prev = now;
}

/* A counter that starts again from zero at an exec. */
static uint64_t counter_delta(uint64_t now, uint64_t *prev)
{
	uint64_t d = now >= *prev ? now - *prev : now;

	*prev = now;
	return d;
}

static void process_delta(struct tm_process *out, const struct an_process *p,
			  uint64_t *prev, uint64_t start, uint64_t end)
{
	uint64_t from = p->start_ns > start ? p->start_ns : start;
	uint64_t to = p->exited && p->end_ns < end ? p->end_ns : end;

	out->pid = p->pid;
	snprintf(out->command, sizeof(out->command), "%s", p->command);
	snprintf(out->python, sizeof(out->python), "%s", p->python);
	snprintf(out->gil_method, sizeof(out->gil_method), "%s", p->gil_method);
	out->has_gil = p->gil.addr != 0;
	out->exited = p->exited;
	out->life_ns = to > from ? to - from : 0;
	out->gil_held_ns = counter_delta(p->gil_held_ns, &prev[PP_HELD]);
	out->waiter_ns = counter_delta(p->waiter_ns, &prev[PP_WAITER]);
	out->handoffs = counter_delta(p->handoffs, &prev[PP_HANDOFFS]);
	out->forced_handoffs =
		counter_delta(p->forced_handoffs, &prev[PP_FORCED]);
}

/* ------------------------------------------------------------ hand-offs */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The 99th percentile (nearest rank) of the hand-offs of PID, to TID only
 * unless it is 0; how many there were in *N. */
static uint64_t handoff_p99(const struct top_model *m, uint32_t pid,
			    uint32_t tid, uint64_t *n)
{
	uint64_t *v = malloc((m->n_handoffs + 1) * sizeof(*v)), p99;
	size_t k = 0;

	*n = 0;
	if (!v)
		return 0;
	for (size_t i = 0; i < m->n_handoffs; i++)
		if (m->handoffs[i].pid == pid &&
		    (!tid || m->handoffs[i].to_tid == tid))
			v[k++] = m->handoffs[i].ns;
	qsort(v, k, sizeof(*v), u64_cmp);
	p99 = k ? v[(k * 99 + 99) / 100 - 1] : 0;
	free(v);
	*n = k;
	return p99;
}

/* ------------------------------------------------------------ stacks */

static int wait_cmp(const void *a, const void *b)
{
	const struct tm_gilwait *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	return (x->py > y->py) - (x->py < y->py);
}

/* The flame model's GIL wait by (thread, Python stack), sorted. */
static struct tm_gilwait *gil_waits(const struct fl_model *fl, size_t *n)
{
	struct tm_gilwait *v = malloc((fl->n_agg + 1) * sizeof(*v));

	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < fl->agg_cap; i++) {
		const struct fl_agg *a = &fl->agg[i];
		const struct fl_thread *t;

		if (!a->used || a->cat != C_GILWAIT)
			continue;
		t = fl->threads[a->thread];
		v[(*n)++] = (struct tm_gilwait){ .tgid = t->tgid,
						 .tid = t->tid,
						 .thread = a->thread,
						 .py = a->py,
						 .ns = a->ns };
	}
	qsort(v, *n, sizeof(*v), wait_cmp);
	return v;
}

/*
 * The GIL wait of the interval by (thread, stack): CUR less what PREV
 * (both sorted) had. Stacks of one thread are summed over a tid reused.
 */
static size_t wait_deltas(struct tm_gilwait *cur, size_t n,
			  const struct tm_gilwait *prev, size_t n_prev)
{
	size_t j = 0, out = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t before = 0;
		int c = 1;

		while (j < n_prev && (c = wait_cmp(&prev[j], &cur[i])) < 0)
			j++;
		if (j < n_prev && c == 0)
			before = prev[j].ns;
		if (cur[i].ns > before) {
			cur[out] = cur[i];
			cur[out].thread = 0;
			cur[out++].ns = cur[i].ns - before;
		}
	}
	return out;
}

/* The stack of id PY as text, leaf first. */
static void stack_text(struct tm_stack *s, const struct stacktab *tab,
		       uint64_t py, uint64_t ns)
{
	const struct st_stack *st =
		tab && py ? stacktab_find(tab, GS_SREC_PYTHON, py) : NULL;

	s->ns = ns;
	s->n = 0;
	for (uint32_t i = st ? st->n : 0; i > 0 && s->n < TM_STACK_FRAMES; i--)
		stacktab_frame_text(&tab->frames[st->fids[i - 1]],
				    s->frames[s->n++], TM_FRAME);
}

/* The stack with most wait among entries [A, B) of V (sorted by stack
 * within a thread; per process, the same stack of several threads adds). */
static void best_stack(struct tm_stack *s, const struct stacktab *tab,
		       const struct tm_gilwait *v, size_t a, size_t b,
		       bool by_process)
{
	uint64_t best_py = 0, best_ns = 0;

	for (size_t i = a; i < b; i++) {
		uint64_t ns = 0;

		for (size_t k = by_process ? a : i; k < b; k++)
			if (v[k].py == v[i].py)
				ns += v[k].ns;
		if (ns > best_ns) {
			best_ns = ns;
			best_py = v[i].py;
		}
	}
	if (best_ns)
		stack_text(s, tab, best_py, best_ns);
}

/* Each thread's and process's stack of most GIL wait in the interval. */
static void add_stacks(struct top_model *m, struct tm_snapshot *s,
		       const struct fl_model *fl, const struct stacktab *tab)
{
	size_t n = 0, n_keep = 0;
	struct tm_gilwait *cur = gil_waits(fl, &n), *keep;

	if (!cur)
		return;
	keep = malloc((n + 1) * sizeof(*keep));
	if (keep)
		memcpy(keep, cur, n * sizeof(*keep));
	n_keep = n;
	n = wait_deltas(cur, n, m->waits, m->n_waits);
	for (size_t i = 0; i < s->n_procs; i++) {
		struct tm_process *p = &s->procs[i];
		size_t a = 0, b;

		while (a < n && cur[a].tgid < p->pid)
			a++;
		for (b = a; b < n && cur[b].tgid == p->pid; b++)
			;
		best_stack(&p->wait_stack, tab, cur, a, b, true);
		for (size_t k = 0; k < p->n_threads; k++) {
			struct tm_thread *t = &p->threads[k];
			size_t x = a, y;

			while (x < b && cur[x].tid < t->tid)
				x++;
			for (y = x; y < b && cur[y].tid == t->tid; y++)
				;
			best_stack(&t->wait_stack, tab, cur, x, y, false);
		}
	}
	free(cur);
	if (keep) {
		free(m->waits);
		m->waits = keep;
		m->n_waits = n_keep;
	}
}

/* ------------------------------------------------------------ snapshot */

static void name_thread(struct tm_thread *out, const struct an_thread *t,
			const struct stk_recorder *stk)
{
	const char *py = stk_thread_name(stk, t->tgid, t->tid);

	out->python_name = py != NULL;
	snprintf(out->name, sizeof(out->name), "%s", py ? py : t->name);
}

/* Process I's threads that lived in the interval, into OUT. */
static int add_threads(struct top_model *m, struct tm_process *out,
		       const struct an_process *p, size_t i,
		       const struct stk_recorder *stk)
{
	out->threads = calloc(p->n_threads + 1, sizeof(*out->threads));
	if (!out->threads)
		return -ENOMEM;
	for (size_t j = 0; j < p->n_threads; j++) {
		struct tm_thread *t = &out->threads[out->n_threads];
		uint64_t n;

		thread_delta(t, p->threads[j], &m->prev[i][j]);
		if (!t->life_ns)
			continue;
		name_thread(t, p->threads[j], stk);
		t->handoff_p99_ns = handoff_p99(m, p->pid, t->tid, &n);
		t->handoffs_in = n;
		out->cpu_ns += t->on_cpu_ns;
		out->n_threads++;
	}
	return 0;
}

static void proc_free(struct tm_process *p)
{
	free(p->threads);
}

struct tm_snapshot *
top_model_interval(struct top_model *m, const struct analysis *an,
		   const struct stk_recorder *stk, const struct fl_model *fl,
		   uint64_t end, uint64_t events, uint64_t lost, uint64_t late)
{
	struct tm_snapshot *s = calloc(1, sizeof(*s));
	uint64_t start = m->last_end ? m->last_end : an->t0, n;

	if (!s || grow_prev(m, an) ||
	    !(s->procs = calloc(an->n_procs + 1, sizeof(*s->procs)))) {
		free(s);
		return NULL;
	}
	s->start_ns = start;
	s->end_ns = end;
	s->light = an->light;
	s->events = events - m->last_events;
	s->lost = lost - m->last_lost;
	s->late = late - m->last_late;
	for (size_t i = 0; i < an->n_procs; i++) {
		const struct an_process *p = an->procs[i];
		struct tm_process *out = &s->procs[s->n_procs];

		process_delta(out, p, &m->prev_proc[i * PP_N], start, end);
		if (add_threads(m, out, p, i, stk)) {
			tm_snapshot_free(s);
			return NULL;
		}
		if (!out->n_threads || (m->python_only && !p->python[0])) {
			proc_free(out);
			memset(out, 0, sizeof(*out));
			continue;
		}
		out->handoff_p99_ns = handoff_p99(m, p->pid, 0, &n);
		s->n_procs++;
	}
	if (fl)
		add_stacks(m, s, fl, stk_table(stk));
	m->n_handoffs = 0;
	m->last_end = end;
	m->last_events = events;
	m->last_lost = lost;
	m->last_late = late;
	return s;
}

void tm_snapshot_free(struct tm_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_procs; i++)
		proc_free(&s->procs[i]);
	free(s->procs);
	free(s);
}
