// SPDX-License-Identifier: GPL-2.0
/*
 * The collector: open -> configure -> load -> attach the probes, start the
 * command (held before exec until the probes are in place) or attach to a
 * process, then move events from the ring buffer into the session file
 * until the program exits, the duration ends or a signal arrives.
 */
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/types.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "record/elfimg.h"
#include "common/evname.h"
#include "gilscope.skel.h"
#include "record/interp.h"
#include "common/pidmap.h"
#include "common/procfs.h"
#include "record/record.h"
#include "session/session.h"
#include "record/stacks.h"
#include "record/umulti.h"

#define MAX_FILES 16
#define POLL_MS 50
#define FLUSH_NS 200000000ull /* write buffered events this often */
#define DISCOVER_RETRY_NS \
	2000000000ull /* a new image's libpython may map late */
/* -a: an exec with no Python in sight is looked at again this long (a
 * libpython is mapped by ld.so soon after the exec) */
#define CANDIDATE_NS 250000000ull
#define MAX_CANDIDATES 256

struct probed_file {
	dev_t dev;
	ino_t ino;
};

/* What userspace knows of each traced process. */
struct proc_rec {
	pid_t pid;
	uint64_t image_since;	 /* since_ns of the image last written */
	uint64_t discover_since; /* an exec waiting to be inspected, or 0 */
	bool held;		 /* stopped at that exec (GS_F_EXEC_HELD) */
	bool has_interp;
	int interp_err; /* -ENOTSUP: a Python gilscope cannot read */
	struct interp in;
	uint64_t bias; /* load bias of the interpreter's file */
	uint64_t gil_addr;
};

struct recorder {
	const struct record_opts *opts;
	struct gilscope_bpf *skel;
	struct ring_buffer *rb;
	struct gs_writer *w;
	struct probed_file files[MAX_FILES];
	int n_files;
	struct bpf_link **links; /* tracepoints */
	int n_links, cap_links;
	int *link_fds; /* uprobe_multi links */
	int n_link_fds, cap_link_fds;
	struct pidmap procs; /* pid -> proc_rec, live processes only */
	pid_t root;
	bool launched, started, root_gone; /* started: exec allowed */
	int root_status;
	uint64_t t0, last_flush, events;
	int write_err;
	struct stk_recorder
		*stk; /* stacks (user/record/stacks.c), NULL when off */
	char command[1024];
	/* a live view's instead of the session file (gilscope top) */
	const struct record_sink *sink;
	/* -a: execs not known to be Python yet (exec events kept back) */
	struct gs_event candidates[MAX_CANDIDATES];
	int n_candidates;
	char unsupported[PATH_MAX]; /* the interpreter last said unreadable */
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static bool verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG || (!verbose_libbpf && level == LIBBPF_INFO))
		return 0;
	if (!verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

/* ------------------------------------------------------------ output */

/* A key=value record: into the session, or to the live view. */
static void emit_kv(struct recorder *r, enum gs_chunk_type type,
		    const struct kv_list *kv)
{
	if (r->sink)
		r->sink->kv(r->sink->ctx, type, kv);
	else if (gs_writer_kv(r->w, type, kv))
		r->write_err = -EIO;
}

static void emit_event(struct recorder *r, const struct gs_event *e)
{
	if (r->sink)
		r->sink->event(r->sink->ctx, e);
	else if (gs_writer_event(r->w, e))
		r->write_err = -EIO;
}

/* ------------------------------------------------------------ processes */

static struct proc_rec *proc_find(struct recorder *r, pid_t pid)
{
	return pidmap_get(&r->procs, pid);
}

/* PID's record, a new empty one if there is none; NULL without memory. */
static struct proc_rec *proc_add(struct recorder *r, pid_t pid)
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

static int add_link_fd(struct recorder *r, int fd)
{
	int *fds;

	if (r->n_link_fds == r->cap_link_fds) {
		int cap = r->cap_link_fds ? r->cap_link_fds * 2 : 16;

		fds = realloc(r->link_fds, cap * sizeof(*fds));
		if (!fds) {
			close(fd);
			return -ENOMEM;
		}
		r->link_fds = fds;
		r->cap_link_fds = cap;
	}
	r->link_fds[r->n_link_fds++] = fd;
	return 0;
}

/* PROG at N offsets of PATH, each with its cookie, for every process
 * (the programs keep only traced ones). */
static int attach_multi(struct recorder *r, struct bpf_program *prog,
			const char *path, const uint64_t *offs,
			const uint64_t *cookies, int n)
{
	int fd;

	if (n <= 0)
		return 0;
	fd = uprobe_multi_attach(bpf_program__fd(prog), path, offs, cookies, n,
				 prog == r->skel->progs.on_ulock_return);
	if (fd < 0)
		return fd;
	return add_link_fd(r, fd);
}

/*
 * Probe an interpreter file once, for every process that maps it (pid -1;
 * the programs keep only traced processes).
 */
static int probe_interp(struct recorder *r, const struct interp *in)
{
	struct stat st;
	int err;

	if (r->opts->light)
		return 0;
	if (stat(in->host_path, &st))
		return -errno;
	for (int i = 0; i < r->n_files; i++)
		if (r->files[i].dev == st.st_dev &&
		    r->files[i].ino == st.st_ino)
			return 0;
	if (r->n_files == MAX_FILES)
		return -ENOSPC;
	err = attach_multi(r, r->skel->progs.on_take_gil, in->host_path,
			   &in->take_gil_off, &in->take_gil_vaddr,
			   in->take_gil_vaddr ? 1 : 0);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_cond_signal,
				   in->host_path, in->site_offs, in->sites,
				   in->n_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_take_site,
				   in->host_path, in->take_site_offs,
				   in->take_sites, in->n_take_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_sem_call, in->host_path,
				   in->lock_call_offs, in->lock_result_vaddrs,
				   in->n_lock_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_sem_result,
				   in->host_path, in->lock_result_offs,
				   in->lock_result_vaddrs, in->n_lock_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_sem_post, in->host_path,
				   in->post_offs, in->post_vaddrs,
				   in->n_post_sites);
	if (!err) /* 3.13+: parking (user/record/locksites.h) */
		err = attach_multi(r, r->skel->progs.on_park_call,
				   in->host_path, in->park_offs,
				   in->park_vaddrs, in->n_park_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_unpark_post,
				   in->host_path, in->unpark_offs,
				   in->unpark_vaddrs, in->n_unpark_sites);
	if (err)
		return err;
	r->files[r->n_files].dev = st.st_dev;
	r->files[r->n_files++].ino = st.st_ino;
	if (r->opts->verbose)
		fprintf(stderr,
			"gilscope: probed %s (Python %s, %s, %d GIL signal sites, %d GIL take sites, %d lock sites, %d lock release sites, %d park and %d unpark sites)\n",
			in->path, in->version, in->method, in->n_sites,
			in->n_take_sites, in->n_lock_sites, in->n_post_sites,
			in->n_park_sites, in->n_unpark_sites);
	return 0;
}

