"""Two threads taking one Lock in turns: waiting for a lock, not the GIL.

Scenario
    Two functions, alice() and bob(), run in threads of the same names.
    Each does 5 rounds of: acquire one shared threading.Lock, hold it for a
    known time, release it, then pause 10 ms outside the lock so the other
    thread gets its turn.  By default the lock is held while sleeping
    (time.sleep); with --spin it is held while busy-looping on CPU.  A
    Python learner is taught that a Lock serializes the critical sections
    (the run takes about 2 x rounds x hold), and that a thread waiting in
    lock.acquire() is blocked and does not use CPU or hold the GIL.

What a correct trace shows
    Each thread alternates: holding the lock (default: asleep; --spin: on
    CPU, holding the GIL) for hold_s, and blocked in lock.acquire() (a
    futex wait, GIL released) for about hold_s while the other one holds
    it; per-thread wait totals match acquire_wait_total_s.  This is lock
    contention, not GIL contention.  Default: no GIL waits at all.  --spin:
    only short GIL waits (at most one 5 ms switch interval per round) when
    a thread wakes from its pause while the other spins holding the GIL.

Usage
    /usr/bin/python3 lock_turns.py [SIZE] [--spin]

    SIZE (float, default 1.0) scales the hold time: 0.1 s x SIZE.
    Always 5 rounds per thread.

Last stdout line: WORKLOAD-FACTS {json} with every acquisition (thread,
wait, hold) in order, per-thread total wait in acquire(), and the tids.
"""
import argparse
import json
import os
import threading
import time

ROUNDS = 5
PAUSE_S = 0.01

lock = threading.Lock()
acquisitions = []             # appended to only while holding the lock


def take_turns(hold_s, spin):
    wait_total = 0.0
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        lock.acquire()  # waits: Lock
        got = time.perf_counter()
        wait_total += got - t0
        if spin:
            while time.perf_counter() - got < hold_s:
                pass                           # hold the lock on CPU
        else:
            time.sleep(hold_s)                 # hold the lock while sleeping
        acquisitions.append({"thread": threading.current_thread().name,
                             "wait_s": got - t0,
                             "hold_s": time.perf_counter() - got})
        lock.release()
        time.sleep(PAUSE_S)                    # let the other thread have a turn
    return wait_total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=float, default=1.0)
    parser.add_argument("--spin", action="store_true")
    args = parser.parse_args()
    hold_s = round(0.1 * args.size, 6)
    per_thread = {}

    def alice():
        per_thread["alice"] = {"tid": threading.get_native_id(),
                               "acquire_wait_total_s": take_turns(hold_s, args.spin)}

    def bob():
        per_thread["bob"] = {"tid": threading.get_native_id(),
                             "acquire_wait_total_s": take_turns(hold_s, args.spin)}

    threads = [threading.Thread(target=alice, name="alice"),
               threading.Thread(target=bob, name="bob")]
    start = time.perf_counter()
    for t in threads:
        t.start()  # waits: Event
    for t in threads:
        t.join()  # waits: join
    elapsed = time.perf_counter() - start
    print("turns: " + " ".join(a["thread"] for a in acquisitions))
    print(f"{len(acquisitions)} critical sections in {elapsed:.2f} s")

    facts = {
        "workload": "lock_turns",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": args.size,
        "mode": "spin" if args.spin else "sleep",
        "rounds": ROUNDS,
        "hold_s": hold_s,
        "pause_s": PAUSE_S,
        "lock_id": id(lock),
        "elapsed_s": elapsed,
        "per_thread": per_thread,
        "acquisitions": acquisitions,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
