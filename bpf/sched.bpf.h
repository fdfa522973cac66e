/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The scheduler's tracepoints for the traced processes: switches (with the
 * call a thread sleeps in and whether it holds the GIL), wakings, wakeups,
 * fork, exec (a Python image is held until the recorder has probed it) and
 * exit.
 */
#ifndef GS_SCHED_BPF_H
#define GS_SCHED_BPF_H

#include "common.bpf.h"
#include "slot.bpf.h"
#include "stacks.bpf.h"
#include "syscalls.bpf.h"

#define SIGSTOP 19

/* The task the last recorded switch on this CPU switched to (tid + 1). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u32);
} cpu_next SEC(".maps");

/* Switch-ins the kernel did not report: a traced thread leaves a CPU whose
 * last switch went to another task. Seen on a VM whose agent's threads
 * switch out without the tracepoint (docs/accuracy.md); the thread's time
 * before its first event then reads as runnable. */
__u64 unseen_switch_ins = 0;

static __always_inline void check_switch_in(struct task_struct *prev,
					    struct task_struct *next,
					    bool prev_traced)
{
	u32 zero = 0, *last = bpf_map_lookup_elem(&cpu_next, &zero);

	if (!last)
		return;
	if (prev_traced && *last && *last != (u32)prev->pid + 1)
		__sync_fetch_and_add(&unseen_switch_ins, 1);
	*last = (u32)next->pid + 1;
}

/* PREV (current) leaves the CPU: GS_F_GIL_FREE if it does not hold the GIL,
 * GS_F_GIL_MINE if it does. */
static __always_inline u32 switch_gil_flags(struct task_struct *prev)
{
	struct held_syscall *h;

	h = bpf_task_storage_get(&held_syscalls, prev, 0, 0);
	return h ? gil_free_flag(h, prev->pid) : 0;
}

/*
 * Where PREV's user code stands (its user registers), 0 if unreadable.
 * A thread preempted on its way back from a breakpoint trap (another
 * tool's uprobe), before the probe's handler ran, has its instruction
 * pointer one past the int3: it stands at the breakpoint, and has not
 * run the probed instruction (the trap's exit preempts before it runs
 * uprobe handlers).
 */
static __always_inline u64 user_ip(struct task_struct *prev)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(prev);
	u8 op = 0;
	u64 ip;

	if (!regs)
		return 0;
	ip = BPF_CORE_READ(regs, ip);
	if (ip && !bpf_probe_read_user(&op, 1, (void *)(ip - 1)) && op == 0xcc)
		ip--;
	return ip;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next, unsigned int prev_state)
{
	u32 prev_tgid = prev->tgid, next_tgid = next->tgid;
	bool prev_traced = is_traced(prev_tgid);
	bool next_traced = is_traced(next_tgid);
	bool stack_same = false;
	struct gs_event *e;
	u32 gil_flags = 0;

	if (!prev_traced && !next_traced)
		return 0;
	check_switch_in(prev, next, prev_traced);
	if (prev_traced) /* stacks: the stack it leaves with, before the switch */
		stack_same = gs_stk_switch(ctx, prev, prev_state, preempt);
	/* a call it sleeps (or is preempted) in is written, its entry
	 * before this switch */
	if (prev_traced && !syscalls_from_switch)
		write_held_syscall(prev);
	if (prev_traced && syscalls_from_switch && prev_state &&
	    !(prev_state & STK_TASK_DEAD))
		write_asleep_syscall(prev);
	if (prev_traced)
		adopt_thread(prev);
	if (next_traced)
		adopt_thread(next);
	/* exact mode: off CPU without the GIL? (preempted between drop_gil
	 * and a call, or between a call and take_gil: the GIL is read at
	 * calls; or asleep outside a call, in a page fault or a probe's trap,
	 * at the same places) */
	if (prev_traced && !syscalls_from_switch &&
	    !(prev_state & STK_TASK_DEAD))
		gil_flags = switch_gil_flags(prev);
	e = reserve(GS_EV_SWITCH, prev->pid, prev_tgid);
	if (!e)
		return 0;
	e->a32 = prev_state;
	e->arg[0] = (u64)next->pid | (u64)next_tgid << 32;
	/* preempted: in take_gil already, or only at its call? */
	if (prev_traced && !syscalls_from_switch && (preempt || !prev_state))
		e->arg[1] = user_ip(prev);
	e->flags = (preempt ? GS_F_PREEMPT : 0) |
		   (prev_traced ? GS_F_PREV_TRACED : 0) |
		   (next_traced ? GS_F_NEXT_TRACED : 0) |
		   (stack_same ? GS_F_STACK_SAME : 0) | gil_flags;
	submit(e);
	/* --light: back from the call it slept in, after the switch-in */
	if (next_traced && syscalls_from_switch)
		write_syscall_return(next);
	return 0;
}

