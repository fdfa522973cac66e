// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <inttypes.h>
#include "common/json.h"
#include "common/syscalls.h"
#include "common/utf8.h"
#include "views/timeline_json.h"
#include "views/timeline_phases.h"

void tl_json_us(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03u", ns / 1000, (unsigned int)(ns % 1000));
}

/* One event a line: the file stays greppable and diffable. */
static void begin_event(FILE *out, bool *first, const char *ph, uint32_t pid,
			uint32_t tid)
{
	fputs(*first ? "\n" : ",\n", out);
	*first = false;
	fprintf(out, "{\"ph\":\"%s\",\"pid\":%u,\"tid\":%u", ph, pid, tid);
}

static void meta(FILE *out, bool *first, uint32_t pid, uint32_t tid,
		 const char *what, const char *name, long sort)
{
	char key[32];

	begin_event(out, first, "M", pid, tid);
	fprintf(out, ",\"name\":\"%s_name\",\"args\":{\"name\":", what);
	json_put_string(out, name, JSON_HTML_SAFE);
	fputs("}}", out);
	snprintf(key, sizeof(key), "%s_sort_index", what);
	begin_event(out, first, "M", pid, tid);
	fprintf(out, ",\"name\":\"%s\",\"args\":{\"sort_index\":%ld}}", key,
		sort);
}

static void write_metadata(FILE *out, const struct tl_model *m, bool *first)
{
	/* a command on one line, as the report shows it (4: \xNN a byte) */
	char name[4 * sizeof(m->procs[0].p->command) + 1];

	for (size_t i = 0; i < m->n_procs; i++) {
		const struct an_process *p = m->procs[i].p;

		if (p->command[0])
			printable(name, sizeof(name), p->command);
		else
			snprintf(name, sizeof(name), "process %u", p->pid);
		meta(out, first, p->pid, p->pid, "process", name, (long)i);
	}
	for (size_t l = 0; l < m->n_lanes; l++) {
		const struct an_thread *t = m->lanes[l].t;

		meta(out, first, t->tgid, t->tid, "thread", t->name, (long)l);
	}
	if (!m->n_cpus)
		return;
	meta(out, first, TL_JSON_CPU_PID, TL_JSON_CPU_PID, "process", "CPUs",
	     (long)m->n_procs);
	for (size_t r = 0; r < m->n_cpus; r++) {
		snprintf(name, sizeof(name), "CPU %u", m->cpus[r]);
		meta(out, first, TL_JSON_CPU_PID,
		     TL_JSON_CPU_PID + 1 + m->cpus[r], "thread", name, (long)r);
	}
}

static void thread_arg(FILE *out, const struct tl_model *m, const char *key,
		       uint32_t lane)
{
	char who[96];

	if (lane == TL_NONE)
		snprintf(who, sizeof(who), "?");
	else
		snprintf(who, sizeof(who), "%s (%u)", tl_lane_name(m, lane),
			 m->lanes[lane].t->tid);
	fprintf(out, ",\"%s\":", key);
	json_put_string(out, who, JSON_HTML_SAFE);
}

static void slice_args(FILE *out, const struct tl_model *m,
		       const struct tl_slice *s)
{
	const char *sys = s->sys_nr >= 0 ? syscall_name(s->sys_nr) : NULL;

	fprintf(out, ",\"args\":{\"state\":\"%s\"", tl_slice_name(s));
	if (s->kind == AN_SLICE_GIL_HELD || s->kind == AN_SLICE_RUNNING)
		fprintf(out, ",\"cpu\":%d", s->cpu);
	if (s->sys_nr >= 0) {
		if (sys)
			fprintf(out, ",\"syscall\":\"%s\"", sys);
		else
			fprintf(out, ",\"syscall\":\"syscall %d\"", s->sys_nr);
		/* the futex: its holders are in the report's lock_waits */
		if (s->sys_nr == SYS_FUTEX || s->sys_nr == SYS_FUTEX_WAITV)
			fprintf(out, ",\"futex\":\"0x%" PRIx64 "\"", s->detail);
		else
			fprintf(out, ",\"arg0\":%" PRIu64, s->detail);
	}
	if (s->lock_holder)
		thread_arg(out, m, "lock_holder",
			   tl_find_lane(m, m->lanes[s->lane].t->tgid,
					s->lock_holder, s->start));
	if (s->flow_in) {
		const struct tl_handoff *h = TL_HANDOFF(m, s->flow_in - 1);

		thread_arg(out, m, "gil_taken_from", h->from_lane);
		fprintf(out,
			",\"gil_handoff\":\"%s\",\"gil_handoff_latency_us\":",
			h->forced ? "forced" : "voluntary");
		tl_json_us(out, h->acquire - h->release);
	}
	if (s->flow_out)
		thread_arg(out, m, "gil_given_to",
			   TL_HANDOFF(m, s->flow_out - 1)->to_lane);
	fputc('}', out);
}

/*
 * A flow binds to this slice: one id a slice in this format, so a slice
 * that takes the GIL and later passes it on is a step of one chain
 * (flow_in and flow_out with the same id).
 */
static void slice_flow(FILE *out, const struct tl_model *m,
		       const struct tl_slice *s)
{
	uint32_t h = s->flow_in ? s->flow_in : s->flow_out;

	if (!h)
		return;
	fprintf(out, ",\"bind_id\":%u", TL_HANDOFF(m, h - 1)->chain);
	if (s->flow_in)
		fputs(",\"flow_in\":true", out);
	if (s->flow_out)
		fputs(",\"flow_out\":true", out);
}

