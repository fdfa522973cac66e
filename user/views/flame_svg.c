// SPDX-License-Identifier: GPL-2.0
/*
 * One self-contained interactive SVG flame graph, in flamegraph.pl's
 * manner: the root at the bottom, a <g> per frame with its <title>, a
 * script of its own (flame_svg_js.c) to zoom on click, search with
 * highlight and show a details line. Frames narrower than a tenth of a
 * pixel are not drawn, and the threshold rises until at most MAX_DRAWN
 * frames are, so that the file stays small and the browser quick with any
 * number of distinct stacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "views/flame_out.h"
#include "common/utf8.h"

#define WIDTH 1200
#define PAD 10
#define FRAME_H 16
#define TOP 58
#define BOTTOM 34
#define FONT_W 7.0 /* about 0.59 x 12 px Verdana */
#define MAX_DRAWN 40000

extern const char flame_svg_js[];

struct node {
	uint32_t fid, depth, parent;
	uint64_t x, w; /* ns: offset from the left, width */
	uint8_t palette;
};

struct tree {
	struct node *v;
	size_t n, cap;
	uint32_t max_depth;
};

enum palette { P_HOT, P_NATIVE, P_GIL, P_OFF, P_RUNNABLE, P_SYNTH };

/* ------------------------------------------------------------ the tree */

static int cmp_fids(const void *x, const void *y)
{
	const struct fl_row *a = *(const struct fl_row *const *)x;
	const struct fl_row *b = *(const struct fl_row *const *)y;
	uint32_t n = a->n < b->n ? a->n : b->n;

	for (uint32_t i = 0; i < n; i++)
		if (a->fids[i] != b->fids[i])
			return a->fids[i] < b->fids[i] ? -1 : 1;
	return a->n < b->n ? -1 : a->n > b->n;
}

static int node_add(struct tree *t, uint32_t fid, uint32_t depth,
		    uint32_t parent, uint64_t x)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		struct node *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n++] = (struct node){
		.fid = fid, .depth = depth, .parent = parent, .x = x
	};
	if (depth > t->max_depth)
		t->max_depth = depth;
	return 0;
}

/*
 * Merge sorted rows into a tree: node 0 is the root ("all"), a row shares
 * the nodes of the prefix it has in common with the row before it.
 */
static int build_tree(struct tree *t, const struct fl_profile *p)
{
	const struct fl_row **rows = malloc((p->n_rows + 1) * sizeof(*rows));
	uint32_t path[1024], depth = 0; /* node index per depth, path[0] root */
	uint64_t x = 0;
	int err = 0;

	if (!rows)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_rows; i++)
		rows[i] = &p->rows[i];
	qsort(rows, p->n_rows, sizeof(*rows), cmp_fids);
	err = node_add(t, UINT32_MAX, 0, UINT32_MAX, 0);
	path[0] = 0;
	for (size_t i = 0; !err && i < p->n_rows; i++) {
		const struct fl_row *r = rows[i];
		uint32_t n = r->n < 1000 ? r->n : 1000, k = 0;

		/* shared prefix with the open path */
		while (k < n && k < depth &&
		       t->v[path[k + 1]].fid == r->fids[k])
			k++;
		depth = k;
		for (; !err && k < n; k++) {
			struct node *par = &t->v[path[k]];
			uint64_t at = par->x + par->w;

			/* children are laid out after what the parent holds */
			err = node_add(t, r->fids[k], k + 1, path[k], at);
			path[k + 1] = t->n - 1;
			depth = k + 1;
		}
		for (k = 0; !err && k <= n; k++)
			t->v[path[k]].w += r->ns;
		x += r->ns;
	}
	(void)x;
	free(rows);
	return err;
}

/* ------------------------------------------------------------ colours */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static enum palette view_palette(enum fl_what w)
{
	switch (w) {
	case FL_GILWAIT:
		return P_GIL;
	case FL_OFFCPU:
		return P_OFF;
	default:
		return P_HOT;
	}
}

/* The wall view's category frames give their subtree its colour. */
static enum palette category_palette(const char *name, enum palette def)
{
	if (!strcmp(name, "[on-CPU]"))
		return P_HOT;
	if (!strcmp(name, "[GIL wait]"))
		return P_GIL;
	if (!strcmp(name, "[runnable]"))
		return P_RUNNABLE;
	if (name[0] == '[' && def != P_HOT)
		return def;
	if (name[0] == '[')
		return P_OFF; /* [sleep], [io], [lock]... */
	return def;
}

