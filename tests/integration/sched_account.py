"""The scheduler's account of a session, re-derived in Python from the raw
events `gilscope dump` prints, with nothing of the analysis: per thread, the
time between its switch-in and its switch-out (or its exit) on each CPU.

An upper bound of the thread's on-CPU time: the report may show less (the
time between a GIL release and a deadline sleep goes to the sleep, see
docs/accuracy.md), never more. Where a switch-out comes without the thread's
switch-in on that CPU (an event missing), the interval counts from that
CPU's previous switch; a thread on a CPU when the session starts or ends
counts from its start or to its end."""
import re
import subprocess

# "    0.098580 cpu0     15670/15670   switch        prev_state=0x0 next=1/81"
EVENT = re.compile(r"^\s*(\d+)\.(\d{6}) cpu(\d+)\s+\d+/(\d+)\s+(\S+)\s*(.*)$")
NEXT = re.compile(r"next=\d+/(\d+)")


class ThreadSched:
    def __init__(self):
        self.on_cpu_us = 0
        self.intervals = 0
        self.unseen_switch_ins = 0


def sched_of(gilscope, path, duration_ns):
    """{tid: ThreadSched} of the session PATH, DURATION_NS long."""
    dump = subprocess.run([gilscope, "dump", path], capture_output=True, text=True,
                          timeout=300, check=True).stdout
    running, since, out = {}, {}, {}

    def count(tid, cpu, until, unseen=False):
        t = out.setdefault(tid, ThreadSched())
        t.on_cpu_us += until - since.get(cpu, 0)
        t.intervals += 1
        t.unseen_switch_ins += unseen

    for line in dump.splitlines():
        m = EVENT.match(line)
        if not m:
            continue
        us, cpu, tid, kind = int(m[1]) * 1000000 + int(m[2]), int(m[3]), int(m[4]), m[5]
        if kind == "switch":
            # unseen: the CPU's last switch went to another task (not at
            # the session's start, nor after the thread's own exit)
            count(tid, cpu, us, unseen=running.get(cpu) not in (None, tid))
            running[cpu], since[cpu] = int(NEXT.search(m[6])[1]), us
        elif kind == "exit":
            for c, t in running.items():
                if t == tid:
                    count(tid, c, us)
                    running[c] = None
    end = (duration_ns + 999) // 1000
    for c, t in running.items():
        if t is not None:
            count(t, c, end)
    return out


def sched_of_report(gilscope, path, report):
    """sched_of the session PATH, whose JSON report is REPORT."""
    return sched_of(gilscope, path, report["session"]["duration_ns"])


def check_on_cpu_within_the_scheduler(sched, report, pids=None):
    """Every thread's on-CPU time in REPORT (of the processes PIDS, default
    all) is at most its time between switch-in and switch-out in SCHED (the
    session's sched_of), give or take the dump's microsecond per interval."""
    for p in report["processes"]:
        if pids is not None and p["pid"] not in pids:
            continue
        for t in p["threads"]:
            s = sched.get(t["tid"], ThreadSched())
            bound_ns = s.on_cpu_us * 1000 + 1000 * (s.intervals + 1)
            assert t["on_cpu_ns"] <= bound_ns, (
                f"thread {t['tid']} ({t['name']}) on CPU {t['on_cpu_ns']} ns in the report, "
                f"switched in {s.on_cpu_us} us over {s.intervals} intervals "
                f"({s.unseen_switch_ins} without a switch-in)")


def check_unseen_switch_ins(sched, report):
    """The session's count of switch-ins the kernel did not report (counted
    in BPF) is what the raw events in SCHED (its sched_of) show: traced
    threads leaving a CPU whose last switch went to another task."""
    session = report["session"]
    if session["cut_short"] and "no trailer" in (session["damage"] or ""):
        # the count is in the trailer, which a killed recorder never wrote
        assert session["unseen_switch_ins"] is None, session
        return
    tids = {t["tid"] for p in report["processes"] for t in p["threads"]}
    seen = sum(s.unseen_switch_ins for tid, s in sched.items() if tid in tids)
    # a child process is counted in BPF once the recorder has put it in
    # the traced map, a moment after its fork: each child may show one
    # unseen switch-in in the raw events that BPF did not count yet
    children = len(report["processes"]) - 1
    assert seen - children <= report["session"]["unseen_switch_ins"] <= seen, (
        report["session"]["unseen_switch_ins"], seen, report["session"]["file"])
