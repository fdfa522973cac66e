// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/phases_report.h"

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

static uint64_t len_of(const struct phase *ph)
{
	return ph->end - ph->start;
}

/* Seconds from the session's start (0 for a process there before it). */
static double at_s(uint64_t ts, uint64_t t0)
{
	return ts > t0 ? (ts - t0) / 1e9 : 0.0;
}

static double cpus_busy(const struct phase *ph)
{
	return len_of(ph) ? (double)ph->on_cpu / len_of(ph) : 0.0;
}

static int phases_of(const struct ph_log *log, const struct an_process *p,
		     struct ph_phases *ph)
{
	if (!log || ph_compute(log, p, ph)) {
		memset(ph, 0, sizeof(*ph));
		return -1;
	}
	return 0;
}

static void contention_summary(char *buf, size_t len, const struct phase *ph,
			       int ncpus, uint64_t t0)
{
	uint64_t d = len_of(ph);

	snprintf(
		buf, len,
		"From %.3f s to %.3f s (%.3f s), %d threads wanted the GIL and waited %.0f %% of that time for it; it was held %.0f %% of the phase and the process used %.1f CPU of %d. Without the GIL as the bottleneck (processes, or native code that releases it) the phase would take about %.3f s: %.3f s less.",
		at_s(ph->start, t0), at_s(ph->end, t0), d / 1e9, ph->members,
		pct(ph->member_gil_wait, ph->member_time), pct(ph->gil_held, d),
		cpus_busy(ph), ncpus, ph->whatif_ns / 1e9,
		d > ph->whatif_ns ? (d - ph->whatif_ns) / 1e9 : 0.0);
}

/* The longest contended phase not chosen yet, or -1. */
static int longest_contended(const struct ph_phases *ph, const bool *chosen)
{
	int best = -1;

	for (size_t k = 0; k < ph->n; k++)
		if (ph->v[k].contended && !chosen[k] &&
		    (best < 0 || len_of(&ph->v[k]) > len_of(&ph->v[best])))
			best = (int)k;
	return best;
}

int ph_diagnose(const struct ph_log *log, const struct an_process *p,
		uint64_t t0, struct diagnosis *out, int n, int max)
{
	struct ph_phases ph;
	bool *chosen;
	int k;

	if (phases_of(log, p, &ph))
		return n;
	chosen = calloc(ph.n + 1, sizeof(*chosen));
	for (int i = 0; chosen && i < PH_MAX_FINDINGS; i++)
		if ((k = longest_contended(&ph, chosen)) >= 0)
			chosen[k] = true;
	for (size_t i = 0; chosen && i < ph.n && n < max; i++) {
		if (!chosen[i])
			continue;
		out[n].kind = "gil-contention";
		contention_summary(out[n].summary, sizeof(out[n].summary),
				   &ph.v[i], ph.ncpus, t0);
		n++;
	}
	free(chosen);
	ph_phases_free(&ph);
	return n;
}

/* "5 wanting the GIL (waited 59 %), GIL held 98 %, 1.0 CPU of 2 busy;
 * contended: 0.105 s without the GIL" */
static void phase_line(char *buf, size_t len, const struct phase *ph, int ncpus)
{
	int n = snprintf(buf, len, "%d wanting the GIL", ph->members);

	if (ph->members && n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n, " (waited %.0f %%)",
			      pct(ph->member_gil_wait, ph->member_time));
	if (n >= 0 && (size_t)n < len)
		n += snprintf(buf + n, len - n,
			      ", GIL held %.0f %%, %.1f CPU of %d busy",
			      pct(ph->gil_held, len_of(ph)), cpus_busy(ph),
			      ncpus);
	if (ph->contended && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - n,
			 "; contended: %.3f s without the GIL",
			 ph->whatif_ns / 1e9);
}

static void text_phase(FILE *out, const struct phase *ph, int ncpus,
		       uint64_t t0)
{
	char line[PH_LINE_LEN];

	phase_line(line, sizeof(line), ph, ncpus);
	fprintf(out, "    %8.3f s - %8.3f s  %-8s  %s\n", at_s(ph->start, t0),
		at_s(ph->end, t0), ph_label(ph), line);
}

