"""What users expect of a Unix tool: help per command, a man page that
renders, `make install`, output errors that fail, private session files,
and outputs that stay valid whatever bytes the traced program's names hold."""
import json
import os
import re
import stat
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import GILSCOPE, PYTHON, ROOT

MAN = os.path.join(ROOT, "docs", "gilscope.1")
COMMANDS = ("record", "report", "timeline", "flame", "top", "dump", "version")


def gs(*args, **kw):
    return subprocess.run([GILSCOPE, *args], capture_output=True, text=True, timeout=120, **kw)


# ------------------------------------------------------------ help and man


def man_section(command):
    """The roff text of COMMAND's section of the man page, with \\- as -."""
    text = open(MAN).read()
    m = re.search(r'^\.SS "gilscope %s\b.*?(?=^\.SS |^\.SH )' % command, text, re.M | re.S)
    assert m, f"no section for {command} in {MAN}"
    return re.sub(r"\\f[BIRP]", "", m.group(0)).replace("\\-", "-")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_each_command(command):
    """`help CMD` and `CMD --help` print CMD's own usage on stdout, exit 0,
    and every option it names is in the man page's section for CMD, and
    the other way round."""
    by_help = gs("help", command)
    by_flag = gs(command, "--help")
    assert by_help.returncode == 0 and by_flag.returncode == 0, by_help.stderr + by_flag.stderr
    assert by_help.stdout == by_flag.stdout
    assert by_help.stdout.startswith(f"usage: gilscope {command}"), by_help.stdout
    section = man_section(command)
    in_help = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", by_help.stdout)) - {"--help"}
    in_man = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", section))
    assert in_help == in_man, (command, sorted(in_help ^ in_man))


def test_record_help_lists_its_options():
    out = gs("record", "--help").stdout
    for opt in ("-o, --output", "-d, --duration", "-p, --pid", "-a, --all", "-b, --buffer-mb",
                "--light", "--lock ACQ:REL", "--sample-hz", "--no-stacks", "--no-debuginfo",
                "-v, --verbose", "-q, --quiet"):
        assert opt in out, opt


def test_help_errors():
    run = gs("help", "nosuch")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.startswith("gilscope: no help on 'nosuch'\n")
    overview = gs("help")
    assert overview.returncode == 0
    for command in COMMANDS:
        assert f"gilscope {command}" in overview.stdout, command


