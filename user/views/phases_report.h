/* SPDX-License-Identifier: GPL-2.0 */
/* Phases in the report: the diagnosis of contended phases with their
 * what-if, the text section and the JSON "phases" array. */
#ifndef GS_PHASES_REPORT_H
#define GS_PHASES_REPORT_H

#include <stdio.h>
#include "common/json.h"
#include "analysis/phases.h"
#include "views/report.h"

/* Findings for the longest contended phases at most: the others are in
 * the phases section, and the diagnosis keeps room for other kinds. */
#define PH_MAX_FINDINGS 2

/*
 * Add a gil-contention finding for each of the PH_MAX_FINDINGS longest
 * contended phases of P (in time order) to OUT[N .. MAX), times from the
 * session's start T0. Returns the new count: N when no phase was
 * contended, or no phases were logged.
 */
int ph_diagnose(const struct ph_log *log, const struct an_process *p,
		uint64_t t0, struct diagnosis *out, int n, int max);
/* The "phases:" section of P's text report (nothing without phases). */
void ph_text(FILE *out, const struct ph_log *log, const struct an_process *p,
	     uint64_t t0);
/* P's "phases" key: an array, empty without phases. */
void ph_json(struct json *j, const struct ph_log *log,
	     const struct an_process *p, uint64_t t0);

#define PH_LINE_LEN 192

/* A phase as the timelines show it: the report's words for it. */
struct ph_item {
	uint32_t pid;
	uint64_t proc_start; /* its process's start_ns (an image of pid) */
	uint64_t start, end;
	char label[16];		/* ph_label() */
	char line[PH_LINE_LEN]; /* the text report's line after the label */
	char diagnosis[768];	/* contended: the gil-contention text, "" */
};

/* Every phase of every process of AN with GIL figures, in the report's
 * order (an->phases NULL: none). *OUT is malloc'd. 0 or -ENOMEM. */
int ph_items(const struct analysis *an, struct ph_item **out, size_t *n);

#endif /* GS_PHASES_REPORT_H */
