"""A steady mix for `gilscope top`: CPU-bound threads that take turns on
the GIL and one thread that sleeps, for SECONDS (default 10).

Usage: top_mix.py [SECONDS] [CRUNCHERS]

Every cruncher factorizes the same numbers over and over until the end;
its output (the factors, each cruncher's line once) does not depend on
timing, so a traced run prints exactly what an untraced one prints.
"""
import sys
import threading
import time

NUMBERS = (1000003, 999983, 1000033)


def factorize(n):
    factors, d = [], 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1
    if n > 1:
        factors.append(n)
    return factors


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    crunchers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    stop = threading.Event()
    results = {}

    def crunch(i):
        found = factorize(NUMBERS[i % len(NUMBERS)])
        while not stop.is_set():
            assert factorize(NUMBERS[i % len(NUMBERS)]) == found
        results[i] = found

    def sleep():
        while not stop.is_set():
            time.sleep(0.5)

    threads = [threading.Thread(target=crunch, args=(i,), name=f"cruncher-{i}")
               for i in range(crunchers)]
    threads.append(threading.Thread(target=sleep, name="sleeper"))
    for t in threads:
        t.start()
    print("started", flush=True)
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    for i in range(crunchers):
        print(f"cruncher-{i}: {NUMBERS[i % len(NUMBERS)]} = {results[i]}")
    print("done")


if __name__ == "__main__":
    main()
