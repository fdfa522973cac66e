"""Minimal reader of gilscope session files for the bench (docs/session-format.md).

    python3 bench/gsfile.py FILE     # events by type, bytes/event, lost, span

Metadata (HOST, PROCESS, TRAILER) is parsed; EVENTS chunks are only
inflated when events are asked for (counts by type, first timestamp).
"""
import collections
import json
import os
import struct
import sys
import zlib

EVENT = struct.Struct("<QIIBBHI3Q")  # 48 bytes
CHUNK = struct.Struct("<IHHIIII")  # 24 bytes
CHUNK_MAGIC = 0x4B484347
TYPES = {1: "switch", 2: "waking", 3: "wakeup", 4: "wakeup_new", 5: "fork",
         6: "exec", 7: "exit", 8: "sys_enter", 9: "sys_exit", 10: "gil_take",
         11: "cond_signal", 12: "switchnum", 13: "lock_acquire",
         14: "lock_release", 15: "user_lock", 16: "stack"}


def _unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append("\n" if s[i + 1] == "n" else s[i + 1])
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _kv(payload):
    kv = {}
    for line in payload.decode("utf-8", "replace").split("\n"):
        i = 0
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == "=":
                kv[_unescape(line[:i])] = _unescape(line[i + 1:])
                break
            i += 1
    return kv


def read(path, events=False, first_of_tgid=None):
    """Summary of a session: host, trailer, per-type counts (events=True),
    first event ts overall and of process FIRST_OF_TGID."""
    host, trailer, procs = {}, {}, []
    counts = collections.Counter()
    n_events = 0
    first_ts = None
    first_tgid_ts = None
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
        if len(head) < 16 or head[:8] != b"GILSCOPE":
            raise ValueError(f"{path}: not a gilscope session file")
        _, _, header_size = struct.unpack("<8sII", head)
        f.seek(header_size)
        while True:
            h = f.read(CHUNK.size)
            if len(h) < CHUNK.size:
                break
            magic, ctype, flags, csize, raw, crc, count = CHUNK.unpack(h)
            if magic != CHUNK_MAGIC:
                break
            if ctype == 3:
                n_events += count
                if not events:
                    f.seek(csize, 1)
                    continue
                payload = f.read(csize)
                data = zlib.decompress(payload) if flags & 1 else payload
                for ev in EVENT.iter_unpack(data[:count * EVENT.size]):
                    counts[TYPES.get(ev[3], str(ev[3]))] += 1
                    if first_ts is None or ev[0] < first_ts:
                        first_ts = ev[0]
                    if first_of_tgid is not None and ev[2] == first_of_tgid and \
                            (first_tgid_ts is None or ev[0] < first_tgid_ts):
                        first_tgid_ts = ev[0]
                continue
            payload = f.read(csize)
            if ctype == 1:
                host.update(_kv(payload))
            elif ctype == 2:
                procs.append(_kv(payload))
            elif ctype == 5:
                trailer.update(_kv(payload))
    start = int(host.get("start_ns", 0))
    end = int(trailer.get("end_ns", 0))
    span = (end - start) / 1e9 if end > start else 0.0
    return {
        "bytes": size,
        "events": n_events,
        "trailer_events": int(trailer.get("events", -1)),
        "lost": int(trailer.get("lost", -1)),
        "lost_by_type": {k[5:]: int(v) for k, v in trailer.items()
                         if k.startswith("lost_")},
        "span_s": span,
        "events_per_s": n_events / span if span else 0.0,
        "bytes_per_event": size / n_events if n_events else 0.0,
        "start_ns": start,
        "first_ts": first_ts,
        "first_tgid_ts": first_tgid_ts,
        "by_type": dict(counts.most_common()),
        "mode": host.get("mode"),
        "ringbuf_bytes": int(host.get("ringbuf_bytes", 0)),
        "stop_reason": trailer.get("stop_reason"),
    }


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(p, json.dumps(read(p, events=True), indent=1))
