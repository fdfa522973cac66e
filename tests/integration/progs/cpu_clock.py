"""Four CPU-bound threads; each reports its own CPU time (time.thread_time)."""
import json
import threading
import time

N = 2_500_000
clocks = {}


def spin():
    x = 0
    for i in range(N):
        x += i * i
    clocks[threading.get_native_id()] = time.thread_time()


threads = [threading.Thread(target=spin, name=f"spin-{i}") for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("WORKLOAD-FACTS " + json.dumps({"thread_cpu_s": clocks}))
