/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Records shared between the BPF programs and userspace.
 *
 * BPF records small facts only: one fixed-size record per scheduler, syscall or
 * interpreter event. Every interpretation (GIL hold, wait, hand-off, blocking
 * reason) happens in userspace from the session file. The layout of struct
 * gs_event is part of the session file format (docs/session-format.md): change
 * it only together with GS_SESSION_VERSION.
 */
#ifndef GILSCOPE_H
#define GILSCOPE_H

#define GS_COMM_LEN 16
#define GS_MAX_TRACED 4096

enum gs_event_type {
	GS_EV_NONE = 0,
	/* sched_switch; tid/tgid = prev, a32 = prev_state,
	 * arg[0] = next tid | next tgid << 32, flags: GS_F_PREEMPT,
	 * GS_F_PREV_TRACED, GS_F_NEXT_TRACED; arg[1] = prev's user
	 * instruction pointer when it is traced and preempted (runnable)
	 * in exact mode, else 0 (also in files before it was written). */
	GS_EV_SWITCH = 1,
	/* sched_waking; tid/tgid = the woken task, arg[0] = waker tid |
	 * waker tgid << 32, a32 = the cpu it last ran on. */
	GS_EV_WAKING = 2,
	/* sched_wakeup / sched_wakeup_new; tid/tgid = the woken task, cpu =
	 * the cpu it was queued on. */
	GS_EV_WAKEUP = 3,
	GS_EV_WAKEUP_NEW = 4,
	/* sched_process_fork; tid/tgid = parent, arg[0] = child tid | child
	 * tgid << 32, arg[1..2] = child comm. */
	GS_EV_FORK = 5,
	/* sched_process_exec; tid/tgid = the task after exec, a32 = old tid,
	 * arg[1..2] = new comm, flags: GS_F_EXEC_HELD. */
	GS_EV_EXEC = 6,
	/* sched_process_exit; a32 = 1 when the whole thread group died,
	 * arg[1..2] = the thread's comm at exit. */
	GS_EV_EXIT = 7,
	/* raw syscall entry; a32 = syscall nr, arg[0..1] = its first two
	 * arguments, arg[2] = third argument for futex, else fd facts
	 * (GS_FD_*). */
	GS_EV_SYS_ENTER = 8,
	/* raw syscall exit; a32 = syscall nr, arg[0] = return value.
	 * --light has no syscall tracepoints: a thread's SYS_ENTER is
	 * written when it is switched out asleep in a call (ts = then) and
	 * its SYS_EXIT, flagged GS_F_AT_SWITCH_IN, when it runs again; the
	 * return value is then unknown (0) and GS_F_WOKEN_BY_OTHER says that
	 * no thread of its own process woke it (a timeout, say). */
	GS_EV_SYS_EXIT = 9,
	/* uprobe at take_gil's entry; arg[0] = first argument (tstate).
	 * With GS_F_TAKE_SITE (gil_method "handoff"): at a `call take_gil`
	 * that ends a probed release, and a32 = what the GIL's memory said
	 * there (GS_TAKE_*), arg[1] = the call's target (take_gil's runtime
	 * address; 0 if unread): a thread preempted with its instruction
	 * pointer there has not entered take_gil yet. */
	GS_EV_GIL_TAKE = 10,
	/* uprobe at a `call pthread_cond_signal` site in the interpreter;
	 * arg[0] = the condition variable's address, arg[1] = the site's
	 * file virtual address. Signals on the GIL's cond mark a release,
	 * on its switch_cond an acquisition. */
	GS_EV_COND_SIGNAL = 11,
	/* The interpreter's own GIL switch counter read from its memory;
	 * arg[0] = switch_number, arg[1] = GIL address, a32 = GS_SNUM_*. */
	GS_EV_SWITCHNUM = 12,
	/* A threading lock (a sem_t) taken or not: uprobe on the conditional
	 * jump that tests sem_trywait/sem_wait/sem_clockwait's result;
	 * arg[0] = the sem_t address, a32 = 0 when it was acquired.
	 * 3.13+, a thread parks (sem_*wait in _PySemaphore_Wait): arg[0] =
	 * the lock it parks on, a32 = -1, arg[2] = the semaphore it sleeps
	 * on (its own). */
	GS_EV_LOCK_ACQUIRE = 13,
	/* sem_post on a threading lock: arg[0] = the sem_t address. 3.13+,
	 * a waiter is unparked (sem_post in _PySemaphore_Wakeup): arg[0] =
	 * the lock it parked on, arg[2] = its semaphore. */
	GS_EV_LOCK_RELEASE = 14,
	/* A lock named with `record --lock ACQUIRE:RELEASE`: a32 =
	 * GS_ULOCK_*, arg[0] = the function's first argument. */
	GS_EV_ULOCK = 15,
	/* Stacks (bpf/stackrec.h): a thread's Python and native stacks at a
	 * moment that decides what its time went to; a32 = GS_STK_* (why),
	 * arg[0] = Python stack id (0: none), arg[1] = native stack id (0:
	 * none), arg[2] = user instruction pointer, flags = GS_STKF_*. The
	 * ids name records of the STACKS chunk (docs/flamegraphs.md). */
	GS_EV_STACK = 16,
	/* `-a` only, never in a session file: a process that is not traced
	 * exec'd (fields as GS_EV_EXEC). Userspace looks for Python in the
	 * new image; a Python process is traced from then on and this event
	 * goes on as its GS_EV_EXEC. */
	GS_EV_EXEC_UNTRACED = 17,
	/* Never in a session file: a traced process whose interpreter is a
	 * libpython the loader had not mapped at its exec was stopped
	 * (SIGSTOP) at that library's Py_BytesMain, before the interpreter
	 * starts: userspace finds the GIL now and continues it. */
	GS_EV_MAIN_HELD = 18,
	/* A thread is about to wait for a C threading.RLock (_thread.RLock):
	 * uprobe at the call in its acquire that waits (GIL released),
	 * user/record/rlocksites.c; arg[0] = the lock it waits on, as its
	 * waits name it (the sem_t; 3.14+: the PyMutex), arg[1] = the
	 * site's file virtual address. */
	GS_EV_RLOCK_WAIT = 19,
	GS_EV_MAX
};

