// SPDX-License-Identifier: GPL-2.0
/*
 * Stacks at record time (see stacks.h). Stack records arrive on their own
 * ring buffer with a wakeup each, since a stack is named by reading the
 * process's memory and the process may exit soon after; they are rare, as
 * BPF sends each distinct stack once.
 */
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "gilscope.skel.h"
#include "common/procfs.h"
#include "record/pyobj.h"
#include "stackrec.h"
#include "record/stacks.h"
#include "session/keys.h"
#include "session/stacktab.h"
#include "record/symbolize.h"
#include "record/stacks_int.h"
#include "common/strs.h"

/* ------------------------------------------------------------ set-up */

void stk_configure(struct gilscope_bpf *skel, const struct record_opts *o)
{
	skel->rodata->stacks_on = !o->no_stacks;
	if (o->no_stacks)
		bpf_program__set_autoload(skel->progs.on_stack_sample, false);
}

/* One perf event per CPU, at HZ, runs the sampler. */
static int start_sampler(struct stk_recorder *st)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	st->links = calloc(n > 0 ? n : 1, sizeof(*st->links));
	if (!st->links)
		return -ENOMEM;
	for (long cpu = 0; cpu < n; cpu++) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_CPU_CLOCK,
			.sample_freq = st->sample_hz,
			.freq = 1,
		};
		int fd = syscall(__NR_perf_event_open, &attr, -1, (int)cpu, -1,
				 PERF_FLAG_FD_CLOEXEC);
		struct bpf_link *link;

		if (fd < 0) {
			if (errno == ENODEV || errno == ENOENT)
				continue; /* an offline CPU */
			return -errno;
		}
		link = bpf_program__attach_perf_event(
			st->skel->progs.on_stack_sample, fd);
		if (!link) {
			int err = -errno;

			close(fd);
			return err;
		}
		st->links[st->n_links++] = link;
	}
	return 0;
}

static int on_record(void *ctx, void *data, size_t size);

int stk_start(struct stk_recorder **out, struct gilscope_bpf *skel,
	      struct ring_buffer *rb, struct gs_writer *w,
	      const struct record_opts *o)
{
	struct stk_recorder *st;
	int err;

	*out = NULL;
	if (o->no_stacks)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	stacktab_init(&st->tab);
	st->skel = skel;
	st->w = w;
	st->sample_hz = o->sample_hz;
	st->syms = sym_new();
	st->fid_unknown = stacktab_frame(&st->tab, ST_PYTHON,
					 "[unknown Python frame]", "", 0);
	err = st->syms && st->fid_unknown >= 0 ? 0 : -ENOMEM;
	if (!err)
		err = ring_buffer__add(rb, bpf_map__fd(skel->maps.stacks),
				       on_record, st);
	if (!err && st->sample_hz) {
		err = start_sampler(st);
		if (err)
			fprintf(stderr,
				"gilscope: cannot start the %u Hz stack sampler: %s\n",
				st->sample_hz, strerror(-err));
	}
	if (err) {
		stk_free(st);
		return err;
	}
	*out = st;
	return 0;
}

/* ------------------------------------------------------------ processes */

void stk_mem_open(struct stk_proc *p)
{
	char path[64];

	if (p->memfd >= 0)
		close(p->memfd);
	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	p->memfd = open(path, O_RDONLY | O_CLOEXEC);
}

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct stk_proc *p = ctx;
	ssize_t n;

	if (p->memfd < 0)
		stk_mem_open(p);
	if (p->memfd < 0)
		return -ESRCH;
	n = pread(p->memfd, buf, len, (off_t)addr);
	if ((size_t)n != len) {
		/* a descriptor opened before an exec reads the old image: the
		 * first failure gets a fresh one */
		stk_mem_open(p);
		n = p->memfd < 0 ? -1 : pread(p->memfd, buf, len, (off_t)addr);
	}
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

struct stk_proc *stk_proc_find(const struct stk_recorder *st, pid_t pid)
{
	return pidmap_get(&st->procs, pid);
}

void stk_codes_reset(struct stk_proc *p)
{
	for (size_t i = 0; i < p->cap_codes; i++)
		if (p->codes[i].addr)
			pyobj_code_free(&p->codes[i].c);
	free(p->codes);
	p->codes = NULL;
	p->n_codes = p->cap_codes = 0;
}

void stk_proc_reset(struct stk_proc *p)
{
	stk_codes_reset(p);
	for (size_t i = 0; i < p->n_named; i++)
		free(p->named[i].name);
	free(p->named);
	p->named = NULL;
	p->n_named = p->cap_named = 0;
	if (p->memfd >= 0)
		close(p->memfd);
	p->memfd = -1;
}

/* The names P's threads had go into the table (the threads are gone, or
 * P starts over: an exec, a pid reused). */
