// SPDX-License-Identifier: GPL-2.0
/*
 * elfimg's call-site scanner: the calls of an imported function (through
 * its PLT stub or GOT slot) or of a local one, found by decoding the
 * executable sections, kept to the functions .symtab names when it has any.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "record/elfimg_int.h"

#define MAX_SLOTS 256 /* GOT slots / PLT stubs of the functions looked for */
/* call sites kept per search (gilsites.c's system call wrappers: 4096) */
#define ELF_MAX_CALL_SITES 4096

struct range {
	uint64_t start, end;
};

struct site {
	uint64_t addr;
	bool indirect;
};

/* State for one elfimg_find_call_sites() run. */
struct callscan {
	uint64_t slots[MAX_SLOTS]; /* GOT slots of FUNC */
	int nslots;
	uint64_t stubs[MAX_SLOTS]; /* PLT stubs jumping through those slots */
	int nstubs;
	struct range *fn; /* merged function ranges, NULL = no filter */
	size_t nfn;
	struct site *v;
	size_t n, cap;
	size_t found; /* n, and those past ELF_MAX_CALL_SITES */
};

static bool in_set(const uint64_t *set, int n, uint64_t v)
{
	int i;

	for (i = 0; i < n; i++)
		if (set[i] == v)
			return true;
	return false;
}

static int cmp_addr(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* in_set() on a sorted SET, for the code scan's every call. */
static bool in_sorted(const uint64_t *set, int n, uint64_t v)
{
	return n && bsearch(&v, set, n, sizeof(*set), cmp_addr);
}

static void add_slot(struct callscan *cs, uint64_t slot)
{
	if (cs->nslots < MAX_SLOTS && !in_set(cs->slots, cs->nslots, slot))
		cs->slots[cs->nslots++] = slot;
}

/* GOT slots that the dynamic linker fills with FUNC (JUMP_SLOT or GLOB_DAT). */
static void rela_scan(const struct elfimg *img, Elf_Data *data,
		      const char *func, struct callscan *cs)
{
	size_t i, len = strlen(func);
	const char *name;
	GElf_Rela r;
	GElf_Sym sym;
	int type;

	for (i = 0; i < data->d_size / sizeof(Elf64_Rela); i++) {
		if (!gelf_getrela(data, i, &r))
			break;
		type = GELF_R_TYPE(r.r_info);
		if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
			continue;
		if (!gelf_getsym(img->dynsym.data, GELF_R_SYM(r.r_info), &sym))
			continue;
		name = elf_strptr(img->main.elf, img->dynsym.strndx,
				  sym.st_name);
		if (name && sym_match(name, func, len) == 2)
			add_slot(cs, r.r_offset);
	}
}

static void collect_slots(const struct elfimg *img, const char *func,
			  struct callscan *cs)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;

	if (!img->dynsym.data)
		return;
	while ((scn = elf_nextscn(img->main.elf, scn))) {
		/* .rela.dyn/.rela.plt refer to .dynsym (some linkers leave sh_link 0). */
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA ||
		    (sh.sh_link != img->dynsym_ndx && sh.sh_link != 0))
			continue;
		data = elf_getdata(scn, NULL);
		if (data)
			rela_scan(img, data, func, cs);
	}
}

/*
 * GOT slot read by the PLT entry at P (ADDR): `[endbr64] [bnd] jmp *disp(%rip)`.
 * Returns 0 when the entry is something else (e.g. PLT0 or a lazy-binding stub).
 */
static uint64_t plt_entry_slot(const uint8_t *p, size_t n, uint64_t addr)
{
	size_t i = 0;
	int32_t disp;

	if (n >= 4 && !memcmp(p, "\xf3\x0f\x1e\xfa", 4))
		i = 4;
	if (i < n && p[i] == 0xf2)
		i++;
	if (i + 6 > n || p[i] != 0xff || p[i + 1] != 0x25)
		return 0;
	memcpy(&disp, p + i + 2, sizeof(disp));
	return addr + i + 6 + (int64_t)disp;
}

