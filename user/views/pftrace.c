// SPDX-License-Identifier: GPL-2.0
/*
 * Field numbers below are those of Perfetto's protos (protos/perfetto/trace:
 * trace.proto, trace_packet.proto, clock_snapshot.proto,
 * track_event/track_descriptor.proto, process_descriptor.proto,
 * thread_descriptor.proto, counter_descriptor.proto, track_event.proto,
 * debug_annotation.proto, interned_data/interned_data.proto,
 * ftrace/ftrace_event_bundle.proto, ftrace_event.proto, sched.proto,
 * common/system_info.proto). Each was checked against those files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "views/pftrace.h"
#include "views/pftrace_pb.h"
#include "common/syscalls.h"
#include "common/utf8.h"
#include "views/timeline_phases.h"

enum {
	TRACE_PACKET = 1, /* Trace.packet */

	/* TracePacket */
	PKT_FTRACE_EVENTS = 1,
	PKT_CLOCK_SNAPSHOT = 6,
	PKT_TIMESTAMP = 8,
	PKT_SEQUENCE_ID = 10, /* trusted_packet_sequence_id */
	PKT_TRACK_EVENT = 11,
	PKT_INTERNED_DATA = 12,
	PKT_SEQUENCE_FLAGS = 13,
	PKT_SYSTEM_INFO = 45,
	PKT_CLOCK_ID = 58, /* timestamp_clock_id */
	PKT_TRACK_DESCRIPTOR = 60,

	SEQ_INCREMENTAL_STATE_CLEARED = 1,
	SEQ_NEEDS_INCREMENTAL_STATE = 2,

	/* ClockSnapshot, ClockSnapshot.Clock, BuiltinClock */
	CS_CLOCKS = 1,
	CS_PRIMARY_TRACE_CLOCK = 2,
	CLK_ID = 1,
	CLK_TIMESTAMP = 2,
	CLOCK_REALTIME_ID = 1,
	CLOCK_MONOTONIC_ID = 3,
	CLOCK_BOOTTIME_ID = 6,

	/* SystemInfo, Utsname */
	SI_UTSNAME = 1,
	SI_NUM_CPUS = 8,
	UTS_SYSNAME = 1,
	UTS_RELEASE = 3,
	UTS_MACHINE = 4,

	/* TrackDescriptor, ProcessDescriptor, ThreadDescriptor,
	 * CounterDescriptor */
	TD_UUID = 1,
	TD_NAME = 2,
	TD_PROCESS = 3,
	TD_THREAD = 4,
	TD_PARENT_UUID = 5,
	TD_COUNTER = 8,
	PD_PID = 1,
	PD_CMDLINE = 2,
	PD_PROCESS_NAME = 6,
	THD_PID = 1,
	THD_TID = 2,
	THD_THREAD_NAME = 5,
	CD_UNIT = 3,
	UNIT_COUNT = 2,

	/* TrackEvent */
	TE_DEBUG_ANNOTATIONS = 4,
	TE_TYPE = 9,
	TE_NAME_IID = 10,
	TE_TRACK_UUID = 11,
	TE_COUNTER_VALUE = 30,
	TE_FLOW_IDS = 47,	      /* repeated fixed64 */
	TE_TERMINATING_FLOW_IDS = 48, /* repeated fixed64 */
	TE_NAME = 23,		      /* a name not interned */
	TYPE_SLICE_BEGIN = 1,
	TYPE_SLICE_END = 2,
	TYPE_COUNTER = 4,

	/* DebugAnnotation */
	DA_NAME_IID = 1,
	DA_NAME = 10, /* a name not interned */
	DA_UINT_VALUE = 3,
	DA_INT_VALUE = 4,
	DA_DOUBLE_VALUE = 5,
	DA_STRING_VALUE = 6,
	DA_POINTER_VALUE = 7,

	/* InternedData, EventName, DebugAnnotationName */
	ID_EVENT_NAMES = 2,
	ID_DEBUG_ANNOTATION_NAMES = 3,
	IID = 1,
	IID_NAME = 2,

	/* FtraceEventBundle, FtraceEvent */
	FB_CPU = 1,
	FB_EVENT = 2,
	FE_TIMESTAMP = 1,
	FE_PID = 2,
	FE_SCHED_SWITCH = 4,
	FE_SCHED_WAKING = 20,
	/* SchedSwitchFtraceEvent */
	SW_PREV_COMM = 1,
	SW_PREV_PID = 2,
	SW_PREV_PRIO = 3,
	SW_PREV_STATE = 4,
	SW_NEXT_COMM = 5,
	SW_NEXT_PID = 6,
	SW_NEXT_PRIO = 7,
	/* SchedWakingFtraceEvent */
	WK_COMM = 1,
	WK_PID = 2,
	WK_PRIO = 3,
	WK_SUCCESS = 4,
	WK_TARGET_CPU = 5,
};

