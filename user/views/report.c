// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "analysis/names.h"
#include "views/phases_report.h"
#include "views/report_groups.h"
#include "common/utf8.h"
#include "session/keys.h"

/* ------------------------------------------------------------ numbers */

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

/* "1.234 s", "12.3 ms", "45 us" */
const char *report_ns(char *buf, size_t len, uint64_t ns)
{
	if (ns >= 1000000000ull)
		snprintf(buf, len, "%.3f s", ns / 1e9);
	else if (ns >= 1000000ull)
		snprintf(buf, len, "%.1f ms", ns / 1e6);
	else if (ns >= 1000ull)
		snprintf(buf, len, "%.0f us", ns / 1e3);
	else
		snprintf(buf, len, "%llu ns", (unsigned long long)ns);
	return buf;
}

#define fmt_ns report_ns

static bool has_gil(const struct an_process *p)
{
	return p->gil.addr != 0;
}

#define reason_label report_reason

/* Why a process has no GIL figures: the report's line. */
static const char *no_gil_why(const struct an_process *p)
{
	if (dg_gil_untraced(p))
		return "GIL not traced: gilscope cannot read this Python version's GIL, and waits for it are counted with the futex waits";
	if (!strcmp(p->gil_method, "nogil"))
		return "no GIL: a free-threaded build, threads run Python in parallel";
	return "no Python interpreter found: no GIL figures";
}

/* A blocking reason as the text report names it. */
const char *report_reason(const struct an_process *p, int r)
{
	return r == GS_R_LOCK && dg_gil_untraced(p) ? "futex" : reason_name(r);
}

static const char *lock_label(const struct an_lock *l, char *buf, size_t len)
{
	names_lock_label(l, buf, len);
	return buf;
}

/* The interpreter's own count of hand-offs between threads: its
 * switch_number also counts takes of a GIL nobody held before. */
static bool interp_handoffs(const struct an_process *p, uint64_t *out)
{
	uint64_t delta;

	if (!p->have_switch_start || !p->have_switch_end ||
	    p->switch_end < p->switch_start)
		return false;
	delta = p->switch_end - p->switch_start;
	*out = delta >= p->initial_takes ? delta - p->initial_takes : 0;
	return true;
}

/* Hand-off latencies: a process that had none has no histogram. */
static uint64_t latency_at(const struct hist *h, double q)
{
	return h ? hist_quantile(h, q) : 0;
}

static uint64_t latency_max(const struct hist *h)
{
	return h ? h->max : 0;
}

/* ------------------------------------------------------------ diagnosis */

/* ------------------------------------------------------------ diagnosis */

static int contended_phases(const struct analysis *an,
			    const struct an_process *p, struct diagnosis *out,
			    int n, int max)
{
	return ph_diagnose(an->phases, p, an->t0, out, n, max);
}

int diagnose(const struct analysis *an, const struct an_process *p,
	     struct diagnosis *out, int max)
{
	return dg_diagnose(an, p, contended_phases, out, max);
}

/* ------------------------------------------------------------ text */

/* The lock of a wait as the text names it; whether it has a Python name
 * (else its address). */
static bool wait_label(const struct an_thread *t, const struct an_lockwait *w,
		       char *buf, size_t len)
{
	const struct an_lock *l = names_waited_lock(t, w);

	if (l && l->kind[0] && !dg_gil_untraced(t->proc)) {
		lock_label(l, buf, len);
		return true;
	}
	snprintf(buf, len, "%s 0x%llx", reason_label(t->proc, GS_R_LOCK),
		 (unsigned long long)w->lock);
	return false;
}

/* Two entries print as one line: the same name, held or let go by the
 * same threads (a Condition's waiter locks at one site, say). */
static bool same_line(const struct an_thread *t, int a, int b)
{
	const struct an_lockwait *x = &t->lock_waits[a], *y = &t->lock_waits[b];
	char la[160], lb[160];

	if (x->holder != y->holder || x->releaser != y->releaser)
		return false;
	return wait_label(t, x, la, sizeof(la)) &&
	       wait_label(t, y, lb, sizeof(lb)) && !strcmp(la, lb);
}

