"""A race condition: threads lose updates to a shared counter.

Scenario
    Four "incrementer-N" threads each add 1 to a shared global counter 1000
    times, but in three steps: read it (tmp = counter), pause for a small
    random time (time.sleep, seeded random numbers), write it back
    (counter = tmp + 1).  A Python learner is taught that the GIL does not
    make such read-modify-write sequences atomic: another thread can run
    between the read and the write, so updates are lost and a Lock is
    needed.

What a correct trace shows
    Each thread alternates very short bursts on CPU with short sleeps
    (GIL released while sleeping); there is almost no GIL contention and
    no lock at all -- the lost updates come from the interleaving, not from
    waiting.  Total elapsed is about the largest per-thread sleep total.

Usage
    /usr/bin/python3 counter_race.py [SIZE]

    SIZE (float, default 1.0) scales the increments per thread
    (1000 x SIZE); each pause is random.uniform(0, 2 ms) from
    random.Random(seed = thread index), so the pauses are reproducible.

Last stdout line: WORKLOAD-FACTS {json} with expected, actual and lost
updates, per-thread tids and total pause time (requested and measured).
"""
import json
import os
import random
import sys
import threading
import time

THREADS = 4
counter = 0


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    per_thread = max(1, int(1000 * size))
    per_thread_facts = {}

    def increment(seed):
        global counter
        rng = random.Random(seed)
        requested = measured = 0.0
        for _ in range(per_thread):
            tmp = counter                      # read
            pause = rng.uniform(0, 0.002)
            t0 = time.perf_counter()
            time.sleep(pause)                  # another thread may run here
            measured += time.perf_counter() - t0
            counter = tmp + 1                  # write: may overwrite others' work
            requested += pause
        per_thread_facts[threading.current_thread().name] = {
            "tid": threading.get_native_id(), "seed": seed,
            "increments": per_thread, "pause_requested_s": requested,
            "pause_measured_s": measured}

    threads = [threading.Thread(target=increment, args=(i,), name=f"incrementer-{i}")
               for i in range(THREADS)]
    start = time.perf_counter()
    for t in threads:
        t.start()  # waits: Event
    for t in threads:
        t.join()  # waits: join
    elapsed = time.perf_counter() - start

    expected = THREADS * per_thread
    print(f"expected {expected}, got {counter}: {expected - counter} updates lost")
    facts = {
        "workload": "counter_race",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "threads": THREADS,
        "expected": expected,
        "actual": counter,
        "lost": expected - counter,
        "elapsed_s": elapsed,
        "per_thread": {n: per_thread_facts[n] for n in sorted(per_thread_facts)},
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
