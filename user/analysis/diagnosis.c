// SPDX-License-Identifier: GPL-2.0
/*
 * The diagnosis: which findings a process's figures support, most
 * important first, each with its kind and a plain-language summary. Pure:
 * it reads an analysis and writes nothing; the report (views/report.c)
 * prints what it finds.
 */
#include <stdio.h>
#include <string.h>
#include "analysis/diagnosis.h"
#include "analysis/names.h"

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

static bool has_gil(const struct an_process *p)
{
	return p->gil.addr != 0;
}

static const char *lock_label(const struct an_lock *l, char *buf, size_t len)
{
	names_lock_label(l, buf, len);
	return buf;
}

uint64_t dg_wall(const struct an_process *p)
{
	return p->end_ns > p->start_ns ? p->end_ns - p->start_ns : 0;
}

bool dg_gil_untraced(const struct an_process *p)
{
	return !strcmp(p->gil_method, "unsupported");
}

const char *dg_thread_name(const struct an_process *p, uint32_t tid)
{
	for (size_t i = 0; i < p->n_threads; i++)
		if (p->threads[i]->tid == tid)
			return p->threads[i]->name;
	return "?";
}

/* The span of time P's children with their own interpreter were alive. */
static uint64_t children_span(const struct an_process *p)
{
	const struct an_children *c = &p->python_children;

	if (!c->n || c->last_end <= c->first_start)
		return 0;
	return c->last_end - c->first_start;
}

struct totals {
	int threads, gil_threads;
	uint64_t life, gil_life, gil_wait, lock, lock_life;
	uint64_t waits[GS_R_COUNT];
};

static void sum_threads(const struct an_process *p, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < p->n_threads; i++) {
		const struct an_thread *th = p->threads[i];
		uint64_t life = an_thread_lifetime(th);

		t->threads++;
		t->life += life;
		for (int r = 0; r < GS_R_COUNT; r++)
			t->waits[r] += th->blocked_ns[r];
		/* threads that spent a fifth of their life or more waiting
		 * for the GIL are the contending ones */
		if (th->gil_acquisitions && th->gil_wait_ns * 5 >= life) {
			t->gil_threads++;
			t->gil_life += life;
			t->gil_wait += th->gil_wait_ns;
		}
		/* contention is waiting for a lock another thread holds: not
		 * waiting to be notified (a Condition's waiter lock is held by
		 * the waiter itself), not the main thread in join() */
		if (th->tid != p->pid) {
			for (int k = 0; k < th->n_lock_waits; k++)
				if (th->lock_waits[k].holder &&
				    th->lock_waits[k].holder != th->tid)
					t->lock += th->lock_waits[k].wait_ns;
			t->lock_life += life;
		}
	}
}

/* The lock other threads than main waited for most (main mostly waits in
 * join(), which is not contention). */
static const struct an_lock *most_contended(const struct an_process *p)
{
	const struct an_lock *best = NULL;
	uint64_t best_ns = 0;

	for (size_t i = 0; i < p->n_threads; i++) {
		const struct an_thread *t = p->threads[i];

		if (t->tid == p->pid)
			continue;
		for (int k = 0; k < t->n_lock_waits; k++) {
			uint64_t lock = t->lock_waits[k].lock, ns = 0;
			uint32_t gen = t->lock_waits[k].gen;

			if (!t->lock_waits[k].holder ||
			    t->lock_waits[k].holder == t->tid)
				continue;

			for (size_t m = 0; m < p->n_threads; m++) {
				const struct an_thread *u = p->threads[m];

				for (int q = 0;
				     u->tid != p->pid && q < u->n_lock_waits;
				     q++)
					if (u->lock_waits[q].lock == lock &&
					    u->lock_waits[q].gen == gen)
						ns += u->lock_waits[q].wait_ns;
			}
			if (ns > best_ns) {
				best_ns = ns;
				best = locks_find_gen(&p->locks, lock, gen);
			}
		}
	}
	return best;
}

static int add(struct diagnosis *out, int n, int max, const char *kind)
{
	if (n >= max)
		return -1;
	out[n].kind = kind;
	out[n].summary[0] = '\0';
	return n;
}

/* A lock of a wait-for cycle by its name (its lifetime at the end). */
static const char *deadlock_lock(const struct an_process *p, uint64_t addr,
				 char *buf, size_t len)
{
	const struct an_lock *l = locks_find(&p->locks, addr);

	if (l)
		return lock_label(l, buf, len);
	snprintf(buf, len, "lock 0x%llx", (unsigned long long)addr);
	return buf;
}

