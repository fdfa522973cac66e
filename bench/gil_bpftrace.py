"""Write the bpftrace equivalent of gilscope's exact GIL accounting.

    python3 bench/gil_bpftrace.py [--release libc|entries] [PYTHON] > gil.bt
    bpftrace -c 'PYTHON script.py' gil.bt

The script keeps, per thread of the command bpftrace started (`cpid`), the
time spent waiting for the GIL (take_gil entry -> take_gil return) and
holding it (take_gil return -> next release), and the number of takes and
releases, in bpftrace maps: the same exact GIL accounting gilscope derives,
with the textbook probes (uprobe + uretprobe on take_gil, uprobe on the
release) and nothing else (no scheduler, no syscall events).

Addresses are resolved for the given interpreter (default
/usr/bin/python3.11, Debian's stripped, non-PIE, LTO build):

- take_gil: `take_gil` or `take_gil.lto_priv.N` from the interpreter's own
  .symtab or its debug file (/usr/lib/debug/.build-id/xx/yyyy.debug, package
  python3.11-dbg).
- the release: CPython signals the GIL's `cond` once per release, with a
  `call pthread_cond_signal` in drop_gil and in every copy LTO inlined
  (PyEval_SaveThread, _Py_read, os_stat, FileIO.write, os_listdir); gilscope
  probes those call sites. Debian's bpftrace 0.17 is built without
  instruction-boundary checking and refuses a uprobe inside a function
  ("Can't check if uprobe is in proper place (compiled without (k|u)probe
  offset support)"). Given the site's file offset instead of its address
  (`file_offset`; no symbol of a non-PIE file holds so low an address) and
  --unsafe, it attaches there unchecked: tests/integration/truth.py does
  that. This script keeps two substitutes, the cost comparisons of
  bench.py:

  --release libc (default): a uprobe on pthread_cond_signal's entry in libc
      (`push %r15`, an instruction the kernel emulates), keeping the calls
      whose argument is the GIL's cond (`_PyRuntime` + 0x168 + 0x20 for
      3.11; non-PIE interpreters only). Exact, one extra filtered hit per
      take (take_gil's own signal of `switch_cond`).
  --release entries: a uprobe on the entry of each function holding a
      release site (every call site to pthread_cond_signal outside
      take_gil): each releases the GIL once per call. But _Py_read, the hot
      one for read-heavy code, begins with `movabs $imm64,%rax`, which the
      kernel cannot emulate and single-steps (~10x the cost of an emulated
      instruction): shown for that comparison only.
"""
import functools
import os
import re
import subprocess
import sys


def build_id(path):
    out = subprocess.run(["readelf", "-nW", path], capture_output=True,
                         text=True).stdout
    m = re.search(r"Build ID:\s*([0-9a-f]+)", out)
    return m.group(1) if m else None


def func_symbols(path):
    """(start, size, name) of every FUNC symbol in .symtab/.dynsym."""
    out = subprocess.run(["readelf", "-sW", path], capture_output=True,
                         text=True).stdout
    syms = []
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 8 and p[3] == "FUNC" and p[6] != "UND":
            size = int(p[2], 16) if p[2].startswith("0x") else int(p[2])
            start = int(p[1], 16)
            if start and size:
                syms.append((start, size, p[7].split("@")[0]))
    return syms


@functools.lru_cache(maxsize=None)
def disassembly(python):
    """objdump's text of PYTHON's code, once per file."""
    return subprocess.run(["objdump", "-d", "--no-show-raw-insn", python],
                          capture_output=True, text=True).stdout


def instructions(python, pattern):
    """The addresses of PYTHON's instructions that match PATTERN (their
    text after the address, as objdump writes it)."""
    return tuple(int(site, 16) for site in
                 re.findall(rf"^\s*([0-9a-f]+):\s+{pattern}", disassembly(python), re.M))


def cond_signal_calls(python):
    """The instructions of PYTHON that call pthread_cond_signal (non-PIE; in
    3.11 all of them signal the GIL's cond or switch_cond)."""
    return instructions(python, r"call\s+[0-9a-f]+ <pthread_cond_signal@plt>")


def calls_to(python, function):
    """The instructions of PYTHON (non-PIE) that call or jump to FUNCTION's
    address."""
    return instructions(python, rf"(?:call|jmp)\s+{function:x} <")


