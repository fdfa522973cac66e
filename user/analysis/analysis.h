/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reconstruct what every thread did from the event stream: pure and
 * deterministic, fed one event at a time in timestamp order.
 *
 *   an = an_new(&setup);
 *   an_add_process(an, ...) / an_add_thread(an, ...)   what was there at t0
 *   while (next event) an_event(an, &e);
 *   an_finish(an, end_ns);
 *   ... read an->procs ...
 *   an_free(an);
 */
#ifndef GS_ANALYSIS_H
#define GS_ANALYSIS_H

#include <stdbool.h>
#include <stdint.h>
#include "gilscope.h"
#include "common/hist.h"
#include "common/pidmap.h"
#include "analysis/locks.h"
#include "common/syscalls.h"

/* Where the GIL of one process image lives (runtime addresses). */
struct an_gil {
	uint64_t addr; /* struct _gil_runtime_state, 0 when unknown */
	uint64_t size;
	uint64_t cond, mutex, switch_cond, switch_mutex;
};

enum an_sched { AN_UNKNOWN, AN_RUNNING, AN_RUNNABLE, AN_BLOCKED, AN_DEAD };

/* What a thread is doing, for timelines: one kind at any moment. */
enum an_slice_kind {
	AN_SLICE_UNKNOWN,
	AN_SLICE_GIL_HELD, /* on a CPU, holding the GIL: running Python */
	AN_SLICE_RUNNING,  /* on a CPU without the GIL (native code) */
	AN_SLICE_GIL_WAIT, /* asked for the GIL, not yet given it */
	AN_SLICE_RUNNABLE, /* woken or preempted, waiting for a CPU */
	AN_SLICE_BLOCKED,  /* off-CPU for a reason */
};

struct an_slice {
	enum an_slice_kind kind;
	enum gs_reason reason; /* BLOCKED */
	int cpu;	       /* GIL_HELD, RUNNING */
	int sys_nr;	       /* the syscall it sat in, -1 */
	uint64_t detail;      /* the syscall's first argument (futex address) */
	uint32_t lock_holder; /* asleep on a lock: the thread holding it, 0 */
};

struct an_thread;
struct an_process;

/* Children of a process that run their own interpreter (GIL known). */
struct an_children {
	int n;
	uint64_t cpu_ns;		/* their threads' on-CPU time */
	uint64_t first_start, last_end; /* valid when n > 0 */
};

#define AN_MAX_LOCKWAITS 8
#define AN_MAX_DEADLOCKS 8
#define AN_MAX_CYCLE 16

/* Time a thread waited for one lock while one thread held it. */
struct an_lockwait {
	uint64_t lock;
	uint32_t gen;	 /* the lock's lifetime at that address (an_lock.gen) */
	uint32_t holder; /* 0: free when the wait began, or unknown */
	/* holder unknown (3.13+: a PyMutex has no traced acquisitions): the
	 * thread whose release ended the wait (it unparked this one), or 0 */
	uint32_t releaser;
	uint64_t wait_ns;
	uint64_t count;
};

/* A wait-for cycle: threads[i] waits for locks[i], held by threads[i+1]. */
struct an_deadlock {
	int n;
	uint32_t threads[AN_MAX_CYCLE];
	uint64_t locks[AN_MAX_CYCLE];
	uint64_t ts;
};

/* A lock named with --lock, followed like the GIL. */
struct an_ulock {
	bool used;
	uint32_t holder, prev_acquirer, releaser;
	int n_waiters;
	uint64_t held_ns, waiter_ns, handoffs, acquisitions;
	uint64_t release_ts;
	bool release_pending;
	struct hist *latency;
};

/*
 * Optional listener: timelines and other views get every state slice of
 * every thread (slices of one thread never overlap and cover its life) and
 * every GIL hand-off, as the analysis reconstructs them.
 */
