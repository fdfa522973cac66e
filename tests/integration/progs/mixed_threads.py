"""Seven threads doing everything at once, each timing its own waits.

The accuracy test (test_accuracy.py) records this program and compares every
thread's figures with an independent measurement of the same run: a bpftrace
script on take_gil, and the clocks below.

    mixed_threads.py [SCALE]

Runs:
    cpu-a, cpu-b   count in pure Python (CPU-bound, contend for the GIL)
    sleeper        four time.sleep(0.1 x SCALE)
    writer         writes 20 lines into a pipe, 10 ms x SCALE apart
    reader         reads them (blocks in os.read)
    holder         takes a Lock, sleeps 0.3 s x SCALE holding it, lets go
    waiter         waits for that Lock
and joins them all. Last stdout line: WORKLOAD-FACTS-PY {dict} (a Python
literal: the json module would add its imports' hundreds of GIL releases
and takes to the main thread, each one stretched by the measuring probes)
with each thread's tid and its own measurements (perf_counter around every sleep and
lock wait, when the waiter began to wait and the holder let go, thread_time
for the CPU-bound ones).
"""
import os
import sys
import threading
import time

facts = {}


def mine(**kv):
    me = threading.current_thread()
    facts[me.name] = dict(tid=threading.get_native_id(), **kv)


def count(n):
    start = time.thread_time()
    total = 0
    for i in range(n):
        total += i
    mine(cpu_s=time.thread_time() - start)


def sleeper(scale):
    sleeps = []
    for _ in range(4):
        t0 = time.perf_counter()
        time.sleep(0.1 * scale)
        sleeps.append(time.perf_counter() - t0)
    mine(requested_s=[0.1 * scale] * 4, slept_s=sleeps)


def writer(fd, scale):
    for i in range(20):
        os.write(fd, b"line %d\n" % i)
        time.sleep(0.01 * scale)
    os.close(fd)
    mine(lines=20)


def reader(fd):
    got = b""
    while True:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        got += chunk
    mine(lines=got.count(b"\n"))


def holder(lock, taken, scale):
    with lock:
        taken.set()
        t0 = time.perf_counter()
        time.sleep(0.3 * scale)
        held = time.perf_counter() - t0
        released_at = time.perf_counter()
    mine(requested_s=0.3 * scale, slept_s=held, released_at=released_at)


def waiter(lock, taken):
    taken.wait()
    t0 = time.perf_counter()
    with lock:
        waited = time.perf_counter() - t0
    mine(lock_wait_s=waited, wait_from=t0)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    rfd, wfd = os.pipe()
    lock, taken = threading.Lock(), threading.Event()
    work = int(3_000_000 * scale)
    threads = [
        threading.Thread(target=count, args=(work,), name="cpu-a"),
        threading.Thread(target=count, args=(work,), name="cpu-b"),
        threading.Thread(target=sleeper, args=(scale,), name="sleeper"),
        threading.Thread(target=writer, args=(wfd, scale), name="writer"),
        threading.Thread(target=reader, args=(rfd,), name="reader"),
        threading.Thread(target=holder, args=(lock, taken, scale), name="holder"),
        threading.Thread(target=waiter, args=(lock, taken), name="waiter"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    facts["main"] = {"tid": threading.get_native_id()}
    print("WORKLOAD-FACTS-PY " + repr({"pid": os.getpid(), "threads": facts}),
          flush=True)


if __name__ == "__main__":
    main()