@functools.lru_cache(maxsize=None)
def load_segments(path):
    """(file offset, address, size) of each of PATH's loaded segments."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True,
                         text=True).stdout
    return tuple(tuple(int(g, 16) for g in m.groups()) for m in re.finditer(
        r"^\s*LOAD\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+\s+(0x[0-9a-f]+)", out, re.M))


def file_offset(path, vaddr):
    """Where the instruction at VADDR sits in PATH: the offset a uprobe
    takes (non-PIE files load at their link addresses)."""
    for off, start, size in load_segments(path):
        if start <= vaddr < start + size:
            return vaddr - start + off
    raise SystemExit(f"{path}: no loaded segment holds {vaddr:#x}")


def resolve(python):
    bid = build_id(python)
    syms = func_symbols(python)
    if bid:
        dbg = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
        if os.path.exists(dbg):
            syms += func_symbols(dbg)
    take = [s for s in syms if re.fullmatch(r"take_gil(\.lto_priv\.\d+)?", s[2])]
    if not take:
        raise SystemExit(f"{python}: no take_gil symbol (install python3.11-dbg)")
    take = take[0]
    sites = cond_signal_calls(python)
    releases = {}
    for site in sites:
        if take[0] <= site < take[0] + take[1]:
            continue  # switch_cond: an acquisition
        owners = [s for s in syms if s[0] <= site < s[0] + s[1]]
        if not owners:
            raise SystemExit(f"{python}: no function holds the release site {site:#x}")
        start, _, name = min(owners, key=lambda s: s[1])
        releases[start] = (name, site)
    return take, releases


def gil_cond(python):
    """Runtime address of the GIL's cond in a non-PIE 3.11 interpreter."""
    head = subprocess.run(["readelf", "-hW", python], capture_output=True,
                          text=True).stdout
    if "EXEC" not in head:
        raise SystemExit(f"{python}: position-independent: use --release entries")
    out = subprocess.run(["readelf", "-sW", "--dyn-syms", python],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 8 and p[3] == "OBJECT" and p[7] == "_PyRuntime":
            return int(p[1], 16) + 0x168 + 0x20
    raise SystemExit(f"{python}: no _PyRuntime")


def libc_of(python):
    out = subprocess.run(["ldd", python], capture_output=True, text=True).stdout
    m = re.search(r"libc\.so\.6 => (\S+)", out)
    libc = os.path.realpath(m.group(1)) if m else "/lib/x86_64-linux-gnu/libc.so.6"
    out = subprocess.run(["readelf", "-sW", "--dyn-syms", libc],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 8 and p[7] == "pthread_cond_signal@@GLIBC_2.3.2":
            return libc, int(p[1], 16)
    raise SystemExit(f"{libc}: no pthread_cond_signal@@GLIBC_2.3.2")


def script(python, release="libc"):
    take, releases = resolve(python)
    if release == "libc":
        libc, sig = libc_of(python)
        cond = gil_cond(python)
        rel_probes = f"uprobe:{libc}:{sig:#x}"
        rel_filter = f"/pid == cpid && arg0 == {cond:#x}/"
        rel_doc = (f"//   pthread_cond_signal at {libc}:{sig:#x} on the GIL's cond {cond:#x}\n"
                   "//   (the call sites themselves, which gilscope probes:\n" +
                   "\n".join(f"//    {s:#x} in {n})" if i == len(releases) - 1 else
                             f"//    {s:#x} in {n}"
                             for i, (n, s) in enumerate(releases[a] for a in sorted(releases))))
    else:
        rel_probes = ",\n".join(f"uprobe:{python}:{a:#x}" for a in sorted(releases))
        rel_filter = "/pid == cpid/"
        rel_doc = "\n".join(f"//   {a:#x} {n} (call pthread_cond_signal at {s:#x})"
                            for a, (n, s) in sorted(releases.items()))
    return f"""// GIL accounting of the command started with -c, per thread:
// waiting (take_gil entry -> return), holding (take_gil return -> release).
// Generated by bench/gil_bpftrace.py for {python}
// take_gil: {take[2]} at {take[0]:#x}
// releases ({release}, see bench/gil_bpftrace.py):
{rel_doc}

uprobe:{python}:{take[0]:#x} /pid == cpid/
{{
	@wait_start[tid] = nsecs;
}}

uretprobe:{python}:{take[0]:#x} /pid == cpid/
{{
	$now = nsecs;
	$s = @wait_start[tid];
	if ($s != 0) {{
		@wait_ns[tid] += $now - $s;
		delete(@wait_start[tid]);
	}}
	@hold_start[tid] = $now;
	@takes[tid] = count();
}}

{rel_probes}
{rel_filter}
{{
	$s = @hold_start[tid];
	if ($s != 0) {{
		@hold_ns[tid] += nsecs - $s;
		delete(@hold_start[tid]);
	}}
	@releases[tid] = count();
}}

END
{{
	clear(@wait_start);
	clear(@hold_start);
}}
"""


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--release", choices=("libc", "entries"), default="libc")
    ap.add_argument("python", nargs="?", default="/usr/bin/python3.11")
    a = ap.parse_args()
    sys.stdout.write(script(a.python, a.release))
