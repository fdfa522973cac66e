"""The layers of user/ (docs/architecture.md): what may include what.

The rule is read from the table at the top of docs/architecture.md, so the
document and the check are one fact. With it, what keeps the house easy to
change (issue 18): no file over 800 lines, session keys named once, no
function only tests use, comments and documents that name files and
functions as they are."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_BPF = {"gilscope.h", "stackrec.h", "syscalls_shared.h"}  # bpf/: records shared with userspace
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def rule():
    doc = open(os.path.join(ROOT, "docs/architecture.md")).read()
    block = doc.split("<!-- layers:", 1)[1].split("```", 2)[1]
    lines = [ln.split() for ln in block.strip().splitlines()[1:]]
    return {ln[0]: set(ln[1:]) for ln in lines}


def sources():
    return sorted(glob.glob(os.path.join(ROOT, "user", "**", "*.[ch]"), recursive=True))


def violations(layers, path, text):
    rel = os.path.relpath(path, os.path.join(ROOT, "user"))
    if os.sep not in rel:
        return [f"user/{rel}: not in a layer folder"]
    layer = rel.split(os.sep)[0]
    if layer not in layers:
        return [f"user/{rel}: folder {layer}/ is not a layer of docs/architecture.md"]
    found = []
    for inc in INCLUDE.findall(text):
        if inc in SHARED_BPF or (inc == "gilscope.skel.h" and layer == "record"):
            continue
        target = inc.split("/")[0] if "/" in inc else None
        if target is None:
            found.append(f"user/{rel}: includes \"{inc}\" without its layer")
        elif target not in layers[layer]:
            found.append(f"user/{rel}: {layer} may not include {inc}")
    return found


def test_every_include_follows_the_layers():
    layers = rule()
    assert {"common", "session", "record", "analysis", "views", "cmd"} <= set(layers)
    files = sources()
    assert len(files) > 80
    bad = [v for f in files for v in violations(layers, f, open(f).read())]
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_bad_include():
    layers = rule()
    path = os.path.join(ROOT, "user", "analysis", "x.c")
    assert violations(layers, path, '#include "views/report.h"\n')
    assert violations(layers, path, '#include "report.h"\n')
    assert violations(layers, path, '#include "gilscope.skel.h"\n')
    assert not violations(layers, path, '#include "session/session.h"\n#include "gilscope.h"\n')


def test_no_source_file_over_800_lines():
    """Files split along their seams before they pass ~800 lines (issue 18):
    gilscope's, its C tests', and the Python of tests/, bench/ and scripts/."""
    files = sources() + sorted(glob.glob(os.path.join(ROOT, "bpf", "*.[ch]")) +
                               glob.glob(os.path.join(ROOT, "tests", "**", "*.[ch]"),
                                         recursive=True) +
                               [f for d in ("tests", "bench", "scripts") for f in
                                glob.glob(os.path.join(ROOT, d, "**", "*.py"), recursive=True)])
    long = [f"{os.path.relpath(f, ROOT)}: {n} lines" for f in files
            if (n := sum(1 for _ in open(f))) > 800]
    assert not long, "\n".join(long)


KEYS_H = os.path.join(ROOT, "user", "session", "keys.h")
# a key=value call whose key is a string literal: kv_get(&s->host, "mode")
# (host_value: timeline.c's reader of HOST keys)
KV_LITERAL = re.compile(r'\b(?:kv_(?:set|setf|get|get_u64|has)|host_value)\(\s*[^,;()]+(?:\([^()]*\))?[^,;()]*,'
                        r'\s*"([^"]*)"', re.S)
COMPARED = re.compile(r'\bstrn?cmp\(([^;]*?)\)', re.S)


def spelled_values():
    """The session values keys.h names (modes, origins)."""
    text = open(KEYS_H).read()
    return set(re.findall(r'^#define GS_(?:MODE|ORIGIN)_\w+ "([^"]+)"', text, re.M))


def session_literals(path, text, values):
    """Session keys and values spelled out in PATH instead of named."""
    rel = os.path.relpath(path, ROOT)
    found = [f"{rel}: key \"{k}\" not from session/keys.h" for k in KV_LITERAL.findall(text)]
    for args in COMPARED.findall(text):
        found += [f"{rel}: value \"{v}\" not from session/keys.h"
                  for v in re.findall(r'"([^"]*)"', args) if v in values]
    return found


def test_session_keys_are_named_in_one_place():
    """Every session key (and mode, origin) is read and written by its name
    in session/keys.h (issue 18: one fact in one place)."""
    values = spelled_values()
    assert {"light", "exact", "launch", "attach"} <= values
    bad = [v for f in sources() if f != KEYS_H
           for v in session_literals(f, open(f).read(), values)]
    assert not bad, "\n".join(bad)


def test_the_key_check_catches_a_literal():
    values = spelled_values()
    assert session_literals("x.c", 'kv_get(&f->sess.host, "mode");', values)
    assert session_literals("x.c", 'kv_get_u64(kv,\n\t\t"pid", 0);', values)
    assert session_literals("x.c", 'kv_setf(m, "sample_hz", "%u", hz);', values)
    assert session_literals("x.c", 'host_value(&rp, "cpus")', values)
    assert session_literals("x.c", 'm && !strcmp(m, "light")', values)
    assert not session_literals("x.c", 'kv_get(&s->host, GS_KEY_MODE);\n'
                                'kv_setf(m, GS_KEY_PID, "%u", pid);\n'
                                '!strcmp(method, "handoff")', values)


# Functions a header offers that only tests call, each on purpose: a hook a
# test needs and the program cannot do without its private tables.
TEST_HOOKS = {
    "tfile_quiet": "silences the skipped-file lines that fuzzers and unit tests provoke",
    "pydo_layout_bytes": "the size of a version's _Py_DebugOffsets, for synthetic tables",
    "pydo_write": "the inverse of pydo_parse(), for synthetic tables",
    "stacktab_encode": "the whole table at once: what stacktab_flush()'s payloads must add up to",
}
DECLARED = re.compile(r'^(?!typedef\b|static\b)[A-Za-z_][\w \*]*?\b([a-z_]\w*)\(', re.M)
COMMENT = re.compile(r'/\*.*?\*/|//[^\n]*', re.S)


def unused_functions(texts):
    """Functions declared in a header of TEXTS ({path: text}) that no file
    of TEXTS calls or takes the address of (comments do not count)."""
    code = {p: COMMENT.sub(" ", t) for p, t in texts.items()}
    declared = {n for p, t in code.items() if p.endswith(".h") for n in DECLARED.findall(t)}
    unused = []
    for name in sorted(declared):
        use = re.compile(r'\b%s\b' % name)
        own = re.compile(r'^[A-Za-z_][\w \*]*?\b%s\(' % name)  # its declaration, definition
        if not any(use.search(ln) and not own.match(ln)
                   for t in code.values() for ln in t.splitlines()):
            unused.append(name)
    return unused


def test_no_function_only_tests_use():
    """Dead code (issue 18): every function a header of user/ declares is
    used by gilscope itself, but for the TEST_HOOKS."""
    unused = unused_functions({f: open(f).read() for f in sources()})
    assert set(unused) == set(TEST_HOOKS), sorted(set(unused) ^ set(TEST_HOOKS))


def test_the_unused_check_catches_one():
    texts = {"a.h": "/* b() is not a use */\nint b(int x);\nconst char *c(void);\n",
             "a.c": "int b(int x)\n{\n\treturn x;\n}\n\nconst char *c(void)\n{\n"
                    "\treturn b(1) ? \"\" : 0;\n}\n"}
    assert unused_functions(texts) == ["c"]


# A path of the tree named in a comment or a document (user/views/report.c,
# user/session/session_*.c); #include lines name headers, not paths
PATH_REF = re.compile(r'(?<![\w/.<-])((?:user|bpf|tests|docs|scripts|bench|workloads)'
                      r'/[\w./*-]*[\w*])')


def stale_paths(name, text):
    """Paths of the tree TEXT names that do not exist (placeholders such as
    tests/fuzz/crashes/FILE aside)."""
    text = re.sub(r'^\s*#\s*include\b.*$', '', text, flags=re.M)
    found = []
    for m in PATH_REF.finditer(text):
        path = m.group(1).rstrip(".")
        if re.search(r'/[A-Z]+$', path) or glob.glob(os.path.join(ROOT, path)):
            continue
        found.append(f"{name}:{text.count(chr(10), 0, m.start()) + 1}: {path}")
    return found


def test_paths_named_in_sources_and_docs_exist():
    """Comments and documents name the files as they are now (issue 18: stale
    docs). The bugs found in docs/reliability.md keep the paths of the tree
    they were found in."""
    names = (sources() + glob.glob(os.path.join(ROOT, "bpf", "*.[ch]")) +
             glob.glob(os.path.join(ROOT, "tests", "**", "*.[ch]"), recursive=True) +
             glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True) +
             glob.glob(os.path.join(ROOT, "docs", "*.md")) +
             [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "tests/golden/README.md")])
    bad = []
    for f in sorted(set(names) - {os.path.abspath(__file__)}):  # its examples
        text = open(f, encoding="utf-8", errors="replace").read()
        if f.endswith("docs/reliability.md"):
            text = text.split("\n## Bugs found", 1)[0]
        bad += stale_paths(os.path.relpath(f, ROOT), text)
    assert not bad, "\n".join(bad)


def test_the_path_check_catches_a_stale_one():
    assert stale_paths("x.c", "/* the report's phases (user/phases_report.h) */")
    assert stale_paths("x.md", "graphs (`user/flame*.c`)")
    assert not stale_paths("x.md", "`user/session/session_*.c` and user/views/report.c.\n"
                           '#include "bpf/libbpf.h"\ntests/fuzz/crashes/FILE')


# Python's own functions that C comments name: sleep(), co_positions()
PYTHON_FUNCTIONS = {"sleep", "co_positions"}
CALLED_IN_COMMENT = re.compile(r'\b([a-z_][a-z0-9_]{3,})\(\)')


def stale_functions(texts):
    """Functions named in the comments of TEXTS ({path: C text}) as f() that
    no code of TEXTS calls or defines."""
    code = "\n".join(COMMENT.sub(" ", t) for t in texts.values())
    found = []
    for path, text in texts.items():
        for comment in COMMENT.findall(text):
            found += [f"{path}: {n}()" for n in CALLED_IN_COMMENT.findall(comment)
                      if n not in PYTHON_FUNCTIONS and not re.search(r'\b%s\s*\(' % n, code)]
    return found


def test_functions_named_in_comments_exist():
    """A comment that sends the reader to f() names a function that is there."""
    files = (sources() + glob.glob(os.path.join(ROOT, "bpf", "*.[ch]")) +
             glob.glob(os.path.join(ROOT, "tests", "unit", "*.[ch]")) +
             glob.glob(os.path.join(ROOT, "tests", "fuzz", "*.[ch]")))
    bad = stale_functions({os.path.relpath(f, ROOT): open(f).read() for f in files})
    assert not bad, "\n".join(bad)


def test_the_function_check_catches_a_stale_one():
    texts = {"a.c": "/* filled by interp_gil_layout() and fill() */\n"
                    "static void fill(void)\n{\n}\n"}
    assert stale_functions(texts) == ["a.c: interp_gil_layout()"]
