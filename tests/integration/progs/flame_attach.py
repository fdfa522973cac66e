"""For `record -p`: the main thread waits in join() the whole time, a worker sleeps."""
import json
import sys
import threading
import time


def doze():
    for _ in range(40):
        time.sleep(0.05)


t = threading.Thread(target=doze, name="dozer")
t.start()
print("WORKLOAD-FACTS " + json.dumps({"main": threading.get_native_id()}), flush=True)
t.join()
sys.exit(0)
