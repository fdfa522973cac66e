// SPDX-License-Identifier: GPL-2.0
/*
 * gilscope's probes: scheduler and syscall tracepoints for the traced
 * processes, uprobes on the interpreter's GIL take and the
 * pthread_cond_signal call sites that mark a GIL release and acquisition,
 * lock probes, and Python stacks.
 *
 * Every program only records facts (struct gs_event) into one ring buffer;
 * what cannot be written is counted in lost[]. One object, one skeleton:
 * each header below holds the programs of one job and includes what it
 * uses (common.bpf.h: maps and event writing; slot.bpf.h: each thread's
 * slot).
 */
#include "common.bpf.h"
#include "sched.bpf.h"
#include "syscalls.bpf.h"
#include "gil.bpf.h"
#include "locks.bpf.h"
#include "stacks.bpf.h"

char LICENSE[] SEC("license") = "GPL";
