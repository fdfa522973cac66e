// SPDX-License-Identifier: GPL-2.0
/*
 * elfimg - static inspection of an ELF image for gilscope.
 *
 * Everything here works on the file only (never runs it): symbols from .symtab,
 * a separate debug file, or .dynsym; PLT/GOT call sites of imported functions;
 * DT_NEEDED/RUNPATH; and the Python version.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "record/elfimg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "common/tfile.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

#define MAX_BUILD_ID 64 /* bytes; GNU ld emits 20 (sha1) */
#define MAX_SLOTS 256	/* GOT slots / PLT stubs of the functions looked for */
/* a compressed section is inflated only up to this size */
#define ELF_MAX_INFLATED (256u << 20)
/* call sites kept per search (gilsites.c's system call wrappers: 4096) */
#define ELF_MAX_CALL_SITES 4096

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

/* ---------------------------------------------------------------- files */

static void elffile_close(struct elffile *f)
{
	if (f->elf)
		elf_end(f->elf);
	if (f->fd >= 0)
		close(f->fd);
	f->elf = NULL;
	f->fd = -1;
}

/* Is the table at OFF of N entries of ENTSZ bytes inside a file of FSIZE bytes? */
static bool table_fits(uint64_t off, uint64_t n, uint64_t entsz, uint64_t fsize)
{
	return !n || (off <= fsize && entsz && n <= (fsize - off) / entsz);
}

/*
 * Reject truncated or corrupt files up front, so the rest of the module can trust
 * offsets and sizes from the headers. libelf silently clamps the number of program
 * and section headers to what fits in a truncated file, so check the tables ourselves.
 * Debug files keep the original program headers, whose segments may point past
 * their end, so segment contents (PHDRS) are only checked for the main file.
 */
static const char *check_layout(Elf *elf, uint64_t fsize, bool phdrs)
{
	Elf_Scn *scn = NULL;
	size_t i, shnum, ndx;
	GElf_Ehdr eh;
	GElf_Shdr sh;
	GElf_Phdr ph;

	if (!gelf_getehdr(elf, &eh) || elf_getshdrnum(elf, &shnum) ||
	    elf_getshdrstrndx(elf, &ndx))
		return "damaged ELF header";
	/* libelf reports 0 sections, not an error, when the table is cut off. */
	if (eh.e_shnum && shnum != eh.e_shnum)
		return "the section table is past the end of the file";
	/* PN_XNUM (extended phnum) never happens in practice: refuse it. */
	if (eh.e_phnum == PN_XNUM ||
	    !table_fits(eh.e_phoff, eh.e_phnum, eh.e_phentsize, fsize))
		return "the program header table is past the end of the file";
	if (!table_fits(eh.e_shoff, shnum, eh.e_shentsize, fsize))
		return "the section table is past the end of the file";
	for (i = 0; phdrs && i < eh.e_phnum; i++) {
		if (!gelf_getphdr(elf, i, &ph))
			return "damaged program header";
		if (ph.p_offset > fsize || ph.p_filesz > fsize - ph.p_offset)
			return "a segment is past the end of the file (truncated?)";
	}
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			return "damaged section header";
		if (sh.sh_type == SHT_NOBITS)
			continue;
		if (sh.sh_offset > fsize || sh.sh_size > fsize - sh.sh_offset)
			return "a section is past the end of the file (truncated?)";
	}
	return NULL;
}

/*
 * Open ROOT + PATH (ROOT may be "": see tfile.h). A file of the traced
 * process (under a ROOT) that is not a usable ELF file is said in one line.
 */
static void report_bad_elf(const char *root, const char *path, const char *why)
{
	char full[PATH_MAX];

	snprintf(full, sizeof(full), "%s%s", root, path);
	tfile_skipped(full, why);
}