static void text_lock_waits(FILE *out, const struct an_thread *t)
{
	for (int i = 0; i < t->n_lock_waits; i++) {
		const struct an_lockwait *w = &t->lock_waits[i];
		uint64_t ns = 0, count = 0;
		bool named;
		char label[160], b[24];
		int k;

		for (k = 0; k < i && !same_line(t, k, i); k++)
			;
		if (k < i)
			continue; /* printed with an earlier entry */
		for (k = i; k < t->n_lock_waits; k++)
			if (k == i || same_line(t, k, i)) {
				ns += t->lock_waits[k].wait_ns;
				count += t->lock_waits[k].count;
			}
		if (ns < 1000000)
			continue;
		named = wait_label(t, w, label, sizeof(label));
		fprintf(out, "  %-25s waited %s for %s (%llu time%s)", "",
			fmt_ns(b, sizeof(b), ns), label,
			(unsigned long long)count, count == 1 ? "" : "s");
		if (w->holder == t->tid && !named)
			fprintf(out,
				" to be notified (a Condition, Event or Queue)");
		else if (w->holder == t->tid && w->releaser)
			fprintf(out, " until %u (%s) notified it", w->releaser,
				dg_thread_name(t->proc, w->releaser));
		else if (w->holder == t->tid)
			fprintf(out, " to be notified");
		else if (w->holder)
			fprintf(out, " while %u (%s) held it", w->holder,
				dg_thread_name(t->proc, w->holder));
		else if (w->releaser)
			fprintf(out, " until %u (%s) released it", w->releaser,
				dg_thread_name(t->proc, w->releaser));
		fputc('\n', out);
	}
}

static void text_thread(FILE *out, const struct an_thread *t)
{
	uint64_t life = an_thread_lifetime(t);
	bool gil = has_gil(t->proc);
	char b[8][24];

	/* no GIL figures: not zeros */
	fprintf(out, "  %-8u %-16.16s %9s %9s %9s %9s %9s", t->tid,
		t->name[0] ? t->name : "?", fmt_ns(b[0], 24, life),
		fmt_ns(b[1], 24, t->on_cpu_ns),
		gil ? fmt_ns(b[2], 24, t->gil_held_ns) : "-",
		gil ? fmt_ns(b[3], 24, t->gil_wait_ns) : "-",
		fmt_ns(b[4], 24, t->runnable_ns));
	fprintf(out, " %9s", fmt_ns(b[5], 24, an_blocked_total(t)));
	fprintf(out, " %6llu %6llu %5llu %3d\n",
		(unsigned long long)t->voluntary_switches,
		(unsigned long long)t->involuntary_switches,
		(unsigned long long)t->migrations, an_cpu_count(t->cpus));
	fprintf(out, "  %-25s blocked:", "");
	for (int r = 0; r < GS_R_COUNT; r++)
		if (t->blocked_ns[r])
			fprintf(out, " %s %s", reason_label(t->proc, r),
				fmt_ns(b[6], 24, t->blocked_ns[r]));
	if (!an_blocked_total(t))
		fprintf(out, " never");
	if (gil)
		fprintf(out, "; on-CPU without the GIL %s",
			fmt_ns(b[7], 24, t->on_cpu_ns - t->on_cpu_gil_ns));
	fprintf(out, "%s\n",
		t->killed_at_exit ?
			"; still running when the process exited (daemon)" :
		t->exited ? "" :
			    "; still running at the end");
	text_lock_waits(out, t);
	if (t->ulock_held_ns || t->ulock_wait_ns)
		fprintf(out, "  %-25s --lock held %s, waited %s\n", "",
			fmt_ns(b[6], 24, t->ulock_held_ns),
			fmt_ns(b[7], 24, t->ulock_wait_ns));
}

