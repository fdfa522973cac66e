/* SPDX-License-Identifier: GPL-2.0 */
/* The timeline as one self-contained HTML page with its own viewer. */
#ifndef GS_TIMELINE_HTML_H
#define GS_TIMELINE_HTML_H

#include <stdio.h>
#include "views/timeline_model.h"

/*
 * A page that draws lanes per thread coloured by state, CPU lanes and GIL
 * hand-off arrows on a canvas, zooms with the wheel, pans by dragging and
 * explains what is under the pointer; the data is embedded as base64 typed
 * arrays. No network, no external file. Returns 0 or -errno.
 */
int timeline_html_write(FILE *out, const struct tl_model *m,
			const struct tl_info *info);

#endif /* GS_TIMELINE_HTML_H */