/* `--lock ACQUIRE:RELEASE`: probe two functions of the program's own file. */
static int probe_user_lock(struct recorder *r, const char *file)
{
	const char *spec = r->opts->lock_spec;
	char acq[256], *rel;
	uint64_t acq_off, rel_off;
	int err;

	snprintf(acq, sizeof(acq), "%s", spec);
	rel = strchr(acq, ':');
	if (!rel || rel == acq || !rel[1]) {
		fprintf(stderr,
			"gilscope: --lock needs ACQUIRE:RELEASE function names, not '%s'\n",
			spec);
		return -EINVAL;
	}
	*rel++ = '\0';
	err = interp_function_offset(file, acq, &acq_off);
	if (!err)
		err = interp_function_offset(file, rel, &rel_off);
	if (err) {
		fprintf(stderr, "gilscope: --lock: %s or %s not found in %s\n",
			acq, rel, file);
		return err;
	}
	err = attach_multi(r, r->skel->progs.on_ulock_enter, file, &acq_off,
			   &acq_off, 1);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_ulock_return, file,
				   &acq_off, &acq_off, 1);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_ulock_release, file,
				   &rel_off, &rel_off, 1);
	if (err)
		fprintf(stderr, "gilscope: --lock: cannot probe %s: %s\n", file,
			strerror(-err));
	return err;
}

static int trace_pid(struct recorder *r, pid_t pid, uint64_t gil_addr,
		     const struct py_facts *facts)
{
	struct gs_proc val = {};
	uint32_t key = pid;
	struct proc_rec *p;
	int err;

	if (gil_addr && facts)
		val.switch_number_addr = gil_addr + facts->gil_switch_number;
	p = proc_find(r, pid);
	if (gil_addr && facts && p && p->has_interp &&
	    !strcmp(p->in.method, "handoff")) {
		val.gil_addr = gil_addr;
		val.gil_last_holder_off = facts->gil_last_holder;
		val.gil_locked_off = facts->gil_locked;
		val.tstate_tid_off = facts->tstate_native_thread_id;
	}
	/* stacks: how to walk this process's frames */
	stk_track(r->stk, pid, gil_addr, facts,
		  p && p->has_interp ? p->in.method : NULL);
	err = bpf_map__update_elem(r->skel->maps.traced, &key, sizeof(key),
				   &val, sizeof(val), BPF_ANY);
	/* threads that found no GIL to read look again */
	if (!err && val.gil_addr)
		__atomic_add_fetch(&r->skel->bss->gil_gen, 1, __ATOMIC_SEQ_CST);
	return err;
}

