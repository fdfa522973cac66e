"""Every fuzz target's seeds and past findings, run once under ASan and UBSan.

`make test` builds each libFuzzer target of tests/fuzz/ a second time with a
plain main() (tests/fuzz/replay_main.c) and the unit tests' sanitizers, into
build/fuzz-replay/; this runs each over its seed corpus and its regression
inputs (the inputs of past findings, docs/reliability.md), so that a
finding fixed once stays fixed without libFuzzer's runtime.
"""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
# target: (seed corpus, regression inputs), as FUZZ_SEEDS_x / FUZZ_CRASHES_x
# in the Makefile
TARGETS = {
    "session": ("corpus", "crashes"),
    "timeline": ("corpus", "crashes"),
    "elf": ("corpus-elf", "crashes-elf"),
    "pymem": ("corpus-pymem", "crashes-pymem"),
    "stacktab": ("corpus-stacktab", "crashes-stacktab"),
}


def inputs(d):
    path = os.path.join(FUZZ, d)
    return sorted(os.path.join(path, f) for f in os.listdir(path) if not f.startswith("."))


def test_every_target_has_seeds_and_a_replay_binary():
    for target, (seeds, crashes) in TARGETS.items():
        assert inputs(seeds), target
        assert os.path.isdir(os.path.join(FUZZ, crashes)), target
        assert os.access(os.path.join(ROOT, "build", "fuzz-replay", f"fuzz_{target}"),
                         os.X_OK), "run `make test`, not pytest alone"


# every (target, seeds or regressions) that has inputs; a target without
# findings yet has an empty directory (kept by its .gitkeep)
CASES = [(t, kind) for t in sorted(TARGETS) for kind, d in zip(("seeds", "regressions"), TARGETS[t])
         if inputs(d)]


@pytest.mark.parametrize("target,kind", CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_fuzz_inputs_replay_clean(target, kind):
    seeds, crashes = TARGETS[target]
    files = inputs(seeds if kind == "seeds" else crashes)
    binary = os.path.join(ROOT, "build", "fuzz-replay", f"fuzz_{target}")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    run = subprocess.run([binary, *files], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, \
        run.stderr[-4000:]
    assert f"{len(files)} inputs run" in run.stdout
