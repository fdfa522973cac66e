// SPDX-License-Identifier: GPL-2.0
/*
 * tfile - opening files the traced program controls (see tfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "common/tfile.h"

/* how many refusals are remembered, so that each is said once */
#define SAID_MAX 64

static bool quiet;
static uint64_t said[SAID_MAX];
static int n_said;

void tfile_quiet(bool q)
{
	quiet = q;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ull;
	return h;
}

void tfile_skipped(const char *fullpath, const char *why)
{
	uint64_t h = hash_str(fullpath) ^ hash_str(why);

	if (quiet)
		return;
	for (int i = 0; i < n_said && i < SAID_MAX; i++)
		if (said[i] == h)
			return;
	said[n_said++ % SAID_MAX] = h;
	fprintf(stderr, "gilscope: skipped %s: %s\n", fullpath, why);
}

static int refuse(const char *full, const char *why, int err)
{
	tfile_skipped(full, why);
	return err;
}

/* PATH opened with O_PATH, its links resolved inside ROOT; -errno. */
static int open_in_root(const char *root, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int rootfd, fd;

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(rootfd);
	return fd;
}

/*
 * ROOT + PATH with O_PATH, refused when a plain walk of FULL (what opening
 * or probing the file by its path does) reaches another file than a walk
 * inside ROOT.
 */
static int open_path(const char *root, const char *path, const char *full,
		     struct stat *st)
{
	struct stat plain;
	bool have_plain;
	int fd = -ENOSYS;

	if (root && root[0])
		fd = open_in_root(root, path);
	if (fd == -ENOSYS) { /* no root, or a kernel before Linux 5.6 */
		fd = open(full, O_PATH | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (!fstat(fd, st))
			return fd;
		close(fd);
		return -errno;
	}
	if (fd >= 0 && fstat(fd, st)) {
		close(fd);
		return -errno;
	}
	have_plain = !stat(full, &plain);
	if (fd < 0 && !have_plain)
		return fd;
	if (fd >= 0 && have_plain && plain.st_dev == st->st_dev &&
	    plain.st_ino == st->st_ino)
		return fd;
	if (fd >= 0)
		close(fd);
	return refuse(full, "a symbolic link leads outside the process's root",
		      -EXDEV);
}

static const char *kind_of(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO, not a regular file";
	if (S_ISCHR(mode))
		return "a character device, not a regular file";
	if (S_ISBLK(mode))
		return "a block device, not a regular file";
	if (S_ISSOCK(mode))
		return "a socket, not a regular file";
	return "not a regular file";
}

int tfile_open(const char *root, const char *path, struct stat *st)
{
	char full[PATH_MAX], self[64];
	struct stat again;
	int fd, rfd, n;

	n = snprintf(full, sizeof(full), "%s%s", root ? root : "", path);
	if (n < 0 || (size_t)n >= sizeof(full))
		return -ENAMETOOLONG;
	fd = open_path(root, path, full, st);
	if (fd < 0)
		return fd;
	if (S_ISDIR(st->st_mode)) {
		rfd = -EISDIR;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		rfd = refuse(full, kind_of(st->st_mode), -EINVAL);
		goto out;
	}
	if ((uint64_t)st->st_size > TFILE_MAX_BYTES) {
		rfd = refuse(full, "larger than 512 MiB (TFILE_MAX_BYTES)",
			     -EFBIG);
		goto out;
	}
	/* the very file checked above, now for reading */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	rfd = open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (rfd < 0) {
		rfd = -errno;
		goto out;
	}
	if (fstat(rfd, &again) || again.st_dev != st->st_dev ||
	    again.st_ino != st->st_ino) {
		close(rfd);
		rfd = -ESTALE;
	}
out:
	close(fd);
	return rfd;
}
