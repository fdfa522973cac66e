"""`record --light`: no uprobes; futex calls and the calls a thread blocks in
are recorded, every other syscall is held back in BPF and dropped when it
returns without blocking. Blocking reasons stay exact, GIL waits come from
the futex on the GIL's cond, holds are derived."""
import os
import subprocess

from conftest import (GILSCOPE, PYTHON, WORKLOADS, check_accounting, facts_of,
                      record_terminal_input, report, within)

ROOT = os.path.dirname(WORKLOADS)


def workload(name):
    return os.path.join(WORKLOADS, name)


def test_light_sleeps_are_exact(trace):
    t = trace([PYTHON, workload("sleepy_threads.py")], record_args=("--light",))
    assert t.run.returncode == 0, t.run.stderr
    assert t.report["session"]["mode"] == "light"
    p = t.process()
    check_accounting(p, t.path)
    for name, info in t.facts["per_thread"].items():
        th = t.thread(info["tid"])
        # the sleep's entry was held in BPF and written when the thread
        # blocked, with the time it was entered
        assert within(th["blocked_ns"]["sleep"] / 1e9, info["measured_s"], 0.02), (name, th)
    assert p["gil"]["held_ns"] < 0.2 * p["wall_ns"]


def test_light_terminal_input_keeps_its_reason(tmp_path):
    t = record_terminal_input(tmp_path, ("--light",))
    assert t.run.returncode == 0, t.run.stderr
    check_accounting(t.process(), t.path)
    f = t.facts
    reader = t.thread(f["tids"]["reader"])
    # the fd facts (a tty) are read when the held read is written
    slack = (reader["gil_wait_ns"] + reader["runnable_ns"]) / 1e9 + 0.002
    assert within(reader["blocked_ns"]["input"] / 1e9, f["input_blocked_s"], 0.02, slack), \
        (reader, f)
    assert "input-wait" in [d["kind"] for d in t.process()["diagnosis"]]


def test_light_cpu_threads_wait_for_the_gil(trace):
    t = trace([PYTHON, workload("cpu_threads.py"), "0.6"], record_args=("--light",))
    assert t.run.returncode == 0, t.run.stderr
    f, p = t.facts, t.process()
    check_accounting(p, t.path)
    for name, tid in f["tids"].items():
        th = t.thread(tid)
        # the waits come from the futex on the GIL's cond (a thread
        # spinning into take_gil is not waiting yet)
        assert th["gil_wait_ns"] > 0.3 * th["lifetime_ns"], (name, th)
        assert th["gil_wait_ns"] >= th["blocked_ns"]["gil"], (name, th)
    # holds are derived: a take is seen when the holder's signal wakes a
    # waiter, not when a thread takes a free GIL without sleeping; light
    # sees 37-67 % of the workers' holds here (exact: all of them)
    held = sum(t.thread(tid)["gil_held_ns"] for tid in f["tids"].values()) / 1e9
    # (20 % on a machine busy with other tests)
    assert held > 0.1 * f["threaded_s"], (held, f["threaded_s"])
    g = p["gil"]
    assert 0.5 * g["interpreter_switches"] <= g["handoffs"] <= 2 * g["interpreter_switches"], g
    assert p["diagnosis"][0]["kind"] == "gil-contention"


def test_light_records_no_event_per_nonblocking_read(tmp_path):
    out = str(tmp_path / "reads.data")
    run = subprocess.run([GILSCOPE, "record", "-q", "--light", "-o", out, "--", PYTHON,
                          os.path.join(ROOT, "bench", "read_heavy.py"), "--threads", "2",
                          "--reads", "50000"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    f = facts_of(run.stdout)
    data = report(out)
    s = data["session"]
    assert s["lost"] == 0
    # exact mode writes >= 5 events per read (2 syscalls, 3 GIL probes);
    # light writes the scheduler's and the GIL futex traffic only
    assert s["events"] < 0.5 * f["reads"], (s["events"], f["reads"])
    p = data["processes"][0]
    check_accounting(p, out)
    assert sum(th["gil_wait_ns"] for th in p["threads"]) > 0