static void assign_palettes(struct tree *t, const struct fl_profile *p)
{
	enum palette def = view_palette(p->what);

	t->v[0].palette = P_SYNTH;
	for (size_t i = 1; i < t->n; i++) {
		struct node *nd = &t->v[i];
		const struct st_frame *f = &p->names.frames[nd->fid];
		enum palette inherited = nd->parent ? t->v[nd->parent].palette :
						      def;

		if (inherited == P_SYNTH || inherited == P_NATIVE)
			inherited = def;
		/* a node's own palette; its children inherit the view's */
		if (p->what == FL_WALL && f->kind == ST_SYNTH &&
		    nd->depth <= 3 && f->name[0] == '[' &&
		    strcmp(f->name, "[no stack]"))
			inherited = category_palette(f->name, def);
		nd->palette = inherited;
		if (f->kind == ST_NATIVE && inherited == P_HOT)
			nd->palette = P_NATIVE;
	}
}

/* Children of a synthetic frame keep the category colour; the synthetic
 * frame itself is drawn grey unless it is a category. */
static void fill(const struct node *nd, const struct st_frame *f, char *out,
		 size_t len)
{
	uint32_t h = name_hash(f->name);
	double v = (h & 0xff) / 255.0, w = ((h >> 8) & 0xff) / 255.0;
	int r, g, b;

	switch (f->kind == ST_SYNTH && f->name[0] != '[' ? P_SYNTH :
							   nd->palette) {
	case P_HOT:
		r = 205 + 50 * v, g = 230 * w, b = 55 * v;
		break;
	case P_NATIVE:
		r = 215 + 40 * v, g = 170 + 60 * w, b = 40 * v;
		break;
	case P_GIL:
		r = 150 + 50 * v, g = 90 + 50 * w, b = 205 + 45 * v;
		break;
	case P_OFF:
		r = 80 + 60 * v, g = r, b = 190 + 55 * w;
		break;
	case P_RUNNABLE:
		r = 110 + 50 * v, g = 180 + 50 * w, b = 110 + 40 * v;
		break;
	default:
		r = g = b = 185 + 35 * v;
	}
	snprintf(out, len, "rgb(%d,%d,%d)", r, g, b);
}

/* ------------------------------------------------------------ output */

/*
 * At most MAX bytes of S, never half a character; a byte that is not valid
 * UTF-8 (names are any bytes) as the Latin-1 character of its value, so
 * that the SVG stays well-formed XML.
 */
static void xml_text(FILE *out, const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0, n; s[i]; i += n) {
		n = utf8_seq_len(u + i);
		if (i + (n ? n : 1) > max)
			break;
		if (!n) {
			fprintf(out, "&#x%x;", u[i]);
			n = 1;
			continue;
		}
		if (n > 1) {
			fwrite(s + i, 1, n, out);
			continue;
		}
		switch (s[i]) {
		case '&':
			fputs("&amp;", out);
			break;
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			/* control characters are not allowed in XML 1.0 */
			fputc((unsigned char)s[i] < 0x20 ? ' ' : s[i], out);
		}
	}
}

static void human_ns(uint64_t ns, char *out, size_t len)
{
	if (ns >= 1000000000ull)
		snprintf(out, len, "%.3f s", ns / 1e9);
	else if (ns >= 1000000)
		snprintf(out, len, "%.2f ms", ns / 1e6);
	else
		snprintf(out, len, "%.1f us", ns / 1e3);
}

/* The smallest width drawn: a tenth of a pixel, more if too many. */
static uint64_t min_width(const struct tree *t, uint64_t total)
{
	uint64_t thr = total / (WIDTH * 10) + 1;

	for (;;) {
		size_t n = 0;

		for (size_t i = 0; i < t->n; i++)
			n += t->v[i].w >= thr;
		if (n <= MAX_DRAWN)
			return thr;
		thr *= 2;
	}
}

static void frame_name(const struct fl_profile *p, const struct node *nd,
		       char *out, size_t len)
{
	if (nd->fid == UINT32_MAX)
		snprintf(out, len, "all");
	else
		stacktab_frame_text(&p->names.frames[nd->fid], out, len);
}

