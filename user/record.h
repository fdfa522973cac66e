/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope record`: load the probes, run or attach, write the session. */
#ifndef GS_RECORD_H
#define GS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct record_opts {
	const char *output;
	double duration_s; /* 0: until the program exits or a signal */
	pid_t pid;	   /* attach to this process, or 0 */
	char **argv;	   /* or run this command */
	size_t ringbuf_bytes;
	const char *lock_spec; /* --lock ACQUIRE:RELEASE, or NULL */
	bool light; /* no uprobes: holds derived, waits from futexes */
	unsigned int sample_hz; /* on-CPU stack samples per CPU, 0: none */
	bool no_stacks;		/* no stack walks at all (user/stacks.c) */
	bool no_debuginfo; /* use no debug files (as if -dbg were absent) */
	bool verbose;
	bool quiet;
};

/* Returns the exit code gilscope should end with. */
int record_main(const struct record_opts *opts);

#endif /* GS_RECORD_H */
