/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Each traced thread's slot (task storage): the system call it is in, held
 * back until it blocks (exact mode) or read at its switch-out (--light), and
 * its process's GIL, to tell at a call's entry whether it holds the GIL.
 */
#ifndef GS_SLOT_BPF_H
#define GS_SLOT_BPF_H

#include "common.bpf.h"

/*
 * Exact mode: a syscall other than futex and exit_group is written only if
 * the thread blocks in it. Its entry waits here (with its own timestamp)
 * until the thread is switched out inside it; a call that returns without
 * blocking costs one task-storage write and no ring-buffer record.
 *
 * --light attaches no syscall tracepoint at all (even one that only
 * filters costs ~85 ns per call, a third of an uncontended os.read()): the
 * call a thread sleeps in is read from its registers at the switch-out
 * (SYSCALL_ASLEEP), and its return is written when it runs again.
 */
enum { SYSCALL_NONE, SYSCALL_HELD, SYSCALL_WRITTEN, SYSCALL_ASLEEP };

struct held_syscall {
	u64 ts;
	u64 args[3];
	u32 nr;
	u32 state;
	u32 woken_by_own; /* the last waking was a futex call of its process */
	u32 gil_free;	  /* GS_F_GIL_FREE when it entered this call */
	/* gil_gen + 1 when its process was found to have no GIL to read */
	u32 no_gil_gen;
	struct gs_gil gil; /* its process's GIL (addr 0: not known yet) */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct held_syscall);
} held_syscalls SEC(".maps");

/* Set by userspace before load (--light): take syscalls from the switch;
 * the syscall programs are then not attached at all. */
const volatile bool syscalls_from_switch = false;

/* Bumped by userspace each time it gives a process a GIL to read at system
 * calls (gs_proc.gil.addr): a thread told "none" asks again only then, not
 * at every call (not Python, or Python without hand-off probes). */
__u32 gil_gen = 0;

/*
 * Exact mode: give a traced thread its held_syscalls slot. The slot then
 * marks the thread as traced for the syscall programs, which is cheaper
 * than the traced-process lookup that every syscall on the machine would
 * pay. Threads get it when they are created or first switched.
 */
static __always_inline void adopt_thread(struct task_struct *task)
{
	if (!syscalls_from_switch)
		bpf_task_storage_get(&held_syscalls, task, 0,
				     BPF_LOCAL_STORAGE_GET_F_CREATE);
}

static __always_inline struct held_syscall *held_slot(void)
{
	return bpf_task_storage_get(&held_syscalls, bpf_get_current_task_btf(),
				    0, 0);
}

/*
 * Hand-off probes only ("handoff"): does the current thread hold the GIL?
 * Its take and release around a call are not probed (a uprobe trap costs
 * four times an uncontended os.read()); the GIL says: it holds it when it
 * is locked by a thread state whose native_thread_id is this thread.
 * Returns GS_F_GIL_FREE when it does not, GS_F_GIL_MINE when it does, 0
 * when nobody knows.
 */
static __noinline u32 gil_free_flag(struct held_syscall *h, u32 tid)
{
	struct gs_proc *proc;
	u64 holder, owner;
	int locked = 0;

	if (!h->gil.addr) {
		if (h->no_gil_gen == gil_gen + 1)
			return 0;
		proc = traced_proc(bpf_get_current_pid_tgid() >> 32);
		if (!proc || !proc->gil.addr) {
			h->no_gil_gen = gil_gen + 1;
			return 0;
		}
		h->gil = proc->gil;
	}
	if (bpf_probe_read_user(&locked, sizeof(locked),
				(void *)(h->gil.addr + h->gil.locked_off)))
		return 0;
	if (!locked)
		return GS_F_GIL_FREE;
	owner = gil_last_holder_tid(h->gil.addr + h->gil.last_holder_off,
				    h->gil.tstate_tid_off, &holder);
	if (!owner)
		return 0;
	return owner == tid ? GS_F_GIL_MINE : GS_F_GIL_FREE;
}

#endif /* GS_SLOT_BPF_H */