static int diagnose_deadlocks(const struct an_process *p, struct diagnosis *out,
			      int n, int max)
{
	for (int k = 0; k < p->n_deadlocks; k++) {
		const struct an_deadlock *d = &p->deadlocks[k];
		size_t len = 0;
		int i = add(out, n, max, "deadlock");
		char label[160];

		if (i < 0)
			break;
		len += snprintf(out[i].summary, sizeof(out[i].summary),
				"Deadlock: ");
		len += snprintf(out[i].summary + len,
				sizeof(out[i].summary) - len, "%s (%u)",
				dg_thread_name(p, d->threads[0]),
				d->threads[0]);
		for (int j = 0; j < d->n && len < sizeof(out[i].summary); j++)
			len += snprintf(
				out[i].summary + len,
				sizeof(out[i].summary) - len,
				"%s waits for %s held by %s (%u)%s",
				j ? ", which" : "",
				deadlock_lock(p, d->locks[j], label,
					      sizeof(label)),
				dg_thread_name(p, d->threads[(j + 1) % d->n]),
				d->threads[(j + 1) % d->n],
				j + 1 < d->n ? "" : ". ");
		if (len < sizeof(out[i].summary))
			snprintf(
				out[i].summary + len,
				sizeof(out[i].summary) - len,
				"None of them can go on until a wait times out: take locks in one global order.");
		n++;
	}
	return n;
}

static int diagnose_children(const struct an_process *p, struct diagnosis *out,
			     int n, int max)
{
	uint64_t cpu = p->python_children.cpu_ns, span = children_span(p);
	int kids = p->python_children.n, i;

	if (kids < 2 || !span || cpu * 10 < span * 13 ||
	    (i = add(out, n, max, "parallel-processes")) < 0)
		return n;
	snprintf(
		out[i].summary, sizeof(out[i].summary),
		"%d child processes, each with its own interpreter and GIL, used %.2f s of CPU in the %.2f s they ran: %.1f CPUs busy on average. Processes run Python in parallel where threads cannot.",
		kids, cpu / 1e9, span / 1e9, (double)cpu / span);
	return n + 1;
}

static int diagnose_user_lock(const struct an_process *p, struct diagnosis *out,
			      int n, int max)
{
	const struct an_ulock *u = &p->ulock;
	uint64_t wait = 0, life = 0;
	int threads = 0, i;

	if (!u->used)
		return n;
	for (size_t k = 0; k < p->n_threads; k++) {
		const struct an_thread *t = p->threads[k];

		if (!t->ulock_wait_ns && !t->ulock_held_ns)
			continue;
		threads++;
		wait += t->ulock_wait_ns;
		life += an_thread_lifetime(t);
	}
	if (threads < 2 || pct(wait, life) < 30 ||
	    (i = add(out, n, max, "user-lock-contention")) < 0)
		return n;
	snprintf(
		out[i].summary, sizeof(out[i].summary),
		"%d threads waited %.0f %% of their life for the --lock lock; it was held %.0f %% of the time and changed hands %llu times: like a GIL, it lets one thread work at a time.",
		threads, pct(wait, life), pct(u->held_ns, dg_wall(p)),
		(unsigned long long)u->handoffs);
	return n + 1;
}

static int diagnose_interleaving(const struct an_process *p,
				 struct diagnosis *out, int n, int max)
{
	uint64_t total = 0;
	int threads = 0, i;

	for (size_t k = 0; k < p->n_threads; k++) {
		const struct an_thread *t = p->threads[k];

		if (t->gil_interleavings >= 20 &&
		    t->lock_acquisitions * 4 < t->gil_interleavings) {
			threads++;
			total += t->gil_interleavings;
		}
	}
	if (threads < 2 || (i = add(out, n, max, "interleaving")) < 0)
		return n;
	snprintf(
		out[i].summary, sizeof(out[i].summary),
		"%d threads gave up the GIL %llu times in the middle of their work (around a sleep or I/O) and another thread ran Python before they went on, without taking a lock: a read-modify-write of shared data that spans such a call loses updates. Protect it with a threading.Lock.",
		threads, (unsigned long long)total);
	return n + 1;
}

