// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include "views/dump.h"
#include "common/evname.h"
#include "common/syscalls.h"
#include "common/utf8.h"
#include "session/keys.h"

static const char *take_state_name(uint32_t state)
{
	static const char *const names[] = { "held", "free-mine", "free-other",
					     "unknown" };

	return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

/* The task's command name of a fork or exec (16 bytes, maybe without a
 * NUL), one line whatever it holds; OUT: COMM_SHOWN bytes */
#define COMM_SHOWN (4 * 16 + 1)
static const char *comm_of(const struct gs_event *e, char *out)
{
	char comm[17];

	memcpy(comm, &e->arg[1], 16);
	comm[16] = '\0';
	return printable(out, COMM_SHOWN, comm);
}

static void dump_details(FILE *out, const struct gs_event *e)
{
	char comm[COMM_SHOWN];
	const char *name;

	switch (e->type) {
	case GS_EV_SWITCH:
		fprintf(out, "prev_state=0x%x%s%s%s%s next=%u/%u", e->a32,
			e->flags & GS_F_PREEMPT ? " preempt" : "",
			e->flags & GS_F_GIL_FREE ? " gil-free" : "",
			e->flags & GS_F_GIL_MINE ? " gil-mine" : "",
			e->flags & GS_F_STACK_SAME ? " stack-same" : "",
			(unsigned int)(e->arg[0] >> 32),
			(unsigned int)e->arg[0]);
		if (e->arg[1])
			fprintf(out, " ip=0x%llx",
				(unsigned long long)e->arg[1]);
		break;
	case GS_EV_WAKING:
		fprintf(out, "waker=%u/%u", (unsigned int)(e->arg[0] >> 32),
			(unsigned int)e->arg[0]);
		break;
	case GS_EV_FORK:
		fprintf(out, "child=%u/%u comm=%s",
			(unsigned int)(e->arg[0] >> 32),
			(unsigned int)e->arg[0], comm_of(e, comm));
		break;
	case GS_EV_EXEC:
		fprintf(out, "comm=%s%s", comm_of(e, comm),
			e->flags & GS_F_EXEC_HELD ? " held" : "");
		break;
	case GS_EV_EXIT:
		fprintf(out, "group_dead=%u%s", e->a32,
			e->flags & GS_F_EXIT_BY_CALL ? " by-call" : "");
		break;
	case GS_EV_SYS_ENTER:
		name = syscall_name(e->a32);
		fprintf(out, "%s(%d) 0x%llx 0x%llx 0x%llx", name ? name : "?",
			e->a32, (unsigned long long)e->arg[0],
			(unsigned long long)e->arg[1],
			(unsigned long long)e->arg[2]);
		break;
	case GS_EV_SYS_EXIT:
		name = syscall_name(e->a32);
		if (e->flags & GS_F_AT_SWITCH_IN) /* --light: value unknown */
			fprintf(out, "%s(%d) = ? (back on a cpu, woken by %s)",
				name ? name : "?", e->a32,
				e->flags & GS_F_WOKEN_BY_OTHER ? "another" :
								 "its process");
		else
			fprintf(out, "%s(%d) = %lld", name ? name : "?", e->a32,
				(long long)e->arg[0]);
		break;
	case GS_EV_GIL_TAKE:
		fprintf(out, "tstate=0x%llx", (unsigned long long)e->arg[0]);
		if (e->flags & GS_F_TAKE_SITE)
			fprintf(out, " site gil=%s", take_state_name(e->a32));
		if (e->arg[1])
			fprintf(out, " take_gil=0x%llx",
				(unsigned long long)e->arg[1]);
		break;
	case GS_EV_COND_SIGNAL:
		fprintf(out, "cond=0x%llx site=0x%llx",
			(unsigned long long)e->arg[0],
			(unsigned long long)e->arg[1]);
		break;
	case GS_EV_LOCK_ACQUIRE:
		fprintf(out, "lock=0x%llx %s site=0x%llx",
			(unsigned long long)e->arg[0],
			e->arg[2] ? "parks" :
			e->a32	  ? "failed" :
				    "acquired",
			(unsigned long long)e->arg[1]);
		if (e->arg[2])
			fprintf(out, " sem=0x%llx",
				(unsigned long long)e->arg[2]);
		break;
	case GS_EV_LOCK_RELEASE:
		fprintf(out, "lock=0x%llx site=0x%llx",
			(unsigned long long)e->arg[0],
			(unsigned long long)e->arg[1]);
		if (e->arg[2])
			fprintf(out, " unparks sem=0x%llx",
				(unsigned long long)e->arg[2]);
		break;
	case GS_EV_RLOCK_WAIT:
		fprintf(out, "lock=0x%llx site=0x%llx",
			(unsigned long long)e->arg[0],
			(unsigned long long)e->arg[1]);
		break;
	case GS_EV_ULOCK:
		fprintf(out, "%s arg=0x%llx",
			e->a32 == GS_ULOCK_WAIT	    ? "wait" :
			e->a32 == GS_ULOCK_ACQUIRED ? "acquired" :
						      "release",
			(unsigned long long)e->arg[0]);
		break;
	case GS_EV_SWITCHNUM:
		fprintf(out, "value=%llu at=%s", (unsigned long long)e->arg[0],
			e->a32 == GS_SNUM_FORK ? "fork" : "exit");
		break;
	}
}

void dump_event(FILE *out, const struct gs_event *e, uint64_t t0)
{
	const char *type = gs_event_name(e->type);
	long long rel = (long long)(e->ts - t0);

	fprintf(out, "%12.6f cpu%-3u %7u/%-7u %-13s ", rel / 1e9, e->cpu,
		e->tgid, e->tid, type ? type : "?");
	dump_details(out, e);
	fputc('\n', out);
}

int dump_session(FILE *out, const char *path, char *err, size_t errlen)
{
	const struct gs_session *s;
	struct gs_reader *r;
	struct gs_event e;
	uint64_t t0;
	int ret;

	ret = gs_reader_open(path, &r, err, errlen);
	if (ret)
		return ret;
	s = gs_reader_session(r);
	t0 = kv_get_u64(&s->host, GS_KEY_START_NS, 0);
	for (size_t i = 0; i < s->n_images; i++) {
		const struct kv_list *kv = &s->images[i].kv;

		fprintf(out, "# process");
		for (size_t k = 0; k < kv->n; k++) {
			fputc(' ', out);
			fput_printable(kv->items[k].key, out);
			fputc('=', out);
			fput_printable(kv->items[k].val, out);
		}
		fputc('\n', out);
	}
	while (gs_reader_next(r, &e) == 1)
		dump_event(out, &e, t0);
	if (s->damage[0])
		fprintf(out, "# damaged: %s\n", s->damage);
	gs_reader_close(r);
	return 0;
}
