// SPDX-License-Identifier: GPL-2.0
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz_util.h"
#include "pymem_walk.h"

/* smaller than the recorder's bounds (stacks.c), for speed: what is
 * fuzzed is each read, not how many */
#define WALK_INTERPS 4
#define WALK_THREADS 32
#define WALK_FRAMES 64

/* FUZZ_VERBOSE=1: print the names and frames (to check a seed) */
static bool verbose(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("FUZZ_VERBOSE") != NULL;
	return v;
}

const struct py_facts *pymem_facts(int minor)
{
	const struct py_facts *f = pyver_facts(3, minor);

	return f && f->stk.instr_size ? f : pyver_facts(3, 11);
}

/* One code object, as stk_python_frame() in record/stacks.c names it. */
static int name_frame(struct pyobj_mem *m, const struct py_facts *f,
		      uint64_t code, uint64_t instr)
{
	struct pyobj_code c;
	int line;

	if (pyobj_code(m, code, &c))
		return 0;
	line = pyobj_code_line(&c, &f->stk, f->stk.linetable_format, code,
			       instr);
	fuzz_use(&line, sizeof(line));
	fuzz_use(c.qualname, strlen(c.qualname));
	if (verbose())
		printf("  %s (%s:%d)\n", c.qualname, c.file, line);
	pyobj_code_free(&c);
	return 1;
}

/* threading's name of a thread, as name_thread() in stacks.c reads it */
static void thread_name(struct pyobj_mem *m, const struct py_facts *f,
			uint64_t tstate)
{
	uint64_t bottom = pyobj_bottom_frame(m, tstate), self;
	struct pyobj_frame fr;
	struct pyobj_code c;
	char name[256];
	bool bootstrap;

	if (!bottom || pyobj_frame(m, bottom, &fr) ||
	    pyobj_code(m, fr.code, &c))
		return;
	bootstrap = !strcmp(c.qualname, "Thread._bootstrap");
	pyobj_code_free(&c);
	if (!bootstrap ||
	    pyobj_u64(m, bottom + f->stk.frame_localsplus, &self) ||
	    pyobj_attr_str(m, pyobj_ref(&f->stk, self), "_name", name,
			   sizeof(name)))
		return;
	fuzz_use(name, strlen(name));
	if (verbose())
		printf("thread %s\n", name);
}

/* the frames of a thread, as walk_sleeper() in stacks.c reads them */
static int frames(struct pyobj_mem *m, const struct py_facts *f,
		  uint64_t tstate)
{
	uint64_t frame = pyobj_top_frame(m, tstate);
	struct pyobj_frame fr;
	int named = 0;

	for (int n = 0; frame && n < WALK_FRAMES; n++) {
		if (pyobj_frame(m, frame, &fr))
			break;
		frame = fr.previous;
		if (!fr.shim)
			named += name_frame(m, f, fr.code, fr.instr);
	}
	return named;
}

int pymem_walk(struct pyobj_mem *m, const struct py_facts *f, uint64_t runtime)
{
	const struct py_stack_facts *s = &f->stk;
	uint64_t interp = 0, tstate = 0, tid = 0;
	int named = 0;

	m->f = s;
	if (pyobj_u64(m, runtime + s->runtime_interp_head, &interp))
		return 0;
	for (int i = 0; interp && i < WALK_INTERPS; i++) {
		if (pyobj_u64(m, interp + s->interp_threads_head, &tstate))
			break;
		for (int k = 0; tstate && k < WALK_THREADS; k++) {
			if (f->tstate_native_thread_id)
				pyobj_u64(m,
					  tstate + f->tstate_native_thread_id,
					  &tid);
			thread_name(m, f, tstate);
			named += frames(m, f, tstate);
			if (pyobj_u64(m, tstate + s->tstate_next, &tstate))
				break;
		}
		if (pyobj_u64(m, interp + s->interp_next, &interp))
			break;
	}
	return named;
}