/*
 * Stubs in .plt (classic lazy PLT), .plt.sec (second PLT of IBT-enabled links) and .plt.got
 * (stubs for functions that also have a GLOB_DAT slot, e.g. address taken).
 */
static void collect_stubs(const struct elfimg *img, struct callscan *cs)
{
	static const char *const names[] = { ".plt", ".plt.sec", ".plt.got" };
	const uint8_t *p;
	Elf_Data *data;
	GElf_Shdr sh;
	Elf_Scn *scn;
	size_t i, off, ent;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		scn = find_scn_name(img->main.elf, names[i], &sh);
		data = scn ? elf_getdata(scn, NULL) : NULL;
		if (!data || sh.sh_type != SHT_PROGBITS)
			continue;
		p = data->d_buf;
		ent = sh.sh_entsize ? sh.sh_entsize : 16;
		for (off = 0; off < data->d_size && cs->nstubs < MAX_SLOTS;
		     off += ent)
			if (in_set(cs->slots, cs->nslots,
				   plt_entry_slot(p + off, data->d_size - off,
						  sh.sh_addr + off)))
				cs->stubs[cs->nstubs++] = sh.sh_addr + off;
	}
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort function ranges and merge overlaps (aliases) so lookups are a binary search. */
static void merge_ranges(struct callscan *cs)
{
	size_t i, n = 0;

	qsort(cs->fn, cs->nfn, sizeof(*cs->fn), cmp_range);
	for (i = 0; i < cs->nfn; i++) {
		if (n && cs->fn[i].start <= cs->fn[n - 1].end) {
			if (cs->fn[i].end > cs->fn[n - 1].end)
				cs->fn[n - 1].end = cs->fn[i].end;
			continue;
		}
		cs->fn[n++] = cs->fn[i];
	}
	cs->nfn = n;
}

static int load_func_ranges(const struct symtab *st, struct callscan *cs)
{
	const char *name;
	GElf_Sym sym;
	size_t i;

	cs->fn = calloc(st->count ? st->count : 1, sizeof(*cs->fn));
	if (!cs->fn)
		return -ENOMEM;
	for (i = 0; i < st->count; i++) {
		name = symtab_get(st, i, &sym);
		if (!name || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_size)
			continue;
		cs->fn[cs->nfn].start = sym.st_value;
		cs->fn[cs->nfn++].end = sym.st_value + sym.st_size;
	}
	if (!cs->nfn) {
		/* No function symbols at all: nothing to filter with. */
		free(cs->fn);
		cs->fn = NULL;
		return 0;
	}
	merge_ranges(cs);
	return 0;
}

