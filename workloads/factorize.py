"""The seed's factorize program: a short serial phase, then a short threaded
phase, each timed by the program itself on the tracer's clock.

Scenario
    Factorize four primes of equal size by naive trial division (pure
    Python), first one after another in the main thread, then with one
    "factor-N" thread each.  The threaded phase is as long as the serial
    one (the GIL lets one thread run Python at a time) and is a small part
    of the process's life, the case a whole-life diagnosis dilutes.  With
    --processes the same four numbers are then factorized by four
    multiprocessing (fork) processes: what the threaded phase would take
    without the GIL as the bottleneck.

What a correct trace shows
    Phases: start-up (the interpreter starting, then importing the
    modules this program imports) until main_start_ns; serial (the main
    thread wants the GIL) from then, with the serial loop from
    serial_start_ns to serial_end_ns; threaded (four threads want the GIL, each waits about
    3/4 of the phase, one CPU busy) from threaded_start_ns to
    threaded_end_ns, diagnosed gil-contention; its what-if estimate close
    to processes_s on the same machine; shutdown from threaded_end_ns (the
    last worker ended) to the exit.

Usage
    /usr/bin/python3 factorize.py [SIZE] [--processes] [--no-threads]

    SIZE (float, default 1.0) scales the work: four primes >= SIZE * 1.1
    million (about 0.035 s each here, 0.14 s for the serial phase).

Last stdout line: WORKLOAD-FACTS {json} with main_start_ns (main() began:
the imports are done) and the phase boundaries as
CLOCK_MONOTONIC ns (time.monotonic_ns(), the clock of the session's
timestamps: bpf_ktime_get_ns), serial_s, threaded_s, processes_s (null
without --processes), the numbers and the native thread ids by name.
"""
import argparse
import json
import multiprocessing
import os
import threading
import time

# the factorizing itself is cpu_threads.py's (this directory is on sys.path)
from cpu_threads import factorize, next_prime


def numbers_for(size):
    """Four different primes of about the same size: equal work each."""
    base = int(size * 1.1e6)
    numbers = [next_prime(base)]
    while len(numbers) < 4:
        numbers.append(next_prime(numbers[-1] + 1))
    return numbers


def run_serial(numbers):
    start = time.monotonic_ns()
    for n in numbers:
        factorize(n)
    return start, time.monotonic_ns()


def run_threads(numbers, tids):
    def worker(n):
        tids[threading.current_thread().name] = threading.get_native_id()
        factorize(n)

    threads = [threading.Thread(target=worker, args=(n,), name=f"factor-{i}")
               for i, n in enumerate(numbers)]
    start = time.monotonic_ns()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return start, time.monotonic_ns()


def run_processes(numbers):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=factorize, args=(n,)) for n in numbers]
    start = time.monotonic_ns()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return start, time.monotonic_ns()


def main():
    main_start_ns = time.monotonic_ns()  # start-up ends: imports done
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=float, default=1.0)
    parser.add_argument("--processes", action="store_true")
    parser.add_argument("--no-threads", action="store_true")
    args = parser.parse_args()
    numbers = numbers_for(args.size)

    # warm up (frequency ramp-up, cold caches) so that the phases measure
    # the work, not the start
    factorize(numbers[0] // 8)
    facts = {"workload": "factorize", "pid": os.getpid(),
             "main_tid": threading.get_native_id(), "size": args.size,
             "main_start_ns": main_start_ns,
             "numbers": numbers, "threads": len(numbers), "tids": {}}
    facts["serial_start_ns"], facts["serial_end_ns"] = run_serial(numbers)
    facts["serial_s"] = (facts["serial_end_ns"] - facts["serial_start_ns"]) / 1e9
    print(f"serial:    {facts['serial_s']:.3f} s")
    facts["threaded_start_ns"] = facts["threaded_end_ns"] = None
    facts["threaded_s"] = None
    if not args.no_threads:
        start, end = run_threads(numbers, facts["tids"])
        facts["threaded_start_ns"], facts["threaded_end_ns"] = start, end
        facts["threaded_s"] = (end - start) / 1e9
        print(f"threaded:  {facts['threaded_s']:.3f} s  (4 threads)")
    facts["processes_start_ns"] = facts["processes_end_ns"] = None
    facts["processes_s"] = None
    if args.processes:
        start, end = run_processes(numbers)
        facts["processes_start_ns"], facts["processes_end_ns"] = start, end
        facts["processes_s"] = (end - start) / 1e9
        print(f"processes: {facts['processes_s']:.3f} s  (4 processes)")
    facts["cpus"] = os.cpu_count()
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    main()
