"""One thread holds a lock while another waits for it, three times: a
threading.RLock() (the C _thread.RLock) waited for with `with`, another
waited for with acquire(), both held re-entered (twice), then a
threading.Lock() waited for with `with`.

A tracer must call the first two RLock and the third Lock, each first
waited for at the line this program prints for it.

Usage: python3 rlock_wait.py [HOLD_S]   (default 0.2)
Last stdout line: WORKLOAD-FACTS {"rlock_with": LINE, "rlock_acquire":
LINE, "lock_with": LINE, "waiter": TID}
"""
import json
import sys
import threading
import time


def hold(lock, depth, ready, hold_s):
    for _ in range(depth):
        lock.acquire()
    ready.set()
    time.sleep(hold_s)
    for _ in range(depth):
        lock.release()


def held_by_another(lock, depth, hold_s):
    """Start a thread that holds LOCK (DEPTH times over) for HOLD_S; return
    it once it holds the lock."""
    ready = threading.Event()
    t = threading.Thread(target=hold, args=(lock, depth, ready, hold_s),
                         name="holder")
    t.start()
    ready.wait()
    return t


def line():
    """The caller's line + 1: the line after the call."""
    return sys._getframe(1).f_lineno + 1


def waiter(hold_s, lines):
    rlock_a, rlock_b, lock_c = threading.RLock(), threading.RLock(), threading.Lock()

    t = held_by_another(rlock_a, 2, hold_s)
    lines["rlock_with"] = line()
    with rlock_a:
        pass
    t.join()

    t = held_by_another(rlock_b, 2, hold_s)
    lines["rlock_acquire"] = line()
    rlock_b.acquire()
    rlock_b.release()
    t.join()

    t = held_by_another(lock_c, 1, hold_s)
    lines["lock_with"] = line()
    with lock_c:
        pass
    t.join()
    lines["waiter"] = threading.get_native_id()


def main():
    hold_s = float(sys.argv[1]) if len(sys.argv) > 1 else 0.2
    lines = {}
    t = threading.Thread(target=waiter, args=(hold_s, lines), name="waiter")
    t.start()
    t.join()
    print("WORKLOAD-FACTS " + json.dumps(lines))


if __name__ == "__main__":
    main()