/* Many threads: one row per group (user/analysis/names.h), the longest-lived rows. */
static void text_groups(FILE *out, const struct an_process *p)
{
	size_t n = 0, folded = 0, rows = 0, hidden = 0;
	struct name_group *g = NULL;
	bool *show;

	if (names_groups(p, &g, &n) || !(show = report_rows_shown(p, g, n))) {
		names_groups_free(g, n);
		for (size_t i = 0; i < p->n_threads; i++)
			text_thread(out, p->threads[i]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (!show[i]) {
			hidden += g[i].n;
			continue;
		}
		if (g[i].n == 1) {
			text_thread(out, p->threads[g[i].members[0]]);
			continue;
		}
		report_text_group(out, p, &g[i]);
		folded += g[i].n;
		rows++;
	}
	fprintf(out,
		"  (%zu threads: %zu folded into %zu rows by name and entry function",
		p->n_threads, folded, rows);
	if (hidden)
		fprintf(out, ", %zu more in %zu rows not shown", hidden,
			n > REPORT_MAX_ROWS ? n - REPORT_MAX_ROWS : 0);
	fprintf(out, "; report --json lists each)\n");
	free(show);
	names_groups_free(g, n);
}

static void text_gil(FILE *out, const struct an_process *p)
{
	uint64_t w = dg_wall(p), counted;
	char b[4][24];

	if (!has_gil(p)) {
		fprintf(out, "  %s\n", no_gil_why(p));
		return;
	}
	fprintf(out,
		"  GIL held %s (%.1f %% of wall), at least one waiter %s (%.1f %%)\n",
		fmt_ns(b[0], 24, p->gil_held_ns), pct(p->gil_held_ns, w),
		fmt_ns(b[1], 24, p->waiter_ns), pct(p->waiter_ns, w));
	fprintf(out,
		"  hand-offs %llu (forced after the switch interval %llu, voluntary %llu)",
		(unsigned long long)p->handoffs,
		(unsigned long long)p->forced_handoffs,
		(unsigned long long)(p->handoffs - p->forced_handoffs));
	if (interp_handoffs(p, &counted))
		fprintf(out, "; the interpreter counted %llu%s\n",
			(unsigned long long)counted,
			counted == p->handoffs ? " (self-check: equal)" :
						 " (self-check: DIFFERENT)");
	else
		fprintf(out,
			"; the interpreter's own count was not readable\n");
	fprintf(out,
		"  hand-off latency (release to a waiting thread's take): p50 %s, p99 %s, max %s\n",
		fmt_ns(b[0], 24, latency_at(p->latency, 0.5)),
		fmt_ns(b[1], 24, latency_at(p->latency, 0.99)),
		fmt_ns(b[2], 24, latency_max(p->latency)));
	if (p->idle_handoffs)
		fprintf(out,
			"  %llu more hand-offs found the GIL idle (nobody waited at the release): free %s in all\n",
			(unsigned long long)p->idle_handoffs,
			fmt_ns(b[0], 24, p->idle_gap_ns));
}

static void text_locks(FILE *out, const struct an_process *p)
{
	const struct an_ulock *u = &p->ulock;
	size_t n = 0;
	struct an_lock **locks = locks_sorted(&p->locks, &n);
	char b[4][24];
	int shown = 0;

	for (size_t i = 0; locks && i < n && shown < 5; i++) {
		const struct an_lock *l = locks[i];
		char label[160];

		if (!l->wait_ns)
			break;
		if (!shown++)
			fprintf(out, "\n  %s waited for:\n",
				dg_gil_untraced(p) ?
					"futexes (the GIL's among them)" :
					"locks");
		if (dg_gil_untraced(p)) {
			fprintf(out, "  - 0x%llx: waited %s\n",
				(unsigned long long)l->addr,
				fmt_ns(b[0], 24, l->wait_ns));
			continue;
		}
		lock_label(l, label, sizeof(label));
		if (!l->acquisitions) { /* 3.13+: a PyMutex, parked on */
			fprintf(out,
				"  - %s: waited %s, released to a waiter %llu times (acquisitions not traced)\n",
				label, fmt_ns(b[0], 24, l->wait_ns),
				(unsigned long long)l->releases);
			continue;
		}
		fprintf(out,
			"  - %s: waited %s, held %s, %llu acquisitions (%llu contended), %llu hand-offs to a waiter\n",
			label, fmt_ns(b[0], 24, l->wait_ns),
			fmt_ns(b[1], 24, l->held_ns),
			(unsigned long long)l->acquisitions,
			(unsigned long long)l->contended,
			(unsigned long long)l->handoffs);
	}
	free(locks);
	if (!u->used)
		return;
	fprintf(out,
		"\n  --lock: held %s (%.1f %% of wall), at least one waiter %s, %llu acquisitions, %llu hand-offs, latency p50 %s p99 %s",
		fmt_ns(b[0], 24, u->held_ns), pct(u->held_ns, dg_wall(p)),
		fmt_ns(b[1], 24, u->waiter_ns),
		(unsigned long long)u->acquisitions,
		(unsigned long long)u->handoffs,
		fmt_ns(b[2], 24, hist_quantile(u->latency, 0.5)),
		fmt_ns(b[3], 24, hist_quantile(u->latency, 0.99)));
	fprintf(out, " max %s\n", fmt_ns(b[0], 24, u->latency->max));
}

static void text_process(FILE *out, const struct analysis *an,
			 const struct an_process *p)
{
	struct diagnosis d[MAX_DIAGNOSES];
	uint64_t w = dg_wall(p);
	char b[2][24], cmd[4 * sizeof(p->command)];
	int n;

	fprintf(out, "\nprocess %u: %s\n", p->pid,
		p->command[0] ? printable(cmd, sizeof(cmd), p->command) : "?");
	if (p->python[0] && has_gil(p))
		fprintf(out, "  Python %s, GIL found by %s\n", p->python,
			p->gil_method);
	else if (p->python[0])
		fprintf(out, "  Python %s\n", p->python);
	fprintf(out, "  wall %s, CPU time %s on %d CPU%s\n",
		fmt_ns(b[0], 24, w), fmt_ns(b[1], 24, an_cpu_time(p)),
		an_cpu_count(p->cpus), an_cpu_count(p->cpus) == 1 ? "" : "s");
	text_gil(out, p);
	fprintf(out, "\n  %-8s %-16s %9s %9s %9s %9s %9s %9s %6s %6s %5s %3s\n",
		"TID", "NAME", "LIFE", "ON-CPU", "GIL-HELD", "GIL-WAIT",
		"RUNNABLE", "BLOCKED", "VOL", "INVOL", "MIGR", "CPU");
	if (report_folds(p))
		text_groups(out, p);
	else
		for (size_t i = 0; i < p->n_threads; i++)
			text_thread(out, p->threads[i]);
	text_locks(out, p);
	/* phases are by threads wanting the GIL: none without one */
	ph_text(out, has_gil(p) ? an->phases : NULL, p, an->t0);
	n = diagnose(an, p, d, MAX_DIAGNOSES);
	fprintf(out, "\n  diagnosis:\n");
	for (int i = 0; i < n; i++)
		fprintf(out, "  - [%s] %s\n", d[i].kind, d[i].summary);
}

void report_text(FILE *out, const struct session_summary *s,
		 const struct analysis *an)
{
	char b[24], cmd[4096], lost[24];

	fprintf(out, "gilscope report: %s\n", s->path ? s->path : "-");
	if (s->command && s->command[0])
		fprintf(out, "recorded: %s\n",
			printable(cmd, sizeof(cmd), s->command));
	if (s->counts_known)
		snprintf(lost, sizeof(lost), "%llu",
			 (unsigned long long)s->lost);
	fprintf(out, "session: %s, %llu events, %s lost, mode %s\n",
		fmt_ns(b, sizeof(b), s->duration_ns),
		(unsigned long long)s->events,
		s->counts_known ? lost : "unknown number",
		s->mode ? s->mode : GS_MODE_EXACT);
	if (s->mode && !strcmp(s->mode, GS_MODE_LIGHT))
		fprintf(out,
			"light mode: no interpreter probes and no syscall tracepoints; GIL waits come from the futex on the GIL, holds and hand-offs are derived from the scheduler (calls that do not sleep are not seen)\n");
	if (s->lost)
		fprintf(out,
			"WARNING: %llu events were lost: figures below are incomplete\n",
			(unsigned long long)s->lost);
	if (s->out_of_order)
		fprintf(out,
			"WARNING: %llu events were read with too many chunks open at once to sort them: figures may be off\n",
			(unsigned long long)s->out_of_order);
	if (s->unseen_switch_ins)
		fprintf(out,
			"note: the kernel did not report %llu switch-ins of traced threads: such a thread's time from its switch-in to its next event reads as runnable\n",
			(unsigned long long)s->unseen_switch_ins);
	if (s->cut_short || (s->damage && s->damage[0]))
		fprintf(out,
			"WARNING: the session file was cut short (%s): this is a report of its readable part\n",
			s->damage && s->damage[0] ? s->damage : "no trailer");
	for (size_t i = 0; i < an->n_procs; i++)
		text_process(out, an, an->procs[i]);
}

/* ------------------------------------------------------------ JSON */

static void json_thread(struct json *j, const struct an_thread *t)
{
	json_begin_object(j, NULL);
	json_u64(j, "tid", t->tid);
	json_string(j, "name", t->name);
	if (t->os_name[0] && strcmp(t->os_name, t->name))
		json_string(j, "os_name", t->os_name);
	else
		json_null(j, "os_name");
	json_string(j, "entry", t->entry);
	json_u64(j, "start_ns", t->start_ns);
	json_u64(j, "end_ns", t->end_ns);
	json_bool(j, "exited", t->exited);
	json_u64(j, "lifetime_ns", an_thread_lifetime(t));
	json_u64(j, "on_cpu_ns", t->on_cpu_ns);
	json_u64(j, "on_cpu_gil_ns", t->on_cpu_gil_ns);
	json_u64(j, "on_cpu_nogil_ns", t->on_cpu_ns - t->on_cpu_gil_ns);
	json_u64(j, "gil_held_ns", t->gil_held_ns);
	json_u64(j, "gil_wait_ns", t->gil_wait_ns);
	json_u64(j, "gil_acquisitions", t->gil_acquisitions);
	json_u64(j, "runnable_ns", t->runnable_ns);
	json_begin_object(j, "blocked_ns");
	for (int r = 0; r < GS_R_COUNT; r++)
		json_u64(j, reason_name(r), t->blocked_ns[r]);
	json_end_object(j);
	json_u64(j, "blocked_total_ns", an_blocked_total(t));
	json_u64(j, "voluntary_switches", t->voluntary_switches);
	json_u64(j, "involuntary_switches", t->involuntary_switches);
	json_u64(j, "migrations", t->migrations);
	json_u64(j, "cpus_used", an_cpu_count(t->cpus));
	json_u64(j, "gil_interleavings", t->gil_interleavings);
	json_bool(j, "killed_at_exit", t->killed_at_exit);
	json_u64(j, "lock_acquisitions", t->lock_acquisitions);
	json_u64(j, "lock_handoffs_received", t->lock_handoffs_received);
	json_begin_array(j, "lock_waits");
	for (int i = 0; i < t->n_lock_waits; i++) {
		const struct an_lockwait *w = &t->lock_waits[i];
		const struct an_lock *l = names_waited_lock(t, w);
		char addr[24], label[160];

		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)w->lock);
		json_begin_object(j, NULL);
		json_string(j, "lock", addr);
		json_u64(j, "lock_lifetime", w->gen);
		json_string(j, "lock_name",
			    l ? lock_label(l, label, sizeof(label)) : "");
		if (w->holder)
			json_u64(j, "holder_tid", w->holder);
		else
			json_null(j, "holder_tid");
		json_string(j, "holder_name",
			    w->holder ? dg_thread_name(t->proc, w->holder) :
					"");
		if (w->releaser)
			json_u64(j, "released_by_tid", w->releaser);
		else
			json_null(j, "released_by_tid");
		json_u64(j, "wait_ns", w->wait_ns);
		json_u64(j, "count", w->count);
		json_end_object(j);
	}
	json_end_array(j);
	if (t->proc && t->proc->ulock.used) {
		json_begin_object(j, "user_lock");
		json_u64(j, "held_ns", t->ulock_held_ns);
		json_u64(j, "wait_ns", t->ulock_wait_ns);
		json_end_object(j);
	}
	json_end_object(j);
}

