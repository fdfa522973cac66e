// SPDX-License-Identifier: GPL-2.0
/* One interval of `gilscope top` as JSON; the schema is docs/top.md. */
#include "common/json.h"
#include "cmd/top_json.h"

static void stack(struct json *j, const struct tm_stack *s)
{
	if (!s->ns) {
		json_null(j, "gil_wait_stack");
		return;
	}
	json_begin_object(j, "gil_wait_stack");
	json_u64(j, "gil_wait_ns", s->ns);
	json_begin_array(j, "frames");
	for (int i = 0; i < s->n; i++)
		json_string(j, NULL, s->frames[i]);
	json_end_array(j);
	json_end_object(j);
}

static void thread(struct json *j, const struct tm_thread *t)
{
	json_begin_object(j, NULL);
	json_u64(j, "tid", t->tid);
	json_string(j, "name", t->name);
	json_bool(j, "python_name", t->python_name);
	json_bool(j, "exited", t->exited);
	json_u64(j, "life_ns", t->life_ns);
	json_u64(j, "on_cpu_ns", t->on_cpu_ns);
	json_u64(j, "on_cpu_gil_ns", t->on_cpu_gil_ns);
	json_u64(j, "runnable_ns", t->runnable_ns);
	json_begin_object(j, "blocked_ns");
	for (int r = 0; r < GS_R_COUNT; r++)
		json_u64(j, reason_name(r), t->blocked_ns[r]);
	json_end_object(j);
	json_u64(j, "gil_held_ns", t->gil_held_ns);
	json_u64(j, "gil_wait_ns", t->gil_wait_ns);
	json_u64(j, "handoffs_received", t->handoffs_in);
	json_u64(j, "handoff_p99_ns", t->handoff_p99_ns);
	stack(j, &t->wait_stack);
	json_end_object(j);
}

static void process(struct json *j, const struct tm_process *p)
{
	json_begin_object(j, NULL);
	json_u64(j, "pid", p->pid);
	json_string(j, "command", p->command);
	if (p->python[0])
		json_string(j, "python_version", p->python);
	else
		json_null(j, "python_version");
	json_string(j, "gil_method", p->gil_method);
	json_bool(j, "exited", p->exited);
	json_u64(j, "life_ns", p->life_ns);
	json_u64(j, "cpu_time_ns", p->cpu_ns);
	if (p->has_gil) {
		json_begin_object(j, "gil");
		json_u64(j, "held_ns", p->gil_held_ns);
		json_u64(j, "waiter_ns", p->waiter_ns);
		json_u64(j, "handoffs", p->handoffs);
		json_u64(j, "forced_handoffs", p->forced_handoffs);
		json_u64(j, "handoff_p99_ns", p->handoff_p99_ns);
		json_end_object(j);
	} else {
		json_null(j, "gil");
	}
	stack(j, &p->wait_stack);
	json_begin_array(j, "threads");
	for (size_t i = 0; i < p->n_threads; i++)
		thread(j, &p->threads[i]);
	json_end_array(j);
	json_end_object(j);
}

void top_json(FILE *out, const struct tm_snapshot *s)
{
	struct json j;

	json_init(&j, out);
	json_begin_object(&j, NULL);
	json_u64(&j, "start_ns", s->start_ns);
	json_u64(&j, "end_ns", s->end_ns);
	json_u64(&j, "interval_ns", s->end_ns - s->start_ns);
	json_string(&j, "mode", s->light ? "light" : "exact");
	json_u64(&j, "events", s->events);
	json_u64(&j, "lost", s->lost);
	json_u64(&j, "late", s->late);
	json_begin_array(&j, "processes");
	for (size_t i = 0; i < s->n_procs; i++)
		process(&j, &s->procs[i]);
	json_end_array(&j);
	json_end_object(&j);
	fputc('\n', out);
}