struct an_sink {
	void *ctx;
	void (*slice)(void *ctx, const struct an_thread *t,
		      const struct an_slice *s, uint64_t start, uint64_t end);
	/* from_tid released at release_ts, to_tid took it at acquire_ts */
	void (*handoff)(void *ctx, const struct an_process *p,
			uint32_t from_tid, uint32_t to_tid, uint64_t release_ts,
			uint64_t acquire_ts, bool forced);
	/* the same for a threading lock: a waiter took it after a release */
	void (*lock_handoff)(void *ctx, const struct an_process *p,
			     uint64_t lock, uint32_t from_tid, uint32_t to_tid,
			     uint64_t release_ts, uint64_t acquire_ts);
	/* the number of GIL waiters or runnable threads of P changed */
	void (*counts)(void *ctx, const struct an_process *p, uint64_t ts,
		       int gil_waiters, int runnable);
	/* every raw event, before the analysis applies it */
	void (*event)(void *ctx, const struct gs_event *e);
	/* Every interval of a thread's life as the report counts it: in
	 * STATE (REASON when blocked), holding or waiting for the GIL. Sums
	 * over these equal the thread's on_cpu_ns, blocked_ns[], gil_wait_ns;
	 * time first counted as AN_UNKNOWN is given again, once known, with
	 * its state and without the GIL flags (flame graphs, views/flame_*.c). */
	void (*account)(void *ctx, const struct an_thread *t,
			enum an_sched state, enum gs_reason reason,
			bool gil_holding, bool gil_waiting, uint64_t start,
			uint64_t end);
};

#define AN_MAX_PEND 16

struct an_thread {
	struct an_process *proc;
	uint32_t tid, tgid;
	/* what every view calls it: its Python name (threading.Thread.name)
	 * once user/analysis/names.c gave it, else main, thread-N or its comm */
	char name[64];
	char os_name[16]; /* its comm (OS thread name), set by an_finish */
	uint64_t py_stack, py_stack_last; /* its first and last Python
					    * stacks (ids), 0 */
	char entry[96]; /* its entry function, "" unknown (names.c) */
	bool py_named;	/* name is its Python name (names.c) */
	uint64_t start_ns, end_ns;
	bool exited;

	/* results */
	uint64_t on_cpu_ns, on_cpu_gil_ns, runnable_ns;
	uint64_t blocked_ns[GS_R_COUNT];
	uint64_t gil_held_ns, gil_wait_ns;
	uint64_t gil_acquisitions, gil_releases;
	uint64_t voluntary_switches, involuntary_switches, migrations;
	uint64_t cpus[4]; /* bitmap of CPUs it ran on (first 256) */
	struct an_lockwait lock_waits[AN_MAX_LOCKWAITS];
	int n_lock_waits;
	uint64_t lock_acquisitions, lock_handoffs_received;
	/* times it gave the GIL up and another thread ran Python before it
	 * got it back: where a read-modify-write can interleave */
	uint64_t gil_interleavings;
	bool killed_at_exit; /* still running when the process exited */
	uint64_t ulock_held_ns, ulock_wait_ns;

