/* SPDX-License-Identifier: GPL-2.0 */
/* How syscalls map to blocking reasons (common/reasons.h). */
#ifndef GS_SYSCALLS_H
#define GS_SYSCALLS_H

#include <stdbool.h>
#include <stdint.h>
#include "syscalls_shared.h"
#include "common/reasons.h"

#define SYS_FUTEX GS_NR_futex
#define SYS_CLOCK_NANOSLEEP GS_NR_clock_nanosleep
#define TIMER_ABSTIME 1
#define SYS_FUTEX_WAITV GS_NR_futex_waitv
#define FUTEX_CMD_MASK 0x7f /* without PRIVATE (128), CLOCK_REALTIME (256) */
#define FUTEX_WAIT_BITSET 9

/* Syscall NR's name ("read"), or NULL when unknown to gilscope. */
const char *syscall_name(int nr);

/* The futex op waits (FUTEX_WAIT, WAIT_BITSET, LOCK_PI, WAIT_REQUEUE_PI...). */
bool futex_op_waits(uint64_t op);

/*
 * Why a thread sleeping in syscall NR is blocked, given the first argument
 * and the fd facts the probe recorded (GS_FD_* in arg[2] of GS_EV_SYS_ENTER).
 * Futexes are decided by the caller, who knows the GIL's addresses.
 */
enum gs_reason syscall_reason(int nr, uint64_t arg0, uint64_t fd_facts);

#endif /* GS_SYSCALLS_H */
