// SPDX-License-Identifier: GPL-2.0
#include <stdbool.h>
#include <stdint.h>
#include "record/elfimg.h"
#include "record/interp.h"
#include "record/locksites.h"
#include "record/rlocksites.h"

struct range {
	uint64_t start, end;
};

/* Where function NAME lies ({0, 0} when it has no symbol with a size). */
static struct range function_range(struct elfimg *img, const char *name)
{
	struct range r = { 0, 0 };
	uint64_t vaddr, size;

	if (!elfimg_find_symbol(img, name, &vaddr, &size) && size) {
		r.start = vaddr;
		r.end = vaddr + size;
	}
	return r;
}

static bool in_range(const struct range *r, uint64_t vaddr)
{
	return vaddr >= r->start && vaddr < r->end;
}

/*
 * The instruction that tests a sem_* call's result: CPython writes
 * `if (sem_xxx(lock) == -1)`, compiled to `cmp $-1, %eax` (83 f8 ff) and a
 * conditional jump, which the kernel emulates: a cheap place for a uprobe
 * that still sees the result in eax. Returns its address or 0.
 */
static uint64_t result_test_after(struct elfimg *img, uint64_t call)
{
	unsigned char b[5];

	if (elfimg_read_vaddr(img, call + 5, b, sizeof(b)))
		return 0;
	if (b[0] != 0x83 || b[1] != 0xf8 || b[2] != 0xff)
		return 0;
	if (b[3] == 0x74 || b[3] == 0x75 ||
	    (b[3] == 0x0f && (b[4] == 0x84 || b[4] == 0x85)))
		return call + 8;
	return 0;
}

/* Add VADDR (and its file offset) to a site list of N entries. */
static void add_site(struct elfimg *img, uint64_t vaddr, uint64_t *offs,
		     uint64_t *vaddrs, int *n)
{
	if (*n == INTERP_MAX_SITES ||
	    elfimg_vaddr_to_offset(img, vaddr, &offs[*n]))
		return;
	vaddrs[*n] = vaddr;
	(*n)++;
}

static void add_wait_sites(struct elfimg *img, struct interp *in,
			   const char *func, const struct range *park)
{
	uint64_t sites[INTERP_MAX_SITES];
	bool indirect[INTERP_MAX_SITES];
	int n = elfimg_find_call_sites(img, func, sites, indirect,
				       INTERP_MAX_SITES);

	for (int i = 0; i < n && i < INTERP_MAX_SITES; i++) {
		uint64_t test;
		int k = in->n_lock_sites;

		if (indirect[i])
			continue;
		if (in_range(park, sites[i])) {
			add_site(img, sites[i], in->park_offs, in->park_vaddrs,
				 &in->n_park_sites);
			continue;
		}
		test = result_test_after(img, sites[i]);
		if (!test || k == INTERP_MAX_SITES ||
		    elfimg_vaddr_to_offset(img, sites[i],
					   &in->lock_call_offs[k]) ||
		    elfimg_vaddr_to_offset(img, test, &in->lock_result_offs[k]))
			continue;
		in->lock_result_vaddrs[k] = test;
		in->n_lock_sites++;
	}
}

static void add_post_sites(struct elfimg *img, struct interp *in,
			   const struct range *unpark)
{
	uint64_t sites[INTERP_MAX_SITES];
	bool indirect[INTERP_MAX_SITES];
	int n = elfimg_find_call_sites(img, "sem_post", sites, indirect,
				       INTERP_MAX_SITES);

	for (int i = 0; i < n && i < INTERP_MAX_SITES; i++) {
		if (indirect[i])
			continue;
		if (in_range(unpark, sites[i]))
			add_site(img, sites[i], in->unpark_offs,
				 in->unpark_vaddrs, &in->n_unpark_sites);
		else
			add_site(img, sites[i], in->post_offs, in->post_vaddrs,
				 &in->n_post_sites);
	}
}

static void add_rlock_sites(struct elfimg *img, struct interp *in)
{
	uint64_t sites[INTERP_MAX_RLOCK_SITES];
	int n = rlocksites_find(img, sites, INTERP_MAX_RLOCK_SITES);

	in->n_rlock_sites = 0;
	for (int i = 0; i < n && i < INTERP_MAX_RLOCK_SITES; i++) {
		int k = in->n_rlock_sites;

		if (elfimg_vaddr_to_offset(img, sites[i], &in->rlock_offs[k]))
			continue;
		in->rlock_vaddrs[k] = sites[i];
		in->n_rlock_sites++;
	}
}

void locksites_find(struct elfimg *img, struct interp *in)
{
	struct range park = { 0, 0 }, unpark = { 0, 0 };

	/* both are exported (PyAPI_FUNC) from 3.13 on */
	if (in->major > 3 || (in->major == 3 && in->minor >= 13)) {
		park = function_range(img, "_PySemaphore_Wait");
		unpark = function_range(img, "_PySemaphore_Wakeup");
	}
	add_wait_sites(img, in, "sem_trywait", &park);
	add_wait_sites(img, in, "sem_wait", &park);
	add_wait_sites(img, in, "sem_clockwait", &park);
	add_wait_sites(img, in, "sem_timedwait", &park);
	add_post_sites(img, in, &unpark);
	add_rlock_sites(img, in);
}