	/* live state */
	uint64_t lock_waiting; /* lock it sleeps on now, 0 */
	uint64_t lock_wait_start;
	uint32_t lock_wait_holder;
	uint64_t lock_contended; /* it waited for this lock, not yet got it */
	/* 3.13+: it parked on park_lock, sleeping on its semaphore park_sem */
	uint64_t park_lock, park_sem;
	/* it is in a C RLock's acquire, about to wait or waiting for this
	 * lock (GS_EV_RLOCK_WAIT), 0 */
	uint64_t rlock_wait;
	bool gil_released_once;
	uint64_t acquisitions_at_release;
	bool ulock_holding, ulock_waiting;
	bool in_sys_exit_group; /* it called exit_group itself */
	/* at the exit_group: holding or waiting for the GIL, or asleep */
	bool busy_at_exit_group;
	/* its stack at its last switch-out had Python frames: its Python
	 * code was not done (a thread's teardown has none) */
	bool in_python_at_switch_out;
	bool sys_gil_free;	 /* it entered this call without the GIL */
	uint64_t gil_wait_since; /* when its current GIL wait began */
	/* Time since the cursor not accounted yet, because the thread's
	 * next call may say what it was: after it let the GIL go at a probe,
	 * or was preempted, a sleep to a deadline makes it part of the sleep
	 * (on_sys_enter). The spans it ran or was runnable in meanwhile, up
	 * to pend[i].end each; the last one runs to the next event. */
	bool pending;
	bool pending_sleep;	/* account it all as sleep */
	bool in_deadline_sleep; /* in a deadline sleep, not switched out yet */
	int n_pend;
	struct an_pend {
		enum an_sched state;
		enum gs_reason reason; /* when blocked */
		bool holding, waiting; /* the GIL, in that span */
		uint64_t end;
	} pend[AN_MAX_PEND];
	/* its GIL wait began at a take site, and nothing of its own since:
	 * a preemption there (at the probe's own return) comes before
	 * take_gil's entry, and the wait starts again after it */
	bool wait_from_site, wait_after_switch_in;
	/* its current take: where take_gil starts (a take site's call
	 * target, 0 unknown), whether it slept on a GIL futex yet, and,
	 * preempted inside take_gil before that, the first of its pending
	 * spans that are GIL wait if it sleeps yet (take_sleeps) */
	uint64_t take_gil_ip;
	bool take_slept, take_preempted;
	int take_pend_from;
	/* hand-off probes: it was given the GIL back at a call's return
	 * (retake_after_call) or at a take site, a moment before take_gil
	 * takes it, and nothing of its own since; preempted without it in
	 * between, it takes it when it runs again */
	bool took_at_sys_exit, retake_at_switch_in;
	/* found holding the GIL at a switch-out (GS_F_GIL_MINE,
	 * took_unseen): taken there; a hand-off probe's event of its own
	 * before anything else (the handler that had not run) takes nothing */
	bool took_before_probe;
	/* hand-off probes: its last release was probed where it happened
	 * (not read at a call), so its take is probed too (a take site) */
	bool released_at_site;
	/* it let the GIL go at a probed site and made no call since but
	 * drop_gil's own futex calls on the GIL: it is still releasing */
	bool in_release;
	/* preempted without the GIL the analysis gave it, it let it go at
	 * that switch-out, and nothing of its own since: a release probe's
	 * event that comes next is late (preempted at its breakpoint) */
	bool released_at_switch;
	enum an_sched state;
	enum gs_reason reason;
	struct an_slice slice; /* open slice, since slice_start */
	uint64_t slice_start;
	uint64_t cursor; /* time accounted up to here */
	uint64_t unknown_ns;
	char snapshot_state; /* /proc state letter at attach, or 0 */
	int cpu;
	bool in_sys;
	int sys_nr;
	uint64_t sys_arg0, sys_arg1, sys_facts;
	bool gil_holding, gil_waiting;
	uint64_t switches_at_wait; /* process switch count at futex entry */
};

struct an_process {
	struct analysis *an;
	uint32_t pid, ppid;
	char command[256];
	char python[16];     /* "3.11.2", "" when no interpreter */
	char gil_method[32]; /* how the GIL was found */
	uint64_t start_ns, end_ns;
	bool exited;
	struct an_gil gil;
	bool exact_takes; /* take_gil entries are recorded */

	struct an_thread **threads;
	size_t n_threads, cap_threads;

	/* results */
	uint64_t gil_held_ns, waiter_ns;
	/* hand-offs are between two threads; initial takes are of a GIL
	 * nobody held before (start, after fork): switch_number counts both */
	uint64_t handoffs, initial_takes;
	uint64_t forced_handoffs, acquisitions, releases;
	struct lock_table locks;
	struct an_deadlock deadlocks[AN_MAX_DEADLOCKS];
	int n_deadlocks;
	uint64_t exit_group_ts;
	struct an_ulock ulock;
	/* release-to-take latency of hand-offs to a thread that was waiting
	 * at the release; NULL until the first */
	struct hist *latency;
	/* hand-offs to a thread that came after the release (the GIL sat
	 * free, nobody waiting), and the time it sat free */
	uint64_t idle_handoffs, idle_gap_ns;
	bool have_switch_start, have_switch_end;
	uint64_t switch_start, switch_end;
	uint64_t cpus[4];
	struct an_children python_children; /* summed by an_finish */

