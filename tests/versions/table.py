"""The measured support table, from build/versions-matrix.json.

    /usr/bin/python3 tests/versions/table.py [build/versions-matrix.json]

Prints one Markdown row per interpreter (its -dbg and --no-debuginfo runs
side by side) for docs/versions.md and the README. Run after
`make test-versions`; a cell the matrix did not measure is left blank.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pct(v):
    if v is None or v == "":
        return ""
    if isinstance(v, str):
        return v
    return f"{100 * v:.1f} %"


def both(d, n, key, fmt=lambda v: "" if v is None else str(v)):
    """the -dbg and --no-debuginfo values of KEY, as 'a / b'."""
    a, b = d.get(n + "-dbg", {}).get(key), d.get(n + "-nodbg", {}).get(key)
    if a is None and b is None:
        return ""
    return f"{fmt(a)} / {fmt(b)}"


def handoffs(v):
    return "" if v is None else ("equal" if v else "DIFFER")


def row(d, n):
    runs = [d.get(n + s, {}) for s in ("-dbg", "-nodbg")]
    python = next((r["python"] for r in runs if "python" in r), "")
    method = both(d, n, "gil_method")
    equal = [r["handoffs"] == r["interpreter_switches"]
             for r in runs if "handoffs" in r]
    attach = [a == b for r in runs for a, b in [r.get("attach_handoffs", [0, 1])]
              if "attach_handoffs" in r]
    names = both(d, n, "thread_names", lambda v: "" if v is None else ("yes" if v else "NO"))
    stacks = both(d, n, "stacks_share", lambda v: "" if v is None else f"{100 * v:.0f} %")
    rlock = both(d, n, "rlock_named")
    return (f"| {n} | {python} | {method} | "
            f"{handoffs(all(equal) if equal else None)} | "
            f"{handoffs(all(attach) if attach else None)} | "
            f"{both(d, n, 'gil_vs_bpftrace_worst', pct)} | "
            f"{both(d, n, 'sleep_worst', pct)} | "
            f"{both(d, n, 'lock_wait_worst', pct)} | {names} | {stacks} | {rlock} |")


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "versions-matrix.json")
    with open(path) as f:
        d = json.load(f)
    names = []
    for k in d:
        n = k.rsplit("-", 1)[0]
        if n not in names:
            names.append(n)
    print("| interpreter | version | GIL method (-dbg / none) | hand-offs = counter "
          "| attached: = counter | GIL vs bpftrace, worst thread | sleeps, worst "
          "| lock waits, worst | Python thread names | stacks: share under factorize "
          "| C RLock named RLock |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sorted(names):
        print(row(d, n))


if __name__ == "__main__":
    main()
