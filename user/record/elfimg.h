/* SPDX-License-Identifier: GPL-2.0 */
/*
 * elfimg - static inspection of an ELF image (Python interpreter or libpython):
 * symbols (with separate debug-file lookup), PLT call sites, DT_NEEDED and the
 * Python version, without running the file.
 */
#ifndef GILSCOPE_ELFIMG_H
#define GILSCOPE_ELFIMG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct elfimg; /* opaque */

/*
 * Open PATH. ROOT is a prefix for every path we open (e.g. "/proc/1234/root" for a
 * process in another mount namespace) or NULL/"" for none; it applies to PATH and to
 * the debug-file lookup. Every file is opened with tfile_open() (symbolic links
 * resolved inside ROOT, regular files of at most TFILE_MAX_BYTES only). Returns 0
 * or -errno (-ENOENT missing, -ENOEXEC not an ELF / not x86-64 ELF64 / truncated,
 * or what tfile_open() refuses). A file under a ROOT (the traced program's) that
 * is refused or not a whole ELF file is said in one line (tfile_skipped()).
 */
int elfimg_open(const char *path, const char *root, struct elfimg **out);
/* Look for no debug files at all (`record --no-debuginfo`, or
 * GILSCOPE_NO_DEBUGINFO=1: record.c reads the environment). */
void elfimg_no_debuginfo(bool off);
void elfimg_close(struct elfimg *img);

/* Build-id in lowercase hex, "" if none. */
const char *elfimg_build_id(const struct elfimg *img);
/* Debug file used for symbols (without root), NULL if none. */
const char *elfimg_debug_path(const struct elfimg *img);
/* The same as opened from here (with the root it was found in). */
const char *elfimg_debug_file(const struct elfimg *img);
/* ET_DYN (PIE or shared object). */
bool elfimg_is_dyn(const struct elfimg *img);
/*
 * Lowest p_vaddr of PT_LOAD segments, page-aligned down (for computing a load bias
 * from /proc/PID/maps).
 */
uint64_t elfimg_base_vaddr(const struct elfimg *img);

/*
 * Find a function or object symbol by NAME. Search order: the file's .symtab, then
 * the debug file's .symtab, then .dynsym. Accept the exact name, or NAME followed by
 * a compiler suffix that starts with '.' (e.g. "take_gil.lto_priv.0"), but never a
 * ".cold" part. For versioned names ("pthread_cond_signal@@GLIBC_2.3.2") compare the
 * part before '@'. Symbols with st_value 0 or SHN_UNDEF are ignored. If several
 * match, prefer the exact name, then the largest size. Returns 0 and fills *vaddr and
 * *size (size may be NULL), or -ENOENT.
 */
int elfimg_find_symbol(const struct elfimg *img, const char *name,
		       uint64_t *vaddr, uint64_t *size);

/*
 * Translate a virtual address to a file offset through the executable PT_LOAD that
 * contains it (off = vaddr - p_vaddr + p_offset). Returns 0 or -ENOENT.
 */
int elfimg_vaddr_to_offset(const struct elfimg *img, uint64_t vaddr,
			   uint64_t *off);

/*
 * Read LEN bytes at virtual address VADDR from the file image. Returns 0, or -ENOENT
 * if the range is not backed by file data (e.g. .bss), or -errno on I/O error.
 */
int elfimg_read_vaddr(const struct elfimg *img, uint64_t vaddr, void *buf,
		      size_t len);

/*
 * All call sites in executable sections that call imported function FUNC: `call
 * rel32` to FUNC's PLT stub, and `call *disp(%rip)` through FUNC's GOT slot. Writes
 * up to MAX call-instruction addresses to SITES (sorted ascending) and sets
 * is_indirect[i] (may be NULL) for ff 15 sites. Returns the number found (may exceed
 * MAX), or -errno. When .symtab (own or debug) has function symbols, only sites
 * inside a function symbol are kept.
 */
int elfimg_find_call_sites(const struct elfimg *img, const char *func,
			   uint64_t *sites, bool *is_indirect, int max);

/* The same for calls to any of FUNCS[0..NFUNCS), in one scan. */
int elfimg_find_calls_any(const struct elfimg *img, const char *const *funcs,
			  int nfuncs, uint64_t *sites, bool *is_indirect,
			  int max);

/*
 * Every `call rel32` in executable sections whose target is TARGET (a local
 * function, found by other means than symbols): up to MAX call-instruction
 * addresses into SITES, sorted. Returns the number found (may exceed MAX),
 * or -errno.
 */
int elfimg_find_calls_to(const struct elfimg *img, uint64_t target,
			 uint64_t *sites, int max);

/*
 * Where the NUL-terminated string S lies in the file's read-only data
 * (allocated sections that are neither writable nor code), also as the
 * tail of a longer string: up to MAX virtual addresses into VADDRS, in
 * section order. Returns the number found (may exceed MAX).
 */
int elfimg_find_string(const struct elfimg *img, const char *s,
		       uint64_t *vaddrs, int max);

/*
 * The 8-byte aligned slots of the file's writable data (.data,
 * .data.rel.ro ...) that hold VALUE, as the file holds them: up to MAX
 * virtual addresses into VADDRS. Returns the number found (may exceed
 * MAX).
 */
int elfimg_find_pointers(const struct elfimg *img, uint64_t value,
			 uint64_t *vaddrs, int max);

/* The virtual address of the unwind table index (PT_GNU_EH_FRAME): 0 or
 * -ENOENT. */
int elfimg_eh_frame_hdr(const struct elfimg *img, uint64_t *vaddr);

/*
 * DT_NEEDED entries and the DT_RUNPATH (else DT_RPATH) string, NULL if none; RUNPATH
 * may be NULL. Pointers live as long as IMG. Returns the number of DT_NEEDED entries
 * written (up to MAX).
 */
int elfimg_needed(const struct elfimg *img, const char **needed, int max,
		  const char **runpath);

/*
 * Python version from the exported `Py_Version` object (3.11+), else from the file
 * name ("python3.10", "libpython3.9.so.1.0", "python3.12d"; symlinks are not
 * followed: pass the resolved path, e.g. the target of /proc/PID/exe).
 * Returns 0 and fills major, minor and *hex (0 if unknown; hex may be NULL), -ENOENT
 * when the file is not a Python interpreter (no `_PyRuntime` symbol), or -ENODATA
 * when it is but the version cannot be determined.
 */
int elfimg_python_version(const struct elfimg *img, int *major, int *minor,
			  uint32_t *hex);

#endif /* GILSCOPE_ELFIMG_H */