/* Our two packet sequences: track events, and the kernel's view. */
#define SEQ_TRACKS 1
#define SEQ_FTRACE 2

/* Track uuids: unique non-zero numbers, small so that their varints are:
 * threads first (every slice names one), then processes, then counters. */
static uint64_t uuid_thread(size_t lane)
{
	return (uint64_t)lane + 1;
}

static uint64_t uuid_proc(const struct tl_model *m, size_t proc)
{
	return m->n_lanes + 1 + (uint64_t)proc;
}

static uint64_t uuid_counter(const struct tl_model *m, size_t proc, int k)
{
	return m->n_lanes + m->n_procs + 1 + 2 * (uint64_t)proc + (uint64_t)k;
}

static uint64_t uuid_phases(const struct tl_model *m, size_t proc)
{
	return m->n_lanes + 3 * (uint64_t)m->n_procs + 1 + (uint64_t)proc;
}

/* The prio the recorder does not know; nice 0 is what Python threads have. */
#define DEFAULT_PRIO 120
/* Scheduler events in one FtraceEventBundle. */
#define BUNDLE_EVENTS 512

/* Interned debug annotation names (iid = position + 1). */
enum da_name {
	DN_CPU = 1,
	DN_SYSCALL,
	DN_FUTEX,
	DN_ARG0,
	DN_GIL_FROM,
	DN_GIL_HANDOFF,
	DN_GIL_LATENCY,
	DN_GIL_TO,
	DN_LOCK_HOLDER,
};

static const char *const da_names[] = {
	[DN_CPU] = "cpu",
	[DN_SYSCALL] = "syscall",
	[DN_FUTEX] = "futex",
	[DN_ARG0] = "arg0",
	[DN_GIL_FROM] = "gil_taken_from",
	[DN_GIL_HANDOFF] = "gil_handoff",
	[DN_GIL_LATENCY] = "gil_handoff_latency_us",
	[DN_GIL_TO] = "gil_given_to",
	[DN_LOCK_HOLDER] = "lock_holder",
};

struct writer {
	FILE *out;
	const struct tl_model *m;
	const struct tl_info *info;
	struct pb b;
	int err;
};

static void flush_packet(struct writer *w, struct pb *b)
{
	pb_end(b); /* the TracePacket */
	if (b->failed) {
		w->err = -ENOMEM;
	} else if (!w->err && fwrite(b->data, 1, b->len, w->out) != b->len) {
		w->err = -errno;
	}
	pb_reset(b);
}

/* A packet on SEQ with a CLOCK_MONOTONIC timestamp (TS 0: none). */
static void begin_packet(struct pb *b, uint32_t seq, uint32_t flags,
			 uint64_t ts)
{
	pb_begin(b, TRACE_PACKET);
	if (ts) {
		pb_uint(b, PKT_TIMESTAMP, ts);
		pb_uint(b, PKT_CLOCK_ID, CLOCK_MONOTONIC_ID);
	}
	pb_uint(b, PKT_SEQUENCE_ID, seq);
	if (flags)
		pb_uint(b, PKT_SEQUENCE_FLAGS, flags);
}

