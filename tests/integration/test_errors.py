"""Bad input gets one clear line and a non-zero exit, never a crash or hang."""
import os
import shutil
import struct
import subprocess
import time

from conftest import GILSCOPE, PYTHON, fake_version, report


def gs(*args, **kw):
    return subprocess.run([GILSCOPE, *args], capture_output=True, text=True, timeout=60, **kw)


def one_line_error(run, *words):
    assert run.returncode != 0
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, run.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_pid_that_does_not_exist():
    one_line_error(gs("record", "-p", "999999999"), "no process")


def test_missing_privileges():
    if not shutil.which("setpriv"):
        raise AssertionError("setpriv (util-linux) is needed for this test")
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "--inh-caps=-all", GILSCOPE, "record", "-o", "/tmp/np.data",
                          "--", "/bin/true"], capture_output=True, text=True, timeout=60)
    one_line_error(run, "root", "CAP_BPF")


def test_unwritable_output():
    one_line_error(gs("record", "-o", "/proc/version/x", "--", "/bin/true"), "cannot write")


def test_usage_errors():
    assert gs("record").returncode == 2
    assert gs("record", "-d", "abc", "--", "true").returncode == 2
    assert gs("frobnicate").returncode == 2


def test_empty_session(tmp_path):
    f = tmp_path / "empty.data"
    f.write_bytes(b"")
    one_line_error(gs("report", str(f)), "not a gilscope session")


def test_future_format(tmp_path):
    f = tmp_path / "future.data"
    f.write_bytes(b"GILSCOPE" + struct.pack("<II", 99, 16))
    one_line_error(gs("report", str(f)), "newer gilscope")


def test_truncated_and_corrupted_real_session(tmp_path):
    good = tmp_path / "good.data"
    rec = gs("record", "-q", "-o", str(good), "--", PYTHON, "-c",
             "import threading; [threading.Thread(target=sum, args=(range(100000),)).start() for _ in range(3)]")
    assert rec.returncode == 0, rec.stderr
    data = good.read_bytes()
    for cut in (10, 40, len(data) // 3, len(data) // 2, len(data) - 1):
        f = tmp_path / "cut.data"
        f.write_bytes(data[:cut])
        run = gs("report", "--json", str(f))
        assert run.returncode in (0, 1), run
        if run.returncode:
            assert len(run.stderr.strip().splitlines()) == 1
        else:
            assert '"cut_short": true' in run.stdout
    for off in range(20, len(data), max(1, len(data) // 25)):
        bad = bytearray(data)
        bad[off] ^= 0xFF
        f = tmp_path / "bad.data"
        f.write_bytes(bytes(bad))
        run = gs("report", str(f))
        assert run.returncode in (0, 1), (off, run)
        assert "Traceback" not in run.stderr and "Sanitizer" not in run.stderr


def test_a_python_gilscope_cannot_read_gets_one_line(tmp_path):
    """Launched or attached, one line says so; the report says "GIL not
    traced", never the GIL's futex as a lock and "held 0 %"."""
    fake = str(tmp_path / "python3.16")
    fake_version(os.path.realpath(PYTHON), fake)
    script = "import threading, time\n" \
             "t = threading.Thread(target=time.sleep, args=(0.3,)); t.start()\n" \
             "time.sleep(1.0); t.join()\n"
    for mode in ("launch", "attach"):
        out = str(tmp_path / f"{mode}.data")
        if mode == "launch":
            run = gs("record", "-q", "-o", out, "--", fake, "-c", script)
        else:
            proc = subprocess.Popen([fake, "-c", script])
            time.sleep(0.3)
            run = gs("record", "-q", "-o", out, "-p", str(proc.pid))
            proc.wait(timeout=30)
        assert run.returncode == 0, run.stderr
        said = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(said) == 1, said
        assert "3.16.0" in said[0] and "GIL not traced" in said[0], said[0]
        p = report(out)["processes"][0]
        assert p["gil_method"] == "unsupported" and p["gil"] is None
        assert p["python_version"] == "3.16.0"
        assert p["diagnosis"][0]["kind"] == "gil-not-traced"
        text = gs("report", out).stdout
        assert "GIL not traced" in text and "held 0" not in text, text
        assert "blocked: " in text and " lock " not in text, text
