/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where a C threading.RLock (_thread.RLock, Modules/_threadmodule.c) waits,
 * for the probe that tells its waits from a threading.Lock's
 * (bpf/locks.bpf.h on_rlock_wait): the calls, in its acquire method (and
 * 3.15's own __enter__), that sleep with the GIL released:
 *
 * - 3.9-3.13 (a sem_t): the `call PyThread_acquire_lock_timed` of the
 *   Py_BEGIN_ALLOW_THREADS block, right after `call PyEval_SaveThread`
 *   (the first, non-blocking try is another call, not probed);
 * - 3.14+ (a PyMutex): the call to the function that parks, one that calls
 *   _PySemaphore_Wait (an LTO copy of _PyParkingLot_Park in Debian's).
 *
 * Both take the lock the thread then waits on as their first argument.
 * The methods are found without symbols: the type named "_thread.RLock"
 * (a static PyTypeObject in 3.9, a PyType_Spec from 3.10), its method
 * table, its functions' bounds from the unwind tables (.eh_frame); symbols
 * (rlock_acquire, _thread_RLock_acquire) only when that fails.
 */
#ifndef GS_RLOCKSITES_H
#define GS_RLOCKSITES_H

#include <stdint.h>

struct elfimg;

/* The wait sites of IMG's C RLock: up to MAX call addresses into SITES.
 * Returns the number found, 0 when none (the kind stays Lock). */
int rlocksites_find(const struct elfimg *img, uint64_t *sites, int max);

#endif /* GS_RLOCKSITES_H */
