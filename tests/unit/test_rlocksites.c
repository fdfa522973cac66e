// SPDX-License-Identifier: GPL-2.0
/*
 * Where a C threading.RLock waits (user/record/rlocksites.c), in Debian's
 * own interpreters: this machine's python3.11 and those of the chroots
 * scripts/chroots.sh caches (each test skipped, saying so, without its
 * file of that build). The sites were read in each build's disassembly:
 * the `call PyThread_acquire_lock_timed` right after `call
 * PyEval_SaveThread` in rlock_acquire (3.9-3.13), the call to
 * _PyParkingLot_Park's LTO copy (3.14, 3.15: in acquire and __enter__).
 * Found without symbols, the same with the debug file, and inside the
 * functions its symbols name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "record/elfimg.h"
#include "record/rlocksites.h"

#define CHROOTS "/var/cache/gilscope/chroots"
#define MAX 8

struct build {
	const char *root; /* "" for this machine's */
	const char *path; /* inside ROOT */
	const char *build_id;
	int n;
	uint64_t sites[2];
};

static const struct build py311 = { "",
				    "/usr/bin/python3.11",
				    "c561f3aa7232f2bd6ac6d56bd475f1c154a00486",
				    1,
				    { 0x5bf849 } };
static const struct build py39 = { CHROOTS "/bullseye",
				   "/usr/bin/python3.9",
				   "f902f8a561c3abdb9c8d8c859d4243bd8c3f928f",
				   1,
				   { 0x647cb0 } };
static const struct build py313_trixie = {
	CHROOTS "/trixie",
	"/usr/bin/python3.13",
	"7e8d5f6d0cd6cd1e9bff2a775c11d398cecca758",
	1,
	{ 0x5d0366 }
};
static const struct build py313_sid = {
	CHROOTS "/sid",
	"/usr/bin/python3.13",
	"f9de766c3a031e0782095d175ff04e394a2744d2",
	1,
	{ 0x64287c }
};
static const struct build py314 = { CHROOTS "/sid",
				    "/usr/bin/python3.14",
				    "cccda113240f3ba4c016991793a62dc0cfe01613",
				    1,
				    { 0x63245a } };
/* acquire, then __enter__ (a function of its own since 3.15) */
static const struct build py315 = { CHROOTS "/sid",
				    "/usr/bin/python3.15",
				    "d41ac9e28ff414f10df5da23fb051683a7b4adcf",
				    2,
				    { 0x808b02, 0x679537 } };
/* built without LTO: rlock_acquire calls _PyMutex_LockTimed, which takes
 * a free lock too (a probe there would fire at every acquire): none */
static const struct build libpy314 = {
	CHROOTS "/sid",
	"/usr/lib/x86_64-linux-gnu/libpython3.14.so.1.0",
	"4f93ed59248fde6a4c136b9bb1cf3c1e6885e384",
	0,
	{ 0 }
};

static const char *const rlock_functions[] = { "rlock_acquire",
					       "_thread_RLock_acquire",
					       "_thread_RLock___enter__" };

/* B's file, or a skip that says what this machine lacks
 * (tests/test_unit.py checks the need is not met after all). */
static struct elfimg *open_build(const struct build *b, bool debuginfo)
{
	struct elfimg *img;
	char full[512];

	snprintf(full, sizeof(full), "%s%s", b->root, b->path);
	elfimg_no_debuginfo(!debuginfo);
	if (access(full, R_OK) || elfimg_open(b->path, b->root, &img)) {
		print_message("[  NEEDS   ] %s build-id %s\n", full,
			      b->build_id);
		skip();
	}
	if (strcmp(elfimg_build_id(img), b->build_id)) {
		elfimg_close(img);
		print_message("[  NEEDS   ] %s build-id %s\n", full,
			      b->build_id);
		skip();
	}
	return img;
}

static bool in_rlock_function(const struct elfimg *img, uint64_t site)
{
	for (size_t i = 0; i < sizeof(rlock_functions) / sizeof(char *); i++) {
		uint64_t v, size;

		if (!elfimg_find_symbol(img, rlock_functions[i], &v, &size) &&
		    site >= v && site < v + size)
			return true;
	}
	return false;
}

static void check_build(void **state)
{
	const struct build *b = *state;

	for (int debuginfo = 0; debuginfo < 2; debuginfo++) {
		struct elfimg *img = open_build(b, debuginfo);
		uint64_t sites[MAX];
		int n = rlocksites_find(img, sites, MAX);

		assert_int_equal(n, b->n);
		for (int i = 0; i < n; i++) {
			assert_int_equal(sites[i], b->sites[i]);
			if (elfimg_debug_path(img))
				assert_true(in_rlock_function(img, sites[i]));
		}
		elfimg_close(img);
	}
	elfimg_no_debuginfo(false);
}

/* The data search under it: the type's name, and the one pointer to it
 * (the PyType_Spec's name), in the stripped python3.11. */
static void test_type_name_and_its_pointer(void **state)
{
	struct elfimg *img = open_build(&py311, false);
	uint64_t at[MAX];

	(void)state;
	assert_int_equal(elfimg_find_string(img, "_thread.RLock", at, MAX), 1);
	assert_int_equal(at[0], 0x73e3ca);
	assert_int_equal(elfimg_find_pointers(img, 0x73e3ca, at, MAX), 1);
	assert_int_equal(at[0], 0xa37ce0);
	assert_int_equal(
		elfimg_find_string(img, "no such string here", at, MAX), 0);
	elfimg_close(img);
	elfimg_no_debuginfo(false);
}

/* one test per build, named after it */
#define BUILD_TEST(label, b)                             \
	{                                                \
		.name = label, .test_func = check_build, \
		.initial_state = (void *)&(b),           \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BUILD_TEST("rlock_sites_python3.11", py311),
		BUILD_TEST("rlock_sites_python3.9", py39),
		BUILD_TEST("rlock_sites_trixie_python3.13", py313_trixie),
		BUILD_TEST("rlock_sites_sid_python3.13", py313_sid),
		BUILD_TEST("rlock_sites_python3.14", py314),
		BUILD_TEST("rlock_sites_python3.15", py315),
		BUILD_TEST("rlock_sites_libpython3.14", libpy314),
		cmocka_unit_test(test_type_name_and_its_pointer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
