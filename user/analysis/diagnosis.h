/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The diagnosis: the plain-language findings a process's figures support,
 * most important first. Pure (it reads an analysis, writes nothing).
 *
 * kinds, and the figures that decide them:
 *   deadlock             a wait-for cycle of threads on locks (p->deadlocks)
 *   gil-not-traced       a Python whose GIL gilscope cannot read
 *   no-gil               a free-threaded build
 *   no-python            no interpreter found
 *   gil-contention       per contended phase (PHASES), or else 2+ threads
 *                        that each waited >= 1/5 of their life, together
 *                        >= 40 % of it
 *   input-wait           >= 1/10 of the wall time and >= 100 ms on input
 *   io-overlap           2+ threads blocked (sleep, network, io, input)
 *                        > 1.2 x the wall time, the GIL held < 50 %
 *   lock-contention      threads other than main waited >= 30 % of their
 *                        life for locks other threads held
 *   user-lock-contention 2+ threads waited >= 30 % of their life for --lock
 *   parallel-processes   2+ children with their own GIL, > 1.3 CPUs busy
 *   interleaving         2+ threads gave the GIL up 20+ times mid-work,
 *                        with fewer than a quarter as many lock takes
 *   no-contention        none of the above
 */
#ifndef GS_DIAGNOSIS_H
#define GS_DIAGNOSIS_H

#include <stdbool.h>
#include <stdint.h>
#include "analysis/analysis.h"

struct diagnosis {
	const char *kind; /* gil-contention, io-overlap, input-wait, ... */
	char summary[400];
};

#define MAX_DIAGNOSES 6

/* Findings of P's contended phases added to OUT[N .. MAX): the new count,
 * N when there are none (the whole life is then judged instead). */
typedef int (*dg_phases_fn)(const struct analysis *an,
			    const struct an_process *p, struct diagnosis *out,
			    int n, int max);

/* The findings for P, most important first: their count (at most MAX).
 * PHASES (may be NULL) gives the contended phases' findings. */
int dg_diagnose(const struct analysis *an, const struct an_process *p,
		dg_phases_fn phases, struct diagnosis *out, int max);

/* P's wall time: from its start (or the session's) to its end. */
uint64_t dg_wall(const struct an_process *p);
/* A Python whose GIL gilscope cannot read: its GIL's futex waits are
 * among the others, not told apart from lock waits. */
bool dg_gil_untraced(const struct an_process *p);
/* The name of P's thread TID, "?" when not one of P's. */
const char *dg_thread_name(const struct an_process *p, uint32_t tid);

#endif /* GS_DIAGNOSIS_H */
