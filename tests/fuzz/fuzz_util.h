/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers the fuzz targets share (files in /dev/shm, input splits). */
#ifndef GS_FUZZ_UTIL_H
#define GS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* mkdir -p ROOT + SUB; 0 or -1. */
int fuzz_mkdirs(const char *root, const char *sub);
/* Write SIZE bytes to PATH (created or truncated); 0 or -1. */
int fuzz_write_file(const char *path, const void *data, size_t size);
/* rm -r DIR when the process exits. */
void fuzz_rm_tree_at_exit(const char *dir);
/* The last occurrence of NEEDLE in DATA, or NULL. */
const uint8_t *fuzz_memmem_last(const uint8_t *data, size_t size,
				const void *needle, size_t n);
/* Touch LEN bytes at P so that the compiler keeps what computed them. */
void fuzz_use(const void *p, size_t len);

#endif /* GS_FUZZ_UTIL_H */
