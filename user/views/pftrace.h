/* SPDX-License-Identifier: GPL-2.0 */
/* The timeline as a Perfetto trace (protobuf, written by hand). */
#ifndef GS_PFTRACE_H
#define GS_PFTRACE_H

#include <stdio.h>
#include "views/timeline_model.h"

/*
 * Process and thread tracks with one slice per thread state, a flow arrow
 * per GIL hand-off, counter tracks per process, and the recorded scheduler
 * events as ftrace sched_switch/sched_waking for Perfetto's CPU lanes.
 * Timestamps are CLOCK_MONOTONIC, declared so. Returns 0 or -errno.
 */
int pftrace_write(FILE *out, const struct tl_model *m,
		  const struct tl_info *info);

#endif /* GS_PFTRACE_H */
