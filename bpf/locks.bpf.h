/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Locks: the sem_* call sites of threading locks (3.12 and older), the
 * park and unpark sites of 3.13+, where a C RLock waits, and `--lock
 * ACQUIRE:RELEASE`, a lock of the program's own.
 */
#ifndef GS_LOCKS_BPF_H
#define GS_LOCKS_BPF_H

#include "common.bpf.h"

/* The lock a thread passed to a sem_* call, until the result is tested. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} lock_arg SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(on_sem_call, void *sem)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 addr = (u64)sem;

	if (!traced_proc(id >> 32))
		return 0;
	bpf_map_update_elem(&lock_arg, &tid, &addr, BPF_ANY);
	return 0;
}

/* At the jump after `cmp $-1, %eax` that tests the call's result. */
SEC("uprobe")
int BPF_KPROBE(on_sem_result)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct gs_event *e;
	u64 *addr;

	if (!traced_proc(id >> 32))
		return 0;
	addr = bpf_map_lookup_elem(&lock_arg, &tid);
	if (!addr)
		return 0;
	e = reserve_current(GS_EV_LOCK_ACQUIRE);
	if (!e)
		return 0;
	e->arg[0] = *addr;
	e->a32 = (u32)PT_REGS_RC(ctx);
	e->arg[1] = bpf_get_attach_cookie(ctx);
	submit(e);
	return 0;
}

/* An event TYPE about LOCK at the probed site (its cookie). */
static __always_inline int record_lock_site(struct pt_regs *ctx, u8 type,
					    u64 lock)
{
	struct gs_event *e;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32))
		return 0;
	e = reserve_current(type);
	if (!e)
		return 0;
	e->arg[0] = lock;
	e->arg[1] = bpf_get_attach_cookie(ctx);
	submit(e);
	return 0;
}

/* At `call sem_post`: a lock is released. */
SEC("uprobe")
int BPF_KPROBE(on_sem_post, void *sem)
{
	return record_lock_site(ctx, GS_EV_LOCK_RELEASE, (u64)sem);
}

/*
 * 3.13+: at a `call sem_*wait` of _PySemaphore_Wait (SEM: the waiter's own
 * semaphore), or a `call sem_post` of _PySemaphore_Wakeup (SEM: the
 * waiter's, posted by the waker): the lock the waiter parked on is in its
 * wait_entry, right before SEM. TYPE: LOCK_ACQUIRE (a wait, a32 -1) or
 * LOCK_RELEASE (the waker lets it go).
 */
static __always_inline int record_park(struct pt_regs *ctx, u8 type, u64 sem)
{
	struct gs_event *e;
	u64 lock = 0;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32) ||
	    bpf_probe_read_user(&lock, sizeof(lock),
				(void *)(sem - GS_PARK_ADDR_BEFORE_SEM)))
		return 0;
	e = reserve_current(type);
	if (!e)
		return 0;
	e->a32 = type == GS_EV_LOCK_ACQUIRE ? (u32)-1 : 0;
	e->arg[0] = lock;
	e->arg[1] = bpf_get_attach_cookie(ctx);
	e->arg[2] = sem;
	submit(e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_park_call, void *sem)
{
	return record_park(ctx, GS_EV_LOCK_ACQUIRE, (u64)sem);
}

SEC("uprobe")
int BPF_KPROBE(on_unpark_post, void *sem)
{
	return record_park(ctx, GS_EV_LOCK_RELEASE, (u64)sem);
}

/*
 * At the call in a C RLock's acquire where the thread waits (with the GIL
 * released): LOCK is the lock it will sleep on. Only a contended acquire
 * gets here; an uncontended or recursive one costs nothing.
 */
SEC("uprobe")
int BPF_KPROBE(on_rlock_wait, void *lock)
{
	return record_lock_site(ctx, GS_EV_RLOCK_WAIT, (u64)lock);
}

static __always_inline int record_ulock(struct pt_regs *ctx, u32 step, u64 arg)
{
	struct gs_event *e;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32))
		return 0;
	e = reserve_current(GS_EV_ULOCK);
	if (!e)
		return 0;
	e->a32 = step;
	e->arg[0] = arg;
	submit(e);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(on_ulock_enter, void *lock)
{
	return record_ulock(ctx, GS_ULOCK_WAIT, (u64)lock);
}

SEC("uretprobe")
int BPF_KRETPROBE(on_ulock_return)
{
	return record_ulock(ctx, GS_ULOCK_ACQUIRED, 0);
}

SEC("uprobe")
int BPF_KPROBE(on_ulock_release, void *lock)
{
	return record_ulock(ctx, GS_ULOCK_RELEASE, (u64)lock);
}

#endif /* GS_LOCKS_BPF_H */
