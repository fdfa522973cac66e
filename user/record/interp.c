// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "record/elfimg.h"
#include "record/gilsites.h"
#include "record/interp.h"
#include "record/locksites.h"
#include "common/procfs.h"
#include "record/pyobj.h"
#include "common/tfile.h"

#define MAX_SHEBANG_DEPTH 4

/*
 * Length of the x86-64 memory operand that starts at ModRM byte M[0] (with
 * its SIB and displacement), or 0 when it is a register, not memory.
 */
static int mem_operand_len(const unsigned char *m)
{
	int mod = m[0] >> 6, rm = m[0] & 7, len = 1;

	if (mod == 3)
		return 0;
	if (rm == 4) {
		len++; /* SIB; its base 5 without mod means disp32, no base */
		if (mod == 0 && (m[1] & 7) == 5)
			return len + 4;
	}
	if (mod == 1)
		return len + 1;
	if (mod == 2 || (mod == 0 && rm == 5))
		return len + 4;
	return len;
}

/* Length of the `addq $1, mem` (REX.W 83 /0 .. 01) that ends exactly at
 * B + END, or 0. */
static int add_one_ends_at(const unsigned char *b, int end)
{
	for (int len = 4; len <= 9 && len <= end; len++) {
		const unsigned char *i = b + end - len;

		if ((i[0] & 0xf8) != 0x48 || i[1] != 0x83 ||
		    ((i[2] >> 3) & 7) != 0 || b[end - 1] != 0x01)
			continue;
		if (mem_operand_len(i + 2) == len - 3)
			return len;
	}
	return 0;
}

/* Length of the `lea mem, %rdi` (REX.W 8d /7) or `mov $imm32, %edi` that
 * ends at B + END (the argument of the call that follows), or 0. */
static int arg_load_ends_at(const unsigned char *b, int end)
{
	if (end >= 5 && b[end - 5] == 0xbf)
		return 5;
	for (int len = 4; len <= 8 && len <= end; len++) {
		const unsigned char *i = b + end - len;

		if ((i[0] & 0xfc) == 0x48 && i[1] == 0x8d &&
		    ((i[2] >> 3) & 7) == 7 && mem_operand_len(i + 2) == len - 2)
			return len;
	}
	return 0;
}

