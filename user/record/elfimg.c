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
#include "record/elfimg_int.h"

/* a compressed section is inflated only up to this size */
#define ELF_MAX_INFLATED (256u << 20)

/* ---------------------------------------------------------------- files */

void elffile_close(struct elffile *f)
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

int elffile_open(struct elffile *f, const char *root, const char *path,
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

Elf_Scn *find_scn_name(Elf *elf, const char *name, GElf_Shdr *sh)
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

Elf_Scn *find_scn_type(Elf *elf, Elf64_Word type, GElf_Shdr *sh)
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

void read_build_id(Elf *elf, char *hex)
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

int symtab_load(struct symtab *st, Elf *elf, Elf_Scn *scn)
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
const char *symtab_get(const struct symtab *st, size_t i, GElf_Sym *sym)
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
int sym_match(const char *sym, const char *name, size_t len)
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
