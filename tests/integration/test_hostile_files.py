"""A traced program that controls the files gilscope opens (issue 17).

gilscope runs as root and opens, through /proc/PID/root, the interpreter
file that /proc/PID/maps names and its debug file by build-id. A program in
a chroot controls both paths: here it runs a copy of Debian's python3.11 in
a small chroot (its libraries and standard library bind-mounted read-only
in a private mount namespace, nothing to unmount), and what sits at the
path gilscope inspects is crafted:

- the interpreter: the program deletes its own file at start, so that maps
  names "/opt/py/python3.11 (deleted)", and the test put a crafted thing at
  that name: a truncated ELF, an ELF whose section table points past its
  end, a symbolic link to a python outside the chroot, a FIFO, a character
  device, a sparse 1 GiB file;
- the debug file (/usr/lib/debug/.build-id/c5/...debug inside the chroot):
  a FIFO, a link to the host's real debug file, a truncated copy, a sparse
  1 GiB file.

Each is recorded with `record -p` (and the FIFO also with `record --` of the
whole chroot command): the recorder neither crashes nor hangs, says in one
line which file it skipped and why, the program's output and exit code are
the untraced ones, and the session reads; a refused interpreter leaves the
process without GIL data, a refused debug file leaves the GIL found without
it (gil_method handoff, hand-offs equal to the interpreter's count).
"""
import os
import shutil
import stat
import subprocess
import time

import pytest

from conftest import GILSCOPE, HOST_PYTHON, chroot_command, report, small_chroot

BUILD_ID = "c561f3aa7232f2bd6ac6d56bd475f1c154a00486"
HOST_DEBUG = f"/usr/lib/debug/.build-id/{BUILD_ID[:2]}/{BUILD_ID[2:]}.debug"

PROG = r"""
import os, sys, threading, time
if sys.argv[1] == "unlink":
    os.unlink(sys.executable)
open("/ready", "w").close()
while not os.path.exists("/gate"):
    time.sleep(0.01)

results = [0] * 3
def work(k):
    results[k - 1] = sum(i * k for i in range(300_000))

threads = [threading.Thread(target=work, args=(k,)) for k in (1, 2, 3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done", sum(results), flush=True)
sys.exit(3)
"""
EXPECTED = f"done {6 * sum(range(300_000))}\n"


def build_chroot(tmp_path):
    return small_chroot(tmp_path / "root", PROG, dirs=("usr/lib/debug/.build-id/c5",))


def copy_cut(src, dst, size):
    with open(src, "rb") as f, open(dst, "wb") as g:
        g.write(f.read(size))


def section_table_past_end(dst):
    shutil.copy2(HOST_PYTHON, dst)
    size = os.path.getsize(dst)
    with open(dst, "r+b") as f:
        f.seek(0x28)  # e_shoff
        f.write((size + 4096).to_bytes(8, "little"))


def sparse(dst, size=1 << 30):
    with open(dst, "wb") as f:
        f.truncate(size)


# what to put where, and the words of the one line that says it was skipped
INTERP_CASES = {
    "truncated": (lambda p: copy_cut(HOST_PYTHON, p, 64 * 1024), "past the end of the file"),
    "section-table-past-end": (section_table_past_end, "section table is past the end"),
    "symlink-escaping": (None, "a symbolic link leads outside the process's root"),
    "fifo": (os.mkfifo, "a FIFO, not a regular file"),
    "char-device": (lambda p: os.mknod(p, stat.S_IFCHR | 0o644, os.makedev(1, 5)),
                    "a character device, not a regular file"),
    "huge": (sparse, "larger than 512 MiB"),
}
DEBUG_CASES = {
    "fifo": (os.mkfifo, "a FIFO, not a regular file"),
    "symlink-escaping": (lambda p: os.symlink(HOST_DEBUG, p),
                         "a symbolic link leads outside the process's root"),
    "truncated": (lambda p: copy_cut(HOST_DEBUG, p, 4096), "past the end of the file"),
    "huge": (sparse, "larger than 512 MiB"),
}


