/* SPDX-License-Identifier: GPL-2.0 */
/* Reading a live process through /proc. */
#ifndef GS_PROCFS_H
#define GS_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

bool proc_exists(pid_t pid);
/* Command line with arguments joined by spaces; "" if unreadable. */
void proc_cmdline(pid_t pid, char *buf, size_t len);
/* Target of /proc/PID/exe as the process sees it (inside its root). */
int proc_exe(pid_t pid, char *buf, size_t len);
/* The state letter of a thread (R, S, D, ...), 0 if gone. */
char proc_thread_state(pid_t pid, pid_t tid);
/* What /proc/PID/task/TID/syscall says: nr (-1 if running or unknown) and
 * the first two arguments. */
int proc_thread_syscall(pid_t pid, pid_t tid, uint64_t *arg0, uint64_t *arg1);
void proc_thread_comm(pid_t pid, pid_t tid, char *buf, size_t len);
/* Thread ids of PID; returns how many were written (at most MAX). */
int proc_threads(pid_t pid, pid_t *tids, int max);
/*
 * The path inside /proc/PID/root of a file that /proc/PID/maps names as
 * PATH. maps prints paths as the reader sees them: for a process chrooted
 * into DIR in our mount namespace that is DIR/file, to be opened as "file"
 * inside its root. Returns PATH itself or a suffix of it.
 */
const char *proc_path_in_root(pid_t pid, const char *path);
/* Process ids of the machine (as /proc lists them); how many, or -errno. */
int proc_pids(pid_t *pids, int max);
/* Read LEN bytes at ADDR of PID's memory; 0 or -errno. */
int proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len);

struct proc_mapping {
	uint64_t start, end, offset;
	char path[4096];
};

/*
 * Calls FN for each file-backed mapping of PID with file offset 0 (where
 * an ELF file's first PT_LOAD sits); stops when FN returns non-zero and
 * returns that value.
 */
int proc_each_file_mapping(pid_t pid,
			   int (*fn)(const struct proc_mapping *m, void *ctx),
			   void *ctx);

#endif /* GS_PROCFS_H */