static void snapshot_clock(struct pb *b, uint32_t id, uint64_t ts)
{
	pb_begin(b, CS_CLOCKS);
	pb_uint(b, CLK_ID, id);
	pb_uint(b, CLK_TIMESTAMP, ts);
	pb_end(b);
}

static void iid_name(struct pb *b, uint32_t field, uint64_t iid,
		     const char *name)
{
	pb_begin(b, field);
	pb_uint(b, IID, iid);
	pb_string(b, IID_NAME, name);
	pb_end(b);
}

/*
 * First packet of the track sequence: it clears the incremental state and
 * carries the interned names every later packet refers to, and the clock
 * snapshot. gilscope's timestamps are CLOCK_MONOTONIC; the session does not
 * record BOOTTIME, and Perfetto reads ftrace timestamps as BOOTTIME, so the
 * snapshot maps BOOTTIME onto MONOTONIC one to one: both kinds of events
 * then line up, and the trace's own clock is MONOTONIC.
 */
static void write_header(struct writer *w)
{
	struct pb *b = &w->b;

	begin_packet(b, SEQ_TRACKS, SEQ_INCREMENTAL_STATE_CLEARED, 0);
	pb_begin(b, PKT_CLOCK_SNAPSHOT);
	snapshot_clock(b, CLOCK_BOOTTIME_ID, w->m->t0);
	snapshot_clock(b, CLOCK_MONOTONIC_ID, w->m->t0);
	if (w->info->realtime_at_start)
		snapshot_clock(b, CLOCK_REALTIME_ID,
			       w->info->realtime_at_start);
	pb_uint(b, CS_PRIMARY_TRACE_CLOCK, CLOCK_MONOTONIC_ID);
	pb_end(b);
	pb_begin(b, PKT_INTERNED_DATA);
	for (int c = 0; c < TL_CODES; c++)
		iid_name(b, ID_EVENT_NAMES, (uint64_t)c + 1, tl_code_name(c));
	for (size_t i = 1; i < sizeof(da_names) / sizeof(da_names[0]); i++)
		iid_name(b, ID_DEBUG_ANNOTATION_NAMES, i, da_names[i]);
	pb_end(b);
	flush_packet(w, b);

	/* the kernel's view has its own sequence, opened by the machine's
	 * description (Perfetto reads sched_switch states by kernel version) */
	begin_packet(b, SEQ_FTRACE, SEQ_INCREMENTAL_STATE_CLEARED, 0);
	pb_begin(b, PKT_SYSTEM_INFO);
	pb_begin(b, SI_UTSNAME);
	pb_string(b, UTS_SYSNAME, "Linux");
	if (w->info->kernel[0])
		pb_string(b, UTS_RELEASE, w->info->kernel);
	if (w->info->machine[0])
		pb_string(b, UTS_MACHINE, w->info->machine);
	pb_end(b);
	if (w->info->cpus)
		pb_uint(b, SI_NUM_CPUS, w->info->cpus);
	pb_end(b);
	flush_packet(w, b);
}

static void track_packet(struct writer *w)
{
	begin_packet(&w->b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, 0);
	pb_begin(&w->b, PKT_TRACK_DESCRIPTOR);
}

static void end_track_packet(struct writer *w)
{
	pb_end(&w->b);
	flush_packet(w, &w->b);
}

static void write_counter_track(struct writer *w, size_t i, int k,
				const char *name)
{
	struct pb *b = &w->b;

	track_packet(w);
	pb_uint(b, TD_UUID, uuid_counter(w->m, i, k));
	pb_uint(b, TD_PARENT_UUID, uuid_proc(w->m, i));
	pb_string(b, TD_NAME, name);
	pb_begin(b, TD_COUNTER);
	pb_uint(b, CD_UNIT, UNIT_COUNT);
	pb_end(b);
	end_track_packet(w);
}

