// SPDX-License-Identifier: GPL-2.0
/* The processes the collector traces (a record per live process: its
 * interpreter, its GIL) and the events that change them: fork, exec (the
 * interpreter of the new image, found now or a little later), exit; -a's
 * execs not yet known to be Python. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/procfs.h"
#include "record/recorder.h"
#include "record/stacks.h"
#include "session/keys.h"

/* ------------------------------------------------------------ processes */

struct proc_rec *proc_find(struct recorder *r, pid_t pid)
{
	return pidmap_get(&r->procs, pid);
}

/* PID's record, a new empty one if there is none; NULL without memory. */
struct proc_rec *proc_add(struct recorder *r, pid_t pid)
{
	struct proc_rec *p = proc_find(r, pid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	if (pidmap_put(&r->procs, pid, p)) {
		free(p);
		return NULL;
	}
	return p;
}

static void kv_interp(struct kv_list *kv, const struct proc_rec *p)
{
	const struct interp *in = &p->in;
	const struct py_facts *f = in->facts;

	if (!p->has_interp && p->interp_err == -ENOTSUP && in->version[0]) {
		/* Python, but not one whose GIL gilscope can read */
		kv_set(kv, GS_KEY_INTERP, in->path);
		kv_set(kv, GS_KEY_PYTHON, in->version);
		kv_set(kv, GS_KEY_GIL_METHOD, "unsupported");
		return;
	}
	if (!p->has_interp) {
		kv_set(kv, GS_KEY_GIL_METHOD, "none");
		return;
	}
	kv_set(kv, GS_KEY_INTERP, in->path);
	kv_set(kv, GS_KEY_BUILD_ID, in->build_id);
	kv_set(kv, GS_KEY_DEBUG_FILE,
	       in->debug_file[0] ? in->debug_file : "none");
	kv_set(kv, GS_KEY_PYTHON, in->version);
	kv_setf(kv, GS_KEY_PYTHON_HEX, "0x%08x", in->hex);
	kv_set(kv, GS_KEY_GIL_METHOD, in->method);
	kv_set(kv, GS_KEY_GIL_METHOD_NOTE, interp_method_note(in->method));
	kv_setf(kv, GS_KEY_RUNTIME_ADDR, "0x%llx",
		(unsigned long long)(p->gil_addr ?
					     p->gil_addr - f->gil_in_runtime :
					     0));
	kv_setf(kv, GS_KEY_GIL_ADDR, "0x%llx", (unsigned long long)p->gil_addr);
	kv_setf(kv, GS_KEY_GIL_SIZE, "%llu", (unsigned long long)f->gil_size);
	kv_setf(kv, GS_KEY_GIL_COND_OFF, "%llu",
		(unsigned long long)f->gil_cond);
	kv_setf(kv, GS_KEY_GIL_MUTEX_OFF, "%llu",
		(unsigned long long)f->gil_mutex);
	kv_setf(kv, GS_KEY_GIL_SWITCH_COND_OFF, "%llu",
		(unsigned long long)f->gil_switch_cond);
	kv_setf(kv, GS_KEY_GIL_SWITCH_MUTEX_OFF, "%llu",
		(unsigned long long)f->gil_switch_mutex);
	kv_setf(kv, GS_KEY_TAKE_GIL, "0x%llx",
		(unsigned long long)in->take_gil_vaddr);
	kv_setf(kv, GS_KEY_SIGNAL_SITES, "%d", in->n_sites);
	kv_setf(kv, GS_KEY_LOCK_SITES, "%d", in->n_lock_sites);
	kv_setf(kv, GS_KEY_LOCK_RELEASE_SITES, "%d", in->n_post_sites);
	kv_setf(kv, GS_KEY_PARK_SITES, "%d", in->n_park_sites);
	kv_setf(kv, GS_KEY_UNPARK_SITES, "%d", in->n_unpark_sites);
	kv_setf(kv, GS_KEY_RLOCK_WAIT_SITES, "%d", in->n_rlock_sites);
}

/* Write what we know of process P as the image starting at SINCE. */
void write_process(struct recorder *r, struct proc_rec *p, uint64_t since,
		   const char *origin, const struct kv_list *extra)
{
	struct kv_list kv = {};
	char cmd[1024], exe[1024];

	kv_setf(&kv, GS_KEY_PID, "%d", p->pid);
	kv_setf(&kv, GS_KEY_SINCE_NS, "%llu", (unsigned long long)since);
	if (origin)
		kv_set(&kv, GS_KEY_ORIGIN, origin);
	/* a launched command is still gilscope's child before its exec */
	if (!origin || strcmp(origin, GS_ORIGIN_LAUNCH)) {
		proc_cmdline(p->pid, cmd, sizeof(cmd));
		if (cmd[0])
			kv_set(&kv, GS_KEY_COMMAND, cmd);
		if (!proc_exe(p->pid, exe, sizeof(exe)))
			kv_set(&kv, GS_KEY_EXE, exe);
	}
	kv_interp(&kv, p);
	if (extra)
		kv_merge(&kv, extra);
	emit_kv(r, GS_CHUNK_PROCESS, &kv);
	kv_free(&kv);
	p->image_since = since;
}

/* One line per interpreter file gilscope cannot read, whichever way the
 * process came (launched, through a wrapper like chroot, attached). */
void say_unsupported(struct recorder *r, const struct interp *in,
		     const char *err)
{
	if (!strcmp(r->unsupported, in->path))
		return;
	snprintf(r->unsupported, sizeof(r->unsupported), "%s", in->path);
	fprintf(stderr,
		"gilscope: %s: GIL not traced, only scheduling and blocking\n",
		err);
}

/* P's interpreter, found mapped at BIAS: its GIL's address, its file
 * probed (a failure is said; the process is traced all the same). */
void use_interp(struct recorder *r, struct proc_rec *p, uint64_t bias)
{
	int ret;

	p->bias = bias;
	p->gil_addr = interp_gil_addr(&p->in, bias);
	ret = probe_interp(r, &p->in);
	if (ret)
		fprintf(stderr, "gilscope: cannot probe %s: %s\n",
			p->in.host_path, strerror(-ret));
}

/* Find the interpreter of a process that just exec'd (or was attached). */
static bool discover(struct recorder *r, struct proc_rec *p, uint64_t since,
		     const char *origin, bool last_try)
{
	char err[512];
	uint64_t bias = 0;
	struct kv_list kv = {};
	int ret;

	ret = interp_for_pid(p->pid, &p->in, &bias, err, sizeof(err));
	p->has_interp = ret == 0;
	p->interp_err = ret;
	/* a libpython may be mapped later; an unreadable version stays so */
	if (ret && ret != -ENOTSUP && !last_try)
		return false;
	if (ret == -ENOTSUP)
		say_unsupported(r, &p->in, err);
	/* gone before it could be inspected: a launched command's image was
	 * resolved before its exec and stays right; any other image was the
	 * one before the exec, and is wrong now */
	if (ret && !proc_exists(p->pid) && p->pid == r->root && r->launched)
		return true;
	if (p->has_interp) {
		use_interp(r, p, bias);
		trace_pid(r, p->pid, p->gil_addr, p->in.facts);
	}
	/* a fresh image starts its switch counter at zero */
	if (!strcmp(origin, GS_ORIGIN_EXEC) ||
	    !strcmp(origin, GS_ORIGIN_LAUNCH))
		kv_set(&kv, GS_KEY_SWITCH_NUMBER_START, "0");
	write_process(r, p, since, origin, &kv);
	kv_free(&kv);
	return true;
}

/* A process stopped at its exec goes on, whatever was found. */
static void release_held(struct proc_rec *p)
{
	if (!p->held)
		return;
	p->held = false;
	kill(p->pid, SIGCONT);
}

/*
 * P stopped at its exec has no libpython mapped yet: probe the one its
 * executable needs now (uprobes go by file) and have it stop again at
 * that library's Py_BytesMain, mapped and before the interpreter starts
 * (on_py_main, GS_EV_MAIN_HELD). Otherwise its first takes of the GIL
 * would run before the recorder's next look.
 */
static void await_main(struct recorder *r, struct proc_rec *p)
{
	struct interp in;
	char err[512];

	if (p->await_main ||
	    interp_needed_by_pid(p->pid, &in, err, sizeof(err)))
		return;
	if (!probe_interp(r, &in) && !hold_at_main(r, p->pid))
		p->await_main = true;
}

/* GS_EV_MAIN_HELD: P is stopped again, its libpython mapped; the next
 * look finds it and continues P (or P goes on now, if not looked for). */
static void on_main_held(struct recorder *r, const struct gs_event *e)
{
	struct proc_rec *p = proc_find(r, e->tgid);

	if (p && p->discover_since) {
		p->held = true;
		return;
	}
	kill(e->tgid, SIGCONT);
}

void retry_discoveries(struct recorder *r, bool last_try)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	struct proc_rec *p;

