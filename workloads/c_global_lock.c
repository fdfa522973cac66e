/*
 * c_global_lock.c -- a mini "global interpreter lock" in C.
 *
 * Build and run (no Makefile needed):
 *   gcc -O2 -g -pthread -Wall -Wextra -Werror -o /tmp/c_global_lock c_global_lock.c && /tmp/c_global_lock
 *
 * Usage: c_global_lock [SIZE] [THREADS]
 *   SIZE    (float, default 1.0) scales the work: 800 x SIZE work units per
 *           thread (a unit is a short integer loop, roughly 0.5 ms).
 *   THREADS (int, default 4, at most 64) number of worker threads.
 *
 * Scenario
 *   N threads ("worker-N") each do CPU work, but only while holding one
 *   global lock, taken and dropped through two non-inlined, externally
 *   visible functions gl_acquire() and gl_release() (a pthread mutex plus
 *   condition variables).  Like CPython's GIL, a holder drops the lock after
 *   a switch interval (5 ms) of work if another thread is waiting, and then
 *   waits until a waiter has actually taken it (forced switching).  It is
 *   the GIL without Python: a learner (and a tracer test) sees the same
 *   contention pattern in a program small enough to read in full.
 *
 * What a correct trace shows
 *   Uprobes on gl_acquire/gl_release: per thread, acquisitions and hold
 *   time (gl_acquire return -> gl_release entry) match the facts below; the
 *   holder changes about every 5 ms ("handoffs"); while one thread holds
 *   the lock the others are blocked in gl_acquire() (futex waits on the
 *   condition variable), so only one worker is on CPU at a time even with
 *   several cores, and elapsed_s is about the sum of the hold times.
 *
 * Last stdout line: WORKLOAD-FACTS {json} with per-thread tid, acquisitions,
 * hold and wait time, the number of hand-offs and the elapsed time.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define SWITCH_INTERVAL_S 0.005
#define UNITS_PER_THREAD 800
#define UNIT_LOOPS 400000
#define MAX_THREADS 64

/* ---- the global lock ------------------------------------------------- */

static pthread_mutex_t gl_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gl_free = PTHREAD_COND_INITIALIZER;   /* lock was dropped */
static pthread_cond_t gl_taken = PTHREAD_COND_INITIALIZER;  /* lock was taken */
static int gl_locked;                 /* 1 while some thread holds the lock */
static int gl_holder = -1;            /* index of the last holder */
static int gl_waiters;                /* threads blocked in gl_acquire() */
static unsigned long gl_acquisitions; /* all acquisitions, all threads */
static unsigned long gl_handoffs;     /* times the holder thread changed */

static int waiters(void)
{
    return __atomic_load_n(&gl_waiters, __ATOMIC_RELAXED);
}

__attribute__((noinline)) void gl_acquire(int me)
{
    pthread_mutex_lock(&gl_mutex);
    __atomic_add_fetch(&gl_waiters, 1, __ATOMIC_RELAXED);
    while (gl_locked)
        pthread_cond_wait(&gl_free, &gl_mutex);
    __atomic_sub_fetch(&gl_waiters, 1, __ATOMIC_RELAXED);
    gl_locked = 1;
    if (gl_holder != -1 && gl_holder != me)
        gl_handoffs++;
    gl_holder = me;
    gl_acquisitions++;
    pthread_cond_broadcast(&gl_taken);
    pthread_mutex_unlock(&gl_mutex);
}

__attribute__((noinline)) void gl_release(int me)
{
    pthread_mutex_lock(&gl_mutex);
    if (!gl_locked || gl_holder != me) {
        fprintf(stderr, "gl_release: worker %d does not hold the lock\n", me);
        abort();
    }
    gl_locked = 0;
    pthread_cond_signal(&gl_free);
    /* Forced switching: if somebody waits, let them take the lock before
       we return (otherwise we could grab it right back). */
    unsigned long seen = gl_acquisitions;
    while (waiters() > 0 && gl_acquisitions == seen)
        pthread_cond_wait(&gl_taken, &gl_mutex);
    pthread_mutex_unlock(&gl_mutex);
}

/* ---- the workers ------------------------------------------------------ */

struct worker {
    pthread_t thread;
    int index;
    char name[32];             /* "worker-N" (kernel thread names: <= 15 chars) */
    pid_t tid;
    long units;
    unsigned long acquisitions;
    double hold_s, wait_s;
    uint64_t checksum;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static uint64_t work_unit(uint64_t x)
{
    for (int i = 0; i < UNIT_LOOPS; i++)
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    w->tid = gettid();
    pthread_setname_np(pthread_self(), w->name);
    long done = 0;
    while (done < w->units) {
        double t0 = now();
        gl_acquire(w->index);
        double got = now();
        w->wait_s += got - t0;
        w->acquisitions++;
        /* work until finished, or until the switch interval is over and
           another thread is waiting for the lock */
        do {
            w->checksum = work_unit(w->checksum + 1);
            done++;
        } while (done < w->units &&
                 !(now() - got >= SWITCH_INTERVAL_S && waiters() > 0));
        w->hold_s += now() - got;
        gl_release(w->index);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double size = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    int nthreads = argc > 2 ? atoi(argv[2]) : 4;
    if (size <= 0 || nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: %s [SIZE>0] [THREADS 1..%d]\n", argv[0], MAX_THREADS);
        return 2;
    }
    long units = (long)(UNITS_PER_THREAD * size);
    if (units < 1)
        units = 1;

    static struct worker workers[MAX_THREADS];
    double start = now();
    for (int i = 0; i < nthreads; i++) {
        struct worker *w = &workers[i];
        w->index = i;
        w->units = units;
        snprintf(w->name, sizeof w->name, "worker-%d", i);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    double hold_total = 0;
    for (int i = 0; i < nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
        hold_total += workers[i].hold_s;
    }
    double elapsed = now() - start;

    printf("%d threads, %ld units each: %.2f s elapsed, %.2f s holding the lock, "
           "%lu hand-offs\n", nthreads, units, elapsed, hold_total, gl_handoffs);
    printf("WORKLOAD-FACTS {\"workload\": \"c_global_lock\", \"pid\": %d, "
           "\"main_tid\": %d, \"size\": %g, \"threads\": %d, "
           "\"units_per_thread\": %ld, \"switch_interval_s\": %g, "
           "\"lock_functions\": [\"gl_acquire\", \"gl_release\"], "
           "\"elapsed_s\": %.6f, \"hold_total_s\": %.6f, "
           "\"acquisitions\": %lu, \"handoffs\": %lu, \"per_thread\": {",
           getpid(), gettid(), size, nthreads, units, SWITCH_INTERVAL_S,
           elapsed, hold_total, gl_acquisitions, gl_handoffs);
    for (int i = 0; i < nthreads; i++) {
        struct worker *w = &workers[i];
        printf("%s\"%s\": {\"tid\": %d, \"acquisitions\": %lu, \"hold_s\": %.6f, "
               "\"wait_s\": %.6f, \"checksum\": %llu}", i ? ", " : "", w->name,
               w->tid, w->acquisitions, w->hold_s, w->wait_s,
               (unsigned long long)w->checksum);
    }
    printf("}}\n");
    return 0;
}
