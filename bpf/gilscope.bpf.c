// SPDX-License-Identifier: GPL-2.0
/*
 * gilscope's probes: scheduler and syscall tracepoints for the traced
 * processes, and uprobes on the interpreter's GIL take and the
 * pthread_cond_signal call sites that mark a GIL release and acquisition.
 *
 * Every program only records facts (struct gs_event) into one ring buffer;
 * what cannot be written is counted in lost[].
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "gilscope.h"

#define NR_POLL 7
#define NR_SELECT 23
#define NR_PPOLL 271
#define NR_PSELECT6 270
#define NR_FUTEX 202
#define NR_EXIT 60
#define NR_EXIT_GROUP 231
#define SIGSTOP 19

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFREG 0100000
#define S_IFCHR 0020000
#define S_IFIFO 0010000

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* resized by userspace before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_TRACED);
	__type(key, u32);
	__type(value, struct gs_proc);
} traced SEC(".maps");

/* The lock a thread passed to a sem_* call, until the result is tested. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, u32);
	__type(value, u64);
} lock_arg SEC(".maps");

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
	struct gs_proc gil; /* its process's GIL (gil_addr 0: not known yet) */
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
 * calls (gs_proc.gil_addr): a thread told "none" asks again only then, not
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

/* events that could not be written, by type */
__u64 lost[GS_EV_MAX] = {};

/* Wake the collector only when this much is waiting: a wakeup per event
 * would have the collector preempt the traced threads after every event,
 * each preemption making another event. The collector also drains the
 * buffer on its own timer. Set by userspace before load. */
const volatile __u64 wakeup_bytes = 1 << 20;

static __always_inline struct gs_proc *traced_proc(u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid);
}

/* Keep the compiler from OR-ing two map pointers: the verifier refuses
 * arithmetic on pointers. */
#define opaque(x) asm volatile("" : "+r"(x))

static __always_inline bool is_traced(u32 tgid)
{
	bool yes = traced_proc(tgid) != NULL;

	opaque(yes);
	return yes;
}

static __always_inline struct gs_event *reserve(u8 type, u32 tid, u32 tgid)
{
	struct gs_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost[type], 1);
		return NULL;
	}
	e->ts = bpf_ktime_get_ns();
	e->tid = tid;
	e->tgid = tgid;
	e->type = type;
	e->flags = 0;
	e->cpu = bpf_get_smp_processor_id();
	e->a32 = 0;
	e->arg[0] = 0;
	e->arg[1] = 0;
	e->arg[2] = 0;
	return e;
}

static __always_inline void submit(struct gs_event *e)
{
	u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, waiting >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
							BPF_RB_NO_WAKEUP);
}

static __always_inline struct gs_event *reserve_current(u8 type)
{
	u64 id = bpf_get_current_pid_tgid();

	return reserve(type, (u32)id, id >> 32);
}

/*
 * The GIL's last holder: its PyThreadState (read at LAST_HOLDER, the
 * field's runtime address) into *TSTATE, and that thread state's
 * native_thread_id (at TID_OFF) as the result; 0 when unreadable.
 */
static __always_inline u64 gil_last_holder_tid(u64 last_holder, u32 tid_off,
					       u64 *tstate)
{
	u64 owner = 0;

	*tstate = 0;
	if (bpf_probe_read_user(tstate, sizeof(*tstate), (void *)last_holder) ||
	    !*tstate ||
	    bpf_probe_read_user(&owner, sizeof(owner),
				(void *)(*tstate + tid_off)))
		return 0;
	return owner;
}

/* stacks: Python/native stack walks and the sampler (hooks gs_stk_*) */
#include "stacks.bpf.h"

static __noinline u32 gil_free_flag(struct held_syscall *h, u32 tid);
static __noinline int write_held_syscall(struct task_struct *prev);
static __noinline int write_asleep_syscall(struct task_struct *prev);
static __noinline int write_syscall_return(struct task_struct *next);
static __noinline int note_waker(struct task_struct *p, struct gs_event *e);

