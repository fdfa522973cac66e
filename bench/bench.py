#!/usr/bin/env python3
"""gilscope's performance benchmark: `make bench` (docs/performance.md).

    /usr/bin/python3 bench/bench.py [--pairs N] [--only SECTION,...] [--json FILE]

Sections (all by default):

  overhead  each workload untraced, under `gilscope record` (exact, the
            default), `record --light` and the bpftrace equivalent
            (bench/gil_bpftrace.py), in rounds of alternating order; the
            ratio is the workload's own elapsed time traced / untraced in the
            same round, median over the rounds (>= 7 pairs)
  costs     where the time goes per probe hit: a one-thread os.read() loop
            under partial configurations, and the BPF programs' own run time
            (kernel BPF statistics, enabled only while this section runs)
  capacity  >= 1 M events/s offered for 10 s: events/s recorded, lost, the
            recorder's CPU; an overload run with a 1 MB ring buffer to show
            that lost events are counted and reported
  report    `gilscope report` speed (events/s) and max RSS on a 1 s and a
            10 s session of the same workload
  start     `record -p` start latency: launch of the command -> first event
  idle      the recorder's CPU while attached to a sleeping process

Why the workloads run under a private copy of /usr/bin/python3.11
(/tmp/gilscope-bench/bin/python3.11, byte-identical, same build-id, so its
debug file is found): uprobes are attached to a file (inode) for every
process mapping it, so while anyone else on the machine records a Debian
python3.11 program (the test suite does, all the time), every "untraced" run
of /usr/bin/python3.11 would pay ~1 us per GIL release and take too. The copy
is probed only by this benchmark.

The gilscope binary is copied to the work directory at start and that copy
is what runs: a rebuild of ./gilscope during the benchmark (other work on the
same tree) cannot change or break the program being measured. --gilscope
names another build (e.g. one of a clean checkout of a commit).

Every measurement carries the 1-minute load average at its start: the
machine is shared, numbers are noisy, medians of rounds are what count.
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gsfile  # noqa: E402
import gil_bpftrace  # noqa: E402
from bench_report import (cost_model, fmt, median, print_cost_model,  # noqa: E402
                          print_costs, print_overhead, print_summary)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GILSCOPE = os.path.join(ROOT, "gilscope")
SYSTEM_PY = "/usr/bin/python3.11"
TIMED = os.path.join(ROOT, "bench", "timed.py")
READ_HEAVY = os.path.join(ROOT, "bench", "read_heavy.py")

# name, argv after the interpreter, key of the workload's own elapsed time,
# targets (exact, light) from the issue
WORKLOADS = [
    ("cpu_threads", ["workloads/cpu_threads.py", "0.5", "--threads-only", "--rounds", "3"], "threaded_s", (1.03, 1.01)),
    ("read_heavy", ["bench/read_heavy.py", "--rounds", "10"], "elapsed_s", (2.5, 1.10)),
    ("sleepy", ["workloads/sleepy_threads.py"], "elapsed_s", (1.03, 1.01)),
    ("queue", ["workloads/queue_pipeline.py"], "elapsed_s", (1.03, 1.01)),
    ("web_fetch", ["workloads/web_fetch.py"], "elapsed_s", (1.03, 1.01)),
]
VARIANTS = ["untraced", "exact", "light", "bpftrace"]
# Pairs at least, whatever --pairs says: read_heavy's rounds vary by 5 % (a
# woken waiter finds the GIL taken or not), and the median of 7 ratios
# moves by +-3 % from one run of the bench to the next; cpu_threads' light
# target (1 %) is about the spread of its untraced runs (1.5-2.5 %).
MIN_PAIRS = {"read_heavy": 11, "cpu_threads": 11}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load1():
    return os.getloadavg()[0]


def facts_of(text, prefix="WORKLOAD-FACTS "):
    for line in text.splitlines():
        if line.startswith(prefix):
            return json.loads(line[len(prefix):])
    return None


def proc_cpu(pid):
    """utime + stime of a process (not its children), seconds, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tck
    except (OSError, IndexError, ValueError):
        return None


