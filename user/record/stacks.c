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
#include "common/pidmap.h"
#include "common/procfs.h"
#include "record/pyobj.h"
#include "stackrec.h"
#include "record/stacks.h"
#include "session/stacktab.h"
#include "record/symbolize.h"
#include "common/strs.h"

#define MAX_INTERPS 16
#define MAX_SCAN_THREADS 4096
#define SCAN_NS 100000000ull /* read the thread lists this often */
#define NAME_TRIES 50
#define CHUNK_BYTES (8u << 20)
/* stacks and names gathered before they are written, while recording */
#define FLUSH_RECORDS 4096

/* A code object of one process, read once. */
struct code_ent {
	uint64_t addr;
	bool ok;
	struct pyobj_code c;
};

/* A live thread the scans have met, and its Python name once read. */
struct named {
	uint32_t tid;
	int tries;
	bool done;
	char *name; /* NULL: none (yet) */
};

struct stk_proc {
	pid_t pid;
	const struct py_facts *facts;
	uint64_t gil_addr, runtime;
	int memfd;
	struct pyobj_mem mem;
	struct code_ent *codes; /* open addressing by addr */
	size_t n_codes, cap_codes;
	struct named *named; /* live threads only */
	size_t n_named, cap_named;
	bool exited; /* forgotten at the next tick */
};

