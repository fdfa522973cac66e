"""Dining philosophers: a deadlock, detected with acquire(timeout=...).

Scenario
    Five philosopher threads sit around a table with five forks (one
    threading.Lock each).  Every philosopher takes the fork on the left,
    sleeps 0.1 s, then tries the fork on the right.  By then every fork is
    held by the neighbour, so nobody can continue: a deadlock.  The second
    acquire uses acquire(timeout=T), so each philosopher gives up after T
    seconds; they all put their forks down only once all have given up
    (a Barrier), and the program exits by itself.  A Python learner is
    taught how a circular wait on locks deadlocks and that timeouts (or a
    fixed lock order) are ways out.

What a correct trace shows
    All five threads blocked at the same time, each in a timed lock wait
    (futex) on the fork its right neighbour holds, for about T seconds;
    nothing on CPU, no GIL contention.  The waits-for graph is the cycle
    philosopher-0 -> 1 -> 2 -> 3 -> 4 -> 0 (each waits for the next one's
    left fork).

Usage
    /usr/bin/python3 dining_philosophers.py [SIZE]

    SIZE (float, default 1.0) scales the acquire timeout T = 2 s x SIZE.

Last stdout line: WORKLOAD-FACTS {json} with each fork's lock id(...) and
holder, each philosopher's tid, forks, wait and outcome, and "deadlock".
"""
import json
import os
import sys
import threading
import time

N = 5
PAUSE_S = 0.1


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    timeout = round(2.0 * size, 6)
    forks = [threading.Lock() for _ in range(N)]
    all_tried = threading.Barrier(N)
    held_by = {}
    philosophers = {}

    def philosopher(i):
        name = threading.current_thread().name
        left, right = i, (i + 1) % N
        forks[left].acquire()  # waits: Lock
        held_by[left] = name
        time.sleep(PAUSE_S)                    # meanwhile everyone takes a left fork
        t0 = time.perf_counter()
        got_right = forks[right].acquire(timeout=timeout)  # waits: Lock
        waited = time.perf_counter() - t0
        philosophers[name] = {"tid": threading.get_native_id(),
                              "left_fork": left, "right_fork": right,
                              "right_held_by": held_by.get(right),
                              "got_right": got_right, "waited_s": waited}
        all_tried.wait()                       # nobody puts a fork down early (waits: Barrier)
        if got_right:
            forks[right].release()
        forks[left].release()

    threads = [threading.Thread(target=philosopher, args=(i,), name=f"philosopher-{i}")
               for i in range(N)]
    start = time.perf_counter()
    for t in threads:
        t.start()  # waits: Event
    for t in threads:
        t.join()  # waits: join
    elapsed = time.perf_counter() - start
    for t in threads:
        p = philosophers[t.name]
        print(f"{t.name}: {'ate' if p['got_right'] else 'gave up'} after {p['waited_s']:.2f} s")
    deadlock = not any(p["got_right"] for p in philosophers.values())
    print("deadlock!" if deadlock else "no deadlock")

    facts = {
        "workload": "dining_philosophers",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "philosophers": N,
        "pause_s": PAUSE_S,
        "timeout_s": timeout,
        "deadlock": deadlock,
        "elapsed_s": elapsed,
        "forks": [{"fork": i, "lock_id": id(forks[i]), "held_by": held_by[i]}
                  for i in range(N)],
        "per_thread": {t.name: philosophers[t.name] for t in threads},
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
