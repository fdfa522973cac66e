// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: an interpreter's ELF file, and its debug file, through
 * everything gilscope reads of them.
 *
 * An input is MAIN [ "GSFZDBG1" DEBUG ]. MAIN is written as
 * ROOT/usr/bin/python3.11 and DEBUG where the build-id of MAIN says
 * (ROOT/usr/lib/debug/.build-id/xx/yyyy.debug), ROOT being a directory in
 * /dev/shm that stands for /proc/PID/root. Then, as `gilscope record` does:
 * interp_parse() (user/record/interp.c: elfimg_open with the debug-file lookup,
 * the version, _PyRuntime, take_gil, the call sites of pthread_cond_signal
 * and sem_*, the hand-off and lock-result matchers), and every other query
 * of user/record/elfimg.c (symbols, addresses, DT_NEEDED, call sites of each
 * import), and the native symbol table that user/record/symbolize.c builds for
 * stacks. The seeds (tests/fuzz/corpus-elf, tests/fuzz/make_elf_corpus.py)
 * are Debian's interpreters cut down to the parts gilscope reads.
 *
 *   make fuzz FUZZ_TARGETS=elf
 *   build/fuzz/fuzz_elf FILE              (replay one input)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz_util.h"
#include "common/tfile.h"
/* the static functions of these two are what is fuzzed */
#include "../../user/record/interp.c"
#include "../../user/record/symbolize.c"

#define MARKER "GSFZDBG1"
#define MAIN_PATH "/usr/bin/python3.11"

static char root[128], main_file[256], debug_file[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	tfile_quiet(true);
	snprintf(root, sizeof(root), "/dev/shm/gilscope-fuzz-elf-%d", getpid());
	snprintf(main_file, sizeof(main_file), "%s%s", root, MAIN_PATH);
	fuzz_rm_tree_at_exit(root);
	if (fuzz_mkdirs(root, "/usr/bin") ||
	    fuzz_mkdirs(root, "/usr/lib/debug/.build-id")) {
		perror(root);
		exit(1);
	}
	if (elf_version(EV_CURRENT) == EV_NONE)
		exit(1);
	return 0;
}

/* The debug file goes where the build-id of the main file sends it. */
static void place_debug(const uint8_t *data, size_t size)
{
	char dir[384];
	struct elfimg *img;
	const char *bid;

	elfimg_no_debuginfo(true);
	if (elfimg_open(MAIN_PATH, root, &img)) {
		elfimg_no_debuginfo(false);
		return;
	}
	elfimg_no_debuginfo(false);
	bid = elfimg_build_id(img);
	if (strlen(bid) >= 4) {
		snprintf(dir, sizeof(dir), "%s/usr/lib/debug/.build-id/%.2s",
			 root, bid);
		mkdir(dir, 0755);
		snprintf(debug_file, sizeof(debug_file), "%s/%s.debug", dir,
			 bid + 2);
		fuzz_write_file(debug_file, data, size);
	}
	elfimg_close(img);
}

static void query_image(void)
{
	static const char *const names[] = {
		"_PyRuntime",	   "Py_Version",	  "take_gil",
		"drop_gil",	   "pthread_cond_signal", "sem_wait",
		"_Py_DebugOffsets"
	};
	static const char *const imports[] = { "pthread_cond_signal",
					       "sem_wait", "sem_post",
					       "sem_timedwait" };
	uint64_t sites[8], va, size, off;
	const char *needed[8], *runpath;
	unsigned char buf[64];
	struct elfimg *img;
	bool indirect[8];
	int major, minor;
	uint32_t hex;

	if (elfimg_open(MAIN_PATH, root, &img))
		return;
	fuzz_use(elfimg_build_id(img), 1);
	if (elfimg_debug_path(img))
		fuzz_use(elfimg_debug_path(img), 1);
	va = elfimg_base_vaddr(img) + elfimg_is_dyn(img);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (elfimg_find_symbol(img, names[i], &va, &size))
			continue;
		elfimg_vaddr_to_offset(img, va, &off);
		elfimg_read_vaddr(img, va, buf, size < 64 ? size : 64);
	}
	for (size_t i = 0; i < sizeof(imports) / sizeof(imports[0]); i++)
		elfimg_find_call_sites(img, imports[i], sites, indirect, 8);
	elfimg_needed(img, needed, 8, &runpath);
	elfimg_python_version(img, &major, &minor, &hex);
	elfimg_close(img);
}

/* symbolize.c's table of native symbols for the file, and a few lookups */
static void native_symbols(void)
{
	struct module *m;
	struct stat st;

	if (stat(main_file, &st))
		return;
	m = load_module(MAIN_PATH, root, &st);
	if (!m)
		return;
	for (size_t i = 0; i < m->n_syms && i < 4; i++)
		find_sym(m, m->syms[i].addr + m->syms[i].size / 2);
	find_sym(m, 0x401000);
	module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *dbg = fuzz_memmem_last(data, size, MARKER, 8);
	size_t main_size = dbg ? (size_t)(dbg - data) : size;
	char err[512];
	struct interp in;

	if (fuzz_write_file(main_file, data, main_size))
		return 0;
	debug_file[0] = '\0';
	if (dbg)
		place_debug(dbg + 8, size - main_size - 8);
	if (!interp_parse(MAIN_PATH, root, &in, err, sizeof(err)) &&
	    getenv("FUZZ_ELF_VERBOSE"))
		printf("python %s %s take_gil %#lx, %d signal sites, %d lock sites, %d post sites\n",
		       in.version, in.method, (unsigned long)in.take_gil_vaddr,
		       in.n_sites, in.n_lock_sites, in.n_post_sites);
	query_image();
	native_symbols();
	if (debug_file[0])
		unlink(debug_file);
	return 0;
}
