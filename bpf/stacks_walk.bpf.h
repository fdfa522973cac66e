/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Python stacks, walked in BPF at moments that already cost a probe hit,
 * and an on-CPU sampler. The walker (this file) and the hooks the
 * other programs call, gs_stk_* (stacks.bpf.h).
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
#ifndef GS_STACKS_WALK_BPF_H
#define GS_STACKS_WALK_BPF_H

#include "common.bpf.h"
#include "stackrec.h"

#define STK_TASK_DEAD 0x80
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

	if (c->gil.tstate_tid_off != GS_OFF_NONE &&
	    (bpf_probe_read_user(&owner, sizeof(owner),
				 (void *)(tstate + c->gil.tstate_tid_off)) ||
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

#endif /* GS_STACKS_WALK_BPF_H */
