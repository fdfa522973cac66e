"""Cooperative multitasking with generators: one thread, no GIL contention.

Scenario
    Three tasks written as generator functions ("download", "resize",
    "upload") do their work in small steps and `yield` after each step.  A
    tiny round-robin scheduler in the main thread keeps a deque of
    generators and calls next() on them in turn until all are exhausted.
    A Python learner is taught that generators can interleave tasks
    without threads (the idea behind asyncio): switching happens only at
    the yields, so there are no races and no locks are needed -- but also
    no parallelism.

What a correct trace shows
    A single thread (the main thread) on CPU for the whole run: no other
    threads, no GIL hand-offs or GIL waits, no blocking calls.  The
    interleaving is invisible to a thread-level tracer; it is in the
    printed schedule.

Usage
    /usr/bin/python3 generators.py [SIZE]

    SIZE (float, default 1.0) scales the steps: 30, 20 and 10 x SIZE for
    the three tasks; each step counts to 1,000,000 in Python (about 20 ms).

Last stdout line: WORKLOAD-FACTS {json} with steps per task, total steps,
the schedule (task name per step, in order), thread count and tid.
"""
import json
import os
import sys
import threading
import time
from collections import deque

STEP_LOOPS = 1_000_000


def task(name, steps):
    for step in range(steps):
        total = 0
        for i in range(STEP_LOOPS):            # one small chunk of work
            total += i
        yield name, step                       # hand control back


def run(tasks):
    """Round-robin: resume each generator once per turn until all are done."""
    ready = deque(tasks)
    schedule = []
    while ready:
        gen = ready.popleft()
        try:
            name, _ = next(gen)
        except StopIteration:
            continue                           # finished: drop it
        schedule.append(name)
        ready.append(gen)
    return schedule


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    steps = {"download": max(1, int(30 * size)),
             "resize": max(1, int(20 * size)),
             "upload": max(1, int(10 * size))}
    start = time.perf_counter()
    schedule = run([task(name, n) for name, n in steps.items()])
    elapsed = time.perf_counter() - start
    print("schedule: " + " ".join(name[0] for name in schedule))
    print(f"{len(schedule)} steps in {elapsed:.2f} s, "
          f"{threading.active_count()} thread")

    facts = {
        "workload": "generators",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "threads": threading.active_count(),
        "steps": steps,
        "total_steps": len(schedule),
        "step_loops": STEP_LOOPS,
        "elapsed_s": elapsed,
        "schedule": schedule,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
