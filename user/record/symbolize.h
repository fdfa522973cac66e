/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Native instruction pointers of a live process -> "symbol" and module,
 * from the ELF symbols of the mapped file and of its debug file (found
 * through the build-id, as for take_gil). Files are parsed once and shared
 * by every process that maps them.
 */
#ifndef GS_SYMBOLIZE_H
#define GS_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sym_cache;

struct sym_cache *sym_new(void);
void sym_free(struct sym_cache *c);

/*
 * Name the code at IP in process PID: NAME gets the function's symbol, or
 * "module+0xOFFSET" when no symbol covers it; MODULE the file's base name.
 * Returns 0, or -ENOENT when IP is in no file mapping of PID.
 */
int sym_lookup(struct sym_cache *c, pid_t pid, uint64_t ip, char *name,
	       size_t nlen, char *module, size_t mlen);
/* Could RA be a return address: is the instruction before it a call? */
bool sym_after_call(pid_t pid, uint64_t ra);
/* Forget what is known of PID's mappings (after exec or exit). */
void sym_forget(struct sym_cache *c, pid_t pid);

#endif /* GS_SYMBOLIZE_H */
