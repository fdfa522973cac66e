/* SPDX-License-Identifier: GPL-2.0 */
/* Flame graph files: folded stacks, speedscope JSON, pprof, SVG. */
#ifndef GS_FLAME_OUT_H
#define GS_FLAME_OUT_H

#include <stdio.h>
#include "views/flame_model.h"

struct fl_info {
	const char *title;   /* "GIL wait: python3 x.py" */
	const char *command; /* the recorded command */
	uint64_t duration_ns;
	uint64_t realtime_at_start_ns;
};

/* What the values of WHAT are called ("GIL wait", "on-CPU" ...). */
const char *fl_what_title(enum fl_what w);

/* `root;...;leaf VALUE` lines, VALUE in microseconds; each thread's values
 * are rounded so that they add up to its total, rounded. */
int flame_write_folded(FILE *out, const struct fl_profile *p);
/* speedscope's file format: one sampled profile per thread, nanoseconds. */
int flame_write_speedscope(FILE *out, const struct fl_profile *p,
			   const struct fl_info *info);
/* pprof (profile.proto), gzip-compressed, values in nanoseconds. */
int flame_write_pprof(FILE *out, const struct fl_profile *p,
		      const struct fl_info *info);
/* One self-contained interactive SVG. */
int flame_write_svg(FILE *out, const struct fl_profile *p,
		    const struct fl_info *info);

#endif /* GS_FLAME_OUT_H */
