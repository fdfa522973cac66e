// SPDX-License-Identifier: GPL-2.0
/*
 * Sorting the GIL's probe sites (gilsites.h): function bounds come from the
 * unwind tables (ehframe.c), system call wrappers from the PLT.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include "record/ehframe.h"
#include "record/elfimg.h"
#include "record/gilsites.h"

/*
 * How far after a release its system call may be: drop_gil's tail (unlock
 * the mutex, test the drop request) and saving errno come between; LTO's
 * copies in Debian's 3.11 put the call 65-100 bytes after the signal.
 */
#define SYSCALL_REACH 160
#define MAX_WRAPPER_SITES 4096

/* libc functions that always make their system call at once. */
static const char *const syscall_wrappers[] = {
	"read",
	"write",
	"pread64",
	"pwrite64",
	"readv",
	"writev",
	"preadv",
	"pwritev",
	"stat",
	"stat64",
	"lstat",
	"lstat64",
	"fstat",
	"fstat64",
	"fstatat",
	"fstatat64",
	"statx",
	"__xstat",
	"__lxstat",
	"__fxstat",
	"__xstat64",
	"__lxstat64",
	"__fxstat64",
	"__fxstatat",
	"__fxstatat64",
	"recv",
	"recvfrom",
	"recvmsg",
	"send",
	"sendto",
	"sendmsg",
	"accept",
	"accept4",
	"connect",
	"select",
	"poll",
	"ppoll",
	"epoll_wait",
	"nanosleep",
	"clock_nanosleep",
	"open",
	"open64",
	"openat",
	"openat64",
	"close",
	"lseek",
	"lseek64",
	"fsync",
	"fdatasync",
	"ftruncate",
	"ftruncate64",
	"waitpid",
	"wait4",
	"waitid",
	"sendfile",
	"sendfile64",
	"copy_file_range",
	"splice",
	"getdents64",
	"ioctl",
};

struct fn {
	uint64_t start, end;
};

static bool in_fn(const struct fn *f, uint64_t addr)
{
	return addr >= f->start && addr < f->end;
}

/* Is there a call to a system call wrapper in (SITE, SITE + reach) inside
 * FN? CALLS holds all such calls of the file, sorted. */
static bool leads_to_syscall(const uint64_t *calls, int n, uint64_t site,
			     const struct fn *f)
{
	for (int i = 0; i < n; i++)
		if (calls[i] > site && calls[i] < site + SYSCALL_REACH &&
		    in_fn(f, calls[i]))
			return true;
	return false;
}

/* Every call to a system call wrapper, into a new sorted array. */
static int wrapper_calls(const struct elfimg *img, uint64_t **out)
{
	uint64_t *v = malloc(MAX_WRAPPER_SITES * sizeof(*v));
	int n;

	if (!v)
		return -ENOMEM;
	n = elfimg_find_calls_any(img, syscall_wrappers,
				  sizeof(syscall_wrappers) /
					  sizeof(*syscall_wrappers),
				  v, NULL, MAX_WRAPPER_SITES);
	if (n < 0) {
		free(v);
		return n;
	}
	if (n > MAX_WRAPPER_SITES)
		n = MAX_WRAPPER_SITES;
	*out = v; /* sorted */
	return n;
}

static bool covered_fn(const struct fn *covered, int n, uint64_t start)
{
	for (int i = 0; i < n; i++)
		if (covered[i].start == start)
			return true;
	return false;
}

static void add_site(uint64_t *v, int *n, uint64_t site)
{
	if (*n < GILSITES_MAX)
		v[(*n)++] = site;
}

/* Releases: the signals outside take_gil (F_TAKE). */
static int sort_releases(const struct elfimg *img, const uint64_t *signals,
			 int n_signals, const struct fn *take,
			 struct fn *covered, struct gil_sites *out)
{
	uint64_t *calls;
	struct fn f;
	int n_calls;

	n_calls = wrapper_calls(img, &calls);
	if (n_calls < 0)
		return n_calls;
	for (int i = 0; i < n_signals; i++) {
		if (in_fn(take, signals[i]))
			continue;
		if (ehframe_function(img, signals[i], &f.start, &f.end)) {
			add_site(out->releases, &out->n_releases, signals[i]);
			continue;
		}
		if (leads_to_syscall(calls, n_calls, signals[i], &f) &&
		    out->n_covered < GILSITES_MAX)
			covered[out->n_covered++] = f;
		else
			add_site(out->releases, &out->n_releases, signals[i]);
	}
	free(calls);
	return 0;
}

/* Takes: `call take_gil` outside the functions whose release is covered. */
static int sort_takes(const struct elfimg *img, const struct fn *take,
		      const struct fn *covered, struct gil_sites *out)
{
	uint64_t calls[GILSITES_MAX * 2];
	struct fn f;
	int n;

	n = elfimg_find_calls_to(img, take->start, calls, GILSITES_MAX * 2);
	if (n < 0)
		return n;
	if (n > GILSITES_MAX * 2)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		if (!ehframe_function(img, calls[i], &f.start, &f.end) &&
		    covered_fn(covered, out->n_covered, f.start))
			continue;
		add_site(out->takes, &out->n_takes, calls[i]);
	}
	return 0;
}

int gilsites_classify(const struct elfimg *img, const uint64_t *signals,
		      int n_signals, uint64_t handoff, struct gil_sites *out)
{
	struct fn take, covered[GILSITES_MAX];
	int err;

	*out = (struct gil_sites){ 0 };
	err = ehframe_function(img, handoff, &take.start, &take.end);
	if (err)
		return err;
	err = sort_releases(img, signals, n_signals, &take, covered, out);
	if (!err)
		err = sort_takes(img, &take, covered, out);
	if (!err && (out->n_releases == GILSITES_MAX ||
		     out->n_takes == GILSITES_MAX || !out->n_takes))
		err = -E2BIG; /* too many to be the GIL's, or take_gil's
			       * start is not where calls go */
	return err;
}