static int elffile_open(struct elffile *f, const char *root, const char *path,
			bool phdrs)
{
	const char *why = "not an x86-64 ELF file";
	struct stat st;
	GElf_Ehdr eh;
	int err;

	f->elf = NULL;
	f->fd = tfile_open(root, path, &st);
	if (f->fd < 0)
		return f->fd;
	err = -ENOEXEC;
	f->size = st.st_size;
	/*
	 * Read, never mmap: once gilscope has uprobes on this file, the kernel
	 * plants its breakpoints in every executable-capable mapping of it,
	 * ours included, and the code we scan would show int3 bytes.
	 */
	f->elf = elf_begin(f->fd, ELF_C_READ, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF ||
	    gelf_getclass(f->elf) != ELFCLASS64)
		goto cleanup;
	if (!gelf_getehdr(f->elf, &eh) || eh.e_machine != EM_X86_64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || f->size < sizeof(Elf64_Ehdr))
		goto cleanup;
	why = check_layout(f->elf, f->size, phdrs);
	if (!why)
		return 0;
cleanup:
	if (root && root[0] && f->size)
		report_bad_elf(root, path, why);
	elffile_close(f);
	return err;
}

/* ------------------------------------------------------------- sections */

static const char *scn_name(Elf *elf, const GElf_Shdr *sh)
{
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	return elf_strptr(elf, shstrndx, sh->sh_name);
}

static Elf_Scn *find_scn_name(Elf *elf, const char *name, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;
	const char *s;

	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, sh))
			continue;
		s = scn_name(elf, sh);
		if (s && !strcmp(s, name))
			return scn;
	}
	return NULL;
}

static Elf_Scn *find_scn_type(Elf *elf, Elf64_Word type, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, sh) && sh->sh_type == type)
			return scn;
	return NULL;
}

/* Debian's debug files may have compressed non-alloc sections (SHF_COMPRESSED). */
static Elf_Data *scn_data(Elf_Scn *scn)
{
	GElf_Shdr sh;

	GElf_Chdr ch;

	if (!gelf_getshdr(scn, &sh))
		return NULL;
	if (sh.sh_flags & SHF_COMPRESSED) {
		/* a few KB of zlib can claim gigabytes */
		if (!gelf_getchdr(scn, &ch) || ch.ch_size > ELF_MAX_INFLATED ||
		    elf_compress(scn, 0, 0) < 0)
			return NULL;
	}
	return elf_getdata(scn, NULL);
}

/* ------------------------------------------------------------- build-id */

static size_t note_build_id(Elf_Data *data, uint8_t *out)
{
	size_t off = 0, next, name_off, desc_off;
	const char *buf = data->d_buf;
	GElf_Nhdr nh;

	while ((next = gelf_getnote(data, off, &nh, &name_off, &desc_off)) >
	       0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    !memcmp(buf + name_off, "GNU", 4) && nh.n_descsz > 0 &&
		    nh.n_descsz <= MAX_BUILD_ID) {
			memcpy(out, buf + desc_off, nh.n_descsz);
			return nh.n_descsz;
		}
		off = next;
	}
	return 0;
}

static size_t phdr_build_id(Elf *elf, uint8_t *out)
{
	Elf_Data *data;
	GElf_Phdr ph;
	size_t i, n, len = 0;

	if (elf_getphdrnum(elf, &n))
		return 0;
	for (i = 0; !len && i < n; i++) {
		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_NOTE)
			continue;
		data = elf_getdata_rawchunk(elf, ph.p_offset, ph.p_filesz,
					    ph.p_align == 8 ? ELF_T_NHDR8 :
							      ELF_T_NHDR);
		if (data)
			len = note_build_id(data, out);
	}
	return len;
}

