/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python stacks: the hooks the other programs call at the moments a stack
 * is worth having (gs_stk_*: a GIL wait, a switch-out, a fork, an exec, an
 * exit), what a thread's PyThreadState is, and the on-CPU sampler. The
 * walker and the stack records: stacks_walk.bpf.h.
 */
#ifndef GS_STACKS_BPF_H
#define GS_STACKS_BPF_H

#include "common.bpf.h"
#include "stacks_walk.bpf.h"

static __always_inline struct gs_pythread *stk_thread(u32 tid, bool create)
{
	struct gs_pythread *t = bpf_map_lookup_elem(&py_threads, &tid);
	struct gs_pythread zero = {};

	if (t || !create)
		return t;
	bpf_map_update_elem(&py_threads, &tid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&py_threads, &tid);
}

/* Is the GIL unlocked right now? (unknown: no) */
static __always_inline bool stk_gil_free(const struct gs_pyconf *c)
{
	int locked = 1;

	if (!c->gil.addr || !c->gil.locked_off)
		return false;
	bpf_probe_read_user(&locked, sizeof(locked),
			    (void *)(c->gil.addr + c->gil.locked_off));
	return !locked;
}

/* take_gil's entry: its argument is this thread's PyThreadState. */
static __always_inline void gs_stk_take_gil(u64 tstate)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id, tgid = id >> 32;
	struct stk_scratch *s;
	struct gs_pyconf *c;
	struct gs_pythread *t;
	u64 py;

	if (!stacks_on || !tstate)
		return;
	c = bpf_map_lookup_elem(&py_conf, &tgid);
	s = stk_slot(0);
	t = c ? stk_thread(tid, true) : NULL;
	if (!c || !s || !t)
		return;
	t->tstate = tstate;
	t->gil_cond = c->gil.addr ? c->gil.addr + c->gil_cond : 0;
	/* a free GIL is taken at once: no wait to put a stack on, and
	 * the walk would double the cost of an uncontended take (a
	 * release and take around every I/O call) */
	if (stk_gil_free(c)) {
		t->cached = 0;
		return;
	}
	py = stk_walk(s, c, tstate, tgid);
	t->cached = 1;
	/* a thread that waits again where it waited before (a loop of I/O
	 * calls) sends nothing: the reader keeps its last GIL_WAIT stack */
	if (t->sent && t->py_id == py)
		return;
	t->py_id = py;
	t->sent = stk_emit(GS_STK_GIL_WAIT, tid, tgid, py, 0, 0, 0);
	t->last_is_wait = 0;
}

/*
 * A thread whose tstate nobody told us (no take_gil probe, attached, or
 * started since userspace last read the thread list): the GIL's
 * last_holder is the tstate of the thread that last took the GIL, which is
 * often this one (it let the GIL go just before blocking, or holds it now).
 * Its native_thread_id says whether it is.
 */
static __always_inline struct gs_pythread *stk_learn(const struct gs_pyconf *c,
						     u32 tid)
{
	struct gs_pythread *t;
	u64 tstate;

	if (!c->gil.addr || c->gil.tstate_tid_off == GS_OFF_NONE ||
	    gil_last_holder_tid(c->gil.addr + c->gil.last_holder_off,
				c->gil.tstate_tid_off, &tstate) != tid)
		return NULL;
	t = stk_thread(tid, true);
	if (t) {
		t->tstate = tstate;
		t->gil_cond = c->gil.addr + c->gil_cond;
		t->cached = 0;
	}
	return t;
}

enum stk_gil_sleep {
	STK_NOT_GIL,
	STK_GIL_COND,  /* in take_gil, waiting for the GIL */
	STK_GIL_MUTEX, /* in take_gil or drop_gil, on the GIL's own lock */
};

/* Is TASK asleep in a futex on the GIL's cond or mutex? Either way it does
 * not hold the GIL: its Python stack cannot change while it sleeps. */
static __always_inline enum stk_gil_sleep
stk_gil_sleep(struct task_struct *task, u64 cond)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	u64 nr, addr;

	if (!cond || !regs)
		return STK_NOT_GIL;
	nr = BPF_CORE_READ(regs, orig_ax);
	addr = BPF_CORE_READ(regs, di);
	if (nr != GS_NR_futex || addr < cond)
		return STK_NOT_GIL;
	if (addr < cond + STK_COND_SIZE)
		return STK_GIL_COND;
	if (addr < cond + STK_COND_SIZE + STK_MUTEX_SIZE)
		return STK_GIL_MUTEX;
	return STK_NOT_GIL;
}

/*
 * A switch-out asleep on the GIL's cond or mutex, with no take_gil probe:
 * PY is its Python stack. No native stack: a GIL sleep is futex <- cond or
 * lock wait <- take_gil or drop_gil, which the reason says. Returns true
 * when the thread's last STACK event is this one already: the switch
 * event is flagged instead of sending it again.
 */
static __always_inline bool stk_gil_sleep_out(struct gs_pythread *t, u32 tid,
					      u32 tgid, u64 py, u32 flags)
{
	bool sent;

	if (t->last_is_wait && t->wait_py == py && t->wait_flags == flags)
		return true;
	sent = stk_emit(GS_STK_OFFCPU, tid, tgid, py, 0, 0, flags);
	t->wait_py = py;
	t->wait_flags = flags;
	t->last_is_wait = sent;
	return false;
}

/*
 * A traced thread leaves its CPU (the probe runs in its context). Returns
 * true when the switch event is to carry GS_F_STACK_SAME.
 */
