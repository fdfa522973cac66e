"""Exact in every run: each thread of a mixed program, 20 runs, against an
independent measurement of the same run (issue 14, docs/accuracy.md).

progs/mixed_threads.py runs seven threads (two CPU-bound, a sleeper, a pipe
writer and reader, a lock holder that sleeps holding it, a lock waiter) and
times its own sleeps and lock wait; bpftrace (truth.py) times every
take_gil and every hold. gilscope's default (exact) mode must agree with
both for every thread of every run:
    GIL wait and hold      within 5 % or 2 ms of bpftrace's (plus 5 us per
                           take: the two date a take 1-2 us apart)
    sleeps                 never under the requested time, nor over what the
                           program's own clock saw around the call
    lock waits (asleep)    within 1 % or 0.1 ms of bpftrace's, and the waiter's
                           inside its own clock around acquire()
    hand-offs              equal to the interpreter's own counter
    joined threads         never flagged as killed at exit
Five more runs trace the interpreter as if python3.11-dbg were absent
(GILSCOPE_NO_DEBUGINFO=1, as most users run it): the GIL is found from the
code alone and the same agreement must hold. A Python started through a
shell, env or chroot loses no hand-off either.
"""
import os
import shutil
import subprocess

import pytest

from conftest import (PROGS, PYTHON, check_accounting, check_on_cpu_is_its_clock,
                      chroot_command, small_chroot)
from truth import record_with_truth

