"""Reports that speak Python (issue 15): threads by their threading names,
locks by kind and where the program waited for them, many threads grouped.

The workloads print where they wait (workloads/wait_sites.py: `lock KIND
waited at FILE:LINE`) and their threads' native ids by name (the facts
line); the report must say the same."""
import os
import re
import subprocess

import pytest

from conftest import GILSCOPE, PROGS, PYTHON, WORKLOADS, report

SITE = re.compile(r"^lock (\w+) waited at (\S+):(\d+)$", re.M)


def announced(stdout):
    """{(file, line): kind} the workload printed about its own waits."""
    return {(f, int(n)): k for k, f, n in SITE.findall(stdout)}


def named_tids(facts):
    """Every {thread name: native id} map in the facts line, merged."""
    out = {}

    def walk(v):
        if isinstance(v, dict):
            ints = {k: x for k, x in v.items() if isinstance(x, int) and not isinstance(x, bool)}
            if ints and len(ints) == len(v) and all(not k.endswith(("_s", "_ns")) for k in v):
                out.update(ints)  # {"worker-0": 1234}
            per = {k: x["tid"] for k, x in v.items() if isinstance(x, dict) and "tid" in x}
            if per and len(per) == len(v):
                out.update(per)  # {"alice": {"tid": 1234, ...}}
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(facts)
    return out


def site_of(lock):
    """(file, line) of a lock's site "function (file:line)", or None."""
    m = re.search(r"\(([^():]+):(\d+)\)$", lock["site"])
    return (m.group(1), int(m.group(2))) if m else None


# workload, args, the waits every run must show as (kind, line)
CASES = [
    ("queue_pipeline.py", ["0.3"], [("Queue", 58), ("join", 77)]),
    ("lock_turns.py", ["0.3"], [("Lock", 48), ("join", 86)]),
    ("cpu_threads.py", ["0.3", "--threads-only"], [("join", 76)]),
    ("sleepy_threads.py", ["0.3"], [("join", 49)]),
    ("web_fetch.py", ["0.3"], [("Queue", 93), ("join", 104)]),
    ("thread_pool.py", ["0.3"], [("Future", 64)]),
    ("dining_philosophers.py", ["0.3"], [("Lock", 54)]),
    ("counter_race.py", ["0.3"], [("join", 67)]),
]


@pytest.mark.parametrize("name,args,must", CASES, ids=[c[0] for c in CASES])
def test_workload_threads_and_locks_by_their_python_names(trace, name, args, must):
    t = trace([PYTHON, os.path.join(WORKLOADS, name), *args])
    assert t.run.returncode == 0, t.run.stderr
    p, sites = t.process(), announced(t.run.stdout)
    assert sites, "the workload printed no wait sites"
    names = {th["tid"]: th["name"] for th in p["threads"]}
    # every thread by its threading name; the OS name kept apart
    assert names[p["pid"]] == "MainThread"
    tids = named_tids(t.facts)
    assert tids
    for thread, tid in tids.items():
        if tid not in names:
            continue
        th = t.thread(tid)
        if names[tid] != thread and th["lifetime_ns"] < 250_000_000:
            # read at its first stack and every 0.1 s: a short thread
            # that renamed itself (web_fetch's handlers) keeps its first
            assert re.match(r"(Thread|thread)-\d+", names[tid]), (thread, th)
        else:
            assert names[tid] == thread, (thread, tid, names)
            assert t.thread(tid)["os_name"] != thread  # null when the same
    # every waited lock named by kind and where the program waited: what
    # the workload says about that line
    waited = [lk for lk in p["locks"] if lk["wait_ns"] >= 1_000_000]
    assert waited
    seen = set()
    for lk in waited:
        assert lk["kind"], lk
        site = site_of(lk)
        assert site, lk
        if site[0] != name and site not in sites:
            continue  # in the library (a server's loop) or another module
        kind = "join" if lk["kind"].startswith("join(") else lk["kind"]
        assert sites.get(site) == kind, (lk, sites)
        seen.add((kind, site[1]))
        if kind == "join":
            # join(name): the thread whose end it waited for
            joined = lk["kind"][5:-1]
            assert joined in names.values(), (lk, names)
            assert names.get(lk["owner_tid"]) == joined, lk
        assert lk["name"] == f"{lk['kind']} first waited at {lk['site']}"
    for kind, line in must:
        assert (kind, line) in seen, (kind, line, seen, waited)
    # the threads' own view of their waits names the same locks
    by_addr = {(lk["address"], lk["lifetime"]): lk["name"] for lk in p["locks"]}
    for th in p["threads"]:
        for w in th["lock_waits"]:
            if (w["lock"], w["lock_lifetime"]) in by_addr:
                assert w["lock_name"] == by_addr[(w["lock"], w["lock_lifetime"])]


def test_main_thread_join_is_named_after_the_joined_thread(trace):
    t = trace([PYTHON, os.path.join(WORKLOADS, "lock_turns.py"), "0.3"])
    assert t.run.returncode == 0, t.run.stderr
    p = t.process()
    main = t.thread(p["pid"])
    joins = [w for w in main["lock_waits"] if w["lock_name"].startswith("join(")]
    assert joins, main["lock_waits"]
    names = {th["tid"]: th["name"] for th in p["threads"]}
    for w in joins:
        who = w["holder_tid"] or w["released_by_tid"]
        assert w["lock_name"].startswith(f"join({names[who]}) first waited at main ("), w
    text = subprocess.run([GILSCOPE, "report", t.path], capture_output=True, text=True,
                          timeout=60).stdout
    assert re.search(r"waited .* for join\((alice|bob)\) first waited at main \(lock_turns\.py:\d+\)", text), text