static __always_inline bool gs_stk_switch(void *ctx, struct task_struct *prev,
					  unsigned int prev_state, bool preempt)
{
	u32 tid = prev->pid, tgid = prev->tgid, flags = 0, why;
	struct stk_scratch *s;
	struct gs_pyconf *c;
	struct gs_pythread *t;
	u64 py = 0, native, leaf = 0;
	enum stk_gil_sleep gil;

	if (!stacks_on || (prev_state & STK_TASK_DEAD))
		return false;
	c = bpf_map_lookup_elem(&py_conf, &tgid);
	s = stk_slot(0);
	if (!c || !s)
		return false;
	why = preempt || !prev_state ? GS_STK_PREEMPT : GS_STK_OFFCPU;
	t = bpf_map_lookup_elem(&py_threads, &tid);
	if (!t || !t->tstate)
		t = stk_learn(c, tid);
	if (!t || !t->tstate) {
		flags |= GS_STKF_NO_TSTATE;
		if (t)
			t->last_is_wait = 0;
	} else {
		gil = why == GS_STK_OFFCPU ? stk_gil_sleep(prev, t->gil_cond) :
					     STK_NOT_GIL;
		/* asleep in take_gil: its stack is the last GIL_WAIT one,
		 * which the reader has */
		if (gil == STK_GIL_COND && t->cached && t->sent)
			return false;
		py = stk_walk_checked(s, c, t->tstate, tid, tgid, &flags);
		if (gil != STK_NOT_GIL && !t->cached)
			return stk_gil_sleep_out(t, tid, tgid, py, flags);
		t->last_is_wait = 0;
	}
	native = stk_native(ctx, s, tgid, &leaf);
	stk_emit(why, tid, tgid, py, native, leaf, flags);
	return false;
}

/* A GIL acquisition signal (switch_cond) in a process whose take_gil is not
 * probed: last_holder was just set to the taker's tstate. */
static __always_inline void gs_stk_signal(u64 cond)
{
	u64 id = bpf_get_current_pid_tgid(), tstate = 0;
	u32 tid = (u32)id, tgid = id >> 32;
	struct gs_pyconf *c;
	struct gs_pythread *t;

	if (!stacks_on || !stk_learners)
		return;
	c = bpf_map_lookup_elem(&py_conf, &tgid);
	if (!c || !c->learn_tstate || !c->gil.addr ||
	    cond != c->gil.addr + c->gil_switch_cond)
		return;
	if (bpf_probe_read_user(
		    &tstate, sizeof(tstate),
		    (void *)(c->gil.addr + c->gil.last_holder_off)) ||
	    !tstate)
		return;
	t = stk_thread(tid, true);
	if (t && t->tstate != tstate) {
		t->tstate = tstate;
		t->cached = 0;
	}
}

/* A new process shares its parent's image: same interpreter, same tstate
 * for the thread that forked. */
static __always_inline void gs_stk_fork(u32 parent_tid, u32 parent_tgid,
					u32 child_tid, u32 child_tgid)
{
	struct gs_pyconf *c;
	struct gs_pythread *t;

	if (!stacks_on)
		return;
	c = bpf_map_lookup_elem(&py_conf, &parent_tgid);
	if (!c)
		return;
	bpf_map_update_elem(&py_conf, &child_tgid, c, BPF_ANY);
	t = bpf_map_lookup_elem(&py_threads, &parent_tid);
	if (t) {
		struct gs_pythread copy = *t;

		copy.cached = 0;
		copy.sent = 0; /* a new thread to the reader */
		copy.last_is_wait = 0;
		bpf_map_update_elem(&py_threads, &child_tid, &copy, BPF_ANY);
	}
}

/* The thread that exec'd runs a new image: its tstate is gone. The
 * process's walking facts stay until userspace has looked at the new image
 * (a launched command is configured before its exec, for the image it
 * execs into). */
static __always_inline void gs_stk_exec(u32 tid, u32 old_tid)
{
	if (!stacks_on)
		return;
	bpf_map_delete_elem(&py_threads, &tid);
	bpf_map_delete_elem(&py_threads, &old_tid);
}

static __always_inline void gs_stk_exit(u32 tid, u32 tgid, bool group_dead)
{
	if (!stacks_on)
		return;
	bpf_map_delete_elem(&py_threads, &tid);
	if (group_dead)
		bpf_map_delete_elem(&py_conf, &tgid);
}

/* The on-CPU sampler: a perf event per CPU, at `record --sample-hz`. */
SEC("perf_event")
int on_stack_sample(struct bpf_perf_event_data *ctx)
{
	u64 id = bpf_get_current_pid_tgid(), py = 0, native, leaf = 0;
	u32 tid = (u32)id, tgid = id >> 32, flags = 0;
	struct stk_scratch *s;
	struct gs_pyconf *c;
	struct gs_pythread *t;

	if (!stacks_on || !tgid)
		return 0;
	c = bpf_map_lookup_elem(&py_conf, &tgid);
	s = stk_slot(1);
	if (!c || !s)
		return 0;
	t = bpf_map_lookup_elem(&py_threads, &tid);
	if (!t || !t->tstate)
		t = stk_learn(c, tid);
	if (t && t->tstate)
		py = stk_walk_checked(s, c, t->tstate, tid, tgid, &flags);
	else
		flags |= GS_STKF_NO_TSTATE;
	if (t)
		t->last_is_wait = 0; /* the thread's last stack is this one */
	/* x86: the low bits of cs are the privilege level, 3 in user mode;
	 * the context allows only whole-word reads of pt_regs */
	if ((*(u64 *)((char *)&ctx->regs +
		      __builtin_offsetof(struct pt_regs, cs)) &
	     3) != 3)
		flags |= GS_STKF_KERNEL;
	native = stk_native(ctx, s, tgid, &leaf);
	stk_emit(GS_STK_SAMPLE, tid, tgid, py, native, leaf, flags);
	return 0;
}

#endif /* GS_STACKS_BPF_H */
