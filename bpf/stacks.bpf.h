/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python stacks, walked in BPF at moments that already cost a probe hit,
 * and an on-CPU sampler. Included by gilscope.bpf.c after its helpers
 * (reserve, submit, traced_proc); its programs call the gs_stk_* hooks.
 *
 * The thread's PyThreadState comes from take_gil's first argument, or, with
 * no take_gil probe, from the GIL's last_holder right after an acquisition,
 * or from userspace, which reads the interpreter's thread list. The chain
 * tstate -> cframe -> current_frame -> previous ... is read with one
 * bpf_probe_read_user per frame. A thread's Python stack cannot change while
 * it does not hold the GIL, so the stack read at take_gil's entry serves the
 * switch-outs of the wait that follows without another walk.
 *
 * Stacks are interned here: the id is a hash of the process and the frames,
 * the frames go out once on the `stacks` ring buffer (seen ids are kept in an
 * LRU map: an evicted one is simply sent again).
 */
#ifndef GS_STACKS_BPF_H
#define GS_STACKS_BPF_H

#include "stackrec.h"

#define STK_TASK_DEAD 0x80
#define STK_NR_FUTEX 202
/* pthread_cond_t: glibc waits on words inside; the GIL's mutex follows */
#define STK_COND_SIZE 48
#define STK_MUTEX_SIZE 40

/* Set by userspace before load: 0 turns every hook into nothing. */
const volatile __u32 stacks_on = 0;
/* Processes whose take_gil is not probed (their tstates are learned at
 * acquisitions); the hook in on_cond_signal returns at once while 0. */
__u32 stk_learners = 0;
/* stack records that did not fit in the `stacks` ring buffer */
__u64 stk_lost_records = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* new stacks only: rare */
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_TRACED);
	__type(key, u32);
	__type(value, struct gs_pyconf);
} py_conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, struct gs_pythread);
} py_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u64);
	__type(value, u8);
} stk_seen SEC(".maps");

/* code objects already sent, by (tgid, address) */
struct stk_code_key {
	u64 code;
	u32 tgid, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct stk_code_key);
	__type(value, u8);
} stk_codes SEC(".maps");

struct stk_scratch {
	struct gs_stack_rec rec;
	unsigned char frame[GS_FRAME_HEAD]; /* the head of one frame */
	struct gs_code_rec code;
};

/* Slot 0 for programs in process context, slot 1 for the sampler, which
 * runs in an interrupt and may land in the middle of a uprobe program. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, struct stk_scratch);
} stk_scratch SEC(".maps");

static __always_inline struct stk_scratch *stk_slot(u32 slot)
{
	return bpf_map_lookup_elem(&stk_scratch, &slot);
}

static __always_inline u64 stk_mix(u64 h, u64 v)
{
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	h ^= v;
	h = (h << 27 | h >> 37) * 5 + 0x52dce729;
	return h;
}

/* A str object's text into DST when it is compact ASCII, else "". */
static __always_inline void stk_ascii(const struct gs_pyconf *c, u64 str,
				      char *dst, u32 size)
{
	u32 state = 0;

	dst[0] = 0;
	/* state bits: compact (5) and ascii (6) */
	if (!str ||
	    bpf_probe_read_user(&state, sizeof(state),
				(void *)(str + c->str_state)) ||
	    (state & 0x60) != 0x60)
		return;
	bpf_probe_read_user_str(dst, size, (void *)(str + c->str_ascii_data));
}

struct stk_codes_ctx {
	struct stk_scratch *s;
	const struct gs_pyconf *c;
	u32 tgid, n;
};

/* CODE's identity (gs_code_word): its address and names. */
static __always_inline u64 stk_code_word(const struct gs_pyconf *c, u64 code)
{
	u64 names[2] = {};

	/* co_filename and co_name are neighbours in 3.9-3.11 */
	if (c->code_filename && c->code_filename != GS_OFF_NONE)
		bpf_probe_read_user(names, sizeof(names),
				    (void *)(code + c->code_filename));
	return gs_code_word(code, names[0], names[1]);
}

