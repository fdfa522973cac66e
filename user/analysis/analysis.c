// SPDX-License-Identifier: GPL-2.0
/*
 * The reconstruction. Every thread carries a state (running, runnable,
 * blocked for a reason, unknown until its first scheduler event) and a
 * cursor; each event first accounts the time since the cursor to the state
 * the thread was in, then changes the state. GIL ownership is followed from
 * the interpreter's own signals: a signal on the GIL's `cond` is a release,
 * one on its `switch_cond` is an acquisition (take_gil signals it after
 * taking the lock), and take_gil's entry starts a wait.
 *
 * This file: the objects (processes, threads, the id maps), the dispatch
 * of each event to its handler, and the end of a session. The pieces share
 * analysis_priv.h: states.c (thread states and accounting), gil.c (the GIL
 * and its hand-offs), events.c (scheduler, process and syscall events),
 * lockwaits.c (lock waits, deadlocks, --lock), light.c (--light).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analysis/analysis_priv.h"

/* The id maps (common/pidmap.c) hold the newest process or thread of each
 * id: one that reused an id replaces the one before. */
struct an_process *an_find_process(const struct analysis *an, uint32_t pid)
{
	return pidmap_get(&an->pid_map, (int32_t)pid);
}

struct an_thread *an_find_thread(const struct analysis *an, uint32_t tid)
{
	return pidmap_get(&an->tid_map, (int32_t)tid);
}

struct analysis *an_new(uint64_t t0)
{
	struct analysis *an = calloc(1, sizeof(*an));

	if (an)
		an->t0 = t0;
	return an;
}

void an_set_image_callback(struct analysis *an, an_image_cb cb, void *ctx)
{
	an->image_cb = cb;
	an->image_ctx = ctx;
}

void an_set_sink(struct analysis *an, const struct an_sink *sink)
{
	an->sink = sink;
}

void an_set_lock_site(struct analysis *an, an_lock_site_cb cb, void *ctx)
{
	an->lock_site = cb;
	an->lock_site_ctx = ctx;
}

void an_free(struct analysis *an)
{
	if (!an)
		return;
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];

		for (size_t j = 0; j < p->n_threads; j++)
			free(p->threads[j]);
		free(p->threads);
		free(p->latency);
		free(p->ulock.latency);
		locks_free(&p->locks);
		free(p);
	}
	free(an->procs);
	pidmap_free(&an->tid_map);
	pidmap_free(&an->pid_map);
	free(an);
}

/*
 * The array v (n used of *cap items of size bytes, doubling from first) with
 * room for one more: v itself, or moved; NULL without memory, v untouched.
 */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t size,
			  size_t first)
{
	size_t new_cap = *cap ? *cap * 2 : first;

	if (n < *cap)
		return v;
	v = realloc(v, new_cap * size);
	if (v)
		*cap = new_cap;
	return v;
}

struct an_process *an_add_process(struct analysis *an, uint32_t pid,
				  uint32_t ppid, uint64_t start_ns)
{
	struct an_process **procs, *p;

	procs = room_for_one(an->procs, an->n_procs, &an->cap_procs,
			     sizeof(*procs), 16);
	if (!procs)
		return NULL;
	an->procs = procs;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->an = an;
	p->pid = pid;
	p->ppid = ppid;
	p->start_ns = max_u64(start_ns, an->t0);
	p->cursor = p->start_ns;
	an->procs[an->n_procs++] = p;
	pidmap_put(&an->pid_map, (int32_t)pid, p);
	return p;
}

void an_gil_from_base(struct an_gil *gil, uint64_t base, uint64_t cond,
		      uint64_t mutex, uint64_t switch_cond,
		      uint64_t switch_mutex, uint64_t size)
{
	memset(gil, 0, sizeof(*gil));
	if (!base)
		return;
	gil->addr = base;
	gil->size = size;
	gil->cond = base + cond;
	gil->mutex = base + mutex;
	gil->switch_cond = base + switch_cond;
	gil->switch_mutex = base + switch_mutex;
}