void ph_text(FILE *out, const struct ph_log *log, const struct an_process *p,
	     uint64_t t0)
{
	struct ph_phases ph;

	if (phases_of(log, p, &ph) || !ph.n)
		return;
	fprintf(out, "\n  phases (seconds from the session's start):\n");
	for (size_t k = 0; k < ph.n; k++)
		text_phase(out, &ph.v[k], ph.ncpus, t0);
	ph_phases_free(&ph);
}

static void json_whatif(struct json *j, const struct phase *ph)
{
	if (!ph->contended) {
		json_null(j, "whatif_ns");
		json_null(j, "whatif_gain_ns");
		return;
	}
	json_u64(j, "whatif_ns", ph->whatif_ns);
	json_u64(j, "whatif_gain_ns",
		 len_of(ph) > ph->whatif_ns ? len_of(ph) - ph->whatif_ns : 0);
}

static void json_phase(struct json *j, const struct phase *ph, uint64_t t0)
{
	json_begin_object(j, NULL);
	json_string(j, "kind", ph_kind_name(ph->kind));
	json_string(j, "label", ph_label(ph));
	json_u64(j, "start_ns", ph->start);
	json_u64(j, "end_ns", ph->end);
	json_u64(j, "duration_ns", len_of(ph));
	json_double(j, "start_s", at_s(ph->start, t0));
	json_double(j, "end_s", at_s(ph->end, t0));
	json_u64(j, "threads_wanting_gil", ph->members);
	json_double(j, "gil_wait_pct",
		    pct(ph->member_gil_wait, ph->member_time));
	json_u64(j, "gil_held_ns", ph->gil_held);
	json_u64(j, "on_cpu_ns", ph->on_cpu);
	json_double(j, "cpus_busy", cpus_busy(ph));
	if (ph->contended)
		json_string(j, "diagnosis", "gil-contention");
	else
		json_null(j, "diagnosis");
	json_whatif(j, ph);
	if (ph->longest_path) {
		json_begin_object(j, "longest_thread");
		json_u64(j, "tid", ph->longest_tid);
		json_u64(j, "on_cpu_ns", ph->longest_cpu);
		json_u64(j, "own_path_ns", ph->longest_path);
		json_end_object(j);
	} else {
		json_null(j, "longest_thread");
	}
	json_end_object(j);
}

void ph_json(struct json *j, const struct ph_log *log,
	     const struct an_process *p, uint64_t t0)
{
	struct ph_phases ph;
	int ok = !phases_of(log, p, &ph);

	json_begin_array(j, "phases");
	for (size_t k = 0; ok && k < ph.n; k++)
		json_phase(j, &ph.v[k], t0);
	json_end_array(j);
	if (ok)
		ph_phases_free(&ph);
}

static int items_of(const struct ph_log *log, const struct an_process *p,
		    uint64_t t0, struct ph_item **v, size_t *n)
{
	struct ph_phases ph;
	struct ph_item *grown, *it;

	if (phases_of(log, p, &ph) || !ph.n)
		return 0;
	grown = realloc(*v, (*n + ph.n) * sizeof(**v));
	if (!grown) {
		ph_phases_free(&ph);
		return -ENOMEM;
	}
	*v = grown;
	for (size_t k = 0; k < ph.n; k++) {
		it = &grown[(*n)++];
		memset(it, 0, sizeof(*it));
		it->pid = p->pid;
		it->proc_start = p->start_ns;
		it->start = ph.v[k].start;
		it->end = ph.v[k].end;
		snprintf(it->label, sizeof(it->label), "%s",
			 ph_label(&ph.v[k]));
		phase_line(it->line, sizeof(it->line), &ph.v[k], ph.ncpus);
		if (ph.v[k].contended)
			contention_summary(it->diagnosis, sizeof(it->diagnosis),
					   &ph.v[k], ph.ncpus, t0);
	}
	ph_phases_free(&ph);
	return 0;
}

int ph_items(const struct analysis *an, struct ph_item **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!an->phases)
		return 0;
	for (size_t i = 0; i < an->n_procs; i++) {
		const struct an_process *p = an->procs[i];

		/* the report's rule: phases of processes with GIL figures */
		if (p->gil.addr && items_of(an->phases, p, an->t0, out, n)) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -ENOMEM;
		}
	}
	return 0;
}