/* PREV (current) is preempted: GS_F_GIL_FREE if it does not hold the GIL. */
static __always_inline u32 preempted_gil_free(struct task_struct *prev)
{
	struct held_syscall *h;

	h = bpf_task_storage_get(&held_syscalls, prev, 0, 0);
	return h ? gil_free_flag(h, prev->pid) : 0;
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
	u32 gil_free = 0;

	if (!prev_traced && !next_traced)
		return 0;
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
	/* exact mode: preempted without the GIL? (between drop_gil and a
	 * call, or between a call and take_gil: the GIL is read at calls) */
	if (prev_traced && !syscalls_from_switch && (preempt || !prev_state))
		gil_free = preempted_gil_free(prev);
	e = reserve(GS_EV_SWITCH, prev->pid, prev_tgid);
	if (!e)
		return 0;
	e->a32 = prev_state;
	e->arg[0] = (u64)next->pid | (u64)next_tgid << 32;
	e->flags = (preempt ? GS_F_PREEMPT : 0) |
		   (prev_traced ? GS_F_PREV_TRACED : 0) |
		   (next_traced ? GS_F_NEXT_TRACED : 0) |
		   (stack_same ? GS_F_STACK_SAME : 0) | gil_free;
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

/* Emit the GIL's switch counter, read from the current process's memory. */
static __always_inline void record_switch_number(u64 addr, u32 tid, u32 tgid,
						 u32 when)
{
	struct gs_event *e;
	u64 value;

	if (!addr || bpf_probe_read_user(&value, sizeof(value), (void *)addr))
		return;
	e = reserve(GS_EV_SWITCHNUM, tid, tgid);
	if (!e)
		return;
	e->a32 = when;
	e->arg[0] = value;
	e->arg[1] = addr;
	submit(e);
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
		h->gil.gil_addr = 0;
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
	proc->gil_addr = 0;
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
	return nr == NR_EXIT || nr == NR_EXIT_GROUP;
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

	if (nr == NR_POLL || nr == NR_PPOLL) {
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
	case 0 ... 1:	/* read, write */
	case 16 ... 20: /* ioctl, pread64, pwrite64, readv, writev */
	case 42 ... 47: /* connect, accept, sendto, recvfrom, sendmsg, recvmsg */
	case 73 ... 75:	  /* flock, fsync, fdatasync */
	case 232:	  /* epoll_wait */
	case 281:	  /* epoll_pwait */
	case 288:	  /* accept4 */
	case 295 ... 296: /* preadv, pwritev */
	case 299:	  /* recvmmsg */
	case 307:	  /* sendmmsg */
	case 327 ... 328: /* preadv2, pwritev2 */
	case 441:	  /* epoll_pwait2 */
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
	if (nr == NR_FUTEX)
		e->arg[2] = args[2];
	else if (takes_fd_first(nr))
		e->arg[2] = fd_facts((int)args[0]);
	else if (nr == NR_POLL || nr == NR_PPOLL || nr == NR_SELECT ||
		 nr == NR_PSELECT6)
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
		by_own = regs && syscall_in_progress(regs) == NR_FUTEX;
	}
	h->woken_by_own = by_own;
	if (by_own)
		e->flags |= GS_F_WAKER_IN_FUTEX;
	return 0;
}

/*
 * Hand-off probes only ("handoff"): does the current thread hold the GIL?
 * Its take and release around a call are not probed (a uprobe trap costs
 * four times an uncontended os.read()); the GIL says: it holds it when it
 * is locked by a thread state whose native_thread_id is this thread.
 * Returns GS_F_GIL_FREE when it does not, 0 when it does or nobody knows.
 */
static __noinline u32 gil_free_flag(struct held_syscall *h, u32 tid)
{
	struct gs_proc *proc;
	u64 holder, owner;
	int locked = 0;

	if (!h->gil.gil_addr) {
		if (h->no_gil_gen == gil_gen + 1)
			return 0;
		proc = traced_proc(bpf_get_current_pid_tgid() >> 32);
		if (!proc || !proc->gil_addr) {
			h->no_gil_gen = gil_gen + 1;
			return 0;
		}
		h->gil = *proc;
	}
	if (bpf_probe_read_user(
		    &locked, sizeof(locked),
		    (void *)(h->gil.gil_addr + h->gil.gil_locked_off)))
		return 0;
	if (!locked)
		return GS_F_GIL_FREE;
	owner = gil_last_holder_tid(h->gil.gil_addr +
					    h->gil.gil_last_holder_off,
				    h->gil.tstate_tid_off, &holder);
	if (!owner)
		return 0;
	return owner == tid ? 0 : GS_F_GIL_FREE;
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
	args[2] = nr == NR_FUTEX ? regs->dx : 0;
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
	gil_free = nr == NR_EXIT_GROUP ?
			   0 :
			   gil_free_flag(h, (u32)bpf_get_current_pid_tgid());
	h->gil_free = gil_free;
	/* futex carries the GIL and lock traffic, and a call made without
	 * the GIL marks its release and take: always written */
	if (nr != NR_FUTEX && nr != NR_EXIT_GROUP && !gil_free) {
		hold_syscall(h, nr, regs);
		return 0;
	}
	h->state = SYSCALL_WRITTEN;
	if (nr == NR_EXIT_GROUP)
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

	if (!proc->gil_addr ||
	    bpf_probe_read_user(&locked, sizeof(locked),
				(void *)(proc->gil_addr + proc->gil_locked_off)))
		return GS_TAKE_UNKNOWN;
	if (locked)
		return GS_TAKE_HELD;
	owner = gil_last_holder_tid(proc->gil_addr + proc->gil_last_holder_off,
				    proc->tstate_tid_off, &holder);
	if (!holder)
		return GS_TAKE_FREE_OTHER; /* nobody held it yet */
	return owner == tid ? GS_TAKE_FREE_MINE : GS_TAKE_FREE_OTHER;
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

/* At `call sem_trywait/sem_wait/sem_clockwait`: remember the lock. */
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

/* At `call sem_post`: a lock is released. */
SEC("uprobe")
int BPF_KPROBE(on_sem_post, void *sem)
{
	struct gs_event *e;

	if (!traced_proc(bpf_get_current_pid_tgid() >> 32))
		return 0;
	e = reserve_current(GS_EV_LOCK_RELEASE);
	if (!e)
		return 0;
	e->arg[0] = (u64)sem;
	e->arg[1] = bpf_get_attach_cookie(ctx);
	submit(e);
	return 0;
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
