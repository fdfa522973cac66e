#!/usr/bin/python3
"""Golden outputs of stored sessions (tests/golden/README.md).

    make_golden.py --record [NAME ...]   re-record sessions (root, BPF; under
                                         the shared test lock)
    make_golden.py --update [NAME ...]   regenerate the golden outputs of the
                                         stored sessions with ./gilscope
    make_golden.py --check [NAME ...]    render twice, say whether the bytes
                                         are the same (determinism)

tests/test_golden.py renders every view of every stored session with the
current binary and compares the bytes with the golden files written here.
"""
import argparse
import fcntl
import hashlib
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GILSCOPE = os.path.join(ROOT, "gilscope")
WORKLOADS = os.path.join(ROOT, "workloads")
SESSIONS_DIR = os.path.join(HERE, "sessions")
OUTPUTS_DIR = os.path.join(HERE, "outputs")
PYTHON = "/usr/bin/python3"
TEST_LOCK = "/tmp/gilscope-test.lock"

# An output larger than this is stored as its sha256 only (SHA256 file).
MAX_STORED = 1 << 20
# An output larger than this (and stored) is stored xz-compressed.
MAX_PLAIN = 64 << 10


def py(script, *args):
    return [PYTHON, os.path.join(WORKLOADS, script), *args]


# name -> (command, record options, stdin text written after a delay or None)
# Sizes are small: each run lasts a fraction of a second, its session stays
# well under 1 MB.
SESSIONS = {
    "cpu_threads": (py("cpu_threads.py", "0.2"), (), None),
    "cpu_threads-light": (py("cpu_threads.py", "0.2", "--threads-only"),
                          ("--light",), None),
    "factorize": (py("factorize.py", "0.2", "--processes"), (), None),
    "sleepy_threads": (py("sleepy_threads.py", "0.3"), (), None),
    "input_wait": (py("input_wait.py", "0.3"), (), (0.3, "hi\n")),
    "thread_pool": (py("thread_pool.py", "0.15"), (), None),
    "web_fetch": (py("web_fetch.py", "0.2"), (), None),
    "counter_race": (py("counter_race.py", "0.2"), (), None),
    "queue_pipeline": (py("queue_pipeline.py", "0.2"), (), None),
    "lock_turns": (py("lock_turns.py", "0.2"), (), None),
    "dining_philosophers": (py("dining_philosophers.py", "0.1"), (), None),
    "generators": (py("generators.py", "0.2"), (), None),
    "processes": (py("processes.py", "0.2", "--procs", "2"), (), None),
    "c_global_lock": (["/tmp/gilscope-golden/c_global_lock", "0.2"],
                      ("--lock", "gl_acquire:gl_release"), None),
}

FLAME_KINDS = ("oncpu", "gil-wait", "offcpu", "wall")
FLAME_FORMATS = ("svg", "folded", "speedscope.json", "pb.gz")
TIMELINE_FORMATS = ("pftrace", "json", "html")


def views():
    """Every view of a session: (output file name, gilscope arguments before
    the session file, whether the output goes to stdout)."""
    out = [("report.txt", ["report"], True),
           ("report.json", ["report", "--json"], True),
           ("dump.txt", ["dump"], True)]
    for kind in FLAME_KINDS:
        for fmt in FLAME_FORMATS:
            name = f"flame-{kind}.{fmt}"
            out.append((name, ["flame", "--what", kind, "-o", name], False))
    for fmt in TIMELINE_FORMATS:
        name = f"timeline.{fmt}"
        out.append((name, ["timeline", "-o", name], False))
    return out


VIEWS = views()


def view(out_name):
    """The view that writes OUT_NAME."""
    return next(v for v in VIEWS if v[0] == out_name)


def session_file(name):
    return os.path.join(SESSIONS_DIR, name + ".data")


def stored_sessions():
    return sorted(n for n in SESSIONS if os.path.exists(session_file(n)))


def render(name, view, workdir):
    """Write VIEW of the stored session NAME into WORKDIR and return its
    bytes. gilscope runs in WORKDIR with the session as a relative name
    (NAME.data), so nothing of the checkout's path enters the output."""
    out_name, args, to_stdout = view
    data = os.path.join(workdir, name + ".data")
    if not os.path.exists(data):
        shutil.copyfile(session_file(name), data)
    run = subprocess.run([GILSCOPE, *args, name + ".data"], cwd=workdir,
                         capture_output=True, timeout=300)
    if run.returncode != 0:
        raise RuntimeError(f"gilscope {' '.join(args)} {name}.data: exit "
                           f"{run.returncode}: {run.stderr.decode(errors='replace')}")
    if to_stdout:
        return run.stdout
    with open(os.path.join(workdir, out_name), "rb") as f:
        return f.read()


