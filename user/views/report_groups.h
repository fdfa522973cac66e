/* SPDX-License-Identifier: GPL-2.0 */
/* The report's thread groups (user/analysis/names.h): one row for many threads. */
#ifndef GS_REPORT_GROUPS_H
#define GS_REPORT_GROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "analysis/analysis.h"
#include "common/json.h"
#include "analysis/names.h"

/* The text report folds a process's groups into rows above this many
 * threads, and shows at most REPORT_MAX_ROWS rows (the longest-lived). */
#define REPORT_FOLD_ABOVE 16
#define REPORT_MAX_ROWS 20

struct group_sum {
	uint64_t life, on_cpu, on_cpu_gil, gil_held, gil_wait, runnable;
	uint64_t blocked, blocked_by[GS_R_COUNT];
	uint64_t vol, invol, migrations;
	uint64_t cpus[4];
};

struct group_spread {
	uint64_t min, p50, p90, max;
};

bool report_folds(const struct an_process *p);
void group_sum(const struct an_process *p, const struct name_group *g,
	       struct group_sum *s);
void group_spread(const struct an_process *p, const struct name_group *g,
		  uint64_t (*figure)(const struct an_thread *t),
		  struct group_spread *out);
uint64_t group_life(const struct an_thread *t);
uint64_t group_gil_wait(const struct an_thread *t);

/* Threads of one pattern and entry function as one text row. */
void report_text_group(FILE *out, const struct an_process *p,
		       const struct name_group *g);
/* Which of the N groups G to show: the REPORT_MAX_ROWS that lived longest
 * (caller frees; NULL without memory). */
bool *report_rows_shown(const struct an_process *p, const struct name_group *g,
			size_t n);

/* "groups": every thread of P in exactly one group, with its sums. */
void report_json_groups(struct json *j, const struct an_process *p);

#endif /* GS_REPORT_GROUPS_H */
