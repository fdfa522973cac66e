// SPDX-License-Identifier: GPL-2.0
/* `gilscope top`'s screen (top_view.h). */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/top_view.h"
#include "common/utf8.h"

#define KEYS_HELP                                                             \
	"keys: w GIL wait  h held  c cpu  r runnable  b blocked  o hand-offs" \
	"  t tid  n name  j/k scroll  q quit"

static const char *const sort_names[] = {
	[TV_WAIT] = "GIL wait",	  [TV_HELD] = "GIL held",
	[TV_CPU] = "on-CPU",	  [TV_RUNQ] = "runnable",
	[TV_BLOCKED] = "blocked", [TV_HANDOFFS] = "hand-offs",
	[TV_TID] = "tid",	  [TV_NAME] = "name",
};

/* ------------------------------------------------------------ sorting */

/* What a thread is sorted by (larger first), for the ns-based keys. */
static uint64_t thread_key(const struct tm_thread *t, enum tv_sort sort)
{
	switch (sort) {
	case TV_WAIT:
		return t->gil_wait_ns;
	case TV_HELD:
		return t->gil_held_ns;
	case TV_CPU:
		return t->on_cpu_ns;
	case TV_RUNQ:
		return t->runnable_ns;
	case TV_BLOCKED:
		return tm_blocked_total(t);
	case TV_HANDOFFS:
		return t->handoffs_in;
	default:
		return 0;
	}
}

static uint64_t process_key(const struct tm_process *p, enum tv_sort sort)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < p->n_threads; i++)
		sum += thread_key(&p->threads[i], sort);
	return sum;
}

static int cmp_u64_desc(uint64_t a, uint64_t b)
{
	return (a < b) - (a > b);
}

