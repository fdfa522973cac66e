"""A queue pipeline with daemon threads left blocked at exit.

Scenario
    Three "worker-N" threads each produce 10 items (a short time.sleep per
    item stands in for the work) into a queue.Queue.  A daemon "checker"
    thread gets items from it and passes them on to a second queue; a
    daemon "recorder" thread gets them from there and records them.  The
    main thread waits for the workers, then for both queues to be fully
    processed (Queue.join), prints the facts and exits -- while the two
    daemon managers are still blocked in get() on their empty queues.  A
    Python learner is taught the producer/consumer pattern with
    task_done()/join(), and that daemon threads do not keep a program
    alive: they are simply stopped at exit.

What a correct trace shows
    Workers sleep (off CPU, GIL released) and briefly run to put() items;
    "checker" and "recorder" spend nearly all their time blocked in get()
    (a wait on the queue's condition lock, no GIL held), waking once per
    item.  At the end the process exits with "checker" and "recorder"
    still blocked in that wait: they never return from get().

Usage
    /usr/bin/python3 queue_pipeline.py [SIZE]

    SIZE (float, default 1.0) scales the time to produce one item:
    0.1 s x SIZE (so about 1 s in total).  Always 3 workers x 10 items.

Last stdout line: WORKLOAD-FACTS {json} with item counts and the tids of
the producers and of the daemon managers.
"""
import json
import os
import queue
import sys
import threading
import time

WORKERS = 3
ITEMS_PER_WORKER = 10


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    item_s = round(0.1 * size, 6)
    raw, checked = queue.Queue(), queue.Queue()
    recorded = []
    tids = {}

    def worker(n):
        tids[threading.current_thread().name] = threading.get_native_id()
        for i in range(ITEMS_PER_WORKER):
            time.sleep(item_s)                 # "make" an item
            raw.put((n, i))

    def checker():
        tids[threading.current_thread().name] = threading.get_native_id()
        while True:
            item = raw.get()                   # blocks when the queue is empty (waits: Queue)
            checked.put(item)
            raw.task_done()

    def recorder():
        tids[threading.current_thread().name] = threading.get_native_id()
        while True:
            item = checked.get()  # waits: Queue
            recorded.append(item)
            checked.task_done()

    managers = [threading.Thread(target=checker, name="checker", daemon=True),
                threading.Thread(target=recorder, name="recorder", daemon=True)]
    workers = [threading.Thread(target=worker, args=(n,), name=f"worker-{n}")
               for n in range(WORKERS)]
    start = time.perf_counter()
    for t in managers + workers:
        t.start()  # waits: Event
    for t in workers:
        t.join()  # waits: join
    raw.join()                                 # every item checked... (waits: Queue)
    checked.join()                             # ...and recorded (waits: Queue)
    elapsed = time.perf_counter() - start
    print(f"{len(recorded)} items recorded in {elapsed:.2f} s; "
          f"managers still alive: {[t.name for t in managers if t.is_alive()]}")

    facts = {
        "workload": "queue_pipeline",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "item_s": item_s,
        "items": WORKERS * ITEMS_PER_WORKER,
        "recorded": len(recorded),
        "elapsed_s": elapsed,
        "producer_tids": {t.name: tids[t.name] for t in workers},
        "daemon_manager_tids": {t.name: tids[t.name] for t in managers},
        "daemons_alive_at_exit": [t.name for t in managers if t.is_alive()],
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)
    # main returns here; the interpreter exits and the daemons just stop.


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