	for (size_t i = 0; (p = pidmap_next(&r->procs, &i));) {
		bool give_up;

		if (!p->discover_since)
			continue;
		give_up = last_try ||
			  now - p->discover_since > DISCOVER_RETRY_NS ||
			  !proc_exists(p->pid);
		if (discover(r, p, p->discover_since, GS_ORIGIN_EXEC, give_up))
			p->discover_since = 0;
		else if (p->held)
			await_main(r, p);
		/* not found yet (a libpython the loader has still to map):
		 * it must run to get there */
		release_held(p);
	}
}

/*
 * The last thread of a process has exited: what was left to say about its
 * image is said, and its record goes (its pid may be reused by a process
 * that will come with its own FORK).
 */
static void proc_forget(struct recorder *r, pid_t pid)
{
	struct proc_rec *p = proc_find(r, pid);

	if (!p)
		return;
	if (p->discover_since)
		discover(r, p, p->discover_since, GS_ORIGIN_EXEC, true);
	release_held(p);
	free(pidmap_remove(&r->procs, pid));
}

void free_procs(struct recorder *r)
{
	struct proc_rec *p;

	for (size_t i = 0; (p = pidmap_next(&r->procs, &i));) {
		release_held(p);
		free(p);
	}
	pidmap_free(&r->procs);
}

