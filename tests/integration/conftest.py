"""Helpers for the integration tests: real BPF, real kernel, Debian's python3."""
import json
import os
import shutil
import subprocess

import pytest

from sched_account import check_on_cpu_within_the_scheduler, check_unseen_switch_ins, sched_of_report

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GILSCOPE = os.path.join(ROOT, "gilscope")
WORKLOADS = os.path.join(ROOT, "workloads")
PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "progs")
# Debian's own stripped interpreter: what users have.
PYTHON = "/usr/bin/python3"


@pytest.fixture(autouse=True, scope="session")
def _prerequisites():
    assert os.geteuid() == 0, "integration tests load BPF programs: run them as root"
    assert os.access(GILSCOPE, os.X_OK), "build ./gilscope first (make)"


def facts_of(stdout):
    """The WORKLOAD-FACTS line a workload prints last."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("WORKLOAD-FACTS "):
            return json.loads(line[len("WORKLOAD-FACTS "):])
    raise AssertionError("no WORKLOAD-FACTS line in:\n" + stdout[-2000:])


def report(path, *extra):
    run = subprocess.run([GILSCOPE, "report", "--json", *extra, path],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


class Traced:
    def __init__(self, run, data, path):
        self.run = run
        self.report = data
        self.path = path

    @property
    def facts(self):
        return facts_of(self.run.stdout)

    def process(self, pid=None):
        procs = self.report["processes"]
        if pid is None:
            return procs[0]
        for p in procs:
            if p["pid"] == pid:
                return p
        raise AssertionError(f"process {pid} not in the report: {[p['pid'] for p in procs]}")

    def thread(self, tid):
        for p in self.report["processes"]:
            for t in p["threads"]:
                if t["tid"] == tid:
                    return t
        raise AssertionError(f"thread {tid} not in the report")


@pytest.fixture
def trace(tmp_path):
    """Record a command under gilscope and return its run and JSON report."""
    def _trace(argv, record_args=(), env=None, input=None, stdin=None, timeout=120):
        out = str(tmp_path / "session.data")
        cmd = [GILSCOPE, "record", "-q", "-o", out, *record_args, "--", *argv]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env=env, input=input, stdin=stdin)
        assert os.path.exists(out), run.stderr
        return Traced(run, report(out), out)
    return _trace


def reading_stdin(pid):
    """Is a thread of process PID (a child of the recorder PID, or PID
    itself) in read(2) of fd 0? (/proc/.../syscall: "0 0x0 ...")"""
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(c) for c in f.read().split()]
        for p in pids:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/syscall") as f:
                    if f.read().split()[:2] == ["0", "0x0"]:
                        return True
    except (OSError, ValueError):
        pass
    return False


def await_stdin_read(pid, timeout=30):
    """Until a thread of PID (or of its children) reads fd 0."""
    import time
    deadline = time.monotonic() + timeout
    while not reading_stdin(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def record_terminal_input(tmp_path, record_args=()):
    """Record workloads/input_wait.py with its stdin on a terminal (a pty),
    typing a line 0.6 s after its reader began to wait for it (not after a
    fixed time from the start: a loaded machine takes longer to attach the
    probes, and the line came before input() in a fresh clone's run);
    returns the run and its JSON report."""
    import pty
    import time
    master, slave = pty.openpty()
    out = str(tmp_path / "tty.data")
    proc = subprocess.Popen([GILSCOPE, "record", "-q", *record_args, "-o", out, "--", PYTHON,
                             os.path.join(WORKLOADS, "input_wait.py")],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    os.close(slave)
    await_stdin_read(proc.pid)
    time.sleep(0.6)
    os.write(master, b"typed\n")
    stdout, stderr = proc.communicate(timeout=60)
    os.close(master)
    return Traced(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                  report(out), out)


def check_accounting(proc, session):
    """Relations between figures the analysis keeps apart, and one figure
    against the scheduler's own account re-derived from the raw events of
    the session file SESSION (sched_account.py). (on-CPU + runnable + blocked =
    lifetime is not checked: every interval goes to one state, so it holds
    by construction.)
    - one thread at a time holds the GIL: the threads' holds add up to at
      most the process's wall time and to the process's GIL held time;
    - a thread cannot wait for the GIL while it holds it;
    - every thread lives within its process, and the threads' CPU time
      fits in the CPUs they used over the process's life;
    - no thread is on CPU longer than between its switch-ins and switch-outs;
    - the switch-ins the kernel did not report are counted right."""
    threads = proc["threads"]
    held = sum(t["gil_held_ns"] for t in threads)
    assert held <= proc["wall_ns"], (held, proc["wall_ns"])
    if proc["gil"]:
        assert held == proc["gil"]["held_ns"], (held, proc["gil"]["held_ns"])
    for t in threads:
        assert t["gil_held_ns"] + t["gil_wait_ns"] <= t["lifetime_ns"], t
        assert proc["start_ns"] <= t["start_ns"] <= t["end_ns"] <= proc["end_ns"], t
    cpu = sum(t["on_cpu_ns"] for t in threads)
    assert cpu <= proc["wall_ns"] * max(proc["cpus_used"], 1), (cpu, proc["wall_ns"])
    data = report(session)
    sched = sched_of_report(GILSCOPE, session, data)  # one dump for both checks
    check_on_cpu_within_the_scheduler(sched, data, {proc["pid"]})
    check_unseen_switch_ins(sched, data)


def check_on_cpu_is_its_clock(t, th, cpu_s):
    """Thread TH's on-CPU time (of traced run T) is its own CPU clock,
    time.thread_time() = CPU_S read before its last instructions: within
    3 % + 1 ms below and 2 % + 2 ms above. Below: this VM's kernel charges
    a thread CPU time outside its switch tracepoints, up to 2.9 % of a
    thread's clock with no gilscope running (docs/accuracy.md, "The
    thread's clock and its switches"). After a switch-in the kernel did
    not report (docs/accuracy.md), the time up to the thread's next event
    reads as runnable. (Its GIL hold need not cover that clock: CPU time
    without the GIL is take_gil's and drop_gil's own work, and vCPU stalls
    in it; docs/accuracy.md, "CPU time without the GIL".)"""
    cpu_ns = cpu_s * 1e9
    unseen = t.report["session"]["unseen_switch_ins"] != 0
    low = th["on_cpu_ns"] + (th["runnable_ns"] if unseen else 0)
    assert 0.97 * cpu_ns - 1e6 <= low and th["on_cpu_ns"] <= 1.02 * cpu_ns + 2e6, \
        (cpu_s, unseen, th, t.path)


def within(value, expected, rel, abs_=0.0):
    return abs(value - expected) <= rel * abs(expected) + abs_


# A small chroot: a copy of the host's python3.11 at /opt/py/python3.11 and a
# program at /prog.py, the libraries and standard library bind-mounted
# read-only in a private mount namespace when it runs (nothing to unmount,
# no debootstrap: a fresh machine has everything it needs).
HOST_PYTHON = "/usr/bin/python3.11"
CHROOT_BINDS = ("usr/lib/x86_64-linux-gnu", "usr/lib/python3.11", "usr/lib64")


def small_chroot(root, program, dirs=()):
    """Build the chroot at ROOT (a pathlib.Path) with PROGRAM's text."""
    for d in (*CHROOT_BINDS, "opt/py", "tmp", *dirs):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.symlink("usr/lib64", root / "lib64")
    os.symlink("usr/lib", root / "lib")
    shutil.copy2(HOST_PYTHON, root / "opt/py/python3.11")
    (root / "prog.py").write_text(program)
    return root


def chroot_command(root, *args):
    """argv running /prog.py ARGS in ROOT's chroot, as one process (the
    shell, unshare and chroot each exec the next)."""
    mounts = " && ".join(f"mount --bind -o ro /{d} {root}/{d}" for d in CHROOT_BINDS)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"{mounts} && exec chroot {root} /opt/py/python3.11 /prog.py "
            + " ".join(args)]


