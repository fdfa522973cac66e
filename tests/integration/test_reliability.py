"""Reliability and bad input (docs/reliability.md).

The traced program is never disturbed by attaching, detaching, Ctrl-C or a
killed recorder, and the probes go away with the recorder; forks, execs,
thread churn, two recorders at once and odd targets still give a consistent
account; bad privileges and outputs give one clear line. Damaged and
hostile session files: test_session_files.py.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import GILSCOPE, PROGS, PYTHON, check_accounting, report, within

TICKER = os.path.join(PROGS, "ticker.py")


def gs(*args, timeout=60, **kw):
    return subprocess.run([GILSCOPE, *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def one_line_error(run, *words):
    assert run.returncode > 0, run
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("gilscope: "), lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def wait_attached(path, rec, timeout=30):
    """The recorder writes the file header at start and the HOST chunk once
    its probes are attached: wait for the latter."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path) and os.path.getsize(path) > 16:
            return
        if rec.poll() is not None:
            raise AssertionError(f"recorder exited early: {rec.returncode}")
        time.sleep(0.02)
    raise AssertionError("recorder did not attach in time")


# ---------------------------------------------------------------- probes

def bpf_ids_of(pid):
    """BPF programs and links held by process PID (from its fdinfo)."""
    progs, links = set(), set()
    fd_dir = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(fd_dir):
        try:
            with open(os.path.join(fd_dir, fd)) as f:
                info = f.read()
        except OSError:
            continue
        link = re.search(r"^link_id:\s*(\d+)", info, re.M)
        prog = re.search(r"^prog_id:\s*(\d+)", info, re.M)
        if link:
            links.add(int(link.group(1)))
        if prog:
            progs.add(int(prog.group(1)))
    return progs, links


