/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The output formats of `gilscope flame` and `gilscope timeline`, each a
 * table of rows: the suffixes of OUT that choose a format, its line in the
 * help, and its writer (a file in views/). A new format is its writer and
 * one row; the help and the error for an unknown suffix come from the table.
 */
#ifndef GS_FORMATS_H
#define GS_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "views/flame_out.h"
#include "views/timeline_model.h"

struct out_format {
	const char *suffixes[3]; /* OUT ends with one (any case); the help
				  * names the first */
	const char *help;	 /* what it is, for the help */
	bool with_report;	 /* timeline: it shows the text report */
	union {
		int (*flame)(FILE *out, const struct fl_profile *p,
			     const struct fl_info *info);
		int (*timeline)(FILE *out, const struct tl_model *m,
				const struct tl_info *info);
	} write;
};

#define N_FORMATS(table) (sizeof(table) / sizeof((table)[0]))

/* The row whose suffix ends PATH, or NULL. */
const struct out_format *out_format_of(const struct out_format *v, size_t n,
				       const char *path);
/* The help's lines: "  .svg    an interactive flame graph ...". */
void out_formats_help(FILE *out, const struct out_format *v, size_t n);
/* Say on stderr that PATH names none of them, naming them. */
void out_format_unknown(const struct out_format *v, size_t n, const char *path);

#endif /* GS_FORMATS_H */