def fake_version(src, dst, hexversion=0x031000F0):
    """A copy of interpreter SRC that says it is HEXVERSION (3.16.0): its
    Py_Version and, 3.13+, its _Py_DebugOffsets' version. It runs as SRC;
    gilscope cannot read it."""
    data = bytearray(open(src, "rb").read())
    secs = subprocess.run(["readelf", "-SW", src], capture_output=True, text=True).stdout
    syms = subprocess.run(["readelf", "-sW", "--dyn-syms", src], capture_output=True,
                          text=True).stdout

    def offset(vaddr):
        for line in secs.splitlines():
            p = line.split("]", 1)[-1].split()
            if len(p) >= 5 and p[1] == "PROGBITS":
                addr, off, size = int(p[2], 16), int(p[3], 16), int(p[4], 16)
                if addr <= vaddr < addr + size:
                    return vaddr - addr + off
        raise AssertionError(f"{vaddr:#x} not in a section of {src}")
    for line in syms.splitlines():
        p = line.split()
        if len(p) >= 8 and p[7] == "Py_Version":
            at = offset(int(p[1], 16))
            data[at:at + 4] = hexversion.to_bytes(4, "little")
        if len(p) >= 8 and p[7] == "_PyRuntime":
            at = offset(int(p[1], 16))
            if data[at:at + 8] == b"xdebugpy":
                data[at + 8:at + 16] = hexversion.to_bytes(8, "little")
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)


@pytest.fixture(scope="module")
def real_session(tmp_path_factory):
    """A real session: three threads, forks its interpreter into a child."""
    path = str(tmp_path_factory.mktemp("real") / "real.data")
    run = subprocess.run([GILSCOPE, "record", "-q", "-o", path, "--", PYTHON, "-c",
                          "import os, threading\n"
                          "ts = [threading.Thread(target=sum, args=(range(200000),))\n"
                          "      for _ in range(3)]\n"
                          "[t.start() for t in ts]\n"
                          "pid = os.fork()\n"
                          "if pid == 0: os._exit(0)\n"
                          "os.waitpid(pid, 0); [t.join() for t in ts]"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    with open(path, "rb") as f:
        return f.read()
