"""What a workload says about its own waits, for tests to hold a tracer to.

Every line of the workload marked with a comment `waits: KIND` (Lock,
Queue, Event, Barrier, Future, join) is a place where it may wait for a
lock of that kind. announce() prints one line per mark, at start:

    lock KIND waited at FILE:LINE

(FILE the workload's base name). Printing is all it does: the workload's
behaviour is unchanged.
"""
import os
import re
import sys

MARK = re.compile(r"waits: (\w+)")


def announce(path=None):
    path = path or sys.argv[0]
    with open(path) as f:
        for n, line in enumerate(f, 1):
            m = MARK.search(line.partition("#")[2])
            if m:
                print(f"lock {m.group(1)} waited at {os.path.basename(path)}:{n}")
    sys.stdout.flush()
