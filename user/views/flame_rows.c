// SPDX-License-Identifier: GPL-2.0
/*
 * From the model's (thread, stack ids, category) totals to rows of frames:
 * thread and category frames, the Python stack, the native frames and a
 * leaf naming what the thread did there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/flame_priv.h"
#include "stackrec.h"
#include "common/syscalls.h"

#define MAX_ROW_FRAMES (GS_PY_MAX_FRAMES + GS_NATIVE_MAX_FRAMES + 8)

struct builder {
	struct fl_model *m;
	const struct stacktab *tab;
	struct fl_profile *out;
	uint32_t *map;	     /* tab's frame id -> out frame id + 1 */
	int32_t *thread_row; /* model thread -> profile thread, -1 */
	bool many_procs;
	int err;
};

/* ------------------------------------------------------------ frames */

static int64_t synth(struct builder *b, const char *name)
{
	return stacktab_frame(&b->out->names, ST_SYNTH, name, "", 0);
}

/* The output id of frame FID of the stack table. */
static int64_t copy_frame(struct builder *b, uint32_t fid)
{
	const struct st_frame *f;
	int64_t id;

	if (b->map[fid])
		return b->map[fid] - 1;
	f = &b->tab->frames[fid];
	id = stacktab_frame(&b->out->names, f->kind, f->name, f->file, f->line);
	if (id >= 0)
		b->map[fid] = id + 1;
	return id;
}

static const struct st_stack *find(const struct builder *b, uint8_t kind,
				   uint64_t id)
{
	return id && b->tab ? stacktab_find(b->tab, kind, id) : NULL;
}

static bool is_bootstrap(const struct st_frame *f)
{
	size_t n = strlen(f->file);

	return f->kind == ST_PYTHON && n >= 12 &&
	       !strcmp(f->file + n - 12, "threading.py") &&
	       (!strcmp(f->name, "Thread._bootstrap") ||
		!strcmp(f->name, "Thread._bootstrap_inner") ||
		!strcmp(f->name, "Thread.run"));
}

/* The function a thread was started with: the first frame past the
 * threading module's own, or -1. */
static int64_t entry_frame(const struct builder *b, const struct st_stack *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (!is_bootstrap(&b->tab->frames[s->fids[i]]))
			return s->fids[i];
	return -1;
}

/* ------------------------------------------------------------ labels */

struct entry_ns {
	uint32_t thread;
	int64_t fid;
	uint64_t ns;
};

static int cmp_entry(const void *x, const void *y)
{
	const struct entry_ns *a = x, *b = y;

	if (a->thread != b->thread)
		return a->thread < b->thread ? -1 : 1;
	return a->fid < b->fid ? -1 : a->fid > b->fid;
}

/* Per model thread, the entry function it spent most time under. */
static int64_t *entry_functions(struct builder *b)
{
	struct fl_model *m = b->m;
	int64_t *best = malloc((m->n_threads + 1) * sizeof(*best));
	uint64_t *best_ns = calloc(m->n_threads + 1, sizeof(*best_ns));
	struct entry_ns *v = malloc((m->n_agg + 1) * sizeof(*v));
	size_t n = 0;

	if (!best || !best_ns || !v)
		goto out;
	for (size_t i = 0; i < m->n_threads; i++)
		best[i] = -1;
	for (size_t i = 0; i < m->agg_cap; i++) {
		const struct fl_agg *a = &m->agg[i];
		const struct st_stack *s;

		if (!a->used || !(s = find(b, GS_SREC_PYTHON, a->py)))
			continue;
		v[n++] = (struct entry_ns){ a->thread, entry_frame(b, s),
					    a->ns };
	}
	qsort(v, n, sizeof(*v), cmp_entry);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		uint64_t sum = 0;

		while (j < n && v[j].thread == v[i].thread &&
		       v[j].fid == v[i].fid)
			sum += v[j++].ns;
		if (v[i].fid >= 0 && sum > best_ns[v[i].thread]) {
			best_ns[v[i].thread] = sum;
			best[v[i].thread] = v[i].fid;
		}
		i = j;
	}
	free(v);
	free(best_ns);
	return best;
out:
	free(best);
	free(best_ns);
	free(v);
	return NULL;
}

static void label_thread(struct builder *b, const struct fl_thread *t,
			 int64_t entry, struct fl_pthread *pt)
{
	/* its Python name, as the report gives it (user/analysis/names.c); a thread
	 * without one by the function it started with, then the report's */
	const char *name =
		b->tab ? stacktab_thread_name(b->tab, t->tgid, t->tid) : NULL;

	pt->pid = t->tgid;
	pt->tid = t->tid;
	if (!name && entry >= 0)
		name = b->tab->frames[entry].name;
	if (!name && t->at && t->at->name[0])
		name = t->at->name;
	snprintf(pt->label, sizeof(pt->label), "%s (tid %u)",
		 name ? name : "thread", t->tid);
	stacktab_one_line(pt->label);
}

