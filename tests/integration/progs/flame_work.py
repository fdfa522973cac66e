"""Threads with known functions, for flame graphs (tests/integration/test_flame.py).

    spinner-a, spinner-b  spin() for SPIN s each, on the CPU and taking turns
                          on the GIL (each waits for it about half the time)
    napper                nap(): time.sleep(NAP)
    locker                wait_for_lock(): blocks NAP s on a lock main holds
    deep                  recurse() DEPTH levels down, then sleeps NAP in
                          deep_bottom(): deeper than gilscope walks
    churn (optional)      --churn N: N short threads that start and exit at
                          once while everything is sampled
    raw                   started with _thread.start_new_thread(raw_entry):
                          no threading.Thread, so no Python name

Last line: WORKLOAD-FACTS {json} with each role's native tid.
"""
import _thread
import json
import sys
import threading
import time

SPIN = 0.4
NAP = 0.4
DEPTH = 300
tids = {}
lock = threading.Lock()
raw_done = threading.Event()


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1
    return x


def spinner(name):
    tids[name] = threading.get_native_id()
    spin(SPIN)


def nap():
    tids["napper"] = threading.get_native_id()
    time.sleep(NAP)


def wait_for_lock():
    tids["locker"] = threading.get_native_id()
    lock.acquire()
    lock.release()


def deep_bottom():
    time.sleep(NAP)


def recurse(n):
    if n == 0:
        deep_bottom()
        return
    recurse(n - 1)


def deep():
    tids["deep"] = threading.get_native_id()
    recurse(DEPTH)


def tiny():
    return sum(range(100))


def raw_entry():
    tids["raw"] = threading.get_native_id()
    spin(0.05)
    time.sleep(0.05)
    raw_done.set()


def main():
    churn = int(sys.argv[sys.argv.index("--churn") + 1]) if "--churn" in sys.argv else 0
    sys.setrecursionlimit(DEPTH + 200)
    lock.acquire()
    threads = [
        threading.Thread(target=spinner, args=("spinner-a",), name="spinner-a"),
        threading.Thread(target=spinner, args=("spinner-b",), name="spinner-b"),
        threading.Thread(target=nap, name="napper"),
        threading.Thread(target=wait_for_lock, name="locker"),
        threading.Thread(target=deep, name="deep"),
    ]
    for t in threads:
        t.start()
    _thread.start_new_thread(raw_entry, ())
    for _ in range(churn):
        t = threading.Thread(target=tiny)
        t.start()
        t.join()
    time.sleep(NAP)
    lock.release()
    for t in threads:
        t.join()
    raw_done.wait()
    print("WORKLOAD-FACTS " + json.dumps({"tids": tids, "main": threading.get_native_id(),
                                          "spin_s": SPIN, "nap_s": NAP, "depth": DEPTH}))


if __name__ == "__main__":
    main()