static bool in_function(const struct callscan *cs, uint64_t addr)
{
	size_t lo = 0, hi = cs->nfn, mid;

	if (!cs->fn)
		return true;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (addr < cs->fn[mid].start)
			hi = mid;
		else if (addr >= cs->fn[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static int add_site(struct callscan *cs, uint64_t addr, bool indirect)
{
	struct site *v;

	if (!in_function(cs, addr))
		return 0;
	cs->found++;
	if (cs->n == ELF_MAX_CALL_SITES)
		return 0;
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? 2 * cs->cap : 16;
		v = realloc(cs->v, cs->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		cs->v = v;
	}
	cs->v[cs->n].addr = addr;
	cs->v[cs->n++].indirect = indirect;
	return 0;
}

/* Byte scan for `call rel32` to a stub and `call *disp(%rip)` through a slot. */
static int scan_code(struct callscan *cs, const uint8_t *b, size_t n,
		     uint64_t addr)
{
	int32_t rel;
	size_t i;
	int err;

	for (i = 0; i + 5 <= n; i++) {
		err = 0;
		if (b[i] == 0xe8 && cs->nstubs) {
			memcpy(&rel, b + i + 1, sizeof(rel));
			if (in_sorted(cs->stubs, cs->nstubs,
				      addr + i + 5 + (int64_t)rel))
				err = add_site(cs, addr + i, false);
		} else if (b[i] == 0xff && b[i + 1] == 0x15 && i + 6 <= n) {
			memcpy(&rel, b + i + 2, sizeof(rel));
			if (in_sorted(cs->slots, cs->nslots,
				      addr + i + 6 + (int64_t)rel))
				err = add_site(cs, addr + i, true);
		}
		if (err)
			return err;
	}
	return 0;
}

static int scan_exec_sections(const struct elfimg *img, struct callscan *cs)
{
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	int err;

	while ((scn = elf_nextscn(img->main.elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			continue;
		err = scan_code(cs, data->d_buf, data->d_size, sh.sh_addr);
		if (err)
			return err;
	}
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int elfimg_find_call_sites(const struct elfimg *img, const char *func,
			   uint64_t *sites, bool *is_indirect, int max)
{
	return elfimg_find_calls_any(img, &func, 1, sites, is_indirect, max);
}

int elfimg_find_calls_any(const struct elfimg *img, const char *const *funcs,
			  int nfuncs, uint64_t *sites, bool *is_indirect,
			  int max)
{
	const struct symtab *st = img->symtab.data ? &img->symtab :
						     &img->dsymtab;
	struct callscan cs = { 0 };
	int err = 0, i;

	if (nfuncs < 1 || max < 0)
		return -EINVAL;
	for (i = 0; i < nfuncs; i++) {
		if (!funcs[i] || !funcs[i][0])
			return -EINVAL;
		collect_slots(img, funcs[i], &cs);
	}
	if (!cs.nslots)
		return 0;
	qsort(cs.slots, cs.nslots, sizeof(*cs.slots), cmp_addr);
	collect_stubs(img, &cs);
	qsort(cs.stubs, cs.nstubs, sizeof(*cs.stubs), cmp_addr);
	if (st->data)
		err = load_func_ranges(st, &cs);
	if (!err)
		err = scan_exec_sections(img, &cs);
	if (err)
		goto cleanup;
	if (cs.n)
		qsort(cs.v, cs.n, sizeof(*cs.v), cmp_site);
	for (i = 0; i < max && (size_t)i < cs.n; i++) {
		sites[i] = cs.v[i].addr;
		if (is_indirect)
			is_indirect[i] = cs.v[i].indirect;
	}
	err = cs.found > INT_MAX ? INT_MAX : (int)cs.found;
cleanup:
	free(cs.fn);
	free(cs.v);
	return err;
}

/* Byte scan for `call rel32` to TARGET. */
static int scan_calls_to(struct callscan *cs, const uint8_t *b, size_t n,
			 uint64_t addr, uint64_t target)
{
	int32_t rel;
	int err;

	for (size_t i = 0; i + 5 <= n; i++) {
		if (b[i] != 0xe8)
			continue;
		memcpy(&rel, b + i + 1, sizeof(rel));
		if (addr + i + 5 + (int64_t)rel != target)
			continue;
		err = add_site(cs, addr + i, false);
		if (err)
			return err;
	}
	return 0;
}

int elfimg_find_calls_to(const struct elfimg *img, uint64_t target,
			 uint64_t *sites, int max)
{
	struct callscan cs = { 0 };
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	int err = 0;

	if (max < 0)
		return -EINVAL;
	while (!err && (scn = elf_nextscn(img->main.elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		data = elf_getdata(scn, NULL);
		if (data && data->d_buf)
			err = scan_calls_to(&cs, data->d_buf, data->d_size,
					    sh.sh_addr, target);
	}
	if (err)
		goto cleanup;
	for (size_t i = 0; i < cs.n && i < (size_t)max; i++)
		sites[i] = cs.v[i].addr; /* sections come in address order */
	err = cs.n > INT_MAX ? INT_MAX : (int)cs.n;
cleanup:
	free(cs.v);
	return err;
}
