/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the stack recorder (record/stacks*.c): its state and what its
 * parts share.
 *   stacks.c          set-up, the processes, code objects, the stack
 *                     records BPF sends, writing the table
 *   stacks_threads.c  threads: their PyThreadStates and Python names (scans
 *                     of the interpreter's thread list), exits, the hooks
 *                     the recorder calls per event and per turn
 */
#ifndef GS_STACKS_INT_H
#define GS_STACKS_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "common/pidmap.h"
#include "record/pyobj.h"
#include "record/stacks.h"
#include "record/symbolize.h"
#include "session/stacktab.h"

#define MAX_INTERPS 16
#define MAX_SCAN_THREADS 4096
#define SCAN_NS 100000000ull /* read the thread lists this often */
#define NAME_TRIES 50
#define CHUNK_BYTES (8u << 20)
/* stacks and names gathered before they are written, while recording */
#define FLUSH_RECORDS 4096

/* A code object of one process, read once. */
struct code_ent {
	uint64_t addr;
	bool ok;
	struct pyobj_code c;
};

/* A live thread the scans have met, and its Python name once read. */
struct named {
	uint32_t tid;
	int tries;
	bool done;
	char *name; /* NULL: none (yet) */
};

struct stk_proc {
	pid_t pid;
	const struct py_facts *facts;
	uint64_t gil_addr, runtime;
	int memfd;
	struct pyobj_mem mem;
	struct code_ent *codes; /* open addressing by addr */
	size_t n_codes, cap_codes;
	struct named *named; /* live threads only */
	size_t n_named, cap_named;
	bool exited; /* forgotten at the next tick */
};

struct stk_recorder {
	struct gilscope_bpf *skel;
	/* frames, and the stacks and names not written yet: written as they
	 * gather (stk_tick), so that memory does not grow with the recording */
	struct stacktab tab;
	struct sym_cache *syms;
	struct pidmap procs; /* pid -> stk_proc */
	pid_t *gone; /* processes that exited, forgotten at the next tick */
	size_t n_gone, cap_gone;
	struct bpf_link **links;
	int n_links;
	struct gs_writer *w; /* for the stacks of sleepers found by a scan */
	unsigned int sample_hz;
	int learners;
	uint64_t last_scan;
	/* what happened, for the table's meta record */
	uint64_t records, bad_records, unresolved, native_cut;
	int64_t fid_unknown;
};
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* stacks.c */
struct stk_proc *stk_proc_find(const struct stk_recorder *st, pid_t pid);
struct stk_proc *stk_proc_add(struct stk_recorder *st, pid_t pid);
void stk_proc_reset(struct stk_proc *p);
void stk_codes_reset(struct stk_proc *p);
void stk_mem_open(struct stk_proc *p);
void stk_retire_names(struct stk_recorder *st, struct stk_proc *p);
void stk_set_facts(struct stk_proc *p, uint64_t gil_addr,
		   const struct py_facts *f);
uint64_t stk_code_word(struct stk_proc *p, uint64_t code);
struct code_ent *stk_code_get(struct stk_proc *p, uint64_t word);
int64_t stk_python_frame(struct stk_recorder *st, struct stk_proc *p,
			 uint64_t word, uint64_t instr);

/* stacks_threads.c */
struct named *stk_named_find(struct stk_proc *p, uint32_t tid);
void stk_scan_all(struct stk_recorder *st);
int stk_write_pending(struct stk_recorder *st, struct gs_writer *w);
void stk_name_live_threads(struct stk_recorder *st);

#endif /* GS_STACKS_INT_H */
