// SPDX-License-Identifier: GPL-2.0
/*
 * The stack recorder's threads: each live thread's PyThreadState learnt
 * from the stacks BPF walks, its Python name read from the interpreter's
 * thread list by periodic scans (and the stacks of sleepers walked there),
 * exits, and the hooks the recorder calls per event and per turn.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/strs.h"
#include "gilscope.skel.h"
#include "common/procfs.h"
#include "stackrec.h"
#include "record/stacks_int.h"

struct named *stk_named_find(struct stk_proc *p, uint32_t tid)
{
	for (size_t i = 0; i < p->n_named; i++)
		if (p->named[i].tid == tid)
			return &p->named[i];
	return NULL;
}

static struct named *named_get(struct stk_proc *p, uint32_t tid)
{
	struct named *nm = stk_named_find(p, tid);

	if (nm)
		return nm;
	if (p->n_named == p->cap_named) {
		size_t cap = p->cap_named ? p->cap_named * 2 : 16;
		struct named *v = realloc(p->named, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->named = v;
		p->cap_named = cap;
	}
	p->named[p->n_named] = (struct named){ .tid = tid };
	return &p->named[p->n_named++];
}

/* Is C threading.Thread._bootstrap? (3.9 and 3.10 have no qualname) */
static bool is_bootstrap(const struct stk_proc *p, const struct pyobj_code *c)
{
	const char *want = p->mem.f->code_qualname ? "Thread._bootstrap" :
						     "_bootstrap";

	return !strcmp(c->qualname, want) && ends_with(c->file, "threading.py");
}

/*
 * The Python name of a thread: threading.Thread._bootstrap is the first
 * frame of every thread the threading module starts; its `self` (first
 * local) is the Thread object, whose `_name` is the name. AGAIN: read a
 * name found before again (the program may rename a running thread).
 */
static void name_thread(struct stk_proc *p, uint32_t tid, uint64_t tstate,
			bool again)
{
	const struct py_stack_facts *f = p->mem.f;
	struct named *nm = named_get(p, tid);
	struct pyobj_frame fr;
	struct code_ent *e;
	uint64_t bottom, self;
	char name[256];

	if (!nm || (nm->done && (!again || !nm->name)) ||
	    (!nm->done && nm->tries++ >= NAME_TRIES))
		return;
	if (nm->done && tid == (uint32_t)p->pid)
		return;
	if (tid == (uint32_t)p->pid) {
		nm->name = strdup("MainThread");
		nm->done = nm->name != NULL;
		return;
	}
	bottom = pyobj_bottom_frame(&p->mem, tstate);
	if (!bottom || pyobj_frame(&p->mem, bottom, &fr))
		return;
	e = stk_code_get(p, stk_code_word(p, fr.code));
	if (!e || !e->ok)
		return;
	nm->done = true; /* it has started: the bottom frame stays */
	if (!is_bootstrap(p, &e->c) ||
	    pyobj_u64(&p->mem, bottom + f->frame_localsplus, &self) ||
	    pyobj_attr_str(&p->mem, pyobj_ref(f, self), "_name", name,
			   sizeof(name)))
		return;
	if (nm->name && !strcmp(nm->name, name))
		return;
	free(nm->name);
	nm->name = strdup(name);
}

/*
 * A thread's stack came: read its name now, while it runs, if it has none
 * yet. A thread serving one request may live a millisecond, far less than
 * the period of the scans (SCAN_NS).
 */
static void name_at_stack(struct stk_recorder *st, const struct gs_event *e)
{
	struct stk_proc *p = stk_proc_find(st, e->tgid);
	struct named *nm = p ? stk_named_find(p, e->tid) : NULL;
	struct gs_pythread t = {};

	if (!p || !p->facts || (nm && nm->done) ||
	    (e->flags & (GS_STKF_NO_TSTATE | GS_STKF_STALE)) ||
	    bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.py_threads), &e->tid,
				&t) ||
	    !t.tstate)
		return;
	name_thread(p, e->tid, t.tstate, false);
}

/* Tell BPF the tstate of a thread it has not seen take the GIL. Returns
 * whether BPF knew none for it. */
