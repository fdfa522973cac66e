/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Phases of a process's life: stretches where the number of threads that
 * want the GIL (hold it or wait for it) is steady, each with its own
 * figures, diagnosis and what-if estimate. Pure: fed the analysis's
 * accounted intervals (struct an_sink.account) as it makes them.
 *
 *   ph_log_init(&log, ncpus); log.an = an; log.tab = tab;
 *   an_set_sink(an, ph_log_sink(&log));   ... run the analysis ...
 *   ph_compute(&log, p, &phases);   ... read phases.v[0 .. n) ...
 *   ph_phases_free(&phases); ph_log_free(&log);
 */
#ifndef GS_PHASES_H
#define GS_PHASES_H

#include <stdbool.h>
#include <stdint.h>
#include "analysis/analysis.h"
#include "session/stacktab.h"

/*
 * The shortest phase: 20 ms, four GIL switch intervals (5 ms each). The
 * number of threads that want the GIL changes on the scale of one turn
 * (a thread's I/O, a hand-off, threads starting one after another and
 * ending a turn apart), so a change shorter than a few turns is a blip of
 * the phase around it, not a phase of its own.
 */
#define PH_MIN_PHASE_NS 20000000ull

/*
 * A thread counts in a phase when it wanted the GIL a fifth of the phase
 * or more (the rule the whole-life diagnosis uses for contending threads);
 * a threaded phase is contended when those threads waited 40 % or more of
 * their time in it for the GIL, or when on average one of them or more
 * wanted it while another held it (sum of their wanting time minus the
 * GIL's held time at least the phase's length): on a loaded machine they
 * wait for a CPU as much as for the GIL (seen: 23 % GIL waits, the GIL
 * held 96 % of the phase, 1.3 threads wanting it beyond the holder).
 */
#define PH_MEMBER_SHARE 5
#define PH_CONTENDED_PCT 40
/*
 * A threaded phase takes in the stretches where one of its threads wants
 * the GIL alone: before it, the first worker before the others start, when
 * it wanted the GIL half the phase or more (not the thread that started
 * them: it wants the GIL a moment for each start, then waits in join());
 * after it, the last worker finishing, when it is a member of the phase,
 * wanted the GIL half the phase's last minimum phase, or was started in
 * the phase (the last of a batch, started late on a loaded machine: its
 * starter waited for the GIL); never the process's main thread, which
 * joined them. Up to half the phase (a
 * minimum phase at least): taking turns, a thread can lag the others by
 * several turns (26 ms after a 106 ms phase, 60 ms after 274 ms, seen on a
 * loaded machine); longer, the lone thread is serial work of its own.
 */
#define PH_WIDEN_SHARE 2
#define PH_TAIL_SHARE 2
/* In the tail, another thread's moment shorter than one switch interval
 * (the joiner taking the GIL between two joins) does not end it. */
#define PH_TAIL_GAP_NS 5000000ull

enum ph_kind {
	PH_IDLE,     /* no thread wanted the GIL or ran */
	PH_NATIVE,   /* threads ran, none wanted the GIL */
	PH_SERIAL,   /* one thread at a time wanted the GIL */
	PH_THREADED, /* two or more threads wanted it at once */
	PH_KINDS
};

/* One accounted interval of one thread. */
struct ph_span {
	const struct an_thread *t;
	uint64_t start, end;
	uint8_t state, reason;
	bool holding, waiting;
	bool starting; /* runnable before its first GIL request */
};

/*
 * Where the process's main thread was, from its Python stacks
 * (analysis/phases_roles.c): the last stack of the interpreter starting up
 * (importing modules, before the program's own code ran) and the first
 * and last stacks of the program's own code; 0 when none was seen.
 */
struct ph_life {
	uint64_t startup_last, program_first, program_last;
};

struct ph_proc_log {
	const struct an_process *p;
	struct ph_span *v;
	size_t n, cap;
	struct ph_life life;
};

struct ph_log {
	int ncpus; /* the machine's online CPUs, 0 when unknown */
	struct ph_proc_log *procs;
	size_t n, cap;
	/* procs by process: open addressing, index + 1 (0: empty); a
	 * session may hold tens of thousands of processes */
	size_t *slots;
	size_t nslots;
	bool oom;	     /* a span could not be kept: no phases */
	struct an_sink sink; /* ph_log_sink() */
	/* to read the main threads' stacks (phases_roles.c): both NULL
	 * without stacks, and then no start-up phase */
	const struct analysis *an;
	const struct stacktab *tab;
};

/* What a phase is in the process's life, beyond its kind. */
enum ph_role {
	PH_ROLE_NONE,
	PH_ROLE_STARTUP,  /* the interpreter starting, importing modules */
	PH_ROLE_SHUTDOWN, /* after the last worker ended, to the exit */
};

struct phase {
	enum ph_kind kind;
	enum ph_role role;
	uint64_t start, end;
	/* threads that wanted the GIL a fifth of the phase or more */
	int members;
	/* sums over the members, within the phase */
	uint64_t member_time, member_gil_wait, member_want;
	/* sums over every thread of the process, within the phase; work is
	 * on-CPU time not spent waiting for the GIL (take_gil's own run) */
	uint64_t on_cpu, work, gil_held;
	/* the member with the longest own path: its work plus its waits
	 * that other threads do not cause (sleep, I/O, network, input,
	 * other), and that path */
	uint32_t longest_tid;
	uint64_t longest_cpu, longest_path;
	bool contended;
	/* if the GIL were not the bottleneck: max(longest_path, work /
	 * ncpus); 0 unless contended */
	uint64_t whatif_ns;
};

struct ph_phases {
	struct phase *v;
	size_t n;
	int ncpus;
};

void ph_log_init(struct ph_log *log, int ncpus);
void ph_log_free(struct ph_log *log);
/* P's log, added when new; NULL without memory. */
struct ph_proc_log *ph_proc_log_of(struct ph_log *log,
				   const struct an_process *p);
/* An an_sink.account callback: CTX is the struct ph_log. */
void ph_account(void *ctx, const struct an_thread *t, enum an_sched state,
		enum gs_reason reason, bool gil_holding, bool gil_waiting,
		uint64_t start, uint64_t end);

/* The phases of P, in time order, covering its accounted life. Returns 0
 * (OUT->n is 0 when nothing was logged for P), or -ENOMEM. */
int ph_compute(const struct ph_log *log, const struct an_process *p,
	       struct ph_phases *out);
void ph_phases_free(struct ph_phases *ph);

const char *ph_kind_name(enum ph_kind k);
/* A phase in a Python programmer's words: "start-up", "serial",
 * "threaded", "shutdown", "native", "idle". */
const char *ph_label(const struct phase *ph);

/* An an_sink.event callback: the main threads' stacks (CTX: the log). */
void ph_event(void *ctx, const struct gs_event *e);
/* The start-up and shutdown phases of PL's process among its phases
 * V[0 .. *N) (room for two more): split off and given their role. */
void ph_roles(const struct ph_proc_log *pl, struct phase *v, size_t *n);

/* A sink that logs the accounted intervals into LOG, and the main
 * threads' stacks (its account and event callbacks alone: the analysis
 * skips the work of the others). */
const struct an_sink *ph_log_sink(struct ph_log *log);

#endif /* GS_PHASES_H */
