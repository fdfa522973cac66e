/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside elfimg (record/elfimg*.c): the image and what its parts share.
 *   elfimg.c        files, sections, build-id, symbols, addresses,
 *                   DT_NEEDED, the Python version
 *   elfimg_debug.c  the separate debug file (build-id, .gnu_debuglink)
 *   elfimg_calls.c  the call-site scanner (PLT/GOT calls, direct calls)
 *   elfimg_data.c   strings and pointers in the data
 */
#ifndef GS_ELFIMG_INT_H
#define GS_ELFIMG_INT_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "record/elfimg.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

#define MAX_BUILD_ID 64 /* bytes; GNU ld emits 20 (sha1) */

struct elffile {
	int fd;
	Elf *elf;
	uint64_t size;
};

struct symtab {
	Elf *elf;
	Elf_Data *data;
	size_t strndx; /* section index of the associated string table */
	size_t count;
};

struct elfimg {
	char *path;
	char *root;
	char *debug_path;
	char *debug_file; /* the debug file as opened from here */
	struct elffile main;
	struct elffile dbg;
	struct symtab symtab;  /* main file's .symtab */
	struct symtab dsymtab; /* debug file's .symtab */
	struct symtab dynsym;
	size_t dynsym_ndx;
	bool is_dyn;
	uint64_t base_vaddr;
	char build_id[2 * MAX_BUILD_ID + 1];
};

int elffile_open(struct elffile *f, const char *root, const char *path,
		 bool phdrs);
void elffile_close(struct elffile *f);
Elf_Scn *find_scn_name(Elf *elf, const char *name, GElf_Shdr *sh);
Elf_Scn *find_scn_type(Elf *elf, Elf64_Word type, GElf_Shdr *sh);
/* The build-id of ELF as hex, "" if it has none. */
void read_build_id(Elf *elf, char *hex);
int symtab_load(struct symtab *st, Elf *elf, Elf_Scn *scn);
const char *symtab_get(const struct symtab *st, size_t i, GElf_Sym *sym);
int sym_match(const char *sym, const char *name, size_t len);
/* elfimg_debug.c: IMG's debug file, if one of this build is found */
void find_debug(struct elfimg *img);

#endif /* GS_ELFIMG_INT_H */