struct an_thread *new_thread(struct analysis *an, struct an_process *p,
			     uint32_t tid, uint64_t start)
{
	struct an_thread **threads, *t;

	threads = room_for_one(p->threads, p->n_threads, &p->cap_threads,
			       sizeof(*threads), 8);
	if (!threads)
		return NULL;
	p->threads = threads;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->proc = p;
	t->tid = tid;
	t->tgid = p->pid;
	t->start_ns = max_u64(start, an->t0);
	t->cursor = t->start_ns;
	t->cpu = -1;
	t->sys_nr = -1;
	t->state = AN_UNKNOWN;
	t->slice.kind = AN_SLICE_UNKNOWN;
	t->slice.cpu = -1;
	t->slice.sys_nr = -1;
	t->slice_start = t->start_ns;
	p->threads[p->n_threads++] = t;
	pidmap_put(&an->tid_map, (int32_t)tid, t);
	return t;
}

struct an_thread *an_add_thread(struct analysis *an, struct an_process *p,
				uint32_t tid, char state, int syscall_nr,
				uint64_t arg0, uint64_t arg1)
{
	struct an_thread *t = new_thread(an, p, tid, an->t0);

	if (!t)
		return NULL;
	t->snapshot_state = state;
	if (syscall_nr >= 0) {
		t->in_sys = true;
		t->sys_nr = syscall_nr;
		t->sys_arg0 = arg0;
		t->sys_arg1 = arg1;
		/* /proc does not say what kind of file: the fd only */
		t->sys_facts = syscall_nr == 7 || syscall_nr == 23 ||
					       syscall_nr == 270 ||
					       syscall_nr == 271 ?
				       (uint32_t)-1 :
				       (uint32_t)arg0;
	}
	/* asleep on the GIL's cond when we came: waiting for it since */
	if (syscall_nr == SYS_FUTEX && waits_on_gil_cond(p, arg0, arg1))
		start_wait(p, t);
	return t;
}

void an_event(struct analysis *an, const struct gs_event *e)
{
	an->events++;
	if (an->sink && an->sink->event)
		an->sink->event(an->sink->ctx, e);
	switch (e->type) {
	case GS_EV_SWITCH:
		if (e->flags & GS_F_PREV_TRACED)
			on_switch_out(an, e);
		if (e->flags & GS_F_NEXT_TRACED)
			on_switch_in(an, e);
		break;
	case GS_EV_WAKEUP:
	case GS_EV_WAKEUP_NEW:
		on_wakeup(an, e);
		break;
	case GS_EV_FORK:
		on_fork(an, e);
		break;
	case GS_EV_EXEC:
		on_exec(an, e);
		break;
	case GS_EV_EXIT:
		on_proc_exit(an, e);
		break;
	case GS_EV_SYS_ENTER:
		on_sys_enter(an, e);
		break;
	case GS_EV_SYS_EXIT:
		on_sys_exit(an, e);
		break;
	case GS_EV_GIL_TAKE:
		on_gil_take(an, e);
		break;
	case GS_EV_COND_SIGNAL:
		on_cond_signal(an, e);
		break;
	case GS_EV_SWITCHNUM:
		on_switchnum(an, e);
		break;
	case GS_EV_LOCK_ACQUIRE:
		on_lock_acquire(an, e);
		break;
	case GS_EV_LOCK_RELEASE:
		on_lock_release(an, e);
		break;
	case GS_EV_ULOCK:
		on_user_lock(an, e);
		break;
	case GS_EV_RLOCK_WAIT:
		on_rlock_wait(an, e);
		break;
	case GS_EV_STACK:
		on_stack(an, e);
		break;
	case GS_EV_WAKING:
		if (an->light)
			light_waking(an, e);
		break;
	default:
		break;
	}
}

/* A thread never scheduled during the session: its /proc state decides. */
static enum an_sched state_from_snapshot(char state)
{
	switch (state) {
	case 'R':
		return AN_RUNNING;
	case 0:
		return AN_RUNNING;
	default:
		return AN_BLOCKED;
	}
}

/*
 * CPython never names OS threads: every comm is "python3.11". Until Python
 * names are read, call them by role: main, then thread-1, thread-2... in
 * creation order; a comm the program set itself (prctl) is kept.
 */
static void name_threads(struct an_process *p)
{
	const char *proc_comm = p->n_threads ? p->threads[0]->name : "";
	int n = 0;

	for (size_t i = 0; i < p->n_threads; i++) {
		struct an_thread *t = p->threads[i];
		bool generic = !t->name[0] || !strcmp(t->name, proc_comm) ||
			       !strncmp(t->name, "python", 6);

		snprintf(t->os_name, sizeof(t->os_name), "%.15s", t->name);
		if (t->tid == p->pid && generic)
			snprintf(t->name, sizeof(t->name), "main");
		else if (generic)
			snprintf(t->name, sizeof(t->name), "thread-%d", ++n);
	}
}