void stk_retire_names(struct stk_recorder *st, struct stk_proc *p)
{
	for (size_t i = 0; i < p->n_named; i++)
		if (p->named[i].name)
			stacktab_set_thread(&st->tab, p->pid, p->named[i].tid,
					    p->named[i].name);
}

struct stk_proc *stk_proc_add(struct stk_recorder *st, pid_t pid)
{
	struct stk_proc *p = stk_proc_find(st, pid);

	if (p) {
		stk_retire_names(st, p);
	} else {
		p = calloc(1, sizeof(*p));
		if (!p)
			return NULL;
		p->memfd = -1;
		if (pidmap_put(&st->procs, pid, p)) {
			free(p);
			return NULL;
		}
	}
	stk_proc_reset(p);
	p->pid = pid;
	p->exited = false;
	stk_mem_open(p);
	p->mem = (struct pyobj_mem){ .read = mem_read, .ctx = p };
	return p;
}

/* Bytes of a frame BPF reads: up to its last field it needs */
static uint16_t frame_head(const struct py_stack_facts *s)
{
	uint16_t end = s->frame_code + 8;

	if (s->frame_previous + 8 > end)
		end = s->frame_previous + 8;
	if (s->frame_instr + 8 > end)
		end = s->frame_instr + 8;
	if (s->owner_cstack >= 0 && s->frame_owner + 1 > end)
		end = s->frame_owner + 1;
	return end;
}

/* Can BPF walk these frames? (every field it reads within its head) */
static bool bpf_walkable(const struct py_stack_facts *s)
{
	return frame_head(s) <= GS_FRAME_HEAD && !(s->frame_code & 7) &&
	       !(s->frame_previous & 7) && !(s->frame_instr & 7);
}

void stk_set_facts(struct stk_proc *p, uint64_t gil_addr,
		   const struct py_facts *facts)
{
	p->facts = facts && facts->stk.instr_size && bpf_walkable(&facts->stk) ?
			   facts :
			   NULL;
	p->gil_addr = gil_addr;
	p->runtime = p->facts && gil_addr ? gil_addr - facts->gil_in_runtime :
					    0;
	p->mem.f = p->facts ? &p->facts->stk : NULL;
}

static struct gs_pyconf conf_of(uint64_t gil_addr, const struct py_facts *f,
				bool learn)
{
	const struct py_stack_facts *s = &f->stk;

	return (struct gs_pyconf){
		.gil = pyver_gil_layout(gil_addr, f),
		.gil_cond = f->gil_cond,
		.gil_switch_cond = f->gil_switch_cond,
		.tstate_frame = s->tstate_frame,
		.cframe_frame = s->has_cframe ? s->cframe_frame : GS_OFF_NONE,
		.frame_code = s->frame_code,
		.frame_previous = s->frame_previous,
		.frame_instr = s->frame_instr,
		.frame_owner = s->frame_owner,
		.owner_cstack = s->owner_cstack < 0 ? 0xff : s->owner_cstack,
		.learn_tstate = learn,
		.instr_size = s->instr_size,
		.ref_tag_bits = s->ref_tag_bits,
		.frame_head = frame_head(s),
		.code_qualname = s->code_qualname ? s->code_qualname :
						    s->code_name,
		.code_filename = s->code_filename,
		.code_firstlineno = s->code_firstlineno,
		.code_linetable = s->code_linetable,
		.str_state = s->str_state,
		.str_ascii_data = s->str_ascii_data,
		.bytes_size = s->bytes_size,
		.bytes_data = s->bytes_data,
	};
}

void stk_track(struct stk_recorder *st, pid_t pid, uint64_t gil_addr,
	       const struct py_facts *facts, const char *method)
{
	int fd, key = pid;
	struct stk_proc *p;
	struct gs_pyconf c;
	bool learn;

	if (!st)
		return;
	fd = bpf_map__fd(st->skel->maps.py_conf);
	p = stk_proc_add(st, pid);
	if (p)
		stk_set_facts(p, gil_addr, facts);
	if (!p || !p->facts) {
		bpf_map_delete_elem(fd, &key);
		return;
	}
	/* without take_gil probes, tstates are learned at acquisitions */
	learn = method &&
		(!strcmp(method, "dynsym") || !strcmp(method, "handoff"));
	c = conf_of(gil_addr, p->facts, learn);
	if (bpf_map_update_elem(fd, &key, &c, BPF_ANY))
		return;
	if (learn && !st->learners++)
		st->skel->bss->stk_learners = 1;
}

/* ------------------------------------------------------------ code objects */

/* The cache slot of code object ADDR, resolved or new (addr 0). */
static struct code_ent *code_slot(struct stk_proc *p, uint64_t addr)
{
	size_t i;