static void json_latency(struct json *j, const struct hist *h)
{
	json_begin_object(j, "handoff_latency_ns");
	json_u64(j, "count", h ? h->count : 0);
	json_u64(j, "p50", latency_at(h, 0.5));
	json_u64(j, "p99", latency_at(h, 0.99));
	json_u64(j, "max", latency_max(h));
	json_end_object(j);
}

static void json_locks(struct json *j, const struct an_process *p)
{
	size_t n = 0;
	struct an_lock **locks = locks_sorted(&p->locks, &n);
	const struct an_ulock *u = &p->ulock;

	json_begin_array(j, "locks");
	for (size_t i = 0; locks && i < n && i < 20; i++) {
		const struct an_lock *l = locks[i];
		char addr[24], label[160];

		if (!l->wait_ns && i >= 5)
			break;
		snprintf(addr, sizeof(addr), "0x%llx",
			 (unsigned long long)l->addr);
		json_begin_object(j, NULL);
		json_string(j, "address", addr);
		json_u64(j, "lifetime", l->gen);
		json_string(j, "name", lock_label(l, label, sizeof(label)));
		json_string(j, "kind", l->kind);
		json_string(j, "site", l->site);
		if (l->owner)
			json_u64(j, "owner_tid", l->owner);
		else
			json_null(j, "owner_tid");
		json_u64(j, "acquisitions", l->acquisitions);
		json_u64(j, "contended", l->contended);
		json_u64(j, "handoffs", l->handoffs);
		json_u64(j, "wait_ns", l->wait_ns);
		json_u64(j, "held_ns", l->held_ns);
		if (l->holder)
			json_u64(j, "holder_at_end", l->holder);
		else
			json_null(j, "holder_at_end");
		json_end_object(j);
	}
	json_end_array(j);
	free(locks);
	json_begin_array(j, "deadlocks");
	for (int k = 0; k < p->n_deadlocks; k++) {
		const struct an_deadlock *d = &p->deadlocks[k];

		json_begin_object(j, NULL);
		json_u64(j, "ts_ns", d->ts);
		json_begin_array(j, "threads");
		for (int i = 0; i < d->n; i++)
			json_u64(j, NULL, d->threads[i]);
		json_end_array(j);
		json_begin_array(j, "thread_names");
		for (int i = 0; i < d->n; i++)
			json_string(j, NULL, dg_thread_name(p, d->threads[i]));
		json_end_array(j);
		json_begin_array(j, "locks");
		for (int i = 0; i < d->n; i++) {
			char addr[24];

			snprintf(addr, sizeof(addr), "0x%llx",
				 (unsigned long long)d->locks[i]);
			json_string(j, NULL, addr);
		}
		json_end_array(j);
		json_end_object(j);
	}
	json_end_array(j);
	if (!u->used) {
		json_null(j, "user_lock");
		return;
	}
	json_begin_object(j, "user_lock");
	json_u64(j, "held_ns", u->held_ns);
	json_u64(j, "waiter_ns", u->waiter_ns);
	json_u64(j, "acquisitions", u->acquisitions);
	json_u64(j, "handoffs", u->handoffs);
	json_latency(j, u->latency);
	json_end_object(j);
}