def outputs_dir(name):
    return os.path.join(OUTPUTS_DIR, name)


def read_sums(name):
    sums = {}
    path = os.path.join(outputs_dir(name), "SHA256")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                digest, size, out_name = line.split()
                sums[out_name] = (digest, int(size))
    return sums


def golden(name, out_name):
    """The stored golden output: ("bytes", data) or ("sha256", (digest, size))."""
    base = os.path.join(outputs_dir(name), out_name)
    if os.path.exists(base):
        with open(base, "rb") as f:
            return "bytes", f.read()
    if os.path.exists(base + ".xz"):
        with open(base + ".xz", "rb") as f:
            return "bytes", lzma.decompress(f.read())
    sums = read_sums(name)
    if out_name in sums:
        return "sha256", sums[out_name]
    return None, None


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def update(names):
    for name in names:
        out = outputs_dir(name)
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        sums = []
        with tempfile.TemporaryDirectory(prefix="gilscope-golden-") as work:
            for view in VIEWS:
                data = render(name, view, work)
                out_name = view[0]
                if len(data) > MAX_STORED:
                    sums.append(f"{sha256(data)} {len(data)} {out_name}\n")
                elif len(data) > MAX_PLAIN:
                    with open(os.path.join(out, out_name + ".xz"), "wb") as f:
                        f.write(lzma.compress(data, preset=9))
                else:
                    with open(os.path.join(out, out_name), "wb") as f:
                        f.write(data)
        if sums:
            with open(os.path.join(out, "SHA256"), "w") as f:
                f.writelines(sums)
        print(f"{name}: {len(VIEWS)} outputs, {len(sums)} as sha256 only")


def check(names):
    """Render every view twice in two directories; say what differs."""
    bad = 0
    for name in names:
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            for view in VIEWS:
                if render(name, view, a) != render(name, view, b):
                    print(f"NOT DETERMINISTIC: {name} {view[0]}")
                    bad += 1
    print(f"{len(names)} sessions x {len(VIEWS)} views: {bad} not deterministic")
    return bad == 0


def build_c_global_lock():
    exe = SESSIONS["c_global_lock"][0][0]
    os.makedirs(os.path.dirname(exe), exist_ok=True)
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", exe,
                    os.path.join(WORKLOADS, "c_global_lock.c")], check=True)


def record_one(name):
    argv, options, stdin_text = SESSIONS[name]
    if name == "c_global_lock":
        build_c_global_lock()
    os.makedirs(SESSIONS_DIR, exist_ok=True)
    out = session_file(name)
    cmd = [GILSCOPE, "record", "-q", "-o", out, *options, "--", *argv]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_text else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if stdin_text:
        time.sleep(stdin_text[0])
        proc.stdin.write(stdin_text[1])
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode != 0:
        sys.exit(f"{name}: exit {proc.returncode}\n{stderr}")
    os.chmod(out, 0o644)
    print(f"{name}: {os.path.getsize(out)} bytes; {stdout.splitlines()[-1][:100]}")


def record(names):
    if os.geteuid() != 0:
        sys.exit("--record traces with BPF: run it as root")
    with open(TEST_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for name in names:
            record_one(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--record", action="store_true", help="re-record the sessions")
    ap.add_argument("--update", action="store_true", help="regenerate the golden outputs")
    ap.add_argument("--check", action="store_true", help="check the outputs are deterministic")
    ap.add_argument("names", nargs="*", help=f"sessions (default all: {' '.join(SESSIONS)})")
    args = ap.parse_args()
    unknown = [n for n in args.names if n not in SESSIONS]
    if unknown:
        sys.exit(f"unknown session(s): {' '.join(unknown)}")
    if not (args.record or args.update or args.check):
        ap.error("say --record, --update and/or --check")
    names = args.names or list(SESSIONS)
    if args.record:
        record(names)
    if args.update:
        update([n for n in names if os.path.exists(session_file(n))])
    if args.check and not check([n for n in names if os.path.exists(session_file(n))]):
        sys.exit(1)


if __name__ == "__main__":
    main()
