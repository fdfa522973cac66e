"""Run the C unit tests (cmocka), plain and under ASan/UBSan, as pytest items."""
import glob
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARIES = sorted(glob.glob(os.path.join(ROOT, "build", "unit", "test_*")) +
                  glob.glob(os.path.join(ROOT, "build", "unit-san", "test_*")))


def test_unit_binaries_were_built():
    assert BINARIES, "no unit test binaries: run `make test`, not pytest alone"


@pytest.mark.parametrize("binary", BINARIES,
                         ids=[os.path.relpath(b, os.path.join(ROOT, "build")) for b in BINARIES])
def test_cmocka(binary):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    run = subprocess.run([binary], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    print(run.stdout[-4000:], run.stderr[-4000:])
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "[  PASSED  ]" in run.stdout + run.stderr
    # cmocka counts a skip() as passed: say it (the tests that need Debian's
    # python3.11 build and its debug file skip without them)
    skipped = re.findall(r"^\[  SKIPPED \] (?!\d+ test)(\S+)", run.stdout + run.stderr, re.M)
    if skipped:
        pytest.skip(f"cmocka skipped {len(skipped)}: {', '.join(sorted(set(skipped)))}")


C_SOURCES = sorted(glob.glob(os.path.join(ROOT, d, pat))
                   for d in ("bpf", "user/*", "tests/unit", "tests/fuzz")
                   for pat in ("*.c", "*.h"))


def test_c_sources_are_clang_format_clean():
    """The C sources follow .clang-format (kernel style); `make format` fixes them."""
    files = [f for group in C_SOURCES for f in group]
    assert len(files) > 50
    run = subprocess.run(["clang-format", "--dry-run", "-Werror", *files], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
