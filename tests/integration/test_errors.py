"""Bad input gets one clear line and a non-zero exit, never a crash or hang."""
import shutil
import struct
import subprocess

from conftest import GILSCOPE, PYTHON


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
