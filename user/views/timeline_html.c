// SPDX-License-Identifier: GPL-2.0
/*
 * The page: a header with the text report, a legend, a <canvas>, the data
 * as JSON in a <script type="application/json"> element and the viewer's
 * script (timeline_page.c). Bulk data goes as base64 of little-endian typed
 * arrays (Float64 times in ns since the session began, small integers for
 * the rest): about 45 bytes a slice, decoded by the browser in one pass.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "common/json.h"
#include "common/syscalls.h"
#include "views/timeline_html.h"
#include "views/timeline_json.h"
#include "views/timeline_page.h"
#include "common/utf8.h"
#include "views/timeline_phases.h"

/* syscall numbers the page may name */
#define MAX_SYSCALL_NR 1024

/* ------------------------------------------------------------ base64 */

struct b64 {
	FILE *out;
	uint8_t buf[3];
	int n;
};

static const char b64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_flush(struct b64 *b)
{
	uint32_t v;
	char q[4];

	if (!b->n)
		return;
	v = (uint32_t)b->buf[0] << 16 |
	    (b->n > 1 ? (uint32_t)b->buf[1] << 8 : 0) |
	    (b->n > 2 ? b->buf[2] : 0);
	q[0] = b64_chars[v >> 18];
	q[1] = b64_chars[(v >> 12) & 63];
	q[2] = b->n > 1 ? b64_chars[(v >> 6) & 63] : '=';
	q[3] = b->n > 2 ? b64_chars[v & 63] : '=';
	fwrite(q, 1, 4, b->out);
	b->n = 0;
}

static void b64_put(struct b64 *b, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		b->buf[b->n++] = (uint8_t)(v >> (8 * i)); /* little endian */
		if (b->n == 3)
			b64_flush(b);
	}
}

static void b64_f64(struct b64 *b, double d)
{
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	b64_put(b, bits, 8);
}

/* ------------------------------------------------------------- arrays */

enum field {
	F_START,
	F_DUR,
	F_KIND,
	F_SYS,
	F_DETAIL,
	F_CPU,
	F_HAND,
	F_HOLDER,
};

static void slice_field(struct b64 *b, const struct tl_model *m,
			const struct tl_slice *s, enum field f)
{
	switch (f) {
	case F_START:
		b64_f64(b, (double)(int64_t)(s->start - m->t0));
		break;
	case F_DUR:
		b64_f64(b, (double)(s->end - s->start));
		break;
	case F_KIND:
		b64_put(b, (uint64_t)tl_slice_code(s), 1);
		break;
	case F_SYS:
		b64_put(b, (uint64_t)(int64_t)s->sys_nr, 2);
		break;
	case F_DETAIL:
		b64_f64(b, (double)s->detail);
		break;
	case F_CPU:
		b64_put(b,
			(uint64_t)(int64_t)(s->kind == AN_SLICE_GIL_HELD ||
							    s->kind ==
								    AN_SLICE_RUNNING ?
						    s->cpu :
						    -1),
			2);
		break;
	case F_HAND:
		b64_put(b, s->flow_in ? s->flow_in - 1 : 0xffffffffu, 4);
		break;
	case F_HOLDER: /* asleep on a lock: the holder's lane */
		b64_put(b,
			s->lock_holder ?
				tl_find_lane(m, m->lanes[s->lane].t->tgid,
					     s->lock_holder, s->start) :
				TL_NONE,
			4);
		break;
	}
}

static void slice_array(FILE *out, const struct tl_model *m, const char *key,
			enum field f)
{
	struct b64 b = { .out = out };

	fprintf(out, ",\"%s\":\"", key);
	for (size_t i = 0; i < m->slices.n; i++)
		slice_field(&b, m, TL_SLICE(m, i), f);
	b64_flush(&b);
	fputc('"', out);
}

static void write_slices(FILE *out, const struct tl_model *m)
{
	fputs(",\"slices\":{\"off\":[", out);
	for (size_t l = 0; l < m->n_lanes; l++)
		fprintf(out, "%zu,", m->lanes[l].first);
	fprintf(out, "%zu]", m->slices.n);
	slice_array(out, m, "start", F_START);
	slice_array(out, m, "dur", F_DUR);
	slice_array(out, m, "kind", F_KIND);
	slice_array(out, m, "sys", F_SYS);
	slice_array(out, m, "detail", F_DETAIL);
	slice_array(out, m, "cpu", F_CPU);
	slice_array(out, m, "hand", F_HAND);
	slice_array(out, m, "holder", F_HOLDER);
	fputc('}', out);
}

