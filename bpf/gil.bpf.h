/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The GIL's uprobes: take_gil's entry, the `call take_gil` sites that end a
 * probed release (hand-off probes), and the `call pthread_cond_signal`
 * sites that mark a release or a hand-off.
 */
#ifndef GS_GIL_BPF_H
#define GS_GIL_BPF_H

#include "common.bpf.h"
#include "stacks.bpf.h"

SEC("uprobe")
int BPF_KPROBE(on_take_gil, void *tstate)
{
	struct gs_event *e;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32))
		return 0;
	gs_stk_take_gil((u64)tstate); /* stacks: where the GIL wait begins */
	e = reserve_current(GS_EV_GIL_TAKE);
	if (!e)
		return 0;
	e->arg[0] = (u64)tstate;
	submit(e);
	return 0;
}

/* What the GIL's memory says to the current thread, about to take it. */
static __always_inline u32 take_state(const struct gs_proc *proc, u32 tid)
{
	u64 holder, owner;
	int locked = 0;

	if (!proc->gil.addr ||
	    bpf_probe_read_user(&locked, sizeof(locked),
				(void *)(proc->gil.addr + proc->gil.locked_off)))
		return GS_TAKE_UNKNOWN;
	if (locked)
		return GS_TAKE_HELD;
	owner = gil_last_holder_tid(proc->gil.addr + proc->gil.last_holder_off,
				    proc->gil.tstate_tid_off, &holder);
	if (!holder)
		return GS_TAKE_FREE_OTHER; /* nobody held it yet */
	return owner == tid ? GS_TAKE_FREE_MINE : GS_TAKE_FREE_OTHER;
}

/* The address a `call rel32` at the probed instruction goes to (take_gil's
 * first instruction), 0 if unreadable. */
static __always_inline u64 call_target(struct pt_regs *ctx)
{
	u64 site = PT_REGS_IP(ctx);
	s32 rel;

	if (bpf_probe_read_user(&rel, sizeof(rel), (void *)(site + 1)))
		return 0;
	return site + 5 + rel;
}

/* At a `call take_gil` that ends a probed release (hand-off probes): the
 * argument is the thread's PyThreadState. */
SEC("uprobe")
int BPF_KPROBE(on_take_site, void *tstate)
{
	u64 id = bpf_get_current_pid_tgid();
	struct gs_proc *proc = traced_proc(id >> 32);
	struct gs_event *e;

	if (!proc)
		return 0;
	gs_stk_take_gil((u64)tstate); /* stacks: where the GIL wait begins */
	e = reserve_current(GS_EV_GIL_TAKE);
	if (!e)
		return 0;
	e->flags = GS_F_TAKE_SITE;
	e->a32 = take_state(proc, (u32)id);
	e->arg[0] = (u64)tstate;
	e->arg[1] = call_target(ctx);
	submit(e);
	return 0;
}

/* At a `call pthread_cond_signal` instruction: the argument is in rdi. */
SEC("uprobe")
int BPF_KPROBE(on_cond_signal, void *cond)
{
	struct gs_event *e;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32))
		return 0;
	gs_stk_signal((u64)cond); /* stacks: learn tstates without take_gil */
	e = reserve_current(GS_EV_COND_SIGNAL);
	if (!e)
		return 0;
	e->arg[0] = (u64)cond;
	e->arg[1] = bpf_get_attach_cookie(ctx);
	submit(e);
	return 0;
}

#endif /* GS_GIL_BPF_H */
