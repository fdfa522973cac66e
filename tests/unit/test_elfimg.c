// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for user/record/elfimg.c against real files of this machine:
 * Debian 12's stripped /usr/bin/python3.11 (+ python3.11-dbg), a pyenv-built
 * libpython3.11.so.1.0 (skipped when absent), and non-Python ELF files.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "record/elfimg.h"
#include "common/tfile.h"

#define DEB_PY "/usr/bin/python3.11"
#define DEB_BUILD_ID "c561f3aa7232f2bd6ac6d56bd475f1c154a00486"
#define DEB_DEBUG \
	"/usr/lib/debug/.build-id/c5/61f3aa7232f2bd6ac6d56bd475f1c154a00486.debug"
/* .gnu_debuglink of DEB_PY */
#define DEB_LINK "61f3aa7232f2bd6ac6d56bd475f1c154a00486.debug"
/* file offset of "Py_Version" in .dynstr of DEB_PY */
#define DEB_PY_VERSION_STR 72868
#define TMP_PAT "/tmp/test_elfimg.XXXXXX"
#define PYENV "/root/.pyenv/versions/3.11.7"
#define PYENV_LIB PYENV "/lib/libpython3.11.so.1.0"
#define PYENV_BIN PYENV "/bin/python3.11"

static const uint64_t deb_sites[] = { 0x4cead1, 0x4ceb84, 0x4fe25b, 0x57e093,
				      0x58c25d, 0x59813e, 0x6182b3, 0x62d66c };

/*
 * Whether PATH cannot be read; if so, says it on a "[  NEEDS   ]" line
 * before the caller skips: tests/test_unit.py fails a skip whose file is
 * there after all.
 */
static bool missing(const char *path)
{
	if (!access(path, R_OK))
		return false;
	print_message("[  NEEDS   ] %s\n", path);
	return true;
}

/* Open Debian's python3.11; skip unless it is the exact build the values are for. */
static struct elfimg *open_deb(void)
{
	struct elfimg *img;

	if (missing(DEB_PY))
		skip();
	assert_int_equal(elfimg_open(DEB_PY, NULL, &img), 0);
	if (strcmp(elfimg_build_id(img), DEB_BUILD_ID)) {
		elfimg_close(img);
		print_message("[  NEEDS   ] %s build-id %s\n", DEB_PY,
			      DEB_BUILD_ID);
		skip();
	}
	return img;
}

static struct elfimg *open_or_skip(const char *path)
{
	struct elfimg *img;

	if (missing(path))
		skip();
	assert_int_equal(elfimg_open(path, NULL, &img), 0);
	return img;
}

/*
 * Copy the first LEN bytes of SRC (all if 0) to DST, patching byte AT (if >= 0) to
 * VAL. DST ending in "XXXXXX" is made unique with mkstemp().
 */
static void tmp_copy(char *dst, const char *src, size_t len, long at, int val)
{
	size_t left = len ? len : SIZE_MAX;
	char buf[65536];
	ssize_t n;
	int in, out;

	if (strstr(dst, "XXXXXX"))
		out = mkstemp(dst);
	else
		out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	in = open(src, O_RDONLY);
	assert_true(in >= 0 && out >= 0);
	while (left &&
	       (n = read(in, buf, left < sizeof(buf) ? left : sizeof(buf))) >
		       0) {
		assert_int_equal(write(out, buf, n), n);
		left -= n;
	}
	if (at >= 0)
		assert_int_equal(pwrite(out, &(char){ val }, 1, at), 1);
	close(in);
	close(out);
}

/* Compress .symtab and .strtab in place, like some distributions ship debug files. */
static void compress_symtab(const char *path)
{
	size_t shstrndx, done = 0;
	Elf_Scn *scn = NULL;
	const char *name;
	GElf_Shdr sh;
	Elf *elf;
	int fd;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	elf = elf_begin(fd, ELF_C_RDWR, NULL);
	assert_non_null(elf);
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	while ((scn = elf_nextscn(elf, scn))) {
		assert_non_null(gelf_getshdr(scn, &sh));
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (strcmp(name, ".symtab") && strcmp(name, ".strtab"))
			continue;
		assert_int_equal(elf_compress(scn, ELFCOMPRESS_ZLIB, 0), 1);
		done++;
	}
	assert_int_equal(done, 2);
	assert_true(elf_update(elf, ELF_C_WRITE) > 0);
	elf_end(elf);
	close(fd);
}