def run_attached(tmp_path, root, mode):
    """Start the chrooted program, attach `record -p` once it is ready,
    open its gate; the recording ends with the program."""
    out = str(tmp_path / "hostile.data")
    target = subprocess.Popen(chroot_command(root, mode), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    rec = None
    try:
        wait_for(root / "ready", target)
        rec = subprocess.Popen([GILSCOPE, "record", "-q", "-d", "60", "-o", out, "-p",
                                str(target.pid)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        wait_for_header(out, rec)
        (root / "gate").touch()
        stdout, stderr = target.communicate(timeout=60)
        _, rec_err = rec.communicate(timeout=60)
    finally:
        for p in (target, rec):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    return target, stdout, stderr, rec, rec_err, out


def wait_for(path, proc, timeout=30):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.02)


def wait_for_header(out, rec, timeout=30):
    """The HOST chunk follows the probes' attachment."""
    end = time.monotonic() + timeout
    while not (os.path.exists(out) and os.path.getsize(out) > 16):
        assert rec.poll() is None, rec.communicate()
        assert time.monotonic() < end, "the recorder hangs: no HOST chunk in 30 s"
        time.sleep(0.02)


def check_one_skipped(err, path, why):
    """One line says that PATH was skipped and WHY."""
    lines = [l for l in err.splitlines() if l.startswith("gilscope: skipped ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("gilscope: skipped ") and f"{path}: " in lines[0], err
    assert why in lines[0].split(f"{path}: ", 1)[1], err


def record_crafted(tmp_path, root, mode, path, why):
    """`record -p` of the chrooted program: it runs as untraced, the
    recorder ends well and says in one line that PATH (inside the root)
    was skipped and WHY."""
    target, stdout, stderr, rec, rec_err, out = run_attached(tmp_path, root, mode)
    check_program_unharmed(target, stdout, stderr)
    assert rec.returncode == 0, rec_err
    check_one_skipped(rec_err, f"/proc/{target.pid}/root{path}", why)
    return target, rec_err, out


def check_program_unharmed(target, stdout, stderr):
    assert stdout == EXPECTED, (stdout, stderr)
    assert target.returncode == 3, stderr


@pytest.mark.parametrize("case", sorted(INTERP_CASES))
def test_crafted_interpreter_file_is_skipped(tmp_path, case):
    root = build_chroot(tmp_path)
    make, why = INTERP_CASES[case]
    crafted = root / "opt/py/python3.11 (deleted)"
    if make is None:  # a python outside the chroot, named by an absolute link
        outside = tmp_path / "outside"
        outside.mkdir()
        shutil.copy2(HOST_PYTHON, outside / "python3.11")
        os.symlink(str(outside / "python3.11"), crafted)
    else:
        make(str(crafted))
    target, rec_err, out = record_crafted(tmp_path, root, "unlink",
                                          "/opt/py/python3.11 (deleted)", why)
    assert f"no Python interpreter found in process {target.pid}" in rec_err
    p = report(out)["processes"][0]
    assert p["pid"] == target.pid
    assert p["python_version"] is None


@pytest.mark.parametrize("case", sorted(DEBUG_CASES))
def test_crafted_debug_file_is_skipped(tmp_path, case):
    if not os.path.exists(HOST_DEBUG):
        pytest.fail("python3.11-dbg is needed (scripts/install-deps.sh)")
    root = build_chroot(tmp_path)
    make, why = DEBUG_CASES[case]
    crafted = root / HOST_DEBUG.lstrip("/")
    make(str(crafted))
    _, rec_err, out = record_crafted(tmp_path, root, "keep", HOST_DEBUG, why)
    p = report(out)["processes"][0]
    assert p["python_version"] == "3.11.2", rec_err
    assert p["gil_method"] == "handoff"
    assert p["gil"]["handoffs"] == p["gil"]["interpreter_switches"] > 0


def test_fifo_debug_file_in_a_launched_command(tmp_path):
    """`record -- CMD`: the chrooted python is found at its exec, inside a
    command gilscope started; its debug file, a FIFO, is skipped there too
    and the command's output and exit code pass through."""
    root = build_chroot(tmp_path)
    os.mkfifo(root / HOST_DEBUG.lstrip("/"))
    out = str(tmp_path / "launched.data")
    rec = subprocess.Popen([GILSCOPE, "record", "-q", "-o", out, "--",
                            *chroot_command(root, "keep")], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(root / "ready", rec)
        (root / "gate").touch()
        stdout, err = rec.communicate(timeout=60)
    finally:
        if rec.poll() is None:
            rec.kill()
            rec.wait()
    assert stdout == EXPECTED, err
    assert rec.returncode == 3, err
    check_one_skipped(err, f"/root{HOST_DEBUG}", "a FIFO, not a regular file")
    (p,) = [p for p in report(out)["processes"] if p["python_version"]]
    assert p["python_version"] == "3.11.2" and p["gil_method"] == "handoff"
    # found at its exec, behind unshare, sh and chroot, while it already
    # runs: the first hand-offs may precede the probes (-p above is exact)
    assert p["gil"]["handoffs"] > 0
