// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include "views/timeline_phases.h"

/* Processes are told apart by pid and start: a pid's exec'd images are
 * processes of their own. */
static int proc_cmp(const void *a, const void *b, void *ctx)
{
	const struct tl_model *m = ctx;
	const struct an_process *x = m->procs[*(const uint32_t *)a].p;
	const struct an_process *y = m->procs[*(const uint32_t *)b].p;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return 0;
}

static uint32_t find_proc(const struct tl_model *m, const uint32_t *by,
			  const struct ph_item *ph)
{
	size_t lo = 0, hi = m->n_procs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct an_process *p = m->procs[by[mid]].p;

		if (p->pid == ph->pid && p->start_ns == ph->proc_start)
			return by[mid];
		if (p->pid < ph->pid ||
		    (p->pid == ph->pid && p->start_ns < ph->proc_start))
			lo = mid + 1;
		else
			hi = mid;
	}
	return TL_NONE;
}

uint32_t *tl_phase_procs(const struct tl_model *m, const struct tl_info *info,
			 size_t *n)
{
	uint32_t *by, *out;

	*n = info->n_phases;
	if (!info->n_phases)
		return NULL;
	by = malloc((m->n_procs + 1) * sizeof(*by));
	out = malloc(info->n_phases * sizeof(*out));
	if (!by || !out) {
		free(by);
		free(out);
		return NULL;
	}
	for (size_t i = 0; i < m->n_procs; i++)
		by[i] = (uint32_t)i;
	qsort_r(by, m->n_procs, sizeof(*by), proc_cmp, (void *)m);
	for (size_t k = 0; k < info->n_phases; k++)
		out[k] = find_proc(m, by, &info->phases[k]);
	free(by);
	return out;
}
