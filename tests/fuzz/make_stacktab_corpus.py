#!/usr/bin/env python3
"""Seed corpus of fuzz_stacktab: STACKS payloads as the recorder writes them.

The encoding is user/session/stacktab.c's (docs/flamegraphs.md): "GSTK", version 1,
then records: F (frame id, kind, line, name, file), S (kind, id, pid, flags,
frame ids), T (pid, tid, name), M (key=value text). The seeds hold what a
recording of threads in nested functions gives (Python frames from
threading.py, native frames of python3.11 and libc, gilscope's synthetic
frames, thread names of each UTF-8 length and one that is not UTF-8), split
in two payloads as the recorder's periodic flushes write them, and edge
cases (a frame named by a later payload, a stack naming a frame never
written, a 4096-byte name, an empty table).

    python3 tests/fuzz/make_stacktab_corpus.py [OUTDIR]
"""
import os
import struct
import sys

MARKER = b"GSFZPAY1"
PY, NATIVE, SYNTH = 1, 2, 3
SREC_PYTHON, SREC_NATIVE = 1, 2


def s(text):
    b = text if isinstance(text, bytes) else text.encode()
    return struct.pack("<H", len(b)) + b


def frame(fid, kind, line, name, file):
    return b"F" + struct.pack("<IBi", fid, kind, line) + s(name) + s(file)


def stack(kind, sid, pid, flags, fids):
    return b"S" + struct.pack("<BQIII", kind, sid, pid, flags, len(fids)) + \
        struct.pack(f"<{len(fids)}I", *fids)


def thread(pid, tid, name):
    return b"T" + struct.pack("<II", pid, tid) + s(name)


def meta(text):
    b = text.encode()
    return b"M" + struct.pack("<I", len(b)) + b


HEAD = b"GSTK" + struct.pack("<I", 1)
TH = "/usr/lib/python3.11/threading.py"
FRAMES = [
    (0, PY, 0, "[unknown Python frame]", ""),
    (1, PY, 995, "Thread._bootstrap", TH),
    (2, PY, 1038, "Thread._bootstrap_inner", TH),
    (3, PY, 975, "Thread.run", TH),
    (4, PY, 9, "level3", "<string>"),
    (5, PY, 320, "Condition.wait", TH),
    (6, NATIVE, 0, "take_gil", "python3.11"),
    (7, NATIVE, 0, "__futex_abstimed_wait_common", "libc.so.6"),
    (8, NATIVE, 0, "python3.11+0x1f2e3", "python3.11"),
    (9, SYNTH, 0, "[GIL wait]", ""),
    (10, PY, 16, "caf\u00e9_\u540d\u524d_\U0001F40D", "/srv/app/m\u00f6dule.py"),
]


def table():
    first = HEAD + b"".join(frame(*f) for f in FRAMES[:6])
    first += stack(SREC_PYTHON, 0x1234567890abcdef, 4242, 0, [1, 2, 3, 4, 5])
    first += thread(4242, 4243, "worker-1") + thread(4242, 4244, "caf\u00e9-\u00ff")
    second = HEAD + b"".join(frame(*f) for f in FRAMES[6:])
    second += stack(SREC_NATIVE, 0x77, 4242, 0, [6, 7]) + stack(SREC_NATIVE, 0x78, 4242, 0, [8])
    second += stack(SREC_PYTHON, 0x1234567890abcdf0, 4242, 1, [1, 2, 10])
    second += thread(4242, 4245, "\u540d\u524d-\U0001F40D") + thread(4242, 4246, b"bad\xff\xfename")
    second += meta("sample_hz=99\nmax_python_frames=64\nrecords=12\nbad_records=0\n")
    return [first, second]


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus-stacktab")
    os.makedirs(outdir, exist_ok=True)
    first, second = table()
    seeds = {
        "recording-two-flushes": first + MARKER + second,
        "recording-one-payload": first + second[len(HEAD):],
        "frame-named-later": HEAD + stack(SREC_PYTHON, 1, 1, 0, [3]) + frame(3, PY, 1, "f", "x.py"),
        "unknown-frame-id": HEAD + frame(0, PY, 1, "f", "x.py") + stack(SREC_PYTHON, 1, 1, 0, [0, 99]),
        "long-name": HEAD + frame(0, PY, 2 ** 31 - 1, "n" * 4096, "f" * 4096) +
        stack(SREC_PYTHON, 2, 2, 0, [0] * 64),
        "empty": HEAD,
    }
    for name, data in seeds.items():
        with open(os.path.join(outdir, f"{name}.stk"), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