	if (p->n_codes * 2 + 2 > p->cap_codes) {
		size_t cap = p->cap_codes ? p->cap_codes * 2 : 256;
		struct code_ent *v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		for (size_t j = 0; j < p->cap_codes; j++) {
			if (!p->codes[j].addr)
				continue;
			for (i = (p->codes[j].addr >> 4) & (cap - 1); v[i].addr;
			     i = (i + 1) & (cap - 1))
				;
			v[i] = p->codes[j];
		}
		free(p->codes);
		p->codes = v;
		p->cap_codes = cap;
	}
	for (i = (addr >> 4) & (p->cap_codes - 1); p->codes[i].addr;
	     i = (i + 1) & (p->cap_codes - 1))
		if (p->codes[i].addr == addr)
			break;
	return &p->codes[i];
}

/* The identity BPF gives code object CODE (gs_code_word). */
uint64_t stk_code_word(struct stk_proc *p, uint64_t code)
{
	const struct py_stack_facts *f = p->mem.f;
	uint64_t name[2] = { 0, 0 };

	if (f->code_filename && f->code_filename != GS_OFF_NONE) {
		pyobj_u64(&p->mem, code + f->code_filename, &name[0]);
		pyobj_u64(&p->mem, code + f->code_filename + 8, &name[1]);
	}
	return gs_code_word(code, name[0], name[1]);
}

/* A code object by its identity WORD, read from the process the first
 * time. */
struct code_ent *stk_code_get(struct stk_proc *p, uint64_t word)
{
	struct code_ent *e = code_slot(p, word);

	if (!e || e->addr)
		return e;
	e->addr = word;
	e->ok = !pyobj_code(&p->mem, word & GS_CODE_ADDR_MASK, &e->c);
	p->n_codes++;
	return e;
}

/* What BPF read of a code object as it first appeared in a stack: used
 * when it is complete (ASCII names, whole location table) or when the
 * process cannot be read any more. */
static void add_code(struct stk_recorder *st, const struct gs_code_rec *r)
{
	struct stk_proc *p = stk_proc_find(st, r->tgid);
	struct code_ent *e = p && p->facts ? code_slot(p, r->code) : NULL;
	bool whole = r->qualname[0] && r->filename[0] &&
		     r->n == r->linetable_len;
	struct pyobj_code c = { .firstlineno = r->firstlineno };

	if (!e || e->addr)
		return;
	if (!whole &&
	    !pyobj_code(&p->mem, r->code & GS_CODE_ADDR_MASK, &e->c)) {
		e->addr = r->code;
		e->ok = true;
		p->n_codes++;
		return;
	}
	snprintf(c.qualname, sizeof(c.qualname), "%.*s", GS_CODE_NAME,
		 r->qualname);
	snprintf(c.name, sizeof(c.name), "%.*s", (int)sizeof(c.name) - 1,
		 c.qualname);
	snprintf(c.file, sizeof(c.file), "%.*s", GS_CODE_FILE, r->filename);
	if (!c.qualname[0])
		snprintf(c.name, sizeof(c.name), "<unknown>");
	c.linetable = malloc(r->n ? r->n : 1);
	if (c.linetable) {
		memcpy(c.linetable, r->linetable, r->n);
		c.linetable_len = r->n;
	}
	e->addr = r->code;
	e->c = c;
	e->ok = true;
	p->n_codes++;
}

/* The frame of code object WORD (gs_code_word) at instruction INSTR. */
int64_t stk_python_frame(struct stk_recorder *st, struct stk_proc *p,
			 uint64_t word, uint64_t instr)
{
	struct code_ent *e = p && p->facts ? stk_code_get(p, word) : NULL;
	int line;

	if (!e || !e->ok) {
		st->unresolved++;
		return st->fid_unknown;
	}
	line = pyobj_code_line(&e->c, p->mem.f, p->mem.f->linetable_format,
			       word & GS_CODE_ADDR_MASK, instr);
	return stacktab_frame(&st->tab, ST_PYTHON,
			      e->c.qualname[0] ? e->c.qualname : e->c.name,
			      e->c.file, line);
}

/* ------------------------------------------------------------ records */

static void add_python(struct stk_recorder *st, const struct gs_stack_rec *rec)
{
	struct stk_proc *p = stk_proc_find(st, rec->tgid);
	uint32_t fids[GS_PY_MAX_FRAMES];
	uint32_t n = rec->n;

	/* BPF sends the leaf first; the table keeps the root first */
	for (uint32_t i = 0; i < n; i++) {
		int64_t fid = stk_python_frame(st, p, rec->data[2 * i],
					       rec->data[2 * i + 1]);

		if (fid < 0)
			return;
		fids[n - 1 - i] = fid;
	}
	stacktab_add_stack(&st->tab, GS_SREC_PYTHON, rec->id, rec->tgid,
			   rec->flags, fids, n);
}

