/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Function bounds from an ELF file's unwind tables (.eh_frame_hdr and the
 * .eh_frame FDEs it indexes), which stripped binaries keep: where a code
 * address's function starts and ends, without symbols.
 */
#ifndef GS_EHFRAME_H
#define GS_EHFRAME_H

#include <stdint.h>

struct elfimg;

/*
 * The function (an FDE's range: a GCC ".cold" part has one of its own) that
 * holds ADDR in IMG: 0 and [*START, *END), or -ENOENT (no unwind table, or
 * no FDE covers ADDR), -EINVAL for a malformed table.
 */
int ehframe_function(const struct elfimg *img, uint64_t addr, uint64_t *start,
		     uint64_t *end);

#endif /* GS_EHFRAME_H */
