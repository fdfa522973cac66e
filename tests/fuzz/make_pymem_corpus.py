#!/usr/bin/env python3
"""Seed corpus of fuzz_pymem: memory images captured from live interpreters.

Starts Debian's python3.11 on a program whose threads wait in nested
functions under names of each str kind (ASCII, Latin-1, BMP, astral), with
long names and many lines, captures what pymem_walk.c reads of it
(build/fuzz/capture_pymem, run as root), and stops it. Each seed is a few
KB. Other interpreters with stack facts in user/record/pyver.c are captured too
when present (the chroots of scripts/chroots.sh).

    make build/fuzz/capture_pymem && python3 tests/fuzz/make_pymem_corpus.py [OUTDIR]
"""
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, "..", "..", "build", "fuzz", "capture_pymem")

PROGRAM = r'''
import sys, threading, time
ready = threading.Barrier(%(n)d + 1)
stop = threading.Event()

def level3(k):
    x = k * 2
    ready.wait()
    stop.wait()
    return x

def level2(k):
    return level3(k) + 1

def %(long)s(k):
    return level2(k)

class Worker:
    def run(self, k):
        return %(long)s(k)

names = %(names)r
threads = [threading.Thread(target=Worker().run, args=(i,), name=n)
           for i, n in enumerate(names)]
for t in threads:
    t.start()
ready.wait()
print("ready", flush=True)
sys.stdin.readline()
stop.set()
'''

SETS = {
    "names-kinds": ["worker-1", "caf\u00e9-\u00ff", "\u540d\u524d-\u0100", "emoji-\U0001F40D"],
    "names-long": ["x" * 300, "y" * 40 + "\u20ac" * 200],
    "one-thread": ["solo"],
}


def capture(python, name, names, outdir):
    long_fn = "f" + "unction_with_a_long_name_" * 4
    src = PROGRAM % {"n": len(names), "names": names, "long": long_fn}
    p = subprocess.Popen([python, "-c", src], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        out = os.path.join(outdir, f"{name}.mem")
        subprocess.run([CAPTURE, str(p.pid), out], check=True)
    finally:
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=30)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus-pymem")
    os.makedirs(outdir, exist_ok=True)
    for name, names in SETS.items():
        capture("/usr/bin/python3.11", f"py311-{name}", names, outdir)


if __name__ == "__main__":
    main()
