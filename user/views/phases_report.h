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

#endif /* GS_PHASES_REPORT_H */
