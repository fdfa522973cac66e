"""Wait until the file GATE exists, then run SCRIPT [ARGS...] as __main__.

    python3.x gate.py GATE SCRIPT [ARGS...]

The version matrix (tests/versions/matrix.py) starts the interpreter under
`gilscope record` through this gate, attaches its independent bpftrace
probes to the waiting process, then opens the gate."""
import os
import runpy
import sys
import time

gate = sys.argv[1]
while not os.path.exists(gate):
    time.sleep(0.01)
sys.argv = sys.argv[2:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
