/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope dump`: the session's raw events as text, one per line. */
#ifndef GS_DUMP_H
#define GS_DUMP_H

#include <stdio.h>
#include "session/session.h"

void dump_event(FILE *out, const struct gs_event *e, uint64_t t0);
int dump_session(FILE *out, const char *path, char *err, size_t errlen);

#endif /* GS_DUMP_H */
