"""A long-running program with predictable output, to attach to."""
import sys
import threading
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 30
done = []


def work(name):
    for i in range(ROUNDS):
        x = sum(j * j for j in range(20000))
        time.sleep(0.05)
        done.append((name, i, x))


threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("rounds", len(done), "checksum", sum(x for _, _, x in done))
sys.exit(7)
