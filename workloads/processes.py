"""Processes instead of threads: CPU-bound work runs in parallel.

Scenario
    The same work as cpu_threads.py (naive trial division of four 7-digit
    primes, reusing its factorize() and numbers), run twice: in four
    threads, then in multiprocessing processes (start method "fork", 4
    processes by default, or 2 processes taking two numbers each).  A
    Python learner is taught that each process has its own interpreter and
    its own GIL, so processes use several CPU cores at once, while threads
    take turns.

What a correct trace shows
    Thread phase: four "factor-N" threads in one process contending for the
    GIL (one on CPU at a time).  Process phase: new child processes (the
    child_pids, forked from this pid), each single-threaded and on CPU at
    the same time as the others, up to the number of cores, with no GIL
    waits at all; the parent just waits for them to exit (in join).  On a
    machine with >= 2 cores processes_s is well below threads_s.

Usage
    /usr/bin/python3 processes.py [SIZE] [--procs {2,4}]

    SIZE (float, default 1.0) scales the numbers exactly as in
    cpu_threads.py (primes >= SIZE x 5, 6, 7, 8 million).
    --procs (default 4) is the number of processes.

Last stdout line: WORKLOAD-FACTS {json} with threads_s, processes_s, the
child pids (by process name), their exit codes and the thread tids.
"""
import argparse
import json
import multiprocessing
import os
import threading
import time

from cpu_threads import factorize, numbers_for, run_factor_threads


def factor_all(numbers):
    """Runs in a child process."""
    for n in numbers:
        factorize(n)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=float, default=1.0)
    parser.add_argument("--procs", type=int, choices=(2, 4), default=4)
    args = parser.parse_args()
    numbers = numbers_for(args.size)

    # 1. four threads, one number each
    tids = {}
    threads_s = run_factor_threads(numbers, tids)
    print(f"4 threads:   {threads_s:.2f} s")

    # 2. processes, the numbers shared out between them
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=factor_all, name=f"factor-proc-{i}",
                         args=(numbers[i::args.procs],))
             for i in range(args.procs)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    processes_s = time.perf_counter() - start
    print(f"{args.procs} processes: {processes_s:.2f} s")

    facts = {
        "workload": "processes",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": args.size,
        "numbers": numbers,
        "cpus": os.cpu_count(),
        "threads": len(numbers),
        "processes": args.procs,
        "start_method": "fork",
        "threads_s": threads_s,
        "processes_s": processes_s,
        "thread_tids": tids,
        "child_pids": {p.name: p.pid for p in procs},
        "exit_codes": {p.name: p.exitcode for p in procs},
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    wait_sites.announce(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_threads.py"))
    main()
