/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope record`: load the probes, run or attach, write the session. */
#ifndef GS_RECORD_H
#define GS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "gilscope.h"
#include "common/kv.h"

struct record_opts {
	const char *output;
	double duration_s; /* 0: until the program exits or a signal */
	pid_t pid;	   /* attach to this process, or 0 */
	bool all;	   /* -a: every Python process, now and later */
	char **argv;	   /* or run this command */
	size_t ringbuf_bytes;
	const char *lock_spec; /* --lock ACQUIRE:RELEASE, or NULL */
	bool light; /* no uprobes: holds derived, waits from futexes */
	unsigned int sample_hz; /* on-CPU stack samples per CPU, 0: none */
	bool no_stacks;	   /* no stack walks at all (user/record/stacks.c) */
	bool no_debuginfo; /* use no debug files (as if -dbg were absent) */
	bool verbose;
	bool quiet;
};

/* Returns the exit code gilscope should end with. */
int record_main(const struct record_opts *opts);

struct stk_recorder;

/* What the recording loop tells a live view once per turn. */
struct record_turn {
	uint64_t now;			/* CLOCK_MONOTONIC */
	uint64_t t0;			/* the recording's start */
	uint64_t events, lost;		/* so far */
	const struct stk_recorder *stk; /* names and stacks, NULL when off */
};

/*
 * Where a live recording (`gilscope top`) sends what `record` writes to the
 * session file: the key=value records (GS_CHUNK_* of session.h) and every
 * event as it leaves the ring buffer (in commit order, not time order).
 */
struct record_sink {
	void *ctx;
	void (*kv)(void *ctx, int chunk_type, const struct kv_list *kv);
	void (*event)(void *ctx, const struct gs_event *e);
	/* Once per turn of the loop (about every 50 ms); true stops it. */
	bool (*turn)(void *ctx, const struct record_turn *t);
};

/*
 * Record as `record` does (-p PID or -a; opts->output unused) into SINK
 * until it asks to stop, the process exits or a signal comes. Returns why
 * it stopped ("sink", "exit", "signal", "duration"), or NULL when setting
 * up failed (said on stderr).
 */
const char *record_live(const struct record_opts *opts,
			const struct record_sink *sink);

#endif /* GS_RECORD_H */
