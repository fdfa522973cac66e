// SPDX-License-Identifier: GPL-2.0
/*
 * Where a C threading.RLock waits (rlocksites.h): its methods from the
 * type named "_thread.RLock", their bounds from the unwind tables, and in
 * them the calls that sleep.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "record/ehframe.h"
#include "record/elfimg.h"
#include "record/rlocksites.h"

#define TYPE_NAME "_thread.RLock"
/* A static PyTypeObject: tp_name right after the PyVarObject head,
 * tp_methods at +232 (the same from 3.9 to 3.15). */
#define TP_NAME_OFF 24
#define TP_METHODS_OFF 232
/* A PyType_Spec: name, basicsize, itemsize, flags, then the slots
 * ({int slot; void *pfunc}, 16 bytes each, ending with slot 0). */
#define SPEC_SLOTS_OFF 24
#define TYPE_SLOT_SIZE 16
#define PY_TP_METHODS 64
/* PyMethodDef: ml_name, ml_meth, ml_flags, ml_doc */
#define METHODDEF_SIZE 32
#define MAX_TYPE_SLOTS 64
#define MAX_METHODS 64
#define MAX_CANDIDATES 8
#define MAX_METHOD_FNS 4
#define MAX_PARKERS 8
#define MAX_FN_BYTES 16384
/*
 * From `call PyEval_SaveThread` to the `call PyThread_acquire_lock_timed`
 * of the same Py_BEGIN_ALLOW_THREADS block: 21 and 22 bytes in Debian's
 * 3.9, 3.11 and 3.13 (the argument moves between them).
 */
#define SAVE_REACH 64

/* The methods that acquire: `with rlock:` calls __enter__, the same C
 * function as acquire before 3.15, a function of its own since. */
static const char *const acquiring[] = { "acquire", "__enter__" };
/* Their names when symbols are all there is (3.9-3.14, 3.15). */
static const char *const symbols[] = { "rlock_acquire", "_thread_RLock_acquire",
				       "_thread_RLock___enter__" };

static bool read_u64(const struct elfimg *img, uint64_t vaddr, uint64_t *v)
{
	return vaddr && !elfimg_read_vaddr(img, vaddr, v, sizeof(*v));
}

/* A function's first instruction: where an FDE starts. */
static bool function_at(const struct elfimg *img, uint64_t addr)
{
	uint64_t start, end;

	return !ehframe_function(img, addr, &start, &end) && start == addr;
}

static bool add_unique(uint64_t *v, int *n, int max, uint64_t x)
{
	for (int i = 0; i < *n; i++)
		if (v[i] == x)
			return false;
	if (*n == max)
		return false;
	v[(*n)++] = x;
	return true;
}

static bool acquiring_name(const struct elfimg *img, uint64_t name)
{
	char s[16];

	for (size_t i = 0; i < sizeof(acquiring) / sizeof(*acquiring); i++) {
		size_t len = strlen(acquiring[i]) + 1;

		if (!elfimg_read_vaddr(img, name, s, len) &&
		    !memcmp(s, acquiring[i], len))
			return true;
	}
	return false;
}

/* The acquiring functions of method table TABLE into FNS. */
static int acquiring_methods(const struct elfimg *img, uint64_t table,
			     uint64_t *fns, int max)
{
	int n = 0;

	for (int i = 0; i < MAX_METHODS; i++) {
		uint64_t def[2]; /* ml_name, ml_meth */

		if (!table ||
		    elfimg_read_vaddr(img, table + (uint64_t)i * METHODDEF_SIZE,
				      def, sizeof(def)) ||
		    !def[0])
			break;
		if (acquiring_name(img, def[0]) && function_at(img, def[1]))
			add_unique(fns, &n, max, def[1]);
	}
	return n;
}

/* A PyType_Spec's Py_tp_methods, 0 when it has none. */
static uint64_t spec_methods(const struct elfimg *img, uint64_t slots)
{
	for (int i = 0; slots && i < MAX_TYPE_SLOTS; i++) {
		uint64_t at = slots + (uint64_t)i * TYPE_SLOT_SIZE, pfunc;
		int32_t id;

		if (elfimg_read_vaddr(img, at, &id, sizeof(id)) || !id ||
		    !read_u64(img, at + 8, &pfunc))
			break;
		if (id == PY_TP_METHODS)
			return pfunc;
	}
	return 0;
}

/* NAME_SLOT holds a pointer to the type's name: the name of a
 * PyType_Spec, or the tp_name of a static type. */
static int type_methods(const struct elfimg *img, uint64_t name_slot,
			uint64_t *fns, int max)
{
	uint64_t slots, table;
	int n = 0;

	if (read_u64(img, name_slot + SPEC_SLOTS_OFF, &slots))
		n = acquiring_methods(img, spec_methods(img, slots), fns, max);
	if (!n && name_slot >= TP_NAME_OFF &&
	    read_u64(img, name_slot - TP_NAME_OFF + TP_METHODS_OFF, &table))
		n = acquiring_methods(img, table, fns, max);
	return n;
}