static int32_t rel32_at(const unsigned char *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Does a jump near CALL (jcc or jmp, rel8 or rel32) land on TARGET? Then
 * TARGET also runs on a path that skipped the increment before it: libpython
 * 3.14 (-fPIC) shares one `lea; call` between both paths. Bytes are scanned,
 * not decoded: a false match only rejects the site (all sites are probed).
 */
static bool jump_lands_on(struct elfimg *img, uint64_t call, uint64_t target)
{
	unsigned char b[1024];
	uint64_t base = call - 512;

	if (elfimg_read_vaddr(img, base, b, sizeof(b)))
		return true;
	for (size_t i = 0; i + 6 <= sizeof(b); i++) {
		uint64_t at = base + i, to = 0;

		if ((b[i] >= 0x70 && b[i] <= 0x7f) || b[i] == 0xeb)
			to = at + 2 + (int8_t)b[i + 1];
		else if (b[i] == 0xe9)
			to = at + 5 + rel32_at(b + i + 1);
		else if (b[i] == 0x0f && b[i + 1] >= 0x80 && b[i + 1] <= 0x8f)
			to = at + 6 + rel32_at(b + i + 2);
		if (to == target)
			return true;
	}
	return false;
}

/*
 * take_gil, when the taker is not the last holder, does `++switch_number`
 * and then signals switch_cond; compilers put the increment right before
 * the call or before the load of its argument:
 *
 *	lea 0x78(%r14),%rdi; addq $0x1,0x18(%r14); call pthread_cond_signal
 *
 * A uprobe there fires at a hand-off only, never at a take by the thread
 * that held the GIL last (the take after each blocking call), provided no
 * jump enters between the increment and the call.
 */
static bool is_handoff_site(struct elfimg *img, uint64_t call)
{
	unsigned char b[24];
	int arg;

	if (elfimg_read_vaddr(img, call - sizeof(b), b, sizeof(b)))
		return false;
	if (add_one_ends_at(b, sizeof(b)))
		return !jump_lands_on(img, call, call);
	arg = arg_load_ends_at(b, sizeof(b));
	return arg && add_one_ends_at(b, sizeof(b) - arg) &&
	       !jump_lands_on(img, call, call) &&
	       !jump_lands_on(img, call, call - arg);
}

static bool all_gil_sites;

void interp_all_gil_sites(bool on)
{
	all_gil_sites = on;
}

/*
 * Where the GIL changes hands, and only there, when the interpreter allows
 * it: its hand-off sites are found, and a thread can tell from the GIL's
 * memory whether it holds it (native_thread_id). Releases and takes around
 * system calls are then read at the calls (bpf/gilscope.bpf.c) instead of
 * trapping each one; take_gil's entry is not probed either.
 */
/* File offsets of SITES[0..N) into OFFS; -ENOENT if one has none. */
static int site_offsets(struct elfimg *img, const uint64_t *sites, int n,
			uint64_t *offs)
{
	if (n > INTERP_MAX_SITES)
		return -E2BIG;
	for (int i = 0; i < n; i++)
		if (elfimg_vaddr_to_offset(img, sites[i], &offs[i]))
			return -ENOENT;
	return 0;
}

static void keep_handoff_sites(struct elfimg *img, struct interp *in)
{
	uint64_t sites[INTERP_MAX_SITES], offs[INTERP_MAX_SITES];
	uint64_t handoff = 0;
	struct gil_sites gs;
	int n = 0;

	if (!in->facts->tstate_native_thread_id || all_gil_sites)
		return;
	for (int i = 0; i < in->n_sites; i++) {
		if (!is_handoff_site(img, in->sites[i]))
			continue;
		if (handoff) /* one hand-off site is expected, not two */
			return;
		handoff = in->sites[i];
	}
	if (!handoff ||
	    gilsites_classify(img, in->sites, in->n_sites, handoff, &gs))
		return;
	sites[n++] = handoff;
	for (int i = 0; i < gs.n_releases; i++)
		sites[n++] = gs.releases[i];
	if (site_offsets(img, sites, n, offs) ||
	    site_offsets(img, gs.takes, gs.n_takes, in->take_site_offs))
		return;
	memcpy(in->sites, sites, n * sizeof(*sites));
	memcpy(in->site_offs, offs, n * sizeof(*offs));
	in->n_sites = n;
	memcpy(in->take_sites, gs.takes, gs.n_takes * sizeof(*gs.takes));
	in->n_take_sites = gs.n_takes;
	in->take_gil_vaddr = 0;
	in->take_gil_off = 0;
	snprintf(in->method, sizeof(in->method), "handoff");
}

static int fill_probes(struct elfimg *img, struct interp *in)
{
	uint64_t sites[INTERP_MAX_SITES];
	bool indirect[INTERP_MAX_SITES];
	int n;

	if (in->facts->free_threaded) {
		snprintf(in->method, sizeof(in->method), "nogil");
		goto locks;
	}
	if (!elfimg_find_symbol(img, "take_gil", &in->take_gil_vaddr, NULL) &&
	    !elfimg_vaddr_to_offset(img, in->take_gil_vaddr, &in->take_gil_off))
		snprintf(in->method, sizeof(in->method), "%s",
			 elfimg_debug_path(img) ? "debuginfo" : "symtab");
	else {
		in->take_gil_vaddr = 0;
		snprintf(in->method, sizeof(in->method), "dynsym");
	}
	n = elfimg_find_call_sites(img, "pthread_cond_signal", sites, indirect,
				   INTERP_MAX_SITES);
	if (n < 0)
		return n;
	if (n > INTERP_MAX_SITES)
		n = INTERP_MAX_SITES;
	in->n_sites = 0;
	for (int i = 0; i < n; i++) {
		uint64_t off;

		if (elfimg_vaddr_to_offset(img, sites[i], &off))
			continue;
		in->sites[in->n_sites] = sites[i];
		in->site_offs[in->n_sites++] = off;
	}
	keep_handoff_sites(img, in);
locks:
	locksites_find(img, in);
	return 0;
}

/*
 * Parsing an interpreter and its debug file takes tens of milliseconds;
 * every process of a session usually runs the same one or two files.
 */
#define CACHE_SIZE 8

static struct {
	dev_t dev;
	ino_t ino;
	struct interp in;
} cache[CACHE_SIZE];
static int cache_n;

static bool cache_lookup(const struct stat *st, const char *path,
			 const char *root, struct interp *in)
{
	for (int i = 0; i < cache_n; i++) {
		if (cache[i].dev != st->st_dev || cache[i].ino != st->st_ino)
			continue;
		*in = cache[i].in;
		snprintf(in->path, sizeof(in->path), "%s", path);
		snprintf(in->host_path, sizeof(in->host_path), "%s%s",
			 root ? root : "", path);
		return true;
	}
	return false;
}

static void cache_store(const struct stat *st, const struct interp *in)
{
	int i = cache_n < CACHE_SIZE ? cache_n++ : 0;

	cache[i].dev = st->st_dev;
	cache[i].ino = st->st_ino;
	cache[i].in = *in;
}

static int interp_parse(const char *path, const char *root, struct interp *in,
			char *err, size_t errlen);

int interp_open(const char *path, const char *root, struct interp *in,
		char *err, size_t errlen)
{
	struct stat st;
	int fd, ret;

	/* the file that interp_parse() will read, found the same safe way */
	fd = tfile_open(root, path, &st);
	if (fd >= 0)
		close(fd);
	if (fd >= 0 && cache_lookup(&st, path, root, in))
		return 0;
	ret = interp_parse(path, root, in, err, errlen);
	if (!ret && fd >= 0)
		cache_store(&st, in);
	return ret;
}

static int interp_parse(const char *path, const char *root, struct interp *in,
			char *err, size_t errlen)
{
	struct elfimg *img;
	char why[256];
	int ret;

	memset(in, 0, sizeof(*in));
	ret = elfimg_open(path, root, &img);
	if (ret) {
		snprintf(err, errlen, "%s: %s", path,
			 ret == -ENOEXEC ? "not an x86-64 ELF file" :
					   strerror(-ret));
		return ret;
	}
	snprintf(in->path, sizeof(in->path), "%s", path);
	snprintf(in->host_path, sizeof(in->host_path), "%s%s", root ? root : "",
		 path);
	snprintf(in->build_id, sizeof(in->build_id), "%s",
		 elfimg_build_id(img));
	if (elfimg_debug_file(img))
		snprintf(in->debug_file, sizeof(in->debug_file), "%s",
			 elfimg_debug_file(img));
	in->is_dyn = elfimg_is_dyn(img);
	in->base_vaddr = elfimg_base_vaddr(img);
	ret = elfimg_python_version(img, &in->major, &in->minor, &in->hex);
	if (ret) {
		snprintf(err, errlen, "%s is not a Python interpreter", path);
		goto out;
	}
	if (in->hex)
		snprintf(in->version, sizeof(in->version), "%u.%u.%u",
			 in->hex >> 24, (in->hex >> 16) & 0xff,
			 (in->hex >> 8) & 0xff);
	else
		snprintf(in->version, sizeof(in->version), "%d.%d", in->major,
			 in->minor);
	ret = elfimg_find_symbol(img, "_PyRuntime", &in->runtime_vaddr, NULL);
	if (ret) {
		snprintf(err, errlen, "%s: no _PyRuntime symbol", path);
		goto out;
	}
	ret = pyver_facts_for(img, in->runtime_vaddr, in->major, in->minor,
			      &in->facts, why, sizeof(why));
	if (ret) {
		snprintf(
			err, errlen,
			"%s is Python %s, which gilscope cannot read (%s; it reads 3.9-3.15)",
			path, in->version, why);
		goto out;
	}
	ret = fill_probes(img, in);
	if (ret)
		snprintf(err, errlen, "%s: cannot scan the code: %s", path,
			 strerror(-ret));
out:
	elfimg_close(img);
	return ret;
}

uint64_t interp_gil_addr(const struct interp *in, uint64_t bias)
{
	if (!in->facts || !in->runtime_vaddr || !in->facts->gil_in_runtime)
		return 0;
	return in->runtime_vaddr + bias + in->facts->gil_in_runtime;
}

int interp_gil_at_runtime(const struct interp *in, pid_t pid, uint64_t bias,
			  uint64_t *gil)
{
	const struct py_facts *f = in->facts;
	uint64_t interp = 0;
	int ret;

	*gil = 0;
	if (!f || !f->interp_ceval_gil || !in->runtime_vaddr)
		return -ENOENT;
	ret = proc_read_mem(pid,
			    in->runtime_vaddr + bias + f->runtime_interp_head,
			    &interp, sizeof(interp));
	if (!ret && interp)
		ret = proc_read_mem(pid, interp + f->interp_ceval_gil, gil,
				    sizeof(*gil));
	if (ret)
		return ret;
	return *gil ? 0 : -EAGAIN;
}

static int read_process(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return proc_read_mem(*(const pid_t *)ctx, addr, buf, len);
}

uint32_t interp_tstate_tid(const struct interp *in, pid_t pid, uint64_t tstate)
{
	struct pyobj_mem m = { .read = read_process, .ctx = &pid };
	bool from_pthread;
	uint32_t tid;

	if (!in->facts)
		return 0;
	tid = pyobj_tstate_tid(&m, in->facts, tstate, &from_pthread);
	return from_pthread && !proc_thread_state(pid, tid) ? 0 : tid;
}

const char *interp_method_note(const char *method)
{
	if (!strcmp(method, "debuginfo") || !strcmp(method, "symtab"))
		return "take_gil, GIL releases and acquisitions probed: waits, holds and hand-offs are exact";
	if (!strcmp(method, "handoff"))
		return "GIL hand-offs probed where take_gil changes the holder; releases and takes around system calls read from the GIL's memory at the call: hand-offs and waits are exact, an uncontended release and take are timed at the call's entry and return";
	if (!strcmp(method, "nogil"))
		return "a free-threaded build (Py_GIL_DISABLED): there is no GIL; scheduling, blocking and lock waits are traced";
	if (!strcmp(method, "dynsym"))
		return "no symbols for take_gil (stripped, no debug file): holds and hand-offs are exact, a GIL wait starts at the first futex wait on the GIL, so uncontended takes count as no wait";
	return "no interpreter: scheduling and blocking only";
}

/* ------------------------------------------------------------ commands */

/* PATH lookup of NAME into OUT, like execvp. */
static int search_path(const char *name, char *out, size_t len)
{
	const char *env = getenv("PATH");
	char *copy, *dir, *save = NULL;
	int ret = -ENOENT;

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) ? -errno : 0;
	}
	copy = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
	if (!copy)
		return -ENOMEM;
	for (dir = strtok_r(copy, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", *dir ? dir : ".", name);
		if (!access(out, X_OK)) {
			ret = 0;
			break;
		}
	}
	free(copy);
	return ret;
}