/* mkdir -p of ROOT/DIR */
static void mkdirs(const char *root, const char *dir)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s%s", root, dir);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void place(const char *root, const char *path, const char *src)
{
	char dst[512], cmd[1200];

	snprintf(dst, sizeof(dst), "%s%s", root, path);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
}

/* Teardown for tests that turn debug files off (runs even when they fail). */
static int clear_env(void **state)
{
	(void)state;
	elfimg_no_debuginfo(false);
	return 0;
}

static void test_deb_basic(void **state)
{
	struct elfimg *img;

	(void)state;
	if (missing(DEB_PY))
		skip();
	assert_int_equal(elfimg_open(DEB_PY, NULL, &img), 0);
	assert_int_equal(strlen(elfimg_build_id(img)), 40);
	assert_int_equal(strspn(elfimg_build_id(img), "0123456789abcdef"), 40);
	assert_false(elfimg_is_dyn(img));
	assert_int_equal(elfimg_base_vaddr(img), 0x400000);
	elfimg_close(img);
}

static void test_deb_debug_symbols(void **state)
{
	struct elfimg *img = open_deb();
	uint64_t va, size;

	(void)state;
	assert_string_equal(elfimg_build_id(img), DEB_BUILD_ID);
	if (missing(DEB_DEBUG)) {
		elfimg_close(img);
		skip();
	}
	assert_non_null(elfimg_debug_path(img));
	assert_string_equal(elfimg_debug_path(img), DEB_DEBUG);
	/* Must resolve to the entry, not take_gil.lto_priv.0.cold at 0x4244c7. */
	assert_int_equal(elfimg_find_symbol(img, "take_gil", &va, &size), 0);
	assert_int_equal(va, 0x4cea20);
	assert_int_equal(size, 812);
	assert_int_equal(
		elfimg_find_symbol(img, "take_gil.lto_priv.0", &va, NULL), 0);
	assert_int_equal(va, 0x4cea20);
	assert_int_equal(elfimg_find_symbol(img, "drop_gil", &va, NULL), 0);
	assert_int_equal(va, 0x618270);
	assert_int_equal(elfimg_find_symbol(img, "take_gi", &va, NULL),
			 -ENOENT);
	assert_int_equal(elfimg_find_symbol(img, "no_such_symbol_xyz", &va,
					    NULL),
			 -ENOENT);
	elfimg_close(img);
}

static void test_deb_dynsym(void **state)
{
	struct elfimg *img = open_deb();
	uint64_t va, size;

	(void)state;
	assert_int_equal(elfimg_find_symbol(img, "_PyRuntime", &va, &size), 0);
	assert_int_equal(va, 0xa56220);
	assert_int_equal(size, 0x28b20);
	assert_int_equal(elfimg_find_symbol(img, "Py_Version", &va, &size), 0);
	assert_int_equal(va, 0x8c9808);
	assert_int_equal(size, 8);
	/* Imported (SHN_UNDEF, value 0) symbols are not definitions. */
	assert_int_equal(elfimg_find_symbol(img, "pthread_cond_signal", &va,
					    NULL),
			 -ENOENT);
	elfimg_close(img);
}

static void test_deb_version(void **state)
{
	struct elfimg *img = open_deb();
	uint8_t raw[8];
	uint32_t hex;
	int major, minor;

	(void)state;
	assert_int_equal(elfimg_python_version(img, &major, &minor, &hex), 0);
	assert_int_equal(major, 3);
	assert_int_equal(minor, 11);
	assert_int_equal(hex, 0x030b02f0);
	assert_int_equal(elfimg_read_vaddr(img, 0x8c9808, raw, sizeof(raw)), 0);
	assert_memory_equal(raw, "\xf0\x02\x0b\x03\0\0\0\0", 8);
	elfimg_close(img);
}

