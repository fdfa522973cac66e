// SPDX-License-Identifier: GPL-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "analysis/names.h"
#include "stackrec.h"
#include "common/strs.h"

/* ------------------------------------------------------------ lock kinds */

enum lock_kind {
	K_NONE,
	K_LOCK,
	K_JOIN,
	K_QUEUE,
	K_EVENT,
	K_CONDITION,
	K_SEMAPHORE,
	K_BARRIER,
	K_RLOCK,
	K_FUTURE
};

static const char *const kind_names[] = {
	[K_LOCK] = "Lock",	     [K_JOIN] = "join",
	[K_QUEUE] = "Queue",	     [K_EVENT] = "Event",
	[K_CONDITION] = "Condition", [K_SEMAPHORE] = "Semaphore",
	[K_BARRIER] = "Barrier",     [K_RLOCK] = "RLock",
	[K_FUTURE] = "Future",
};

/*
 * The frames of the standard library that wait on a lock for the program:
 * the outermost one of them under the program's own frame says what the
 * program waited for. A function name ending in '.' matches a class's
 * methods.
 */
static const struct {
	const char *file; /* how the path ends */
	const char *function;
	enum lock_kind kind;
} waiters[] = {
	{ "/threading.py", "Thread.join", K_JOIN },
	{ "/threading.py", "Thread._wait_for_tstate_lock", K_JOIN },
	{ "/threading.py", "_shutdown", K_JOIN },
	{ "/threading.py", "Thread.start", K_EVENT },
	{ "/threading.py", "Event.", K_EVENT },
	{ "/threading.py", "Condition.", K_CONDITION },
	{ "/threading.py", "Semaphore.", K_SEMAPHORE },
	{ "/threading.py", "BoundedSemaphore.", K_SEMAPHORE },
	{ "/threading.py", "Barrier.", K_BARRIER },
	{ "/threading.py", "_RLock.", K_RLOCK },
	{ "/queue.py", "Queue.", K_QUEUE },
	{ "/queue.py", "_PySimpleQueue.", K_QUEUE },
	{ "/concurrent/futures/_base.py", "Future.", K_FUTURE },
	{ "/concurrent/futures/_base.py", "wait", K_FUTURE },
	{ "/concurrent/futures/_base.py", "as_completed", K_FUTURE },
	/* a pool worker waits on its SimpleQueue (C) in _worker itself */
	{ "/concurrent/futures/thread.py", "_worker", K_QUEUE },
};

static enum lock_kind waiter_kind(const struct st_frame *f)
{
	if (f->kind != ST_PYTHON || !f->file || !f->name)
		return K_NONE;
	for (size_t i = 0; i < sizeof(waiters) / sizeof(waiters[0]); i++) {
		const char *fn = waiters[i].function;
		size_t k = strlen(fn);
		bool match = fn[k - 1] == '.' ? !strncmp(f->name, fn, k) :
						!strcmp(f->name, fn);

		if (match && ends_with(f->file, waiters[i].file))
			return waiters[i].kind;
	}
	return K_NONE;
}

static bool in_bootstrap(const struct st_frame *f)
{
	return f->kind == ST_PYTHON && f->file &&
	       ends_with(f->file, "/threading.py") &&
	       (!strcmp(f->name, "Thread._bootstrap") ||
		!strcmp(f->name, "Thread._bootstrap_inner") ||
		!strcmp(f->name, "Thread.run"));
}

struct lock_site {
	enum lock_kind kind;
	int64_t site; /* frame id where the program waited, -1 */
};

/* Python's own library (not site- or dist-packages): not the program. */
static bool in_stdlib(const struct st_frame *f)
{
	if (f->kind != ST_PYTHON || !f->file)
		return false;
	if (!strncmp(f->file, "<frozen ", 8))
		return true;
	return strstr(f->file, "/lib/python3") &&
	       !strstr(f->file, "-packages/");
}

/*
 * From the leaf up: the library frames that wait say the kind, and the
 * first frame of the program's own under them is where it waited. A wait
 * the library does on its own (a server's loop starting a thread) is
 * placed at the outermost library frame under the thread's bootstrap.
 */
static struct lock_site classify(const struct stacktab *tab,
				 const struct st_stack *s)
{
	struct lock_site out = { K_NONE, -1 };
	uint32_t i = s->n;

	while (i > 0) {
		enum lock_kind k = waiter_kind(&tab->frames[s->fids[i - 1]]);

		if (k == K_NONE)
			break;
		out.kind = k;
		out.site = s->fids[--i];
	}
	if (out.kind == K_NONE)
		out.kind = K_LOCK; /* acquired in C: Lock, or a C RLock (told
				    * apart by GS_EV_RLOCK_WAIT: an_lock.rlock) */
	for (; i > 0; i--) {
		const struct st_frame *f = &tab->frames[s->fids[i - 1]];

		if (in_bootstrap(f))
			break;
		out.site = s->fids[i - 1];
		if (!in_stdlib(f))
			break;
	}
	return out;
}

