#!/usr/bin/python3
"""Make the seed corpus of the fuzz targets in tests/fuzz/corpus/.

Real sessions are recorded with ./gilscope (root, real kernel); edge cases
are written by hand with the framing of docs/session-format.md. Every seed
stays under 100 KB. Files are named *.session (the top .gitignore drops
*.data).

    /usr/bin/python3 tests/fuzz/make_corpus.py            # both
    /usr/bin/python3 tests/fuzz/make_corpus.py --edge     # edge cases only
"""
import os
import struct
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
GILSCOPE = os.path.join(ROOT, "gilscope")
PYTHON = "/usr/bin/python3"
MAX_SEED = 100 * 1024

CHUNK = struct.Struct("<IHHIIII")
EVENT = struct.Struct("<QIIBBHI3Q")
HOST, PROCESS, EVENTS, THREAD, TRAILER = 1, 2, 3, 4, 5


def header(version=1, header_size=16):
    return b"GILSCOPE" + struct.pack("<II", version, header_size)


def chunk(ctype, payload, flags=0, raw_size=None, count=0, crc=None, size=None):
    size = len(payload) if size is None else size
    raw_size = len(payload) if raw_size is None else raw_size
    h0 = CHUNK.pack(0x4B484347, ctype, flags, size, raw_size, 0, count)
    if crc is None:
        crc = zlib.crc32(payload, zlib.crc32(h0))
    return CHUNK.pack(0x4B484347, ctype, flags, size, raw_size, crc, count) + payload


def kv(ctype, pairs):
    text = "".join(f"{k}={v}\n" for k, v in pairs.items()).encode()
    return chunk(ctype, text, count=len(pairs))


def events(evs, compress=True):
    raw = b"".join(EVENT.pack(*e) for e in evs)
    if compress:
        return chunk(EVENTS, zlib.compress(raw, 1), flags=1, raw_size=len(raw),
                     count=len(evs))
    return chunk(EVENTS, raw, count=len(evs))


T0 = 1_000_000_000
GIL = 0xA56388


def synthetic():
    """Two threads of one attached Python process handing the GIL over."""
    pid, t2 = 4000, 4001
    host = kv(HOST, {"start_ns": T0, "mode": "exact", "command": "-p 4000", "cpus": 2})
    proc = kv(PROCESS, {"pid": pid, "since_ns": 0, "origin": "attach",
                        "command": "python3 x.py", "python": "3.11.2",
                        "gil_method": "symtab", "gil_addr": hex(GIL), "gil_size": 208,
                        "gil_cond_off": 32, "gil_mutex_off": 80,
                        "gil_switch_cond_off": 120, "gil_switch_mutex_off": 168,
                        "switch_number_start": 10, "gil_locked": 1,
                        "gil_last_holder_tid": pid})
    threads = b"".join(kv(THREAD, {"tgid": pid, "tid": t, "state": s, "syscall": nr,
                                   "arg0": hex(GIL + 32), "arg1": "0x189",
                                   "comm": "python3"})
                       for t, s, nr in ((pid, "R", -1), (t2, "S", 202)))
    cond, scond = GIL + 32, GIL + 120
    ev = [
        # ts, tid, tgid, type, flags, cpu, a32, arg0, arg1, arg2
        (T0 + 1000, t2, pid, 8, 0, 1, 202, cond, 0x189, 0),           # futex wait
        (T0 + 2000, t2, pid, 10, 0, 1, 0, 0x7F0000, 0, 0),             # take_gil
        (T0 + 5_000_000, pid, pid, 11, 0, 0, 0, cond, 0x4CEB84, 0),    # release
        (T0 + 5_010_000, t2, pid, 3, 0, 1, 0, 0, 0, 0),                # wakeup
        (T0 + 5_020_000, 0, 0, 1, 4, 1, 0, (pid << 32) | t2, 0, 0),    # switch in
        (T0 + 5_030_000, t2, pid, 9, 0, 1, 202, 0, 0, 0),              # futex exit
        (T0 + 5_040_000, t2, pid, 11, 0, 1, 0, scond, 0x4CEB90, 0),    # acquire
        (T0 + 5_050_000, pid, pid, 1, 2 | 1, 0, 0, 0, 0, 0),           # preempted
        (T0 + 6_000_000, pid, pid, 5, 0, 0, 0, (4002 << 32) | 4002,
         int.from_bytes(b"python3\0", "little"), 0),                   # fork
        (T0 + 7_000_000, 4002, 4002, 6, 0, 0, 4002, 0,
         int.from_bytes(b"true\0\0\0\0", "little"), 0),                # exec
        (T0 + 7_500_000, 4002, 4002, 12, 0, 0, 2, 3, GIL, 0),           # switch_number
        (T0 + 8_000_000, 4002, 4002, 7, 0, 0, 1, 0, 0, 0),             # exit
        (T0 + 9_000_000, t2, pid, 2, 0, 1, 0, (pid << 32) | pid, 0, 0),  # waking
        (T0 + 9_500_000, t2, pid, 13, 0, 1, 0, 0x7F1000, 0, 0),       # lock acquire
        (T0 + 9_600_000, t2, pid, 14, 0, 1, 0, 0x7F1000, 0, 0),       # lock release
    ]
    end = kv(PROCESS, {"pid": pid, "since_ns": 0, "switch_number_end": 11})
    trailer = kv(TRAILER, {"end_ns": T0 + 10_000_000, "events": len(ev), "lost": 0,
                           "stop_reason": "duration", "finalized": 1})
    return header() + host + proc + threads + events(ev) + end + trailer


