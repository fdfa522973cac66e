"""Run the C unit tests (cmocka), plain and under ASan/UBSan, as pytest items."""
import glob
import os
import re
import subprocess
import sys

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
    check_skips(run.stdout + run.stderr)


def build_id(path):
    notes = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    return m[1] if m else None


def unmet(need):
    """Whether the NEED a skipped test named ("PATH" or "PATH build-id ID")
    is really not met on this machine."""
    path, _, build = need.partition(" build-id ")
    if not os.access(path, os.R_OK):
        return True
    return bool(build) and build_id(path) != build


def check_skips(output):
    """cmocka counts a skip() as passed. A unit test skips only when this
    machine lacks a file it needs, and says which on a "[  NEEDS   ]" line
    (Debian's python3.11 of one build and its debug file, pyenv's
    interpreters): a skip that names no need, or one that is met after all,
    fails; the others show as a pytest skip that says what is missing."""
    skipped = sorted(set(re.findall(r"^\[  SKIPPED \] (?!\d+ test)(\S+)", output, re.M)))
    needs = sorted(set(re.findall(r"^\[  NEEDS   \] (.+)$", output, re.M)))
    if not skipped:
        assert not needs, needs
        return
    assert needs, f"cmocka skipped {', '.join(skipped)} without a [  NEEDS   ] line"
    met = [n for n in needs if not unmet(n)]
    assert not met, f"cmocka skipped {', '.join(skipped)} although they have {met}"
    pytest.skip(f"cmocka skipped {len(skipped)} ({', '.join(skipped)}): "
                f"this machine lacks {'; '.join(needs)}")


def test_skips_must_name_an_unmet_need():
    """check_skips fails a skip without a need, or with a need that is met."""
    skip = "[  SKIPPED ] test_deb_basic\n"
    with pytest.raises(AssertionError, match="without"):
        check_skips(skip)
    with pytest.raises(AssertionError, match="although"):
        check_skips(skip + f"[  NEEDS   ] {sys.executable}\n")
    with pytest.raises(pytest.skip.Exception, match="lacks /nonexistent"):
        check_skips(skip + "[  NEEDS   ] /nonexistent\n")
    real = os.path.realpath(sys.executable)
    if build_id(real):
        with pytest.raises(AssertionError, match="although"):
            check_skips(skip + f"[  NEEDS   ] {real} build-id {build_id(real)}\n")
        with pytest.raises(pytest.skip.Exception, match="lacks"):
            check_skips(skip + f"[  NEEDS   ] {real} build-id {'0' * 40}\n")


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
