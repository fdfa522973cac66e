/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where an interpreter file takes, waits for and releases threading locks,
 * for the lock probes (bpf/gilscope.bpf.c on_sem_*, on_park_*):
 *
 * - 3.9-3.12 (and 3.13's RLock, 3.13-3.14's PyThread locks): a lock is a
 *   sem_t; every `call sem_trywait/sem_wait/sem_clockwait/sem_timedwait`
 *   followed by the test of its result, and every `call sem_post`.
 * - 3.13+: threading.Lock (and 3.14+'s RLock) is a PyMutex, taken without a
 *   call when free; a thread that must wait parks: it sleeps on a semaphore
 *   of its own, inside a `struct wait_entry` on its stack that also holds
 *   the address it parked on (the lock). The sem_*wait calls inside
 *   _PySemaphore_Wait are park sites, the sem_post inside
 *   _PySemaphore_Wakeup an unpark site (the waker releasing that lock).
 * - every version: where a C RLock waits (on_rlock_wait,
 *   user/record/rlocksites.h), which tells its waits from a Lock's.
 */
#ifndef GS_LOCKSITES_H
#define GS_LOCKSITES_H

struct elfimg;
struct interp;

/* Fill IN's lock, post, park, unpark and RLock wait sites from IMG. */
void locksites_find(struct elfimg *img, struct interp *in);

#endif /* GS_LOCKSITES_H */