int dg_diagnose(const struct analysis *an, const struct an_process *p,
		dg_phases_fn phases, struct diagnosis *out, int max)
{
	uint64_t w = dg_wall(p), blocking;
	struct totals t;
	int n = 0, i, phased;

	sum_threads(p, &t);
	n = diagnose_deadlocks(p, out, n, max);
	blocking = t.waits[GS_R_SLEEP] + t.waits[GS_R_NETWORK] +
		   t.waits[GS_R_IO] + t.waits[GS_R_INPUT];
	if (!has_gil(p) && dg_gil_untraced(p) &&
	    (i = add(out, n, max, "gil-not-traced")) >= 0) {
		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"GIL not traced: gilscope cannot read the GIL of Python %s, so waits for it are counted with the futex waits; scheduling and blocking are shown.",
			p->python);
		n++;
	} else if (!has_gil(p) && !strcmp(p->gil_method, "nogil") &&
		   (i = add(out, n, max, "no-gil")) >= 0) {
		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"No GIL: Python %s is a free-threaded build, threads run Python in parallel; scheduling, blocking and lock waits are shown.",
			p->python);
		n++;
	} else if (!has_gil(p) && (i = add(out, n, max, "no-python")) >= 0) {
		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"No Python interpreter was found in this process: its scheduling and blocking are shown, GIL figures are not available.");
		n++;
	}
	/* contended phases, however short against the whole life; the
	 * whole life when there are none (or no phases were logged) */
	phased = n;
	if (has_gil(p) && phases)
		n = phases(an, p, out, n, max);
	if (has_gil(p) && n == phased && t.gil_threads >= 2 &&
	    pct(t.gil_wait, t.gil_life) >= 40 &&
	    (i = add(out, n, max, "gil-contention")) >= 0) {
		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"%d threads waited %.0f %% of their life for the GIL; it was held %.0f %% of the time. Only one thread runs Python at a time, so these threads take turns instead of running in parallel: use processes (multiprocessing) or native code that releases the GIL for CPU-bound work.",
			t.gil_threads, pct(t.gil_wait, t.gil_life),
			pct(p->gil_held_ns, w));
		n++;
	}
	if (t.waits[GS_R_INPUT] >= w / 10 && t.waits[GS_R_INPUT] >= 100000000 &&
	    (i = add(out, n, max, "input-wait")) >= 0) {
		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"Threads waited %.2f s for terminal or standard input (%.0f %% of the wall time); the GIL is released while waiting, so other threads kept running.",
			t.waits[GS_R_INPUT] / 1e9, pct(t.waits[GS_R_INPUT], w));
		n++;
	}
	if (t.threads >= 2 && blocking > w + w / 5 && w &&
	    pct(p->gil_held_ns, w) < 50 &&
	    (i = add(out, n, max, "io-overlap")) >= 0) {
		size_t len;

		snprintf(
			out[i].summary, sizeof(out[i].summary),
			"Threads spent %.2f s blocked (sleep %.2f s, network %.2f s, I/O %.2f s, input %.2f s) in %.2f s of wall time: the waits overlapped, which is what threads are good at.",
			blocking / 1e9, t.waits[GS_R_SLEEP] / 1e9,
			t.waits[GS_R_NETWORK] / 1e9, t.waits[GS_R_IO] / 1e9,
			t.waits[GS_R_INPUT] / 1e9, w / 1e9);
		len = strlen(out[i].summary);
		if (has_gil(p))
			snprintf(out[i].summary + len,
				 sizeof(out[i].summary) - len,
				 " The GIL was held only %.0f %% of the time.",
				 pct(p->gil_held_ns, w));
		n++;
	}
	if (t.lock_life && pct(t.lock, t.lock_life) >= 30 &&
	    (i = add(out, n, max, "lock-contention")) >= 0) {
		const struct an_lock *top = most_contended(p);
		char label[160];
		size_t len;

		len = snprintf(
			out[i].summary, sizeof(out[i].summary),
			"Threads other than the main thread spent %.0f %% of their life (%.2f s) waiting for locks that other threads held: they are serialised by a lock, not by the GIL.",
			pct(t.lock, t.lock_life), t.lock / 1e9);
		if (top && len < sizeof(out[i].summary))
			snprintf(
				out[i].summary + len,
				sizeof(out[i].summary) - len,
				" Most waited-for: %s, %.2f s of waits over %llu acquisitions, %llu hand-offs from a releasing thread to a waiting one.",
				lock_label(top, label, sizeof(label)),
				top->wait_ns / 1e9,
				(unsigned long long)top->acquisitions,
				(unsigned long long)top->handoffs);
		n++;
	}
	n = diagnose_user_lock(p, out, n, max);
	n = diagnose_children(p, out, n, max);
	n = diagnose_interleaving(p, out, n, max);
	if (!n && (i = add(out, n, max, "no-contention")) >= 0) {
		size_t len = snprintf(
			out[i].summary, sizeof(out[i].summary),
			"No dominant wait: %d thread%s, on CPU %.0f %% of their combined life",
			t.threads, t.threads == 1 ? "" : "s",
			pct(an_cpu_time(p), t.life));

		snprintf(out[i].summary + len, sizeof(out[i].summary) - len,
			 has_gil(p) ? ", waiting for the GIL %.0f %%." : ".",
			 pct(t.gil_wait, t.life));
		n++;
	}
	return n;
}
