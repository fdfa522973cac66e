/* SPDX-License-Identifier: GPL-2.0 */
/* The report: text and JSON views of an analysis, with a diagnosis. */
#ifndef GS_REPORT_H
#define GS_REPORT_H

#include <stdint.h>
#include <stdio.h>
#include "analysis/analysis.h"
#include "analysis/diagnosis.h"
#include "session/session.h"

/* The plain-language findings for one process, most important first
 * (analysis/diagnosis.c), with those of its contended phases. */
int diagnose(const struct analysis *an, const struct an_process *p,
	     struct diagnosis *out, int max);

/* A duration as the text report writes it: "1.234 s", "12.3 ms", "45 us". */
const char *report_ns(char *buf, size_t len, uint64_t ns);

/* A blocking reason as the text report names it ("futex" for a lock wait
 * of a process whose GIL is not traced). */
const char *report_reason(const struct an_process *p, int r);

void report_text(FILE *out, const struct session_summary *s,
		 const struct analysis *an);
void report_json(FILE *out, const struct session_summary *s,
		 const struct analysis *an);

#endif /* GS_REPORT_H */
