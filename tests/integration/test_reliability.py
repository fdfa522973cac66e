"""Reliability and bad input (docs/reliability.md).

The traced program is never disturbed by attaching, detaching, Ctrl-C or a
killed recorder, and the probes go away with the recorder; forks, execs,
thread churn, two recorders at once and odd targets still give a consistent
account; bad privileges and outputs give one clear line; no session file,
however damaged or hostile, crashes a reader or makes it run unbounded.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import zlib

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


# ---------------------------------------------------------------- bad session files

CHUNK = struct.Struct("<IHHIIII")
EVENT = struct.Struct("<QIIBBHI3Q")
HOST, PROCESS, EVENTS, THREAD, TRAILER = 1, 2, 3, 4, 5
T0 = 1_000_000_000


def file_header(version=1, header_size=16):
    return b"GILSCOPE" + struct.pack("<II", version, header_size)


def chunk(ctype, payload, flags=0, raw_size=None, count=0, size=None, crc=None):
    size = len(payload) if size is None else size
    raw_size = len(payload) if raw_size is None else raw_size
    h0 = CHUNK.pack(0x4B484347, ctype, flags, size, raw_size, 0, count)
    crc = zlib.crc32(payload, zlib.crc32(h0)) if crc is None else crc
    return CHUNK.pack(0x4B484347, ctype, flags, size, raw_size, crc, count) + payload


def kv(ctype, pairs):
    return chunk(ctype, "".join(f"{k}={v}\n" for k, v in pairs.items()).encode(),
                 count=len(pairs))


def events(raw, count, level=1):
    return chunk(EVENTS, zlib.compress(raw, level), flags=1, raw_size=len(raw),
                 count=count)


HOSTC = kv(HOST, {"start_ns": T0, "mode": "exact"})
TRAILERC = kv(TRAILER, {"end_ns": T0 + 10**9, "finalized": 1})


@pytest.fixture(scope="module")
def real_session(tmp_path_factory):
    """A real session: three threads, forks its interpreter into a child."""
    path = str(tmp_path_factory.mktemp("real") / "real.data")
    run = gs("record", "-q", "-o", path, "--", PYTHON, "-c",
             "import os, threading\n"
             "ts = [threading.Thread(target=sum, args=(range(200000),)) for _ in range(3)]\n"
             "[t.start() for t in ts]\n"
             "pid = os.fork()\n"
             "if pid == 0: os._exit(0)\n"
             "os.waitpid(pid, 0); [t.join() for t in ts]", timeout=120)
    assert run.returncode == 0, run.stderr
    with open(path, "rb") as f:
        return f.read()


def chunks_of(data):
    """(offset, type, end) of every chunk of a well-formed file."""
    off, out = 16, []
    while off + CHUNK.size <= len(data):
        _, ctype, _, size, _, _, _ = CHUNK.unpack_from(data, off)
        out.append((off, ctype, off + CHUNK.size + size))
        off += CHUNK.size + size
    return out


READERS = [("report",), ("report", "--json"), ("dump",)]


def read_bounded(path, tmp_path, timeout=30):
    """Run every reader on PATH with 1 GB of address space and TIMEOUT s."""
    readers = list(READERS) + [("timeline", "-o", str(tmp_path / f"tl{ext}")) for ext in
                               (".json", ".pftrace", ".html")]
    runs = []
    for args in readers:
        try:
            run = subprocess.run(["prlimit", "--as=1000000000", GILSCOPE, *args, path],
                                 capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{args[0]} took more than {timeout} s on {path}")
        stderr = run.stderr.decode(errors="replace")
        # a clean exit (0, or 1 with one line), never a signal or a sanitizer
        assert run.returncode in (0, 1), (args, path, run.returncode, stderr[-2000:])
        assert "Sanitizer" not in stderr and "runtime error" not in stderr, stderr
        if run.returncode:
            lines = [l for l in stderr.splitlines() if l.strip()]
            assert len(lines) == 1 and lines[0].startswith("gilscope: "), (args, stderr)
        runs.append((args, run))
    return runs


def check_readable_part(runs, damaged):
    """A file read in part says so."""
    for args, run in runs:
        if run.returncode or args[0] == "timeline":
            continue
        out = run.stdout.decode(errors="replace")
        if args == ("report", "--json"):
            assert json.loads(out)["session"]["cut_short"] is True or not damaged
        elif args == ("report",) and damaged:
            assert "cut short" in out, out[:500]


def test_empty_and_header_only_files(tmp_path):
    cases = {
        "empty": (b"", "not a gilscope session file (empty or too short)"),
        "short": (b"GILSCOPE\x01", "not a gilscope session file (empty or too short)"),
        "not-a-session": (b"#!/bin/sh\necho hello\n", "not a gilscope session file"),
        "bad-header-size": (file_header(header_size=8) + HOSTC, "damaged file header"),
        "header-only": (file_header(), "no readable header record"),
        "no-start": (file_header() + kv(HOST, {"mode": "exact"}) + TRAILERC,
                     "no readable header record"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / f"{name}.data"
        path.write_bytes(data)
        for args, run in read_bounded(str(path), tmp_path):
            if args[0] == "dump" and "no readable header" in message:
                # dump needs no HOST record: it lists what is there (nothing)
                assert run.returncode == 0 and not run.stdout.strip(b"\n"), (name, run)
                continue
            assert run.returncode == 1, (name, args)
            assert message in run.stderr.decode(), (name, args, run.stderr)


def test_future_version(tmp_path, real_session):
    data = bytearray(real_session)
    data[8:12] = struct.pack("<I", 2)
    path = tmp_path / "future.data"
    path.write_bytes(bytes(data))
    for args, run in read_bounded(str(path), tmp_path):
        assert run.returncode == 1, args
        assert "version 2" in run.stderr.decode() and "newer gilscope" in run.stderr.decode()


def test_truncated_files(tmp_path, real_session):
    data = real_session
    chunks = chunks_of(data)
    assert chunks[-1][2] == len(data)
    # the recorder writes its last events chunk after the trailer: a file
    # cut right there looks whole (docs/session-format.md, crash behaviour)
    after_trailer = {end for _, ctype, end in chunks if ctype == TRAILER}
    cuts = {16, 20, 39, 40, len(data) - 1}
    for off, _, _ in chunks:
        cuts |= {off, off + 1, off + CHUNK.size, off + CHUNK.size + 1}
    cuts |= set(range(41, len(data), max(1, len(data) // 20)))
    path = str(tmp_path / "cut.data")
    for cut in sorted(c for c in cuts if 16 <= c < len(data)):
        with open(path, "wb") as f:
            f.write(data[:cut])
        runs = read_bounded(path, tmp_path)
        report_rc = runs[0][1].returncode
        if report_rc:
            assert "no readable header record" in runs[0][1].stderr.decode(), cut
        else:
            check_readable_part(runs, damaged=cut not in after_trailer)


def test_corrupted_files(tmp_path, real_session):
    data = real_session
    path = str(tmp_path / "bad.data")
    offsets = set(range(16, len(data), max(1, len(data) // 30)))
    for off, _, _ in chunks_of(data):
        offsets |= set(range(off, off + CHUNK.size, 4))
    for off in sorted(offsets):
        bad = bytearray(data)
        bad[off] ^= 0xA5
        with open(path, "wb") as f:
            f.write(bytes(bad))
        runs = read_bounded(path, tmp_path)
        check_readable_part(runs, damaged=True)


def test_hostile_headers(tmp_path, real_session):
    """Lengths and counts that claim far more than the file holds."""
    big = 64 << 20
    cases = {
        "chunk-claims-64MiB": file_header() + HOSTC + CHUNK.pack(
            0x4B484347, EVENTS, 1, big, big, 0, big // 48),
        "chunk-claims-4GiB": file_header() + HOSTC + CHUNK.pack(
            0x4B484347, EVENTS, 1, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF),
        "count-disagrees": file_header() + HOSTC + events(b"\0" * 48, 0xFFFFFFFF)
        + TRAILERC,
        "raw-size-lies": file_header() + HOSTC + chunk(
            EVENTS, zlib.compress(b"\1" * 4800), flags=1, raw_size=48, count=1) + TRAILERC,
        "huge-header-size": file_header(header_size=0xFFFFFFFF) + HOSTC,
        "metadata-flags": file_header() + chunk(HOST, b"start_ns=1\n", flags=1, count=1),
        "unknown-chunk": file_header() + HOSTC + chunk(77, b"x" * 1000) + TRAILERC,
        "kv-no-equals": file_header() + HOSTC + chunk(PROCESS, b"pid\n", count=1),
        "kv-long-values": file_header() + kv(HOST, {"start_ns": T0, "command": "x" * 100000})
        + kv(PROCESS, {"pid": 1, "since_ns": 0, "origin": "attach", "command": "y" * 100000,
                       "python": "3" * 5000, "gil_method": "z" * 5000})
        + kv(THREAD, {"tgid": 1, "tid": 1, "comm": "c" * 5000}) + TRAILERC,
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.data"
        path.write_bytes(data)
        read_bounded(str(path), tmp_path)


def many_processes(n, pid_of=lambda i: 100000 + i):
    raw = b"".join(EVENT.pack(T0 + i, pid_of(i), pid_of(i), 3, 0, 0, 0, 0, 0, 0)
                   for i in range(n))
    return file_header() + HOSTC + events(raw, n) + TRAILERC


def many_images(n):
    return file_header() + HOSTC + b"".join(
        kv(PROCESS, {"pid": 1000 + i, "since_ns": 0, "origin": "attach"})
        for i in range(n)) + TRAILERC


# "sparse-pids": ids that differ only in their high bits must not share a hash
# chain; "images": 40000 PROCESS chunks (user/session/session_read.c indexes them).
@pytest.mark.parametrize("kind", ["processes", "sparse-pids", "images"])
def test_many_processes_in_bounded_time(tmp_path, kind):
    data = {"processes": lambda: many_processes(40000),
            "sparse-pids": lambda: many_processes(40000, lambda i: (i + 1) << 16),
            "images": lambda: many_images(40000)}[kind]()
    path = tmp_path / f"many-{kind}.data"
    path.write_bytes(data)
    start = time.monotonic()
    try:
        run = subprocess.run(["prlimit", "--as=1000000000", GILSCOPE, "report", "--json",
                              str(path)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"report took more than 30 s on a {len(data)} byte file")
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["processes"]) == 40000
    assert time.monotonic() - start < 30


PEAK_RSS = r"""
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_memory_bounded_on_a_compressed_file(tmp_path):
    n = (64 << 20) // 48
    one = events(EVENT.pack(T0 + 5, 100, 100, 3, 0, 0, 0, 0, 0, 0) * n, n, level=9)
    path = tmp_path / "zip.data"
    path.write_bytes(file_header() + HOSTC + one * 16 + TRAILERC)
    run = subprocess.run([PYTHON, "-c", PEAK_RSS, GILSCOPE, "report", str(path)],
                         capture_output=True, text=True, timeout=120)
    peak_mb = int(run.stdout) / 1024
    assert peak_mb < 512, f"peak RSS {peak_mb:.0f} MB for a {path.stat().st_size} byte file"


