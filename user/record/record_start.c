// SPDX-License-Identifier: GPL-2.0
/* How the traced program comes: launched (held before its exec until the
 * probes are in place), attached to by PID (-p), or every Python process
 * (-a); the HOST and first PROCESS records of the session. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "common/procfs.h"
#include "record/recorder.h"
#include "session/keys.h"

static void write_host(struct recorder *r)
{
	struct kv_list kv = {};
	struct utsname u;
	char host[256] = "";

	uname(&u);
	gethostname(host, sizeof(host) - 1);
	kv_set(&kv, GS_KEY_VERSION, GILSCOPE_VERSION);
	kv_set(&kv, GS_KEY_KERNEL, u.release);
	kv_set(&kv, GS_KEY_MACHINE, u.machine);
	kv_set(&kv, GS_KEY_HOSTNAME, host);
	kv_setf(&kv, GS_KEY_CPUS, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	kv_set(&kv, GS_KEY_CLOCK, "CLOCK_MONOTONIC");
	kv_setf(&kv, GS_KEY_START_NS, "%llu", (unsigned long long)r->t0);
	kv_setf(&kv, GS_KEY_REALTIME_AT_START_NS, "%llu",
		(unsigned long long)(now_ns(CLOCK_REALTIME) -
				     (now_ns(CLOCK_MONOTONIC) - r->t0)));
	kv_set(&kv, GS_KEY_MODE,
	       r->opts->light ? GS_MODE_LIGHT : GS_MODE_EXACT);
	kv_set(&kv, GS_KEY_COMMAND, r->command);
	kv_setf(&kv, GS_KEY_RINGBUF_BYTES, "%zu", r->opts->ringbuf_bytes);
	kv_setf(&kv, GS_KEY_RECORDER_PID, "%d", getpid());
	emit_kv(r, GS_CHUNK_HOST, &kv);
	kv_free(&kv);
}

/* Fork the command, stopped before exec until GO is written. */
pid_t spawn_held(char **argv, int *go_fd)
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

void join_command(struct recorder *r)
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
void read_gil_state(pid_t pid, const struct proc_rec *p, struct kv_list *kv,
		    const char *prefix)
{
	const struct py_facts *f = p->in.facts;
	uint64_t holder = 0, snum = 0, tid = 0, used = 0;
	uint32_t locked = 0;
	char key[64];

	if (!p->has_interp || !p->gil_addr)
		return;
	/* 3.12+: the GIL the interpreter says it uses, to check gil_addr */
	if (!interp_gil_at_runtime(&p->in, pid, p->bias, &used)) {
		snprintf(key, sizeof(key), GS_KEY_GIL_RUNTIME_ADDR_PREFIX "%s",
			 prefix);
		kv_setf(kv, key, "0x%llx", (unsigned long long)used);
	}
	if (proc_read_mem(pid, p->gil_addr + f->gil_switch_number, &snum, 8))
		return;
	snprintf(key, sizeof(key), GS_KEY_SWITCH_NUMBER_PREFIX "%s", prefix);
	kv_setf(kv, key, "%llu", (unsigned long long)snum);
	if (strcmp(prefix, "start"))
		return;
	proc_read_mem(pid, p->gil_addr + f->gil_locked, &locked, 4);
	proc_read_mem(pid, p->gil_addr + f->gil_last_holder, &holder, 8);
	tid = interp_tstate_tid(&p->in, pid, holder);
	kv_setf(kv, GS_KEY_GIL_LOCKED, "%u", locked ? 1 : 0);
	kv_setf(kv, GS_KEY_GIL_LAST_HOLDER_TID, "%llu",
		(unsigned long long)tid);
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
		kv_setf(&kv, GS_KEY_TGID, "%d", pid);
		kv_setf(&kv, GS_KEY_TID, "%d", tids[i]);
		kv_set(&kv, GS_KEY_STATE, state[0] ? state : "?");
		kv_setf(&kv, GS_KEY_SYSCALL, "%d", nr);
		kv_setf(&kv, GS_KEY_ARG0, "0x%llx", (unsigned long long)a0);
		kv_setf(&kv, GS_KEY_ARG1, "0x%llx", (unsigned long long)a1);
		kv_set(&kv, GS_KEY_COMM, comm);
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

int start_attached(struct recorder *r)
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
	write_process(r, p, 0, GS_ORIGIN_ATTACH, &kv);
	kv_free(&kv);
	snapshot_threads(r, pid);
	return 0;
}

/*
 * -a: trace PID if it runs Python (a version without GIL facts too:
 * scheduling and blocking), found running (ORIGIN "attach") or at its exec
 * at SINCE. Returns whether it is traced now.
 */
bool adopt_python(struct recorder *r, pid_t pid, uint64_t since,
		  const char *origin)
{
	bool attach = !strcmp(origin, GS_ORIGIN_ATTACH);
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
		kv_set(&kv, GS_KEY_SWITCH_NUMBER_START, "0");
	write_process(r, p, since, origin, &kv);
	kv_free(&kv);
	if (attach)
		snapshot_threads(r, pid);
	return true;
}

/* -a: every Python process running now; later ones come with their exec. */
int start_all(struct recorder *r)
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
			adopt_python(r, pids[i], 0, GS_ORIGIN_ATTACH);
	return 0;
}

int start_launched(struct recorder *r, int *go_fd)
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
		kv_set(&kv, GS_KEY_USER_LOCK, r->opts->lock_spec);
	kv_set(&kv, GS_KEY_SWITCH_NUMBER_START, "0");
	kv_set(&kv, GS_KEY_COMMAND, r->command);
	kv_setf(&kv, GS_KEY_PPID, "%d", getpid());
	write_process(r, p, 0, GS_ORIGIN_LAUNCH, &kv);
	kv_free(&kv);
	return 0;
}
