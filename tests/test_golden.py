"""Golden outputs: every view (report, report --json, dump, every flame kind and
format, every timeline format) of the stored sessions in tests/golden/sessions,
rendered by the current ./gilscope, must be byte-identical to the stored
golden files (tests/golden/README.md). Replay only: no root, no BPF."""
import difflib
import hashlib
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
import make_golden as golden  # noqa: E402
import sched_account  # noqa: E402

SESSIONS = golden.stored_sessions()
CASES = [(name, view) for name in SESSIONS for view in golden.VIEWS]
MAX_DIFF_LINES = 40


def test_every_workload_has_a_stored_session():
    assert SESSIONS == sorted(golden.SESSIONS), \
        "missing sessions: re-record them with tests/golden/make_golden.py --record"


@pytest.mark.parametrize("name", SESSIONS)
def test_no_stray_golden_files(name):
    """A golden of a view that no longer exists would be compared with
    nothing: every stored file is one of the views."""
    expected = {v[0] for v in golden.VIEWS} | {v[0] + ".xz" for v in golden.VIEWS} | {"SHA256"}
    stray = set(os.listdir(golden.outputs_dir(name))) - expected
    assert not stray, f"{name}: files that are no view's golden: {sorted(stray)}"


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    dirs = {}

    def workdir(name):
        if name not in dirs:
            dirs[name] = str(tmp_path_factory.mktemp(name))
        return dirs[name]
    return workdir


def first_difference(want, got):
    """Up to MAX_DIFF_LINES lines that show where WANT and GOT part."""
    try:
        a = want.decode("utf-8").splitlines(keepends=True)
        b = got.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        a = b = None
    if a is not None:
        diff = list(difflib.unified_diff(a, b, "golden", "now", n=2))
        text = "".join(line if line.endswith("\n") else line + "\n"
                       for line in diff[:MAX_DIFF_LINES])
        more = len(diff) - MAX_DIFF_LINES
        return text + (f"... {more} more diff lines\n" if more > 0 else "")
    at = next((i for i, (x, y) in enumerate(zip(want, got)) if x != y), min(len(want), len(got)))
    lo = max(0, at - 16)
    return (f"binary, {len(want)} bytes golden, {len(got)} now; first difference at "
            f"byte {at}:\n  golden {want[lo:at + 16].hex(' ')}\n  now    {got[lo:at + 16].hex(' ')}\n")


@pytest.mark.parametrize("name,view", CASES, ids=[f"{n}-{v[0]}" for n, v in CASES])
def test_output_is_golden(name, view, workdirs):
    out_name = view[0]
    got = golden.render(name, view, workdirs(name))
    kind, want = golden.golden(name, out_name)
    update = (f"if the change is intended: /usr/bin/python3 tests/golden/make_golden.py "
              f"--update {name}")
    assert kind is not None, f"no golden {out_name} for {name}; {update}"
    if kind == "sha256":
        digest, size = want
        now = hashlib.sha256(got).hexdigest()
        if now != digest:
            pytest.fail(f"{name} {out_name} differs from its golden sha256 (stored as a hash "
                        f"only: {size} bytes golden, {len(got)} now; golden {digest}, now {now})"
                        f"\n{update}", pytrace=False)
        return
    if got != want:
        pytest.fail(f"{name} {out_name} differs from tests/golden/outputs/{name}/{out_name}:\n"
                    f"{first_difference(want, got)}{update}", pytrace=False)


@pytest.mark.parametrize("name", SESSIONS)
def test_on_cpu_within_the_scheduler(name, workdirs):
    """The report's on-CPU time per thread of the stored session against
    the scheduler's account re-derived from its raw events (replay only)."""
    path = os.path.join(workdirs(name), name + ".data")
    report = json.loads(golden.render(name, golden.view("report.json"), workdirs(name)))
    sched = sched_account.sched_of_report(golden.GILSCOPE, path, report)
    sched_account.check_on_cpu_within_the_scheduler(sched, report)


def test_scheduler_check_catches_runnable_time_counted_on_cpu(workdirs):
    """The check above can fail: a report that counted each thread's
    runnable time as on-CPU is caught (cpu_threads: threads runnable for
    ms while others run)."""
    name = "cpu_threads"
    path = os.path.join(workdirs(name), name + ".data")
    report = json.loads(golden.render(name, golden.view("report.json"), workdirs(name)))
    for p in report["processes"]:
        for t in p["threads"]:
            t["on_cpu_ns"] += t["runnable_ns"]
    sched = sched_account.sched_of_report(golden.GILSCOPE, path, report)
    with pytest.raises(AssertionError, match="on CPU"):
        sched_account.check_on_cpu_within_the_scheduler(sched, report)
