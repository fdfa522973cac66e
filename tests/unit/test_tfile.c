// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for user/common/tfile.c: opening files the traced program controls,
 * in a directory that stands for /proc/PID/root.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "record/elfimg.h"
#include "common/tfile.h"

static char root[64], outside[128];

static void at(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s%s", root, rel);
}

static int setup(void **state)
{
	char p[256];
	int fd;

	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_tfile.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	at(p, sizeof(p), "/bin");
	mkdir(p, 0755);
	at(p, sizeof(p), "/bin/python3.11");
	fd = open(p, O_WRONLY | O_CREAT, 0755);
	if (fd < 0 || write(fd, "inside", 6) != 6)
		return -1;
	close(fd);
	/* a file of ours outside ROOT */
	snprintf(outside, sizeof(outside), "%s.outside", root);
	fd = open(outside, O_WRONLY | O_CREAT, 0600);
	if (fd < 0 || write(fd, "secret", 6) != 6)
		return -1;
	close(fd);
	tfile_quiet(true);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", root, outside);
	return system(cmd) ? -1 : 0;
}

static void read_is(int fd, const char *want)
{
	char buf[16] = "";

	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf) - 1), strlen(want));
	assert_string_equal(buf, want);
	close(fd);
}

static void test_regular_file(void **state)
{
	struct stat st;

	(void)state;
	read_is(tfile_open(root, "/bin/python3.11", &st), "inside");
	assert_int_equal(st.st_size, 6);
	assert_int_equal(tfile_open(root, "/bin/none", &st), -ENOENT);
	assert_int_equal(tfile_open(root, "/bin", &st), -EISDIR);
	/* no root: the path as it is */
	read_is(tfile_open(NULL, outside, &st), "secret");
}

/* A relative link inside the root is followed; an absolute one only when a
 * plain walk (a uprobe attached by path) reaches the same file. */
static void test_links_inside_root(void **state)
{
	char p[256];
	struct stat st;

	(void)state;
	at(p, sizeof(p), "/bin/python3");
	assert_int_equal(symlink("python3.11", p), 0);
	read_is(tfile_open(root, "/bin/python3", &st), "inside");
	at(p, sizeof(p), "/usr");
	assert_int_equal(symlink("/bin", p), 0);
	/* "/bin" inside the root is ROOT/bin, on a plain walk the host's */
	assert_int_equal(tfile_open(root, "/usr/python3.11", &st), -EXDEV);
}

/* A link that a plain walk resolves outside the root is refused, whether
 * or not the root has a file at the same place. */
static void test_links_escaping_root(void **state)
{
	char p[256], rel[256];
	struct stat st;

	(void)state;
	at(p, sizeof(p), "/bin/abs");
	assert_int_equal(symlink(outside, p), 0);
	assert_int_equal(tfile_open(root, "/bin/abs", &st), -EXDEV);
	/* ../.. climbs out of ROOT on a plain walk, stays at ROOT inside */
	snprintf(rel, sizeof(rel), "../../../../../../../%s", outside);
	at(p, sizeof(p), "/bin/rel");
	assert_int_equal(symlink(rel, p), 0);
	assert_int_equal(tfile_open(root, "/bin/rel", &st), -EXDEV);
	assert_int_equal(tfile_open(root, "/../../../../../../../../etc/passwd",
				    &st),
			 -EXDEV);
}

static void test_special_files(void **state)
{
	char p[256];
	struct stat st;
	int fd;

	(void)state;
	at(p, sizeof(p), "/bin/fifo");
	assert_int_equal(mkfifo(p, 0600), 0);
	/* never opened for reading: an open would block, with no writer */
	assert_int_equal(tfile_open(root, "/bin/fifo", &st), -EINVAL);
	at(p, sizeof(p), "/bin/zero");
	assert_int_equal(mknod(p, S_IFCHR | 0600, makedev(1, 5)), 0);
	assert_int_equal(tfile_open(root, "/bin/zero", &st), -EINVAL);
	assert_int_equal(tfile_open(NULL, "/dev/zero", &st), -EINVAL);
	at(p, sizeof(p), "/bin/huge");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, TFILE_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(tfile_open(root, "/bin/huge", &st), -EFBIG);
	/* the same through elfimg: refused, not read */
	assert_int_equal(elfimg_open("/bin/huge", root,
				     &(struct elfimg *){ 0 }),
			 -EFBIG);
	assert_int_equal(elfimg_open("/bin/fifo", root,
				     &(struct elfimg *){ 0 }),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regular_file),
		cmocka_unit_test(test_links_inside_root),
		cmocka_unit_test(test_links_escaping_root),
		cmocka_unit_test(test_special_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