/* bpf_loop callback: send frame I's code object unless sent before. */
static long stk_code_step(u32 i, void *arg)
{
	struct stk_codes_ctx *x = arg;
	struct stk_scratch *s = x->s;
	const struct gs_pyconf *c = x->c;
	struct gs_code_rec *r = &s->code;
	struct stk_code_key key = { .tgid = x->tgid };
	u64 str = 0, table = 0, len = 0, code;
	u8 one = 1;

	if (i >= x->n)
		return 1;
	key.code = s->rec.data[(i * 2) & (GS_PY_MAX_FRAMES * 2 - 1)];
	code = key.code & GS_CODE_ADDR_MASK;
	if (!code || bpf_map_lookup_elem(&stk_codes, &key))
		return 0;
	r->id = 0;
	r->tgid = x->tgid;
	r->kind = GS_SREC_CODE;
	r->flags = r->pad = 0;
	r->code = key.code;
	r->firstlineno = 0;
	bpf_probe_read_user(&r->firstlineno, sizeof(r->firstlineno),
			    (void *)(code + c->code_firstlineno));
	bpf_probe_read_user(&str, sizeof(str),
			    (void *)(code + c->code_qualname));
	stk_ascii(c, str, r->qualname, sizeof(r->qualname));
	str = 0;
	bpf_probe_read_user(&str, sizeof(str),
			    (void *)(code + c->code_filename));
	stk_ascii(c, str, r->filename, sizeof(r->filename));
	bpf_probe_read_user(&table, sizeof(table),
			    (void *)(code + c->code_linetable));
	if (table)
		bpf_probe_read_user(&len, sizeof(len),
				    (void *)(table + c->bytes_size));
	r->linetable_len = len;
	/* a mask the verifier can follow: at most GS_CODE_LINETABLE - 1 */
	if (len > GS_CODE_LINETABLE - 1)
		len = GS_CODE_LINETABLE - 1;
	len &= GS_CODE_LINETABLE - 1;
	if (len && bpf_probe_read_user(r->linetable, len,
				       (void *)(table + c->bytes_data)))
		len = 0;
	r->n = len;
	if (!bpf_ringbuf_output(
		    &stacks, r,
		    GS_CODE_REC_HEADER + (r->n & (GS_CODE_LINETABLE - 1)), 0))
		bpf_map_update_elem(&stk_codes, &key, &one, BPF_ANY);
	return 0;
}

/* Send REC (WORDS data words) once; its id is in the seen map after. For
 * a Python stack, its code objects go first (with C, the walking facts). */
static __always_inline void stk_intern(struct stk_scratch *s,
				       const struct gs_pyconf *c, u32 words)
{
	struct gs_stack_rec *rec = &s->rec;
	u64 size = GS_STACK_REC_HEADER + (u64)words * 8;
	u8 one = 1;

	if (bpf_map_lookup_elem(&stk_seen, &rec->id))
		return;
	if (size > sizeof(*rec))
		return;
	if (c) {
		struct stk_codes_ctx x = {
			.s = s, .c = c, .tgid = rec->tgid, .n = rec->n
		};

		bpf_loop(GS_PY_MAX_FRAMES, stk_code_step, &x, 0);
	}
	if (bpf_ringbuf_output(&stacks, rec, size, BPF_RB_FORCE_WAKEUP)) {
		__sync_fetch_and_add(&stk_lost_records, 1);
		return;
	}
	bpf_map_update_elem(&stk_seen, &rec->id, &one, BPF_ANY);
}

static __always_inline u64 stk_field(const struct stk_scratch *s, u16 off)
{
	return *(const u64 *)(s->frame + (off & (GS_FRAME_HEAD - 8)));
}

/* The frame a PyThreadState is executing, 0 if none or unreadable. */
static __always_inline u64 stk_top_frame(const struct gs_pyconf *c, u64 tstate)
{
	u64 p = 0;

	if (bpf_probe_read_user(&p, sizeof(p),
				(void *)(tstate + c->tstate_frame)))
		return 0;
	if (p && c->cframe_frame != GS_OFF_NONE && /* 3.11, 3.12 */
	    bpf_probe_read_user(&p, sizeof(p), (void *)(p + c->cframe_frame)))
		return 0;
	return p;
}

struct stk_walk {
	struct stk_scratch *s;
	const struct gs_pyconf *c;
	u64 frame, h;
	u32 n, flags;
};

/* One frame (bpf_loop callback: the verifier checks it once, not once per
 * frame). Returns 1 to stop. */
static long stk_walk_step(u32 i, void *arg)
{
	struct stk_walk *w = arg;
	struct stk_scratch *s = w->s;
	const struct gs_pyconf *c = w->c;
	u64 code, instr;
	u32 n = w->n;
	/* 1 to GS_FRAME_HEAD bytes, in a form the verifier follows */
	u32 head = ((c->frame_head - 1) & (GS_FRAME_HEAD - 1)) + 1;

	if (!w->frame)
		return 1;
	if (bpf_probe_read_user(s->frame, head, (void *)w->frame)) {
		w->flags |= GS_STACKF_FAULT;
		return 1;
	}
	code = stk_field(s, c->frame_code) & ~(u64)c->ref_tag_bits;
	instr = stk_field(s, c->frame_instr);
	if (c->instr_size == 4) /* f_lasti, an int */
		instr &= 0xffffffffULL;
	w->frame = stk_field(s, c->frame_previous);
	if (c->owner_cstack != 0xff &&
	    s->frame[c->frame_owner & (GS_FRAME_HEAD - 1)] >= c->owner_cstack)
		return 0;
	if (n >= GS_PY_MAX_FRAMES)
		return 1;
	code = stk_code_word(c, code);
	s->rec.data[(n * 2) & (GS_PY_MAX_FRAMES * 2 - 1)] = code;
	s->rec.data[(n * 2 + 1) & (GS_PY_MAX_FRAMES * 2 - 1)] = instr;
	w->h = stk_mix(stk_mix(w->h, code), instr);
	w->n = n + 1;
	return 0;
}