static const struct fl_model *sort_model;

/* Threads by process and tid (creation order, mostly). */
static int cmp_thread(const void *x, const void *y)
{
	const struct fl_thread *a = sort_model->threads[*(const uint32_t *)x];
	const struct fl_thread *b = sort_model->threads[*(const uint32_t *)y];

	if (a->tgid != b->tgid)
		return a->tgid < b->tgid ? -1 : 1;
	if (a->tid != b->tid)
		return a->tid < b->tid ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

/* Frames made first sort first: threads in their order, then the wall
 * view's categories in a fixed order. */
static void first_frames(struct builder *b)
{
	static const char *const cats[] = {
		"[on-CPU]",	  "[GIL wait]", "[runnable]", "[sleep]",
		"[network]",	  "[io]",	"[input]",    "[lock]",
		"[GIL hand-off]", "[other]",
	};
	struct fl_profile *p = b->out;

	for (size_t i = 0; i < p->n_threads; i++)
		synth(b, p->threads[i].label);
	for (size_t i = 0;
	     p->what == FL_WALL && i < sizeof(cats) / sizeof(cats[0]); i++)
		synth(b, cats[i]);
}

static int make_threads(struct builder *b)
{
	struct fl_model *m = b->m;
	struct fl_profile *p = b->out;
	int64_t *entries = entry_functions(b);
	uint32_t first_pid = 0,
		 *order = malloc((m->n_threads + 1) * sizeof(*order));

	b->thread_row = malloc((m->n_threads + 1) * sizeof(*b->thread_row));
	p->threads = calloc(m->n_threads + 1, sizeof(*p->threads));
	if (!entries || !order || !b->thread_row || !p->threads) {
		free(entries);
		free(order);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->n_threads; i++)
		order[i] = i;
	sort_model = m;
	qsort(order, m->n_threads, sizeof(*order), cmp_thread);
	for (size_t k = 0; k < m->n_threads; k++) {
		size_t i = order[k];
		const struct fl_thread *t = m->threads[i];

		b->thread_row[i] = -1;
		if (!t->at)
			continue; /* stacks but no accounted time */
		b->thread_row[i] = p->n_threads;
		label_thread(b, t, entries[i], &p->threads[p->n_threads++]);
		if (!first_pid)
			first_pid = t->tgid;
		else if (t->tgid != first_pid)
			b->many_procs = true;
	}
	free(entries);
	free(order);
	first_frames(b);
	return 0;
}

/* ------------------------------------------------------------ rows */

struct frames {
	uint32_t v[MAX_ROW_FRAMES];
	uint32_t n;
	bool full;
};

static void push(struct frames *f, int64_t id)
{
	if (id < 0 || f->n == MAX_ROW_FRAMES) {
		f->full = true;
		return;
	}
	f->v[f->n++] = (uint32_t)id;
}

static const char *category_name(const struct fl_agg *a)
{
	switch (a->cat) {
	case C_GILWAIT:
		return "[GIL wait]";
	case C_RUNNABLE:
		return "[runnable]";
	case C_BLOCKED:
		return reason_info(a->reason)->flame;
	default:
		return "[on-CPU]";
	}
}

static void push_process(struct builder *b, struct frames *f,
			 const struct fl_thread *t)
{
	const char *cmd = t->at && t->at->proc ? t->at->proc->command : "";
	char name[128];

	snprintf(name, sizeof(name), "%.80s (pid %u)", cmd[0] ? cmd : "process",
		 t->tgid);
	stacktab_one_line(name);
	push(f, synth(b, name));
}

static void push_python(struct builder *b, struct frames *f, uint64_t id)
{
	const struct st_stack *s = find(b, GS_SREC_PYTHON, id);

	if (!id)
		return;
	if (!s) {
		push(f, synth(b, "[unknown stack]"));
		return;
	}
	if (s->flags & GS_STACKF_TRUNCATED)
		push(f, synth(b, "[truncated]"));
	for (uint32_t i = 0; i < s->n; i++)
		push(f, copy_frame(b, s->fids[i]));
	if (s->flags & GS_STACKF_FAULT)
		push(f, synth(b, "[unreadable frame]"));
}

/* Native frames, but the interpreter's eval loop: a Python frame says
 * more. */
static void push_native(struct builder *b, struct frames *f, uint64_t id)
{
	const struct st_stack *s = find(b, GS_SREC_NATIVE, id);

	for (uint32_t i = 0; s && i < s->n; i++) {
		const struct st_frame *fr = &b->tab->frames[s->fids[i]];

		if (!strcmp(fr->name, "_PyEval_EvalFrameDefault"))
			continue;
		push(f, copy_frame(b, s->fids[i]));
	}
}

static void push_leaf(struct builder *b, struct frames *f,
		      const struct fl_agg *a)
{
	char name[96];
	const char *sys;

	if (a->flags & GS_STKF_KERNEL)
		push(f, synth(b, "[kernel]"));
	if (a->cat == C_CPU_NOGIL)
		push(f, synth(b, "[GIL released]"));
	else if (a->cat == C_CPU_SPIN)
		push(f, synth(b, "[GIL wait]"));
	if (a->cat != C_BLOCKED || b->out->what != FL_OFFCPU)
		return;
	sys = a->sys >= 0 ? syscall_name(a->sys) : NULL;
	if (sys)
		snprintf(name, sizeof(name), "[%s: %s]", reason_name(a->reason),
			 sys);
	else if (a->sys >= 0)
		snprintf(name, sizeof(name), "[%s: syscall %d]",
			 reason_name(a->reason), a->sys);
	else
		snprintf(name, sizeof(name), "[%s]", reason_name(a->reason));
	push(f, synth(b, name));
}

static int add_row(struct builder *b, const struct fl_agg *a)
{
	const struct fl_thread *t = b->m->threads[a->thread];
	struct fl_profile *p = b->out;
	struct fl_row *row;
	struct frames f = { .n = 0 };
	uint32_t depth;

	if (b->thread_row[a->thread] < 0)
		return 0;
	if (b->many_procs)
		push_process(b, &f, t);
	push(&f, synth(b, p->threads[b->thread_row[a->thread]].label));
	if (p->what == FL_WALL)
		push(&f, synth(b, category_name(a)));
	depth = f.n;
	push_python(b, &f, a->py);
	push_native(b, &f, a->native);
	if (f.n == depth && (a->py || a->native))
		push(&f, synth(b, "[unknown stack]"));
	else if (f.n == depth)
		push(&f,
		     synth(b, a->flags & FL_NO_PYTHON ? "[no Python frame]" :
							"[no stack]"));
	push_leaf(b, &f, a);
	if (f.n == 0)
		return 0;
	row = &p->rows[p->n_rows];
	row->fids = malloc(f.n * sizeof(*row->fids));
	if (!row->fids)
		return -ENOMEM;
	memcpy(row->fids, f.v, f.n * sizeof(*row->fids));
	row->n = f.n;
	row->thread = b->thread_row[a->thread];
	row->ns = a->ns;
	p->n_rows++;
	return 0;
}

static int cmp_row(const void *x, const void *y)
{
	const struct fl_row *a = x, *b = y;
	uint32_t n = a->n < b->n ? a->n : b->n;

	if (a->thread != b->thread)
		return a->thread < b->thread ? -1 : 1;
	for (uint32_t i = 0; i < n; i++)
		if (a->fids[i] != b->fids[i])
			return a->fids[i] < b->fids[i] ? -1 : 1;
	return a->n < b->n ? -1 : a->n > b->n;
}

/* Rows that ended with the same frames (native frames dropped, two sample
 * flags...) become one. */
static void merge_rows(struct fl_profile *p)
{
	size_t k = 0;

	qsort(p->rows, p->n_rows, sizeof(*p->rows), cmp_row);
	for (size_t i = 0; i < p->n_rows; i++) {
		if (k && !cmp_row(&p->rows[k - 1], &p->rows[i])) {
			p->rows[k - 1].ns += p->rows[i].ns;
			free(p->rows[i].fids);
			continue;
		}
		p->rows[k++] = p->rows[i];
	}
	p->n_rows = k;
	for (size_t i = 0; i < p->n_rows; i++) {
		p->threads[p->rows[i].thread].ns += p->rows[i].ns;
		p->total_ns += p->rows[i].ns;
	}
}

int fl_model_finish(struct fl_model *m, const struct stacktab *tab,
		    struct fl_profile *out)
{
	struct builder b = { .m = m, .tab = tab, .out = out };
	int err = m->err;

	memset(out, 0, sizeof(*out));
	out->what = m->what;
	out->points = m->points;
	stacktab_init(&out->names);
	if (err)
		return err;
	fl_model_flush_pending(m);
	b.map = calloc(tab && tab->n_frames ? tab->n_frames : 1,
		       sizeof(*b.map));
	out->rows = calloc(m->n_agg + 1, sizeof(*out->rows));
	err = b.map && out->rows ? make_threads(&b) : -ENOMEM;
	for (size_t i = 0; !err && i < m->agg_cap; i++) {
		const struct fl_agg *a = &m->agg[i];

		if (!a->used)
			continue;
		if (!a->py && !a->native && !(a->flags & FL_NO_PYTHON))
			out->no_stack_ns += a->ns;
		err = add_row(&b, a);
	}
	if (!err)
		merge_rows(out);
	free(b.map);
	free(b.thread_row);
	return err ? err : m->err;
}