@pytest.mark.parametrize("debuginfo", [True, False], ids=["dbg", "nodbg"])
def test_c_rlock_is_named_rlock(trace, debuginfo):
    """threading.RLock() is C's _thread.RLock: no threading.py frame says
    so; the probe where its acquire waits does, with Debian's debug file
    and without it (found from the type named "_thread.RLock"). A Lock
    waited for the same way stays a Lock."""
    t = trace([PYTHON, os.path.join(PROGS, "rlock_wait.py")],
              record_args=() if debuginfo else ("--no-debuginfo",))
    assert t.run.returncode == 0, t.run.stderr
    f, p = t.facts, t.process()
    kv = dict(re.findall(r"(\w+)=(\S+)", subprocess.run(
        [GILSCOPE, "dump", t.path], capture_output=True, text=True,
        check=True).stdout.partition("\n")[0]))
    assert (kv["debug_file"] != "none") == debuginfo, kv
    assert kv["rlock_wait_sites"] == "1", kv
    waited = {site_of(lk): lk for lk in p["locks"]
              if lk["wait_ns"] >= 100_000_000 and site_of(lk)}
    want = {f["rlock_with"]: "RLock", f["rlock_acquire"]: "RLock", f["lock_with"]: "Lock"}
    for line, kind in want.items():
        lk = waited.get(("rlock_wait.py", line))
        assert lk, (line, waited)
        assert lk["kind"] == kind, lk
        assert lk["name"] == f"{kind} first waited at waiter (rlock_wait.py:{line})", lk
    waiter = t.thread(f["waiter"])
    names = {w["lock_name"] for w in waiter["lock_waits"]}
    assert f"RLock first waited at waiter (rlock_wait.py:{f['rlock_with']})" in names, names
    text = subprocess.run([GILSCOPE, "report", t.path], capture_output=True, text=True,
                          timeout=60).stdout
    assert f"for RLock first waited at waiter (rlock_wait.py:{f['rlock_acquire']})" in text, text


# ------------------------------------------------------------ many threads

def fmt_ns(ns):
    """The text report's durations (user/views/report.c report_ns)."""
    if ns >= 1_000_000_000:
        return f"{ns / 1e9:.3f} s"
    if ns >= 1_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1000:
        return f"{ns / 1e3:.0f} us"
    return f"{ns} ns"


def test_thread_per_request_server_is_one_row(tmp_path):
    """ThreadingHTTPServer answering a few hundred requests: one handler
    thread each, folded into one row whose sums are the threads' own."""
    data = str(tmp_path / "http.data")
    requests = 400
    run = subprocess.run([GILSCOPE, "record", "-q", "-o", data, "--", PYTHON,
                          os.path.join(PROGS, "http_threads.py"), str(requests)],
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert f'"served": {requests}' in run.stdout
    text = subprocess.run([GILSCOPE, "report", data], capture_output=True, text=True,
                          timeout=120).stdout
    lines = text.splitlines()
    assert len(lines) <= 60, text
    js = report(data)
    p = js["processes"][0]
    assert len(p["threads"]) >= requests
    # every thread in exactly one group
    members = [tid for g in p["groups"] for tid in g["tids"]]
    assert sorted(members) == sorted(th["tid"] for th in p["threads"])
    handlers = max(p["groups"], key=lambda g: g["count"])
    print([(g["pattern"], g["entry"], g["count"]) for g in p["groups"]])
    # the request threads whose name or entry function was read: one
    # group (a thread of a millisecond may have neither: no stack of it
    # was taken and the recorder could not read its name in time)
    assert "process_request_thread" in handlers["pattern"] + handlers["entry"], handlers
    known = [th for th in p["threads"] if "process_request_thread" in th["name"] + th["entry"]]
    assert handlers["count"] == len(known) >= requests / 3, \
        [(g["pattern"], g["entry"], g["count"]) for g in p["groups"]]
    by_tid = {th["tid"]: th for th in p["threads"]}
    mine = [by_tid[tid] for tid in handlers["tids"]]
    for key in ("lifetime_ns", "on_cpu_ns", "gil_held_ns", "gil_wait_ns", "runnable_ns",
                "blocked_total_ns", "voluntary_switches", "involuntary_switches"):
        assert handlers[key] == sum(th[key] for th in mine), key
    for reason, ns in handlers["blocked_ns"].items():
        assert ns == sum(th["blocked_ns"][reason] for th in mine), reason
    life = sorted(th["lifetime_ns"] for th in mine)
    assert handlers["lifetime_spread_ns"]["min"] == life[0]
    assert handlers["lifetime_spread_ns"]["max"] == life[-1]
    # the text row: the same sums, as the text report writes durations
    row = next(ln for ln in lines if ln.split()[:1] == [f"x{handlers['count']}"])
    want = [fmt_ns(handlers[k]) for k in ("lifetime_ns", "on_cpu_ns", "gil_held_ns",
                                          "gil_wait_ns", "runnable_ns", "blocked_total_ns")]
    assert " ".join(want) in " ".join(row.split()), (row, want)
    assert f"{handlers['voluntary_switches']} " in row
    assert re.search(r"\d+ threads: \d+ folded into \d+ rows", text), text
