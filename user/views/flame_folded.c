// SPDX-License-Identifier: GPL-2.0
/* Folded stacks (flamegraph.pl, inferno, speedscope) and speedscope JSON. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/flame_out.h"
#include "common/json.h"

const char *fl_what_title(enum fl_what w)
{
	switch (w) {
	case FL_ONCPU:
		return "on-CPU";
	case FL_GILWAIT:
		return "GIL wait";
	case FL_OFFCPU:
		return "off-CPU";
	default:
		return "wall time";
	}
}

/* ns -> us, rounded to nearest */
static uint64_t us_round(uint64_t ns)
{
	return (ns + 500) / 1000;
}

int flame_write_folded(FILE *out, const struct fl_profile *p)
{
	char text[1024];
	uint64_t cum = 0;
	uint32_t thread = UINT32_MAX;

	/* rows come sorted by thread: round the running sum, not each row,
	 * so that a thread's values add up to its total */
	for (size_t i = 0; i < p->n_rows; i++) {
		const struct fl_row *r = &p->rows[i];
		uint64_t before, value;

		if (r->thread != thread) {
			thread = r->thread;
			cum = 0;
		}
		before = us_round(cum);
		cum += r->ns;
		value = us_round(cum) - before;
		if (!value)
			continue;
		for (uint32_t k = 0; k < r->n; k++) {
			stacktab_frame_text(&p->names.frames[r->fids[k]], text,
					    sizeof(text));
			fprintf(out, "%s%s", k ? ";" : "", text);
		}
		fprintf(out, " %llu\n", (unsigned long long)value);
	}
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------ speedscope */

static void shared_frames(FILE *out, const struct fl_profile *p)
{
	char text[1024];

	fputs("\"shared\":{\"frames\":[", out);
	for (size_t i = 0; i < p->names.n_frames; i++) {
		const struct st_frame *f = &p->names.frames[i];

		fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
		if (f->kind == ST_PYTHON) {
			json_put_string(out, f->name, 0);
			fputs(",\"file\":", out);
			json_put_string(out, f->file, 0);
			fprintf(out, ",\"line\":%d}",
				f->line > 0 ? f->line : 0);
			continue;
		}
		stacktab_frame_text(f, text, sizeof(text));
		json_put_string(out, text, 0);
		if (f->kind == ST_NATIVE) {
			fputs(",\"file\":", out);
			json_put_string(out, f->file, 0);
		}
		fputc('}', out);
	}
	fputs("]}", out);
}

/* Frames of row R past the thread's own frame (and the process frame),
 * which the profile's name says already. */
static uint32_t first_frame(const struct fl_profile *p, const struct fl_row *r,
			    const char *label)
{
	for (uint32_t k = 0; k < r->n; k++)
		if (p->names.frames[r->fids[k]].kind == ST_SYNTH &&
		    !strcmp(p->names.frames[r->fids[k]].name, label))
			return k + 1;
	return 0;
}

/* The rows of thread T: a sampled profile. */
static void thread_profile(FILE *out, const struct fl_profile *p, uint32_t t)
{
	const struct fl_pthread *th = &p->threads[t];
	char name[256];
	bool first = true;

	snprintf(name, sizeof(name), "%s: %s", th->label,
		 fl_what_title(p->what));
	fputs("{\"type\":\"sampled\",\"name\":", out);
	json_put_string(out, name, 0);
	fprintf(out,
		",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%llu,\"samples\":[",
		(unsigned long long)th->ns);
	for (size_t i = 0; i < p->n_rows; i++) {
		const struct fl_row *r = &p->rows[i];

		if (r->thread != t)
			continue;
		fputs(first ? "\n[" : ",\n[", out);
		first = false;
		for (uint32_t k = first_frame(p, r, th->label), c = 0; k < r->n;
		     k++, c++)
			fprintf(out, c ? ",%u" : "%u", r->fids[k]);
		fputc(']', out);
	}
	fputs("],\"weights\":[", out);
	first = true;
	for (size_t i = 0; i < p->n_rows; i++) {
		if (p->rows[i].thread != t)
			continue;
		fprintf(out, first ? "%llu" : ",%llu",
			(unsigned long long)p->rows[i].ns);
		first = false;
	}
	fputs("]}", out);
}

int flame_write_speedscope(FILE *out, const struct fl_profile *p,
			   const struct fl_info *info)
{
	bool first = true;

	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"name\":",
	      out);
	json_put_string(out, info->title, 0);
	fputs(",\"exporter\":\"gilscope " GILSCOPE_VERSION
	      "\",\"activeProfileIndex\":0,\n",
	      out);
	shared_frames(out, p);
	fputs(",\n\"profiles\":[", out);
	for (size_t t = 0; t < p->n_threads; t++) {
		if (!p->threads[t].ns)
			continue;
		fputs(first ? "\n" : ",\n", out);
		first = false;
		thread_profile(out, p, t);
	}
	fputs("]}\n", out);
	return ferror(out) ? -EIO : 0;
}