def proc_ctxsw(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("voluntary_ctxt_switches"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_to_exit(cmd, timeout, cwd=ROOT):
    """Run CMD; return (stdout, stderr, wall, recorder CPU read from the
    zombie, exit code)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=cwd)
        except OSError as e:
            return "", f"cannot run {cmd[0]}: {e}", 0.0, None, 127
        deadline = t0 + timeout
        while True:
            try:
                info = os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except ChildProcessError:
                info = None
            if info is not None and info.si_pid == p.pid:
                break
            if time.monotonic() > deadline:
                p.kill()
            time.sleep(0.01)
        wall = time.monotonic() - t0
        cpu = proc_cpu(p.pid)  # the zombie still has its final counts
        code = p.wait()
        out.seek(0)
        err.seek(0)
        return out.read().decode(errors="replace"), err.read().decode(errors="replace"), wall, cpu, code


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.workdir
        os.makedirs(os.path.join(self.work, "bin"), exist_ok=True)
        self.py = os.path.join(self.work, "bin", "python3.11")
        src, dst = os.stat(SYSTEM_PY), os.stat(self.py) if os.path.exists(self.py) else None
        if not dst or (dst.st_size, dst.st_mtime) != (src.st_size, src.st_mtime):
            shutil.copy2(SYSTEM_PY, self.py + ".tmp")
            os.replace(self.py + ".tmp", self.py)
        self.bpftrace = shutil.which("bpftrace")
        self.bt_scripts = {}
        if self.bpftrace:
            for rel in ("libc", "entries"):
                path = os.path.join(self.work, f"gil-{rel}.bt")
                with open(path, "w") as f:
                    f.write(gil_bpftrace.script(self.py, rel))
                self.bt_scripts[rel] = path
        self.results = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                        "python": self.py, "pairs": args.pairs}

    # ------------------------------------------------------------ one run
    def cmd(self, variant, argv, out=None, extra=()):
        wl = [self.py, TIMED] + argv
        if variant == "untraced":
            return wl
        if variant in ("exact", "light"):
            c = [GILSCOPE, "record", "-q", "-o", out] + list(extra)
            if variant == "light":
                c.append("--light")
            return c + ["--"] + wl
        if variant.startswith("bpftrace"):
            rel = "entries" if variant == "bpftrace-entries" else "libc"
            return [self.bpftrace, self.bt_scripts[rel], "-c", " ".join(wl)]
        raise ValueError(variant)

    def run(self, variant, argv, key, timeout=300, by_type=False):
        out = os.path.join(self.work, f"run-{variant}.data")
        load = load1()
        stdout, stderr, wall, rec_cpu, code = run_to_exit(self.cmd(variant, argv, out), timeout)
        facts = facts_of(stdout)
        cpu = facts_of(stdout, "BENCH-CPU ")
        r = {"variant": variant, "load": load, "wall": wall, "code": code,
             "elapsed": facts.get(key) if facts else None,
             "cpu": cpu["cpu_s"] if cpu else None}
        if facts and "cpu_s" in facts and facts["cpu_s"] is not None:
            r["loop_cpu"] = facts["cpu_s"]
            r["reads"] = facts.get("reads")
        if variant in ("exact", "light"):
            try:
                s = gsfile.read(out, events=by_type)
                r.update(events=s["events"], bytes=s["bytes"], lost=s["lost"],
                         span=s["span_s"], recorder_cpu=rec_cpu)
                if by_type:
                    r["by_type"] = s["by_type"]
            except (OSError, ValueError) as e:
                r["error"] = str(e)
            if os.path.exists(out):
                os.unlink(out)
        if variant.startswith("bpftrace"):
            takes = sum(int(m.group(1)) for m in re.finditer(r"^@takes\[\d+\]: (\d+)", stdout, re.M))
            r["bpftrace_takes"] = takes
            if not takes:
                r["error"] = "bpftrace recorded nothing: " + stderr.strip()[-300:]
        if r["elapsed"] is None:
            r["error"] = r.get("error") or f"no facts (exit {code}): {stderr.strip()[-300:]}"
        return r

    # ------------------------------------------------------------ overhead
    def overhead(self):
        variants = [v for v in VARIANTS if v != "bpftrace" or self.bpftrace]
        res = {}
        for name, argv, key, targets in WORKLOADS:
            if self.args.workloads and name not in self.args.workloads:
                continue
            runs = {v: [] for v in variants}
            pairs = max(self.args.pairs, MIN_PAIRS.get(name, 0))
            for rnd in range(pairs):
                k = rnd % len(variants)
                order = variants[k:] + variants[:k]
                if rnd % 2:
                    order.reverse()
                for v in order:
                    r = self.run(v, argv, key, by_type=rnd == 0)
                    r["round"] = rnd
                    runs[v].append(r)
                    if "error" in r:
                        log(f"  {name} {v} round {rnd}: {r['error']}")
                log(f"{name} round {rnd + 1}/{pairs}: " + "  ".join(
                    f"{v} {fmt(runs[v][-1]['elapsed'])}s" for v in variants)
                    + f"  (load {load1():.2f})")
            res[name] = summarize(runs, targets)
            # one more recording per mode, with BPF statistics on: the
            # probe work this workload causes (the cost model)
            res[name]["prog_stats"] = self.prog_stats(argv)
        self.results["overhead"] = res
        return res

    # ------------------------------------------------------------ costs
    def costs(self):
        """ns per os.read() of a one-thread loop under partial configurations."""
        reads = self.args.cost_reads
        argv = ["bench/read_heavy.py", "--threads", "1", "--reads", str(reads)]
        configs = ["untraced", "other-light", "other-exact", "light", "exact"]
        if self.bpftrace:
            configs += ["bpftrace", "bpftrace-entries"]
        runs = {c: [] for c in configs}
        for rnd in range(self.args.cost_rounds):
            for c in configs if rnd % 2 == 0 else list(reversed(configs)):
                if c.startswith("other-"):
                    # a recording of another process of the same interpreter
                    # file: its probes fire for our loop and reject it
                    other = self.start_other(c == "other-light")
                    try:
                        r = self.run("untraced", argv, "elapsed_s")
                    finally:
                        self.stop_other(other)
                else:
                    r = self.run(c, argv, "elapsed_s")
                r["config"] = c
                runs[c].append(r)
            log(f"costs round {rnd + 1}/{self.args.cost_rounds}: " + "  ".join(
                f"{c} {fmt(ns_per(runs[c][-1]), '.0f')}" for c in configs) + f" ns/read (load {load1():.2f})")
        per_read = {c: median(ns_per(r) for r in runs[c]) for c in configs}
        per_read_wall = {c: median(ns_per(r, "elapsed") for r in runs[c]) for c in configs}
        loads = [r["load"] for c in configs for r in runs[c]]
        res = {"reads": reads, "ns_per_read_cpu": per_read, "ns_per_read_wall": per_read_wall,
               "load": [min(loads), median(loads), max(loads)]}
        res["bpf_prog_ns"] = self.prog_stats(argv)
        self.results["costs"] = res
        return res

    def start_other(self, light):
        out = os.path.join(self.work, "other.data")
        cmd = [GILSCOPE, "record", "-q", "-o", out] + (["--light"] if light else []) + \
              ["--", self.py, "-c", "import time; time.sleep(600)"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # loaded and attached
        return p

    def stop_other(self, p):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        out = os.path.join(self.work, "other.data")
        if os.path.exists(out):
            os.unlink(out)

    def prog_stats(self, argv):
        """Average run time of each BPF program of our recorder (kernel BPF
        statistics, enabled through a BPF_ENABLE_STATS fd held only for
        this measurement), and the recording's wall time (wall_s)."""
        stats_fd = enable_bpf_stats()
        if stats_fd is None:
            return {"error": "BPF_ENABLE_STATS failed"}
        res = {}
        try:
            for mode in ("exact", "light"):
                out = os.path.join(self.work, f"stats-{mode}.data")
                cmd = [GILSCOPE, "record", "-q", "-o", out] + (["--light"] if mode == "light" else []) + \
                      ["--", self.py, TIMED] + argv
                t0 = time.monotonic()
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
                last, names = {}, {}
                while p.poll() is None:
                    snap = prog_fdinfo(p.pid)
                    if snap:
                        # the recorder closes its programs one by one when it
                        # stops: keep each program's largest count seen
                        for i, v in snap.items():
                            if v["run_cnt"] >= last.get(i, {"run_cnt": -1})["run_cnt"]:
                                last[i] = v
                        new = [i for i in snap if i not in names]
                        if new:
                            names.update(prog_names(new))
                    time.sleep(0.05)
                res[mode] = {names.get(pid_, str(pid_)): {
                    "run_cnt": v["run_cnt"], "run_time_ns": v["run_time_ns"],
                    "ns_per_run": v["run_time_ns"] / v["run_cnt"] if v["run_cnt"] else None}
                    for pid_, v in last.items() if v["run_cnt"]}
                # per second of the session, not of record's own start
                span = time.monotonic() - t0
                try:
                    span = gsfile.read(out)["span_s"] or span
                except (OSError, ValueError):
                    pass
                res.setdefault("wall_s", {})[mode] = span
                if os.path.exists(out):
                    os.unlink(out)
        finally:
            os.close(stats_fd)
        return res

    # ------------------------------------------------------------ capacity
    def capacity(self):
        res = {}
        secs = self.args.capacity_seconds
        argv = ["bench/read_heavy.py", "--seconds", str(secs), "--procs",
                str(self.args.capacity_procs), "--threads", "1"]
        for mode in ("exact", "light"):
            out = os.path.join(self.work, f"capacity-{mode}.data")
            cmd = [GILSCOPE, "record", "-q", "-o", out] + (["--light"] if mode == "light" else []) + \
                  ["--", self.py] + argv
            load = load1()
            stdout, stderr, wall, rec_cpu, code = run_to_exit(cmd, secs * 10 + 60)
            s = gsfile.read(out)
            res[mode] = {"load": load, "events": s["events"], "lost": s["lost"],
                         "lost_by_type": s["lost_by_type"], "span_s": s["span_s"],
                         "events_per_s": s["events_per_s"],
                         "offered_per_s": (s["events"] + max(s["lost"], 0)) / s["span_s"] if s["span_s"] else None,
                         "bytes_per_event": s["bytes_per_event"], "bytes": s["bytes"],
                         "recorder_cpu_s": rec_cpu,
                         "recorder_cores": rec_cpu / wall if rec_cpu is not None else None,
                         "ringbuf_bytes": s["ringbuf_bytes"], "file": out, "exit": code}
            log(f"capacity {mode}: {s['events_per_s']:,.0f} events/s for {s['span_s']:.1f} s, "
                f"lost {s['lost']}, {s['bytes_per_event']:.2f} B/event, recorder "
                f"{res[mode]['recorder_cores'] or 0:.2f} cores (load {load:.2f})")
        # overload: a 1 MB ring buffer and a recorder that stops draining
        # for 0.5 s (SIGSTOP, as if starved of CPU): the probes must count
        # what they cannot write, and the report must say so
        out = os.path.join(self.work, "overload.data")
        cmd = [GILSCOPE, "record", "-q", "-b", "1", "-o", out, "--", self.py, READ_HEAVY,
               "--seconds", "2", "--procs", str(self.args.capacity_procs), "--threads", "1"]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        time.sleep(1.0)
        os.kill(p.pid, signal.SIGSTOP)
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGCONT)
        p.wait()
        s = gsfile.read(out)
        rep = subprocess.run([GILSCOPE, "report", out], capture_output=True, text=True)
        shown = [ln.strip() for ln in rep.stdout.splitlines() if "lost" in ln][:3]
        res["overload_1MB"] = {"events": s["events"], "lost": s["lost"],
                               "lost_by_type": s["lost_by_type"], "report_lines": shown}
        log(f"overload (-b 1, recorder stopped 0.5 s): {s['events']} events, lost {s['lost']}; "
            f"report says: {shown[:1]}")
        os.unlink(out)
        light = os.path.join(self.work, "capacity-light.data")
        if os.path.exists(light):
            os.unlink(light)
        self.results["capacity"] = res
        return res

    # ------------------------------------------------------------ report
    def report_speed(self):
        res = {}
        big = os.path.join(self.work, "capacity-exact.data")
        if not os.path.exists(big):
            self.capacity()
        small = os.path.join(self.work, "report-1s.data")
        argv = ["bench/read_heavy.py", "--seconds", str(self.args.capacity_seconds / 10),
                "--procs", str(self.args.capacity_procs), "--threads", "1"]
        run_to_exit([GILSCOPE, "record", "-q", "-o", small, "--", self.py] + argv, 120)
        timev = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
        for label, path in (("small", small), ("big", big)):
            s = gsfile.read(path)
            rows = []
            for _ in range(3):
                load = load1()
                if timev:
                    p = subprocess.run([timev, "-v", GILSCOPE, "report", path],
                                       capture_output=True, text=True, cwd=ROOT)
                    rows.append({"load": load, **parse_time_v(p.stderr)})
                else:  # the same kernel numbers /usr/bin/time -v prints
                    t0 = time.monotonic()
                    p = subprocess.Popen([GILSCOPE, "report", path], stdout=subprocess.DEVNULL, cwd=ROOT)
                    _, _, ru = os.wait4(p.pid, 0)
                    rows.append({"load": load, "elapsed_s": time.monotonic() - t0,
                                 "cpu_s": ru.ru_utime + ru.ru_stime, "max_rss_kb": ru.ru_maxrss})
            best = min(rows, key=lambda r: r["elapsed_s"])
            res[label] = {"events": s["events"], "bytes": s["bytes"], "runs": rows,
                          "elapsed_s": best["elapsed_s"], "cpu_s": best["cpu_s"],
                          "max_rss_kb": max(r["max_rss_kb"] for r in rows),
                          "events_per_s": s["events"] / best["elapsed_s"],
                          "events_per_cpu_s": s["events"] / best["cpu_s"] if best["cpu_s"] else None}
            log(f"report {label}: {s['events']:,} events in {best['elapsed_s']:.2f} s "
                f"({res[label]['events_per_s']:,.0f} events/s), max RSS {res[label]['max_rss_kb']} KB")
        os.unlink(small)
        self.results["report"] = res
        return res

    # ------------------------------------------------------------ start
    def start_latency(self):
        rows = []
        for _ in range(self.args.start_runs):
            target = subprocess.Popen([self.py, "-c",
                                       "import time\nwhile True: time.sleep(0.0005)"])
            time.sleep(0.5)
            out = os.path.join(self.work, "start.data")
            load = load1()
            t_launch = time.monotonic_ns()  # CLOCK_MONOTONIC, the events' clock
            run_to_exit([GILSCOPE, "record", "-q", "-o", out, "-d", "2", "-p", str(target.pid)], 60)
            target.kill()
            target.wait()
            s = gsfile.read(out, events=True)
            os.unlink(out)
            first = s["first_ts"]
            rows.append({"load": load,
                         "to_t0_s": (s["start_ns"] - t_launch) / 1e9,
                         "to_first_event_s": (first - t_launch) / 1e9 if first else None})
            log(f"start: launch -> capturing (t0) {rows[-1]['to_t0_s'] * 1e3:.0f} ms, "
                f"-> first event {(rows[-1]['to_first_event_s'] or 0) * 1e3:.0f} ms (load {load:.2f})")
        res = {"runs": rows,
               "median_first_event_s": median(r["to_first_event_s"] for r in rows),
               "max_first_event_s": max(r["to_first_event_s"] or 0 for r in rows)}
        self.results["start"] = res
        return res

    # ------------------------------------------------------------ idle
    def idle(self):
        window = self.args.idle_seconds
        target = subprocess.Popen([self.py, "-c", "import time; time.sleep(3600)"])
        time.sleep(0.3)
        out = os.path.join(self.work, "idle.data")
        load = load1()
        rec = subprocess.Popen([GILSCOPE, "record", "-q", "-o", out, "-d", str(window + 5),
                                "-p", str(target.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(2.5)  # start-up done
        c0, w0, t0 = proc_cpu(rec.pid), proc_ctxsw(rec.pid), time.monotonic()
        time.sleep(window)
        c1, w1, t1 = proc_cpu(rec.pid), proc_ctxsw(rec.pid), time.monotonic()
        rec.wait()
        target.kill()
        target.wait()
        s = gsfile.read(out)
        os.unlink(out)
        res = {"load": load, "window_s": t1 - t0, "cpu_s": c1 - c0,
               "core_percent": 100 * (c1 - c0) / (t1 - t0),
               "wakeups_per_s": (w1 - w0) / (t1 - t0), "events": s["events"],
               "tick_s": 1 / os.sysconf("SC_CLK_TCK")}
        log(f"idle: recorder used {res['cpu_s']:.2f} s CPU in {res['window_s']:.1f} s "
            f"({res['core_percent']:.2f} % of a core), {res['wakeups_per_s']:.0f} wakeups/s (load {load:.2f})")
        self.results["idle"] = res
        return res


# ---------------------------------------------------------------- helpers
def ns_per(r, key="loop_cpu"):
    v = r.get(key)
    if v is None or not r.get("reads"):
        return None
    return v / r["reads"] * 1e9


def summarize(runs, targets):
    base = {r["round"]: r for r in runs["untraced"]}
    out = {"targets": {"exact": targets[0], "light": targets[1]}, "variants": {}}
    for v, rs in runs.items():
        ratios, cpu_ratios = [], []
        for r in rs:
            b = base.get(r["round"])
            if b and r["elapsed"] and b["elapsed"]:
                ratios.append(r["elapsed"] / b["elapsed"])
            if b and r.get("cpu") and b.get("cpu"):
                cpu_ratios.append(r["cpu"] / b["cpu"])
        q = quartiles(ratios) if v != "untraced" else (None, None)
        d = {"elapsed": median(r["elapsed"] for r in rs),
             "ratio_q1": q[0], "ratio_q3": q[1],
             "elapsed_all": [r["elapsed"] for r in rs],
             "wall": median(r["wall"] for r in rs),
             "cpu": median(r.get("cpu") for r in rs),
             "ratio": median(ratios) if v != "untraced" else 1.0,
             "ratios": ratios, "cpu_ratio": median(cpu_ratios) if v != "untraced" else 1.0,
             "pairs": len(ratios) if v != "untraced" else len(rs),
             "load": [r["load"] for r in rs],
             "errors": [r["error"] for r in rs if "error" in r]}
        if v in ("exact", "light"):
            ev = [r for r in rs if r.get("events")]
            d["events"] = median(r["events"] for r in ev)
            d["events_per_s"] = median(r["events"] / r["span"] for r in ev if r.get("span"))
            d["bytes_per_event"] = median(r["bytes"] / r["events"] for r in ev)
            d["bytes_total"] = sum(r["bytes"] for r in ev)
            d["events_total"] = sum(r["events"] for r in ev)
            d["lost"] = sum(max(r.get("lost", 0), 0) for r in ev)
            d["recorder_cpu_s"] = median(r.get("recorder_cpu") for r in ev)
            d["by_type"] = next((r["by_type"] for r in ev if r.get("by_type")), None)
            d["fixed_cost_s"] = median(
                (r["wall"] - base[r["round"]]["wall"]) - (r["elapsed"] - base[r["round"]]["elapsed"])
                for r in rs if r["round"] in base and r["elapsed"] and base[r["round"]]["elapsed"])
        if v == "bpftrace":
            d["takes"] = median(r.get("bpftrace_takes") for r in rs)
        out["variants"][v] = d
    return out


def quartiles(xs):
    xs = sorted(x for x in xs if x is not None)
    if len(xs) < 4:
        return (xs[0], xs[-1]) if xs else (None, None)
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def parse_time_v(text):
    def field(name):
        m = re.search(re.escape(name) + r":\s*(.+)", text)
        return m.group(1).strip() if m else None
    el = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    secs = 0.0
    for part in (el or "0").split(":"):
        secs = secs * 60 + float(part)
    return {"elapsed_s": secs,
            "cpu_s": float(field("User time (seconds)") or 0) + float(field("System time (seconds)") or 0),
            "max_rss_kb": int(field("Maximum resident set size (kbytes)") or 0)}


def enable_bpf_stats():
    """BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): stats on while the fd is open."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(16)  # enable_stats.type = 0 (RUN_TIME)
    fd = libc.syscall(321, 32, attr, ctypes.c_uint(16))  # __NR_bpf, BPF_ENABLE_STATS
    return fd if fd >= 0 else None


def prog_fdinfo(pid):
    """{prog_id: {run_cnt, run_time_ns}} of the BPF programs PID holds."""
    res = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return res
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                text = f.read()
        except OSError:
            continue
        m = re.search(r"^prog_id:\s*(\d+)", text, re.M)
        if not m or not re.search(r"^prog_type:", text, re.M):
            continue  # not a program (a link names its program too)
        rt = re.search(r"^run_time_ns:\s*(\d+)", text, re.M)
        rc = re.search(r"^run_cnt:\s*(\d+)", text, re.M)
        res[int(m.group(1))] = {"run_time_ns": int(rt.group(1)) if rt else 0,
                                "run_cnt": int(rc.group(1)) if rc else 0}
    return res


def prog_names(ids):
    names = {}
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    for i in ids:
        p = subprocess.run([bpftool, "prog", "show", "id", str(i), "-j"], capture_output=True, text=True)
        try:
            names[i] = json.loads(p.stdout).get("name", str(i))
        except ValueError:
            names[i] = str(i)
    return names


def machine():
    def sh(*c):
        return subprocess.run(c, capture_output=True, text=True).stdout.strip()
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"kernel": os.uname().release, "cpus": os.cpu_count(), "cpu": cpu,
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": sh(SYSTEM_PY, "-c", "import sys; print(sys.version.split()[0])"),
            "bpftrace": sh("bpftrace", "--version") if shutil.which("bpftrace") else None,
            "gilscope": sh(GILSCOPE, "version")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=7, help="rounds of the overhead section (>= 7)")
    ap.add_argument("--only", default="overhead,costs,capacity,report,start,idle")
    ap.add_argument("--workloads", default="", help="comma-separated subset of: " +
                    ",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "bench", "results.json"))
    ap.add_argument("--workdir", default="/tmp/gilscope-bench")
    ap.add_argument("--cost-reads", type=int, default=200000)
    ap.add_argument("--cost-rounds", type=int, default=5)
    ap.add_argument("--capacity-seconds", type=float, default=10.0)
    ap.add_argument("--capacity-procs", type=int, default=2)
    ap.add_argument("--start-runs", type=int, default=5)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--gilscope", default=os.path.join(ROOT, "gilscope"),
                    help="the gilscope binary to measure (copied first)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    args.workloads = [w for w in args.workloads.split(",") if w]
    sections = args.only.split(",")
    if os.geteuid() != 0:
        sys.exit("bench: recording needs root")
    global GILSCOPE
    if not os.access(args.gilscope, os.X_OK):
        sys.exit(f"bench: {args.gilscope} missing: build gilscope first (make)")
    os.makedirs(os.path.join(args.workdir, "bin"), exist_ok=True)
    GILSCOPE = os.path.join(args.workdir, "bin", "gilscope")
    shutil.copy2(args.gilscope, GILSCOPE + ".tmp")
    os.replace(GILSCOPE + ".tmp", GILSCOPE)
    b = Bench(args)
    b.results["gilscope_binary"] = os.path.abspath(args.gilscope)
    b.results["git"] = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                                      capture_output=True, text=True).stdout.strip()
    m = b.results["machine"]
    print(f"gilscope bench: {m['cpus']} CPUs ({m['cpu']}), kernel {m['kernel']}, Python {m['python']}, "
          f"{m['bpftrace'] or 'no bpftrace'}; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"measuring {args.gilscope} (tree {b.results['git']}), {args.pairs} rounds")
    if not b.bpftrace:
        print("bench: bpftrace not installed (apt-get install bpftrace): no bpftrace column")
    def section(name, fn):
        if name not in sections:
            return
        try:
            fn()
        except Exception as e:  # one broken section must not hide the others
            import traceback
            traceback.print_exc()
            print(f"\nbench: section {name} failed: {e}")
            b.results.setdefault("failed", {})[name] = str(e)

    def do_capacity():
        c = b.capacity()
        print()
        print("Capacity (read_heavy --seconds, one thread per process):")
        for mode in ("exact", "light"):
            d = c[mode]
            print(f"  {mode:<6} {d['events_per_s']:>12,.0f} events/s recorded for {d['span_s']:.1f} s "
                  f"(offered {fmt(d['offered_per_s'], ',.0f')}), lost {d['lost']}, "
                  f"{d['bytes_per_event']:.2f} B/event, recorder {fmt(d['recorder_cores'], '.2f')} cores, "
                  f"load {d['load']:.2f}")
        o = c["overload_1MB"]
        print(f"  overload -b 1, recorder stopped 0.5 s: {o['events']:,} events, lost {o['lost']:,}; report: "
              f"{o['report_lines'][0] if o['report_lines'] else 'NOT SHOWN'}")

    def do_report():
        r = b.report_speed()
        print()
        print("Report speed (gilscope report, best of 3):")
        for k, d in r.items():
            print(f"  {k:<6} {d['events']:>11,} events {d['bytes'] / 1e6:8.1f} MB  "
                  f"{d['elapsed_s']:6.2f} s  {d['events_per_s']:>12,.0f} events/s  "
                  f"max RSS {d['max_rss_kb'] / 1024:.1f} MB")

    def do_start():
        s = b.start_latency()
        print()
        print(f"record -p start: launch -> first event median {s['median_first_event_s'] * 1e3:.0f} ms, "
              f"max {s['max_first_event_s'] * 1e3:.0f} ms over {len(s['runs'])} runs (target <= 500 ms)")

    def do_idle():
        i = b.idle()
        print()
        print(f"Idle recorder: {i['core_percent']:.2f} % of a core over {i['window_s']:.0f} s "
              f"(target < 1 %), {i['wakeups_per_s']:.0f} wakeups/s")

    try:
        section("overhead", lambda: print_overhead(b.overhead()))
        section("costs", lambda: print_costs(b.costs()))
        if "overhead" in b.results:
            m = cost_model(b.results)
            if m:
                b.results["cost_model"] = m
                print_cost_model(m)
        section("capacity", do_capacity)
        section("report", do_report)
        section("start", do_start)
        section("idle", do_idle)
        print_summary(b.results)
    finally:
        os.makedirs(os.path.dirname(args.json), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(b.results, f, indent=1, default=str)
        print(f"\nraw results: {args.json}")


if __name__ == "__main__":
    main()
