#!/usr/bin/env python3
"""Time the read-heavy loop under several gilscope builds, alternating.

    python3 bench/experiments/compare.py [--threads 1] [--reads 200000] [--rounds 7] \\
        head-exact=/tmp/head/gilscope head-light=/tmp/head/gilscope,--light \\
        defer-light=/tmp/defer/gilscope,--light ...

Each NAME=BINARY[,ARG...] is `BINARY record -q -o FILE [ARG...] -- python3.11
bench/read_heavy.py`; an untraced run is always included. Rounds alternate
the order (forward, backward). Prints, per configuration, the medians of the
loop's CPU time and elapsed time per os.read(), and of the per-round ratios to
the untraced run, with the 1-minute load range.

Runs the private copy of the interpreter that bench/bench.py makes
(/tmp/gilscope-bench/bin/python3.11: see there why).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = "/tmp/gilscope-bench/bin/python3.11"
READ_HEAVY = os.path.join(ROOT, "bench", "read_heavy.py")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reads", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("configs", nargs="+", metavar="NAME=BINARY[,ARG...]")
    a = ap.parse_args()
    if not os.path.exists(PY):
        sys.exit(f"{PY} missing: run bench/bench.py once (it makes the copy)")
    configs = [("untraced", None, [])]
    for c in a.configs:
        name, _, spec = c.partition("=")
        parts = spec.split(",")
        configs.append((name, parts[0], parts[1:]))
    res = {c[0]: [] for c in configs}
    for rnd in range(a.rounds):
        for name, binary, extra in (configs if rnd % 2 == 0 else configs[::-1]):
            cmd = [PY, READ_HEAVY, "--threads", str(a.threads), "--reads", str(a.reads)]
            if binary:
                cmd = [binary, "record", "-q", "-o", "/tmp/gilscope-compare.data"] + extra + ["--"] + cmd
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout
            f = json.loads(out.split("WORKLOAD-FACTS ")[1].splitlines()[0])
            res[name].append((f["elapsed_s"], f["cpu_s"], f["reads"], os.getloadavg()[0]))
        print(f"round {rnd + 1}/{a.rounds} (load {os.getloadavg()[0]:.2f})", file=sys.stderr)
    base = res["untraced"]
    print(f"{a.threads} thread(s) x {a.reads:,} reads, {a.rounds} rounds")
    for name, _, _ in configs:
        rs = res[name]
        print(f"{name:<18} cpu {statistics.median(c / n * 1e9 for e, c, n, _ in rs):7.0f} ns/read"
              f"  wall {statistics.median(e / n * 1e9 for e, c, n, _ in rs):7.0f} ns/read"
              f"  elapsed x {statistics.median(rs[i][0] / base[i][0] for i in range(len(rs))):5.2f}"
              f"  cpu x {statistics.median(rs[i][1] / base[i][1] for i in range(len(rs))):5.2f}"
              f"  load {min(x[3] for x in rs):.1f}-{max(x[3] for x in rs):.1f}")
    if os.path.exists("/tmp/gilscope-compare.data"):
        os.unlink("/tmp/gilscope-compare.data")


if __name__ == "__main__":
    main()
