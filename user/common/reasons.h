/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Why a thread was off-CPU: the blocking reasons, and everything every view
 * says of each, in one table (reasons.c). A new reason is a value here and
 * its row there; which syscalls lead to it is common/syscalls.c.
 */
#ifndef GS_REASONS_H
#define GS_REASONS_H

enum gs_reason {
	GS_R_GIL,     /* a futex of the GIL (cond, mutex, switch_cond) */
	GS_R_SLEEP,   /* nanosleep, or poll/select on no file */
	GS_R_INPUT,   /* reading the terminal or standard input */
	GS_R_NETWORK, /* sockets, event loops */
	GS_R_IO,      /* files, pipes, disk (uninterruptible) */
	GS_R_LOCK,    /* any other futex: threading locks, queues, joins */
	GS_R_OTHER,   /* everything else (child wait, page faults, ...) */
	GS_R_COUNT
};

struct gs_reason_info {
	const char *key;    /* report, JSON and top: "sleep" */
	const char *label;  /* a timeline slice's state: "blocked: sleep" */
	const char *flame;  /* a flame graph's category frame: "[sleep]" */
	const char *colour; /* the timeline's colour: "#c7c7c7" */
	const char *help;   /* the timeline's legend: what it means */
};

/* R's row; a value out of range is GS_R_OTHER's. */
const struct gs_reason_info *reason_info(enum gs_reason r);
/* JSON/report key of a reason ("gil", "sleep", ...). */
const char *reason_name(enum gs_reason r);

#endif /* GS_REASONS_H */