static void read_build_id(Elf *elf, char *hex)
{
	uint8_t id[MAX_BUILD_ID];
	Elf_Scn *scn = NULL;
	Elf_Data *data;
	GElf_Shdr sh;
	size_t i, n = 0;

	while (!n && (scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		data = elf_getdata(scn, NULL);
		if (data)
			n = note_build_id(data, id);
	}
	if (!n)
		n = phdr_build_id(elf, id);
	for (i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", id[i]);
	hex[2 * n] = '\0';
}

/* -------------------------------------------------------------- symbols */

static int symtab_load(struct symtab *st, Elf *elf, Elf_Scn *scn)
{
	Elf_Scn *strscn;
	GElf_Shdr sh;

	if (!gelf_getshdr(scn, &sh))
		return -ENOEXEC;
	strscn = elf_getscn(elf, sh.sh_link);
	if (!strscn || !scn_data(strscn))
		return -ENOEXEC;
	st->data = scn_data(scn);
	if (!st->data)
		return -ENOEXEC;
	st->elf = elf;
	st->strndx = sh.sh_link;
	st->count = st->data->d_size / sizeof(Elf64_Sym);
	return 0;
}

/* Fetch symbol I if it is a defined function/object; return its name or NULL. */
static const char *symtab_get(const struct symtab *st, size_t i, GElf_Sym *sym)
{
	int type;

	if (!gelf_getsym(st->data, i, sym))
		return NULL;
	type = GELF_ST_TYPE(sym->st_info);
	if (type != STT_FUNC && type != STT_OBJECT)
		return NULL;
	if (!sym->st_value || sym->st_shndx == SHN_UNDEF)
		return NULL;
	return elf_strptr(st->elf, st->strndx, sym->st_name);
}

/*
 * How well symbol name SYM matches NAME (LEN chars): 2 exact (ignoring an "@version"
 * part), 1 NAME plus a compiler suffix (".lto_priv.0", ".isra.0", ...), 0 no match.
 * Split-off cold parts (".cold", possibly after other suffixes) are not the function
 * entry and must never match.
 */
static int sym_match(const char *sym, const char *name, size_t len)
{
	const char *p;

	if (strncmp(sym, name, len))
		return 0;
	sym += len;
	if (*sym == '\0' || *sym == '@')
		return 2;
	if (*sym != '.')
		return 0;
	for (p = sym; (p = strstr(p, ".cold")); p += 5)
		if (p[5] == '\0' || p[5] == '.' || p[5] == '@')
			return 0;
	return 1;
}

struct symhit {
	uint64_t vaddr, size;
	int quality;
};

static void symtab_find(const struct symtab *st, const char *name,
			struct symhit *best)
{
	size_t i, len = strlen(name);
	const char *s;
	GElf_Sym sym;
	int q;

	for (i = 0; st->data && i < st->count; i++) {
		s = symtab_get(st, i, &sym);
		if (!s || s[0] != name[0] || !(q = sym_match(s, name, len)))
			continue;
		if (q > best->quality ||
		    (q == best->quality && sym.st_size > best->size)) {
			best->quality = q;
			best->vaddr = sym.st_value;
			best->size = sym.st_size;
		}
	}
}

int elfimg_find_symbol(const struct elfimg *img, const char *name,
		       uint64_t *vaddr, uint64_t *size)
{
	const struct symtab *order[] = { &img->symtab, &img->dsymtab,
					 &img->dynsym };
	struct symhit best = { 0 };
	size_t i;

	if (!name || !name[0])
		return -ENOENT;
	for (i = 0; i < sizeof(order) / sizeof(order[0]) && !best.quality; i++)
		symtab_find(order[i], name, &best);
	if (!best.quality)
		return -ENOENT;
	*vaddr = best.vaddr;
	if (size)
		*size = best.size;
	return 0;
}

/* ------------------------------------------------------------ debug file */

static int try_debug_in(struct elfimg *img, const char *root, const char *path)
{
	char bid[sizeof(img->build_id)];
	struct elffile f;
	Elf_Scn *scn;
	GElf_Shdr sh;
	char *full;
	int err;

	if (asprintf(&full, "%s%s", root, path) < 0)
		return -ENOMEM;
	err = elffile_open(&f, root, path, false);
	if (err) {
		free(full);
		return err;
	}
	read_build_id(f.elf, bid);
	/* The debug file must be for this exact build, or its symbols are garbage. */
	err = -ENOENT;
	if (strcmp(bid, img->build_id))
		goto cleanup;
	scn = find_scn_type(f.elf, SHT_SYMTAB, &sh);
	if (!scn || symtab_load(&img->dsymtab, f.elf, scn))
		goto cleanup;
	img->debug_path = strdup(path);
	if (!img->debug_path) {
		memset(&img->dsymtab, 0, sizeof(img->dsymtab));
		err = -ENOMEM;
		goto cleanup;
	}
	img->debug_file = full;
	img->dbg = f;
	return 0;
cleanup:
	free(full);
	elffile_close(&f);
	return err;
}

/* A process in a chroot or container has its debug files in its own root
 * (img->root is /proc/PID/root). */
static int try_debug(struct elfimg *img, const char *path)
{
	return try_debug_in(img, img->root, path);
}

/* Name stored in .gnu_debuglink (NUL-terminated, followed by a CRC), or NULL. */
static const char *debuglink_name(const struct elfimg *img)
{
	Elf_Data *data;
	GElf_Shdr sh;
	Elf_Scn *scn;

	scn = find_scn_name(img->main.elf, ".gnu_debuglink", &sh);
	data = scn ? elf_getdata(scn, NULL) : NULL;
	if (!data || !data->d_size || !memchr(data->d_buf, '\0', data->d_size))
		return NULL;
	return data->d_buf;
}

static int try_debuglink(struct elfimg *img)
{
	const char *link = debuglink_name(img),
		   *slash = strrchr(img->path, '/');
	const char *dir = slash ? img->path : ".";
	int dirlen = slash ? (int)(slash - img->path) : 1;
	const char *sep = dir[0] == '/' ? "" : "/";
	char buf[PATH_MAX];
	int i, n;

	/* a name, not a path: never "..", never a directory */
	if (!link || !link[0] || strchr(link, '/') || !strcmp(link, ".") ||
	    !strcmp(link, ".."))
		return -ENOENT;
	/* gdb's order: next to the file, its .debug/, then the global debug dir. */
	for (i = 0; i < 3; i++) {
		if (i == 0)
			n = snprintf(buf, sizeof(buf), "%.*s/%s", dirlen, dir,
				     link);
		else if (i == 1)
			n = snprintf(buf, sizeof(buf), "%.*s/.debug/%s", dirlen,
				     dir, link);
		else
			n = snprintf(buf, sizeof(buf),
				     "/usr/lib/debug%s%.*s/%s", sep, dirlen,
				     dir, link);
		if (n > 0 && (size_t)n < sizeof(buf) && !try_debug(img, buf))
			return 0;
	}
	return -ENOENT;
}

static bool no_debuginfo;

void elfimg_no_debuginfo(bool off)
{
	no_debuginfo = off;
}

static bool debuginfo_disabled(void)
{
	const char *e = getenv("GILSCOPE_NO_DEBUGINFO");

	return no_debuginfo || (e && e[0] && strcmp(e, "0"));
}

static void find_debug(struct elfimg *img)
{
	const char *bid = img->build_id;
	char buf[PATH_MAX];

	/* Without a build-id there is no way to verify a candidate: don't guess. */
	if (!bid[0] || strlen(bid) < 4 || debuginfo_disabled())
		return;
	snprintf(buf, sizeof(buf), "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 bid, bid + 2);
	if (!try_debug(img, buf))
		return;
	try_debuglink(img);
}

/* ----------------------------------------------------------------- open */

static void load_segments(struct elfimg *img)
{
	uint64_t base = UINT64_MAX;
	GElf_Phdr ph;
	size_t i, n;

	if (elf_getphdrnum(img->main.elf, &n))
		n = 0;
	for (i = 0; i < n; i++)
		if (gelf_getphdr(img->main.elf, i, &ph) &&
		    ph.p_type == PT_LOAD && ph.p_vaddr < base)
			base = ph.p_vaddr;
	img->base_vaddr = base == UINT64_MAX ? 0 : base & ~(uint64_t)0xfff;
}

static void load_main(struct elfimg *img)
{
	GElf_Ehdr eh;
	GElf_Shdr sh;
	Elf_Scn *scn;

	gelf_getehdr(img->main.elf, &eh);
	img->is_dyn = eh.e_type == ET_DYN;
	load_segments(img);
	read_build_id(img->main.elf, img->build_id);
	/* An unreadable table (e.g. bad compressed data) counts as absent. */
	scn = find_scn_type(img->main.elf, SHT_DYNSYM, &sh);
	if (scn && !symtab_load(&img->dynsym, img->main.elf, scn))
		img->dynsym_ndx = elf_ndxscn(scn);
	else
		memset(&img->dynsym, 0, sizeof(img->dynsym));
	scn = find_scn_type(img->main.elf, SHT_SYMTAB, &sh);
	if (scn && !symtab_load(&img->symtab, img->main.elf, scn))
		return;
	memset(&img->symtab, 0, sizeof(img->symtab));
	find_debug(img);
}

int elfimg_open(const char *path, const char *root, struct elfimg **out)
{
	struct elfimg *img;
	int err = -ENOMEM;

	*out = NULL;
	if (!path || !path[0])
		return -EINVAL;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	img = calloc(1, sizeof(*img));
	if (!img)
		return -ENOMEM;
	img->main.fd = img->dbg.fd = -1;
	img->path = strdup(path);
	img->root = strdup(root ? root : "");
	if (!img->path || !img->root)
		goto cleanup;
	err = elffile_open(&img->main, img->root, path, true);
	if (err)
		goto cleanup;
	load_main(img);
	*out = img;
	return 0;
cleanup:
	elfimg_close(img);
	return err;
}

void elfimg_close(struct elfimg *img)
{
	if (!img)
		return;
	elffile_close(&img->dbg);
	elffile_close(&img->main);
	free(img->debug_path);
	free(img->debug_file);
	free(img->root);
	free(img->path);
	free(img);
}

const char *elfimg_path(const struct elfimg *img)
{
	return img->path;
}

const char *elfimg_build_id(const struct elfimg *img)
{
	return img->build_id;
}

const char *elfimg_debug_path(const struct elfimg *img)
{
	return img->debug_path;
}

const char *elfimg_debug_file(const struct elfimg *img)
{
	return img->debug_file;
}

bool elfimg_is_dyn(const struct elfimg *img)
{
	return img->is_dyn;
}

uint64_t elfimg_base_vaddr(const struct elfimg *img)
{
	return img->base_vaddr;
}

/* ------------------------------------------------------------- addresses */

/* PT_LOAD whose file-backed part holds [vaddr, vaddr+len); EXEC: only PF_X ones. */
static int find_load(const struct elfimg *img, uint64_t vaddr, size_t len,
		     bool exec, GElf_Phdr *ph)
{
	size_t i, n;

	if (elf_getphdrnum(img->main.elf, &n))
		return -ENOENT;
	for (i = 0; i < n; i++) {
		if (!gelf_getphdr(img->main.elf, i, ph) ||
		    ph->p_type != PT_LOAD)
			continue;
		if (exec && !(ph->p_flags & PF_X))
			continue;
		if (vaddr < ph->p_vaddr || vaddr - ph->p_vaddr >= ph->p_filesz)
			continue;
		if (len <= ph->p_filesz - (vaddr - ph->p_vaddr))
			return 0;
	}
	return -ENOENT;
}

int elfimg_vaddr_to_offset(const struct elfimg *img, uint64_t vaddr,
			   uint64_t *off)
{
	GElf_Phdr ph;

	if (find_load(img, vaddr, 1, true, &ph))
		return -ENOENT;
	*off = vaddr - ph.p_vaddr + ph.p_offset;
	return 0;
}

int elfimg_read_vaddr(const struct elfimg *img, uint64_t vaddr, void *buf,
		      size_t len)
{
	uint64_t off;
	GElf_Phdr ph;
	size_t done;
	ssize_t n;

	if (find_load(img, vaddr, len ? len : 1, false, &ph))
		return -ENOENT;
	off = vaddr - ph.p_vaddr + ph.p_offset;
	for (done = 0; done < len; done += n) {
		n = pread(img->main.fd, (char *)buf + done, len - done,
			  off + done);
		if (n < 0 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* ------------------------------------------------------------ call sites */

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

int elfimg_eh_frame_hdr(const struct elfimg *img, uint64_t *vaddr)
{
	GElf_Phdr ph;
	size_t i, n;

	if (elf_getphdrnum(img->main.elf, &n))
		return -ENOENT;
	for (i = 0; i < n; i++)
		if (gelf_getphdr(img->main.elf, i, &ph) &&
		    ph.p_type == PT_GNU_EH_FRAME) {
			*vaddr = ph.p_vaddr;
			return 0;
		}
	return -ENOENT;
}

/* -------------------------------------------------------------- dynamic */

int elfimg_needed(const struct elfimg *img, const char **needed, int max,
		  const char **runpath)
{
	const char *rpath = NULL, *rp = NULL, *s;
	Elf_Data *data;
	GElf_Shdr sh;
	Elf_Scn *scn;
	GElf_Dyn dyn;
	int n = 0;
	size_t i;

	scn = find_scn_type(img->main.elf, SHT_DYNAMIC, &sh);
	data = scn ? elf_getdata(scn, NULL) : NULL;
	for (i = 0; data && i < data->d_size / sizeof(Elf64_Dyn); i++) {
		if (!gelf_getdyn(data, i, &dyn) || dyn.d_tag == DT_NULL)
			break;
		if (dyn.d_tag != DT_NEEDED && dyn.d_tag != DT_RUNPATH &&
		    dyn.d_tag != DT_RPATH)
			continue;
		s = elf_strptr(img->main.elf, sh.sh_link, dyn.d_un.d_val);
		if (!s)
			continue;
		if (dyn.d_tag == DT_NEEDED && n < max)
			needed[n++] = s;
		else if (dyn.d_tag == DT_RUNPATH)
			rp = s;
		else if (dyn.d_tag == DT_RPATH)
			rpath = s;
	}
	/* ld.so ignores DT_RPATH when DT_RUNPATH is present. */
	if (runpath)
		*runpath = rp ? rp : rpath;
	return n;
}

/* -------------------------------------------------------------- version */

/* "python3.10", "libpython3.9.so.1.0", "python3.12d" -> 3, minor. */
static int version_from_name(const char *path, int *major, int *minor)
{
	const char *base = strrchr(path, '/'), *p;
	int ma, mi;

	base = base ? base + 1 : path;
	p = strstr(base, "python");
	if (!p || !isdigit((unsigned char)p[6]))
		return -ENODATA;
	if (sscanf(p + 6, "%d.%d", &ma, &mi) != 2)
		return -ENODATA;
	*major = ma;
	*minor = mi;
	return 0;
}

static int version_from_data(const struct elfimg *img, uint32_t *hex)
{
	uint64_t vaddr, size;

	if (elfimg_find_symbol(img, "Py_Version", &vaddr, &size) ||
	    size < sizeof(*hex))
		return -ENOENT;
	/* unsigned long PY_VERSION_HEX; little-endian, so the low 4 bytes come first. */
	if (elfimg_read_vaddr(img, vaddr, hex, sizeof(*hex)))
		return -ENOENT;
	return (*hex >> 24) >= 2 && (*hex >> 24) <= 4 ? 0 : -ENOENT;
}

/*
 * Before 3.11 there is no Py_Version: the full version is the PY_VERSION
 * string ("3.9.2") in .rodata, the one NUL-delimited string that is
 * MAJOR.MINOR.MICRO and nothing else. Returns 0 and a final release's hex.
 */
static int version_from_rodata(const struct elfimg *img, int major, int minor,
			       uint32_t *hex)
{
	Elf_Scn *scn = find_scn_name(img->main.elf, ".rodata", &(GElf_Shdr){});
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	const char *b = d ? d->d_buf : NULL;
	char want[16];
	int n = 0, micro = -1, len;

	if (!b)
		return -ENOENT;
	len = snprintf(want, sizeof(want), "%d.%d.", major, minor);
	for (size_t i = 1; i + len + 2 < d->d_size; i++) {
		size_t j = i + len;
		int m = 0;

		if (b[i - 1] || memcmp(b + i, want, len) || !isdigit(b[j]))
			continue;
		while (j < d->d_size && isdigit((unsigned char)b[j]))
			m = m * 10 + (b[j++] - '0');
		if (j < d->d_size && !b[j] && m < 256) {
			micro = m;
			n++;
		}
	}
	if (n != 1)
		return -ENOENT;
	*hex = (uint32_t)major << 24 | (uint32_t)minor << 16 |
	       (uint32_t)micro << 8 | 0xf0;
	return 0;
}

int elfimg_python_version(const struct elfimg *img, int *major, int *minor,
			  uint32_t *hex)
{
	uint64_t vaddr;
	uint32_t v = 0;
	int err;

	if (elfimg_find_symbol(img, "_PyRuntime", &vaddr, NULL))
		return -ENOENT;
	if (!version_from_data(img, &v)) {
		*major = v >> 24;
		*minor = (v >> 16) & 0xff;
	} else {
		v = 0;
		err = version_from_name(img->path, major, minor);
		if (err)
			return err;
		version_from_rodata(img, *major, *minor, &v);
	}
	if (hex)
		*hex = v;
	return 0;
}
