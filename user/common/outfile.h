/* SPDX-License-Identifier: GPL-2.0 */
/* Writing an output file whole or not at all. */
#ifndef GS_OUTFILE_H
#define GS_OUTFILE_H

#include <stdio.h>

/*
 * Call WRITE on a temporary file beside PATH, then rename it to PATH: a
 * reader never sees half a file, and a failure leaves none. Returns 0 or
 * WRITE's error (-errno); a stream that failed, as its write(2) failed
 * (-ENOSPC), not as -EIO.
 */
int write_atomically(const char *path, int (*write)(FILE *out, void *ctx),
		     void *ctx);

#endif /* GS_OUTFILE_H */
