/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stacks at record time: configure the BPF stack walker, run the on-CPU
 * sampler, turn the stacks BPF interns into named frames while the process
 * is alive (code objects read from /proc/PID/mem, native symbols from the
 * ELF files), learn the threads' PyThreadStates and Python names from the
 * interpreter's thread list, and write the stack table before the trailer.
 * record.c calls these hooks; everything else stays here.
 */
#ifndef GS_STACKS_H_USER
#define GS_STACKS_H_USER

#include <bpf/libbpf.h>
#include <stdint.h>
#include <sys/types.h>
#include "gilscope.h"
#include "record/pyver.h"
#include "record/record.h"
#include "session/session.h"

struct gilscope_bpf;
struct stk_recorder;

/* Before the programs are loaded: stacks on or off. */
void stk_configure(struct gilscope_bpf *skel, const struct record_opts *o);
/* After the tracepoints: the sampler's perf events and the stacks ring
 * buffer (added to RB); W gets the stacks of sleeping threads a scan walks.
 * *OUT stays NULL when stacks are off. 0 or -errno. */
int stk_start(struct stk_recorder **out, struct gilscope_bpf *skel,
	      struct ring_buffer *rb, struct gs_writer *w,
	      const struct record_opts *o);
/* A traced process whose interpreter is known (FACTS NULL: none);
 * METHOD is how its GIL was found ("dynsym": no take_gil probe). */
void stk_track(struct stk_recorder *st, pid_t pid, uint64_t gil_addr,
	       const struct py_facts *facts, const char *method);
/* Every event the recorder receives. */
void stk_on_event(struct stk_recorder *st, const struct gs_event *e);
/* Once per turn of the recorder's loop. */
void stk_tick(struct stk_recorder *st);
/* The stack table, as STACKS chunks; 0 or -EIO. */
int stk_write(struct stk_recorder *st, struct gs_writer *w);
void stk_free(struct stk_recorder *st);

/* Live views (no session file: nothing is written, so the table keeps
 * every stack): the Python name of thread TID of PID, NULL while unknown;
 * the table that names the stack ids of GS_EV_STACK events. */
const char *stk_thread_name(const struct stk_recorder *st, pid_t pid,
			    uint32_t tid);
const struct stacktab *stk_table(const struct stk_recorder *st);

#endif /* GS_STACKS_H_USER */
