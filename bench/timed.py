"""Run a Python workload in this interpreter and print its CPU time at exit.

    /usr/bin/python3 bench/timed.py WORKLOAD.py [ARGS...]

Runs WORKLOAD.py as __main__ (sys.argv and sys.path[0] as if it had been
started directly), then, at interpreter exit, prints one line

    BENCH-CPU {"cpu_s": ..., "utime_s": ..., "stime_s": ...}

with the process's own user and system CPU time (getrusage(RUSAGE_SELF): all
its threads, including the kernel's probe handling done in their context;
not its children). `make bench` uses it as a second, load-insensitive
measure next to the workload's own elapsed time (a process waiting for a CPU
taken by another program accrues elapsed time, not CPU time).
"""
import atexit
import json
import os
import resource
import runpy
import sys


def _report():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print("BENCH-CPU " + json.dumps({"cpu_s": ru.ru_utime + ru.ru_stime,
                                     "utime_s": ru.ru_utime,
                                     "stime_s": ru.ru_stime}), flush=True)


def main():
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    path = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    atexit.register(_report)
    runpy.run_path(path, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