struct stk_recorder {
	struct gilscope_bpf *skel;
	/* frames, and the stacks and names not written yet: written as they
	 * gather (stk_tick), so that memory does not grow with the recording */
	struct stacktab tab;
	struct sym_cache *syms;
	struct pidmap procs; /* pid -> stk_proc */
	pid_t *gone; /* processes that exited, forgotten at the next tick */
	size_t n_gone, cap_gone;
	struct bpf_link **links;
	int n_links;
	struct gs_writer *w; /* for the stacks of sleepers found by a scan */
	unsigned int sample_hz;
	int learners;
	uint64_t last_scan;
	/* what happened, for the table's meta record */
	uint64_t records, bad_records, unresolved, native_cut;
	int64_t fid_unknown;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

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

static void mem_open(struct stk_proc *p)
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
		mem_open(p);
	if (p->memfd < 0)
		return -ESRCH;
	n = pread(p->memfd, buf, len, (off_t)addr);
	if ((size_t)n != len) {
		/* a descriptor opened before an exec reads the old image: the
		 * first failure gets a fresh one */
		mem_open(p);
		n = p->memfd < 0 ? -1 : pread(p->memfd, buf, len, (off_t)addr);
	}
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

static struct stk_proc *proc_find(const struct stk_recorder *st, pid_t pid)
{
	return pidmap_get(&st->procs, pid);
}

static void codes_reset(struct stk_proc *p)
{
	for (size_t i = 0; i < p->cap_codes; i++)
		if (p->codes[i].addr)
			pyobj_code_free(&p->codes[i].c);
	free(p->codes);
	p->codes = NULL;
	p->n_codes = p->cap_codes = 0;
}

static void proc_reset(struct stk_proc *p)
{
	codes_reset(p);
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
static void retire_names(struct stk_recorder *st, struct stk_proc *p)
{
	for (size_t i = 0; i < p->n_named; i++)
		if (p->named[i].name)
			stacktab_set_thread(&st->tab, p->pid, p->named[i].tid,
					    p->named[i].name);
}

static struct stk_proc *proc_add(struct stk_recorder *st, pid_t pid)
{
	struct stk_proc *p = proc_find(st, pid);

	if (p) {
		retire_names(st, p);
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
	proc_reset(p);
	p->pid = pid;
	p->exited = false;
	mem_open(p);
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

static void set_facts(struct stk_proc *p, uint64_t gil_addr,
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
		.gil_addr = gil_addr,
		.gil_last_holder = f->gil_last_holder,
		.gil_locked = f->gil_locked,
		.gil_cond = f->gil_cond,
		.gil_switch_cond = f->gil_switch_cond,
		.tstate_frame = s->tstate_frame,
		.cframe_frame = s->has_cframe ? s->cframe_frame : GS_OFF_NONE,
		.tstate_tid = f->tstate_native_thread_id ?
				      f->tstate_native_thread_id :
				      GS_OFF_NONE,
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
	p = proc_add(st, pid);
	if (p)
		set_facts(p, gil_addr, facts);
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
static uint64_t code_word(struct stk_proc *p, uint64_t code)
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
static struct code_ent *code_get(struct stk_proc *p, uint64_t word)
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
	struct stk_proc *p = proc_find(st, r->tgid);
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
static int64_t python_frame(struct stk_recorder *st, struct stk_proc *p,
			    uint64_t word, uint64_t instr)
{
	struct code_ent *e = p && p->facts ? code_get(p, word) : NULL;
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
	struct stk_proc *p = proc_find(st, rec->tgid);
	uint32_t fids[GS_PY_MAX_FRAMES];
	uint32_t n = rec->n;

	/* BPF sends the leaf first; the table keeps the root first */
	for (uint32_t i = 0; i < n; i++) {
		int64_t fid = python_frame(st, p, rec->data[2 * i],
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

/* ------------------------------------------------------------ threads */

static struct named *named_find(struct stk_proc *p, uint32_t tid)
{
	for (size_t i = 0; i < p->n_named; i++)
		if (p->named[i].tid == tid)
			return &p->named[i];
	return NULL;
}

static struct named *named_get(struct stk_proc *p, uint32_t tid)
{
	struct named *nm = named_find(p, tid);

	if (nm)
		return nm;
	if (p->n_named == p->cap_named) {
		size_t cap = p->cap_named ? p->cap_named * 2 : 16;
		struct named *v = realloc(p->named, cap * sizeof(*v));

		if (!v)
			return NULL;
		p->named = v;
		p->cap_named = cap;
	}
	p->named[p->n_named] = (struct named){ .tid = tid };
	return &p->named[p->n_named++];
}

/* Is C threading.Thread._bootstrap? (3.9 and 3.10 have no qualname) */
static bool is_bootstrap(const struct stk_proc *p, const struct pyobj_code *c)
{
	const char *want = p->mem.f->code_qualname ? "Thread._bootstrap" :
						     "_bootstrap";

	return !strcmp(c->qualname, want) && ends_with(c->file, "threading.py");
}

/*
 * The Python name of a thread: threading.Thread._bootstrap is the first
 * frame of every thread the threading module starts; its `self` (first
 * local) is the Thread object, whose `_name` is the name. AGAIN: read a
 * name found before again (the program may rename a running thread).
 */
static void name_thread(struct stk_proc *p, uint32_t tid, uint64_t tstate,
			bool again)
{
	const struct py_stack_facts *f = p->mem.f;
	struct named *nm = named_get(p, tid);
	struct pyobj_frame fr;
	struct code_ent *e;
	uint64_t bottom, self;
	char name[256];

	if (!nm || (nm->done && (!again || !nm->name)) ||
	    (!nm->done && nm->tries++ >= NAME_TRIES))
		return;
	if (nm->done && tid == (uint32_t)p->pid)
		return;
	if (tid == (uint32_t)p->pid) {
		nm->name = strdup("MainThread");
		nm->done = nm->name != NULL;
		return;
	}
	bottom = pyobj_bottom_frame(&p->mem, tstate);
	if (!bottom || pyobj_frame(&p->mem, bottom, &fr))
		return;
	e = code_get(p, code_word(p, fr.code));
	if (!e || !e->ok)
		return;
	nm->done = true; /* it has started: the bottom frame stays */
	if (!is_bootstrap(p, &e->c) ||
	    pyobj_u64(&p->mem, bottom + f->frame_localsplus, &self) ||
	    pyobj_attr_str(&p->mem, pyobj_ref(f, self), "_name", name,
			   sizeof(name)))
		return;
	if (nm->name && !strcmp(nm->name, name))
		return;
	free(nm->name);
	nm->name = strdup(name);
}

/*
 * A thread's stack came: read its name now, while it runs, if it has none
 * yet. A thread serving one request may live a millisecond, far less than
 * the period of the scans (SCAN_NS).
 */
static void name_at_stack(struct stk_recorder *st, const struct gs_event *e)
{
	struct stk_proc *p = proc_find(st, e->tgid);
	struct named *nm = p ? named_find(p, e->tid) : NULL;
	struct gs_pythread t = {};

	if (!p || !p->facts || (nm && nm->done) ||
	    (e->flags & (GS_STKF_NO_TSTATE | GS_STKF_STALE)) ||
	    bpf_map_lookup_elem(bpf_map__fd(st->skel->maps.py_threads), &e->tid,
				&t) ||
	    !t.tstate)
		return;
	name_thread(p, e->tid, t.tstate, false);
}

/* Tell BPF the tstate of a thread it has not seen take the GIL. Returns
 * whether BPF knew none for it. */
static bool learn_tstate(struct stk_recorder *st, struct stk_proc *p,
			 uint32_t tid, uint64_t tstate)
{
	int fd = bpf_map__fd(st->skel->maps.py_threads);
	struct gs_pythread t = {};
	bool unknown = bpf_map_lookup_elem(fd, &tid, &t) != 0;

	if (!unknown && t.tstate == tstate)
		return false;
	t = (struct gs_pythread){
		.tstate = tstate,
		.gil_cond = p->gil_addr ? p->gil_addr + p->facts->gil_cond : 0,
	};
	bpf_map_update_elem(fd, &tid, &t, BPF_ANY);
	return unknown;
}

/*
 * A thread asleep that no probe has walked yet (found blocked when
 * attaching, say): its Python stack cannot change while it sleeps, so a
 * walk from here is the stack of that sleep. It goes into the session as a
 * stack event of now, with an id of ours.
 */
static void walk_sleeper(struct stk_recorder *st, struct stk_proc *p,
			 uint32_t tid, uint64_t tstate)
{
	uint32_t fids[GS_PY_MAX_FRAMES], n = 0, flags = 0;
	uint64_t frame = 0, id = 0x75736572ull ^ p->pid;
	struct gs_event e = { .type = GS_EV_STACK,
			      .tid = tid,
			      .tgid = p->pid,
			      .a32 = GS_STK_OFFCPU };
	char state = proc_thread_state(p->pid, tid);

	if ((state != 'S' && state != 'D') || !st->w)
		return;
	frame = pyobj_top_frame(&p->mem, tstate);
	while (frame && n < GS_PY_MAX_FRAMES) {
		struct pyobj_frame fr;
		uint64_t code;
		int64_t fid;

		if (pyobj_frame(&p->mem, frame, &fr))
			return;
		frame = fr.previous;
		if (fr.shim)
			continue;
		code = code_word(p, fr.code);
		fid = python_frame(st, p, code, fr.instr);
		if (fid < 0)
			return;
		fids[n++] = fid;
		id = (id ^ code ^ fr.instr << 1) * 0x100000001b3ull;
	}
	if (!n)
		return;
	if (frame)
		flags |= GS_STACKF_TRUNCATED;
	for (uint32_t i = 0; i < n / 2; i++) {
		uint32_t x = fids[i];

		fids[i] = fids[n - 1 - i];
		fids[n - 1 - i] = x;
	}
	e.arg[0] = id | 1;
	e.ts = now_ns();
	if (!stacktab_add_stack(&st->tab, GS_SREC_PYTHON, e.arg[0], p->pid,
				flags, fids, n))
		gs_writer_event(st->w, &e);
}

/* The thread id of TSTATE, 0 if unknown (pyobj_tstate_tid) */
static uint32_t tstate_tid(struct stk_proc *p, uint64_t tstate)
{
	bool from_pthread;
	uint32_t tid =
		pyobj_tstate_tid(&p->mem, p->facts, tstate, &from_pthread);

	return from_pthread && !proc_thread_state(p->pid, tid) ? 0 : tid;
}

/* Walk _PyRuntime's interpreters and their thread lists. */
static void scan_process(struct stk_recorder *st, struct stk_proc *p)
{
	const struct py_stack_facts *f = p->mem.f;
	uint64_t interp = 0, tstate = 0;
	uint32_t tid;

	if (!p->facts || !p->runtime ||
	    pyobj_u64(&p->mem, p->runtime + f->runtime_interp_head, &interp))
		return;
	for (int i = 0; interp && i < MAX_INTERPS; i++) {
		if (pyobj_u64(&p->mem, interp + f->interp_threads_head,
			      &tstate))
			return;
		for (int k = 0; tstate && k < MAX_SCAN_THREADS; k++) {
			tid = tstate_tid(p, tstate);
			if (tid) {
				if (learn_tstate(st, p, tid, tstate))
					walk_sleeper(st, p, tid, tstate);
				name_thread(p, tid, tstate, true);
			}
			if (pyobj_u64(&p->mem, tstate + f->tstate_next,
				      &tstate))
				return;
		}
		if (pyobj_u64(&p->mem, interp + f->interp_next, &interp))
			return;
	}
}

static void scan_all(struct stk_recorder *st)
{
	struct stk_proc *p;

	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));)
		scan_process(st, p);
	st->last_scan = now_ns();
}

/* A thread exited: its name, if it had one, goes into the table (to be
 * written with the next stacks) and the scans forget it. */
static void thread_exited(struct stk_recorder *st, pid_t pid, uint32_t tid)
{
	struct stk_proc *p = proc_find(st, pid);
	struct named *nm = p ? named_find(p, tid) : NULL;

	if (!nm)
		return;
	if (nm->name)
		stacktab_set_thread(&st->tab, pid, tid, nm->name);
	free(nm->name);
	*nm = p->named[--p->n_named];
}

/*
 * The last thread of PID exited. Its stacks may still wait in the stacks
 * ring, which is read after the events ring: it is forgotten at the next
 * tick, once the recorder's loop has read both.
 */
static void proc_exited(struct stk_recorder *st, pid_t pid)
{
	struct stk_proc *p = proc_find(st, pid);

	if (!p || p->exited)
		return;
	if (st->n_gone == st->cap_gone) {
		size_t cap = st->cap_gone ? st->cap_gone * 2 : 16;
		pid_t *v = realloc(st->gone, cap * sizeof(*v));

		if (!v)
			return; /* kept until the end: only memory is lost */
		st->gone = v;
		st->cap_gone = cap;
	}
	p->exited = true;
	st->gone[st->n_gone++] = pid;
}

static void forget_exited(struct stk_recorder *st)
{
	for (size_t i = 0; i < st->n_gone; i++) {
		struct stk_proc *p = proc_find(st, st->gone[i]);

		/* not when the pid came back in the meantime (proc_add) */
		if (!p || !p->exited)
			continue;
		pidmap_remove(&st->procs, p->pid);
		retire_names(st, p); /* threads whose exit was lost */
		proc_reset(p);
		free(p);
	}
	st->n_gone = 0;
}

static int write_payload(void *ctx, const void *buf, size_t len,
			 uint32_t records)
{
	return gs_writer_blob(ctx, GS_CHUNK_STACKS, buf, len, records);
}

/* What gathered since the last time, as STACKS chunks: new frames,
 * stacks, the names of threads that exited. */
static int write_pending(struct stk_recorder *st, struct gs_writer *w)
{
	if (stacktab_flush(&st->tab, CHUNK_BYTES, write_payload, w))
		return -EIO;
	return 0;
}

/* The names of the threads alive at the end go into the stack table. */
static void name_live_threads(struct stk_recorder *st)
{
	struct stk_proc *p;

	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));)
		retire_names(st, p);
}

void stk_on_event(struct stk_recorder *st, const struct gs_event *e)
{
	struct stk_proc *parent, *child;

	if (!st)
		return;
	switch (e->type) {
	case GS_EV_STACK:
		name_at_stack(st, e);
		break;
	case GS_EV_FORK:
		parent = proc_find(st, e->tgid);
		if (parent && (e->arg[0] >> 32) != e->tgid) {
			/* the child has the parent's image; BPF copied the
			 * walking facts itself */
			child = proc_add(st, e->arg[0] >> 32);
			if (child)
				set_facts(child, parent->gil_addr,
					  parent->facts);
		}
		break;
	case GS_EV_EXIT:
		thread_exited(st, e->tgid, e->tid);
		if (e->a32) {
			sym_forget(st->syms, e->tgid);
			proc_exited(st, e->tgid);
		}
		break;
	case GS_EV_EXEC:
		/* addresses mean other things in the new image; the facts
		 * stay until the recorder has looked at it (stk_track) */
		sym_forget(st->syms, e->tgid);
		parent = proc_find(st, e->tgid);
		if (parent) {
			codes_reset(parent);
			/* an open /proc/PID/mem keeps reading the old image */
			mem_open(parent);
		}
		break;
	}
}

void stk_tick(struct stk_recorder *st)
{
	if (!st)
		return;
	forget_exited(st);
	/* an error stays in the writer: the recorder's next write sees it */
	if (stacktab_pending(&st->tab) >= FLUSH_RECORDS && st->w)
		write_pending(st, st->w);
	if (now_ns() - st->last_scan > SCAN_NS)
		scan_all(st);
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
	scan_all(st); /* the names of threads still alive */
	/* after those of threads that exited: a tid named again later is
	 * the later name */
	name_live_threads(st);
	m = &st->tab.meta;
	kv_setf(m, "sample_hz", "%u", st->sample_hz);
	kv_setf(m, "max_python_frames", "%d", GS_PY_MAX_FRAMES);
	kv_setf(m, "records", "%llu", (unsigned long long)st->records);
	kv_setf(m, "bad_records", "%llu", (unsigned long long)st->bad_records);
	kv_setf(m, "unresolved_frames", "%llu",
		(unsigned long long)st->unresolved);
	kv_setf(m, "lost_records", "%llu",
		(unsigned long long)st->skel->bss->stk_lost_records);
	return write_pending(st, w);
}

void stk_free(struct stk_recorder *st)
{
	struct stk_proc *p;

	if (!st)
		return;
	stop_sampler(st);
	free(st->links);
	for (size_t i = 0; (p = pidmap_next(&st->procs, &i));) {
		proc_reset(p);
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
	struct stk_proc *p = st ? proc_find(st, pid) : NULL;
	struct named *nm = p ? named_find(p, tid) : NULL;

	return nm ? nm->name : NULL;
}

const struct stacktab *stk_table(const struct stk_recorder *st)
{
	return st ? &st->tab : NULL;
}