/*
 * Native frames, leaf first: the first is where the thread was; the others
 * come from frame pointers and are kept only while each looks like a return
 * address (a build without frame pointers gives garbage after the leaf).
 */
static void add_native(struct stk_recorder *st, const struct gs_stack_rec *rec)
{
	uint32_t fids[GS_NATIVE_MAX_FRAMES], kept = 0;
	char name[256], module[128];

	for (uint32_t i = 0; i < rec->n && i < GS_NATIVE_MAX_FRAMES; i++) {
		uint64_t ip = rec->data[i];
		int64_t fid;

		if (i > 0 && !sym_after_call(rec->tgid, ip)) {
			st->native_cut++;
			break;
		}
		/* a return address names the instruction after the call */
		if (sym_lookup(st->syms, rec->tgid, i ? ip - 1 : ip, name,
			       sizeof(name), module, sizeof(module)))
			break;
		fid = stacktab_frame(&st->tab, ST_NATIVE, name, module, 0);
		if (fid < 0)
			return;
		fids[kept++] = fid;
	}
	for (uint32_t i = 0; i < kept / 2; i++) {
		uint32_t x = fids[i];

		fids[i] = fids[kept - 1 - i];
		fids[kept - 1 - i] = x;
	}
	stacktab_add_stack(&st->tab, GS_SREC_NATIVE, rec->id, rec->tgid, 0,
			   fids, kept);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct stk_recorder *st = ctx;
	const struct gs_stack_rec *rec = data;
	size_t words;

	st->records++;
	if (size < GS_STACK_REC_HEADER) {
		st->bad_records++;
		return 0;
	}
	words = (size - GS_STACK_REC_HEADER) / 8;
	if (rec->kind == GS_SREC_CODE &&
	    size >= GS_CODE_REC_HEADER +
			    ((const struct gs_code_rec *)data)->n &&
	    ((const struct gs_code_rec *)data)->n <= GS_CODE_LINETABLE)
		add_code(st, data);
	else if (rec->kind == GS_SREC_PYTHON && rec->n <= GS_PY_MAX_FRAMES &&
		 words >= 2u * rec->n)
		add_python(st, rec);
	else if (rec->kind == GS_SREC_NATIVE &&
		 rec->n <= GS_NATIVE_MAX_FRAMES && words >= rec->n)
		add_native(st, rec);
	else
		st->bad_records++;
	return 0;
}

/* ------------------------------------------------------------ writing */

/* The sampler's perf events off. */
static void stop_sampler(struct stk_recorder *st)
{
	for (int i = 0; i < st->n_links; i++)
		bpf_link__destroy(st->links[i]);
	st->n_links = 0;
}

int stk_write(struct stk_recorder *st, struct gs_writer *w)
{
	struct kv_list *m;

	if (!st)
		return 0;
	/* the recording is over: the command may go on, unsampled */
	stop_sampler(st);
	stk_scan_all(st); /* the names of threads still alive */
	/* after those of threads that exited: a tid named again later is
	 * the later name */
	stk_name_live_threads(st);
	m = &st->tab.meta;
	kv_setf(m, GS_KEY_SAMPLE_HZ, "%u", st->sample_hz);
	kv_setf(m, GS_KEY_MAX_PYTHON_FRAMES, "%d", GS_PY_MAX_FRAMES);
	kv_setf(m, GS_KEY_RECORDS, "%llu", (unsigned long long)st->records);
	kv_setf(m, GS_KEY_BAD_RECORDS, "%llu",
		(unsigned long long)st->bad_records);
	kv_setf(m, GS_KEY_UNRESOLVED_FRAMES, "%llu",
		(unsigned long long)st->unresolved);
	kv_setf(m, GS_KEY_LOST_RECORDS, "%llu",
		(unsigned long long)st->skel->bss->stk_lost_records);
	return stk_write_pending(st, w);
}

void stk_free(struct stk_recorder *st)
{
	struct stk_proc *p;

	if (!st)
		return;
	stop_sampler(st);
	free(st->links);
	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));) {
		stk_proc_reset(p);
		free(p);
	}
	pidmap_free(&st->procs);
	free(st->gone);
	sym_free(st->syms);
	stacktab_free(&st->tab);
	free(st);
}

const char *stk_thread_name(const struct stk_recorder *st, pid_t pid,
			    uint32_t tid)
{
	struct stk_proc *p = st ? stk_proc_find(st, pid) : NULL;
	struct named *nm = p ? stk_named_find(p, tid) : NULL;

	return nm ? nm->name : NULL;
}

const struct stacktab *stk_table(const struct stk_recorder *st)
{
	return st ? &st->tab : NULL;
}
