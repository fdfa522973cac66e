/* SPDX-License-Identifier: GPL-2.0 */
/* What the HTML view runs: its style sheet and script, NULL-terminated
 * arrays of lines. */
#ifndef GS_TIMELINE_PAGE_H
#define GS_TIMELINE_PAGE_H

extern const char *const tl_page_css[];
extern const char *const tl_page_js[];

#endif /* GS_TIMELINE_PAGE_H */