static void write_descriptors(struct writer *w)
{
	const struct tl_model *m = w->m;
	struct pb *b = &w->b;
	char cmd[4 * sizeof(m->procs[0].p->command) + 1];

	for (size_t i = 0; i < m->n_procs; i++) {
		const struct an_process *p = m->procs[i].p;

		track_packet(w);
		pb_uint(b, TD_UUID, uuid_proc(w->m, i));
		pb_begin(b, TD_PROCESS);
		pb_int(b, PD_PID, p->pid);
		if (p->command[0]) {
			/* on one line, as the report shows it */
			printable(cmd, sizeof(cmd), p->command);
			pb_string(b, PD_CMDLINE, cmd);
			pb_string(b, PD_PROCESS_NAME, cmd);
		}
		pb_end(b);
		end_track_packet(w);
		write_counter_track(w, i, 0, "threads waiting for the GIL");
		write_counter_track(w, i, 1, "runnable threads");
	}
	for (size_t l = 0; l < m->n_lanes; l++) {
		const struct an_thread *t = m->lanes[l].t;

		track_packet(w);
		pb_uint(b, TD_UUID, uuid_thread(l));
		pb_uint(b, TD_PARENT_UUID, uuid_proc(m, m->lanes[l].proc));
		pb_string(b, TD_NAME, t->name);
		pb_begin(b, TD_THREAD);
		pb_int(b, THD_PID, t->tgid);
		pb_int(b, THD_TID, t->tid);
		pb_string(b, THD_THREAD_NAME, t->name);
		pb_end(b);
		end_track_packet(w);
	}
}

static void annotate_uint(struct pb *b, enum da_name name, uint32_t field,
			  uint64_t v)
{
	pb_begin(b, TE_DEBUG_ANNOTATIONS);
	pb_uint(b, DA_NAME_IID, name);
	pb_uint(b, field, v);
	pb_end(b);
}

static void annotate_string(struct pb *b, enum da_name name, const char *s)
{
	pb_begin(b, TE_DEBUG_ANNOTATIONS);
	pb_uint(b, DA_NAME_IID, name);
	pb_string(b, DA_STRING_VALUE, s);
	pb_end(b);
}

static void annotate_double(struct pb *b, enum da_name name, double v)
{
	pb_begin(b, TE_DEBUG_ANNOTATIONS);
	pb_uint(b, DA_NAME_IID, name);
	pb_double(b, DA_DOUBLE_VALUE, v);
	pb_end(b);
}

static void thread_label(const struct tl_model *m, uint32_t lane, char *buf,
			 size_t len)
{
	if (lane == TL_NONE)
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s (%u)", tl_lane_name(m, lane),
			 m->lanes[lane].t->tid);
}

/* What the hand-off that ends at S (the taker's slice) was. */
static void annotate_handoff_in(struct writer *w, const struct tl_slice *s)
{
	const struct tl_handoff *h = TL_HANDOFF(w->m, s->flow_in - 1);
	char who[96];

	thread_label(w->m, h->from_lane, who, sizeof(who));
	annotate_string(&w->b, DN_GIL_FROM, who);
	annotate_string(&w->b, DN_GIL_HANDOFF,
			h->forced ? "forced" : "voluntary");
	annotate_double(&w->b, DN_GIL_LATENCY,
			(double)(h->acquire - h->release) / 1000.0);
}

