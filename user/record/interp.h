/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Finding a Python interpreter and its GIL from ELF files, without running
 * it: in a command about to start (through its #! line and its libraries) or
 * in a running process (through its mappings).
 */
#ifndef GS_INTERP_H
#define GS_INTERP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "record/pyver.h"

#define INTERP_MAX_SITES 64
#define INTERP_MAX_RLOCK_SITES 8

struct interp {
	char path[PATH_MAX];	  /* the file as the process names it */
	char host_path[PATH_MAX]; /* the same file reachable from here */
	char build_id[64];
	char debug_file[PATH_MAX]; /* as opened from here, "" for none */
	char version[16];	   /* "3.11.2" */
	int major, minor;
	uint32_t hex;
	const struct py_facts *facts;
	uint64_t runtime_vaddr;		  /* _PyRuntime */
	uint64_t take_gil_vaddr;	  /* 0 when take_gil has no symbol */
	uint64_t take_gil_off;		  /* file offset, for the uprobe */
	uint64_t sites[INTERP_MAX_SITES]; /* `call pthread_cond_signal` */
	uint64_t site_offs[INTERP_MAX_SITES];
	int n_sites;
	/* "handoff": the `call take_gil` sites that end a probed release
	 * (user/record/gilsites.h) */
	uint64_t take_sites[INTERP_MAX_SITES];
	uint64_t take_site_offs[INTERP_MAX_SITES];
	int n_take_sites;
	/* threading locks (user/record/locksites.c): `call sem_*wait` sites and
	 * the jump that tests their result, `call sem_post` sites */
	uint64_t lock_call_offs[INTERP_MAX_SITES];
	uint64_t lock_result_offs[INTERP_MAX_SITES];
	uint64_t lock_result_vaddrs[INTERP_MAX_SITES];
	int n_lock_sites;
	uint64_t post_offs[INTERP_MAX_SITES], post_vaddrs[INTERP_MAX_SITES];
	int n_post_sites;
	/* 3.13+: where a thread parks on a lock (the sem_*wait calls of
	 * _PySemaphore_Wait) and is woken (sem_post of _PySemaphore_Wakeup) */
	uint64_t park_offs[INTERP_MAX_SITES], park_vaddrs[INTERP_MAX_SITES];
	int n_park_sites;
	uint64_t unpark_offs[INTERP_MAX_SITES], unpark_vaddrs[INTERP_MAX_SITES];
	int n_unpark_sites;
	/* where a C RLock waits (user/record/rlocksites.h) */
	uint64_t rlock_offs[INTERP_MAX_RLOCK_SITES];
	uint64_t rlock_vaddrs[INTERP_MAX_RLOCK_SITES];
	int n_rlock_sites;
	bool is_dyn;
	uint64_t base_vaddr;
	char method[32]; /* "debuginfo", "symtab", "dynsym" or "handoff" */
};

/* Probe every GIL signal site and take_gil, as before hand-off sites
 * (GILSCOPE_ALL_GIL_SITES=1, read by record.c: for comparisons and the
 * bench); off: hand-off sites where the interpreter allows them. */
void interp_all_gil_sites(bool on);

/*
 * Inspect one ELF file (ROOT prefixes paths, "" for none). Returns 0,
 * -ENOENT when it is not a Python interpreter, -ENOTSUP for a Python
 * version gilscope has no facts for (ERR says which), other -errno.
 */
int interp_open(const char *path, const char *root, struct interp *in,
		char *err, size_t errlen);
/* The interpreter that running EXE (a binary or a #! script) will use. */
int interp_for_command(const char *exe, struct interp *in, char *err,
		       size_t errlen);
/* The interpreter mapped in PID, and the load bias of its file. */
int interp_for_pid(pid_t pid, struct interp *in, uint64_t *bias, char *err,
		   size_t errlen);
/*
 * The libpython PID's executable needs, before the loader has mapped it
 * (a process just exec'd), looked up in its own root (a chroot's).
 * Returns 0 or -ENOENT.
 */
int interp_needed_by_pid(pid_t pid, struct interp *in, char *err,
			 size_t errlen);
/* Runtime address of struct _gil_runtime_state, 0 if not reachable. */
uint64_t interp_gil_addr(const struct interp *in, uint64_t bias);
/*
 * 3.12+: the GIL process PID's first interpreter uses, read from its memory
 * (_PyRuntime.interpreters.head->ceval.gil): a check of interp_gil_addr().
 * Returns 0, -EAGAIN before the interpreter has made its GIL, -ENOENT
 * before 3.12, or -errno.
 */
int interp_gil_at_runtime(const struct interp *in, pid_t pid, uint64_t bias,
			  uint64_t *gil);
/* The thread id of thread state TSTATE in PID (its native_thread_id, or
 * for 3.9/3.10 the tid in glibc's struct pthread of its thread_id,
 * checked against PID's threads); 0 when unknown. */
uint32_t interp_tstate_tid(const struct interp *in, pid_t pid, uint64_t tstate);
/* File offset of function NAME in ELF file PATH, for a uprobe. */
int interp_function_offset(const char *path, const char *name, uint64_t *off);
/* PATH lookup of a command, like execvp; 0 or -errno. */
int interp_command_path(const char *name, char *out, size_t len);
/* One line on what the method can and cannot see. */
const char *interp_method_note(const char *method);

#endif /* GS_INTERP_H */