static void kv_interp(struct kv_list *kv, const struct proc_rec *p)
{
	const struct interp *in = &p->in;
	const struct py_facts *f = in->facts;

	if (!p->has_interp && p->interp_err == -ENOTSUP && in->version[0]) {
		/* Python, but not one whose GIL gilscope can read */
		kv_set(kv, "interp", in->path);
		kv_set(kv, "python", in->version);
		kv_set(kv, "gil_method", "unsupported");
		return;
	}
	if (!p->has_interp) {
		kv_set(kv, "gil_method", "none");
		return;
	}
	kv_set(kv, "interp", in->path);
	kv_set(kv, "build_id", in->build_id);
	kv_set(kv, "debug_file", in->debug_file[0] ? in->debug_file : "none");
	kv_set(kv, "python", in->version);
	kv_setf(kv, "python_hex", "0x%08x", in->hex);
	kv_set(kv, "gil_method", in->method);
	kv_set(kv, "gil_method_note", interp_method_note(in->method));
	kv_setf(kv, "runtime_addr", "0x%llx",
		(unsigned long long)(p->gil_addr ?
					     p->gil_addr - f->gil_in_runtime :
					     0));
	kv_setf(kv, "gil_addr", "0x%llx", (unsigned long long)p->gil_addr);
	kv_setf(kv, "gil_size", "%llu", (unsigned long long)f->gil_size);
	kv_setf(kv, "gil_cond_off", "%llu", (unsigned long long)f->gil_cond);
	kv_setf(kv, "gil_mutex_off", "%llu", (unsigned long long)f->gil_mutex);
	kv_setf(kv, "gil_switch_cond_off", "%llu",
		(unsigned long long)f->gil_switch_cond);
	kv_setf(kv, "gil_switch_mutex_off", "%llu",
		(unsigned long long)f->gil_switch_mutex);
	kv_setf(kv, "take_gil", "0x%llx",
		(unsigned long long)in->take_gil_vaddr);
	kv_setf(kv, "signal_sites", "%d", in->n_sites);
	kv_setf(kv, "lock_sites", "%d", in->n_lock_sites);
	kv_setf(kv, "lock_release_sites", "%d", in->n_post_sites);
	kv_setf(kv, "park_sites", "%d", in->n_park_sites);
	kv_setf(kv, "unpark_sites", "%d", in->n_unpark_sites);
}