RUNS = 20
STRIPPED_RUNS = 5
PROBE_NS_PER_TAKE = 5_000
PROG = os.path.join(PROGS, "mixed_threads.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEP = os.path.join(ROOT, "build", "accuracy-misses")


def close(value, truth, rel=0.05, abs_ns=2_000_000):
    return abs(value - truth) <= max(rel * truth, abs_ns)


def describe(t, name, th):
    return (f"{name} (tid {th['tid']}): gilscope wait {th['gil_wait_ns'] / 1e6:.2f} ms "
            f"hold {th['gil_held_ns'] / 1e6:.2f} ms; bpftrace wait "
            f"{t.truth('wait_ns', th['tid']) / 1e6:.2f} ms hold "
            f"{t.truth('hold_ns', th['tid']) / 1e6:.2f} ms ({t.truth('takes', th['tid'])} takes); "
            f"lock waits {th['blocked_ns']['lock'] / 1e6:.2f} ms, bpftrace "
            f"{t.truth('lock_ns', th['tid']) / 1e6:.2f} ms; bpftrace handlers late "
            f"{t.truth('late_ns', th['tid']) / 1e6:.2f} ms (preempted at their probe); "
            f"on CPU {th['on_cpu_ns'] / 1e6:.2f} ms, bpftrace's switches "
            f"{t.truth('on_cpu_ns', th['tid']) / 1e6:.2f} ms "
            f"({t.truth('switch_ins', th['tid'])} runs); "
            f"session {t.path}")


@pytest.mark.parametrize("run,stripped",
                         [(r, False) for r in range(RUNS)] +
                         [(r, True) for r in range(STRIPPED_RUNS)],
                         ids=[f"dwarf-{r}" for r in range(RUNS)] +
                         [f"stripped-{r}" for r in range(STRIPPED_RUNS)])
def test_every_thread_agrees_with_bpftrace_and_its_own_clocks(tmp_path, run, stripped):
    try:
        agrees(tmp_path, stripped)
    except AssertionError as err:
        # a miss is rare (about 2 runs in 100, docs/accuracy.md): keep its
        # session, bpftrace's log and what disagreed beyond pytest's last
        # three directories
        keep = os.path.join(KEEP, f"{'stripped' if stripped else 'dwarf'}-{run}-{os.getpid()}")
        shutil.copytree(tmp_path, keep, dirs_exist_ok=True)
        with open(os.path.join(keep, "failure.txt"), "w") as out:
            out.write(f"{err}\n")
        raise


def agrees(tmp_path, stripped):
    env = dict(os.environ, GILSCOPE_NO_DEBUGINFO="1") if stripped else None
    # -S: no site import, whose directory scans give the main thread a
    # thousand short holds, each stretched by the truth's own probes
    t = record_with_truth(tmp_path, ["-S", PROG], env=env)
    p = t.process()
    check_accounting(p, t.path)
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"], p["gil"]
    threads = t.facts["threads"]
    assert len(threads) == 8
    for name, f in threads.items():
        th = t.thread(f["tid"])
        assert not th["killed_at_exit"], describe(t, name, th)
        # gilscope's holds run 1-2 us a take longer than bpftrace's (the
        # main thread's 550 start-up takes: 0.6-1.1 ms over in 10 runs, 6 Dec
        # 2026); 5 us a take leaves room for a loaded machine
        slack = 2_000_000 + PROBE_NS_PER_TAKE * t.truth("takes", f["tid"])
        assert close(th["gil_wait_ns"], t.truth("wait_ns", f["tid"]), abs_ns=slack), \
            describe(t, name, th)
        assert close(th["gil_held_ns"], t.truth("hold_ns", f["tid"]), abs_ns=slack), \
            describe(t, name, th)
        if "slept_s" in f:
            # the program's clock around time.sleep() also holds the GIL
            # re-take after it, and a VM's timer can fire late under load:
            # the sleep is what it asked for at least, what its clock saw
            # at most (within 1 % above what it asked on a quiet machine)
            sleeper = name == "sleeper"
            requested = sum(f["requested_s"]) if sleeper else f["requested_s"]
            measured = sum(f["slept_s"]) if sleeper else f["slept_s"]
            slept = th["blocked_ns"]["sleep"] / 1e9
            assert requested <= slept <= measured, (name, slept, requested, measured, t.path)
        assert close(th["blocked_ns"]["lock"], t.truth("lock_ns", f["tid"]),
                     rel=0.01, abs_ns=100_000), describe(t, name, th)
    # the program's own clock around the waiter's acquire() holds its wait
    # for the holder's Lock (not its other futex sleeps: glibc's own lock
    # in its thread's exit slept 3.3 ms in a fresh clone's run, 6 Dec 2026)
    waiter = threads["waiter"]
    got = sum(w["wait_ns"] for w in t.thread(waiter["tid"])["lock_waits"]
              if w["holder_tid"] == threads["holder"]["tid"]) / 1e9
    assert 0.1 < got <= waiter["lock_wait_s"], (got, waiter, t.path)


def python_process(t):
    """The process of the report that ran the program's threads."""
    tids = {int(tid) for tid in t.facts["thread_cpu_s"]}
    for p in t.report["processes"]:
        if tids & {th["tid"] for th in p["threads"]}:
            return p
    raise AssertionError(f"no process ran threads {tids}")


def shared_libpython_python(directory):
    """A python linked with Debian's shared libpython3.11 (as pyenv's,
    Fedora's and most self-built ones are): the loader maps the interpreter
    after the exec. Named python* so that its exec is held."""
    exe = str(directory / "python3.11-shared")
    subprocess.run(["gcc", "-O1", "-o", exe, os.path.join(ROOT, "tests", "versions", "embed.c"),
                    "-l:libpython3.11.so.1"], check=True)
    return exe


@pytest.mark.parametrize("how", ["sh-exec", "sh-child", "env", "chroot", "sh-child-libpython"])
def test_exec_chains_lose_no_handoff(tmp_path, trace, how):
    """A Python started through other programs (a shell that execs it or
    forks it, env, chroot in a private mount namespace; a shell's child
    whose interpreter is a shared libpython, not mapped at its exec and
    held at its Py_BytesMain) is traced from its
    first instruction: its hand-offs equal the interpreter's own counter,
    and every spinner's on-CPU time is its own CPU clock. Its GIL hold
    need not cover that clock: the time shown on CPU without the GIL is
    CPU time too.

    That time is not only take_gil's and drop_gil's own work (30-60 us a
    switch here): the vCPU can stall in it. A kept run (5 Dec 2026) showed
    a spinner 17 ms on CPU in drop_gil's tail (after its wait on
    switch_cond, before unlocking switch_mutex), no event of any thread on
    that CPU meanwhile, while the thread it handed to held the GIL on the
    other CPU; time.thread_time() counted the 17 ms (this VM reports no
    steal time). A hold that covered the clock would have been wrong."""
    prog = os.path.join(PROGS, "cpu_clock.py")
    if how == "chroot":
        with open(prog) as f:
            root = small_chroot(tmp_path / "root", f.read())
        argv = chroot_command(root)
    elif how == "sh-exec":
        argv = ["sh", "-c", f"exec {PYTHON} {prog}"]
    elif how == "sh-child":
        argv = ["sh", "-c", f"{PYTHON} {prog}; true"]
    elif how == "sh-child-libpython":
        argv = ["sh", "-c", f"{shared_libpython_python(tmp_path)} {prog}; true"]
    else:
        argv = ["env", PYTHON, prog]
    t = trace(argv)
    assert t.run.returncode == 0, t.run.stderr
    p = python_process(t)
    check_accounting(p, t.path)
    assert p["gil"]["handoffs"] > 0
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"], p["gil"]
    for tid, cpu_s in t.facts["thread_cpu_s"].items():
        th = t.thread(int(tid))
        check_on_cpu_is_its_clock(t, th, cpu_s)
