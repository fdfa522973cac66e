// SPDX-License-Identifier: GPL-2.0
/*
 * Start-up and shutdown: the phases of a process's life before its own
 * code runs and after its last worker ended, told from the rest.
 *
 * Start-up ends between the main thread's last Python stack of the
 * interpreter importing (site's modules, then the main module's top-level
 * imports) and the first stack of the program's own code (stacks come at
 * every switch-out and 99 times a second: a few ms apart); never after
 * the first worker thread started. Shutdown starts when the last worker
 * thread ended, or later, at the main thread's last stack of its own code
 * when that was a minimum phase later (serial work after the threads is a
 * phase of its own); only for a process that had workers and exited.
 */
#include <string.h>
#include "analysis/phases.h"
#include "stackrec.h"

enum life_stack {
	LIFE_NONE,    /* says nothing: no Python frame, cut short */
	LIFE_STARTUP, /* the interpreter importing */
	LIFE_PROGRAM, /* the program's own code */
};

/* A frame of a frozen module of the interpreter's ("<frozen runpy>"),
 * of module WHAT when it is not NULL. */
static bool frozen(const struct st_frame *f, const char *what)
{
	if (!f->file || strncmp(f->file, "<frozen ", 8))
		return false;
	return !what || !strncmp(f->file + 8, what, strlen(what));
}

static bool module_level(const struct st_frame *f)
{
	return f->name && !strcmp(f->name, "<module>");
}

/*
 * Root first: runpy's frames (python -m) are skipped; a stack rooted in
 * another frozen module is the interpreter's (site at start-up); a stack
 * of module-level frames down to importlib is an import at a module's top
 * level; any other stack runs a function of the program's.
 */
static enum life_stack stack_life(const struct stacktab *tab,
				  const struct st_stack *s)
{
	uint32_t i = 0;

	if (s->flags & GS_STACKF_TRUNCATED)
		return LIFE_NONE;
	while (i < s->n && frozen(&tab->frames[s->fids[i]], "runpy"))
		i++;
	if (i == s->n)
		return LIFE_NONE;
	if (frozen(&tab->frames[s->fids[i]], NULL))
		return LIFE_STARTUP;
	/* a function called from C (a codec search at start-up, an atexit
	 * or finalizer callback at exit) */
	if (!module_level(&tab->frames[s->fids[i]]))
		return LIFE_NONE;
	while (i < s->n && module_level(&tab->frames[s->fids[i]]))
		i++;
	if (i < s->n && frozen(&tab->frames[s->fids[i]], "importlib"))
		return LIFE_STARTUP;
	return LIFE_PROGRAM;
}

void ph_event(void *ctx, const struct gs_event *e)
{
	struct ph_log *log = ctx;
	const struct st_stack *s;
	struct ph_proc_log *pl;
	struct an_process *p;
	enum life_stack what;

	if (e->type != GS_EV_STACK || e->tid != e->tgid || !e->arg[0] ||
	    (e->flags & (GS_STKF_STALE | GS_STKF_NO_TSTATE)) || !log->an ||
	    !log->tab || log->oom)
		return;
	s = stacktab_find(log->tab, GS_SREC_PYTHON, e->arg[0]);
	what = s ? stack_life(log->tab, s) : LIFE_NONE;
	p = what != LIFE_NONE ? an_find_process(log->an, e->tgid) : NULL;
	pl = p ? ph_proc_log_of(log, p) : NULL;
	if (!pl)
		return;
	if (what == LIFE_STARTUP && !pl->life.program_first)
		pl->life.startup_last = e->ts;
	if (what == LIFE_PROGRAM) {
		if (!pl->life.program_first)
			pl->life.program_first = e->ts;
		pl->life.program_last = e->ts;
	}
}

/* V[K] twice, at K and K + 1. */
static void phase_insert(struct phase *v, size_t *n, size_t k)
{
	memmove(&v[k + 1], &v[k], (*n - k) * sizeof(*v));
	(*n)++;
}

/* The phases before AT become one start-up phase, of the kind of its
 * longest part; a phase across AT is split there, unless what is left of
 * it after AT is shorter than a minimum phase. Threaded phases stay. */
static void split_startup(struct phase *v, size_t *n, uint64_t at)
{
	size_t k = 0, longest = 0;

	if (!*n || at <= v[0].start || v[0].kind == PH_THREADED)
		return;
	while (k < *n && v[k].kind != PH_THREADED && v[k].start < at) {
		if (v[k].end - v[k].start > v[longest].end - v[longest].start)
			longest = k;
		k++;
	}
	/* phases 0 .. k) begin before AT; the last may run past it */
	if (v[k - 1].end > at && v[k - 1].end - at >= PH_MIN_PHASE_NS) {
		phase_insert(v, n, k - 1);
		v[k - 1].end = v[k].start = at;
	}
	v[0].kind = v[longest].kind;
	v[0].end = v[k - 1].end;
	v[0].role = PH_ROLE_STARTUP;
	memmove(&v[1], &v[k], (*n - k) * sizeof(*v));
	*n -= k - 1;
}

/* The last phase from AT on is the shutdown; all of it when AT is less
 * than a minimum phase into it. */
static void split_shutdown(struct phase *v, size_t *n, uint64_t at)
{
	struct phase *last = &v[*n - 1];

	if (last->kind == PH_THREADED || at >= last->end)
		return;
	if (at >= last->start + PH_MIN_PHASE_NS) {
		phase_insert(v, n, *n - 1);
		v[*n - 2].end = at;
		last = &v[*n - 1];
		last->start = at;
	}
	last->role = PH_ROLE_SHUTDOWN;
}

/* The first worker's start and the last one's end: false without workers
 * (threads other than the main thread). */
static bool workers_life(const struct an_process *p, uint64_t *first,
			 uint64_t *last)
{
	*first = UINT64_MAX;
	*last = 0;
	for (size_t i = 0; i < p->n_threads; i++) {
		const struct an_thread *t = p->threads[i];

		if (t->tid == p->pid)
			continue;
		if (t->start_ns < *first)
			*first = t->start_ns;
		if (t->end_ns > *last)
			*last = t->end_ns;
	}
	return *last != 0;
}

void ph_roles(const struct ph_proc_log *pl, struct phase *v, size_t *n)
{
	const struct ph_life *life = &pl->life;
	uint64_t first = UINT64_MAX, last = 0, at;
	bool workers = workers_life(pl->p, &first, &last);

	if (life->startup_last && life->program_first && *n) {
		/* the main module's code began between the two stacks */
		at = life->startup_last +
		     (life->program_first - life->startup_last) / 2;
		split_startup(v, n, at < first ? at : first);
	}
	/* without the program's stacks, serial work after the threads
	 * cannot be told from the exit */
	if (!workers || !pl->p->exited || !life->program_first || !*n)
		return;
	at = last;
	if (life->program_last > at + PH_MIN_PHASE_NS)
		at = life->program_last;
	split_shutdown(v, n, at);
}

const char *ph_label(const struct phase *ph)
{
	if (ph->role == PH_ROLE_STARTUP)
		return "start-up";
	if (ph->role == PH_ROLE_SHUTDOWN)
		return "shutdown";
	return ph_kind_name(ph->kind);
}
