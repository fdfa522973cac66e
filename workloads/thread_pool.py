"""A thread pool running a mix of waiting tasks and computing tasks.

Scenario
    A concurrent.futures.ThreadPoolExecutor with 4 workers runs 8 "sleep"
    tasks (time.sleep of known durations, standing in for I/O) and 4 "cpu"
    tasks (a fixed pure-Python loop).  A Python learner is taught that a
    pool speeds up the waiting tasks (their sleeps overlap) but not the
    computing ones (they take turns holding the GIL).

What a correct trace shows
    The "pool_N" workers alternate between sleeping off CPU with the GIL
    released (sleep tasks: their sum is sleep_total_s) and running Python
    code (cpu tasks).  GIL waits appear only while two or more cpu tasks
    run at the same time; sleeps never wait for the GIL for long.

Usage
    /usr/bin/python3 thread_pool.py [SIZE]

    SIZE (float, default 1.0) scales both kinds of work: the sleeps are
    0.6, 0.2, 0.8, 0.4, 0.6, 0.2, 0.8, 0.4 s x SIZE (4.0 s in total) and
    each cpu task counts to 15,000,000 x SIZE.  Tasks are submitted in a fixed order
    (sleep, sleep, cpu, sleep, sleep, cpu, ...).

Last stdout line: WORKLOAD-FACTS {json} with totals per task kind
(requested_total is seconds for "sleep", loop count for "cpu"), every task
(kind, amount, worker, duration) and the worker tids.
"""
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# (kind, amount): sleep for amount seconds, or count to amount in Python.
JOBS = [("sleep", 0.6), ("sleep", 0.2), ("cpu", 15_000_000),
        ("sleep", 0.8), ("sleep", 0.4), ("cpu", 15_000_000),
        ("sleep", 0.6), ("sleep", 0.2), ("cpu", 15_000_000),
        ("sleep", 0.8), ("sleep", 0.4), ("cpu", 15_000_000)]


def task(kind, amount):
    start = time.perf_counter()
    if kind == "sleep":
        time.sleep(amount)
    else:
        total = 0
        for i in range(amount):
            total += i
    return {"kind": kind, "amount": amount,
            "duration_s": time.perf_counter() - start,
            "worker": threading.current_thread().name,
            "tid": threading.get_native_id()}


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    jobs = [(kind, round(amount * size, 6) if kind == "sleep" else int(amount * size))
            for kind, amount in JOBS]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="pool") as pool:  # waits: join
        futures = [pool.submit(task, kind, amount) for kind, amount in jobs]  # waits: Event
        tasks = [f.result() for f in futures]  # waits: Future
    elapsed = time.perf_counter() - start

    totals = {}
    for kind in ("sleep", "cpu"):
        mine = [t for t in tasks if t["kind"] == kind]
        totals[kind] = {"tasks": len(mine),
                        "requested_total": round(sum(t["amount"] for t in mine), 6),
                        "measured_total_s": sum(t["duration_s"] for t in mine)}
    print(f"{len(tasks)} tasks in {elapsed:.2f} s; sleep total "
          f"{totals['sleep']['measured_total_s']:.2f} s, cpu total "
          f"{totals['cpu']['measured_total_s']:.2f} s")

    facts = {
        "workload": "thread_pool",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "max_workers": 4,
        "elapsed_s": elapsed,
        "totals": totals,
        "worker_tids": {t["worker"]: t["tid"] for t in sorted(tasks, key=lambda t: t["worker"])},
        "tasks": tasks,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