static int thread_cmp(const void *a, const void *b, void *ctx)
{
	const struct tm_thread *x = a, *y = b;
	enum tv_sort sort = *(const enum tv_sort *)ctx;
	int c;

	if (sort == TV_NAME && (c = strcmp(x->name, y->name)))
		return c;
	if (sort != TV_TID && sort != TV_NAME &&
	    (c = cmp_u64_desc(thread_key(x, sort), thread_key(y, sort))))
		return c;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

static int process_cmp(const void *a, const void *b, void *ctx)
{
	const struct tm_process *x = a, *y = b;
	enum tv_sort sort = *(const enum tv_sort *)ctx;
	int c;

	if (sort == TV_NAME && (c = strcmp(x->command, y->command)))
		return c;
	if (sort != TV_TID && sort != TV_NAME &&
	    (c = cmp_u64_desc(process_key(x, sort), process_key(y, sort))))
		return c;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

void tv_sort(struct tm_snapshot *s, enum tv_sort sort)
{
	qsort_r(s->procs, s->n_procs, sizeof(*s->procs), process_cmp, &sort);
	for (size_t i = 0; i < s->n_procs; i++)
		qsort_r(s->procs[i].threads, s->procs[i].n_threads,
			sizeof(*s->procs[i].threads), thread_cmp, &sort);
}

/* ------------------------------------------------------------ text */

enum col_id {
	C_TID,
	C_NAME,
	C_WAIT,
	C_HELD,
	C_NOGIL,
	C_RUNQ,
	C_BLOCKED,
	C_HOFF,
	C_P99,
	C_STACK,
	C_N
};

struct column {
	const char *head;
	int width; /* the stack takes what is left, at least this */
	int prio;  /* lower: kept first on a narrow screen */
	bool left; /* aligned left */
};

static const struct column columns[C_N] = {
	[C_TID] = { "TID", 7, 3, false },
	[C_NAME] = { "NAME", 16, 0, true },
	[C_WAIT] = { "WAIT%", 6, 1, false },
	[C_HELD] = { "HELD%", 6, 2, false },
	[C_NOGIL] = { "NOGIL%", 7, 5, false },
	[C_RUNQ] = { "RUNQ%", 6, 8, false },
	[C_BLOCKED] = { "BLOCKED", 15, 4, true },
	[C_HOFF] = { "HOFF/s", 7, 6, false },
	[C_P99] = { "P99", 7, 7, false },
	[C_STACK] = { "HOTTEST GIL-WAIT STACK", 24, 9, true },
};

#define INDENT 2

/* The columns that fit in WIDTH, the most important first: one that does
 * not fit leaves out every less important one too. */
static void choose_columns(int width, bool shown[C_N])
{
	int used = INDENT;

	memset(shown, 0, C_N * sizeof(*shown));
	for (int prio = 0; prio < C_N; prio++)
		for (int c = 0; c < C_N; c++) {
			if (columns[c].prio != prio)
				continue;
			if (used + columns[c].width + 1 > width)
				return;
			shown[c] = true;
			used += columns[c].width + 1;
		}
}

static void fmt_pct(char *b, size_t n, uint64_t ns, uint64_t life)
{
	snprintf(b, n, "%.1f", tm_pct(ns, life));
}

static void fmt_ns(char *b, size_t n, uint64_t ns)
{
	if (!ns)
		snprintf(b, n, "-");
	else if (ns < 10000)
		snprintf(b, n, "%.1fus", ns / 1e3);
	else if (ns < 10000000)
		snprintf(b, n, "%.0fus", ns / 1e3);
	else if (ns < 10000000000ull)
		snprintf(b, n, "%.0fms", ns / 1e6);
	else
		snprintf(b, n, "%.0fs", ns / 1e9);
}

/* "97% sleep": how much it was blocked, and on what most. */
static void fmt_blocked(char *b, size_t n, const struct tm_thread *t)
{
	uint64_t total = tm_blocked_total(t);
	int top = 0;

	for (int r = 1; r < GS_R_COUNT; r++)
		if (t->blocked_ns[r] > t->blocked_ns[top])
			top = r;
	if (!total)
		snprintf(b, n, "-");
	else
		snprintf(b, n, "%.0f%% %s", tm_pct(total, t->life_ns),
			 reason_name(top));
}

/* The innermost frames that fit, leaf first. */
static void fmt_stack(char *b, size_t n, const struct tm_stack *s)
{
	size_t len = 0;

	snprintf(b, n, "%s", s->n ? s->frames[0] : s->ns ? "(no Python)" : "-");
	for (int i = 1; i < s->n; i++) {
		len = strlen(b);
		if (len + 3 + strlen(s->frames[i]) >= n)
			break;
		snprintf(b + len, n - len, " < %s", s->frames[i]);
	}
}

static void cell(const struct tm_thread *t, double secs, enum col_id c, char *b,
		 size_t n)
{
	switch (c) {
	case C_TID:
		snprintf(b, n, "%u", t->tid);
		break;
	case C_NAME:
		snprintf(b, n, "%s", t->name);
		break;
	case C_WAIT:
		fmt_pct(b, n, t->gil_wait_ns, t->life_ns);
		break;
	case C_HELD:
		fmt_pct(b, n, t->gil_held_ns, t->life_ns);
		break;
	case C_NOGIL:
		fmt_pct(b, n, t->on_cpu_ns - t->on_cpu_gil_ns, t->life_ns);
		break;
	case C_RUNQ:
		fmt_pct(b, n, t->runnable_ns, t->life_ns);
		break;
	case C_BLOCKED:
		fmt_blocked(b, n, t);
		break;
	case C_HOFF:
		snprintf(b, n, "%.0f", secs > 0 ? t->handoffs_in / secs : 0);
		break;
	case C_P99:
		fmt_ns(b, n, t->handoff_p99_ns);
		break;
	default:
		fmt_stack(b, n, &t->wait_stack);
		break;
	}
}

/* One row: the thread T, or the column heads when T is NULL. */
static void row(char *out, size_t len, int width, const bool shown[C_N],
		const struct tm_thread *t, double secs)
{
	size_t pos = 0;

	snprintf(out, len, "%*s", INDENT, "");
	pos = INDENT;
	for (int c = 0; c < C_N && pos < len; c++) {
		char b[512];
		int w = columns[c].width;

		if (!shown[c])
			continue;
		if (c == C_STACK)
			w = width - (int)pos > w ? width - (int)pos : w;
		if (t)
			cell(t, secs, c, b, sizeof(b));
		else
			snprintf(b, sizeof(b), "%s", columns[c].head);
		pos += snprintf(out + pos, len - pos,
				columns[c].left ? "%-*.*s " : "%*.*s ", w, w,
				b);
	}
	if ((int)strlen(out) > width)
		out[width] = '\0';
}

static void process_line(char *out, size_t len, const struct tm_process *p,
			 double secs)
{
	char p99[32], py[64] = "", cmd[4 * sizeof(p->command)];

	fmt_ns(p99, sizeof(p99), p->handoff_p99_ns);
	printable(cmd, sizeof(cmd), p->command);
	if (p->python[0])
		snprintf(py, sizeof(py), " (Python %s)", p->python);
	if (!p->has_gil) {
		snprintf(out, len, "PID %u  no GIL known  CPU %.2f  %s%s%s",
			 p->pid, secs > 0 ? p->cpu_ns / 1e9 / secs : 0, cmd, py,
			 p->exited ? "  [exited]" : "");
		return;
	}
	snprintf(
		out, len,
		"PID %u  GIL held %.1f%%  waited for %.1f%%  hand-offs %.0f/s p99 %s  CPU %.2f  %s%s%s",
		p->pid, tm_pct(p->gil_held_ns, p->life_ns),
		tm_pct(p->waiter_ns, p->life_ns),
		secs > 0 ? p->handoffs / secs : 0, p99,
		secs > 0 ? p->cpu_ns / 1e9 / secs : 0, cmd, py,
		p->exited ? "  [exited]" : "");
}

static void title_line(char *out, size_t len, const struct tm_snapshot *s,
		       const struct tv_state *st)
{
	size_t threads = 0;
	double secs = s ? (s->end_ns - s->start_ns) / 1e9 : st->interval_s;

	for (size_t i = 0; s && i < s->n_procs; i++)
		threads += s->procs[i].n_threads;
	snprintf(
		out, len,
		"gilscope top - %s - every %.1f s - %s - %zu processes, %zu threads - %.0f events/s, %llu lost, %llu late - sorted by %s",
		st->scope, st->interval_s, s && s->light ? "light" : "exact",
		s ? s->n_procs : 0, threads,
		s && secs > 0 ? s->events / secs : 0,
		(unsigned long long)(s ? s->lost : 0),
		(unsigned long long)(s ? s->late : 0), sort_names[st->sort]);
}

void tv_lines(const struct tm_snapshot *s, const struct tv_state *st, int width,
	      void (*line)(void *ctx, enum tv_line kind, const char *text),
	      void *ctx)
{
	bool shown[C_N];
	double secs;
	char buf[2048];

	if (width >= (int)sizeof(buf))
		width = sizeof(buf) - 1;
	title_line(buf, sizeof(buf), s, st);
	line(ctx, TV_TITLE, buf);
	line(ctx, TV_KEYS, KEYS_HELP);
	if (!s) {
		line(ctx, TV_TEXT, "collecting the first interval ...");
		return;
	}
	if (!s->n_procs)
		line(ctx, TV_TEXT, "no Python process traced in this interval");
	choose_columns(width, shown);
	row(buf, sizeof(buf), width, shown, NULL, 0);
	line(ctx, TV_HEAD, buf);
	secs = (s->end_ns - s->start_ns) / 1e9;
	for (size_t i = 0; i < s->n_procs; i++) {
		const struct tm_process *p = &s->procs[i];

		process_line(buf, sizeof(buf), p, secs);
		line(ctx, TV_PROC, buf);
		for (size_t k = 0; k < p->n_threads; k++) {
			row(buf, sizeof(buf), width, shown, &p->threads[k],
			    secs);
			line(ctx, TV_THREAD, buf);
		}
	}
}

struct print_ctx {
	FILE *out;
	int width;
};

static void print_line(void *ctx, enum tv_line kind, const char *text)
{
	struct print_ctx *pc = ctx;

	if (kind != TV_KEYS)
		fprintf(pc->out, "%.*s\n", pc->width, text);
}

void tv_print(FILE *out, struct tm_snapshot *s, const struct tv_state *st,
	      int width)
{
	struct print_ctx pc = { .out = out, .width = width };

	tv_sort(s, st->sort);
	tv_lines(s, st, width, print_line, &pc);
}

/* ------------------------------------------------------------ curses */

struct draw_ctx {
	int y, rows, scroll;
};

static void draw_line(void *ctx, enum tv_line kind, const char *text)
{
	struct draw_ctx *d = ctx;
	int attr = kind == TV_TITLE ? A_BOLD :
		   kind == TV_HEAD  ? A_REVERSE :
		   kind == TV_PROC  ? A_BOLD :
				      A_NORMAL;

	if (kind == TV_PROC || kind == TV_THREAD) {
		if (d->rows++ < d->scroll)
			return;
	}
	if (d->y >= LINES)
		return;
	attron(attr);
	mvaddnstr(d->y++, 0, text, COLS);
	attroff(attr);
}

static void draw(struct tm_snapshot *s, struct tv_state *st)
{
	struct draw_ctx d = { .scroll = st->scroll };

	if (s)
		tv_sort(s, st->sort);
	erase();
	tv_lines(s, st, COLS, draw_line, &d);
	/* the last rows may have gone: scroll back to what there is */
	if (st->scroll > 0 && st->scroll >= d.rows)
		st->scroll = d.rows ? d.rows - 1 : 0;
	refresh();
}

/* A key: true when the screen must be drawn again. */
static bool on_key(struct tv_shared *sh, int ch)
{
	static const char keys[] = {
		[TV_WAIT] = 'w', [TV_HELD] = 'h',    [TV_CPU] = 'c',
		[TV_RUNQ] = 'r', [TV_BLOCKED] = 'b', [TV_HANDOFFS] = 'o',
		[TV_TID] = 't',	 [TV_NAME] = 'n'
	};
	struct tv_state *st = &sh->st;

	for (size_t i = 0; i < sizeof(keys); i++)
		if (ch == keys[i]) {
			st->sort = i;
			return true;
		}
	switch (ch) {
	case 'q':
	case 'Q':
		sh->quit = true;
		return false;
	case 'j':
	case KEY_DOWN:
		st->scroll++;
		return true;
	case 'k':
	case KEY_UP:
		st->scroll = st->scroll > 0 ? st->scroll - 1 : 0;
		return true;
	case KEY_NPAGE:
		st->scroll += LINES / 2;
		return true;
	case KEY_PPAGE:
		st->scroll = st->scroll > LINES / 2 ? st->scroll - LINES / 2 :
						      0;
		return true;
	case KEY_RESIZE:
		return true;
	}
	return false;
}

/* The snapshot the recorder's thread left, if a new one is there. */
static struct tm_snapshot *take_latest(struct tv_shared *sh)
{
	struct tm_snapshot *s;

	pthread_mutex_lock(&sh->lock);
	s = sh->latest;
	sh->latest = NULL;
	pthread_mutex_unlock(&sh->lock);
	return s;
}

void *tv_main(void *arg)
{
	struct tv_shared *sh = arg;
	struct tm_snapshot *cur = NULL, *s;
	bool dirty = true;

	initscr();
	cbreak(); /* Ctrl-C still interrupts: the recorder's handler stops */
	noecho();
	keypad(stdscr, TRUE);
	curs_set(0);
	timeout(100);
	while (!sh->stop && !sh->quit) {
		int ch;

		if ((s = take_latest(sh))) {
			tm_snapshot_free(cur);
			cur = s;
			dirty = true;
		}
		if (dirty)
			draw(cur, &sh->st);
		ch = getch();
		dirty = ch != ERR && on_key(sh, ch);
	}
	tm_snapshot_free(cur);
	endwin();
	return NULL;
}
