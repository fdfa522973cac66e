/* SPDX-License-Identifier: GPL-2.0 */
/* The timeline as Chrome trace event JSON (chrome://tracing, Perfetto). */
#ifndef GS_TIMELINE_JSON_H
#define GS_TIMELINE_JSON_H

#include <stdint.h>
#include <stdio.h>
#include "views/timeline_model.h"

/* The pseudo-process that holds one thread per CPU: above any Linux pid
 * (pid_max is at most 2^22), so it cannot clash with a traced process. */
#define TL_JSON_CPU_PID 4194305u
/* The thread id of a process's "phases" track: no thread's (0 is the
 * kernel's idle task, never a traced thread). */
#define TL_JSON_PHASE_TID 0u

/*
 * Complete events (ph X) for every thread state slice, flow bindings for
 * GIL hand-offs, counters (ph C), a "CPUs" pseudo-process and metadata
 * names and sort order. Times in microseconds with nanosecond decimals.
 * Returns 0 or -errno.
 */
int timeline_json_write(FILE *out, const struct tl_model *m,
			const struct tl_info *info);

/* NS as microseconds with three decimals, exactly. */
void tl_json_us(FILE *out, uint64_t ns);

#endif /* GS_TIMELINE_JSON_H */
