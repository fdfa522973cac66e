"""CPU-bound threads: four threads are not faster than one loop.

Scenario
    Factorize four 7-digit numbers with naive trial division (pure Python),
    first one after another in the main thread, then with one thread per
    number.  A Python learner is taught that in CPython (with the GIL) only
    one thread runs Python bytecode at a time, so CPU-bound threads take
    about as long as the serial loop, often a little longer.

What a correct trace shows
    Serial phase: only the main thread is on CPU.  Threaded phase: the four
    "factor-N" threads run in turn, not in parallel; each spends most of its
    life waiting to take the GIL (roughly 70-75 %: on CPU only 1/4 of the
    time while all four run), the GIL changes hands every switch interval
    (5 ms), and there is no blocking I/O or sleep.  threaded_s is about
    serial_s (not serial_s / 4).

Usage
    /usr/bin/python3 cpu_threads.py [SIZE] [--threads-only] [--rounds N]

    SIZE (float, default 1.0) scales the work: the numbers are the first
    primes >= SIZE * 5, 6, 7 and 8 million (7 digits at the default), and
    naive trial division of a prime n takes about n loop steps.
    --threads-only skips the serial phase (serial_s is then null), so a
    tracer can record just the contention phase.
    --rounds N runs the threaded phase N times (new threads each time);
    threaded_s is then the sum (a benchmark's way to average out the
    round-to-round noise of the GIL's switching).

Last stdout line: WORKLOAD-FACTS {json} with serial_s, threaded_s, the
numbers, and the native thread id of every thread by name.
"""
import argparse
import json
import os
import threading
import time


def factorize(n):
    """Naive trial division: try every d = 2, 3, 4, ... (no sqrt shortcut)."""
    factors, d = [], 2
    while n > 1:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1
    return factors


def next_prime(n):
    def is_prime(k):
        return k > 1 and all(k % d for d in range(2, int(k ** 0.5) + 1))
    while not is_prime(n):
        n += 1
    return n


def numbers_for(size):
    return [next_prime(int(size * base)) for base in (5e6, 6e6, 7e6, 8e6)]


def run_factor_threads(numbers, tids):
    """Factorize NUMBERS with one "factor-N" thread each; their native ids
    go into TIDS by name. Returns the elapsed seconds, start to last join."""
    def worker(n):
        tids[threading.current_thread().name] = threading.get_native_id()
        factorize(n)

    threads = [threading.Thread(target=worker, args=(n,), name=f"factor-{i}")
               for i, n in enumerate(numbers)]
    start = time.perf_counter()
    for t in threads:
        t.start()  # waits: Event
    for t in threads:
        t.join()  # waits: join
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=float, default=1.0)
    parser.add_argument("--threads-only", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    numbers = numbers_for(args.size)

    serial_s = None
    if not args.threads_only:
        # a fresh process runs its first fraction of a second slower on
        # some machines (frequency ramp-up, cold caches): warm up first so
        # that the serial time is not inflated
        factorize(numbers[0] // 4)
        start = time.perf_counter()
        for n in numbers:
            factorize(n)
        serial_s = time.perf_counter() - start
        print(f"serial:   {serial_s:.2f} s")

    tids = {}
    rounds_s = [run_factor_threads(numbers, tids)
                for _ in range(max(args.rounds, 1))]
    threaded_s = sum(rounds_s)
    print(f"threaded: {threaded_s:.2f} s  (4 threads)")

    facts = {
        "workload": "cpu_threads",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": args.size,
        "numbers": numbers,
        "threads": len(numbers),
        "serial_s": serial_s,
        "threaded_s": threaded_s,
        "rounds_s": rounds_s,
        "tids": tids,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