def test_man_page_renders_without_warnings():
    env = dict(os.environ, MANWIDTH="80")
    run = subprocess.run(["man", "--warnings", "-l", MAN], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert run.stdout.startswith("GILSCOPE(1)"), run.stdout[:200]
    for command in COMMANDS:
        assert re.search(rf"^   gilscope {command}\b", run.stdout, re.M), command
    # the page's version is the binary's
    version = gs("version").stdout.split()[1]
    assert re.search(r'^\.TH GILSCOPE 1 "[^"]*" "gilscope %s"' % re.escape(version),
                     open(MAN).read(), re.M)


def test_make_install_into_a_prefix(tmp_path):
    prefix = tmp_path / "prefix"
    run = subprocess.run(["make", "-s", "-C", ROOT, "install", f"PREFIX={prefix}"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    binary = prefix / "bin" / "gilscope"
    page = prefix / "share" / "man" / "man1" / "gilscope.1"
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert page.read_bytes() == open(MAN, "rb").read()
    help_ = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=30)
    assert help_.returncode == 0 and help_.stdout.startswith("usage: gilscope record")
    shown = subprocess.run(["man", str(page)], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MANWIDTH="80"))
    assert "gilscope record" in shown.stdout


# ------------------------------------------------------------ a full disk

WRITTEN = ("tl.json", "tl.html", "tl.pftrace", "f.svg", "f.folded", "f.speedscope.json",
           "f.pb.gz")


@pytest.mark.parametrize("out", WRITTEN)
def test_timeline_and_flame_on_a_full_disk_fail_in_one_line(tmp_path, out):
    """Every timeline and flame format written onto a full disk (a tmpfs
    filled up, private mount namespace): one line that says why, status 1,
    no file left behind."""
    session = os.path.join(ROOT, "tests", "golden", "sessions", "cpu_threads.data")
    mnt = tmp_path / "full"
    mnt.mkdir()
    command = "timeline" if out.startswith("tl.") else "flame"
    script = (f"mount -t tmpfs -o size=16k none {mnt} && "
              f"{{ dd if=/dev/zero of={mnt}/fill bs=4k 2>/dev/null; true; }} && "
              f"{GILSCOPE} {command} -o {mnt}/{out} {session}; rc=$?; ls {mnt}; exit $rc")
    run = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                          script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stderr == f"gilscope: cannot write {mnt}/{out}: No space left on device\n"
    assert run.stdout.split() == ["fill"]


# ------------------------------------------------------- a hostile session

# a thread name and a file name that are not UTF-8, and a command line with
# newlines (python3 -c "..."): what a real program can have
PROG = b"""
import ctypes, threading, time
libc = ctypes.CDLL(None)


def spin(name):
    libc.prctl(15, name, 0, 0, 0)
    end = time.perf_counter() + 0.4
    while time.perf_counter() < end:
        pass


threads = [threading.Thread(target=spin, args=(b"sp\\xff\\xfein%d" % i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("spun")
"""
LAUNCHER = ("import sys\n# runs the file named in argv[1]\n"
            "exec(compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec'))")
THREAD = "sp\xff\xfein"  # the name as the JSON's \u00XX give it back
# the file name: Python keeps the bytes \xff\xfe as the surrogates
# U+DCFF U+DCFE, which gilscope reads from its memory (UTF-8 of a surrogate
# is not valid UTF-8: \xed\xb3\xbf)
FILE_TAIL = "w\xed\xb3\xbf\xed\xb3\xbe.py"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    prog = os.path.join(os.fsencode(str(d)), b"w\xff\xfe.py")
    with open(prog, "wb") as f:
        f.write(PROG)
    data = d / "hostile.data"
    data.write_text("an older file, world-readable")
    os.chmod(data, 0o644)
    run = subprocess.run([GILSCOPE, "record", "-q", "-o", str(data), "--", PYTHON, "-c",
                          LAUNCHER, prog], capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == b"spun\n"
    return d, data


def all_strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from all_strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from all_strings(v)


def test_session_file_is_private(hostile, tmp_path):
    """Mode 0600, also over a file that was 0644; a device is left alone."""
    _, data = hostile
    assert stat.S_IMODE(data.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh.data"
    run = gs("record", "-q", "-o", str(fresh), "--", "/bin/true")
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    null_mode = os.stat("/dev/null").st_mode
    run = gs("record", "-q", "-o", "/dev/null", "--", "/bin/true")
    assert run.returncode == 0, run.stderr
    assert os.stat("/dev/null").st_mode == null_mode


def test_report_json_holds_the_names(hostile):
    _, data = hostile
    run = subprocess.run([GILSCOPE, "report", "--json", str(data)], capture_output=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    rep = json.loads(run.stdout.decode("utf-8"))
    # the threads' OS names (prctl): `os_name` beside their Python `name`
    names = sorted(t.get("os_name") or t["name"] for p in rep["processes"]
                   for t in p["threads"])
    assert names.count(THREAD + "0") == 1 and names.count(THREAD + "1") == 1, names
    assert "\n# runs the file" in rep["processes"][0]["command"]


def test_timeline_json_and_html_are_valid(hostile):
    d, data = hostile
    for ext in ("json", "html"):
        out = d / f"tl.{ext}"
        run = gs("timeline", "-o", str(out), str(data))
        assert run.returncode == 0, run.stderr
    # strict UTF-8 and strict JSON
    trace = json.loads((d / "tl.json").read_bytes().decode("utf-8"))
    names = {e["args"]["name"] for e in trace["traceEvents"]
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    # tracks carry the Python names (the OS names with their stray bytes
    # are in the report's os_name; the one escaper is unit-tested)
    assert {"Thread-1 (spin)", "Thread-2 (spin)"} <= names, names
    page = (d / "tl.html").read_bytes().decode("utf-8")
    m = re.search(r'<script type="application/json" id="gsdata">(.*?)</script>', page, re.S)
    assert m
    strings = set(all_strings(json.loads(m.group(1))))
    assert "Thread-1 (spin)" in strings and "Thread-2 (spin)" in strings
    # the command in the page's title on one line, as the report shows it
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "\n" not in title and "import sys\\n# runs the file" in title, title
    # and as the process's name in the Chrome JSON and the Perfetto trace
    procs = [e["args"]["name"] for e in trace["traceEvents"]
             if e.get("ph") == "M" and e.get("name") == "process_name"
             and "# runs the file" in e["args"]["name"]]
    assert len(procs) == 1 and "import sys\\n# runs the file" in procs[0], procs
    out = d / "tl.pftrace"
    run = gs("timeline", "-o", str(out), str(data))
    assert run.returncode == 0, run.stderr
    raw = out.read_bytes()
    assert b"import sys\\n# runs the file" in raw and b"import sys\n# runs" not in raw


def test_flame_outputs_are_valid(hostile):
    d, data = hostile
    out = d / "f.speedscope.json"
    run = gs("flame", "--what", "oncpu", "-o", str(out), str(data))
    assert run.returncode == 0, run.stderr
    prof = json.loads(out.read_bytes().decode("utf-8"))
    files = {f.get("file", "") for f in prof["shared"]["frames"]}
    assert any(f.endswith("/" + FILE_TAIL) for f in files), files
    svg = d / "f.svg"
    run = gs("flame", "--what", "oncpu", "-o", str(svg), str(data))
    assert run.returncode == 0, run.stderr
    texts = " ".join(ET.parse(svg).getroot().itertext())
    assert "spin (" in texts and FILE_TAIL in texts


def test_report_shows_the_command_on_one_line(hostile):
    _, data = hostile
    run = subprocess.run([GILSCOPE, "report", str(data)], capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    # thread names are printed as they are, like ps(1) does
    text = run.stdout.decode("utf-8", errors="surrogateescape")
    shown = "-c import sys\\n# runs the file named in argv[1]\\nexec(compile("
    lines = text.splitlines()
    recorded = [l for l in lines if l.startswith("recorded: ")]
    process = [l for l in lines if l.startswith("process ")]
    assert len(recorded) == 1 and shown in recorded[0], recorded
    assert recorded[0].endswith("/w\\xff\\xfe.py"), recorded
    assert len(process) == 1 and shown in process[0], process
    assert not any(l.startswith("# runs the file") for l in lines)


def test_dump_shows_one_event_or_process_per_line(hostile):
    """dump's lines stay one per event or process: the command (newlines)
    and the names escaped as the report shows them."""
    _, data = hostile
    run = subprocess.run([GILSCOPE, "dump", str(data)], capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.decode("utf-8").splitlines()
    odd = [l for l in lines if not re.match(r"# process |# damaged: | +\d+\.\d{6} cpu", l)]
    assert not odd, odd[:5]
    shown = "command=" + PYTHON + " -c import sys\\n# runs the file named in argv[1]\\n"
    assert any(shown in l for l in lines if l.startswith("# process ")), lines[:3]


@pytest.mark.parametrize("args", [("report",), ("report", "--json"), ("dump",), ("help",),
                                  ("version",)], ids=lambda a: "-".join(a))
def test_output_to_dev_full_fails_in_one_line(hostile, args):
    _, data = hostile
    argv = [*args, str(data)] if args[0] in ("report", "dump") else list(args)
    with open("/dev/full", "w") as full:
        run = subprocess.run([GILSCOPE, *argv], stdout=full, stderr=subprocess.PIPE,
                             text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stderr == "gilscope: cannot write the output: No space left on device\n"