	/* live state */
	uint64_t cursor;
	int n_runnable;
	struct an_thread *holder;
	uint32_t prev_acquirer;
	int n_waiters;
	bool drop_request;
	bool release_pending, release_forced;
	uint64_t release_ts;
	uint32_t releaser;
};

typedef void (*an_image_cb)(struct an_process *p, uint64_t ts, void *ctx);
/* What a lock wait's Python stack says the lock is (its kind and where it
 * was waited for), as a key: two keys differ for two locks; 0 unknown. */
typedef uint64_t (*an_lock_site_cb)(void *ctx, uint32_t pid, uint64_t stack);

struct ph_log;

struct analysis {
	uint64_t t0; /* session start: time before it is not counted */
	uint64_t events;
	struct an_process **procs;
	size_t n_procs, cap_procs;
	/* tid -> newest thread, tgid -> newest process of that id */
	struct pidmap tid_map, pid_map;
	an_image_cb image_cb;
	void *image_ctx;
	const struct an_sink *sink;
	an_lock_site_cb lock_site;
	void *lock_site_ctx;
	/* recorded without uprobes: GIL holds are derived from syscalls */
	bool light;
	/* the accounted intervals, for phases (user/analysis/phases.h): set by the
	 * replay that logged them, NULL when not logged */
	const struct ph_log *phases;
};

struct analysis *an_new(uint64_t t0);
void an_free(struct analysis *an);

/* A process present at t0 (or announced before its events). */
struct an_process *an_add_process(struct analysis *an, uint32_t pid,
				  uint32_t ppid, uint64_t start_ns);
/* Fill the GIL's addresses from the address of struct _gil_runtime_state. */
void an_gil_from_base(struct an_gil *gil, uint64_t base, uint64_t cond,
		      uint64_t mutex, uint64_t switch_cond,
		      uint64_t switch_mutex, uint64_t size);
/* A thread present at t0. SYSCALL_NR is what /proc said it sat in (-1). */
struct an_thread *an_add_thread(struct analysis *an, struct an_process *p,
				uint32_t tid, char state, int syscall_nr,
				uint64_t arg0, uint64_t arg1);
/*
 * The GIL's state at t0, as read from the interpreter's memory: its
 * last_holder is the holder while it is locked.
 */
void an_set_gil_state(struct an_process *p, bool locked,
		      uint32_t last_holder_tid);

void an_event(struct analysis *an, const struct gs_event *e);
/* Close every open interval at END_NS; sum each process's children. */
void an_finish(struct analysis *an, uint64_t end_ns);
/*
 * Live views (gilscope top): account every live thread and process up to
 * NOW without ending anything, so that counters can be read and differenced
 * between two calls; a thread not scheduled since attaching is taken to be
 * in the state /proc gave then (as an_finish does).
 */
void an_flush_to(struct analysis *an, uint64_t now);

struct an_process *an_find_process(const struct analysis *an, uint32_t pid);
struct an_thread *an_find_thread(const struct analysis *an, uint32_t tid);

/* Lifetime of a thread in the session (end - max(start, t0)). */
uint64_t an_thread_lifetime(const struct an_thread *t);
uint64_t an_blocked_total(const struct an_thread *t);
/* On-CPU time of all threads of P. */
uint64_t an_cpu_time(const struct an_process *p);
int an_cpu_count(const uint64_t cpus[4]);

/* Called when a process image changes (exec) or appears (fork), so that the
 * caller can fill p->gil and the names from its metadata. */
void an_set_image_callback(struct analysis *an, an_image_cb cb, void *ctx);
void an_set_sink(struct analysis *an, const struct an_sink *sink);
/* A lock whose waits' stacks name another kind or site than before is
 * a new lock at a reused address (user/analysis/names.c gives the key). */
void an_set_lock_site(struct analysis *an, an_lock_site_cb cb, void *ctx);
const char *an_slice_name(const struct an_slice *s);

#endif /* GS_ANALYSIS_H */