static void json_gil(struct json *j, const struct an_process *p)
{
	uint64_t counted;

	json_begin_object(j, "gil");
	json_u64(j, "held_ns", p->gil_held_ns);
	json_double(j, "held_pct", pct(p->gil_held_ns, dg_wall(p)));
	json_u64(j, "waiter_ns", p->waiter_ns);
	json_u64(j, "handoffs", p->handoffs);
	json_u64(j, "forced_handoffs", p->forced_handoffs);
	json_u64(j, "voluntary_handoffs", p->handoffs - p->forced_handoffs);
	json_u64(j, "acquisitions", p->acquisitions);
	json_u64(j, "releases", p->releases);
	json_u64(j, "initial_takes", p->initial_takes);
	if (interp_handoffs(p, &counted)) {
		json_u64(j, "interpreter_switches", counted);
		json_u64(j, "switch_number_delta",
			 p->switch_end - p->switch_start);
	} else {
		json_null(j, "interpreter_switches");
		json_null(j, "switch_number_delta");
	}
	json_latency(j, p->latency);
	json_u64(j, "idle_handoffs", p->idle_handoffs);
	json_u64(j, "idle_gap_ns", p->idle_gap_ns);
	json_end_object(j);
}

static void json_process(struct json *j, const struct analysis *an,
			 const struct an_process *p)
{
	struct diagnosis d[MAX_DIAGNOSES];
	int n = diagnose(an, p, d, MAX_DIAGNOSES);

	json_begin_object(j, NULL);
	json_u64(j, "pid", p->pid);
	json_u64(j, "ppid", p->ppid);
	json_string(j, "command", p->command);
	if (p->python[0])
		json_string(j, "python_version", p->python);
	else
		json_null(j, "python_version");
	json_string(j, "gil_method", p->gil_method[0] ? p->gil_method : "none");
	json_u64(j, "start_ns", p->start_ns);
	json_u64(j, "end_ns", p->end_ns);
	json_bool(j, "exited", p->exited);
	json_u64(j, "wall_ns", dg_wall(p));
	json_u64(j, "cpu_time_ns", an_cpu_time(p));
	json_u64(j, "cpus_used", an_cpu_count(p->cpus));
	if (has_gil(p))
		json_gil(j, p);
	else
		json_null(j, "gil");
	json_begin_array(j, "threads");
	for (size_t i = 0; i < p->n_threads; i++)
		json_thread(j, p->threads[i]);
	json_end_array(j);
	report_json_groups(j, p);
	json_locks(j, p);
	ph_json(j, has_gil(p) ? an->phases : NULL, p, an->t0);
	json_begin_array(j, "diagnosis");
	for (int i = 0; i < n; i++) {
		json_begin_object(j, NULL);
		json_string(j, "kind", d[i].kind);
		json_string(j, "summary", d[i].summary);
		json_end_object(j);
	}
	json_end_array(j);
	json_end_object(j);
}

