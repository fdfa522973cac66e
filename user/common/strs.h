/* SPDX-License-Identifier: GPL-2.0 */
/* Small string tests every layer uses. */
#ifndef GS_STRS_H
#define GS_STRS_H

#include <stdbool.h>

/* S ends with SUFFIX (an empty one included). */
bool ends_with(const char *s, const char *suffix);
/* S ends with SUFFIX in any case, and has something before it. */
bool ends_with_nocase(const char *s, const char *suffix);

#endif /* GS_STRS_H */
