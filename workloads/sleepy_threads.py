"""Sleeping threads overlap: waiting is where threads do help.

Scenario
    Three threads each call time.sleep() for a different, known time.  A
    Python learner is taught that a blocking call such as time.sleep()
    releases the GIL, so the waits overlap: the program takes as long as the
    longest sleep, not the sum of them.

What a correct trace shows
    Each "sleeper-N" thread is off CPU, blocked in the sleep (clock_nanosleep
    in the kernel) for its requested time, with the GIL released; there is
    no GIL contention.  The whole run takes about max(sleeps), not sum.

Usage
    /usr/bin/python3 sleepy_threads.py [SIZE]

    SIZE (float, default 1.0) scales the sleeps: 0.2, 0.5 and 0.8 s x SIZE.

Last stdout line: WORKLOAD-FACTS {json} with each thread's native tid,
requested and measured sleep, and the total elapsed time.
"""
import json
import os
import sys
import threading
import time


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    sleeps = [round(s * size, 6) for s in (0.2, 0.5, 0.8)]
    results = {}

    def sleeper(seconds):
        start = time.perf_counter()
        time.sleep(seconds)
        results[threading.current_thread().name] = {
            "tid": threading.get_native_id(),
            "requested_s": seconds,
            "measured_s": time.perf_counter() - start,
        }

    threads = [threading.Thread(target=sleeper, args=(s,), name=f"sleeper-{i}")
               for i, s in enumerate(sleeps)]
    start = time.perf_counter()
    for t in threads:
        t.start()  # waits: Event
    for t in threads:
        t.join()  # waits: join
    elapsed = time.perf_counter() - start
    print(f"slept {sleeps} in {elapsed:.2f} s (sum would be {sum(sleeps):.2f} s)")

    facts = {
        "workload": "sleepy_threads",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "threads": len(threads),
        "sleeps_s": sleeps,
        "sum_sleeps_s": sum(sleeps),
        "elapsed_s": elapsed,
        "per_thread": {name: results[name] for name in sorted(results)},
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