/* Who ran on each CPU, in CPU rows; other tasks are lane -1. */
static void write_segs(FILE *out, const struct tl_model *m)
{
	struct b64 b = { .out = out };
	size_t n = m->cpusegs.n;

	fputs(",\"segs\":{\"off\":[", out);
	for (size_t r = 0; r <= m->n_cpus; r++)
		fprintf(out, "%s%u", r ? "," : "", m->cpu_seg_first[r]);
	fputs("],\"start\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_f64(&b, (double)(int64_t)(TL_CPUSEG(m, i)->start - m->t0));
	b64_flush(&b);
	fputs("\",\"dur\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_f64(&b, (double)(TL_CPUSEG(m, i)->end -
				     TL_CPUSEG(m, i)->start));
	b64_flush(&b);
	fputs("\",\"lane\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_put(&b, TL_CPUSEG(m, i)->lane, 4); /* TL_NONE reads as -1 */
	b64_flush(&b);
	fputs("\",\"tid\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_put(&b, TL_CPUSEG(m, i)->tid, 4);
	b64_flush(&b);
	fputs("\"}", out);
}

static void write_handoffs(FILE *out, const struct tl_model *m)
{
	struct b64 b = { .out = out };
	size_t n = m->handoffs.n;

	fputs(",\"hand\":{\"release\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_f64(&b,
			(double)(int64_t)(TL_HANDOFF(m, i)->release - m->t0));
	b64_flush(&b);
	fputs("\",\"acquire\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_f64(&b,
			(double)(int64_t)(TL_HANDOFF(m, i)->acquire - m->t0));
	b64_flush(&b);
	fputs("\",\"from\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_put(&b, TL_HANDOFF(m, i)->from_lane, 4);
	b64_flush(&b);
	fputs("\",\"to\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_put(&b, TL_HANDOFF(m, i)->to_lane, 4);
	b64_flush(&b);
	fputs("\",\"forced\":\"", out);
	for (size_t i = 0; i < n; i++)
		b64_put(&b, TL_HANDOFF(m, i)->forced, 1);
	b64_flush(&b);
	fputs("\"}", out);
}

/* ------------------------------------------------------------ objects */

static void write_names(FILE *out, const struct tl_model *m)
{
	uint8_t used[MAX_SYSCALL_NR] = { 0 };
	bool first = true;

	fputs(",\"kinds\":[", out);
	for (int c = 0; c < TL_CODES; c++) {
		fputs(c ? "," : "", out);
		json_put_string(out, tl_code_name(c), JSON_HTML_SAFE);
	}
	fputs("],\"syscalls\":{", out);
	for (size_t i = 0; i < m->slices.n; i++) {
		int nr = TL_SLICE(m, i)->sys_nr;

		if (nr >= 0 && nr < MAX_SYSCALL_NR && !used[nr] &&
		    syscall_name(nr)) {
			used[nr] = 1;
			fprintf(out, "%s\"%d\":\"%s\"", first ? "" : ",", nr,
				syscall_name(nr));
			first = false;
		}
	}
	fputc('}', out);
}

static void write_procs(FILE *out, const struct tl_model *m)
{
	fputs(",\"procs\":[", out);
	for (size_t i = 0; i < m->n_procs; i++) {
		const struct tl_proc *p = &m->procs[i];

		fprintf(out, "%s{\"pid\":%u,\"command\":", i ? "," : "",
			p->p->pid);
		json_put_string(out, p->p->command, JSON_HTML_SAFE);
		fputs(",\"python\":", out);
		json_put_string(out, p->p->python, JSON_HTML_SAFE);
		fprintf(out, ",\"lanes\":[%zu,%zu]}", p->first_lane,
			p->n_lanes);
	}
	fputs("],\"lanes\":[", out);
	for (size_t l = 0; l < m->n_lanes; l++) {
		const struct an_thread *t = m->lanes[l].t;

		fputs(l ? ",{\"name\":" : "{\"name\":", out);
		json_put_string(out, t->name, JSON_HTML_SAFE);
		fprintf(out,
			",\"tid\":%u,\"pid\":%u,\"start\":%" PRId64
			",\"end\":%" PRId64 "}",
			t->tid, t->tgid, (int64_t)(t->start_ns - m->t0),
			(int64_t)(t->end_ns - m->t0));
	}
	fputs("],\"cpus\":[", out);
	for (size_t r = 0; r < m->n_cpus; r++)
		fprintf(out, "%s%u", r ? "," : "", m->cpus[r]);
	fputc(']', out);
}

/* The report's phases, when there are: times from the session's start,
 * PROC the index in procs. */
static int write_phases(FILE *out, const struct tl_model *m,
			const struct tl_info *info)
{
	size_t n;
	uint32_t *proc = tl_phase_procs(m, info, &n);
	bool first = true;

	if (!n)
		return 0;
	if (!proc)
		return -ENOMEM;
	fputs(",\"phases\":[", out);
	for (size_t k = 0; k < n; k++) {
		const struct ph_item *ph = &info->phases[k];

		if (proc[k] == TL_NONE)
			continue;
		fprintf(out,
			"%s{\"proc\":%u,\"start\":%" PRId64 ",\"end\":%" PRId64
			",\"label\":",
			first ? "" : ",", proc[k], (int64_t)(ph->start - m->t0),
			(int64_t)(ph->end - m->t0));
		json_put_string(out, ph->label, JSON_HTML_SAFE);
		fputs(",\"line\":", out);
		json_put_string(out, ph->line, JSON_HTML_SAFE);
		fputs(",\"diagnosis\":", out);
		json_put_string(out, ph->diagnosis, JSON_HTML_SAFE);
		fputc('}', out);
		first = false;
	}
	fputc(']', out);
	free(proc);
	return 0;
}

static int write_data(FILE *out, const struct tl_model *m,
		      const struct tl_info *info)
{
	int ret;

	fprintf(out, "{\"t0\":%" PRIu64 ",\"span\":%" PRIu64 ",\"futex\":%d",
		m->t0, m->end - m->t0, SYS_FUTEX);
	write_names(out, m);
	write_procs(out, m);
	write_slices(out, m);
	write_segs(out, m);
	write_handoffs(out, m);
	ret = write_phases(out, m, info);
	fputs("}", out);
	return ret;
}

/* ------------------------------------------------------------ the page */

/* S as HTML text; a byte that is not valid UTF-8 (a thread's name is any
 * bytes) as the Latin-1 character of its value, so the page stays UTF-8 */
static void html_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		int n = utf8_seq_len((const unsigned char *)s);

		if (!n) {
			fprintf(out, "&#x%x;", (unsigned char)*s);
		} else if (n > 1) {
			fwrite(s, 1, n, out);
			s += n - 1;
		} else if (*s == '<')
			fputs("&lt;", out);
		else if (*s == '>')
			fputs("&gt;", out);
		else if (*s == '&')
			fputs("&amp;", out);
		else if (*s == '"')
			fputs("&quot;", out);
		else
			fputc(*s, out);
	}
}

static void lines(FILE *out, const char *const *l)
{
	for (; *l; l++)
		fputs(*l, out);
}

static void write_header(FILE *out, const struct tl_model *m,
			 const struct tl_info *info)
{
	char cmd[4096];

	/* the command as the text report shows it (utf8.h) */
	printable(cmd, sizeof(cmd), info->command);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<meta name=\"generator\" content=\"gilscope " GILSCOPE_VERSION
	      "\">\n"
	      "<title>gilscope timeline: ",
	      out);
	html_text(out, cmd);
	fputs("</title>\n<style>\n", out);
	lines(out, tl_page_css);
	fputs("</style>\n</head>\n<body>\n<header><h1>gilscope timeline</h1>\n"
	      "<div class=\"sub\">",
	      out);
	html_text(out, cmd);
	fprintf(out,
		" &middot; %.3f s &middot; %zu threads &middot; %zu GIL hand-offs",
		info->duration_ns / 1e9, m->n_lanes, m->handoffs.n);
	if (info->kernel[0]) {
		fputs(" &middot; Linux ", out);
		html_text(out, info->kernel);
	}
	if (info->hostname[0]) {
		fputs(" on ", out);
		html_text(out, info->hostname);
	}
	fputs("</div></header>\n<details open id=\"report\"><summary>Report</summary><pre>",
	      out);
	html_text(out, info->report_text ? info->report_text : "");
	fputs("</pre></details>\n<div id=\"legend\"></div>\n"
	      "<div id=\"hint\">Mouse wheel: zoom around the pointer &middot; drag: pan"
	      " &middot; double-click: whole session &middot; hover: details</div>\n"
	      "<div id=\"wrap\"><canvas id=\"tl\"></canvas></div>\n"
	      "<div id=\"tip\" hidden></div>\n<pre id=\"selftest\"></pre>\n",
	      out);
}

int timeline_html_write(FILE *out, const struct tl_model *m,
			const struct tl_info *info)
{
	write_header(out, m, info);
	/* JSON strings escape '<', so no "</script" can end this early */
	fputs("<script type=\"application/json\" id=\"gsdata\">", out);
	if (write_data(out, m, info))
		return -ENOMEM;
	fputs("</script>\n<script>\n", out);
	lines(out, tl_page_js_head);
	tl_page_write_states(out);
	lines(out, tl_page_js);
	fputs("</script>\n</body>\n</html>\n", out);
	if (fflush(out) || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