static void test_deb_addresses(void **state)
{
	struct elfimg *img = open_deb();
	uint8_t code[4], buf[16];
	uint64_t off;

	(void)state;
	assert_int_equal(elfimg_vaddr_to_offset(img, 0x4cea20, &off), 0);
	assert_int_equal(off, 0xcea20);
	/* Py_Version is in the read-only, non-executable segment. */
	assert_int_equal(elfimg_vaddr_to_offset(img, 0x8c9808, &off), -ENOENT);
	assert_int_equal(elfimg_vaddr_to_offset(img, 0x10, &off), -ENOENT);
	/* The PLT stub starts with `jmp *disp(%rip)`. */
	assert_int_equal(elfimg_read_vaddr(img, 0x41f460, code, 2), 0);
	assert_memory_equal(code, "\xff\x25", 2);
	/* .bss (past p_filesz of the RW segment) has no file data. */
	assert_int_equal(elfimg_read_vaddr(img, 0xa7ed58 + 0x100, buf, 8),
			 -ENOENT);
	/* Last file-backed bytes work, a read straddling the end does not. */
	assert_int_equal(elfimg_read_vaddr(img, 0xa7ed58 - 8, buf, 8), 0);
	assert_int_equal(elfimg_read_vaddr(img, 0xa7ed58 - 8, buf, 16),
			 -ENOENT);
	elfimg_close(img);
}

static void check_deb_sites(struct elfimg *img)
{
	uint64_t sites[16];
	bool ind[16];
	int i, n;

	n = elfimg_find_call_sites(img, "pthread_cond_signal", sites, ind, 16);
	assert_int_equal(n, 8);
	for (i = 0; i < n; i++) {
		assert_int_equal(sites[i], deb_sites[i]);
		assert_false(ind[i]);
	}
	/* _start calls __libc_start_main through its GOT slot (ff 15). */
	n = elfimg_find_call_sites(img, "__libc_start_main", sites, ind, 16);
	assert_int_equal(n, 1);
	assert_int_equal(sites[0], 0x60a7ab);
	assert_true(ind[0]);
}

static void test_deb_call_sites(void **state)
{
	struct elfimg *img = open_deb();
	uint64_t sites[4] = { 0 };
	int n;

	(void)state;
	check_deb_sites(img);
	/* MAX smaller than the count: returns the count, writes only MAX. */
	n = elfimg_find_call_sites(img, "pthread_cond_signal", sites, NULL, 3);
	assert_int_equal(n, 8);
	assert_int_equal(sites[2], deb_sites[2]);
	assert_int_equal(sites[3], 0);
	assert_int_equal(
		elfimg_find_call_sites(img, "no_such_func", sites, NULL, 4), 0);
	elfimg_close(img);
}

static void test_deb_no_debuginfo(void **state)
{
	struct elfimg *img;
	uint64_t va;

	(void)state;
	elfimg_no_debuginfo(true);
	img = open_deb();
	elfimg_no_debuginfo(false);
	assert_null(elfimg_debug_path(img));
	assert_int_equal(elfimg_find_symbol(img, "take_gil", &va, NULL),
			 -ENOENT);
	assert_int_equal(elfimg_find_symbol(img, "_PyRuntime", &va, NULL), 0);
	assert_int_equal(va, 0xa56220);
	/* Without symbols to filter with, the byte scan still finds exactly these. */
	check_deb_sites(img);
	elfimg_close(img);
}

static void test_deb_needed(void **state)
{
	struct elfimg *img = open_deb();
	const char *needed[16], *runpath = "x";
	bool libc = false;
	int i, n;

	(void)state;
	n = elfimg_needed(img, needed, 16, &runpath);
	assert_true(n >= 1);
	for (i = 0; i < n; i++)
		libc |= !strcmp(needed[i], "libc.so.6");
	assert_true(libc);
	assert_null(runpath);
	assert_int_equal(elfimg_needed(img, needed, 1, NULL), 1);
	elfimg_close(img);
}

static void test_root_prefix(void **state)
{
	struct elfimg *img;
	uint64_t va;

	(void)state;
	if (missing(DEB_PY) || missing(DEB_DEBUG))
		skip();
	assert_int_equal(elfimg_open(DEB_PY, "/proc/self/root", &img), 0);
	assert_string_equal(elfimg_debug_path(img), DEB_DEBUG);
	assert_int_equal(elfimg_find_symbol(img, "take_gil", &va, NULL), 0);
	elfimg_close(img);
	assert_int_equal(elfimg_open(DEB_PY, "/nonexistent-root", &img),
			 -ENOENT);
	assert_null(img);
}

/*
 * Fake root: a wrong-build debug file at the build-id path must be rejected, and the
 * right one (with compressed .symtab) found through .gnu_debuglink.
 */
