"""Read-heavy threads: a GIL release and take per call.

Scenario
    THREADS threads (default 4) each do READS (default 50 000) one-byte
    os.read() calls on their own /dev/zero descriptor.  os.read() releases
    the GIL around the read(2) syscall and takes it back after, so every
    call is one GIL release and one GIL take (about 1 M of each per second
    on the bench machine, untraced): the worst case for a GIL tracer.

Usage
    /usr/bin/python3 bench/read_heavy.py [--threads N] [--reads N] [--rounds R]
    /usr/bin/python3 bench/read_heavy.py --seconds S [--procs P] [--threads N]

    --seconds S   read for S seconds instead of a fixed count (the capacity
                  test of `make bench`); --procs P forks P processes (each
                  with N threads) so that both CPUs make events.
    --rounds R    run the threads R times (new threads each time) and add
                  up the rounds: one round lasts 50-120 ms, and whether the
                  waiting threads wake on the other CPU at each release
                  makes a round take one or two times the shortest; the sum
                  of 10 rounds varies by a few per cent.

Last stdout line: WORKLOAD-FACTS {json} with elapsed_s (from the first
thread's start to the last join, the workload's own time), cpu_s (the
process's user + system CPU time over the same span, which includes the
kernel's probe handling done in the threads' context; null with --procs),
reads (total) and reads_per_s.  The interpreter's start and exit are not in elapsed_s.
"""
import argparse
import json
import os
import sys
import threading
import time


def reader(count, deadline, out, idx):
    fd = os.open("/dev/zero", os.O_RDONLY)
    read = os.read
    n = 0
    try:
        if deadline is None:
            for _ in range(count):
                read(fd, 1)
            n = count
        else:
            clock = time.monotonic
            while clock() < deadline:
                for _ in range(1000):
                    read(fd, 1)
                n += 1000
    finally:
        os.close(fd)
    out[idx] = n


def run_threads(threads, count, seconds):
    out = [0] * threads
    deadline = None
    cpu0 = time.process_time()
    start = time.perf_counter()
    if seconds is not None:
        deadline = time.monotonic() + seconds
    ts = [threading.Thread(target=reader, args=(count, deadline, out, i),
                           name=f"reader-{i}") for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - start, sum(out), time.process_time() - cpu0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--reads", type=int, default=50000)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args()

    rounds_s = []
    if a.procs <= 1:
        elapsed = reads = cpu = 0
        for _ in range(max(a.rounds, 1)):
            e, n, c = run_threads(a.threads, a.reads, a.seconds)
            rounds_s.append(e)
            elapsed, reads, cpu = elapsed + e, reads + n, cpu + c
    else:
        start = time.perf_counter()
        pipes, pids = [], []
        for _ in range(a.procs):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                _, n, _ = run_threads(a.threads, a.reads, a.seconds)
                os.write(w, str(n).encode())
                os._exit(0)
            os.close(w)
            pipes.append(r)
            pids.append(pid)
        reads = 0
        for r, pid in zip(pipes, pids):
            reads += int(os.read(r, 64) or b"0")
            os.close(r)
            os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
        cpu = None  # in the children

    facts = {
        "workload": "read_heavy",
        "pid": os.getpid(),
        "procs": a.procs,
        "threads": a.threads,
        "reads": reads,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "reads_per_s": reads / elapsed if elapsed > 0 else 0.0,
        "rounds_s": rounds_s,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
