/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every program of gilscope's probes uses: the ring buffer of events
 * and the map of traced processes, writing an event (reserve, submit), the
 * counts of what could not be written, reading the GIL's last holder and
 * its switch counter.
 */
#ifndef GS_COMMON_BPF_H
#define GS_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "gilscope.h"
#include "syscalls_shared.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* resized by userspace before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GS_MAX_TRACED);
	__type(key, u32);
	__type(value, struct gs_proc);
} traced SEC(".maps");

__u64 lost[GS_EV_MAX] = {};

/* Wake the collector only when this much is waiting: a wakeup per event
 * would have the collector preempt the traced threads after every event,
 * each preemption making another event. The collector also drains the
 * buffer on its own timer. Set by userspace before load. */
const volatile __u64 wakeup_bytes = 1 << 20;

static __always_inline struct gs_proc *traced_proc(u32 tgid)
{
	return bpf_map_lookup_elem(&traced, &tgid);
}

/* Keep the compiler from OR-ing two map pointers: the verifier refuses
 * arithmetic on pointers. */
#define opaque(x) asm volatile("" : "+r"(x))

static __always_inline bool is_traced(u32 tgid)
{
	bool yes = traced_proc(tgid) != NULL;

	opaque(yes);
	return yes;
}

static __always_inline struct gs_event *reserve(u8 type, u32 tid, u32 tgid)
{
	struct gs_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost[type], 1);
		return NULL;
	}
	e->ts = bpf_ktime_get_ns();
	e->tid = tid;
	e->tgid = tgid;
	e->type = type;
	e->flags = 0;
	e->cpu = bpf_get_smp_processor_id();
	e->a32 = 0;
	e->arg[0] = 0;
	e->arg[1] = 0;
	e->arg[2] = 0;
	return e;
}

static __always_inline void submit(struct gs_event *e)
{
	u64 waiting = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	bpf_ringbuf_submit(e, waiting >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP :
							BPF_RB_NO_WAKEUP);
}

static __always_inline struct gs_event *reserve_current(u8 type)
{
	u64 id = bpf_get_current_pid_tgid();

	return reserve(type, (u32)id, id >> 32);
}

/*
 * The GIL's last holder: its PyThreadState (read at LAST_HOLDER, the
 * field's runtime address) into *TSTATE, and that thread state's
 * native_thread_id (at TID_OFF) as the result; 0 when unreadable.
 */
static __always_inline u64 gil_last_holder_tid(u64 last_holder, u32 tid_off,
					       u64 *tstate)
{
	u64 owner = 0;

	*tstate = 0;
	if (bpf_probe_read_user(tstate, sizeof(*tstate), (void *)last_holder) ||
	    !*tstate ||
	    bpf_probe_read_user(&owner, sizeof(owner),
				(void *)(*tstate + tid_off)))
		return 0;
	return owner;
}

/* Emit the GIL's switch counter, read from the current process's memory. */
static __always_inline void record_switch_number(u64 addr, u32 tid, u32 tgid,
						 u32 when)
{
	struct gs_event *e;
	u64 value;

	if (!addr || bpf_probe_read_user(&value, sizeof(value), (void *)addr))
		return;
	e = reserve(GS_EV_SWITCHNUM, tid, tgid);
	if (!e)
		return;
	e->a32 = when;
	e->arg[0] = value;
	e->arg[1] = addr;
	submit(e);
}

#endif /* GS_COMMON_BPF_H */
