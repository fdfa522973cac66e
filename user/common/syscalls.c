// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include "gilscope.h"
#include "common/syscalls.h"

static const char *const names[] = {
#define GS_SYSCALL_NAME(nr, name) [nr] = #name,
	GS_SYSCALLS(GS_SYSCALL_NAME)
#undef GS_SYSCALL_NAME
};

const char *syscall_name(int nr)
{
	if (nr < 0 || (size_t)nr >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[nr];
}

bool futex_op_waits(uint64_t op)
{
	switch (op & FUTEX_CMD_MASK) {
	case 0:	 /* FUTEX_WAIT */
	case 6:	 /* FUTEX_LOCK_PI */
	case 9:	 /* FUTEX_WAIT_BITSET */
	case 11: /* FUTEX_WAIT_REQUEUE_PI */
	case 13: /* FUTEX_LOCK_PI2 */
		return true;
	}
	return false;
}

/* Reading or waiting on a file: what kind of wait that is. */
static enum gs_reason fd_reason(uint64_t facts)
{
	int fd = (int)(uint32_t)facts;
	unsigned int kind = (facts >> 32) & 0xff;

	if (fd < 0)
		return GS_R_SLEEP; /* poll/select on no file: a timed sleep */
	if (kind == GS_FD_NONE)	   /* the fd is known, not its kind */
		return fd == 0 ? GS_R_INPUT : GS_R_IO;
	if (kind == GS_FD_SOCK)
		return GS_R_NETWORK;
	if (fd == 0 || (facts & GS_FD_TTY_BIT))
		return GS_R_INPUT;
	return GS_R_IO;
}

enum gs_reason syscall_reason(int nr, uint64_t arg0, uint64_t fd_facts)
{
	(void)arg0;
	switch (nr) {
	case GS_NR_nanosleep:
	case GS_NR_clock_nanosleep:
		return GS_R_SLEEP;
	GS_CASES_FD_SET:
	case GS_NR_read ... GS_NR_write:
	case GS_NR_ioctl ... GS_NR_writev:
	case GS_NR_flock ... GS_NR_fdatasync:
	case GS_NR_preadv ... GS_NR_pwritev:
	case GS_NR_preadv2 ... GS_NR_pwritev2:
		return fd_reason(fd_facts);
	case GS_NR_sendfile ... GS_NR_recvmsg: /* and socket (41) */
	case GS_NR_epoll_wait:
	case GS_NR_epoll_pwait:
	case GS_NR_accept4:
	case GS_NR_recvmmsg:
	case GS_NR_sendmmsg:
	case GS_NR_epoll_pwait2:
		return GS_R_NETWORK;
	case GS_NR_futex:
	case GS_NR_futex_waitv:
		return GS_R_LOCK;
	case GS_NR_openat:
		return GS_R_IO;
	}
	return GS_R_OTHER;
}