/*
 * Walk the frames of TSTATE into S->rec and intern them. Returns the id, 0
 * when the thread runs no Python code.
 */
static __always_inline u64 stk_walk(struct stk_scratch *s,
				    const struct gs_pyconf *c, u64 tstate,
				    u32 tgid)
{
	struct gs_stack_rec *rec = &s->rec;
	struct stk_walk w = {
		.s = s,
		.c = c,
		.frame = stk_top_frame(c, tstate),
		.h = stk_mix(0x67696c73, tgid),
	};

	bpf_loop(GS_PY_MAX_FRAMES, stk_walk_step, &w, 0);
	if (w.frame && !(w.flags & GS_STACKF_FAULT))
		w.flags |= GS_STACKF_TRUNCATED;
	if (!w.n)
		return 0;
	w.h = stk_mix(w.h, w.flags);
	rec->id = w.h ? w.h : 1;
	rec->tgid = tgid;
	rec->kind = GS_SREC_PYTHON;
	rec->n = w.n;
	rec->flags = w.flags;
	rec->pad = 0;
	stk_intern(s, c, (w.n & (GS_PY_MAX_FRAMES * 2 - 1)) * 2);
	return rec->id;
}

/* Walk a tstate that userspace or an earlier probe named: it must still
 * belong to thread TID (a thread's tstate is freed at its end and the memory
 * may serve another thread's). */
static __always_inline u64 stk_walk_checked(struct stk_scratch *s,
					    const struct gs_pyconf *c,
					    u64 tstate, u32 tid, u32 tgid,
					    u32 *eflags)
{
	u64 owner = 0;

	if (c->tstate_tid != GS_OFF_NONE &&
	    (bpf_probe_read_user(&owner, sizeof(owner),
				 (void *)(tstate + c->tstate_tid)) ||
	     owner != tid)) {
		*eflags |= GS_STKF_STALE;
		return 0;
	}
	return stk_walk(s, c, tstate, tgid);
}

/* The user stack as the kernel unwinds it (frame pointers), interned. */
static __always_inline u64 stk_native(void *ctx, struct stk_scratch *s,
				      u32 tgid, u64 *leaf)
{
	struct gs_stack_rec *rec = &s->rec;
	long len = bpf_get_stack(ctx, rec->data,
				 GS_NATIVE_MAX_FRAMES * sizeof(u64),
				 BPF_F_USER_STACK);
	u64 h = stk_mix(0x6e6174, tgid);
	u32 n;

	if (len <= 0)
		return 0;
	n = len / sizeof(u64);
	*leaf = rec->data[0];
	for (u32 i = 0; i < GS_NATIVE_MAX_FRAMES; i++) {
		if (i >= n)
			break;
		h = stk_mix(h, rec->data[i]);
	}
	rec->id = h ? h : 1;
	rec->tgid = tgid;
	rec->kind = GS_SREC_NATIVE;
	rec->n = n;
	rec->flags = 0;
	rec->pad = 0;
	stk_intern(s, NULL, n & (GS_NATIVE_MAX_FRAMES * 2 - 1));
	return rec->id;
}

static __always_inline bool stk_emit(u32 why, u32 tid, u32 tgid, u64 py,
				     u64 native, u64 leaf, u32 flags)
{
	struct gs_event *e = reserve(GS_EV_STACK, tid, tgid);

	if (!e)
		return false;
	e->a32 = why;
	e->flags = flags;
	e->arg[0] = py;
	e->arg[1] = native;
	e->arg[2] = leaf;
	submit(e);
	return true;
}

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

	if (!c->gil_addr || !c->gil_locked)
		return false;
	bpf_probe_read_user(&locked, sizeof(locked),
			    (void *)(c->gil_addr + c->gil_locked));
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
	t->gil_cond = c->gil_addr ? c->gil_addr + c->gil_cond : 0;
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

	if (!c->gil_addr || c->tstate_tid == GS_OFF_NONE ||
	    gil_last_holder_tid(c->gil_addr + c->gil_last_holder, c->tstate_tid,
				&tstate) != tid)
		return NULL;
	t = stk_thread(tid, true);
	if (t) {
		t->tstate = tstate;
		t->gil_cond = c->gil_addr + c->gil_cond;
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
	if (nr != STK_NR_FUTEX || addr < cond)
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
	if (!c || !c->learn_tstate || !c->gil_addr ||
	    cond != c->gil_addr + c->gil_switch_cond)
		return;
	if (bpf_probe_read_user(&tstate, sizeof(tstate),
				(void *)(c->gil_addr + c->gil_last_holder)) ||
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
