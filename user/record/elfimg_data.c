// SPDX-License-Identifier: GPL-2.0
/*
 * elfimg's data search: a string in the read-only data, and the pointers
 * to an address in the writable data, as the file holds them (a shared
 * object's relative relocations: GNU ld writes the value in place too).
 * How a stripped interpreter's static objects are found by what they hold.
 */
#include <errno.h>
#include <string.h>
#include "record/elfimg_int.h"

/* Allocated PROGBITS with data in the file, writable or read-only data
 * (never code). */
static Elf_Data *data_scn(Elf_Scn *scn, bool writable, GElf_Shdr *sh)
{
	Elf_Data *d;

	if (!gelf_getshdr(scn, sh) || sh->sh_type != SHT_PROGBITS ||
	    !(sh->sh_flags & SHF_ALLOC) || (sh->sh_flags & SHF_EXECINSTR) ||
	    !(sh->sh_flags & SHF_WRITE) != !writable)
		return NULL;
	d = elf_getdata(scn, NULL);
	return d && d->d_buf && d->d_size ? d : NULL;
}

int elfimg_find_string(const struct elfimg *img, const char *s,
		       uint64_t *vaddrs, int max)
{
	size_t len = strlen(s) + 1; /* with its NUL */
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *d;
	int n = 0;

	while ((scn = elf_nextscn(img->main.elf, scn))) {
		const char *b, *at;

		if (!(d = data_scn(scn, false, &sh)))
			continue;
		b = d->d_buf;
		for (at = memmem(b, d->d_size, s, len); at;
		     at = memmem(at + 1, d->d_size - (at + 1 - b), s, len)) {
			if (n < max)
				vaddrs[n] = sh.sh_addr + (uint64_t)(at - b);
			n++;
		}
	}
	return n;
}

int elfimg_find_pointers(const struct elfimg *img, uint64_t value,
			 uint64_t *vaddrs, int max)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf_Data *d;
	int n = 0;

	while ((scn = elf_nextscn(img->main.elf, scn))) {
		const uint8_t *b;
		size_t first;

		if (!(d = data_scn(scn, true, &sh)))
			continue;
		b = d->d_buf;
		first = (8 - (sh.sh_addr & 7)) & 7; /* 8-byte aligned slots */
		for (size_t i = first; i + 8 <= d->d_size; i += 8) {
			uint64_t v;

			memcpy(&v, b + i, sizeof(v));
			if (v != value)
				continue;
			if (n < max)
				vaddrs[n] = sh.sh_addr + i;
			n++;
		}
	}
	return n;
}
