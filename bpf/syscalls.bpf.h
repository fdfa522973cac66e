/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System calls: the sys_enter/sys_exit tracepoints (exact mode: a call is
 * written only if the thread blocks in it, or it carries GIL and lock
 * traffic), the calls --light reads from a thread's registers at its
 * switch-out, and what kind of file a call waits on.
 */
#ifndef GS_SYSCALLS_BPF_H
#define GS_SYSCALLS_BPF_H

#include "common.bpf.h"
#include "slot.bpf.h"

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define S_IFIFO 0010000

/* What kind of file is behind FD of the current task. */
static __always_inline u64 fd_facts(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	u64 facts = (u32)fd, kind;
	unsigned int max_fds;
	u32 rdev_major;
	umode_t mode;

	max_fds = BPF_CORE_READ(fdt, max_fds);
	if (fd < 0 || (unsigned int)fd >= max_fds)
		return facts;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return facts;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	switch (mode & S_IFMT) {
	case S_IFREG:
		kind = GS_FD_REG;
		break;
	case S_IFIFO:
		kind = GS_FD_FIFO;
		break;
	case S_IFSOCK:
		kind = GS_FD_SOCK;
		break;
	case S_IFCHR:
		kind = GS_FD_CHR;
		break;
	default:
		kind = GS_FD_OTHER;
	}
	facts |= kind << 32;
	if (kind == GS_FD_CHR) {
		/* tty majors: 4 (ttyN), 5 (/dev/tty, ptmx), 136-143 (pts) */
		rdev_major = BPF_CORE_READ(file, f_inode, i_rdev) >> 20;
		if (rdev_major == 4 || rdev_major == 5 ||
		    (rdev_major >= 136 && rdev_major <= 143))
			facts |= GS_FD_TTY_BIT;
	}
	return facts;
}

/* The first fd a poll/select call waits on, or -1 if it waits on none. */
static __always_inline int first_waited_fd(long nr, u64 arg0, u64 arg1)
{
	int fd = -1;

	if (nr == GS_NR_poll || nr == GS_NR_ppoll) {
		if (arg1 == 0 ||
		    bpf_probe_read_user(&fd, sizeof(fd), (void *)arg0))
			return -1;
		return fd;
	}
	/* select(nfds, readfds, ...): lowest set bit of the first word */
	u64 word = 0;

	if (arg1 == 0 || bpf_probe_read_user(&word, sizeof(word), (void *)arg1))
		return -1;
	for (int i = 0; i < 64; i++) {
		if (i >= (int)arg0)
			break;
		if (word & (1ULL << i))
			return i;
	}
	return -1;
}

static __always_inline bool takes_fd_first(long nr)
{
	switch (nr) {
	GS_CASES_FD_FIRST:
		return true;
	}
	return false;
}

/* Write a SYS_ENTER for the current thread; TS 0 means now. */
static __always_inline void write_sys_enter(u64 ts, u32 tid, u32 tgid, long nr,
					    const u64 *args, u32 flags)
{
	struct gs_event *e;

	e = reserve(GS_EV_SYS_ENTER, tid, tgid);
	if (!e)
		return;
	if (ts)
		e->ts = ts;
	e->flags = flags;
	e->a32 = nr;
	e->arg[0] = args[0];
	e->arg[1] = args[1];
	if (nr == GS_NR_futex)
		e->arg[2] = args[2];
	else if (takes_fd_first(nr))
		e->arg[2] = fd_facts((int)args[0]);
	else if (nr == GS_NR_poll || nr == GS_NR_ppoll || nr == GS_NR_select ||
		 nr == GS_NR_pselect6)
		e->arg[2] = fd_facts(first_waited_fd(nr, args[0], args[1]));
	else
		e->arg[2] = (u32)-1;
	submit(e);
}

/*
 * The current thread (PREV, being switched out) is inside a held syscall:
 * write its entry now, with the time it was entered. Runs in PREV's
 * context, so fd_facts() still sees PREV's files.
 */
static __noinline int write_held_syscall(struct task_struct *prev)
{
	struct held_syscall *h;

	h = bpf_task_storage_get(&held_syscalls, prev, 0, 0);
	if (!h || h->state != SYSCALL_HELD)
		return 0;
	h->state = SYSCALL_WRITTEN;
	write_sys_enter(h->ts, prev->pid, prev->tgid, h->nr, h->args,
			h->gil_free);
	return 0;
}

/* Is the current task inside a syscall, and which? (-1: it is not) */
static __always_inline long syscall_in_progress(struct pt_regs *regs)
{
	long nr = BPF_CORE_READ(regs, orig_ax);

	/* the entry code stores -ENOSYS in ax until the call returns; a
	 * page fault or an interrupt leaves orig_ax as an error code or -1
	 * and ax as the user's rax */
	if (nr < 0 || BPF_CORE_READ(regs, ax) != (unsigned long)-38)
		return -1;
	return nr;
}

