/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The report's phases on a timeline: each phase (views/phases_report.h,
 * struct tl_info's phases) belongs to one of the model's processes.
 */
#ifndef GS_TIMELINE_PHASES_H
#define GS_TIMELINE_PHASES_H

#include <stdint.h>
#include "views/phases_report.h"
#include "views/timeline_model.h"

/* For each of INFO's phases, the index of its process in M's procs, or
 * TL_NONE when M does not draw it; NULL without memory or phases (then
 * *N is 0 only without phases). Free it. */
uint32_t *tl_phase_procs(const struct tl_model *m, const struct tl_info *info,
			 size_t *n);

#endif /* GS_TIMELINE_PHASES_H */
