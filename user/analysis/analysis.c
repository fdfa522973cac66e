// SPDX-License-Identifier: GPL-2.0
/*
 * The reconstruction. Every thread carries a state (running, runnable,
 * blocked for a reason, unknown until its first scheduler event) and a
 * cursor; each event first accounts the time since the cursor to the state
 * the thread was in, then changes the state. GIL ownership is followed from
 * the interpreter's own signals: a signal on the GIL's `cond` is a release,
 * one on its `switch_cond` is an acquisition (take_gil signals it after
 * taking the lock), and take_gil's entry starts a wait.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analysis/analysis.h"
#include "stackrec.h"

#define TASK_UNINTERRUPTIBLE 0x2
#define TASK_DEAD 0x80
#define ETIMEDOUT_RET ((uint64_t)-110)

/* ---------------------------------------------------------- id maps */

struct idmap_slot {
	uint32_t key;
	void *val;
};

/* Mix all bits of the id into the low ones: ids that differ only in high
 * bits (a crafted file's, say) must not share a chain. */
static size_t slot_of(uint32_t key, size_t cap)
{
	uint32_t h = key;

	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & (cap - 1);
}

static void *map_get(void **vals, const struct analysis *an, uint32_t key,
		     bool thread)
{
	size_t cap = an->map_cap;

	for (size_t i = slot_of(key, cap), n = 0; n < cap;
	     i = (i + 1) & (cap - 1), n++) {
		void *v = vals[i];
		uint32_t k;

		if (!v)
			return NULL;
		k = thread ? ((struct an_thread *)v)->tid :
			     ((struct an_process *)v)->pid;
		if (k == key)
			return v;
	}
	return NULL;
}

static int maps_put(struct analysis *an, void *val, bool thread);

static int maps_grow(struct analysis *an)
{
	size_t old_cap = an->map_cap, cap = old_cap ? old_cap * 2 : 256;
	struct an_thread **tids = calloc(cap, sizeof(*tids));
	struct an_process **pids = calloc(cap, sizeof(*pids));
	struct an_thread **old_t = an->tid_map;
	struct an_process **old_p = an->pid_map;

	if (!tids || !pids) {
		free(tids);
		free(pids);
		return -ENOMEM;
	}
	an->tid_map = tids;
	an->pid_map = pids;
	an->map_cap = cap;
	for (size_t i = 0; i < old_cap; i++) {
		if (old_t[i] && map_get((void **)an->tid_map, an, old_t[i]->tid,
					true) == NULL)
			maps_put(an, old_t[i], true);
		if (old_p[i] && map_get((void **)an->pid_map, an, old_p[i]->pid,
					false) == NULL)
			maps_put(an, old_p[i], false);
	}
	free(old_t);
	free(old_p);
	return 0;
}

/* Insert or replace (a reused id points to the newest object). */
static int maps_put(struct analysis *an, void *val, bool thread)
{
	void **vals;
	uint32_t key;
	size_t i;

	if (an->map_cap < 2 * (an->n_ids + 1) && maps_grow(an))
		return -ENOMEM;
	vals = thread ? (void **)an->tid_map : (void **)an->pid_map;
	key = thread ? ((struct an_thread *)val)->tid :
		       ((struct an_process *)val)->pid;
	for (i = slot_of(key, an->map_cap);; i = (i + 1) & (an->map_cap - 1)) {
		void *v = vals[i];

		if (!v)
			break;
		if ((thread ? ((struct an_thread *)v)->tid :
			      ((struct an_process *)v)->pid) == key)
			break;
	}
	vals[i] = val;
	return 0;
}

struct an_process *an_find_process(const struct analysis *an, uint32_t pid)
{
	return an->map_cap ? map_get((void **)an->pid_map, an, pid, false) :
			     NULL;
}

struct an_thread *an_find_thread(const struct analysis *an, uint32_t tid)
{
	return an->map_cap ? map_get((void **)an->tid_map, an, tid, true) :
			     NULL;
}

/* ---------------------------------------------------------- objects */

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