static void annotate_slice(struct writer *w, const struct tl_slice *s)
{
	struct pb *b = &w->b;
	const char *sys;

	if (s->kind == AN_SLICE_GIL_HELD || s->kind == AN_SLICE_RUNNING)
		annotate_uint(b, DN_CPU, DA_INT_VALUE, (uint64_t)s->cpu);
	if (s->sys_nr >= 0) {
		sys = syscall_name(s->sys_nr);
		if (sys) {
			annotate_string(b, DN_SYSCALL, sys);
		} else {
			char nr[24];

			snprintf(nr, sizeof(nr), "syscall %d", s->sys_nr);
			annotate_string(b, DN_SYSCALL, nr);
		}
		/* the futex: its holders are in the report's lock_waits */
		if (s->sys_nr == SYS_FUTEX || s->sys_nr == SYS_FUTEX_WAITV)
			annotate_uint(b, DN_FUTEX, DA_POINTER_VALUE, s->detail);
		else
			annotate_uint(b, DN_ARG0, DA_UINT_VALUE, s->detail);
	}
	if (s->lock_holder) {
		char who[96];

		thread_label(w->m,
			     tl_find_lane(w->m, w->m->lanes[s->lane].t->tgid,
					  s->lock_holder, s->start),
			     who, sizeof(who));
		annotate_string(b, DN_LOCK_HOLDER, who);
	}
	if (s->flow_in)
		annotate_handoff_in(w, s);
	if (s->flow_out) {
		char who[96];

		thread_label(w->m, TL_HANDOFF(w->m, s->flow_out - 1)->to_lane,
			     who, sizeof(who));
		annotate_string(b, DN_GIL_TO, who);
	}
}

/*
 * One slice: a begin and an end event on its thread's track. The hand-off
 * that starts here is a flow id on this slice; the one that ends here is
 * terminated here. Flow ids are hand-off numbers, unique in the trace.
 */
static void write_slice(struct writer *w, const struct tl_slice *s)
{
	struct pb *b = &w->b;

	begin_packet(b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, s->start);
	pb_begin(b, PKT_TRACK_EVENT);
	pb_uint(b, TE_TYPE, TYPE_SLICE_BEGIN);
	pb_uint(b, TE_TRACK_UUID, uuid_thread(s->lane));
	pb_uint(b, TE_NAME_IID, (uint64_t)tl_slice_code(s) + 1);
	annotate_slice(w, s);
	if (s->flow_out)
		pb_fixed64(b, TE_FLOW_IDS, s->flow_out);
	if (s->flow_in)
		pb_fixed64(b, TE_TERMINATING_FLOW_IDS, s->flow_in);
	pb_end(b);
	flush_packet(w, b);

	begin_packet(b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, s->end);
	pb_begin(b, PKT_TRACK_EVENT);
	pb_uint(b, TE_TYPE, TYPE_SLICE_END);
	pb_uint(b, TE_TRACK_UUID, uuid_thread(s->lane));
	pb_end(b);
	flush_packet(w, b);
}

static void write_counter(struct writer *w, size_t proc, int k, uint64_t ts,
			  int64_t v)
{
	struct pb *b = &w->b;

	begin_packet(b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, ts);
	pb_begin(b, PKT_TRACK_EVENT);
	pb_uint(b, TE_TYPE, TYPE_COUNTER);
	pb_uint(b, TE_TRACK_UUID, uuid_counter(w->m, proc, k));
	pb_int(b, TE_COUNTER_VALUE, v);
	pb_end(b);
	flush_packet(w, b);
}

static void write_counters(struct writer *w)
{
	const struct tl_model *m = w->m;

	for (size_t i = 0; i < m->n_procs; i++) {
		const struct tl_proc *p = &m->procs[i];
		uint64_t start = p->p->start_ns > m->t0 ? p->p->start_ns :
							  m->t0;
		int last[2] = { -1, -1 };

		/* both counters start at zero with the process */
		if (!p->n_counts || TL_COUNT(m, p->first_count)->ts > start) {
			write_counter(w, i, 0, start, 0);
			write_counter(w, i, 1, start, 0);
			last[0] = last[1] = 0;
		}
		for (size_t j = 0; j < p->n_counts; j++) {
			const struct tl_count *c =
				TL_COUNT(m, p->first_count + j);

			if (c->waiters != last[0])
				write_counter(w, i, 0, c->ts, c->waiters);
			if (c->runnable != last[1])
				write_counter(w, i, 1, c->ts, c->runnable);
			last[0] = c->waiters;
			last[1] = c->runnable;
		}
	}
}

/* ------------------------------------------------------------ ftrace */

struct bundles {
	struct pb *per_row; /* one open FtraceEventBundle per CPU row */
	size_t *n_events;
};