/* flags */
#define GS_F_PREEMPT 0x1
#define GS_F_PREV_TRACED 0x2
#define GS_F_NEXT_TRACED 0x4
/* GS_EV_SYS_EXIT (--light) */
#define GS_F_AT_SWITCH_IN 0x8
#define GS_F_WOKEN_BY_OTHER 0x10
/* GS_EV_WAKING (--light): the waker was inside a futex call */
#define GS_F_WAKER_IN_FUTEX 0x20
/* GS_EV_SYS_ENTER (hand-off probes): the thread did not hold the GIL when
 * it entered the call (it let it go before, unseen); GS_EV_SWITCH: PREV
 * left the CPU without the GIL (not set when it exits) */
#define GS_F_GIL_FREE 0x40
/* GS_EV_SWITCH: PREV left the CPU holding the GIL (locked, and its
 * last_holder is PREV's thread state), as read with GS_F_GIL_FREE */
#define GS_F_GIL_MINE 0x8
/* GS_EV_SWITCH: PREV left asleep on the GIL's cond with the stacks of its
 * last GS_EV_STACK event, which stands for this switch-out too (no event of
 * its own: the same Python stack waits for the GIL again) */
#define GS_F_STACK_SAME 0x80

/* GS_EV_EXEC: the process was stopped (SIGSTOP) at its exec, before its
 * first instruction, because the new image may be a Python interpreter: the
 * recorder inspects and probes it, then continues it (SIGCONT) */
#define GS_F_EXEC_HELD 0x1
/* GS_EV_EXIT: the thread left by its own exit call (a thread that ends,
 * or the one that calls exit_group), not killed by its process's end */
#define GS_F_EXIT_BY_CALL 0x1

/* GS_EV_GIL_TAKE: at a `call take_gil` site, not take_gil's entry */
#define GS_F_TAKE_SITE 0x1

/* a32 of GS_EV_GIL_TAKE with GS_F_TAKE_SITE */
enum gs_take_state {
	GS_TAKE_HELD = 0,	/* locked by another thread: it waits */
	GS_TAKE_FREE_MINE = 1,	/* free, and this thread held it last: it
				 * takes it back at once (no hand-off) */
	GS_TAKE_FREE_OTHER = 2, /* free, another held it last: the hand-off
				 * probe fires when it takes it */
	GS_TAKE_UNKNOWN = 3,	/* the GIL's memory could not be read */
};

/* a32 of GS_EV_SWITCHNUM: when the counter was read */
enum gs_switchnum_when {
	GS_SNUM_FORK = 1, /* parent's value, inherited by the child */
	GS_SNUM_EXIT = 2, /* at exit_group */
};

/* a32 of GS_EV_ULOCK */
enum gs_ulock_step {
	GS_ULOCK_WAIT = 0,     /* the acquire function was entered */
	GS_ULOCK_ACQUIRED = 1, /* it returned */
	GS_ULOCK_RELEASE = 2,  /* the release function was entered */
};

/* File kinds reported in arg[2] of GS_EV_SYS_ENTER for fd syscalls:
 * bits 0-31 the fd looked at (or -1), bits 32-39 the kind, bit 40 tty. */
enum gs_fd_kind {
	GS_FD_NONE = 0,
	GS_FD_REG = 1,
	GS_FD_FIFO = 2,
	GS_FD_SOCK = 3,
	GS_FD_CHR = 4,
	GS_FD_OTHER = 5,
};
#define GS_FD_TTY_BIT (1ULL << 40)

/* CPython 3.13-3.15's struct wait_entry (Python/parking_lot.c): the
 * address a thread parks on lies this far before its semaphore. */
#define GS_PARK_ADDR_BEFORE_SEM 8

/* 48 bytes, naturally aligned: the unit of the ring buffer and the file. */
struct gs_event {
	unsigned long long ts; /* CLOCK_MONOTONIC ns */
	unsigned int tid;
	unsigned int tgid;
	unsigned char type;
	unsigned char flags;
	unsigned short cpu;
	unsigned int a32;
	unsigned long long arg[3];
};

/* An offset gilscope does not know. */
#define GS_OFF_NONE 0xffff

/*
 * Where a process's GIL is and how to read who holds it: in the traced map
 * (gs_proc) and in the stack walker's (gs_pyconf), filled by one function
 * (pyver_gil_layout(), user/record/pyver.c).
 */
struct gs_gil {
	unsigned long long addr; /* its runtime address, 0: not known */
	unsigned short last_holder_off, locked_off;
	/* PyThreadState.native_thread_id, GS_OFF_NONE: not known */
	unsigned short tstate_tid_off;
	unsigned short pad;
};

/* Value of the traced-process map, keyed by tgid. */
struct gs_proc {
	/* runtime address of the GIL's switch_number, 0 while unknown */
	unsigned long long switch_number_addr;
	/* hand-off probes only ("handoff"), to tell at a syscall's entry
	 * whether the thread holds the GIL (GS_F_GIL_FREE); addr 0: not
	 * done */
	struct gs_gil gil;
	/* 1: stop the process at its libpython's Py_BytesMain (the GIL is not
	 * known yet: the library was not mapped at the exec) */
	unsigned int hold_at_main;
	unsigned int pad;
};

#endif /* GILSCOPE_H */
