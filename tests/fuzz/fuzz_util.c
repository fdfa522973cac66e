// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_util.h"

static char tree[256];

int fuzz_mkdirs(const char *root, const char *sub)
{
	char path[512];
	size_t n = strlen(root);

	snprintf(path, sizeof(path), "%s%s", root, sub);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/' || (size_t)(p - path) < n)
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(path, 0755) && errno != EEXIST ? -1 : 0;
}

int fuzz_write_file(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;

	if (fd < 0)
		return -1;
	while (done < size) {
		ssize_t n = write(fd, (const char *)data + done, size - done);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += n;
	}
	return close(fd);
}

static void rm_tree(void)
{
	char cmd[300];

	if (tree[0] && strstr(tree, "/dev/shm/gilscope-fuzz-") == tree) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", tree);
	}
}

void fuzz_rm_tree_at_exit(const char *dir)
{
	snprintf(tree, sizeof(tree), "%s", dir);
	atexit(rm_tree);
}

const uint8_t *fuzz_memmem_last(const uint8_t *data, size_t size,
				const void *needle, size_t n)
{
	const uint8_t *last = NULL, *p = data;
	size_t left = size;

	while (left >= n) {
		const uint8_t *hit = memmem(p, left, needle, n);

		if (!hit)
			break;
		last = hit;
		left -= hit + 1 - p;
		p = hit + 1;
	}
	return last;
}

void fuzz_use(const void *p, size_t len)
{
	static volatile uint8_t sink;
	uint8_t x = sink;

	for (size_t i = 0; i < len; i++)
		x ^= ((const uint8_t *)p)[i];
	sink = x;
}
