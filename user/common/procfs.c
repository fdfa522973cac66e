// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/procfs.h"

/* Alive: it exists and is not a zombie waiting to be reaped. */
bool proc_exists(pid_t pid)
{
	char state = proc_thread_state(pid, pid);

	return state && state != 'Z' && state != 'X';
}

static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

void proc_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = read_file(path, buf, len - 1);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
}

/* /proc/PID/NAME's link target into BUF: its length, or -errno */
static int proc_link(pid_t pid, const char *name, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	n = readlink(path, buf, len - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

int proc_exe(pid_t pid, char *buf, size_t len)
{
	int n = proc_link(pid, "exe", buf, len);

	return n < 0 ? n : 0;
}

/* Target of /proc/PID/root: the process's root directory as we see it
 * ("/" for one in ours); returns its length or -errno. */
static int proc_root(pid_t pid, char *buf, size_t len)
{
	return proc_link(pid, "root", buf, len);
}

char proc_thread_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* the state follows the last ')' (comm may hold parentheses) */
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int proc_thread_syscall(pid_t pid, pid_t tid, uint64_t *arg0, uint64_t *arg1)
{
	char path[64], buf[256];
	long long nr;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", pid, tid);
	n = read_file(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "running", or "nr arg0 arg1 ..." in hex after the number */
	if (sscanf(buf, "%lld 0x%" SCNx64 " 0x%" SCNx64, &nr, arg0, arg1) != 3)
		return -1;
	return nr >= 0 ? (int)nr : -1;
}

void proc_thread_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	n = read_file(path, buf, len - 1);
	if (n < 0)
		n = 0;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
}

/* The numeric entries of directory PATH (ids), at most MAX. */
static int list_ids(const char *path, pid_t *ids, int max)
{
	struct dirent *d;
	DIR *dir;
	int n = 0;

	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)) && n < max) {
		int id = atoi(d->d_name);

		if (id > 0)
			ids[n++] = id;
	}
	closedir(dir);
	return n;
}

const char *proc_path_in_root(pid_t pid, const char *path)
{
	char root[4096];
	int n = proc_root(pid, root, sizeof(root));

	if (n <= 1) /* "/", or unreadable */
		return path;
	if (strncmp(path, root, n) || path[n] != '/')
		return path;
	return path + n;
}

int proc_threads(pid_t pid, pid_t *tids, int max)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	return list_ids(path, tids, max);
}

int proc_pids(pid_t *pids, int max)
{
	return list_ids("/proc", pids, max);
}

int proc_read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)addr);
	close(fd);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int proc_each_file_mapping(pid_t pid,
			   int (*fn)(const struct proc_mapping *m, void *ctx),
			   void *ctx)
{
	struct proc_mapping m;
	char path[64], line[4600];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		char perms[8];
		int pos = 0;

		if (sscanf(line,
			   "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*s %n",
			   &m.start, &m.end, perms, &m.offset, &pos) < 4 ||
		    !pos || line[pos] != '/' || m.offset != 0)
			continue;
		snprintf(m.path, sizeof(m.path), "%s", line + pos);
		m.path[strcspn(m.path, "\n")] = '\0';
		ret = fn(&m, ctx);
	}
	fclose(f);
	return ret;
}