const char *an_slice_name(const struct an_slice *s)
{
	static const char *const blocked[GS_R_COUNT] = {
		[GS_R_GIL] = "blocked: gil",
		[GS_R_SLEEP] = "blocked: sleep",
		[GS_R_INPUT] = "blocked: input",
		[GS_R_NETWORK] = "blocked: network",
		[GS_R_IO] = "blocked: io",
		[GS_R_LOCK] = "blocked: lock",
		[GS_R_OTHER] = "blocked: other",
	};

	switch (s->kind) {
	case AN_SLICE_GIL_HELD:
		return "GIL held";
	case AN_SLICE_RUNNING:
		return "running, GIL released";
	case AN_SLICE_GIL_WAIT:
		return "waiting for GIL";
	case AN_SLICE_RUNNABLE:
		return "runnable";
	case AN_SLICE_BLOCKED:
		return (unsigned int)s->reason < GS_R_COUNT ?
			       blocked[s->reason] :
			       "blocked: other";
	default:
		return "unknown";
	}
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
	free(an->tid_map);
	free(an->pid_map);
	free(an);
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
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
	an->n_ids++;
	maps_put(an, p, false);
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

static struct an_thread *new_thread(struct analysis *an, struct an_process *p,
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
	an->n_ids++;
	maps_put(an, t, true);
	return t;
}

static bool waits_on_gil_cond(const struct an_process *p, uint64_t addr,
			      uint64_t op);
static void start_wait(struct an_process *p, struct an_thread *t);

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

/* ---------------------------------------------------------- accounting */

static bool in_gil(const struct an_gil *g, uint64_t addr)
{
	return g->addr && addr >= g->addr && addr < g->addr + g->size;
}

static bool in_cond(uint64_t cond, uint64_t addr)
{
	/* a pthread_cond_t is 48 bytes; glibc waits on words inside it */
	return cond && addr >= cond && addr < cond + 48;
}

/*
 * Is a futex call (ADDR, OP) a wait for the GIL? take_gil waits on the
 * GIL's cond with a timeout, which glibc makes a FUTEX_WAIT_BITSET on the
 * cond's __g_signals. The thread that signals the cond (the one letting
 * the GIL go) can also sleep on words of the same cond, with a plain
 * FUTEX_WAIT: the condvar's internal lock, or waiting for a group's
 * waiters to leave (__g_refs, glibc 2.36); that is part of its release.
 */
static bool waits_on_gil_cond(const struct an_process *p, uint64_t addr,
			      uint64_t op)
{
	return in_cond(p->gil.cond, addr) &&
	       (op & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET;
}

static enum gs_reason blocked_reason(const struct an_process *p,
				     const struct an_thread *t,
				     unsigned int prev_state);

static const struct an_sink *sink_of(const struct an_thread *t)
{
	return t->proc && t->proc->an ? t->proc->an->sink : NULL;
}

/* The slice a thread is in now, from its state. */
static struct an_slice current_slice(const struct an_thread *t)
{
	struct an_slice s = { .cpu = -1, .sys_nr = -1 };

	if (t->gil_waiting) {
		s.kind = AN_SLICE_GIL_WAIT;
	} else {
		switch (t->state) {
		case AN_RUNNING:
			s.kind = t->gil_holding ? AN_SLICE_GIL_HELD :
						  AN_SLICE_RUNNING;
			s.cpu = t->cpu;
			return s;
		case AN_RUNNABLE:
			s.kind = AN_SLICE_RUNNABLE;
			return s;
		case AN_BLOCKED:
			s.kind = AN_SLICE_BLOCKED;
			s.reason = t->reason;
			break;
		default:
			s.kind = AN_SLICE_UNKNOWN;
			return s;
		}
	}
	if (t->in_sys) {
		s.sys_nr = t->sys_nr;
		s.detail = t->sys_arg0;
	}
	if (s.kind == AN_SLICE_BLOCKED && t->lock_waiting)
		s.lock_holder = t->lock_wait_holder;
	return s;
}

static bool same_slice(const struct an_slice *a, const struct an_slice *b)
{
	return a->kind == b->kind && a->reason == b->reason &&
	       a->cpu == b->cpu && a->sys_nr == b->sys_nr &&
	       a->detail == b->detail && a->lock_holder == b->lock_holder;
}

static void emit_slice(struct an_thread *t, uint64_t end)
{
	const struct an_sink *sink = sink_of(t);

	if (sink && sink->slice && end > t->slice_start)
		sink->slice(sink->ctx, t, &t->slice, t->slice_start, end);
	t->slice_start = end;
}

/* Close the open slice at the cursor when the state it shows changed. */
static void track_slice(struct an_thread *t)
{
	struct an_slice now = current_slice(t);

	if (same_slice(&now, &t->slice))
		return;
	emit_slice(t, t->cursor);
	t->slice = now;
}

static void notify_counts(struct an_process *p, uint64_t ts)
{
	const struct an_sink *sink = p->an ? p->an->sink : NULL;

	if (sink && sink->counts)
		sink->counts(sink->ctx, p, ts, p->n_waiters, p->n_runnable);
}

static void set_state(struct an_thread *t, enum an_sched state, uint64_t ts)
{
	int before = t->state == AN_RUNNABLE, after = state == AN_RUNNABLE;

	t->state = state;
	if (t->proc && before != after) {
		t->proc->n_runnable += after - before;
		notify_counts(t->proc, ts);
	}
}

/* Tell the sink how [START, END) was counted (flame graphs). */
static void notify_account(const struct an_thread *t, enum an_sched state,
			   enum gs_reason reason, bool holding, bool waiting,
			   uint64_t start, uint64_t end)
{
	const struct an_sink *sink = sink_of(t);

	if (sink && sink->account)
		sink->account(sink->ctx, t, state, reason, holding, waiting,
			      start, end);
}

static void flush_thread(struct an_thread *t, uint64_t now);

/*
 * Account the pending spans (see struct an_thread), now that the thread's
 * next step says what they were, then the time up to NOW in its state. In
 * a sleep, the spans it waited for a CPU are part of the sleep; the ones it
 * ran stay on the CPU.
 */
static void flush_pending(struct an_thread *t, uint64_t now)
{
	enum an_sched state = t->state;
	enum gs_reason reason = t->reason;
	bool sleep = t->pending_sleep;

	bool holding = t->gil_holding, waiting = t->gil_waiting;

	t->pending = t->pending_sleep = false;
	for (int i = 0; i < t->n_pend; i++) {
		t->state = t->pend[i].state;
		t->reason = t->pend[i].reason;
		t->gil_holding = t->pend[i].holding;
		t->gil_waiting = t->pend[i].waiting;
		if (sleep) {
			t->state = AN_BLOCKED;
			t->reason = GS_R_SLEEP;
		}
		flush_thread(t, t->pend[i].end < now ? t->pend[i].end : now);
	}
	t->n_pend = 0;
	t->state = sleep ? AN_BLOCKED : state;
	t->reason = sleep ? GS_R_SLEEP : reason;
	t->gil_holding = holding;
	t->gil_waiting = waiting;
	flush_thread(t, now);
	t->state = state;
	t->reason = reason;
}

/* A switch while pending: the span it ended is kept for later. */
static bool pend_switch(struct an_thread *t, uint64_t ts)
{
	if (!t->pending || t->n_pend == AN_MAX_PEND || ts < t->cursor)
		return false;
	t->pend[t->n_pend].state = t->state;
	t->pend[t->n_pend].reason = t->reason;
	t->pend[t->n_pend].holding = t->gil_holding;
	t->pend[t->n_pend].waiting = t->gil_waiting;
	t->pend[t->n_pend++].end = ts;
	return true;
}

/* A thread on its way into a deadline sleep sleeps already (see
 * deadline_sleep), until it is switched out in it. */
static void flush_into_sleep(struct an_thread *t, uint64_t now)
{
	t->in_deadline_sleep = false;
	t->state = AN_BLOCKED;
	t->reason = GS_R_SLEEP;
	flush_thread(t, now);
	t->state = AN_RUNNING;
	t->in_deadline_sleep = true;
}

/* Account the time since the thread's cursor to its current state. */
static void flush_thread(struct an_thread *t, uint64_t now)
{
	uint64_t d;

	if (t->pending) {
		flush_pending(t, now);
		return;
	}
	if (t->in_deadline_sleep && t->state == AN_RUNNING) {
		flush_into_sleep(t, now);
		return;
	}
	if (now <= t->cursor)
		return;
	if (t->state != AN_DEAD)
		track_slice(t);
	if (t->state != AN_DEAD)
		notify_account(t, t->state, t->reason, t->gil_holding,
			       t->gil_waiting, t->cursor, now);
	d = now - t->cursor;
	t->cursor = now;
	switch (t->state) {
	case AN_RUNNING:
		t->on_cpu_ns += d;
		if (t->gil_holding)
			t->on_cpu_gil_ns += d;
		break;
	case AN_RUNNABLE:
		t->runnable_ns += d;
		break;
	case AN_BLOCKED:
		t->blocked_ns[t->reason] += d;
		break;
	case AN_UNKNOWN:
		t->unknown_ns += d;
		break;
	case AN_DEAD:
		return;
	}
	if (t->gil_holding)
		t->gil_held_ns += d;
	if (t->gil_waiting)
		t->gil_wait_ns += d;
	if (t->ulock_holding)
		t->ulock_held_ns += d;
	if (t->ulock_waiting)
		t->ulock_wait_ns += d;
}

static void flush_process(struct an_process *p, uint64_t now)
{
	uint64_t d;

	if (now <= p->cursor)
		return;
	d = now - p->cursor;
	p->cursor = now;
	if (p->holder)
		p->gil_held_ns += d;
	if (p->n_waiters > 0)
		p->waiter_ns += d;
	if (p->ulock.holder)
		p->ulock.held_ns += d;
	if (p->ulock.n_waiters > 0)
		p->ulock.waiter_ns += d;
}

static enum gs_reason blocked_reason(const struct an_process *p,
				     const struct an_thread *t,
				     unsigned int prev_state)
{
	if (!t->in_sys)
		return (prev_state & TASK_UNINTERRUPTIBLE) ? GS_R_IO :
							     GS_R_OTHER;
	if (t->sys_nr == SYS_FUTEX && in_gil(&p->gil, t->sys_arg0))
		return GS_R_GIL;
	return syscall_reason(t->sys_nr, t->sys_arg0, t->sys_facts);
}

/* The first scheduler event tells what an unknown thread was doing. */
static void resolve_unknown(const struct an_process *p, struct an_thread *t,
			    enum an_sched was)
{
	uint64_t d = t->unknown_ns;

	t->unknown_ns = 0;
	/* unknown time is the thread's first span, up to the cursor */
	if (d)
		notify_account(t, was, blocked_reason(p, t, 0),
			       was == AN_RUNNING && t->gil_holding, false,
			       t->cursor - d, t->cursor);
	switch (was) {
	case AN_RUNNING:
		t->on_cpu_ns += d;
		if (t->gil_holding)
			t->on_cpu_gil_ns += d;
		break;
	case AN_RUNNABLE:
		t->runnable_ns += d;
		break;
	default:
		t->blocked_ns[blocked_reason(p, t, 0)] += d;
		t->reason = blocked_reason(p, t, 0);
		break;
	}
	set_state(t, was, t->cursor);
	/* the open slice was unknown until now: it showed this state */
	if (t->slice.kind == AN_SLICE_UNKNOWN)
		t->slice = current_slice(t);
}

static void set_cpu(struct an_thread *t, struct an_process *p, int cpu)
{
	if (t->cpu >= 0 && t->cpu != cpu)
		t->migrations++;
	t->cpu = cpu;
	if (cpu >= 0 && cpu < 256) {
		t->cpus[cpu / 64] |= 1ull << (cpu % 64);
		p->cpus[cpu / 64] |= 1ull << (cpu % 64);
	}
}

/* ---------------------------------------------------------- the GIL */

static void start_wait(struct an_process *p, struct an_thread *t)
{
	if (t->gil_waiting || t->gil_holding)
		return;
	t->gil_waiting = true;
	t->gil_wait_since = p->cursor;
	p->n_waiters++;
	notify_counts(p, p->cursor);
}

static void stop_wait(struct an_process *p, struct an_thread *t)
{
	if (!t->gil_waiting)
		return;
	t->gil_waiting = false;
	p->n_waiters--;
	notify_counts(p, p->cursor);
}

static void gil_release(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	flush_process(p, ts);
	flush_thread(t, ts);
	if (p->holder == t)
		p->holder = NULL;
	t->gil_holding = false;
	t->gil_releases++;
	/* only a voluntary release (around a call) opens a window for
	 * another thread in the middle of this one's work */
	t->gil_released_once = !p->drop_request;
	t->acquisitions_at_release = p->acquisitions;
	p->releases++;
	p->release_pending = true;
	p->release_forced = p->drop_request;
	p->release_ts = ts;
	p->releaser = t->tid;
}

/* The histogram is 32 KB: only processes with hand-offs get one. */
static void add_latency(struct an_process *p, uint64_t ns)
{
	if (!p->latency && !(p->latency = calloc(1, sizeof(*p->latency))))
		return;
	hist_add(p->latency, ns);
}

/*
 * A hand-off from the last release to T at TS. Its latency is the time a
 * waiting thread took to run with the GIL; a thread that came for it after
 * the release found it free, and the gap says only that nobody wanted it.
 */
static void hand_off(struct an_process *p, struct an_thread *t, uint64_t ts,
		     bool waited)
{
	const struct an_sink *sink = p->an ? p->an->sink : NULL;

	if (waited) {
		add_latency(p, ts - p->release_ts);
		if (p->release_forced)
			p->forced_handoffs++;
	} else {
		p->idle_handoffs++;
		p->idle_gap_ns += ts - p->release_ts;
	}
	if (sink && sink->handoff)
		sink->handoff(sink->ctx, p, p->releaser, t->tid, p->release_ts,
			      ts, p->release_forced);
}

static void gil_acquire(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	bool waited;

	flush_process(p, ts);
	flush_thread(t, ts);
	/* a holder whose release we did not see (it died holding it, or the
	 * event was lost) lets go here */
	if (p->holder && p->holder != t) {
		flush_thread(p->holder, ts);
		p->holder->gil_holding = false;
	}
	waited = t->gil_waiting && t->gil_wait_since <= p->release_ts;
	stop_wait(p, t);
	if (t->gil_released_once &&
	    p->acquisitions > t->acquisitions_at_release)
		t->gil_interleavings++;
	if (p->prev_acquirer == 0) {
		p->initial_takes++;
	} else if (p->prev_acquirer != t->tid) {
		/* with the initial takes, what switch_number counts */
		p->handoffs++;
		if (p->release_pending && p->releaser != t->tid)
			hand_off(p, t, ts, waited);
	}
	p->acquisitions++;
	t->gil_acquisitions++;
	t->released_at_site = false;
	p->prev_acquirer = t->tid;
	p->holder = t;
	t->gil_holding = true;
	p->release_pending = false;
	p->drop_request = false;
}

void an_set_gil_state(struct an_process *p, bool locked,
		      uint32_t last_holder_tid)
{
	p->prev_acquirer = last_holder_tid;
	for (size_t i = 0; locked && i < p->n_threads; i++) {
		struct an_thread *t = p->threads[i];

		if (t->tid == last_holder_tid && !t->exited) {
			p->holder = t;
			t->gil_holding = true;
		}
	}
}

/* ---------------------------------------------------------- events */

static struct an_thread *thread_of(struct analysis *an, uint32_t tid,
				   uint32_t tgid)
{
	struct an_thread *t = an_find_thread(an, tid);
	struct an_process *p;

	/* a thread that exited keeps its events (its last switch-out comes
	 * after the exit): the handlers ignore them */
	if (t && t->tgid == tgid)
		return t;
	/* first sight of a thread that existed before the session */
	p = an_find_process(an, tgid);
	if (!p) {
		p = an_add_process(an, tgid, 0, an->t0);
		if (!p)
			return NULL;
		if (an->image_cb)
			an->image_cb(p, an->t0, an->image_ctx);
	}
	/* not before its process (found at its exec, with -a) */
	return new_thread(an, p, tid, p->start_ns);
}

/*
 * An event the thread emitted itself (a syscall, a GIL or lock signal)
 * proves it is on a CPU. A switch-in can be missing from the stream (seen
 * under heavy load with nothing lost); without this the thread would stay
 * runnable or blocked while it runs.
 */
static void seen_running(struct an_thread *t, const struct gs_event *e)
{
	t->wait_from_site = false;
	t->wait_after_switch_in = false;
	t->took_at_sys_exit = false;
	t->retake_at_switch_in = false;
	if (t->state == AN_RUNNING || t->state == AN_DEAD)
		return;
	flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(t->proc, t, AN_RUNNING);
	else
		set_state(t, AN_RUNNING, e->ts);
	if (t->proc)
		set_cpu(t, t->proc, e->cpu);
}

/* ---------------------------------------------------------- locks */

static void add_lock_wait(struct an_thread *t, uint64_t lock, uint32_t gen,
			  uint32_t holder, uint32_t releaser, uint64_t ns)
{
	struct an_lockwait *w = NULL;
	int i;

	for (i = 0; i < t->n_lock_waits; i++)
		if (t->lock_waits[i].lock == lock &&
		    t->lock_waits[i].gen == gen &&
		    t->lock_waits[i].holder == holder &&
		    t->lock_waits[i].releaser == releaser)
			w = &t->lock_waits[i];
	if (!w && t->n_lock_waits < AN_MAX_LOCKWAITS)
		w = &t->lock_waits[t->n_lock_waits++];
	if (!w) {
		/* full: the smallest entry makes room */
		w = &t->lock_waits[0];
		for (i = 1; i < AN_MAX_LOCKWAITS; i++)
			if (t->lock_waits[i].wait_ns < w->wait_ns)
				w = &t->lock_waits[i];
		memset(w, 0, sizeof(*w));
	}
	w->lock = lock;
	w->gen = gen;
	w->holder = holder;
	w->releaser = releaser;
	w->wait_ns += ns;
	w->count++;
}

static bool same_cycle(const struct an_deadlock *a, const struct an_deadlock *b)
{
	if (a->n != b->n)
		return false;
	for (int i = 0; i < a->n; i++) {
		bool found = false;

		for (int j = 0; j < b->n && !found; j++)
			found = a->threads[i] == b->threads[j];
		if (!found)
			return false;
	}
	return true;
}

/*
 * T starts sleeping on LOCK: follow holder -> the lock that holder sleeps
 * on -> its holder ... back to T is a deadlock.
 */
static void check_deadlock(struct analysis *an, struct an_process *p,
			   struct an_thread *t, uint64_t lock, uint64_t ts)
{
	struct an_deadlock d = { .ts = ts };
	struct an_thread *cur = t;

	while (d.n < AN_MAX_CYCLE) {
		struct an_lock *l = locks_find(&p->locks, lock);
		struct an_thread *h;

		if (!l || !l->holder)
			return;
		d.threads[d.n] = cur->tid;
		d.locks[d.n++] = lock;
		if (l->holder == t->tid)
			break;
		h = an_find_thread(an, l->holder);
		if (!h || h->exited || !h->lock_waiting || h == cur)
			return;
		cur = h;
		lock = h->lock_waiting;
	}
	if (d.n == AN_MAX_CYCLE || d.n < 2)
		return;
	for (int i = 0; i < p->n_deadlocks; i++)
		if (same_cycle(&p->deadlocks[i], &d))
			return;
	if (p->n_deadlocks < AN_MAX_DEADLOCKS)
		p->deadlocks[p->n_deadlocks++] = d;
}

/* The lock a futex wait at ADDR is for: the futex itself (a sem_t), or on
 * 3.13+ the lock the thread parked on when ADDR is in its semaphore. */
static uint64_t lock_of_futex(const struct an_thread *t, uint64_t addr)
{
	if (t->park_lock && addr >= t->park_sem && addr < t->park_sem + 32)
		return t->park_lock;
	return addr;
}

static void lock_wait_begins(struct analysis *an, struct an_process *p,
			     struct an_thread *t, uint64_t lock, uint64_t ts)
{
	struct an_lock *l = locks_find(&p->locks, lock);

	t->lock_waiting = lock;
	t->lock_wait_start = ts;
	t->lock_wait_holder = l ? l->holder : 0;
	t->lock_contended = lock;
	check_deadlock(an, p, t, lock, ts);
}

static void lock_wait_ends(struct an_process *p, struct an_thread *t,
			   uint64_t ts)
{
	uint64_t ns = ts > t->lock_wait_start ? ts - t->lock_wait_start : 0;
	struct an_lock *l = locks_get(&p->locks, t->lock_waiting);
	uint32_t releaser = 0;

	if (l)
		l->wait_ns += ns;
	/* no holder known: who let it go during the wait (3.13+: the
	 * thread that unparked this one) */
	if (l && !t->lock_wait_holder && l->release_pending &&
	    l->last_releaser != t->tid && l->release_ts >= t->lock_wait_start)
		releaser = l->last_releaser;
	if (l && !l->owner)
		l->owner = t->lock_wait_holder ? t->lock_wait_holder : releaser;
	add_lock_wait(t, t->lock_waiting, l ? l->gen : 0, t->lock_wait_holder,
		      releaser, ns);
	t->lock_waiting = 0;
}

/*
 * A thread asleep on a lock sent its Python stack: the first names the lock
 * (user/analysis/names.c); one naming another kind or site is another lock that
 * took the address of a freed one, so the figures start again.
 */
static void on_stack(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = an_find_thread(an, e->tid);
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l;
	uint64_t key;

	if (t && e->arg[0] && !(e->flags & GS_STKF_STALE)) {
		if (!t->py_stack)
			t->py_stack = e->arg[0];
		t->py_stack_last = e->arg[0];
	}
	if (!t || !p || !t->lock_waiting || !e->arg[0] || !an->lock_site ||
	    e->a32 != GS_STK_OFFCPU)
		return;
	l = locks_get(&p->locks, t->lock_waiting);
	key = l ? an->lock_site(an->lock_site_ctx, p->pid, e->arg[0]) : 0;
	if (!key || key == l->site_key)
		return;
	if (l->site_key)
		locks_new_lifetime(&p->locks, l);
	l->site_key = key;
	l->site_stack = e->arg[0];
}

static void on_lock_acquire(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l;

	if (!t || !p || t->exited)
		return;
	/* 3.13+: it parks on lock arg[0]; its futex waits on its own
	 * semaphore arg[2] are waits for that lock */
	if (e->a32 != 0 && e->arg[2]) {
		t->park_lock = e->arg[0];
		t->park_sem = e->arg[2];
	}
	if (e->a32 != 0)
		return;
	l = locks_get(&p->locks, e->arg[0]);
	if (!l)
		return;
	if (l->holder && l->holder != t->tid && l->held_since <= e->ts)
		l->held_ns +=
			e->ts - l->held_since; /* its release was missed */
	l->holder = t->tid;
	l->held_since = e->ts;
	l->acquisitions++;
	t->lock_acquisitions++;
	if (t->lock_contended == l->addr) {
		l->contended++;
		t->lock_contended = 0;
		if (l->release_pending && l->last_releaser != t->tid) {
			const struct an_sink *sink = an->sink;

			l->handoffs++;
			t->lock_handoffs_received++;
			if (sink && sink->lock_handoff)
				sink->lock_handoff(sink->ctx, p, l->addr,
						   l->last_releaser, t->tid,
						   l->release_ts, e->ts);
		}
	}
	l->release_pending = false;
}

static void on_lock_release(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_lock *l = p ? locks_get(&p->locks, e->arg[0]) : NULL;

	if (!l)
		return;
	if (l->holder && l->held_since <= e->ts)
		l->held_ns += e->ts - l->held_since;
	l->holder = 0;
	l->releases++;
	l->release_pending = true;
	l->last_releaser = e->tid;
	l->release_ts = e->ts;
}

/* --lock: the named acquire function's entry and return, and release. */
static void on_user_lock(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	struct an_ulock *u;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	u = &p->ulock;
	if (!u->latency && !(u->latency = calloc(1, sizeof(*u->latency))))
		return;
	u->used = true;
	flush_process(p, e->ts);
	flush_thread(t, e->ts);
	switch (e->a32) {
	case GS_ULOCK_WAIT:
		if (!t->ulock_waiting && !t->ulock_holding) {
			t->ulock_waiting = true;
			u->n_waiters++;
		}
		break;
	case GS_ULOCK_ACQUIRED:
		if (t->ulock_waiting) {
			t->ulock_waiting = false;
			u->n_waiters--;
		}
		if (u->prev_acquirer && u->prev_acquirer != t->tid) {
			u->handoffs++;
			if (u->release_pending)
				hist_add(u->latency, e->ts - u->release_ts);
		}
		u->acquisitions++;
		u->prev_acquirer = t->tid;
		u->holder = t->tid;
		u->release_pending = false;
		t->ulock_holding = true;
		break;
	case GS_ULOCK_RELEASE:
		if (u->holder == t->tid)
			u->holder = 0;
		t->ulock_holding = false;
		u->release_pending = true;
		u->release_ts = e->ts;
		u->releaser = t->tid;
		break;
	}
}

/*
 * Hand-off probes: T was preempted without the GIL, which the analysis
 * gave it (releases and takes around calls are read at the calls). Either
 * it let the GIL go for a call it has not entered yet: it released it;
 * or it got the GIL back at a call's return and has not reached take_gil
 * yet: it takes it when it runs again (if nobody took it meanwhile).
 */
static void preempted_without_gil(struct analysis *an, struct an_process *p,
				  struct an_thread *t, uint64_t ts)
{
	if (an->light || p->holder != t)
		return;
	gil_release(p, t, ts);
	t->retake_at_switch_in = t->took_at_sys_exit;
	t->took_at_sys_exit = false;
}

static bool gil_wake_in_release(const struct an_process *p,
				const struct an_thread *t, uint64_t nr,
				uint64_t addr, uint64_t op);

/* Is T going to sleep in drop_gil's work, its time pending? */
static bool asleep_in_release(const struct an_process *p,
			      const struct an_thread *t,
			      const struct gs_event *e)
{
	return !(e->a32 & TASK_DEAD) && t->in_sys &&
	       gil_wake_in_release(p, t, t->sys_nr, t->sys_arg0, t->sys_arg1);
}

static void on_switch_out(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;
	bool runnable;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	runnable = (e->flags & GS_F_PREEMPT) || e->a32 == 0;
	if (runnable && (e->flags & GS_F_GIL_FREE))
		preempted_without_gil(an, p, t, e->ts);
	if ((!runnable && !asleep_in_release(p, t, e)) ||
	    !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	t->in_deadline_sleep = false; /* asleep in it now, or preempted */
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNING);
	if (e->a32 & TASK_DEAD) {
		set_state(t, AN_DEAD, e->ts);
	} else if (runnable) {
		set_state(t, AN_RUNNABLE, e->ts);
		t->involuntary_switches++;
		/* its next call says what the span was */
		t->pending = true;
		if (t->wait_from_site && t->gil_waiting) {
			flush_process(p, e->ts);
			stop_wait(p, t);
			t->wait_after_switch_in = true;
		}
	} else {
		t->reason = blocked_reason(p, t, e->a32);
		set_state(t, AN_BLOCKED, e->ts);
		t->voluntary_switches++;
	}
}

static void on_switch_in(struct analysis *an, const struct gs_event *e)
{
	uint32_t tid = (uint32_t)e->arg[0], tgid = e->arg[0] >> 32;
	struct an_thread *t = thread_of(an, tid, tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	if (t->state != AN_RUNNABLE || !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNABLE);
	if (t->state == AN_DEAD)
		return;
	set_cpu(t, p, e->cpu);
	set_state(t, AN_RUNNING, e->ts);
	if (t->wait_after_switch_in) { /* into take_gil now */
		t->wait_after_switch_in = false;
		flush_process(p, e->ts);
		start_wait(p, t);
	}
	if (t->retake_at_switch_in) {
		t->retake_at_switch_in = false;
		if (!p->holder && p->prev_acquirer == t->tid)
			gil_acquire(p, t, e->ts);
	}
}

static void on_wakeup(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);

	if (!t || t->exited)
		return;
	if (t->state != AN_BLOCKED || !pend_switch(t, e->ts))
		flush_thread(t, e->ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(an_find_process(an, t->tgid), t, AN_BLOCKED);
	if (t->state == AN_BLOCKED)
		set_state(t, AN_RUNNABLE, e->ts);
}

static void copy_comm(char *dst, size_t len, const void *src)
{
	size_t n = len < GS_COMM_LEN ? len - 1 : GS_COMM_LEN - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
	dst[strnlen(dst, n)] = '\0';
}

static void on_fork(struct analysis *an, const struct gs_event *e)
{
	uint32_t child = (uint32_t)e->arg[0], child_tgid = e->arg[0] >> 32;
	struct an_thread *forker = thread_of(an, e->tid, e->tgid);
	struct an_process *parent, *p;
	struct an_thread *t;

	if (!forker)
		return;
	parent = an_find_process(an, e->tgid);
	p = child_tgid == e->tgid ? parent : NULL;
	if (!p) {
		p = an_add_process(an, child_tgid, e->tgid, e->ts);
		if (!p)
			return;
		if (parent) {
			/* same memory image: same interpreter and GIL; the
			 * child recreates the GIL unowned */
			p->gil = parent->gil;
			p->exact_takes = parent->exact_takes;
			memcpy(p->python, parent->python, sizeof(p->python));
			memcpy(p->gil_method, parent->gil_method,
			       sizeof(p->gil_method));
			memcpy(p->command, parent->command, sizeof(p->command));
		}
		if (an->image_cb)
			an->image_cb(p, e->ts, an->image_ctx);
	}
	t = new_thread(an, p, child, e->ts);
	if (!t)
		return;
	copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	set_state(t, AN_RUNNABLE, e->ts); /* wakeup_new follows */
}

static void on_exec(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);
	struct an_thread *t = an_find_thread(an, e->tid);

	/* -a: a process found at its exec of Python starts there */
	if (!p && (p = an_add_process(an, e->tgid, 0, e->ts)))
		t = new_thread(an, p, e->tid, e->ts);
	if (!p)
		return;
	flush_process(p, e->ts);
	if (p->holder) {
		flush_thread(p->holder, e->ts);
		p->holder->gil_holding = false;
		p->holder = NULL;
	}
	memset(&p->gil, 0, sizeof(p->gil));
	/* a new image: its interpreter counts from zero, so do we */
	p->prev_acquirer = 0;
	p->handoffs = p->initial_takes = p->forced_handoffs = 0;
	p->acquisitions = p->releases = 0;
	p->have_switch_start = p->have_switch_end = false;
	p->release_pending = false;
	p->drop_request = false;
	if (an->image_cb)
		an->image_cb(p, e->ts, an->image_ctx);
	if (t && t->tgid == p->pid)
		copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	/* light: the main thread takes the GIL while the interpreter
	 * starts, unseen; from here on it holds it */
	if (an->light && t && t->tgid == p->pid && p->gil.addr)
		gil_acquire(p, t, e->ts);
}

static void end_thread(struct an_process *p, struct an_thread *t, uint64_t ts)
{
	flush_thread(t, ts);
	if (t->state == AN_UNKNOWN)
		resolve_unknown(p, t, AN_RUNNING);
	if (p)
		flush_process(p, ts);
	if (p && p->holder == t)
		p->holder = NULL;
	if (p)
		stop_wait(p, t);
	t->gil_holding = false;
	t->exited = true;
	t->end_ns = max_u64(ts, t->start_ns);
	emit_slice(t, t->end_ns);
	set_state(t, AN_DEAD, ts);
}

static void on_proc_exit(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = an_find_thread(an, e->tid);
	struct an_process *p = an_find_process(an, e->tgid);

	if (t && t->tgid == e->tgid && !t->exited && e->arg[1])
		copy_comm(t->name, sizeof(t->name), &e->arg[1]);
	if (t && t->tgid == e->tgid && !t->exited) {
		/* the process exited under it: a daemon thread, say; a
		 * thread that ended by itself (joined: its Python code was
		 * done before the exit_group) calls exit (GS_F_EXIT_BY_CALL,
		 * sessions of 2026-12 on), unless the end came first */
		if (p && p->exit_group_ts && e->ts >= p->exit_group_ts &&
		    !t->in_sys_exit_group && t->busy_at_exit_group &&
		    !(e->flags & GS_F_EXIT_BY_CALL))
			t->killed_at_exit = true;
		if (t->lock_waiting && p)
			lock_wait_ends(p, t, e->ts);
		end_thread(p, t, e->ts);
	}
	if (p && e->a32) {
		flush_process(p, e->ts);
		p->exited = true;
		p->end_ns = max_u64(e->ts, p->start_ns);
	}
}

/*
 * Light mode has no GIL probes. CPython releases the GIL around every call
 * that can block, so a thread entering one lets the GIL go, and on leaving
 * it takes the GIL back (or waits for it on the GIL's cond).
 */
static bool releases_gil(const struct an_process *p, int nr, uint64_t a0,
			 uint64_t a1)
{
	if (nr == SYS_FUTEX)
		return futex_op_waits(a1) && !in_gil(&p->gil, a0);
	return syscall_reason(nr, a0, (uint32_t)-1) != GS_R_OTHER || nr == 61 ||
	       nr == 247;
}

/*
 * Did the call end by a timeout? --light writes a syscall's return when the
 * thread runs again, without its value, but with who woke it: a timer
 * rather than a futex call of its own process.
 */
static bool sys_timed_out(const struct gs_event *e)
{
	if (e->flags & GS_F_AT_SWITCH_IN)
		return e->flags & GS_F_WOKEN_BY_OTHER;
	return e->arg[0] == ETIMEDOUT_RET;
}

static void light_sys_enter(struct analysis *an, struct an_process *p,
			    struct an_thread *t, const struct gs_event *e)
{
	bool wake = e->a32 == SYS_FUTEX && (e->arg[1] & FUTEX_CMD_MASK) == 1;

	(void)an;
	if (!p->gil.addr)
		return;
	/* a thread taken to wait for the GIL that lets it go: it had
	 * taken it, unseen (its wait began at the return of a call while
	 * another thread seemed to hold the GIL) */
	if (t->gil_waiting && !in_gil(&p->gil, e->arg[0]) &&
	    releases_gil(p, e->a32, e->arg[0], e->arg[1])) {
		gil_acquire(p, t, e->ts);
		gil_release(p, t, e->ts);
		return;
	}
	/* drop_gil signalling a waiter, or a call that blocks */
	if (p->holder == t && ((wake && in_cond(p->gil.cond, e->arg[0])) ||
			       releases_gil(p, e->a32, e->arg[0], e->arg[1])))
		gil_release(p, t, e->ts);
}

static void light_sys_exit(struct analysis *an, struct an_process *p,
			   struct an_thread *t, const struct gs_event *e)
{
	bool gil_wait = t->sys_nr == SYS_FUTEX &&
			waits_on_gil_cond(p, t->sys_arg0, t->sys_arg1);

	(void)an;
	if (!p->gil.addr || p->holder == t)
		return;
	if (gil_wait) {
		bool signalled = !sys_timed_out(e);

		if (!t->gil_waiting)
			return;
		/*
		 * Without syscall tracepoints (GS_F_AT_SWITCH_IN) every
		 * release that wakes a waiter is seen (light_waking), but
		 * takes are not: a waiter takes the GIL when the holder's
		 * signal wakes it, never after a timeout (the holder, which
		 * may not be known, still has it) nor on a wake while the GIL
		 * is held (glibc's condvar wakes waiters of its own). With
		 * them, a signalled waiter takes it even if its holder's
		 * release was not seen (the signal found no thread asleep; if
		 * the holder took it back first, this thread waits on the
		 * cond again at once, which ends the take: light_sys_enter),
		 * and a waiter whose wait timed out takes a free GIL.
		 */
		if (e->flags & GS_F_AT_SWITCH_IN ? signalled && !p->holder :
						   signalled || !p->holder)
			gil_acquire(p, t, e->ts);
		return;
	}
	if (!releases_gil(p, t->sys_nr, t->sys_arg0, t->sys_arg1))
		return;
	/* free: taken now; held: it will wait on the cond */
	if (!p->holder)
		gil_acquire(p, t, e->ts);
	else
		start_wait(p, t);
}

/*
 * --light: a futex call of thread H wakes X, asleep on the GIL's cond. Only
 * drop_gil signals that cond: H let the GIL go (it held it, even if its
 * take was not seen). The futex call itself is not recorded in light mode.
 */
static void light_waking(struct analysis *an, const struct gs_event *e)
{
	uint32_t waker = (uint32_t)e->arg[0], waker_tgid = e->arg[0] >> 32;
	struct an_thread *x = an_find_thread(an, e->tid);
	struct an_thread *h = an_find_thread(an, waker);
	struct an_process *p;

	if (!(e->flags & GS_F_WAKER_IN_FUTEX) || waker_tgid != e->tgid || !x ||
	    !h || h == x || h->exited || h->tgid != e->tgid)
		return;
	p = an_find_process(an, e->tgid);
	if (!p || !p->gil.addr || !x->in_sys || x->sys_nr != SYS_FUTEX ||
	    !waits_on_gil_cond(p, x->sys_arg0, x->sys_arg1))
		return;
	if (p->holder != h)
		gil_acquire(p, h, e->ts);
	gil_release(p, h, e->ts);
}

/*
 * Hand-off probes: a thread back from a call it entered without the GIL
 * takes the GIL back at once (Py_END_ALLOW_THREADS) if it is free and this
 * thread held it last. A take after another thread's hold is a hand-off,
 * which is probed; a take that must wait waits on the GIL's cond first.
 * A futex call on the GIL itself is part of a take or a release.
 */
static void retake_after_call(struct an_process *p, struct an_thread *t,
			      uint64_t ts)
{
	if (t->sys_nr == SYS_FUTEX && in_gil(&p->gil, t->sys_arg0))
		return;
	if (p->holder || p->prev_acquirer != t->tid || t->released_at_site)
		return;
	gil_acquire(p, t, ts);
	t->took_at_sys_exit = true;
}

/*
 * A sleep to a deadline: Python's time.sleep() (3.11+) reads the clock,
 * lets the GIL go and calls clock_nanosleep(TIMER_ABSTIME) until then, so
 * the program sleeps from that first step, whatever comes between: a
 * preemption, the call's own way into the kernel. All of it is the sleep,
 * from the GIL's release when it was probed (the time pending since), so
 * that a sleep is never shorter than the program asked for.
 */
static bool deadline_sleep(const struct an_process *p,
			   const struct an_thread *t, const struct gs_event *e,
			   bool light)
{
	return e->a32 == SYS_CLOCK_NANOSLEEP && (e->arg[1] & TIMER_ABSTIME) &&
	       (p->holder != t || light);
}

/*
 * A futex call on the GIL by a thread whose time is pending after a probed
 * release: it is still letting the GIL go (after the probed signal,
 * drop_gil's pthread_cond_signal may wake a waiter or sleep until a group
 * of waiters left, and its unlock of the mutex may wake one), and the time
 * stays pending, asleep in it or not. Only a wait for the GIL (take_gil,
 * on the cond) is no part of a release.
 */
static bool gil_wake_in_release(const struct an_process *p,
				const struct an_thread *t, uint64_t nr,
				uint64_t addr, uint64_t op)
{
	return t->pending && nr == SYS_FUTEX && in_gil(&p->gil, addr) &&
	       !waits_on_gil_cond(p, addr, op);
}

/*
 * The process is about to end (exit_group): which of its threads are still
 * at work? Holding the GIL, waiting for it, asleep in a call (a daemon's
 * sleep or queue get). A thread done with its Python code let the GIL go
 * for good and only has its native teardown left: one the scheduler has
 * not run again yet is killed too, but its work was done (joined).
 */
static void note_busy_threads(struct an_process *p)
{
	for (size_t i = 0; i < p->n_threads; i++) {
		struct an_thread *t = p->threads[i];

		t->busy_at_exit_group =
			t->gil_holding || t->gil_waiting || t->lock_waiting ||
			t->state == AN_BLOCKED || t->state == AN_UNKNOWN;
	}
}

static void on_sys_enter(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	if (gil_wake_in_release(p, t, e->a32, e->arg[0], e->arg[1])) {
		t->in_sys = true;
		t->sys_nr = e->a32;
		t->sys_arg0 = e->arg[0];
		t->sys_arg1 = e->arg[1];
		t->sys_facts = e->arg[2];
		t->sys_gil_free = false;
		return;
	}
	t->pending_sleep = deadline_sleep(p, t, e, an->light);
	seen_running(t, e);
	flush_thread(t, e->ts); /* the slice before the call ends here */
	t->in_deadline_sleep = deadline_sleep(p, t, e, an->light);
	t->in_sys = true;
	t->sys_nr = e->a32;
	t->sys_arg0 = e->arg[0];
	t->sys_arg1 = e->arg[1];
	t->sys_facts = e->arg[2];
	t->sys_gil_free = e->flags & GS_F_GIL_FREE;
	/* hand-off probes: it let the GIL go before this call, unprobed */
	if (t->sys_gil_free && p->holder == t)
		gil_release(p, t, e->ts);
	if (an->light)
		light_sys_enter(an, p, t, e);
	if (e->a32 == 231 /* exit_group */ && !p->exit_group_ts) {
		p->exit_group_ts = e->ts;
		t->in_sys_exit_group = true;
		note_busy_threads(p);
	}
	if (e->a32 != SYS_FUTEX || !futex_op_waits(e->arg[1]))
		return;
	if (!in_gil(&p->gil, e->arg[0]))
		lock_wait_begins(an, p, t, lock_of_futex(t, e->arg[0]), e->ts);
	if (waits_on_gil_cond(p, e->arg[0], e->arg[1])) {
		t->switches_at_wait = p->handoffs + p->initial_takes;
		/* light: it let the GIL go unseen (in a call that did not
		 * block), and another thread took it */
		if (an->light && p->holder == t)
			gil_release(p, t, e->ts);
		/* without take_gil probes, the wait starts at the futex */
		if (!p->exact_takes && p->holder != t) {
			flush_process(p, e->ts);
			flush_thread(t, e->ts);
			start_wait(p, t);
		}
	}
	/* take_gil locks the GIL's mutex first: a thread without the GIL
	 * asleep on it is waiting for the GIL (a releaser locks it too, in
	 * drop_gil, but still holds the GIL then) */
	if (!an->light && !p->exact_takes && p->holder != t && p->gil.mutex &&
	    e->arg[0] == p->gil.mutex) {
		flush_process(p, e->ts);
		flush_thread(t, e->ts);
		start_wait(p, t);
	}
}

static void on_sys_exit(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	if (t->in_sys &&
	    gil_wake_in_release(p, t, t->sys_nr, t->sys_arg0, t->sys_arg1)) {
		t->in_sys = false;
		t->sys_nr = -1;
		return;
	}
	seen_running(t, e);
	flush_thread(t, e->ts);
	/* take_gil: a timed wait that ran out with no switch in between
	 * sets the drop request that forces the holder to let go */
	if (t->in_sys && t->sys_nr == SYS_FUTEX && sys_timed_out(e) &&
	    waits_on_gil_cond(p, t->sys_arg0, t->sys_arg1) && p->holder &&
	    p->holder != t &&
	    p->handoffs + p->initial_takes == t->switches_at_wait)
		p->drop_request = true;
	if (t->lock_waiting)
		lock_wait_ends(p, t, e->ts);
	if (an->light)
		light_sys_exit(an, p, t, e);
	if (t->in_sys && t->sys_gil_free)
		retake_after_call(p, t, e->ts);
	t->in_deadline_sleep = false;
	t->in_sys = false;
	t->sys_gil_free = false;
	t->sys_nr = -1;
}

/*
 * Hand-off probes, at a `call take_gil` that ends a probed release: the
 * GIL's memory says what comes. Free, and this thread held it last: it
 * takes it back at once, and no hand-off probe will say so. Otherwise it
 * waits, until the hand-off probe sees it take the GIL.
 */
static void take_at_site(struct an_process *p, struct an_thread *t,
			 const struct gs_event *e)
{
	switch (e->a32) {
	case GS_TAKE_FREE_MINE:
		gil_acquire(p, t, e->ts);
		t->took_at_sys_exit = true; /* before take_gil has it */
		break;
	case GS_TAKE_HELD:
	case GS_TAKE_FREE_OTHER:
		start_wait(p, t);
		t->wait_from_site = true;
		break;
	}
}

static void on_gil_take(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	seen_running(t, e);
	flush_process(p, e->ts);
	flush_thread(t, e->ts);
	if (p->holder == t) /* its release was not seen */
		gil_release(p, t, e->ts);
	if (e->flags & GS_F_TAKE_SITE) {
		take_at_site(p, t, e);
		return;
	}
	p->exact_takes = true;
	start_wait(p, t);
}

static void on_cond_signal(struct analysis *an, const struct gs_event *e)
{
	struct an_thread *t = thread_of(an, e->tid, e->tgid);
	struct an_process *p;

	if (!t || t->exited)
		return;
	p = an_find_process(an, t->tgid);
	seen_running(t, e);
	if (p->gil.cond && e->arg[0] == p->gil.cond) {
		gil_release(p, t, e->ts);
		t->released_at_site = true;
		/* time.sleep() lets the GIL go right before sleeping */
		t->pending = true;
	} else if (p->gil.switch_cond && e->arg[0] == p->gil.switch_cond) {
		gil_acquire(p, t, e->ts);
	}
}

static void on_switchnum(struct analysis *an, const struct gs_event *e)
{
	struct an_process *p = an_find_process(an, e->tgid);

	if (!p)
		return;
	if (e->a32 == GS_SNUM_FORK) {
		p->have_switch_start = true;
		p->switch_start = e->arg[0];
	} else if (e->a32 == GS_SNUM_EXIT) {
		p->have_switch_end = true;
		p->switch_end = e->arg[0];
	}
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