def test_too_many_overlapping_chunks_are_counted(tmp_path):
    # 1100 chunks whose events all share one timestamp: the reader keeps at
    # most 1024 chunks open; what it lets out past that cap is counted and
    # shown, never dropped
    one = events(EVENT.pack(T0 + 5, 100, 100, 3, 0, 0, 0, 0, 0, 0) * 4, 4)
    path = tmp_path / "overlap.data"
    path.write_bytes(file_header() + HOSTC + one * 1100 + TRAILERC)
    data = report(str(path))
    assert data["session"]["events"] == 4400
    # chunks 1..77 go out at the cap: up to the 76th, a chunk was waiting
    # to be opened; at the 77th the reader has not yet looked past the last
    past = (1100 - 1024 + 1) * 4
    assert data["session"]["out_of_order"] == past
    text = subprocess.run([GILSCOPE, "report", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert f"WARNING: {past} events were read with too many chunks" in text.stdout


def test_stack_tables_past_the_cap_are_said(tmp_path):
    # the reader keeps at most 256 MB of STACKS payloads; five chunks of
    # 60 MB (zeros, compressed to a few KB each) pass it: `flame` says so
    raw = bytes(60 << 20)
    stacks = chunk(6, zlib.compress(raw, 9), flags=1, raw_size=len(raw), count=1)
    one = events(EVENT.pack(T0 + 5, 100, 100, 3, 0, 0, 0, 0, 0, 0), 1)
    path = tmp_path / "stacks.data"
    path.write_bytes(file_header() + HOSTC + one + stacks * 5 + TRAILERC)
    run = subprocess.run(["prlimit", "--as=1000000000", GILSCOPE, "flame", "-o",
                          str(tmp_path / "f.folded"), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert "Sanitizer" not in run.stderr
    assert "1 stack table chunks past the first 256 MB were not read" in run.stderr, \
        run.stderr