/* --light: PREV (current) goes to sleep; in a syscall? Write its entry. */
static __noinline int write_asleep_syscall(struct task_struct *prev)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	struct held_syscall *h;
	u64 args[3];
	long nr;

	if (!regs)
		return 0;
	nr = syscall_in_progress(regs);
	if (nr < 0)
		return 0;
	h = bpf_task_storage_get(&held_syscalls, prev, 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!h)
		return 0;
	h->nr = nr;
	h->state = SYSCALL_ASLEEP;
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	write_sys_enter(0, prev->pid, prev->tgid, nr, args, 0);
	return 0;
}

/* --light: NEXT runs again after sleeping in a syscall: write its return. */
static __noinline int write_syscall_return(struct task_struct *next)
{
	struct held_syscall *h;
	struct gs_event *e;

	h = bpf_task_storage_get(&held_syscalls, next, 0, 0);
	if (!h || h->state != SYSCALL_ASLEEP)
		return 0;
	h->state = SYSCALL_NONE;
	e = reserve(GS_EV_SYS_EXIT, next->pid, next->tgid);
	if (!e)
		return 0;
	e->a32 = h->nr;
	e->flags = GS_F_AT_SWITCH_IN |
		   (h->woken_by_own ? 0 : GS_F_WOKEN_BY_OTHER);
	submit(e);
	return 0;
}

/*
 * --light: P is being woken. By a futex call of its own process (the GIL's
 * holder signalling its cond), or by something else (a timer: the wait
 * timed out)? The timer's interrupt may land in a thread of the same
 * process, but not inside its futex call. The last waking before P runs
 * again is the one that woke it; it may come before P's switch-out (P was
 * still on its way to sleep), so it is kept whatever P's state.
 */
static __noinline int note_waker(struct task_struct *p, struct gs_event *e)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct held_syscall *h;
	struct pt_regs *regs;
	u32 by_own = 0;

	h = bpf_task_storage_get(&held_syscalls, p, 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!h)
		return 0;
	if (cur->tgid == p->tgid) {
		regs = (struct pt_regs *)bpf_task_pt_regs(cur);
		by_own = regs && syscall_in_progress(regs) == GS_NR_futex;
	}
	h->woken_by_own = by_own;
	if (by_own)
		e->flags |= GS_F_WAKER_IN_FUTEX;
	return 0;
}

/* Hold this call back (see held_syscalls) in slot H. */
static __always_inline void hold_syscall(struct held_syscall *h, long nr,
					 struct pt_regs *regs)
{
	h->ts = bpf_ktime_get_ns();
	h->nr = nr;
	h->args[0] = regs->di; /* tp_btf: a trusted pointer, read directly */
	h->args[1] = regs->si;
	h->state = SYSCALL_HELD;
}

static __always_inline void write_sys_enter_now(struct pt_regs *regs, long nr,
						u32 flags)
{
	u64 id = bpf_get_current_pid_tgid();
	u64 args[3];

	args[0] = regs->di;
	args[1] = regs->si;
	args[2] = nr == GS_NR_futex ? regs->dx : 0;
	write_sys_enter(0, (u32)id, id >> 32, nr, args, flags);
}

static __always_inline void record_exit_group_switch_number(void)
{
	u64 id = bpf_get_current_pid_tgid();
	struct gs_proc *proc = traced_proc(id >> 32);

	if (proc)
		record_switch_number(proc->switch_number_addr, (u32)id,
				     id >> 32, GS_SNUM_EXIT);
}

/* Exact mode only (--light does not attach it): a thread without a slot is
 * not traced. */
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long nr)
{
	struct held_syscall *h = held_slot();
	u32 gil_free;

	if (!h)
		return 0;
	gil_free = nr == GS_NR_exit_group ?
			   0 :
			   gil_free_flag(h, (u32)bpf_get_current_pid_tgid()) &
				   GS_F_GIL_FREE;
	h->gil_free = gil_free;
	/* futex carries the GIL and lock traffic, and a call made without
	 * the GIL marks its release and take: always written */
	if (nr != GS_NR_futex && nr != GS_NR_exit_group && !gil_free) {
		hold_syscall(h, nr, regs);
		return 0;
	}
	h->state = SYSCALL_WRITTEN;
	if (nr == GS_NR_exit_group)
		record_exit_group_switch_number();
	write_sys_enter_now(regs, nr, gil_free);
	return 0;
}

/* Was this call's entry written? Forget it either way. */
static __always_inline bool entry_was_written(void)
{
	struct held_syscall *h = held_slot();
	bool written;

	if (!h)
		return false;
	written = h->state == SYSCALL_WRITTEN;
	h->state = SYSCALL_NONE;
	return written;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	struct gs_event *e;

	if (!entry_was_written()) /* exact mode only, as on_sys_enter */
		return 0;
	e = reserve(GS_EV_SYS_EXIT, (u32)id, id >> 32);
	if (!e)
		return 0;
	e->a32 = regs->orig_ax;
	e->arg[0] = ret;
	submit(e);
	return 0;
}

#endif /* GS_SYSCALLS_BPF_H */
