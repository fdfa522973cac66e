// SPDX-License-Identifier: GPL-2.0
/* The collector's probes: open, configure and load the BPF programs, attach
 * the tracepoints and the uprobes of each interpreter file, say which
 * processes are traced, detach. */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "gilscope.skel.h"
#include "record/recorder.h"
#include "record/stacks.h"
#include "record/umulti.h"

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

/* Py_BytesMain, where a process whose libpython was not mapped at its
 * exec is held (on_py_main); a file without it is not an error. */
static int probe_main(struct recorder *r, const char *path)
{
	uint64_t off, none = 0;

	if (interp_function_offset(path, "Py_BytesMain", &off))
		return 0;
	return attach_multi(r, r->skel->progs.on_py_main, path, &off, &none, 1);
}

/*
 * Probe an interpreter file once, for every process that maps it (pid -1;
 * the programs keep only traced processes).
 */
int probe_interp(struct recorder *r, const struct interp *in)
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
	if (!err)
		err = probe_main(r, in->host_path);
	if (!err) /* 3.13+: parking (user/record/locksites.h) */
		err = attach_multi(r, r->skel->progs.on_park_call,
				   in->host_path, in->park_offs,
				   in->park_vaddrs, in->n_park_sites);
	if (!err)
		err = attach_multi(r, r->skel->progs.on_unpark_post,
				   in->host_path, in->unpark_offs,
				   in->unpark_vaddrs, in->n_unpark_sites);
	if (!err) /* a C RLock about to wait (user/record/rlocksites.h) */
		err = attach_multi(r, r->skel->progs.on_rlock_wait,
				   in->host_path, in->rlock_offs,
				   in->rlock_vaddrs, in->n_rlock_sites);
	if (err)
		return err;
	r->files[r->n_files].dev = st.st_dev;
	r->files[r->n_files++].ino = st.st_ino;
	if (r->opts->verbose)
		fprintf(stderr,
			"gilscope: probed %s (Python %s, %s, %d GIL signal sites, %d GIL take sites, %d lock sites, %d lock release sites, %d park and %d unpark sites, %d RLock wait sites)\n",
			in->path, in->version, in->method, in->n_sites,
			in->n_take_sites, in->n_lock_sites, in->n_post_sites,
			in->n_park_sites, in->n_unpark_sites,
			in->n_rlock_sites);
	return 0;
}

/* `--lock ACQUIRE:RELEASE`: probe two functions of the program's own file. */
int probe_user_lock(struct recorder *r, const char *file)
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

/* What BPF knows of traced process PID (its traced map entry). */
static int set_traced(struct recorder *r, pid_t pid, const struct gs_proc *val)
{
	uint32_t key = pid;

	return bpf_map__update_elem(r->skel->maps.traced, &key, sizeof(key),
				    val, sizeof(*val), BPF_ANY);
}

int trace_pid(struct recorder *r, pid_t pid, uint64_t gil_addr,
	      const struct py_facts *facts)
{
	struct gs_proc val = {};
	struct proc_rec *p;
	int err;

	if (gil_addr && facts)
		val.switch_number_addr = gil_addr + facts->gil_switch_number;
	p = proc_find(r, pid);
	if (gil_addr && facts && p && p->has_interp &&
	    !strcmp(p->in.method, "handoff")) {
		val.gil = pyver_gil_layout(gil_addr, facts);
	}
	/* stacks: how to walk this process's frames */
	stk_track(r->stk, pid, gil_addr, facts,
		  p && p->has_interp ? p->in.method : NULL);
	err = set_traced(r, pid, &val);
	/* threads that found no GIL to read look again */
	if (!err && val.gil.addr)
		__atomic_add_fetch(&r->skel->bss->gil_gen, 1, __ATOMIC_SEQ_CST);
	return err;
}

int hold_at_main(struct recorder *r, pid_t pid)
{
	struct gs_proc val = { .hold_at_main = 1 };

	return set_traced(r, pid, &val);
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
		skel->progs.on_ulock_release, skel->progs.on_py_main,
		skel->progs.on_rlock_wait,
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		bpf_program__set_expected_attach_type(
			progs[i], GS_BPF_TRACE_UPROBE_MULTI);
}

int open_bpf(struct recorder *r)
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

/* The tracepoints, in links of a fixed array (one per program: nothing to
 * grow, so no failure can leave a link behind). */
int attach_tracepoints(struct recorder *r)
{
	struct bpf_program *progs[] = {
		r->skel->progs.on_switch,   r->skel->progs.on_waking,
		r->skel->progs.on_wakeup,   r->skel->progs.on_wakeup_new,
		r->skel->progs.on_fork,	    r->skel->progs.on_exec,
		r->skel->progs.on_exit,	    r->skel->progs.on_sys_enter,
		r->skel->progs.on_sys_exit,
	};
	_Static_assert(sizeof(progs) / sizeof(progs[0]) <= MAX_TRACEPOINTS,
		       "recorder.links holds every tracepoint");

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		struct bpf_link *link;

		/* --light takes syscalls from the switch (bpf/syscalls.bpf.h) */
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
		r->links[r->n_links++] = link;
	}
	return 0;
}

/* Probes off: the program goes on untraced. */
void detach_all(struct recorder *r)
{
	for (int i = 0; i < r->n_link_fds; i++)
		close(r->link_fds[i]);
	r->n_link_fds = 0;
	for (int i = 0; i < r->n_links; i++)
		bpf_link__destroy(r->links[i]);
	r->n_links = 0;
}