static bool learn_tstate(struct stk_recorder *st, struct stk_proc *p,
			 uint32_t tid, uint64_t tstate)
{
	int fd = bpf_map__fd(st->skel->maps.py_threads);
	struct gs_pythread t = {};
	bool unknown = bpf_map_lookup_elem(fd, &tid, &t) != 0;

	if (!unknown && t.tstate == tstate)
		return false;
	t = (struct gs_pythread){
		.tstate = tstate,
		.gil_cond = p->gil_addr ? p->gil_addr + p->facts->gil_cond : 0,
	};
	bpf_map_update_elem(fd, &tid, &t, BPF_ANY);
	return unknown;
}

/*
 * A thread asleep that no probe has walked yet (found blocked when
 * attaching, say): its Python stack cannot change while it sleeps, so a
 * walk from here is the stack of that sleep. It goes into the session as a
 * stack event of now, with an id of ours.
 */
static void walk_sleeper(struct stk_recorder *st, struct stk_proc *p,
			 uint32_t tid, uint64_t tstate)
{
	uint32_t fids[GS_PY_MAX_FRAMES], n = 0, flags = 0;
	uint64_t frame = 0, id = 0x75736572ull ^ p->pid;
	struct gs_event e = { .type = GS_EV_STACK,
			      .tid = tid,
			      .tgid = p->pid,
			      .a32 = GS_STK_OFFCPU };
	char state = proc_thread_state(p->pid, tid);

	if ((state != 'S' && state != 'D') || !st->w)
		return;
	frame = pyobj_top_frame(&p->mem, tstate);
	while (frame && n < GS_PY_MAX_FRAMES) {
		struct pyobj_frame fr;
		uint64_t code;
		int64_t fid;

		if (pyobj_frame(&p->mem, frame, &fr))
			return;
		frame = fr.previous;
		if (fr.shim)
			continue;
		code = stk_code_word(p, fr.code);
		fid = stk_python_frame(st, p, code, fr.instr);
		if (fid < 0)
			return;
		fids[n++] = fid;
		id = (id ^ code ^ fr.instr << 1) * 0x100000001b3ull;
	}
	if (!n)
		return;
	if (frame)
		flags |= GS_STACKF_TRUNCATED;
	for (uint32_t i = 0; i < n / 2; i++) {
		uint32_t x = fids[i];

		fids[i] = fids[n - 1 - i];
		fids[n - 1 - i] = x;
	}
	e.arg[0] = id | 1;
	e.ts = now_ns();
	if (!stacktab_add_stack(&st->tab, GS_SREC_PYTHON, e.arg[0], p->pid,
				flags, fids, n))
		gs_writer_event(st->w, &e);
}

/* The thread id of TSTATE, 0 if unknown (pyobj_tstate_tid) */
static uint32_t tstate_tid(struct stk_proc *p, uint64_t tstate)
{
	bool from_pthread;
	uint32_t tid =
		pyobj_tstate_tid(&p->mem, p->facts, tstate, &from_pthread);

	return from_pthread && !proc_thread_state(p->pid, tid) ? 0 : tid;
}

/* Walk _PyRuntime's interpreters and their thread lists. */
static void scan_process(struct stk_recorder *st, struct stk_proc *p)
{
	const struct py_stack_facts *f = p->mem.f;
	uint64_t interp = 0, tstate = 0;
	uint32_t tid;

	if (!p->facts || !p->runtime ||
	    pyobj_u64(&p->mem, p->runtime + f->runtime_interp_head, &interp))
		return;
	for (int i = 0; interp && i < MAX_INTERPS; i++) {
		if (pyobj_u64(&p->mem, interp + f->interp_threads_head,
			      &tstate))
			return;
		for (int k = 0; tstate && k < MAX_SCAN_THREADS; k++) {
			tid = tstate_tid(p, tstate);
			if (tid) {
				if (learn_tstate(st, p, tid, tstate))
					walk_sleeper(st, p, tid, tstate);
				name_thread(p, tid, tstate, true);
			}
			if (pyobj_u64(&p->mem, tstate + f->tstate_next,
				      &tstate))
				return;
		}
		if (pyobj_u64(&p->mem, interp + f->interp_next, &interp))
			return;
	}
}

void stk_scan_all(struct stk_recorder *st)
{
	struct stk_proc *p;

	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));)
		scan_process(st, p);
	st->last_scan = now_ns();
}

