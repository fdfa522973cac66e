/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Synthetic event streams for the analysis unit tests: one process (PID)
 * with threads A and B and a GIL at GIL, events at T0 + the given time.
 */
#ifndef GS_TEST_STREAM_H
#define GS_TEST_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "analysis/analysis.h"
#include "stackrec.h"

#define MS 1000000ull
#define US 1000ull
#define T0 (1000 * MS)
#define PID 100
#define A 101
#define B 102
#define GIL 0x10000ull
#define COND (GIL + 0x20)
#define SWITCH_COND (GIL + 0x78)
/* two threading locks */
#define L1 0x7000ull
#define L2 0x7100ull
#define NR_READ 0
#define NR_CLOCK_NANOSLEEP 230
#define NR_FUTEX 202
#define TASK_INTERRUPTIBLE 1
#define TASK_UNINTERRUPTIBLE 2
#define ETIMEDOUT_RET ((uint64_t)-110)

static inline struct gs_event ev(uint64_t at, uint8_t type, uint32_t tid)
{
	struct gs_event e = {
		.ts = T0 + at, .type = type, .tid = tid, .tgid = PID
	};

	return e;
}

static inline void feed(struct analysis *an, struct gs_event e)
{
	an_event(an, &e);
}

/* TID's stack taken at AT for WHY (GS_STK_*): Python stack id PY_STACK
 * (0: no Python frames) */
static inline void stack_taken(struct analysis *an, uint64_t at, uint32_t tid,
			       unsigned int why, uint64_t py_stack)
{
	struct gs_event e = ev(at, GS_EV_STACK, tid);

	e.a32 = why;
	e.arg[0] = py_stack;
	feed(an, e);
}

static inline void switch_out(struct analysis *an, uint64_t at, uint32_t tid,
			      unsigned int state, bool preempt)
{
	struct gs_event e = ev(at, GS_EV_SWITCH, tid);

	e.a32 = state;
	e.flags = GS_F_PREV_TRACED | (preempt ? GS_F_PREEMPT : 0);
	e.arg[0] = 1; /* the idle task of another process */
	feed(an, e);
}

static inline void switch_in(struct analysis *an, uint64_t at, uint32_t tid,
			     int cpu)
{
	struct gs_event e = ev(at, GS_EV_SWITCH, 0);

	e.tgid = 0;
	e.cpu = cpu;
	e.flags = GS_F_NEXT_TRACED;
	e.arg[0] = (uint64_t)tid | (uint64_t)PID << 32;
	feed(an, e);
}

static inline void wakeup(struct analysis *an, uint64_t at, uint32_t tid)
{
	feed(an, ev(at, GS_EV_WAKEUP, tid));
}

static inline void sys_enter(struct analysis *an, uint64_t at, uint32_t tid,
			     int nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct gs_event e = ev(at, GS_EV_SYS_ENTER, tid);

	e.a32 = nr;
	e.arg[0] = a0;
	e.arg[1] = a1;
	e.arg[2] = a2;
	feed(an, e);
}

static inline void sys_exit(struct analysis *an, uint64_t at, uint32_t tid,
			    int nr, uint64_t ret)
{
	struct gs_event e = ev(at, GS_EV_SYS_EXIT, tid);

	e.a32 = nr;
	e.arg[0] = ret;
	feed(an, e);
}

#define FUTEX_WAIT_BITSET_PRIVATE 137
#define FUTEX_WAKE_PRIVATE 129

/* TID starts to wait on the GIL's cond (pthread_cond_timedwait's futex). */
static inline void wait_on_cond(struct analysis *an, uint64_t at, uint32_t tid)
{
	sys_enter(an, at, tid, NR_FUTEX, COND + 0x28, FUTEX_WAIT_BITSET_PRIVATE,
		  0);
}

/* TID signals the GIL's cond: a futex wake of one waiter, 10 us long. */
static inline void wake_on_cond(struct analysis *an, uint64_t at, uint32_t tid)
{
	sys_enter(an, at, tid, NR_FUTEX, COND + 0x28, FUTEX_WAKE_PRIVATE, 1);
	sys_exit(an, at + 10 * US, tid, NR_FUTEX, 1);
}

static inline void cond_signal(struct analysis *an, uint64_t at, uint32_t tid,
			       uint64_t cond)
{
	struct gs_event e = ev(at, GS_EV_COND_SIGNAL, tid);

	e.arg[0] = cond;
	feed(an, e);
}

static inline void fork_thread(struct analysis *an, uint64_t at,
			       uint32_t parent, uint32_t child)
{
	struct gs_event e = ev(at, GS_EV_FORK, parent);

	e.arg[0] = (uint64_t)child | (uint64_t)PID << 32;
	memcpy(&e.arg[1], "worker", 7);
	feed(an, e);
}

static inline void thread_exit(struct analysis *an, uint64_t at, uint32_t tid,
			       bool group)
{
	struct gs_event e = ev(at, GS_EV_EXIT, tid);

	e.a32 = group;
	feed(an, e);
}

static inline struct analysis *setup_process(struct an_process **out)
{
	struct analysis *an = an_new(T0);
	struct an_process *p = an_add_process(an, PID, 1, T0);

	an_gil_from_base(&p->gil, GIL, 0x20, 0x50, 0x78, 0xa8, 0xd0);
	*out = p;
	return an;
}

/* A call entered without the GIL (hand-off probes: GS_F_GIL_FREE). */
static inline void sys_enter_free(struct analysis *an, uint64_t at,
				  uint32_t tid, int nr, uint64_t a0,
				  uint64_t a1)
{
	struct gs_event e = ev(at, GS_EV_SYS_ENTER, tid);

	e.flags = GS_F_GIL_FREE;
	e.a32 = nr;
	e.arg[0] = a0;
	e.arg[1] = a1;
	e.arg[2] = (uint32_t)-1;
	feed(an, e);
}

/* A read(2) entered without the GIL at FROM, back at TO. */
static inline void read_without_gil(struct analysis *an, uint64_t from,
				    uint64_t to, uint32_t tid)
{
	sys_enter_free(an, from, tid, NR_READ, 3, 0);
	sys_exit(an, to, tid, NR_READ, 1);
}

/* drop_gil waking a thread asleep on the cond: the futex wake of TID. */
static inline void wake_gil_waiter(struct analysis *an, uint64_t at,
				   uint32_t tid)
{
	sys_enter_free(an, at, tid, NR_FUTEX, COND + 0x28, FUTEX_WAKE_PRIVATE);
	sys_exit(an, at + 5 * US, tid, NR_FUTEX, 1);
}

/* TID's lock acquire of LOCK (--lock, 3.13+ PyMutex): taken or not */
static inline void lock_acquire(struct analysis *an, uint64_t at, uint32_t tid,
				uint64_t lock, bool ok)
{
	struct gs_event e = ev(at, GS_EV_LOCK_ACQUIRE, tid);

	e.arg[0] = lock;
	e.a32 = ok ? 0 : (uint32_t)-1;
	feed(an, e);
}

static inline void lock_release(struct analysis *an, uint64_t at, uint32_t tid,
				uint64_t lock)
{
	struct gs_event e = ev(at, GS_EV_LOCK_RELEASE, tid);

	e.arg[0] = lock;
	feed(an, e);
}

/* The image's interpreter: what replay.c sets from the PROCESS chunk. */
static inline void gil_of_image(struct an_process *p, uint64_t ts, void *ctx)
{
	(void)ts;
	(void)ctx;
	an_gil_from_base(&p->gil, GIL, 0x20, 0x50, 0x78, 0xa8, 0xd0);
}

#endif /* GS_TEST_STREAM_H */