def edge_cases(real):
    host = kv(HOST, {"start_ns": T0, "mode": "exact"})
    trailer = kv(TRAILER, {"end_ns": T0 + 1000, "finalized": 1})
    cases = {
        "edge-empty.session": b"",
        "edge-short.session": b"GILSCOPE\x01\x00",
        "edge-header-only.session": header(),
        "edge-future-version.session": header(version=2) + host + trailer,
        "edge-bad-header-size.session": header(header_size=8) + host,
        "edge-big-header.session": header(header_size=4096).ljust(4096, b"\0") + host + trailer,
        "edge-elf-file.session": b"\x7fELF\x02\x01\x01" + b"\0" * 40,
        "edge-host-only.session": header() + host,
        "edge-no-start.session": header() + kv(HOST, {"mode": "exact"}) + trailer,
        "edge-huge-claim.session": header() + host + CHUNK.pack(0x4B484347, EVENTS, 1, 64 << 20,
                                                             64 << 20, 0, (64 << 20) // 48),
        "edge-bad-crc.session": header() + host + chunk(TRAILER, b"end_ns=5\n", crc=1, count=1),
        "edge-unknown-chunk.session": header() + host + chunk(99, b"whatever") + trailer,
        "edge-kv-escapes.session": header() + chunk(HOST, b"start_ns=1000\ncommand=a\\=b\\nc\\\\\n"
                                                 b"k\\=ey=v\nlast=no newline", count=4),
        "edge-raw-events.session": header() + host + events(
            [(T0 + 10, 1, 1, 1, 2, 0, 1, 0, 0, 0)], compress=False) + trailer,
        "edge-synthetic.session": synthetic(),
    }
    if real:
        cases["edge-cut-in-events.session"] = real[: len(real) * 2 // 3]
        cases["edge-no-trailer.session"] = real[: real.rfind(b"GCHK")]
    return cases


def record(name, args, attach=None):
    out = os.path.join(CORPUS, name)
    if attach:
        target = subprocess.Popen(attach, stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        args = ["-p", str(target.pid), *args]
    run = subprocess.run([GILSCOPE, "record", "-q", "-o", out, *args],
                         capture_output=True, text=True, timeout=300)
    if attach:
        target.kill()
        target.wait()
    if run.returncode not in (0, 3):
        sys.exit(f"recording {name} failed: {run.stderr}")
    size = os.path.getsize(out)
    if size > MAX_SEED:
        sys.exit(f"{name} is {size} bytes: too large for a seed")
    print(f"{name}: {size} bytes")
    return open(out, "rb").read()


def main():
    os.makedirs(CORPUS, exist_ok=True)
    real = None
    if "--edge" not in sys.argv:
        real = record("real-threads.session", [
            "--", PYTHON, "-c",
            "import threading; ts = [threading.Thread(target=sum, args=(range(300000),))"
            " for _ in range(3)]; [t.start() for t in ts]; [t.join() for t in ts]"])
        record("real-true.session", ["--", "/bin/true"])
        record("real-attach.session", ["-d", "0.4"], attach=[
            PYTHON, "-c", "import threading, time\n"
            "def w():\n    while True: sum(range(20000)); time.sleep(0.01)\n"
            "[threading.Thread(target=w, daemon=True).start() for _ in range(2)]\n"
            "time.sleep(60)"])
        record("real-fork-exec.session", [
            "--", PYTHON, "-c",
            "import os, threading; t = threading.Thread(target=sum, args=(range(100000),));"
            " t.start(); pid = os.fork();\n"
            "if pid == 0: os.execv('/bin/true', ['true'])\n"
            "os.waitpid(pid, 0); t.join()"])
    elif os.path.exists(os.path.join(CORPUS, "real-threads.session")):
        real = open(os.path.join(CORPUS, "real-threads.session"), "rb").read()
    for name, data in edge_cases(real).items():
        with open(os.path.join(CORPUS, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