static void comm_of(const struct tl_model *m, uint32_t tid, uint32_t tgid,
		    uint16_t cpu, uint64_t ts, char *buf, size_t len)
{
	uint32_t lane;

	if (!tid) {
		snprintf(buf, len, "swapper/%u", cpu);
		return;
	}
	lane = tl_find_lane(m, tgid, tid, ts);
	snprintf(buf, len, "%s",
		 lane == TL_NONE ? "(untraced)" : tl_lane_name(m, lane));
}

/*
 * The kernel's task state as ftrace reports it in sched_switch: the highest
 * of the reportable state bits (S 1, D 2, T 4, t 8, X 16, Z 32, P 64). A
 * preempted task is runnable (0). The recorder keeps the raw __state, where
 * an exiting task is TASK_DEAD (0x80): that reads as X.
 */
static int64_t ftrace_prev_state(const struct tl_sched *s)
{
	unsigned int st = s->prev_state & 0x7f;
	int64_t bit = 1;

	if (s->flags & GS_F_PREEMPT)
		return 0;
	if (s->prev_state & 0x80)
		return 0x10;
	if (!st)
		return 0;
	while (st >>= 1)
		bit <<= 1;
	return bit;
}

static void sched_switch(const struct tl_model *m, struct pb *b,
			 const struct tl_sched *s)
{
	char comm[64];

	pb_uint(b, FE_PID, s->prev_tid);
	pb_begin(b, FE_SCHED_SWITCH);
	comm_of(m, s->prev_tid, s->prev_tgid, s->cpu, s->ts, comm,
		sizeof(comm));
	pb_string(b, SW_PREV_COMM, comm);
	pb_int(b, SW_PREV_PID, s->prev_tid);
	pb_int(b, SW_PREV_PRIO, DEFAULT_PRIO);
	pb_int(b, SW_PREV_STATE, ftrace_prev_state(s));
	comm_of(m, s->next_tid, s->next_tgid, s->cpu, s->ts, comm,
		sizeof(comm));
	pb_string(b, SW_NEXT_COMM, comm);
	pb_int(b, SW_NEXT_PID, s->next_tid);
	pb_int(b, SW_NEXT_PRIO, DEFAULT_PRIO);
	pb_end(b);
}

static void sched_waking(const struct tl_model *m, struct pb *b,
			 const struct tl_sched *s)
{
	char comm[64];

	pb_uint(b, FE_PID, s->prev_tid); /* the waker runs the event */
	pb_begin(b, FE_SCHED_WAKING);
	comm_of(m, s->next_tid, s->next_tgid, s->cpu, s->ts, comm,
		sizeof(comm));
	pb_string(b, WK_COMM, comm);
	pb_int(b, WK_PID, s->next_tid);
	pb_int(b, WK_PRIO, DEFAULT_PRIO);
	pb_int(b, WK_SUCCESS, 1);
	pb_int(b, WK_TARGET_CPU, s->prev_state);
	pb_end(b);
}

static void close_bundle(struct writer *w, struct bundles *bs, size_t row)
{
	struct pb *b = &bs->per_row[row];

	if (!bs->n_events[row])
		return;
	pb_end(b); /* the FtraceEventBundle */
	flush_packet(w, b);
	bs->n_events[row] = 0;
}

static void add_sched(struct writer *w, struct bundles *bs,
		      const struct tl_sched *s)
{
	int row = tl_cpu_row(w->m, s->cpu);
	struct pb *b;

	if (row < 0)
		return;
	b = &bs->per_row[row];
	if (!bs->n_events[row]) {
		begin_packet(b, SEQ_FTRACE, 0, 0);
		pb_begin(b, PKT_FTRACE_EVENTS);
		pb_uint(b, FB_CPU, s->cpu);
	}
	pb_begin(b, FB_EVENT);
	pb_uint(b, FE_TIMESTAMP, s->ts);
	if (s->type == GS_EV_SWITCH)
		sched_switch(w->m, b, s);
	else
		sched_waking(w->m, b, s);
	pb_end(b);
	if (++bs->n_events[row] >= BUNDLE_EVENTS)
		close_bundle(w, bs, row);
}

