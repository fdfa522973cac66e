// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "record/elfimg.h"
#include "common/procfs.h"
#include "record/symbolize.h"
#include "common/tfile.h"

#define MAX_MODULES 512
#define MAX_PIDS 256
#define MAX_MAPS 1024
#define MAX_SEGS 16 /* PT_LOAD segments kept per file */

struct sym {
	uint64_t addr, size;
	char *name;
};

struct seg {
	uint64_t vaddr, offset, filesz;
};

/* One ELF file, parsed once. */
struct module {
	dev_t dev;
	ino_t ino;
	char base[128];
	struct sym *syms; /* sorted by addr */
	size_t n_syms;
	struct seg segs[MAX_SEGS];
	int n_segs;
};

struct map {
	uint64_t start, end, offset;
	struct module *mod;
};

struct pid_maps {
	pid_t pid;
	struct map *maps;
	int n_maps;
	bool loaded;
};

struct sym_cache {
	struct module *mods[MAX_MODULES];
	int n_mods;
	struct pid_maps pids[MAX_PIDS];
	int n_pids, next_victim;
};

struct sym_cache *sym_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	return calloc(1, sizeof(struct sym_cache));
}

static void module_free(struct module *m)
{
	for (size_t i = 0; i < m->n_syms; i++)
		free(m->syms[i].name);
	free(m->syms);
	free(m);
}

void sym_free(struct sym_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_mods; i++)
		module_free(c->mods[i]);
	for (int i = 0; i < c->n_pids; i++)
		free(c->pids[i].maps);
	free(c);
}

/* ------------------------------------------------------------ ELF files */

static int add_sym(struct module *m, size_t *cap, uint64_t addr, uint64_t size,
		   const char *name)
{
	if (m->n_syms == *cap) {
		size_t n = *cap ? *cap * 2 : 1024;
		struct sym *s = realloc(m->syms, n * sizeof(*s));

		if (!s)
			return -ENOMEM;
		m->syms = s;
		*cap = n;
	}
	m->syms[m->n_syms].name = strdup(name);
	if (!m->syms[m->n_syms].name)
		return -ENOMEM;
	m->syms[m->n_syms].addr = addr;
	m->syms[m->n_syms].size = size;
	m->n_syms++;
	return 0;
}

/* "take_gil.lto_priv.0" -> "take_gil", "read@@GLIBC_2.2.5" -> "read":
 * the compiler's and the linker's decorations say nothing to a reader. */
static void clean_name(char *name)
{
	static const char *const suffixes[] = { ".lto_priv.", ".isra.",
						".constprop.", ".part.",
						".cold" };
	char *at = strchr(name, '@');

	if (at && at != name)
		*at = '\0';
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char *p = strstr(name, suffixes[i]);

		if (p && p != name)
			*p = '\0';
	}
}

/* Function symbols of every symbol table in the file ROOT + PATH. */
static void read_symbols(struct module *m, size_t *cap, const char *root,
			 const char *path, bool segments)
{
	Elf_Scn *scn = NULL;
	size_t nph = 0;
	struct stat st;
	int fd = tfile_open(root, path, &st);
	Elf *e;

	if (fd < 0)
		return;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e)
		goto out;
	if (segments && !elf_getphdrnum(e, &nph)) {
		for (size_t i = 0; i < nph && m->n_segs < MAX_SEGS; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD)
				m->segs[m->n_segs++] =
					(struct seg){ ph.p_vaddr, ph.p_offset,
						      ph.p_filesz };
		}
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < d->d_size / sizeof(Elf64_Sym); i++) {
			GElf_Sym s;
			const char *name;

			if (!gelf_getsym(d, i, &s) ||
			    GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    !s.st_value || s.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(e, sh.sh_link, s.st_name);
			if (!name || !*name)
				continue;
			if (add_sym(m, cap, s.st_value, s.st_size, name))
				goto end;
			clean_name(m->syms[m->n_syms - 1].name);
		}
	}
end:
	elf_end(e);
out:
	close(fd);
}

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* the larger one (a real function over an alias with size 0) first */
	return x->size > y->size ? -1 : x->size < y->size;
}

static struct module *load_module(const char *path, const char *root,
				  const struct stat *st)
{
	struct module *m = calloc(1, sizeof(*m));
	const char *base = strrchr(path, '/');
	struct elfimg *img;
	size_t cap = 0;

	if (!m)
		return NULL;
	m->dev = st->st_dev;
	m->ino = st->st_ino;
	snprintf(m->base, sizeof(m->base), "%.127s", base ? base + 1 : path);
	/* only a file that elfimg accepts: a whole x86-64 ELF file */
	if (!elfimg_open(path, root, &img)) {
		read_symbols(m, &cap, root, path, true);
		/* the debug file has the local symbols a stripped file lost */
		if (elfimg_debug_path(img))
			read_symbols(m, &cap, root, elfimg_debug_path(img),
				     false);
		elfimg_close(img);
	}
	if (m->n_syms)
		qsort(m->syms, m->n_syms, sizeof(*m->syms), cmp_sym);
	return m;
}