/* A count the recorder writes in the trailer: null when there is none */
static void json_count(struct json *j, const char *key, uint64_t n, bool known)
{
	if (known)
		json_u64(j, key, n);
	else
		json_null(j, key);
}

void report_json(FILE *out, const struct session_summary *s,
		 const struct analysis *an)
{
	struct json j;

	json_init(&j, out);
	json_begin_object(&j, NULL);
	json_begin_object(&j, "session");
	json_string(&j, "file", s->path ? s->path : "");
	json_string(&j, "command", s->command ? s->command : "");
	json_string(&j, "mode", s->mode ? s->mode : GS_MODE_EXACT);
	json_u64(&j, "events", s->events);
	json_count(&j, "lost", s->lost, s->counts_known);
	json_u64(&j, "out_of_order", s->out_of_order);
	json_count(&j, "unseen_switch_ins", s->unseen_switch_ins,
		   s->counts_known);
	json_u64(&j, "duration_ns", s->duration_ns);
	json_bool(&j, "cut_short", s->cut_short || (s->damage && s->damage[0]));
	json_string(&j, "damage", s->damage ? s->damage : "");
	json_end_object(&j);
	json_begin_array(&j, "processes");
	for (size_t i = 0; i < an->n_procs; i++)
		json_process(&j, an, an->procs[i]);
	json_end_array(&j);
	json_end_object(&j);
}