SEC("tp_btf/sched_waking")
int BPF_PROG(on_waking, struct task_struct *p)
{
	struct gs_event *e;

	if (!traced_proc(p->tgid))
		return 0;
	e = reserve(GS_EV_WAKING, p->pid, p->tgid);
	if (!e)
		return 0;
	e->arg[0] = bpf_get_current_pid_tgid(); /* tgid << 32 | tid: ours */
	e->a32 = BPF_CORE_READ(p, wake_cpu);
	if (syscalls_from_switch)
		note_waker(p, e);
	submit(e);
	return 0;
}

static __always_inline int record_wakeup(u8 type, struct task_struct *p)
{
	struct gs_event *e;

	if (!traced_proc(p->tgid))
		return 0;
	e = reserve(type, p->pid, p->tgid);
	if (!e)
		return 0;
	/* the run queue it was put on, not the cpu running this probe */
	e->cpu = BPF_CORE_READ(p, wake_cpu);
	submit(e);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	return record_wakeup(GS_EV_WAKEUP, p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(on_wakeup_new, struct task_struct *p)
{
	if (is_traced(p->tgid))
		adopt_thread(p);
	return record_wakeup(GS_EV_WAKEUP_NEW, p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 child_tgid = child->tgid;
	struct gs_proc *proc;
	struct gs_event *e;

	proc = traced_proc(parent->tgid);
	if (!proc)
		return 0;
	e = reserve(GS_EV_FORK, parent->pid, parent->tgid);
	if (e) {
		e->arg[0] = (u64)child->pid | (u64)child_tgid << 32;
		bpf_probe_read_kernel_str(&e->arg[1], GS_COMM_LEN, child->comm);
		submit(e);
	}
	if (child_tgid != parent->tgid) {
		/* a new process: follow it; it inherits the parent's
		 * memory image, so the GIL sits at the same address and the
		 * counter starts from the parent's value (after the fork
		 * event, so that the child is known when it arrives) */
		struct gs_proc copy = *proc;

		bpf_map_update_elem(&traced, &child_tgid, &copy, BPF_ANY);
		gs_stk_fork(parent->pid, parent->tgid, child->pid,
			    child_tgid); /* stacks */
		record_switch_number(copy.switch_number_addr, child->pid,
				     child_tgid, GS_SNUM_FORK);
	}
	return 0;
}

/* Set by userspace before load (`-a`): every exec on the machine is told
 * (GS_EV_EXEC_UNTRACED), so that Python started later is found; an exec is
 * rare enough for one record each. */
const volatile bool report_all_execs = false;

static __always_inline void report_untraced_exec(struct task_struct *p,
						 pid_t old_pid)
{
	struct gs_event *e;

	e = reserve(GS_EV_EXEC_UNTRACED, p->pid, p->tgid);
	if (!e)
		return;
	e->a32 = old_pid;
	bpf_probe_read_kernel_str(&e->arg[1], GS_COMM_LEN, p->comm);
	/* looked at at once: the image must be read while it runs */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

/* The thread that execs keeps its slot, not its old image's GIL. */
static __always_inline void forget_gil(struct task_struct *task)
{
	struct held_syscall *h;

	h = bpf_task_storage_get(&held_syscalls, task, 0, 0);
	if (h) {
		h->gil.addr = 0;
		h->no_gil_gen = 0;
	}
}

/*
 * Could the image a task execs be a Python interpreter? Its file's name
 * (the interpreter's, for a #! script) starts with "python".
 */
static __always_inline bool may_be_python(struct linux_binprm *bprm)
{
	const unsigned char *name =
		BPF_CORE_READ(bprm, file, f_path.dentry, d_name.name);
	char head[8] = {};

	bpf_probe_read_kernel_str(head, sizeof(head), name);
	return head[0] == 'p' && head[1] == 'y' && head[2] == 't' &&
	       head[3] == 'h' && head[4] == 'o' && head[5] == 'n';
}

/*
 * Stop the current process (it has just exec'd, and runs no instruction of
 * the new image before the signal is delivered) until the recorder has
 * found its interpreter and GIL and probed them: nothing of its start is
 * missed, however long that takes. The recorder continues it.
 */
static __always_inline bool hold_at_exec(struct linux_binprm *bprm)
{
	return may_be_python(bprm) && !bpf_send_signal(SIGSTOP);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct gs_proc *proc;
	struct gs_event *e;

	proc = traced_proc(p->tgid);
	if (!proc) {
		if (report_all_execs)
			report_untraced_exec(p, old_pid);
		return 0;
	}
	/* a new image: userspace finds its interpreter again */
	proc->switch_number_addr = 0;
	proc->gil.addr = 0;
	forget_gil(p);
	gs_stk_exec(p->pid, old_pid); /* stacks: its tstate is gone */
	e = reserve(GS_EV_EXEC, p->pid, p->tgid);
	if (!e)
		return 0;
	/* only with the event written: the recorder continues what it
	 * stopped when it reads the event */
	e->a32 = old_pid;
	e->flags = hold_at_exec(bprm) ? GS_F_EXEC_HELD : 0;
	bpf_probe_read_kernel_str(&e->arg[1], GS_COMM_LEN, p->comm);
	/* the collector inspects the new image at once: a short-lived
	 * process may be gone after the usual drain interval */
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/*
 * At a libpython's Py_BytesMain (every process that maps it): a traced
 * process that exec'd before its loader mapped that library is stopped
 * here, once, before its interpreter starts, until the recorder has found
 * the GIL in the mapped library (GS_EV_MAIN_HELD) and continues it.
 */
SEC("uprobe")
int BPF_KPROBE(on_py_main)
{
	u64 id = bpf_get_current_pid_tgid();
	struct gs_proc *proc = traced_proc(id >> 32);
	struct gs_event *e;

	if (!proc || !proc->hold_at_main)
		return 0;
	proc->hold_at_main = 0;
	/* no stop the recorder would not hear of */
	e = reserve_current(GS_EV_MAIN_HELD);
	if (!e)
		return 0;
	if (bpf_send_signal(SIGSTOP)) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* Is the exiting task (current) leaving by its own exit or exit_group
 * call? A thread that the end of its process kills is elsewhere: in user
 * code (orig_ax -1) or in the call a signal interrupted. */
static __always_inline bool exits_by_call(struct task_struct *p)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
	long nr;

	if (!regs)
		return false;
	nr = BPF_CORE_READ(regs, orig_ax);
	return nr == GS_NR_exit || nr == GS_NR_exit_group;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p, bool group_dead)
{
	u32 tgid = p->tgid;
	struct gs_event *e;

	if (!traced_proc(tgid))
		return 0;
	e = reserve(GS_EV_EXIT, p->pid, tgid);
	if (e) {
		e->a32 = group_dead;
		e->flags = exits_by_call(p) ? GS_F_EXIT_BY_CALL : 0;
		/* its final name: programs may rename threads after fork */
		bpf_probe_read_kernel_str(&e->arg[1], GS_COMM_LEN, p->comm);
		submit(e);
	}
	if (group_dead) {
		/* --light has no sys_enter to read it at exit_group */
		if (syscalls_from_switch) {
			struct gs_proc *proc = traced_proc(tgid);

			if (proc)
				record_switch_number(proc->switch_number_addr,
						     p->pid, tgid,
						     GS_SNUM_EXIT);
		}
		bpf_map_delete_elem(&traced, &tgid);
	}
	gs_stk_exit(p->pid, tgid, group_dead); /* stacks: forget the thread */
	return 0;
}

#endif /* GS_SCHED_BPF_H */