struct child_sum {
	uint32_t ppid;
	struct an_children sum;
};

static int by_ppid(const void *a, const void *b)
{
	uint32_t x = ((const struct child_sum *)a)->ppid;
	uint32_t y = ((const struct child_sum *)b)->ppid;

	return (x > y) - (x < y);
}

static void add_children(struct an_children *to, const struct an_children *c)
{
	to->n += c->n;
	to->cpu_ns += c->cpu_ns;
	if (c->first_start < to->first_start)
		to->first_start = c->first_start;
	if (c->last_end > to->last_end)
		to->last_end = c->last_end;
}

/* Merge runs of one parent in V (sorted by ppid); returns the new length. */
static size_t merge_by_parent(struct child_sum *v, size_t n)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		if (out && v[out - 1].ppid == v[i].ppid)
			add_children(&v[out - 1].sum, &v[i].sum);
		else
			v[out++] = v[i];
	}
	return out;
}

/*
 * Each process's children with their own interpreter, summed by parent pid
 * in one sort: looking through every process for each one is quadratic.
 * Processes that share a pid (it was reused) share the children.
 */
static void sum_python_children(struct analysis *an)
{
	struct child_sum *v = calloc(an->n_procs + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return;
	for (size_t i = 0; i < an->n_procs; i++) {
		const struct an_process *c = an->procs[i];

		if (!c->gil.addr)
			continue;
		v[n].ppid = c->ppid;
		v[n].sum.n = 1;
		v[n].sum.cpu_ns = an_cpu_time(c);
		v[n].sum.first_start = c->start_ns;
		v[n].sum.last_end = c->end_ns;
		n++;
	}
	qsort(v, n, sizeof(*v), by_ppid);
	n = merge_by_parent(v, n);
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];
		struct child_sum key = { .ppid = p->pid };
		const struct child_sum *s =
			bsearch(&key, v, n, sizeof(*v), by_ppid);

		if (s)
			p->python_children = s->sum;
	}
	free(v);
}

void an_finish(struct analysis *an, uint64_t end_ns)
{
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];

		for (size_t j = 0; j < p->n_threads; j++) {
			struct an_thread *t = p->threads[j];

			if (t->exited)
				continue;
			flush_thread(t, end_ns);
			if (t->lock_waiting)
				lock_wait_ends(p, t, end_ns);
			if (t->state == AN_UNKNOWN)
				resolve_unknown(
					p, t,
					state_from_snapshot(t->snapshot_state));
			t->end_ns = max_u64(end_ns, t->start_ns);
			track_slice(t);
			emit_slice(t, t->end_ns);
		}
		if (!p->exited) {
			flush_process(p, end_ns);
			p->end_ns = max_u64(end_ns, p->start_ns);
		}
		name_threads(p);
	}
	sum_python_children(an);
}

void an_flush_to(struct analysis *an, uint64_t now)
{
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];

		if (p->exited)
			continue;
		for (size_t j = 0; j < p->n_threads; j++) {
			struct an_thread *t = p->threads[j];

			if (t->exited)
				continue;
			flush_thread(t, now);
			if (t->state == AN_UNKNOWN)
				resolve_unknown(
					p, t,
					state_from_snapshot(t->snapshot_state));
		}
		flush_process(p, now);
	}
}

uint64_t an_thread_lifetime(const struct an_thread *t)
{
	return t->end_ns > t->start_ns ? t->end_ns - t->start_ns : 0;
}

uint64_t an_blocked_total(const struct an_thread *t)
{
	uint64_t sum = 0;

	for (int r = 0; r < GS_R_COUNT; r++)
		sum += t->blocked_ns[r];
	return sum;
}

uint64_t an_cpu_time(const struct an_process *p)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < p->n_threads; i++)
		sum += p->threads[i]->on_cpu_ns;
	return sum;
}

int an_cpu_count(const uint64_t cpus[4])
{
	int n = 0;

	for (int i = 0; i < 4; i++)
		n += __builtin_popcountll(cpus[i]);
	return n;
}