static void write_slices(FILE *out, const struct tl_model *m, bool *first)
{
	for (size_t i = 0; i < m->slices.n; i++) {
		const struct tl_slice *s = TL_SLICE(m, i);
		const struct an_thread *t = m->lanes[s->lane].t;

		begin_event(out, first, "X", t->tgid, t->tid);
		fprintf(out,
			",\"cat\":\"thread_state\",\"name\":\"%s\",\"ts\":",
			tl_slice_name(s));
		tl_json_us(out, s->start);
		fputs(",\"dur\":", out);
		tl_json_us(out, s->end - s->start);
		slice_flow(out, m, s);
		slice_args(out, m, s);
		fputc('}', out);
	}
}

static void counter(FILE *out, bool *first, uint32_t pid, const char *name,
		    uint64_t ts, int v)
{
	begin_event(out, first, "C", pid, pid);
	fprintf(out, ",\"name\":\"%s\",\"ts\":", name);
	tl_json_us(out, ts);
	fprintf(out, ",\"args\":{\"threads\":%d}}", v);
}

static void write_counters(FILE *out, const struct tl_model *m, bool *first)
{
	for (size_t i = 0; i < m->n_procs; i++) {
		const struct tl_proc *p = &m->procs[i];
		uint32_t pid = p->p->pid;
		uint64_t start = p->p->start_ns > m->t0 ? p->p->start_ns :
							  m->t0;
		int last[2] = { -1, -1 };

		if (!p->n_counts || TL_COUNT(m, p->first_count)->ts > start) {
			counter(out, first, pid, "waiting for GIL", start, 0);
			counter(out, first, pid, "runnable", start, 0);
			last[0] = last[1] = 0;
		}
		for (size_t j = 0; j < p->n_counts; j++) {
			const struct tl_count *c =
				TL_COUNT(m, p->first_count + j);

			if (c->waiters != last[0])
				counter(out, first, pid, "waiting for GIL",
					c->ts, c->waiters);
			if (c->runnable != last[1])
				counter(out, first, pid, "runnable", c->ts,
					c->runnable);
			last[0] = c->waiters;
			last[1] = c->runnable;
		}
	}
}

/* Which thread ran on each CPU: one complete event per run. */
static void write_cpus(FILE *out, const struct tl_model *m, bool *first)
{
	for (size_t i = 0; i < m->cpusegs.n; i++) {
		const struct tl_cpuseg *c = TL_CPUSEG(m, i);

		begin_event(out, first, "X", TL_JSON_CPU_PID,
			    TL_JSON_CPU_PID + 1 + c->cpu);
		fputs(",\"cat\":\"cpu\",\"name\":", out);
		json_put_string(out,
				c->lane == TL_NONE ? "other task" :
						     tl_lane_name(m, c->lane),
				JSON_HTML_SAFE);
		fputs(",\"ts\":", out);
		tl_json_us(out, c->start);
		fputs(",\"dur\":", out);
		tl_json_us(out, c->end - c->start);
		fprintf(out, ",\"args\":{\"tid\":%u,\"pid\":%u}}", c->tid,
			c->pid);
	}
}

static void phase_event(FILE *out, bool *first, const struct ph_item *ph)
{
	begin_event(out, first, "X", ph->pid, TL_JSON_PHASE_TID);
	fputs(",\"cat\":\"phase\",\"name\":", out);
	json_put_string(out, ph->label, JSON_HTML_SAFE);
	fputs(",\"ts\":", out);
	tl_json_us(out, ph->start);
	fputs(",\"dur\":", out);
	tl_json_us(out, ph->end - ph->start);
	fputs(",\"args\":{\"phase\":", out);
	json_put_string(out, ph->line, JSON_HTML_SAFE);
	if (ph->diagnosis[0]) {
		fputs(",\"diagnosis\":", out);
		json_put_string(out, ph->diagnosis, JSON_HTML_SAFE);
	}
	fputs("}}", out);
}

/* The report's phases: a "phases" track above each process's threads. */
static int write_phases(FILE *out, const struct tl_model *m,
			const struct tl_info *info, bool *first)
{
	size_t n;
	uint32_t *proc = tl_phase_procs(m, info, &n);
	bool *named;

	if (!n)
		return 0;
	named = calloc(m->n_procs + 1, sizeof(*named));
	if (!proc || !named) {
		free(proc);
		free(named);
		return -ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		if (proc[k] == TL_NONE)
			continue;
		if (!named[proc[k]])
			meta(out, first, info->phases[k].pid, TL_JSON_PHASE_TID,
			     "thread", "phases", -1);
		named[proc[k]] = true;
		phase_event(out, first, &info->phases[k]);
	}
	free(proc);
	free(named);
	return 0;
}

int timeline_json_write(FILE *out, const struct tl_model *m,
			const struct tl_info *info)
{
	bool first = true;
	int ret;

	fputs("{\"displayTimeUnit\":\"ns\",\"otherData\":{\"generator\":"
	      "\"gilscope " GILSCOPE_VERSION "\",\"clock\":\"CLOCK_MONOTONIC\"",
	      out);
	if (info->kernel[0]) {
		fputs(",\"kernel\":", out);
		json_put_string(out, info->kernel, JSON_HTML_SAFE);
	}
	fputs("},\"traceEvents\":[", out);
	write_metadata(out, m, &first);
	write_slices(out, m, &first);
	write_counters(out, m, &first);
	write_cpus(out, m, &first);
	ret = write_phases(out, m, info, &first);
	if (ret)
		return ret;
	fputs("\n]}\n", out);
	if (fflush(out) || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
