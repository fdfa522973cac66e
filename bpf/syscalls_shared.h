/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The x86-64 system calls gilscope knows by number, one list for the probes
 * (bpf/) and userspace (user/common/syscalls.c): each number and its name
 * written once. Included by BPF and C alike (no libc, no vmlinux.h).
 *
 * A blocking reason that needs a new call: its row here, then its case in
 * syscall_reason() (user/common/syscalls.c); GS_CASES_FD_FIRST if the
 * probes should tell what kind of file its first argument is.
 */
#ifndef GS_SYSCALLS_SHARED_H
#define GS_SYSCALLS_SHARED_H

/* X(number, name): the calls userspace names (syscall_name()) */
#define GS_SYSCALLS(X)          \
	X(0, read)              \
	X(1, write)             \
	X(7, poll)              \
	X(16, ioctl)            \
	X(17, pread64)          \
	X(18, pwrite64)         \
	X(19, readv)            \
	X(20, writev)           \
	X(23, select)           \
	X(24, sched_yield)      \
	X(34, pause)            \
	X(35, nanosleep)        \
	X(40, sendfile)         \
	X(42, connect)          \
	X(43, accept)           \
	X(44, sendto)           \
	X(45, recvfrom)         \
	X(46, sendmsg)          \
	X(47, recvmsg)          \
	X(59, execve)           \
	X(61, wait4)            \
	X(73, flock)            \
	X(74, fsync)            \
	X(75, fdatasync)        \
	X(202, futex)           \
	X(230, clock_nanosleep) \
	X(231, exit_group)      \
	X(232, epoll_wait)      \
	X(247, waitid)          \
	X(257, openat)          \
	X(270, pselect6)        \
	X(271, ppoll)           \
	X(281, epoll_pwait)     \
	X(288, accept4)         \
	X(295, preadv)          \
	X(296, pwritev)         \
	X(299, recvmmsg)        \
	X(307, sendmmsg)        \
	X(327, preadv2)         \
	X(328, pwritev2)        \
	X(441, epoll_pwait2)    \
	X(449, futex_waitv)

enum gs_syscall_nr {
#define GS_SYSCALL_NR(nr, name) GS_NR_##name = nr,
	GS_SYSCALLS(GS_SYSCALL_NR)
#undef GS_SYSCALL_NR
	/* the probes' only, not named in sessions' views */
	GS_NR_exit = 60,
};

/*
 * Case labels of the calls whose first argument is the file descriptor
 * the thread may block on: the probes record what kind of file it is
 * (GS_FD_* in arg[2] of GS_EV_SYS_ENTER).
 */
#define GS_CASES_FD_FIRST       \
	case GS_NR_read:        \
	case GS_NR_write:       \
	case GS_NR_ioctl:       \
	case GS_NR_pread64:     \
	case GS_NR_pwrite64:    \
	case GS_NR_readv:       \
	case GS_NR_writev:      \
	case GS_NR_connect:     \
	case GS_NR_accept:      \
	case GS_NR_sendto:      \
	case GS_NR_recvfrom:    \
	case GS_NR_sendmsg:     \
	case GS_NR_recvmsg:     \
	case GS_NR_flock:       \
	case GS_NR_fsync:       \
	case GS_NR_fdatasync:   \
	case GS_NR_epoll_wait:  \
	case GS_NR_epoll_pwait: \
	case GS_NR_accept4:     \
	case GS_NR_preadv:      \
	case GS_NR_pwritev:     \
	case GS_NR_recvmmsg:    \
	case GS_NR_sendmmsg:    \
	case GS_NR_preadv2:     \
	case GS_NR_pwritev2:    \
	case GS_NR_epoll_pwait2

/* Case labels of the calls that wait on the files a set names (poll,
 * select): the probes record the first such file. */
#define GS_CASES_FD_SET    \
	case GS_NR_poll:   \
	case GS_NR_ppoll:  \
	case GS_NR_select: \
	case GS_NR_pselect6

#endif /* GS_SYSCALLS_SHARED_H */