def live_bpf_ids():
    def ids(kind):
        run = subprocess.run(["bpftool", kind, "show", "--json"], capture_output=True,
                             text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        return {entry["id"] for entry in json.loads(run.stdout or "[]")}
    return ids("prog"), ids("link")


def assert_probes_gone(progs, links, timeout=30):
    """None of the recorder's programs and links is left in the kernel.

    Checked by id, not by name: other recorders may run on the machine."""
    assert progs, "the recorder held no BPF programs"
    end = time.monotonic() + timeout
    while True:
        live_progs, live_links = live_bpf_ids()
        left = (progs & live_progs, links & live_links)
        if not left[0] and not left[1]:
            return
        if time.monotonic() > end:
            raise AssertionError(f"BPF programs/links left behind: {left}")
        time.sleep(0.2)


# ---------------------------------------------------------------- attach, detach, signals

@pytest.mark.parametrize("stop", ["duration", "sigint", "sigkill"])
def test_attached_program_is_unaffected_and_probes_go_away(tmp_path, stop):
    untraced = subprocess.run([PYTHON, TICKER, "60"], capture_output=True, text=True,
                              timeout=60)
    assert untraced.returncode == 7
    target = subprocess.Popen([PYTHON, TICKER, "60"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    out = str(tmp_path / "attach.data")
    args = ["-d", "0.8"] if stop == "duration" else []
    rec = subprocess.Popen([GILSCOPE, "record", "-q", "-o", out, *args, "-p",
                            str(target.pid)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_attached(out, rec)
        progs, links = bpf_ids_of(rec.pid)
        if stop != "duration":
            time.sleep(0.8)
            # to the recorder only, as Ctrl-C in its own terminal would be
            rec.send_signal(signal.SIGINT if stop == "sigint" else signal.SIGKILL)
        rec_out, rec_err = rec.communicate(timeout=60)
    finally:
        if rec.poll() is None:
            rec.kill()
    stdout, stderr = target.communicate(timeout=60)
    # the program ran as if untraced
    assert target.returncode == untraced.returncode == 7
    assert stdout == untraced.stdout
    assert stderr == untraced.stderr == ""
    assert rec.returncode == (-signal.SIGKILL if stop == "sigkill" else 0), rec_err
    assert "Sanitizer" not in rec_err
    assert_probes_gone(progs, links)
    data = report(out)
    session = data["session"]
    assert session["cut_short"] is (stop == "sigkill")
    assert session["events"] > 100
    # a killed recorder wrote no trailer, where the count is: unknown
    assert session["lost"] == (None if stop == "sigkill" else 0)
    p = data["processes"][0]
    assert p["pid"] == target.pid
    check_accounting(p, out)
    assert len(p["threads"]) == 3
    assert p["gil"]["handoffs"] > 0
    if stop != "sigkill":
        # the interpreter's counter is read again at the end
        assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"]
        assert within(session["duration_ns"] / 1e9, 0.8, 0.25)


# Run the recorder, SIGKILL it, then collect its orphaned command as a
# subreaper: the command's output and exit status as if untraced.
KILL_WRAPPER = r"""
import ctypes, json, os, signal, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
gilscope, out, facts = sys.argv[1:4]
rec = subprocess.Popen([gilscope, "record", "-q", "-o", out, "--", *sys.argv[4:]])
while not os.path.exists(out) or os.path.getsize(out) <= 16:
    time.sleep(0.02)
time.sleep(0.8)
os.kill(rec.pid, signal.SIGKILL)
rec.wait()
status = []
while True:
    try:
        pid, st = os.wait()
    except ChildProcessError:
        break
    status.append(os.waitstatus_to_exitcode(st))
json.dump({"recorder": rec.returncode, "command": status}, open(facts, "w"))
"""


def test_launched_command_survives_a_killed_recorder(tmp_path):
    untraced = subprocess.run([PYTHON, TICKER, "60"], capture_output=True, text=True,
                              timeout=60)
    out, facts = str(tmp_path / "killed.data"), str(tmp_path / "facts.json")
    run = subprocess.run([PYTHON, "-c", KILL_WRAPPER, GILSCOPE, out, facts, PYTHON,
                          TICKER, "60"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    with open(facts) as f:
        result = json.load(f)
    assert result["recorder"] == -signal.SIGKILL
    assert result["command"] == [7]
    assert run.stdout == untraced.stdout
    data = report(out)
    assert data["session"]["cut_short"] is True
    assert data["session"]["events"] > 100


# ---------------------------------------------------------------- processes and threads

CHURN = r"""
import json, os, sys, threading, time
tids, lock = [], threading.Lock()

def work(i):
    with lock:
        tids.append(threading.get_native_id())
    x = sum(k * i for k in range(3000))
    time.sleep(0.001 * (i % 5))

execd = os.fork()
if execd == 0:
    os.execv("/bin/sleep", ["sleep", "0.3"])
forked = os.fork()
if forked == 0:
    t = threading.Thread(target=work, args=(1,))
    t.start()
    t.join()
    os._exit(4)
threads = [threading.Thread(target=work, args=(i,)) for i in range(200)]
for t in threads:
    t.start()
for t in threads:
    t.join()
_, s1 = os.waitpid(execd, 0)
_, s2 = os.waitpid(forked, 0)
print("WORKLOAD-FACTS " + json.dumps({
    "pid": os.getpid(), "execd": execd, "forked": forked, "tids": tids,
    "execd_status": os.waitstatus_to_exitcode(s1),
    "forked_status": os.waitstatus_to_exitcode(s2)}))
"""


def test_fork_exec_and_200_threads(trace, tmp_path):
    t = trace([PYTHON, write(tmp_path, "churn.py", CHURN)])
    assert t.run.returncode == 0, t.run.stderr
    f = t.facts
    assert f["execd_status"] == 0 and f["forked_status"] == 4
    assert t.report["session"]["lost"] == 0
    assert t.report["session"]["cut_short"] is False
    pids = {p["pid"] for p in t.report["processes"]}
    assert {f["pid"], f["execd"], f["forked"]} <= pids
    for p in t.report["processes"]:
        check_accounting(p, t.path)
        assert p["exited"] is True, p["pid"]
        for th in p["threads"]:
            assert th["exited"] is True, (p["pid"], th)
    main = t.process(f["pid"])
    assert len(main["threads"]) == 201
    assert {th["tid"] for th in main["threads"]} == set(f["tids"]) | {f["pid"]}
    assert main["gil"]["handoffs"] == main["gil"]["interpreter_switches"]
    assert main["gil"]["handoffs"] > 0
    child = t.process(f["forked"])
    assert len(child["threads"]) == 2
    assert child["gil"]["handoffs"] == child["gil"]["interpreter_switches"]
    # the exec'd program is no longer Python, and still traced
    sleeper = t.process(f["execd"])
    assert sleeper["python_version"] is None and sleeper["gil"] is None
    (th,) = sleeper["threads"]
    assert within(th["blocked_ns"]["sleep"] / 1e9, 0.3, 0.05), th


MANY_CHILDREN = r"""
import os, subprocess, sys
for i in range(int(sys.argv[1])):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
code = "import os, threading\n" \
       "ts = [threading.Thread(target=sum, args=(range(2000000),)) for _ in range(2)]\n" \
       "[t.start() for t in ts]; [t.join() for t in ts]; print(os.getpid())"
print(subprocess.run([sys.executable, "-c", code], capture_output=True,
                     text=True).stdout.strip())
"""


def test_python_started_after_4096_processes(trace, tmp_path):
    t = trace([PYTHON, write(tmp_path, "many.py", MANY_CHILDREN), "4200"])
    assert t.run.returncode == 0, t.run.stderr
    assert len(t.report["processes"]) == 4202
    p = t.process(int(t.run.stdout.split()[-1]))
    assert p["command"].startswith(PYTHON + " -c"), p["command"]
    assert p["gil"] is not None
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"] > 0


GATED = r"""
import os, sys, threading, time
gate = sys.argv[1]
while not os.path.exists(gate):
    time.sleep(0.01)

def spin():
    x = 0
    for i in range(1_500_000):
        x += i

threads = [threading.Thread(target=spin) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


def gated_recording(target, gate, outs, extra=()):
    """Attach one recorder per file in OUTS to TARGET, open the gate once
    all are attached; the recordings end when the program exits."""
    recs = [subprocess.Popen([GILSCOPE, "record", "-q", "-d", "60", "-o", out, *extra,
                              "-p", str(target.pid)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for out in outs]
    try:
        for rec, out in zip(recs, outs):
            wait_attached(out, rec)
        with open(gate, "w"):
            pass
        for rec in recs:
            _, rec.err_text = rec.communicate(timeout=60)
    finally:
        for rec in recs:
            if rec.poll() is None:
                rec.kill()
        if target.poll() is None:
            target.kill()
    return recs


def test_two_recorders_on_one_program(tmp_path):
    gate = str(tmp_path / "gate")
    target = subprocess.Popen([PYTHON, write(tmp_path, "gated.py", GATED), gate],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    outs = [str(tmp_path / "a.data"), str(tmp_path / "b.data")]
    recs = gated_recording(target, gate, outs)
    stdout, _ = target.communicate(timeout=60)
    assert stdout == "done\n" and target.returncode == 0
    counts = []
    for rec, out in zip(recs, outs):
        assert rec.returncode == 0, rec.err_text
        data = report(out)
        assert data["session"]["lost"] == 0
        p = data["processes"][0]
        check_accounting(p, out)
        assert len(p["threads"]) == 4
        assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"]
        counts.append(p["gil"]["handoffs"])
    assert counts[0] == counts[1] > 0


def test_python_in_a_chroot(tmp_path):
    # A chroot whose /usr is the host's (bind-mounted read-only, in a private
    # mount namespace that dies with the program: nothing to unmount) and
    # whose interpreter is a copy at a path the host does not have.
    root = tmp_path / "root"
    for d in ("usr", "opt/py"):
        (root / d).mkdir(parents=True)
    for link in ("bin", "lib", "lib64"):
        os.symlink(f"usr/{link}", root / link)
    shutil.copy2("/usr/bin/python3.11", root / "opt/py/python3.11")
    (root / "gated.py").write_text(GATED)
    target = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"mount --bind -o ro /usr {root}/usr && exec chroot {root} "
         "/opt/py/python3.11 /gated.py /gate"],
        stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert target.poll() is None
    out = str(tmp_path / "chroot.data")
    (rec,) = gated_recording(target, str(root / "gate"), [out])
    stdout, _ = target.communicate(timeout=60)
    assert stdout == "done\n" and target.returncode == 0
    assert rec.returncode == 0, rec.err_text
    p = report(out)["processes"][0]
    assert p["pid"] == target.pid
    check_accounting(p, out)
    assert p["python_version"] is not None, rec.err_text
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"] > 0


# ---------------------------------------------------------------- privileges and outputs

@pytest.mark.parametrize("mode", ["launch", "attach"])
def test_unprivileged_gets_one_line(tmp_path, mode):
    if not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed for this test")
    marker = f"/tmp/gilscope-np-{os.getpid()}.ran"
    out = f"/tmp/gilscope-np-{os.getpid()}.data"
    sleeper = subprocess.Popen(["sleep", "30"])
    target = (["-p", str(sleeper.pid)] if mode == "attach" else
              ["--", "/bin/sh", "-c", f"touch {marker}"])
    try:
        run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                              "--clear-groups", "--inh-caps=-all", GILSCOPE, "record",
                              "-o", out, *target], capture_output=True, text=True,
                             timeout=60)
        line = one_line_error(run, "root", "CAP_BPF")
        assert "not allowed" in line
        assert not os.path.exists(marker)
    finally:
        sleeper.kill()
        sleeper.wait()
        for f in (marker, out):
            if os.path.exists(f):
                os.unlink(f)


def test_unprivileged_run_keeps_an_existing_session(tmp_path, real_session):
    out = f"/tmp/gilscope-np-{os.getpid()}-keep.data"
    with open(out, "wb") as f:
        f.write(real_session)
    os.chown(out, 65534, 65534)
    try:
        run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534",
                              "--clear-groups", "--inh-caps=-all", GILSCOPE, "record",
                              "-o", out, "--", "/bin/true"], capture_output=True,
                             text=True, timeout=60)
        one_line_error(run, "root", "CAP_BPF")
        with open(out, "rb") as f:
            assert f.read() == real_session, "the session file was overwritten"
    finally:
        os.unlink(out)


EXIT5 = "import sys; print('ran'); sys.exit(5)"


def test_output_to_dev_full_one_line(tmp_path):
    run = gs("record", "-q", "-o", "/dev/full", "--", PYTHON, "-c", EXIT5)
    one_line_error(run, "/dev/full", "No space left on device")


def test_output_to_dev_full_still_runs_the_command(tmp_path):
    # the file takes no data: the command runs untraced all the same, and
    # gilscope exits with its code (1 if it succeeded: never 0 for a lost
    # recording)
    run = gs("record", "-q", "-o", "/dev/full", "--", PYTHON, "-c", EXIT5)
    assert run.returncode == 5
    assert run.stdout == "ran\n"
    line = one_line_error(run, "/dev/full", "No space left on device")
    assert "the command ran untraced and exited with status 5" in line
    ok = gs("record", "-q", "-o", "/dev/full", "--", PYTHON, "-c", "print('ran')")
    assert ok.stdout == "ran\n"
    assert one_line_error(ok, "/dev/full").endswith("exited with status 0")
    assert ok.returncode == 1


def test_output_path_that_cannot_be_created_runs_nothing(tmp_path):
    # a wrong path stops before the command runs (the user fixes it and
    # runs again), as perf record does
    marker = tmp_path / "ran"
    for out in (str(tmp_path / "no-such-dir" / "x.data"), "/proc/version/x"):
        run = gs("record", "-q", "-o", out, "--", "/bin/sh", "-c", f"touch {marker}")
        one_line_error(run, "cannot write", out)
        assert run.returncode == 1
        assert not marker.exists()


FILL = r"""
import sys, threading
def spin():
    x = 0
    for i in range(3_000_000):
        x += i
threads = [threading.Thread(target=spin) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("ran")
sys.exit(5)
"""


def record_on_full_disk(tmp_path):
    """Record FILL onto a 16 KB tmpfs (private mount namespace): the disk
    fills up while the command runs."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    prog = write(tmp_path, "fill.py", FILL)
    script = (f"mount -t tmpfs -o size=16k none {mnt} && "
              f"{GILSCOPE} record -q -o {mnt}/x.data -- {PYTHON} {prog}; rc=$?; "
              f"cp {mnt}/x.data {tmp_path}/x.data; exit $rc")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script], capture_output=True, text=True, timeout=120)


def test_disk_full_mid_recording(tmp_path):
    run = record_on_full_disk(tmp_path)
    # the command ran to its end, its output passed through
    assert run.stdout == "ran\n"
    line = one_line_error(run, "writing", "No space left on device")
    assert "the file holds what was written before" in line
    data = report(str(tmp_path / "x.data"))
    assert data["session"]["cut_short"] is True


def test_disk_full_reports_the_command_exit_code(tmp_path):
    run = record_on_full_disk(tmp_path)
    assert run.stdout == "ran\n"
    assert run.returncode == 5 or re.search(r"\b(exit|status)\w*\b.*\b5\b", run.stderr), \
        (run.returncode, run.stderr)


# ---------------------------------------------------------------- odd targets

def test_pid_that_exited_before_attach():
    gone = subprocess.Popen(["true"])
    gone.wait()
    one_line_error(gs("record", "-q", "-o", "/dev/null", "-p", str(gone.pid)),
                   "no process", str(gone.pid))


def test_pid_exiting_during_attach(tmp_path):
    # lives about as long as loading the probes takes: it exits before,
    # during or just after the attach; every outcome must be clean
    out = str(tmp_path / "race.data")
    for delay in ("0.05", "0.15", "0.3"):
        target = subprocess.Popen([PYTHON, "-c", f"import time; time.sleep({delay})"])
        run = gs("record", "-q", "-o", out, "-p", str(target.pid))
        target.wait()
        assert "Sanitizer" not in run.stderr
        if run.returncode:
            line = one_line_error(run)
            # also when it exits between finding its interpreter and
            # probing it (the probe's error named a vanished /proc path)
            assert (f"process {target.pid} exited before gilscope could attach" in line
                    or f"no process with PID {target.pid}" in line), line
        else:
            p = report(out)["processes"][0]
            assert p["pid"] == target.pid
            check_accounting(p, out)


def test_pid_exiting_mid_trace(tmp_path):
    target = subprocess.Popen([PYTHON, TICKER, "20"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.2)
    out = str(tmp_path / "mid.data")
    start = time.monotonic()
    rec = gs("record", "-q", "-o", out, "-p", str(target.pid))
    took = time.monotonic() - start
    stdout, _ = target.communicate(timeout=60)
    assert target.returncode == 7 and stdout.startswith("rounds 40 ")
    assert rec.returncode == 0, rec.stderr
    data = report(out)
    assert data["session"]["cut_short"] is False
    p = data["processes"][0]
    check_accounting(p, out)
    assert p["exited"] is True
    assert all(th["exited"] for th in p["threads"])
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"]
    assert data["session"]["duration_ns"] / 1e9 < took


def test_pid_that_is_not_python(tmp_path):
    sleeper = subprocess.Popen(["sleep", "5"])
    try:
        out = str(tmp_path / "sleep.data")
        rec = gs("record", "-d", "0.5", "-o", out, "-p", str(sleeper.pid))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert rec.returncode == 0, rec.stderr
    assert "no Python interpreter found" in rec.stderr
    data = report(out)
    p = data["processes"][0]
    assert p["pid"] == sleeper.pid
    check_accounting(p, out)
    assert p["python_version"] is None and p["gil"] is None
    assert [d["kind"] for d in p["diagnosis"]] == ["no-python"]
    (th,) = p["threads"]
    assert within(th["blocked_ns"]["sleep"] / 1e9, 0.5, 0.1), th
    text = gs("report", out)
    assert "no Python interpreter found" in text.stdout


ODD_NAME = r"""
import ctypes, sys, threading, time
def work():
    ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)   # PR_SET_NAME
    time.sleep(0.05)
t = threading.Thread(target=work)
t.start()
t.join()
"""


@pytest.mark.parametrize("name", [
    b"bad\xff\xfename",
    b"ok\xc3\xa9\xe2\x82\xac",
    b"ovl\xe0\x80\xafx",
    b"sur\xed\xa0\x80x",
    b"big\xf4\x90\x80\x80",
], ids=["stray-bytes", "valid", "overlong", "surrogate", "above-10ffff"])
def test_json_report_with_a_non_utf8_thread_name(tmp_path, name):
    """A thread name (comm) is any bytes: the JSON report stays UTF-8."""
    out = str(tmp_path / "odd.data")
    rec = gs("record", "-q", "-o", out, "--", PYTHON, write(tmp_path, "odd.py", ODD_NAME),
             name.hex())
    assert rec.returncode == 0, rec.stderr
    run = subprocess.run([GILSCOPE, "report", "--json", out], capture_output=True,
                         timeout=60)
    assert run.returncode == 0
    data = json.loads(run.stdout.decode("utf-8"))  # strict: no surrogates
    # the comm is the name, or the OS name beside the Python name
    names = [n for t in data["processes"][0]["threads"] for n in (t["name"], t["os_name"]) if n]
    assert any(n.startswith(name[:2].decode()) for n in names), names
    if name.startswith(b"ok"):
        assert "ok\u00e9\u20ac" in names, names