static bool site_of(const struct stacktab *tab, uint32_t pid, uint64_t stack,
		    struct lock_site *out)
{
	const struct st_stack *s =
		tab && stack ? stacktab_find(tab, GS_SREC_PYTHON, stack) : NULL;

	if (!s || !s->n || (s->pid && s->pid != pid))
		return false;
	*out = classify(tab, s);
	return out->site >= 0;
}

uint64_t names_lock_key(void *ctx, uint32_t pid, uint64_t stack)
{
	struct lock_site ls;

	if (!site_of(ctx, pid, stack, &ls))
		return 0;
	return ((uint64_t)ls.kind << 32 | (uint64_t)ls.site) + 1;
}

static const char *thread_name(const struct an_process *p, uint32_t tid)
{
	for (size_t i = 0; i < p->n_threads; i++)
		if (p->threads[i]->tid == tid)
			return p->threads[i]->name;
	return NULL;
}

static void name_lock(const struct stacktab *tab, const struct an_process *p,
		      struct an_lock *l)
{
	struct lock_site ls;
	const char *owner;

	if (!site_of(tab, p->pid, l->site_stack, &ls))
		return;
	stacktab_frame_text(&tab->frames[ls.site], l->site, sizeof(l->site));
	owner = l->owner ? thread_name(p, l->owner) : NULL;
	if (ls.kind == K_LOCK && l->rlock)
		ls.kind = K_RLOCK; /* a C RLock's acquire waited for it */
	if (ls.kind == K_JOIN && owner)
		snprintf(l->kind, sizeof(l->kind), "join(%.40s)", owner);
	else
		snprintf(l->kind, sizeof(l->kind), "%s", kind_names[ls.kind]);
}

static void name_locks(const struct stacktab *tab, struct an_process *p)
{
	struct lock_table *t = &p->locks;

	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].addr)
			name_lock(tab, p, &t->slots[i]);
	for (size_t i = 0; i < t->n_retired; i++)
		name_lock(tab, p, &t->retired[i]);
}

void names_lock_label(const struct an_lock *l, char *buf, size_t len)
{
	if (l->kind[0])
		snprintf(buf, len, "%s first waited at %s", l->kind, l->site);
	else
		snprintf(buf, len, "lock 0x%llx", (unsigned long long)l->addr);
}

const struct an_lock *names_waited_lock(const struct an_thread *t,
					const struct an_lockwait *w)
{
	return t->proc ? locks_find_gen(&t->proc->locks, w->lock, w->gen) :
			 NULL;
}

/* ------------------------------------------------------------ threads */

static const char *base_name(const char *file)
{
	const char *b = strrchr(file, '/');

	return b ? b + 1 : file;
}

/*
 * The function a thread was started with, from one of its stacks: under
 * threading's bootstrap, what Thread.run called (or a subclass's run); the
 * main thread's first frame. A stack taken while the bootstrap itself runs
 * (Event.set as the thread starts) says nothing: -1.
 */
static int64_t entry_frame(const struct stacktab *tab, const struct st_stack *s,
			   bool main_thread)
{
	uint32_t i = 0;

	if (main_thread)
		return s->n ? (int64_t)s->fids[0] : -1;
	while (i < s->n && in_bootstrap(&tab->frames[s->fids[i]]) &&
	       strcmp(tab->frames[s->fids[i]].name, "Thread.run"))
		i++;
	if (i < s->n && !strcmp(tab->frames[s->fids[i]].name, "Thread.run"))
		i++;
	if (i == 0 || i >= s->n)
		return -1;
	if (!strcmp(tab->frames[s->fids[i - 1]].name,
		    "Thread._bootstrap_inner") &&
	    ends_with(tab->frames[s->fids[i]].file ?
			      tab->frames[s->fids[i]].file :
			      "",
		      "/threading.py"))
		return -1; /* the bootstrap's own work */
	return s->fids[i];
}