static void draw(FILE *out, const struct tree *t, const struct fl_profile *p,
		 uint64_t thr, uint64_t total, double height)
{
	double scale = (double)(WIDTH - 2 * PAD) / (total ? total : 1);
	char name[1024], fillc[32], amount[32];

	fputs("<g id=\"frames\">\n", out);
	for (size_t i = 0; i < t->n; i++) {
		const struct node *nd = &t->v[i];
		double x = PAD + nd->x * scale, w = nd->w * scale;
		double y = height - BOTTOM - (nd->depth + 1) * FRAME_H;
		size_t fit;

		if (nd->w < thr)
			continue;
		frame_name(p, nd, name, sizeof(name));
		human_ns(nd->w, amount, sizeof(amount));
		if (nd->fid == UINT32_MAX)
			snprintf(fillc, sizeof(fillc), "rgb(200,200,200)");
		else
			fill(nd, &p->names.frames[nd->fid], fillc,
			     sizeof(fillc));
		fprintf(out,
			"<g class=\"f\" data-x=\"%.2f\" data-w=\"%.2f\" data-d=\"%u\"><title>",
			x, w, nd->depth);
		xml_text(out, name, sizeof(name));
		fprintf(out,
			" (%s, %.2f%%)</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" rx=\"2\" ry=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
			amount, 100.0 * nd->w / (total ? total : 1), x, y, w,
			FRAME_H - 1, fillc, x + 3, y + 11.5);
		fit = w > 3 * FONT_W ? (size_t)((w - 6) / FONT_W) : 0;
		if (fit >= strlen(name)) {
			xml_text(out, name, fit);
		} else if (fit > 2) {
			xml_text(out, name, fit - 2);
			fputs("..", out);
		}
		fputs("</text></g>\n", out);
	}
	fputs("</g>\n", out);
}

static void header(FILE *out, const struct fl_profile *p,
		   const struct fl_info *info, double height, uint64_t thr)
{
	char total[32];

	human_ns(p->total_ns, total, sizeof(total));
	fprintf(out,
		"<?xml version=\"1.0\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
		"xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" "
		"data-unit=\"%s\" data-total-ns=\"%llu\" data-what=\"%s\">\n"
		"<style type=\"text/css\">\n"
		"text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }\n"
		"#title { text-anchor: middle; font-size: 17px; }\n"
		".f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; cursor: pointer; }\n"
		".f text { pointer-events: none; }\n"
		".parent { opacity: 0.5; }\n"
		".hide { display: none; }\n"
		".button { cursor: pointer; fill: rgb(0,0,160); }\n"
		"</style>\n"
		"<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%.0f\" fill=\"rgb(248,248,240)\"/>\n"
		"<text id=\"title\" x=\"%d\" y=\"22\">",
		WIDTH, height, WIDTH, height, fl_what_title(p->what),
		(unsigned long long)p->total_ns, fl_what_name(p->what), WIDTH,
		height, WIDTH / 2);
	xml_text(out, info->title, 200);
	fprintf(out,
		"</text>\n<text id=\"subtitle\" x=\"%d\" y=\"40\" style=\"text-anchor: middle; font-size: 12px; fill: rgb(90,90,90)\">"
		"%s: %s in %zu threads; the width of a frame is its time (values are the report's)%s</text>\n"
		"<text id=\"reset\" class=\"button hide\" x=\"%d\" y=\"22\">Reset zoom</text>\n"
		"<text id=\"search\" class=\"button\" x=\"%d\" y=\"22\" style=\"text-anchor: end\">Search</text>\n"
		"<text id=\"matched\" x=\"%d\" y=\"%.0f\" style=\"text-anchor: end\"> </text>\n"
		"<text id=\"details\" x=\"%d\" y=\"%.0f\"> </text>\n",
		WIDTH / 2, fl_what_title(p->what), total, p->n_threads,
		thr > p->total_ns / (WIDTH * 10) + 1 ?
			"; frames narrower than a pixel are not drawn" :
			"",
		PAD, WIDTH - PAD, WIDTH - PAD, height - 12, PAD, height - 12);
}

int flame_write_svg(FILE *out, const struct fl_profile *p,
		    const struct fl_info *info)
{
	struct tree t = { 0 };
	double height;
	uint64_t thr;
	int err = build_tree(&t, p);

	if (err)
		goto out;
	assign_palettes(&t, p);
	thr = min_width(&t, t.v[0].w);
	height = TOP + BOTTOM + (t.max_depth + 1) * FRAME_H + 8;
	header(out, p, info, height, thr);
	draw(out, &t, p, thr, t.v[0].w, height);
	fprintf(out,
		"<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n",
		flame_svg_js);
	err = ferror(out) ? -EIO : 0;
out:
	free(t.v);
	return err;
}
