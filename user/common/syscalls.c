// SPDX-License-Identifier: GPL-2.0
#include <stddef.h>
#include "gilscope.h"
#include "common/syscalls.h"

static const char *const names[] = {
	[0] = "read",		[1] = "write",
	[7] = "poll",		[16] = "ioctl",
	[17] = "pread64",	[18] = "pwrite64",
	[19] = "readv",		[20] = "writev",
	[23] = "select",	[24] = "sched_yield",
	[34] = "pause",		[35] = "nanosleep",
	[40] = "sendfile",	[42] = "connect",
	[43] = "accept",	[44] = "sendto",
	[45] = "recvfrom",	[46] = "sendmsg",
	[47] = "recvmsg",	[59] = "execve",
	[61] = "wait4",		[73] = "flock",
	[74] = "fsync",		[75] = "fdatasync",
	[202] = "futex",	[230] = "clock_nanosleep",
	[231] = "exit_group",	[232] = "epoll_wait",
	[247] = "waitid",	[257] = "openat",
	[270] = "pselect6",	[271] = "ppoll",
	[281] = "epoll_pwait",	[288] = "accept4",
	[295] = "preadv",	[296] = "pwritev",
	[299] = "recvmmsg",	[307] = "sendmmsg",
	[327] = "preadv2",	[328] = "pwritev2",
	[441] = "epoll_pwait2", [449] = "futex_waitv",
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
	case 35:  /* nanosleep */
	case 230: /* clock_nanosleep */
		return GS_R_SLEEP;
	case 7:	  /* poll */
	case 23:  /* select */
	case 270: /* pselect6 */
	case 271: /* ppoll */
	case 0 ... 1:
	case 16 ... 20:
	case 73 ... 75:
	case 295 ... 296:
	case 327 ... 328:
		return fd_reason(fd_facts);
	case 40 ... 47: /* sendfile, sockets */
	case 232:	/* epoll_wait */
	case 281:	/* epoll_pwait */
	case 288:	/* accept4 */
	case 299:	/* recvmmsg */
	case 307:	/* sendmmsg */
	case 441:	/* epoll_pwait2 */
		return GS_R_NETWORK;
	case SYS_FUTEX:
	case SYS_FUTEX_WAITV:
		return GS_R_LOCK;
	case 257: /* openat */
		return GS_R_IO;
	}
	return GS_R_OTHER;
}