static void entry_of(const struct stacktab *tab, struct an_thread *t)
{
	uint64_t ids[2] = { t->py_stack_last, t->py_stack };

	for (int k = 0; k < 2; k++) {
		const struct st_stack *s =
			ids[k] ? stacktab_find(tab, GS_SREC_PYTHON, ids[k]) :
				 NULL;
		int64_t fid = s ? entry_frame(tab, s, t->tid == t->tgid) : -1;
		const struct st_frame *f = fid >= 0 ? &tab->frames[fid] : NULL;

		if (f && f->kind == ST_PYTHON) {
			snprintf(t->entry, sizeof(t->entry), "%.60s (%.32s)",
				 f->name, base_name(f->file ? f->file : ""));
			return;
		}
	}
}

void names_apply(struct analysis *an, const struct stacktab *tab)
{
	for (size_t i = 0; i < an->n_procs; i++) {
		struct an_process *p = an->procs[i];

		for (size_t k = 0; k < p->n_threads; k++) {
			struct an_thread *t = p->threads[k];
			const char *py =
				stacktab_thread_name(tab, p->pid, t->tid);

			t->py_named = py && py[0];
			if (t->py_named)
				snprintf(t->name, sizeof(t->name), "%s", py);
			entry_of(tab, t);
		}
		/* after the threads: join(name) names the joined thread */
		name_locks(tab, p);
	}
}

/* ------------------------------------------------------------ groups */

/* NAME with every run of digits (a counter, an id) as one '*'. */
static void pattern_of(const char *name, char *out, size_t len)
{
	size_t n = 0;

	for (; *name && n + 1 < len; name++) {
		if (!isdigit((unsigned char)*name))
			out[n++] = *name;
		else if (!n || out[n - 1] != '*')
			out[n++] = '*';
	}
	out[n] = '\0';
}

/* The group of PATTERN and ENTRY (NULL: any), of named threads only if
 * NAMED (a group's first member says). */
static struct name_group *group_match(const struct an_process *p,
				      struct name_group *g, size_t n,
				      const char *pattern, const char *entry,
				      bool named)
{
	for (size_t i = 0; i < n; i++)
		if ((!pattern || !strcmp(g[i].pattern, pattern)) &&
		    (!entry || !strcmp(g[i].entry, entry)) &&
		    (!named || p->threads[g[i].members[0]]->py_named))
			return &g[i];
	return NULL;
}

static int group_add(struct name_group *g, uint32_t member)
{
	uint32_t *v = realloc(g->members, (g->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	g->members = v;
	g->members[g->n++] = member;
	return 0;
}

/*
 * The group of T (its name as PATTERN): its pattern and entry; else, for a
 * thread known by half (its Python name was not read, being too short-lived;
 * or no stack of it gives its entry), the named threads' group that agrees
 * on the half that is known.
 */
static struct name_group *group_of(const struct an_process *p,
				   struct name_group *g, size_t n,
				   const struct an_thread *t,
				   const char *pattern)
{
	struct name_group *to = group_match(p, g, n, pattern, t->entry, false);

	if (to)
		return to;
	if (t->py_named && !t->entry[0])
		return group_match(p, g, n, pattern, NULL, true);
	if (!t->py_named && t->entry[0])
		return group_match(p, g, n, NULL, t->entry, true);
	return NULL;
}

static int by_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int by_first_member(const void *a, const void *b)
{
	const struct name_group *x = a, *y = b;

	return by_u32(&x->members[0], &y->members[0]);
}

int names_groups(const struct an_process *p, struct name_group **out, size_t *n)
{
	struct name_group *g = calloc(p->n_threads + 1, sizeof(*g));
	size_t ng = 0;

	*out = NULL;
	*n = 0;
	if (!g)
		return -ENOMEM;
	/* the threads known by name and entry first, then the rest */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < p->n_threads; i++) {
			const struct an_thread *t = p->threads[i];
			char pattern[64];
			struct name_group *to;

			if ((pass == 0) != (t->py_named && t->entry[0]))
				continue;
			pattern_of(t->name, pattern, sizeof(pattern));
			to = group_of(p, g, ng, t, pattern);
			if (!to) {
				to = &g[ng++];
				snprintf(to->pattern, sizeof(to->pattern), "%s",
					 pattern);
				snprintf(to->entry, sizeof(to->entry), "%s",
					 t->entry);
			}
			if (group_add(to, i)) {
				names_groups_free(g, ng);
				return -ENOMEM;
			}
		}
	}
	for (size_t i = 0; i < ng; i++)
		qsort(g[i].members, g[i].n, sizeof(uint32_t), by_u32);
	qsort(g, ng, sizeof(*g), by_first_member);
	*out = g;
	*n = ng;
	return 0;
}

void names_groups_free(struct name_group *g, size_t n)
{
	for (size_t i = 0; g && i < n; i++)
		free(g[i].members);
	free(g);
}
