/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Names gilscope shows (commands, thread names, files, functions) are any
 * bytes: what each output may copy as it is, decided in one place.
 */
#ifndef GS_UTF8_H
#define GS_UTF8_H

#include <stddef.h>
#include <stdio.h>

/*
 * Length of the valid UTF-8 sequence at P, or 0 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF). Reads no byte past a NUL.
 */
int utf8_seq_len(const unsigned char *p);

/*
 * S for a terminal or a text report, in OUT (LEN > 0): a newline as \n,
 * a tab as \t, a carriage return as \r, other control characters and every
 * byte that is not valid UTF-8 as \xNN, the rest as it is. Cut at LEN,
 * never inside an escape or a character. Returns OUT.
 */
const char *printable(char *out, size_t len, const char *s);
/* The same, uncut, on OUT. */
void fput_printable(const char *s, FILE *out);

#endif /* GS_UTF8_H */