/* The interpreter named on a #! line, or -ENOEXEC if FILE has none. */
static int shebang_target(const char *file, char *out, size_t len)
{
	char line[512], *p, *arg;
	FILE *f = fopen(file, "re");

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f) || strncmp(line, "#!", 2)) {
		fclose(f);
		return -ENOEXEC;
	}
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	p = line + 2 + strspn(line + 2, " \t");
	arg = p + strcspn(p, " \t");
	if (*arg) {
		*arg++ = '\0';
		arg += strspn(arg, " \t");
		arg[strcspn(arg, " \t")] = '\0';
	}
	/* "#!/usr/bin/env python3": the program is the argument */
	if (!strcmp(strrchr(p, '/') ? strrchr(p, '/') + 1 : p, "env") && *arg)
		return search_path(arg, out, len);
	snprintf(out, len, "%s", p);
	return 0;
}

/* Is PATH a file we may read inside ROOT (NULL: ours)? */
static bool readable_in(const char *root, const char *path)
{
	struct stat st;
	int fd = tfile_open(root, path, &st);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Find library NAME as the dynamic loader would, roughly, inside ROOT. */
static int find_library(const char *name, const char *runpath,
			const char *origin, const char *root, char *out,
			size_t len)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu",
					    "/usr/lib/x86_64-linux-gnu",
					    "/usr/local/lib",
					    "/lib",
					    "/usr/lib",
					    NULL };
	const char *lists[2] = { runpath, getenv("LD_LIBRARY_PATH") };

	for (int l = 0; l < 2; l++) {
		char *copy, *dir, *save = NULL;

		if (!lists[l])
			continue;
		copy = strdup(lists[l]);
		if (!copy)
			return -ENOMEM;
		for (dir = strtok_r(copy, ":", &save); dir;
		     dir = strtok_r(NULL, ":", &save)) {
			int n;

			if (!strncmp(dir, "$ORIGIN", 7))
				n = snprintf(out, len, "%s%s/%s", origin,
					     dir + 7, name);
			else
				n = snprintf(out, len, "%s/%s", dir, name);
			if (n > 0 && (size_t)n < len &&
			    readable_in(root, out)) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	for (int i = 0; dirs[i]; i++) {
		snprintf(out, len, "%s/%s", dirs[i], name);
		if (readable_in(root, out))
			return 0;
	}
	return -ENOENT;
}

/* EXE (inside ROOT, NULL: ours) is not Python itself: is it linked with a
 * libpython? */
static int interp_in_needed(const char *exe, const char *root,
			    struct interp *in, char *err, size_t errlen)
{
	const char *needed[64], *runpath = NULL;
	char origin[PATH_MAX], lib[PATH_MAX], *slash;
	struct elfimg *img;
	int n, ret = -ENOENT;

	if (elfimg_open(exe, root, &img))
		return -ENOENT;
	n = elfimg_needed(img, needed, 64, &runpath);
	snprintf(origin, sizeof(origin), "%s", exe);
	slash = strrchr(origin, '/');
	if (slash)
		*slash = '\0';
	for (int i = 0; i < n && ret; i++)
		if (!strncmp(needed[i], "libpython", 9) &&
		    !find_library(needed[i], runpath, origin, root, lib,
				  sizeof(lib)))
			ret = interp_open(lib, root, in, err, errlen);
	elfimg_close(img);
	return ret;
}

int interp_needed_by_pid(pid_t pid, struct interp *in, char *err, size_t errlen)
{
	char exe[PATH_MAX], root[64];

	if (proc_exe(pid, exe, sizeof(exe)))
		return -ENOENT;
	/* its files as it sees them: a chroot's libraries, not ours */
	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	return interp_in_needed(proc_path_in_root(pid, exe), root, in, err,
				errlen);
}

int interp_for_command(const char *exe, struct interp *in, char *err,
		       size_t errlen)
{
	char path[PATH_MAX], real[PATH_MAX], next[PATH_MAX];
	int ret;

	ret = search_path(exe, path, sizeof(path));
	if (ret) {
		snprintf(err, errlen, "%s: command not found", exe);
		return -ENOENT;
	}
	for (int depth = 0; depth < MAX_SHEBANG_DEPTH; depth++) {
		if (!realpath(path, real))
			snprintf(real, sizeof(real), "%s", path);
		ret = interp_open(real, NULL, in, err, errlen);
		if (ret != -ENOEXEC && ret != -ENOENT)
			return ret;
		if (ret == -ENOENT &&
		    !interp_in_needed(real, NULL, in, err, errlen))
			return 0;
		if (shebang_target(real, next, sizeof(next)))
			break;
		snprintf(path, sizeof(path), "%s", next);
	}
	snprintf(err, errlen, "%s does not run a Python interpreter", exe);
	return -ENOENT;
}

int interp_command_path(const char *name, char *out, size_t len)
{
	return search_path(name, out, len);
}

int interp_function_offset(const char *path, const char *name, uint64_t *off)
{
	struct elfimg *img;
	uint64_t vaddr;
	int ret;

	ret = elfimg_open(path, NULL, &img);
	if (ret)
		return ret;
	ret = elfimg_find_symbol(img, name, &vaddr, NULL);
	if (!ret)
		ret = elfimg_vaddr_to_offset(img, vaddr, off);
	elfimg_close(img);
	return ret;
}

/* ------------------------------------------------------------ processes */

struct pid_search {
	pid_t pid;
	struct interp *in;
	uint64_t bias;
	int last_err;
	char *err;
	size_t errlen;
};

static bool looks_like_python(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, "python", 6) || !strncmp(base, "libpython", 9);
}

