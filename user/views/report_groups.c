// SPDX-License-Identifier: GPL-2.0
/* Threads of one name pattern and entry function as one row (user/analysis/names.h):
 * a server's thousand request threads are one line, with sums and spread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "views/report.h"
#include "views/report_groups.h"

bool report_folds(const struct an_process *p)
{
	return p->n_threads > REPORT_FOLD_ABOVE;
}

void group_sum(const struct an_process *p, const struct name_group *g,
	       struct group_sum *s)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < g->n; i++) {
		const struct an_thread *t = p->threads[g->members[i]];

		s->life += an_thread_lifetime(t);
		s->on_cpu += t->on_cpu_ns;
		s->on_cpu_gil += t->on_cpu_gil_ns;
		s->gil_held += t->gil_held_ns;
		s->gil_wait += t->gil_wait_ns;
		s->runnable += t->runnable_ns;
		s->blocked += an_blocked_total(t);
		for (int r = 0; r < GS_R_COUNT; r++)
			s->blocked_by[r] += t->blocked_ns[r];
		s->vol += t->voluntary_switches;
		s->invol += t->involuntary_switches;
		s->migrations += t->migrations;
		for (int k = 0; k < 4; k++)
			s->cpus[k] |= t->cpus[k];
	}
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Min, p50, p90 and max of one figure over the group's threads. */
void group_spread(const struct an_process *p, const struct name_group *g,
		  uint64_t (*figure)(const struct an_thread *t),
		  struct group_spread *out)
{
	uint64_t *v = calloc(g->n ? g->n : 1, sizeof(*v));

	memset(out, 0, sizeof(*out));
	if (!v || !g->n) {
		free(v);
		return;
	}
	for (size_t i = 0; i < g->n; i++)
		v[i] = figure(p->threads[g->members[i]]);
	qsort(v, g->n, sizeof(*v), by_value);
	out->min = v[0];
	out->p50 = v[(g->n - 1) / 2];
	out->p90 = v[(g->n - 1) * 9 / 10];
	out->max = v[g->n - 1];
	free(v);
}

uint64_t group_life(const struct an_thread *t)
{
	return an_thread_lifetime(t);
}

uint64_t group_gil_wait(const struct an_thread *t)
{
	return t->gil_wait_ns;
}

static void json_spread(struct json *j, const char *key,
			const struct group_spread *s)
{
	json_begin_object(j, key);
	json_u64(j, "min", s->min);
	json_u64(j, "p50", s->p50);
	json_u64(j, "p90", s->p90);
	json_u64(j, "max", s->max);
	json_end_object(j);
}

static void json_group(struct json *j, const struct an_process *p,
		       const struct name_group *g)
{
	struct group_spread spread;
	struct group_sum s;

	group_sum(p, g, &s);
	json_begin_object(j, NULL);
	json_string(j, "pattern", g->pattern);
	json_string(j, "entry", g->entry);
	json_u64(j, "count", g->n);
	json_begin_array(j, "tids");
	for (size_t i = 0; i < g->n; i++)
		json_u64(j, NULL, p->threads[g->members[i]]->tid);
	json_end_array(j);
	json_u64(j, "lifetime_ns", s.life);
	json_u64(j, "on_cpu_ns", s.on_cpu);
	json_u64(j, "gil_held_ns", s.gil_held);
	json_u64(j, "gil_wait_ns", s.gil_wait);
	json_u64(j, "runnable_ns", s.runnable);
	json_begin_object(j, "blocked_ns");
	for (int r = 0; r < GS_R_COUNT; r++)
		json_u64(j, reason_name(r), s.blocked_by[r]);
	json_end_object(j);
	json_u64(j, "blocked_total_ns", s.blocked);
	json_u64(j, "voluntary_switches", s.vol);
	json_u64(j, "involuntary_switches", s.invol);
	group_spread(p, g, group_life, &spread);
	json_spread(j, "lifetime_spread_ns", &spread);
	group_spread(p, g, group_gil_wait, &spread);
	json_spread(j, "gil_wait_spread_ns", &spread);
	json_end_object(j);
}