/* A thread exited: its name, if it had one, goes into the table (to be
 * written with the next stacks) and the scans forget it. */
static void thread_exited(struct stk_recorder *st, pid_t pid, uint32_t tid)
{
	struct stk_proc *p = stk_proc_find(st, pid);
	struct named *nm = p ? stk_named_find(p, tid) : NULL;

	if (!nm)
		return;
	if (nm->name)
		stacktab_set_thread(&st->tab, pid, tid, nm->name);
	free(nm->name);
	*nm = p->named[--p->n_named];
}

/*
 * The last thread of PID exited. Its stacks may still wait in the stacks
 * ring, which is read after the events ring: it is forgotten at the next
 * tick, once the recorder's loop has read both.
 */
static void proc_exited(struct stk_recorder *st, pid_t pid)
{
	struct stk_proc *p = stk_proc_find(st, pid);

	if (!p || p->exited)
		return;
	if (st->n_gone == st->cap_gone) {
		size_t cap = st->cap_gone ? st->cap_gone * 2 : 16;
		pid_t *v = realloc(st->gone, cap * sizeof(*v));

		if (!v)
			return; /* kept until the end: only memory is lost */
		st->gone = v;
		st->cap_gone = cap;
	}
	p->exited = true;
	st->gone[st->n_gone++] = pid;
}

static void forget_exited(struct stk_recorder *st)
{
	for (size_t i = 0; i < st->n_gone; i++) {
		struct stk_proc *p = stk_proc_find(st, st->gone[i]);

		/* not when the pid came back in the meantime (proc_add) */
		if (!p || !p->exited)
			continue;
		pidmap_remove(&st->procs, p->pid);
		stk_retire_names(st, p); /* threads whose exit was lost */
		stk_proc_reset(p);
		free(p);
	}
	st->n_gone = 0;
}

static int write_payload(void *ctx, const void *buf, size_t len,
			 uint32_t records)
{
	return gs_writer_blob(ctx, GS_CHUNK_STACKS, buf, len, records);
}

/* What gathered since the last time, as STACKS chunks: new frames,
 * stacks, the names of threads that exited. */
int stk_write_pending(struct stk_recorder *st, struct gs_writer *w)
{
	if (stacktab_flush(&st->tab, CHUNK_BYTES, write_payload, w))
		return -EIO;
	return 0;
}

/* The names of the threads alive at the end go into the stack table. */
void stk_name_live_threads(struct stk_recorder *st)
{
	struct stk_proc *p;

	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));)
		stk_retire_names(st, p);
}

void stk_on_event(struct stk_recorder *st, const struct gs_event *e)
{
	struct stk_proc *parent, *child;

	if (!st)
		return;
	switch (e->type) {
	case GS_EV_STACK:
		name_at_stack(st, e);
		break;
	case GS_EV_FORK:
		parent = stk_proc_find(st, e->tgid);
		if (parent && (e->arg[0] >> 32) != e->tgid) {
			/* the child has the parent's image; BPF copied the
			 * walking facts itself */
			child = stk_proc_add(st, e->arg[0] >> 32);
			if (child)
				stk_set_facts(child, parent->gil_addr,
					      parent->facts);
		}
		break;
	case GS_EV_EXIT:
		thread_exited(st, e->tgid, e->tid);
		if (e->a32) {
			sym_forget(st->syms, e->tgid);
			proc_exited(st, e->tgid);
		}
		break;
	case GS_EV_EXEC:
		/* addresses mean other things in the new image; the facts
		 * stay until the recorder has looked at it (stk_track) */
		sym_forget(st->syms, e->tgid);
		parent = stk_proc_find(st, e->tgid);
		if (parent) {
			stk_codes_reset(parent);
			/* an open /proc/PID/mem keeps reading the old image */
			stk_mem_open(parent);
		}
		break;
	}
}

void stk_tick(struct stk_recorder *st)
{
	if (!st)
		return;
	forget_exited(st);
	/* an error stays in the writer: the recorder's next write sees it */
	if (stacktab_pending(&st->tab) >= FLUSH_RECORDS && st->w)
		stk_write_pending(st, st->w);
	if (now_ns() - st->last_scan > SCAN_NS)
		stk_scan_all(st);
}