static int try_mapping(const struct proc_mapping *m, void *ctx)
{
	struct pid_search *s = ctx;
	char root[64];
	int ret;

	if (!looks_like_python(m->path))
		return 0;
	snprintf(root, sizeof(root), "/proc/%d/root", s->pid);
	/* opened inside the process's root only (tfile.h): a path the
	 * process controls never leads to a file of ours */
	ret = interp_open(proc_path_in_root(s->pid, m->path), root, s->in,
			  s->err, s->errlen);
	if (ret) {
		/* keep the most telling error: an unsupported version */
		if (ret == -ENOTSUP || !s->last_err)
			s->last_err = ret;
		return 0;
	}
	s->bias = m->start - s->in->base_vaddr;
	return 1;
}

int interp_for_pid(pid_t pid, struct interp *in, uint64_t *bias, char *err,
		   size_t errlen)
{
	struct pid_search s = {
		.pid = pid, .in = in, .err = err, .errlen = errlen
	};
	int ret;

	err[0] = '\0';
	ret = proc_each_file_mapping(pid, try_mapping, &s);
	if (ret == 1) {
		*bias = s.bias;
		return 0;
	}
	if (ret < 0) {
		snprintf(err, errlen,
			 "cannot read the mappings of process %d: %s", pid,
			 strerror(-ret));
		return ret;
	}
	if (s.last_err != -ENOTSUP)
		snprintf(err, errlen,
			 "no Python interpreter found in process %d", pid);
	return s.last_err == -ENOTSUP ? -ENOTSUP : -ENOENT;
}
