/* SPDX-License-Identifier: GPL-2.0 */
/* Inside the flame model: shared by flame_model.c (attribution) and
 * flame_rows.c (rows of frames). */
#ifndef GS_FLAME_PRIV_H
#define GS_FLAME_PRIV_H

#include "views/flame_model.h"

/* What an interval was, in the rows' terms. */
enum fl_cat {
	C_CPU_HELD,  /* on a CPU holding the GIL: running Python */
	C_CPU_NOGIL, /* on a CPU without the GIL: native code */
	C_CPU_SPIN,  /* on a CPU inside take_gil */
	C_GILWAIT,   /* waiting for the GIL, whatever the scheduler did */
	C_RUNNABLE,  /* waiting for a CPU */
	C_BLOCKED,   /* off-CPU for a reason */
	C_N_CPU = 3, /* the first three are on-CPU */
};

/* A stack taken (GS_EV_STACK). */
struct fl_point {
	uint64_t ts, py, native;
	uint8_t why, flags;
};

struct fl_thread {
	uint32_t tgid, tid, index;
	const struct an_thread *at;
	struct fl_point *pts; /* not yet passed by the accounting, by ts */
	size_t n_pts, cap_pts;
	struct fl_point last;
	bool has_last;
	struct fl_point gilwait; /* the last GS_STK_GIL_WAIT stack */
	bool has_gilwait;
	uint64_t pending[C_N_CPU]; /* on-CPU time waiting for its stack */
	uint64_t acct_end;	   /* accounted up to here */
	uint64_t unknown_waiting;  /* unknown time that was a GIL wait */
};

/* fl_agg.flags besides GS_STKF_KERNEL: the thread was walked and had no
 * Python frame (thread start and end, native threads) */
#define FL_NO_PYTHON 0x80

/* Time of one thread on one (Python stack, native stack, category). */
struct fl_agg {
	uint64_t py, native, ns;
	uint32_t thread;
	int16_t sys;
	uint8_t cat, reason, flags, used;
};

/* The on-CPU time still waiting for a stack goes to the last one. */
void fl_model_flush_pending(struct fl_model *m);

#endif /* GS_FLAME_PRIV_H */