static void test_debuglink_compressed(void **state)
{
	char root[] = "/tmp/test_elfimg_root.XXXXXX", cmd[512];
	struct elfimg *img;
	char dbg[256];
	uint64_t va;

	(void)state;
	if (missing(DEB_DEBUG) || missing("/bin/ls"))
		skip();
	elfimg_close(open_deb());
	assert_non_null(mkdtemp(root));
	mkdirs(root, "/usr/bin");
	mkdirs(root, "/usr/lib/debug/.build-id/c5");
	mkdirs(root, "/usr/lib/debug/usr/bin");
	place(root, DEB_PY, DEB_PY);
	place(root, DEB_DEBUG, "/bin/ls");
	snprintf(dbg, sizeof(dbg), "/usr/lib/debug/usr/bin/%s", DEB_LINK);
	place(root, dbg, DEB_DEBUG);
	snprintf(cmd, sizeof(cmd), "%s%s", root, dbg);
	compress_symtab(cmd);

	assert_int_equal(elfimg_open(DEB_PY, root, &img), 0);
	assert_non_null(elfimg_debug_path(img));
	assert_string_equal(elfimg_debug_path(img), dbg);
	assert_int_equal(elfimg_find_symbol(img, "take_gil", &va, NULL), 0);
	assert_int_equal(va, 0x4cea20);
	check_deb_sites(img);
	elfimg_close(img);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
}

static void test_pyenv_lib(void **state)
{
	struct elfimg *img = open_or_skip(PYENV_LIB);
	uint64_t va, sites[8];
	uint32_t hex;
	int major, minor;

	(void)state;
	assert_true(elfimg_is_dyn(img));
	assert_int_equal(elfimg_base_vaddr(img), 0);
	/* Has its own .symtab: no debug file needed. */
	assert_null(elfimg_debug_path(img));
	assert_int_equal(elfimg_find_symbol(img, "take_gil", &va, NULL), 0);
	assert_int_equal(va, 0x24f7b0);
	assert_int_equal(elfimg_find_symbol(img, "drop_gil", &va, NULL), 0);
	assert_int_equal(va, 0x24f3e0);
	assert_int_equal(elfimg_find_call_sites(img, "pthread_cond_signal",
						sites, NULL, 8),
			 2);
	assert_int_equal(sites[0], 0x24f42a);
	assert_int_equal(sites[1], 0x24f914);
	assert_int_equal(elfimg_python_version(img, &major, &minor, &hex), 0);
	assert_int_equal(major, 3);
	assert_int_equal(minor, 11);
	assert_int_equal(hex >> 16, 0x030b);
	elfimg_close(img);
}

static void test_pyenv_bin(void **state)
{
	struct elfimg *img = open_or_skip(PYENV_BIN);
	const char *needed[8], *runpath = NULL;
	int major, minor, n;

	(void)state;
	n = elfimg_needed(img, needed, 8, &runpath);
	assert_true(n >= 1);
	assert_string_equal(needed[0], "libpython3.11.so.1.0");
	assert_non_null(runpath);
	assert_string_equal(runpath, PYENV "/lib");
	/* The launcher only imports _PyRuntime; the interpreter is libpython. */
	assert_int_equal(elfimg_python_version(img, &major, &minor, NULL),
			 -ENOENT);
	elfimg_close(img);
}

static void test_not_python(void **state)
{
	static const char *const files[] = {
		"/bin/ls", "/usr/lib/x86_64-linux-gnu/libc.so.6"
	};
	struct elfimg *img;
	uint64_t va;
	int major, minor;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (access(files[i], R_OK))
			continue;
		assert_int_equal(elfimg_open(files[i], "", &img), 0);
		assert_true(elfimg_is_dyn(img));
		assert_int_equal(elfimg_python_version(img, &major, &minor,
						       NULL),
				 -ENOENT);
		assert_int_equal(elfimg_find_symbol(img, "_PyRuntime", &va,
						    NULL),
				 -ENOENT);
		elfimg_close(img);
	}
	img = open_or_skip("/usr/lib/x86_64-linux-gnu/libc.so.6");
	/* Versioned dynsym names compare on the part before '@'. */
	assert_int_equal(
		elfimg_find_symbol(img, "pthread_cond_signal", &va, NULL), 0);
	assert_true(va != 0);
	elfimg_close(img);
}

