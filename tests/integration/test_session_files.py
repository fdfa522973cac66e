"""Session files that are damaged or hostile (docs/reliability.md): no
file, however truncated, corrupted or built to exhaust a reader, crashes a
reader or makes it run unbounded; a file read in part says so.
"""
import json
import os
import struct
import subprocess
import sys
import time
import zlib

import pytest

from conftest import GILSCOPE, PYTHON, ROOT, report

# the session file's framing (docs/session-format.md), as the fuzz corpus
# writes it
sys.path.insert(0, os.path.join(ROOT, "tests", "fuzz"))
from make_corpus import (CHUNK, EVENT, EVENTS, HOST, PROCESS, T0, THREAD,  # noqa: E402
                         TRAILER, chunk, header, kv)


def events(raw, count, level=1):
    return chunk(EVENTS, zlib.compress(raw, level), flags=1, raw_size=len(raw),
                 count=count)


HOSTC = kv(HOST, {"start_ns": T0, "mode": "exact"})
TRAILERC = kv(TRAILER, {"end_ns": T0 + 10**9, "finalized": 1})


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
        "bad-header-size": (header(header_size=8) + HOSTC, "damaged file header"),
        "header-only": (header(), "no readable header record"),
        "no-start": (header() + kv(HOST, {"mode": "exact"}) + TRAILERC,
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
        "chunk-claims-64MiB": header() + HOSTC + CHUNK.pack(
            0x4B484347, EVENTS, 1, big, big, 0, big // 48),
        "chunk-claims-4GiB": header() + HOSTC + CHUNK.pack(
            0x4B484347, EVENTS, 1, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0xFFFFFFFF),
        "count-disagrees": header() + HOSTC + events(b"\0" * 48, 0xFFFFFFFF)
        + TRAILERC,
        "raw-size-lies": header() + HOSTC + chunk(
            EVENTS, zlib.compress(b"\1" * 4800), flags=1, raw_size=48, count=1) + TRAILERC,
        "huge-header-size": header(header_size=0xFFFFFFFF) + HOSTC,
        "metadata-flags": header() + chunk(HOST, b"start_ns=1\n", flags=1, count=1),
        "unknown-chunk": header() + HOSTC + chunk(77, b"x" * 1000) + TRAILERC,
        "kv-no-equals": header() + HOSTC + chunk(PROCESS, b"pid\n", count=1),
        "kv-long-values": header() + kv(HOST, {"start_ns": T0, "command": "x" * 100000})
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
    return header() + HOSTC + events(raw, n) + TRAILERC


def many_images(n):
    return header() + HOSTC + b"".join(
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
    path.write_bytes(header() + HOSTC + one * 16 + TRAILERC)
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
    path.write_bytes(header() + HOSTC + one * 1100 + TRAILERC)
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
    path.write_bytes(header() + HOSTC + one + stacks * 5 + TRAILERC)
    run = subprocess.run(["prlimit", "--as=1000000000", GILSCOPE, "flame", "-o",
                          str(tmp_path / "f.folded"), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert "Sanitizer" not in run.stderr
    assert "1 stack table chunks past the first 256 MB were not read" in run.stderr, \
        run.stderr