static int write_ftrace(struct writer *w)
{
	const struct tl_model *m = w->m;
	struct bundles bs = { 0 };
	size_t rows = m->n_cpus ? m->n_cpus : 1;

	bs.per_row = calloc(rows, sizeof(*bs.per_row));
	bs.n_events = calloc(rows, sizeof(*bs.n_events));
	if (!bs.per_row || !bs.n_events) {
		w->err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < m->sched.n && !w->err; i++)
		add_sched(w, &bs, TL_SCHED(m, i));
	for (size_t r = 0; r < m->n_cpus; r++)
		close_bundle(w, &bs, r);
cleanup:
	for (size_t r = 0; bs.per_row && r < m->n_cpus; r++)
		pb_free(&bs.per_row[r]);
	free(bs.per_row);
	free(bs.n_events);
	return w->err;
}

static void phase_annotation(struct pb *b, const char *name, const char *s)
{
	pb_begin(b, TE_DEBUG_ANNOTATIONS);
	pb_string(b, DA_NAME, name);
	pb_string(b, DA_STRING_VALUE, s);
	pb_end(b);
}

static void write_phase(struct writer *w, const struct ph_item *ph,
			uint32_t proc)
{
	struct pb *b = &w->b;

	begin_packet(b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, ph->start);
	pb_begin(b, PKT_TRACK_EVENT);
	pb_uint(b, TE_TYPE, TYPE_SLICE_BEGIN);
	pb_uint(b, TE_TRACK_UUID, uuid_phases(w->m, proc));
	pb_string(b, TE_NAME, ph->label);
	phase_annotation(b, "phase", ph->line);
	if (ph->diagnosis[0])
		phase_annotation(b, "diagnosis", ph->diagnosis);
	pb_end(b);
	flush_packet(w, b);

	begin_packet(b, SEQ_TRACKS, SEQ_NEEDS_INCREMENTAL_STATE, ph->end);
	pb_begin(b, PKT_TRACK_EVENT);
	pb_uint(b, TE_TYPE, TYPE_SLICE_END);
	pb_uint(b, TE_TRACK_UUID, uuid_phases(w->m, proc));
	pb_end(b);
	flush_packet(w, b);
}

/* The report's phases: a "phases" track under each process that has
 * them, its names and annotations not interned (a session without phases
 * writes the same bytes as before). */
static void write_phases(struct writer *w)
{
	size_t n;
	uint32_t *proc = tl_phase_procs(w->m, w->info, &n);
	bool *made = calloc(w->m->n_procs + 1, sizeof(*made));

	if (n && (!proc || !made))
		w->err = -ENOMEM;
	for (size_t k = 0; k < n && !w->err; k++) {
		if (proc[k] == TL_NONE)
			continue;
		if (!made[proc[k]]) {
			track_packet(w);
			pb_uint(&w->b, TD_UUID, uuid_phases(w->m, proc[k]));
			pb_uint(&w->b, TD_PARENT_UUID,
				uuid_proc(w->m, proc[k]));
			pb_string(&w->b, TD_NAME, "phases");
			end_track_packet(w);
			made[proc[k]] = true;
		}
		write_phase(w, &w->info->phases[k], proc[k]);
	}
	free(proc);
	free(made);
}

int pftrace_write(FILE *out, const struct tl_model *m,
		  const struct tl_info *info)
{
	struct writer w = { .out = out, .m = m, .info = info };

	pb_init(&w.b);
	write_header(&w);
	write_descriptors(&w);
	for (size_t i = 0; i < m->slices.n && !w.err; i++)
		write_slice(&w, TL_SLICE(m, i));
	write_counters(&w);
	if (!w.err)
		write_phases(&w);
	if (!w.err)
		write_ftrace(&w);
	pb_free(&w.b);
	if (!w.err && fflush(out))
		w.err = -errno;
	return w.err;
}