static void test_bad_files(void **state)
{
	/* truncated copies: inside the header, phdrs, data, and the section headers */
	size_t cuts[] = { 1, 100, 4096, 0x300000, 0 }, i;
	struct elfimg *img = (struct elfimg *)1;
	char name[sizeof(TMP_PAT)];
	struct stat st;

	(void)state;
	assert_int_equal(elfimg_open("/nonexistent/python3.11", NULL, &img),
			 -ENOENT);
	assert_null(img);
	assert_int_equal(elfimg_open("/etc/passwd", NULL, &img), -ENOEXEC);
	/* a device is never opened for reading (tfile.h) */
	tfile_quiet(true);
	assert_int_equal(elfimg_open("/dev/null", NULL, &img), -EINVAL);
	tfile_quiet(false);
	assert_int_equal(elfimg_open("/tmp", NULL, &img), -EISDIR);
	if (access(DEB_PY, R_OK))
		return;
	assert_int_equal(stat(DEB_PY, &st), 0);
	cuts[4] = st.st_size - 1;
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		strcpy(name, TMP_PAT);
		tmp_copy(name, DEB_PY, cuts[i], -1, 0);
		assert_int_equal(elfimg_open(name, NULL, &img), -ENOEXEC);
		unlink(name);
	}
	/* An intact copy elsewhere still finds the debug file by build-id. */
	strcpy(name, TMP_PAT);
	tmp_copy(name, DEB_PY, 0, -1, 0);
	assert_int_equal(elfimg_open(name, NULL, &img), 0);
	if (!access(DEB_DEBUG, R_OK))
		assert_non_null(elfimg_debug_path(img));
	elfimg_close(img);
	unlink(name);
	/* e_machine = EM_AARCH64 (183) */
	strcpy(name, TMP_PAT);
	tmp_copy(name, DEB_PY, 0, 18, 183);
	assert_int_equal(elfimg_open(name, NULL, &img), -ENOEXEC);
	unlink(name);
	/* e_ident[EI_CLASS] = ELFCLASS32 */
	strcpy(name, TMP_PAT);
	tmp_copy(name, DEB_PY, 0, 4, 1);
	assert_int_equal(elfimg_open(name, NULL, &img), -ENOEXEC);
	unlink(name);
}

/*
 * Without Py_Version (renamed in .dynstr of a copy; debug symbols off) the version
 * comes from the file name, with hex 0; an unhelpful name gives -ENODATA.
 */
static void test_version_from_name(void **state)
{
	char dir[] = "/tmp/test_elfimg_ver.XXXXXX", path[64];
	struct elfimg *img = open_deb();
	int major = 0, minor = 0;
	uint32_t hex = 1;

	(void)state;
	elfimg_close(img);
	assert_non_null(mkdtemp(dir));
	elfimg_no_debuginfo(true);
	snprintf(path, sizeof(path), "%s/libpython3.9d.so.1.0", dir);
	tmp_copy(path, DEB_PY, 0, DEB_PY_VERSION_STR + 9, 'x');
	assert_int_equal(elfimg_open(path, NULL, &img), 0);
	assert_int_equal(elfimg_python_version(img, &major, &minor, &hex), 0);
	assert_int_equal(major, 3);
	assert_int_equal(minor, 9);
	assert_int_equal(hex, 0);
	elfimg_close(img);
	unlink(path);
	snprintf(path, sizeof(path), "%s/interp", dir);
	tmp_copy(path, DEB_PY, 0, DEB_PY_VERSION_STR + 9, 'x');
	assert_int_equal(elfimg_open(path, NULL, &img), 0);
	assert_int_equal(elfimg_python_version(img, &major, &minor, &hex),
			 -ENODATA);
	elfimg_close(img);
	unlink(path);
	elfimg_no_debuginfo(false);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deb_basic),
		cmocka_unit_test(test_deb_debug_symbols),
		cmocka_unit_test(test_deb_dynsym),
		cmocka_unit_test(test_deb_version),
		cmocka_unit_test(test_deb_addresses),
		cmocka_unit_test(test_deb_call_sites),
		cmocka_unit_test_teardown(test_deb_no_debuginfo, clear_env),
		cmocka_unit_test(test_deb_needed),
		cmocka_unit_test(test_root_prefix),
		cmocka_unit_test(test_debuglink_compressed),
		cmocka_unit_test(test_pyenv_lib),
		cmocka_unit_test(test_pyenv_bin),
		cmocka_unit_test(test_not_python),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test_teardown(test_version_from_name, clear_env),
	};

	/* The tests that want debug info off turn it off themselves. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
