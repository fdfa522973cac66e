/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where to probe the GIL with hand-off probes (gil_method "handoff"), found
 * in the interpreter's code without symbols.
 *
 * A release is seen either at a system call, entered without the GIL (read
 * from the GIL's memory at the call's entry: free), or at a probe on the
 * release itself. The first costs nothing more per call, and serves the
 * releases that lead straight into a system call (os.read, os.stat,
 * FileIO.write: where LTO inlined drop_gil before the call); a release
 * that need not make one (PyEval_SaveThread before readdir(), hashing,
 * compression, numpy) must be probed, and so must the take that ends it,
 * at the `call take_gil` of the same path (PyEval_RestoreThread, the eval
 * loop): an uncontended take does not change the holder, so the hand-off
 * site inside take_gil does not fire for it.
 */
#ifndef GS_GILSITES_H
#define GS_GILSITES_H

#include <stdint.h>

struct elfimg;

#define GILSITES_MAX 32

struct gil_sites {
	uint64_t releases[GILSITES_MAX]; /* `call pthread_cond_signal` */
	int n_releases;
	uint64_t takes[GILSITES_MAX]; /* `call take_gil` */
	int n_takes;
	int n_covered; /* releases left to the system call after them */
};

/*
 * Sort SIGNALS (every `call pthread_cond_signal` in IMG) given HANDOFF (the
 * one in take_gil after ++switch_number). 0, or -errno when the functions
 * cannot be told apart (no unwind table): probe every site then.
 */
int gilsites_classify(const struct elfimg *img, const uint64_t *signals,
		      int n_signals, uint64_t handoff, struct gil_sites *out);

#endif /* GS_GILSITES_H */
