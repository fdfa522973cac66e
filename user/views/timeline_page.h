/* SPDX-License-Identifier: GPL-2.0 */
/* What the HTML view runs: its style sheet and script, NULL-terminated
 * arrays of lines. */
#ifndef GS_TIMELINE_PAGE_H
#define GS_TIMELINE_PAGE_H

#include <stdio.h>

extern const char *const tl_page_css[];
/* The script: its head, the states' colours and help, and the rest. */
extern const char *const tl_page_js_head[];
void tl_page_write_states(FILE *out);
extern const char *const tl_page_js[];

#endif /* GS_TIMELINE_PAGE_H */
