/* SPDX-License-Identifier: GPL-2.0 */
/* `gilscope top --once --json`: one interval as JSON (docs/top.md). */
#ifndef GS_TOP_JSON_H
#define GS_TOP_JSON_H

#include <stdio.h>
#include "cmd/top_model.h"

void top_json(FILE *out, const struct tm_snapshot *s);

#endif /* GS_TOP_JSON_H */