static int methods_by_type(const struct elfimg *img, uint64_t *fns, int max)
{
	uint64_t names[MAX_CANDIDATES], slots[MAX_CANDIDATES];
	int nn = elfimg_find_string(img, TYPE_NAME, names, MAX_CANDIDATES);

	for (int i = 0; i < nn && i < MAX_CANDIDATES; i++) {
		int ns = elfimg_find_pointers(img, names[i], slots,
					      MAX_CANDIDATES);

		for (int k = 0; k < ns && k < MAX_CANDIDATES; k++) {
			int n = type_methods(img, slots[k], fns, max);

			if (n)
				return n;
		}
	}
	return 0;
}

static int methods_by_symbol(const struct elfimg *img, uint64_t *fns, int max)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(symbols) / sizeof(*symbols); i++) {
		uint64_t vaddr;

		if (!elfimg_find_symbol(img, symbols[i], &vaddr, NULL))
			add_unique(fns, &n, max, vaddr);
	}
	return n;
}

/* What the calls that wait go to. */
struct wait_targets {
	uint64_t save;	  /* PyEval_SaveThread */
	uint64_t acquire; /* PyThread_acquire_lock_timed */
	uint64_t parkers[MAX_PARKERS];
	int n_parkers;
};

/* 3.13+: the functions that call _PySemaphore_Wait park a thread. */
static void find_parkers(const struct elfimg *img, struct wait_targets *t)
{
	uint64_t wait, calls[MAX_PARKERS * 2], start, end;
	int n;

	if (elfimg_find_symbol(img, "_PySemaphore_Wait", &wait, NULL))
		return;
	n = elfimg_find_calls_to(img, wait, calls, MAX_PARKERS * 2);
	for (int i = 0; i < n && i < MAX_PARKERS * 2; i++)
		if (!ehframe_function(img, calls[i], &start, &end))
			add_unique(t->parkers, &t->n_parkers, MAX_PARKERS,
				   start);
}

static bool is_parker(const struct wait_targets *t, uint64_t target)
{
	for (int i = 0; i < t->n_parkers; i++)
		if (t->parkers[i] == target)
			return true;
	return false;
}

/* The `call rel32`s of CODE (at START, LEN bytes) that wait. */
static void scan_waits(const uint8_t *code, uint64_t start, size_t len,
		       const struct wait_targets *t, uint64_t *sites, int *n,
		       int max)
{
	uint64_t saved = 0; /* the last `call PyEval_SaveThread` */

	for (size_t i = 0; i + 5 <= len; i++) {
		uint64_t site = start + i, target;
		int32_t rel;

		if (code[i] != 0xe8)
			continue;
		memcpy(&rel, code + i + 1, sizeof(rel));
		target = site + 5 + (int64_t)rel;
		if (t->save && target == t->save)
			saved = site;
		else if (t->acquire && target == t->acquire && saved &&
			 site - saved <= SAVE_REACH)
			add_unique(sites, n, max, site);
		else if (is_parker(t, target))
			add_unique(sites, n, max, site);
	}
}

/* The wait sites of the function at FN (its FDE's range: a GCC ".cold"
 * part has its own, and is not looked at). */
static void waits_in(const struct elfimg *img, uint64_t fn,
		     const struct wait_targets *t, uint64_t *sites, int *n,
		     int max)
{
	uint64_t start, end;
	uint8_t *code;

	if (ehframe_function(img, fn, &start, &end) || end <= start ||
	    end - start > MAX_FN_BYTES)
		return;
	code = malloc(end - start);
	if (code && !elfimg_read_vaddr(img, start, code, end - start))
		scan_waits(code, start, end - start, t, sites, n, max);
	free(code);
}

int rlocksites_find(const struct elfimg *img, uint64_t *sites, int max)
{
	uint64_t fns[MAX_METHOD_FNS];
	struct wait_targets t = { 0 };
	int nf, n = 0;

	nf = methods_by_type(img, fns, MAX_METHOD_FNS);
	if (!nf)
		nf = methods_by_symbol(img, fns, MAX_METHOD_FNS);
	if (!nf)
		return 0;
	if (elfimg_find_symbol(img, "PyEval_SaveThread", &t.save, NULL))
		t.save = 0;
	if (elfimg_find_symbol(img, "PyThread_acquire_lock_timed", &t.acquire,
			       NULL))
		t.acquire = 0;
	find_parkers(img, &t);
	for (int i = 0; i < nf; i++)
		waits_in(img, fns[i], &t, sites, &n, max);
	return n;
}