/* Write what we know of process P as the image starting at SINCE. */
static void write_process(struct recorder *r, struct proc_rec *p,
			  uint64_t since, const char *origin,
			  const struct kv_list *extra)
{
	struct kv_list kv = {};
	char cmd[1024], exe[1024];

	kv_setf(&kv, "pid", "%d", p->pid);
	kv_setf(&kv, "since_ns", "%llu", (unsigned long long)since);
	if (origin)
		kv_set(&kv, "origin", origin);
	/* a launched command is still gilscope's child before its exec */
	if (!origin || strcmp(origin, "launch")) {
		proc_cmdline(p->pid, cmd, sizeof(cmd));
		if (cmd[0])
			kv_set(&kv, "command", cmd);
		if (!proc_exe(p->pid, exe, sizeof(exe)))
			kv_set(&kv, "exe", exe);
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
static void say_unsupported(struct recorder *r, const struct interp *in,
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
static void use_interp(struct recorder *r, struct proc_rec *p, uint64_t bias)
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
	if (!strcmp(origin, "exec") || !strcmp(origin, "launch"))
		kv_set(&kv, "switch_number_start", "0");
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

static void retry_discoveries(struct recorder *r, bool last_try)
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
		if (discover(r, p, p->discover_since, "exec", give_up))
			p->discover_since = 0;
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
		discover(r, p, p->discover_since, "exec", true);
	release_held(p);
	free(pidmap_remove(&r->procs, pid));
}

static void free_procs(struct recorder *r)
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
	write_process(r, cp, e->ts, "fork", NULL);
}

static bool adopt_python(struct recorder *r, pid_t pid, uint64_t since,
			 const char *origin);

/*
 * -a: a process not traced exec'd. A Python one is traced from here on and
 * its exec goes out as a traced process's (the analysis starts it there);
 * one whose libpython may not be mapped yet is looked at again for a while
 * (retry_candidates); anything else is left alone.
 */
static bool try_candidate(struct recorder *r, const struct gs_event *e)
{
	struct gs_event exec = *e;

	if (proc_find(r, e->tgid) || !adopt_python(r, e->tgid, e->ts, "exec"))
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

static void retry_candidates(struct recorder *r)
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

static int on_event(void *ctx, void *data, size_t size)
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

/* ------------------------------------------------------------ set-up */

/* The uprobe programs are attached through uprobe_multi links. */
static void set_uprobe_multi(struct gilscope_bpf *skel)
{
	struct bpf_program *progs[] = {
		skel->progs.on_take_gil,      skel->progs.on_cond_signal,
		skel->progs.on_take_site,     skel->progs.on_sem_call,
		skel->progs.on_sem_result,    skel->progs.on_sem_post,
		skel->progs.on_park_call,     skel->progs.on_unpark_post,
		skel->progs.on_ulock_enter,   skel->progs.on_ulock_return,
		skel->progs.on_ulock_release,
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		bpf_program__set_expected_attach_type(
			progs[i], GS_BPF_TRACE_UPROBE_MULTI);
}

static int open_bpf(struct recorder *r)
{
	int err;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr,
			"gilscope: this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): gilscope needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n");
		return -ENOENT;
	}
	r->skel = gilscope_bpf__open();
	if (!r->skel) {
		fprintf(stderr, "gilscope: cannot open the BPF programs: %s\n",
			strerror(errno));
		return -errno;
	}
	bpf_map__set_max_entries(r->skel->maps.events, r->opts->ringbuf_bytes);
	set_uprobe_multi(r->skel);
	r->skel->rodata->wakeup_bytes = r->opts->ringbuf_bytes / 8;
	/* exact: syscall tracepoints, blocking calls only; light: none */
	r->skel->rodata->syscalls_from_switch = r->opts->light;
	r->skel->rodata->report_all_execs = r->opts->all;
	stk_configure(r->skel, r->opts); /* stacks on or off */
	err = gilscope_bpf__load(r->skel);
	if (err) {
		if ((err == -EPERM || err == -EACCES) && geteuid() != 0)
			fprintf(stderr,
				"gilscope: not allowed to load BPF programs: run as root (sudo) or with CAP_BPF and CAP_PERFMON\n");
		else
			fprintf(stderr,
				"gilscope: cannot load the BPF programs: %s (run with -v for the verifier's log)\n",
				strerror(-err));
		return err;
	}
	return 0;
}

static int attach_tracepoints(struct recorder *r)
{
	struct bpf_program *progs[] = {
		r->skel->progs.on_switch,   r->skel->progs.on_waking,
		r->skel->progs.on_wakeup,   r->skel->progs.on_wakeup_new,
		r->skel->progs.on_fork,	    r->skel->progs.on_exec,
		r->skel->progs.on_exit,	    r->skel->progs.on_sys_enter,
		r->skel->progs.on_sys_exit,
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *link;
		struct bpf_link **links;

		/* --light takes syscalls from the switch (gilscope.bpf.c) */
		if (r->opts->light &&
		    (progs[i] == r->skel->progs.on_sys_enter ||
		     progs[i] == r->skel->progs.on_sys_exit))
			continue;
		link = bpf_program__attach(progs[i]);
		if (!link) {
			int err = -errno;

			fprintf(stderr, "gilscope: cannot attach %s: %s\n",
				bpf_program__name(progs[i]), strerror(-err));
			return err;
		}
		links = realloc(r->links, (r->n_links + 1) * sizeof(*links));
		if (!links) {
			bpf_link__destroy(link);
			return -ENOMEM;
		}
		r->links = links;
		r->links[r->n_links++] = link;
		r->cap_links = r->n_links;
	}
	return 0;
}

static void write_host(struct recorder *r)
{
	struct kv_list kv = {};
	struct utsname u;
	char host[256] = "";

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	kv_set(&kv, "gilscope_version", GILSCOPE_VERSION);
	kv_set(&kv, "kernel", u.release);
	kv_set(&kv, "machine", u.machine);
	kv_set(&kv, "hostname", host);
	kv_setf(&kv, "cpus", "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	kv_set(&kv, "clock", "CLOCK_MONOTONIC");
	kv_setf(&kv, "start_ns", "%llu", (unsigned long long)r->t0);
	kv_setf(&kv, "realtime_at_start_ns", "%llu",
		(unsigned long long)(now_ns(CLOCK_REALTIME) -
				     (now_ns(CLOCK_MONOTONIC) - r->t0)));
	kv_set(&kv, "mode", r->opts->light ? "light" : "exact");
	kv_set(&kv, "command", r->command);
	kv_setf(&kv, "ringbuf_bytes", "%zu", r->opts->ringbuf_bytes);
	kv_setf(&kv, "recorder_pid", "%d", getpid());
	emit_kv(r, GS_CHUNK_HOST, &kv);
	kv_free(&kv);
}

/* Fork the command, stopped before exec until GO is written. */
static pid_t spawn_held(char **argv, int *go_fd)
{
	int go[2];
	pid_t pid;
	char c;

	if (pipe2(go, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(127); /* the recorder gave up */
		close(go[0]);
		execvp(argv[0], argv);
		fprintf(stderr, "gilscope: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(go[0]);
	*go_fd = go[1];
	return pid;
}

static void join_command(struct recorder *r)
{
	const struct record_opts *o = r->opts;
	size_t n = 0;

	if (o->pid || o->all) {
		snprintf(r->command, sizeof(r->command),
			 o->all ? "-a" : "-p %d", o->pid);
		return;
	}
	for (char **a = o->argv; *a && n < sizeof(r->command) - 1; a++)
		n += snprintf(r->command + n, sizeof(r->command) - n, "%s%s",
			      a == o->argv ? "" : " ", *a);
}

/* ------------------------------------------------------------ attach (-p) */

/* The GIL as it is now: who holds it and the switch counter. */
static void read_gil_state(pid_t pid, const struct proc_rec *p,
			   struct kv_list *kv, const char *prefix)
{
	const struct py_facts *f = p->in.facts;
	uint64_t holder = 0, snum = 0, tid = 0, used = 0;
	uint32_t locked = 0;
	char key[64];

	if (!p->has_interp || !p->gil_addr)
		return;
	/* 3.12+: the GIL the interpreter says it uses, to check gil_addr */
	if (!interp_gil_at_runtime(&p->in, pid, p->bias, &used)) {
		snprintf(key, sizeof(key), "gil_runtime_addr_%s", prefix);
		kv_setf(kv, key, "0x%llx", (unsigned long long)used);
	}
	if (proc_read_mem(pid, p->gil_addr + f->gil_switch_number, &snum, 8))
		return;
	snprintf(key, sizeof(key), "switch_number_%s", prefix);
	kv_setf(kv, key, "%llu", (unsigned long long)snum);
	if (strcmp(prefix, "start"))
		return;
	proc_read_mem(pid, p->gil_addr + f->gil_locked, &locked, 4);
	proc_read_mem(pid, p->gil_addr + f->gil_last_holder, &holder, 8);
	tid = interp_tstate_tid(&p->in, pid, holder);
	kv_setf(kv, "gil_locked", "%u", locked ? 1 : 0);
	kv_setf(kv, "gil_last_holder_tid", "%llu", (unsigned long long)tid);
}

static void snapshot_threads(struct recorder *r, pid_t pid)
{
	pid_t tids[4096];
	int n = proc_threads(pid, tids, 4096);

	for (int i = 0; i < n; i++) {
		struct kv_list kv = {};
		uint64_t a0 = 0, a1 = 0;
		char comm[64], state[2] = { 0, 0 };
		int nr = proc_thread_syscall(pid, tids[i], &a0, &a1);

		state[0] = proc_thread_state(pid, tids[i]);
		proc_thread_comm(pid, tids[i], comm, sizeof(comm));
		kv_setf(&kv, "tgid", "%d", pid);
		kv_setf(&kv, "tid", "%d", tids[i]);
		kv_set(&kv, "state", state[0] ? state : "?");
		kv_setf(&kv, "syscall", "%d", nr);
		kv_setf(&kv, "arg0", "0x%llx", (unsigned long long)a0);
		kv_setf(&kv, "arg1", "0x%llx", (unsigned long long)a1);
		kv_set(&kv, "comm", comm);
		emit_kv(r, GS_CHUNK_THREAD, &kv);
		kv_free(&kv);
	}
}

/*
 * The target exited while gilscope was finding its interpreter or placing
 * the probes: the files it named through /proc/PID went with it, and the
 * error of that step would only mislead.
 */
static int attach_failed(pid_t pid, int err)
{
	fprintf(stderr,
		"gilscope: process %d exited before gilscope could attach\n",
		pid);
	return err ? err : -ESRCH;
}

static int start_attached(struct recorder *r)
{
	pid_t pid = r->opts->pid;
	struct proc_rec *p = proc_add(r, pid);
	struct kv_list kv = {};
	char err[512];
	uint64_t bias = 0;
	int ret;

	if (!p)
		return -ENOMEM;
	ret = interp_for_pid(pid, &p->in, &bias, err, sizeof(err));
	p->has_interp = ret == 0;
	p->interp_err = ret;
	if (!proc_exists(pid))
		return attach_failed(pid, ret);
	if (ret == -ENOTSUP)
		say_unsupported(r, &p->in, err);
	else if (ret)
		fprintf(stderr,
			"gilscope: %s: tracing scheduling and blocking only\n",
			err);
	if (p->has_interp) {
		p->bias = bias;
		p->gil_addr = interp_gil_addr(&p->in, bias);
		ret = probe_interp(r, &p->in);
		if (ret && !proc_exists(pid))
			return attach_failed(pid, ret);
		if (ret) {
			fprintf(stderr, "gilscope: cannot probe %s: %s\n",
				p->in.host_path, strerror(-ret));
			return ret;
		}
	}
	if (r->opts->lock_spec) {
		char exe[PATH_MAX];

		snprintf(exe, sizeof(exe), "/proc/%d/exe", pid);
		ret = probe_user_lock(r, exe);
		if (ret)
			return ret;
	}
	ret = trace_pid(r, pid, p->gil_addr,
			p->has_interp ? p->in.facts : NULL);
	if (ret)
		return ret;
	r->t0 = now_ns(CLOCK_MONOTONIC);
	r->root = pid;
	write_host(r);
	read_gil_state(pid, p, &kv, "start");
	write_process(r, p, 0, "attach", &kv);
	kv_free(&kv);
	snapshot_threads(r, pid);
	return 0;
}

/*
 * -a: trace PID if it runs Python (a version without GIL facts too:
 * scheduling and blocking), found running (ORIGIN "attach") or at its exec
 * at SINCE. Returns whether it is traced now.
 */
static bool adopt_python(struct recorder *r, pid_t pid, uint64_t since,
			 const char *origin)
{
	bool attach = !strcmp(origin, "attach");
	struct kv_list kv = {};
	struct proc_rec *p;
	struct interp in;
	uint64_t bias = 0;
	char err[512];
	int ret;

	ret = interp_for_pid(pid, &in, &bias, err, sizeof(err));
	if ((ret && ret != -ENOTSUP) || !(p = proc_add(r, pid)))
		return false;
	p->in = in;
	p->has_interp = ret == 0;
	p->interp_err = ret;
	if (ret == -ENOTSUP)
		say_unsupported(r, &p->in, err);
	if (p->has_interp)
		use_interp(r, p, bias);
	if (trace_pid(r, pid, p->gil_addr,
		      p->has_interp ? p->in.facts : NULL)) {
		free(pidmap_remove(&r->procs, pid));
		return false;
	}
	if (attach)
		read_gil_state(pid, p, &kv, "start");
	else
		kv_set(&kv, "switch_number_start", "0");
	write_process(r, p, since, origin, &kv);
	kv_free(&kv);
	if (attach)
		snapshot_threads(r, pid);
	return true;
}

/* -a: every Python process running now; later ones come with their exec. */
static int start_all(struct recorder *r)
{
	static pid_t pids[1 << 16];
	int n = proc_pids(pids, 1 << 16);

	if (n < 0) {
		fprintf(stderr, "gilscope: cannot list the processes: %s\n",
			strerror(-n));
		return n;
	}
	r->t0 = now_ns(CLOCK_MONOTONIC);
	write_host(r);
	for (int i = 0; i < n; i++)
		if (pids[i] != getpid())
			adopt_python(r, pids[i], 0, "attach");
	return 0;
}

static int start_launched(struct recorder *r, int *go_fd)
{
	struct proc_rec *p;
	struct kv_list kv = {};
	char err[512];
	pid_t pid;
	int ret;

	pid = spawn_held(r->opts->argv, go_fd);
	if (pid < 0) {
		fprintf(stderr, "gilscope: cannot start the command: %s\n",
			strerror(-pid));
		return pid;
	}
	r->root = pid;
	r->launched = true;
	p = proc_add(r, pid);
	if (!p)
		return -ENOMEM;
	ret = interp_for_command(r->opts->argv[0], &p->in, err, sizeof(err));
	p->has_interp = ret == 0;
	p->interp_err = ret;
	if (ret == -ENOTSUP)
		say_unsupported(r, &p->in, err);
	else if (ret && r->opts->verbose)
		fprintf(stderr,
			"gilscope: %s; tracing scheduling and blocking\n", err);
	if (p->has_interp) {
		/* a fixed-address executable: the GIL's address is known now;
		 * otherwise it is found once the program has mapped it */
		if (!p->in.is_dyn)
			p->gil_addr = interp_gil_addr(&p->in, 0);
		ret = probe_interp(r, &p->in);
		if (ret) {
			fprintf(stderr, "gilscope: cannot probe %s: %s\n",
				p->in.host_path, strerror(-ret));
			return ret;
		}
	}
	if (r->opts->lock_spec) {
		char exe[PATH_MAX];

		if (interp_command_path(r->opts->argv[0], exe, sizeof(exe))) {
			fprintf(stderr, "gilscope: %s: command not found\n",
				r->opts->argv[0]);
			return -ENOENT;
		}
		ret = probe_user_lock(r, exe);
		if (ret)
			return ret;
	}
	ret = trace_pid(r, pid, p->gil_addr,
			p->has_interp ? p->in.facts : NULL);
	if (ret)
		return ret;
	r->t0 = now_ns(CLOCK_MONOTONIC);
	write_host(r);
	if (r->opts->lock_spec)
		kv_set(&kv, "user_lock", r->opts->lock_spec);
	kv_set(&kv, "switch_number_start", "0");
	kv_set(&kv, "command", r->command);
	kv_setf(&kv, "ppid", "%d", getpid());
	write_process(r, p, 0, "launch", &kv);
	kv_free(&kv);
	return 0;
}

/* ------------------------------------------------------------ the loop */

static uint64_t lost_total(const struct recorder *r, struct kv_list *kv)
{
	uint64_t sum = 0;

	for (int i = 0; i < GS_EV_MAX; i++) {
		uint64_t n = r->skel->bss->lost[i];
		const char *name = gs_event_key(i);

		sum += n;
		if (kv && n && name) {
			char key[32];

			snprintf(key, sizeof(key), "lost_%s", name);
			kv_setf(kv, key, "%llu", (unsigned long long)n);
		}
	}
	return sum;
}

static void status_line(struct recorder *r, bool final)
{
	double secs = (now_ns(CLOCK_MONOTONIC) - r->t0) / 1e9;

	/* after a write error, the one line that says so is all */
	if (r->opts->quiet || r->write_err || r->sink)
		return;
	if (!final && !isatty(STDERR_FILENO))
		return;
	fprintf(stderr, "%sgilscope: %.1f s, %llu events, %llu lost%s",
		isatty(STDERR_FILENO) ? "\r\033[K" : "", secs,
		(unsigned long long)r->events,
		(unsigned long long)lost_total(r, NULL), final ? "" : " ");
	if (final)
		fprintf(stderr, " -> %s (%.1f MB)\n", r->opts->output,
			gs_writer_bytes(r->w) / 1e6);
}

static bool root_finished(struct recorder *r)
{
	int status;

	if (r->launched) {
		if (waitpid(r->root, &status, WNOHANG) == r->root) {
			r->root_status = status;
			return true;
		}
		return false;
	}
	if (r->opts->all)
		return false;
	return r->root_gone || !proc_exists(r->root);
}

/* A live view's turn; true when it wants to stop. */
static bool sink_turn(struct recorder *r, uint64_t now)
{
	struct record_turn t = {
		.now = now,
		.t0 = r->t0,
		.events = r->events,
		.lost = lost_total(r, NULL),
		.stk = r->stk,
	};

	return r->sink->turn && r->sink->turn(r->sink->ctx, &t);
}

static const char *run_loop(struct recorder *r)
{
	uint64_t deadline = 0, last_status = 0;

	if (r->opts->duration_s > 0)
		deadline = r->t0 + (uint64_t)(r->opts->duration_s * 1e9);
	for (;;) {
		uint64_t now;

		/* events come without wakeups until the buffer fills up:
		 * drain it on this timer */
		ring_buffer__poll(r->rb, POLL_MS);
		ring_buffer__consume(r->rb);
		retry_discoveries(r, false);
		retry_candidates(r);
		stk_tick(r->stk); /* stacks: thread lists and names */
		now = now_ns(CLOCK_MONOTONIC);
		if (r->sink && sink_turn(r, now))
			return "sink";
		if (!r->sink && now - r->last_flush > FLUSH_NS) {
			if (gs_writer_flush(r->w))
				r->write_err = -EIO;
			r->last_flush = now;
		}
		if (now - last_status > 1000000000ull) {
			status_line(r, false);
			last_status = now;
		}
		if (r->write_err)
			return "write-error";
		if (root_finished(r))
			return "exit";
		if (stop_signal)
			return "signal";
		if (deadline && now >= deadline)
			return "duration";
	}
}

/* The switch counter of every process still alive, for the self-check. */
static void read_end_counters(struct recorder *r)
{
	struct proc_rec *p;

	for (size_t i = 0; (p = pidmap_next(&r->procs, &i));) {
		struct kv_list kv = {};

		if (!p->has_interp || !p->gil_addr || !proc_exists(p->pid))
			continue;
		read_gil_state(p->pid, p, &kv, "end");
		if (kv.n) {
			kv_setf(&kv, "pid", "%d", p->pid);
			kv_setf(&kv, "since_ns", "%llu",
				(unsigned long long)p->image_since);
			emit_kv(r, GS_CHUNK_PROCESS, &kv);
		}
		kv_free(&kv);
	}
}

static void write_trailer(struct recorder *r, const char *reason)
{
	struct kv_list kv = {};

	kv_setf(&kv, "end_ns", "%llu",
		(unsigned long long)now_ns(CLOCK_MONOTONIC));
	kv_setf(&kv, "events", "%llu", (unsigned long long)r->events);
	kv_setf(&kv, "lost", "%llu", (unsigned long long)lost_total(r, &kv));
	kv_set(&kv, "stop_reason", reason);
	kv_set(&kv, "finalized", "1");
	emit_kv(r, GS_CHUNK_TRAILER, &kv);
	kv_free(&kv);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* How the command ended, for the line that reports a failed recording. */
static void describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
			 WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended, its status unknown");
}

/* Probes off: the program goes on untraced. */
static void detach_all(struct recorder *r)
{
	for (int i = 0; i < r->n_link_fds; i++)
		close(r->link_fds[i]);
	r->n_link_fds = 0;
	for (int i = 0; i < r->n_links; i++)
		bpf_link__destroy(r->links[i]);
	r->n_links = 0;
}

static void cleanup(struct recorder *r)
{
	detach_all(r);
	free(r->links);
	free(r->link_fds);
	stk_free(r->stk); /* stacks: the sampler's links first */
	ring_buffer__free(r->rb);
	gilscope_bpf__destroy(r->skel);
	free_procs(r);
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * The launched command's wait status once it has ended (it runs on
 * untraced after the recording). SIGTERM or SIGHUP to gilscope is passed
 * on to it; Ctrl-C reaches both from the terminal. -1 if it cannot be had.
 */
static int wait_command(struct recorder *r, const char *reason)
{
	bool passed_on = false;
	int status;

	if (reason && !strcmp(reason, "exit"))
		return r->root_status; /* reaped by root_finished() */
	for (;;) {
		if (r->started && !passed_on &&
		    (stop_signal == SIGTERM || stop_signal == SIGHUP)) {
			kill(r->root, stop_signal);
			passed_on = true;
		}
		if (waitpid(r->root, &status, 0) == r->root)
			return status;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * The recording failed (ERR), AT_START (nothing could be written) or later:
 * one line says so, and how the command ended, since it ran all the same.
 * The exit code is the command's when it failed (as when recording works),
 * otherwise 1: never 0 for a lost recording.
 */
static int report_lost_recording(struct recorder *r, bool at_start, int err,
				 int status)
{
	const char *file = r->opts->output;
	char how[128] = "", end[64];
	int code = r->started ? exit_code_of(status) : 0;

	if (r->started) {
		describe_status(status, end, sizeof(end));
		snprintf(how, sizeof(how), "; the command %s%s",
			 at_start ? "ran untraced and " : "", end);
	}
	if (at_start)
		fprintf(stderr, "gilscope: cannot write %s: %s%s\n", file,
			strerror(-err), how);
	else
		fprintf(stderr,
			"gilscope: writing %s failed: %s; the file holds what was written before%s\n",
			file, strerror(-err), how);
	return code ? code : 1;
}

/*
 * Errors of the storage rather than of the path: the file exists, the data
 * do not fit (a full disk or quota, /dev/full, a device error).
 */
static bool storage_error(int err)
{
	return err == -ENOSPC || err == -EDQUOT || err == -EFBIG || err == -EIO;
}

/*
 * The output takes no data from the start: the command runs untraced all
 * the same (it is what the user wanted run; the recording was a means),
 * and the line at its end says that nothing was recorded and why.
 */
static int run_untraced(struct recorder *r, int err)
{
	int go_fd, status;
	pid_t pid;

	install_signals();
	pid = spawn_held(r->opts->argv, &go_fd);
	if (pid < 0) {
		fprintf(stderr,
			"gilscope: cannot write %s: %s, nor start the command: %s\n",
			r->opts->output, strerror(-err), strerror(-pid));
		return 1;
	}
	r->root = pid;
	r->launched = true;
	r->started = write(go_fd, "g", 1) == 1;
	close(go_fd);
	status = wait_command(r, NULL);
	return report_lost_recording(r, true, err, status);
}

/* Root, or the capabilities BPF tracing needs (CapEff in /proc). */
static bool may_load_bpf(void)
{
	unsigned long long caps = 0;
	char line[256];
	FILE *f;

	if (geteuid() == 0)
		return true;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return true; /* let the load itself decide */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	/* CAP_SYS_ADMIN (21), or CAP_BPF (39) with CAP_PERFMON (38) */
	return (caps >> 21 & 1) || ((caps >> 39 & 1) && (caps >> 38 & 1));
}

/* The process to attach to exists and BPF may be loaded (else said). */
static bool may_record(const struct record_opts *opts)
{
	if (opts->pid && (opts->pid < 0 || !proc_exists(opts->pid))) {
		fprintf(stderr, "gilscope: no process with PID %d\n",
			opts->pid);
		return false;
	}
	if (!may_load_bpf()) {
		fprintf(stderr,
			"gilscope: not allowed to load BPF programs: run as root (sudo) or with CAP_BPF and CAP_PERFMON\n");
		return false;
	}
	return true;
}

/* The held command may exec now: the probes are in place. */
static int release_command(struct recorder *r, int *go_fd)
{
	int ok = write(*go_fd, "g", 1) == 1;

	close(*go_fd);
	*go_fd = -1;
	r->started = ok;
	return ok ? 0 : -EPIPE;
}

/* What closes a session: the last events, the images still being
 * inspected, the end counters, the stack table, then the trailer. */
static void end_session(struct recorder *r, const char *reason)
{
	ring_buffer__consume(r->rb);
	retry_discoveries(r, true);
	read_end_counters(r);
	if (r->sink)
		return;
	/* the trailer comes last: a file ending with it is complete */
	if (gs_writer_flush(r->w))
		r->write_err = -EIO;
	if (stk_write(r->stk, r->w)) /* stacks: the stack table */
		r->write_err = -EIO;
	write_trailer(r, reason);
	status_line(r, true);
}

/*
 * Load and attach the probes, start or attach to the program, record until
 * the end. Returns why the recording stopped, or NULL when setting up
 * failed (said on stderr).
 */
static const char *record(struct recorder *r)
{
	const struct record_opts *opts = r->opts;
	const char *reason = NULL;
	int go_fd = -1;

	install_signals();
	if (open_bpf(r) || attach_tracepoints(r))
		goto out;
	r->rb = ring_buffer__new(bpf_map__fd(r->skel->maps.events), on_event, r,
				 NULL);
	if (!r->rb) {
		fprintf(stderr, "gilscope: cannot open the ring buffer: %s\n",
			strerror(errno));
		goto out;
	}
	/* stacks: the sampler, their ring */
	if (stk_start(&r->stk, r->skel, r->rb, r->w, opts))
		goto out;
	if (opts->all ? start_all(r) :
	    opts->pid ? start_attached(r) :
			start_launched(r, &go_fd))
		goto out;
	if (go_fd >= 0 && release_command(r, &go_fd))
		goto out;
	r->last_flush = r->t0;
	reason = run_loop(r);
	end_session(r, reason);
out:
	if (go_fd >= 0)
		close(go_fd); /* the held child exits without running */
	return reason;
}

int record_main(const struct record_opts *opts)
{
	struct recorder r = { .opts = opts, .root_status = -1 };
	const char *reason;
	int err, status = 0, code;

	verbose_libbpf = opts->verbose;
	libbpf_set_print(libbpf_print);
	elfimg_no_debuginfo(opts->no_debuginfo);
	join_command(&r);
	/* before the output is opened: a forgotten sudo must not truncate
	 * the previous session */
	if (!may_record(opts))
		return 1;
	/* a path that cannot be created stops everything before the command
	 * runs (the user fixes it and runs again); a disk that takes no data
	 * does not stop the command (docs/reliability.md) */
	err = gs_writer_open(opts->output, &r.w);
	if (err && !opts->pid && storage_error(err))
		return run_untraced(&r, err);
	if (err) {
		fprintf(stderr, "gilscope: cannot write %s: %s\n", opts->output,
			strerror(-err));
		return 1;
	}
	reason = record(&r);
	err = gs_writer_close(r.w);
	if (!err)
		err = r.write_err;
	detach_all(&r);
	if (r.launched) /* a command never started is reaped all the same */
		status = wait_command(&r, reason);
	if (err)
		code = report_lost_recording(&r, false, err, status);
	else if (!reason)
		code = 1;
	else
		code = r.started ? exit_code_of(status) : 0;
	cleanup(&r);
	return code;
}

const char *record_live(const struct record_opts *opts,
			const struct record_sink *sink)
{
	struct recorder r = { .opts = opts, .root_status = -1, .sink = sink };
	const char *reason;

	verbose_libbpf = opts->verbose;
	libbpf_set_print(libbpf_print);
	join_command(&r);
	if (!may_record(opts))
		return NULL;
	reason = record(&r);
	detach_all(&r);
	cleanup(&r);
	return reason;
}