void report_json_groups(struct json *j, const struct an_process *p)
{
	struct name_group *g = NULL;
	size_t n = 0;

	json_begin_array(j, "groups");
	if (!names_groups(p, &g, &n))
		for (size_t i = 0; i < n; i++)
			json_group(j, p, &g[i]);
	json_end_array(j);
	names_groups_free(g, n);
}

/* Threads of one pattern and entry function as one row: their sums, then
 * how their lives and GIL waits spread, then their blocking summed. */
void report_text_group(FILE *out, const struct an_process *p,
		       const struct name_group *g)
{
	struct group_spread life, wait;
	struct group_sum s;
	bool gil = (p->gil.addr != 0);
	char b[8][24], count[24];

	group_sum(p, g, &s);
	group_spread(p, g, group_life, &life);
	group_spread(p, g, group_gil_wait, &wait);
	snprintf(count, sizeof(count), "x%zu", g->n);
	fprintf(out, "  %-8s %-16.16s %9s %9s %9s %9s %9s %9s", count,
		g->pattern, report_ns(b[0], 24, s.life),
		report_ns(b[1], 24, s.on_cpu),
		gil ? report_ns(b[2], 24, s.gil_held) : "-",
		gil ? report_ns(b[3], 24, s.gil_wait) : "-",
		report_ns(b[4], 24, s.runnable),
		report_ns(b[5], 24, s.blocked));
	fprintf(out, " %6llu %6llu %5llu %3d\n", (unsigned long long)s.vol,
		(unsigned long long)s.invol, (unsigned long long)s.migrations,
		an_cpu_count(s.cpus));
	fprintf(out,
		"  %-25s %zu threads \"%s\"%s%s: life p50 %s p90 %s max %s", "",
		g->n, g->pattern, g->entry[0] ? " in " : "", g->entry,
		report_ns(b[0], 24, life.p50), report_ns(b[1], 24, life.p90),
		report_ns(b[2], 24, life.max));
	if (gil)
		fprintf(out, "; GIL wait p50 %s p90 %s max %s",
			report_ns(b[3], 24, wait.p50),
			report_ns(b[4], 24, wait.p90),
			report_ns(b[5], 24, wait.max));
	fprintf(out, "\n  %-25s blocked:", "");
	for (int r = 0; r < GS_R_COUNT; r++)
		if (s.blocked_by[r])
			fprintf(out, " %s %s", report_reason(p, r),
				report_ns(b[6], 24, s.blocked_by[r]));
	if (!s.blocked)
		fprintf(out, " never");
	if (gil)
		fprintf(out, "; on-CPU without the GIL %s",
			report_ns(b[7], 24, s.on_cpu - s.on_cpu_gil));
	fputc('\n', out);
}

static const uint64_t *row_life;

static int by_row_life(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (row_life[x] != row_life[y])
		return row_life[x] < row_life[y] ? 1 : -1;
	return (x > y) - (x < y);
}

/* Which of N rows to show: the REPORT_MAX_ROWS that lived longest. */
bool *report_rows_shown(const struct an_process *p, const struct name_group *g,
			size_t n)
{
	uint64_t *life = calloc(n + 1, sizeof(*life));
	size_t *order = calloc(n + 1, sizeof(*order));
	bool *show = calloc(n + 1, sizeof(*show));

	if (!life || !order || !show) {
		free(show);
		show = NULL;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct group_sum s;

		group_sum(p, &g[i], &s);
		life[i] = s.life;
		order[i] = i;
	}
	row_life = life;
	qsort(order, n, sizeof(*order), by_row_life);
	for (size_t i = 0; i < n && i < REPORT_MAX_ROWS; i++)
		show[order[i]] = true;
out:
	free(life);
	free(order);
	return show;
}