static struct module *module_for(struct sym_cache *c, pid_t pid,
				 const char *path)
{
	char root[64];
	struct stat st;
	int fd;

	snprintf(root, sizeof(root), "/proc/%d/root", pid);
	path = proc_path_in_root(pid, path);
	fd = tfile_open(root, path, &st);
	if (fd < 0)
		return NULL;
	close(fd);
	for (int i = 0; i < c->n_mods; i++)
		if (c->mods[i]->dev == st.st_dev &&
		    c->mods[i]->ino == st.st_ino)
			return c->mods[i];
	if (c->n_mods == MAX_MODULES)
		return NULL;
	c->mods[c->n_mods] = load_module(path, root, &st);
	return c->mods[c->n_mods] ? c->mods[c->n_mods++] : NULL;
}

/* ------------------------------------------------------------ processes */

static struct pid_maps *pid_slot(struct sym_cache *c, pid_t pid)
{
	struct pid_maps *p;

	for (int i = 0; i < c->n_pids; i++)
		if (c->pids[i].pid == pid)
			return &c->pids[i];
	if (c->n_pids < MAX_PIDS) {
		p = &c->pids[c->n_pids++];
	} else {
		p = &c->pids[c->next_victim];
		c->next_victim = (c->next_victim + 1) % MAX_PIDS;
		free(p->maps);
	}
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	return p;
}

/* Executable file mappings of PID, from /proc/PID/maps. */
static void load_maps(struct sym_cache *c, struct pid_maps *p)
{
	char path[64], line[4600];
	FILE *f;

	free(p->maps);
	p->maps = NULL;
	p->n_maps = 0;
	p->loaded = true;
	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	p->maps = calloc(MAX_MAPS, sizeof(*p->maps));
	while (p->maps && p->n_maps < MAX_MAPS &&
	       fgets(line, sizeof(line), f)) {
		unsigned long long start, end, off;
		char perms[8], file[4096];
		struct map *m = &p->maps[p->n_maps];

		file[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]",
			   &start, &end, perms, &off, file) < 4 ||
		    perms[2] != 'x' || file[0] != '/')
			continue;
		m->mod = module_for(c, p->pid, file);
		if (!m->mod)
			continue;
		m->start = start;
		m->end = end;
		m->offset = off;
		p->n_maps++;
	}
	fclose(f);
}

static const struct map *find_map(const struct pid_maps *p, uint64_t ip)
{
	for (int i = 0; i < p->n_maps; i++)
		if (ip >= p->maps[i].start && ip < p->maps[i].end)
			return &p->maps[i];
	return NULL;
}

void sym_forget(struct sym_cache *c, pid_t pid)
{
	for (int i = 0; i < c->n_pids; i++)
		if (c->pids[i].pid == pid)
			c->pids[i].loaded = false;
}

static const struct sym *find_sym(const struct module *m, uint64_t vaddr)
{
	size_t lo = 0, hi = m->n_syms;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo - 1 is the last symbol at or below; look back past aliases
	 * and small neighbours for one that covers VADDR */
	for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++) {
		const struct sym *s = &m->syms[i];

		if (vaddr < s->addr + (s->size ? s->size : 1))
			return s;
	}
	return NULL;
}

int sym_lookup(struct sym_cache *c, pid_t pid, uint64_t ip, char *name,
	       size_t nlen, char *module, size_t mlen)
{
	struct pid_maps *p = pid_slot(c, pid);
	const struct map *m;
	const struct sym *s;
	uint64_t off, vaddr = 0;
	bool found = false;

	if (!p->loaded)
		load_maps(c, p);
	m = find_map(p, ip);
	if (!m) {
		load_maps(c, p); /* mapped since we looked */
		m = find_map(p, ip);
	}
	if (!m)
		return -ENOENT;
	off = ip - m->start + m->offset;
	for (int i = 0; i < m->mod->n_segs && !found; i++) {
		const struct seg *g = &m->mod->segs[i];

		if (off >= g->offset && off < g->offset + g->filesz) {
			vaddr = off - g->offset + g->vaddr;
			found = true;
		}
	}
	snprintf(module, mlen, "%s", m->mod->base);
	s = found ? find_sym(m->mod, vaddr) : NULL;
	if (s)
		snprintf(name, nlen, "%s", s->name);
	else
		snprintf(name, nlen, "%s+0x%llx", m->mod->base,
			 (unsigned long long)off);
	return 0;
}

bool sym_after_call(pid_t pid, uint64_t ra)
{
	unsigned char b[7];

	if (ra < 7 || proc_read_mem(pid, ra - 7, b, sizeof(b)))
		return false;
	/* call rel32 (e8), call *disp32(%rip)/(%reg) (ff /2, 6 bytes),
	 * call *disp8(%reg) (ff /2, 3 bytes), call *%reg (ff d0+r) */
	if (b[2] == 0xe8)
		return true;
	if (b[1] == 0xff && ((b[2] >> 3) & 7) == 2)
		return true;
	if (b[4] == 0xff && ((b[5] >> 3) & 7) == 2 && (b[5] >> 6) == 1)
		return true;
	if (b[5] == 0xff && ((b[6] & 0xf8) == 0xd0 || (b[6] & 0xf8) == 0x10))
		return true;
	/* with a REX prefix: 41 ff d0+r */
	return b[4] == 0x41 && b[5] == 0xff && (b[6] & 0xf8) == 0xd0;
}