/* ------------------------------------------------------------ events */

static void on_new_process(struct recorder *r, const struct gs_event *e)
{
	pid_t child = e->arg[0] >> 32, parent = e->tgid;
	struct proc_rec *pp = proc_find(r, parent);
	struct proc_rec *cp = proc_add(r, child);

	if (!cp)
		return;
	/* a record left over (an exit that was lost) says nothing of this one */
	*cp = (struct proc_rec){ .pid = child };
	if (pp) {
		cp->has_interp = pp->has_interp;
		cp->interp_err = pp->interp_err;
		cp->in = pp->in;
		cp->bias = pp->bias;
		cp->gil_addr = pp->gil_addr;
	}
	write_process(r, cp, e->ts, GS_ORIGIN_FORK, NULL);
}

/*
 * -a: a process not traced exec'd. A Python one is traced from here on and
 * its exec goes out as a traced process's (the analysis starts it there);
 * one whose libpython may not be mapped yet is looked at again for a while
 * (retry_candidates); anything else is left alone.
 */
static bool try_candidate(struct recorder *r, const struct gs_event *e)
{
	struct gs_event exec = *e;

	if (proc_find(r, e->tgid) ||
	    !adopt_python(r, e->tgid, e->ts, GS_ORIGIN_EXEC))
		return false;
	exec.type = GS_EV_EXEC;
	r->events++;
	emit_event(r, &exec);
	stk_on_event(r->stk, &exec);
	return true;
}

static void on_untraced_exec(struct recorder *r, const struct gs_event *e)
{
	if (try_candidate(r, e) || !proc_exists(e->tgid))
		return;
	if (r->n_candidates == MAX_CANDIDATES) /* an exec storm: the oldest */
		memmove(r->candidates, r->candidates + 1,
			--r->n_candidates * sizeof(*e));
	r->candidates[r->n_candidates++] = *e;
}

void retry_candidates(struct recorder *r)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	int kept = 0;

	for (int i = 0; i < r->n_candidates; i++) {
		const struct gs_event *e = &r->candidates[i];

		if (try_candidate(r, e) || now - e->ts > CANDIDATE_NS ||
		    !proc_exists(e->tgid))
			continue;
		r->candidates[kept++] = *e;
	}
	r->n_candidates = kept;
}

int on_event(void *ctx, void *data, size_t size)
{
	struct recorder *r = ctx;
	const struct gs_event *e = data;
	struct proc_rec *p;

	if (size < sizeof(*e))
		return 0;
	r->events++;
	if (e->type == GS_EV_EXEC_UNTRACED) {
		on_untraced_exec(r, e);
		return 0;
	}
	if (e->type == GS_EV_MAIN_HELD) {
		on_main_held(r, e);
		return 0;
	}
	emit_event(r, e);
	stk_on_event(r->stk, e); /* stacks */
	switch (e->type) {
	case GS_EV_FORK:
		if ((e->arg[0] >> 32) != e->tgid)
			on_new_process(r, e);
		break;
	case GS_EV_EXEC:
		p = proc_add(r, e->tgid);
		if (p) {
			p->has_interp = false;
			p->gil_addr = 0;
			p->discover_since = e->ts;
			p->held = e->flags & GS_F_EXEC_HELD;
			p->await_main = false;
		}
		break;
	case GS_EV_EXIT:
		if (!e->a32)
			break; /* one thread; the process goes on */
		if ((pid_t)e->tgid == r->root)
			r->root_gone = true;
		proc_forget(r, e->tgid);
		break;
	}
	return 0;
}
