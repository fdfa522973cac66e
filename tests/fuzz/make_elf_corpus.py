#!/usr/bin/env python3
"""Seed corpus of fuzz_elf: Debian's interpreters cut down to what gilscope reads.

A whole interpreter is 5-9 MB and its debug file 10-45 MB; gilscope reads a
small part of them: the ELF and program headers, the build-id note,
.gnu_debuglink, the dynamic symbols and the relocations that name
pthread_cond_signal and sem_*, the PLT stubs, the code around each call of
them (the hand-off and lock-result matchers read 24 bytes before and 8 after
a call), Py_Version and the head of _PyRuntime (3.13+: _Py_DebugOffsets),
and from the debug file the build-id and the function symbols (take_gil,
and those around the call sites, which filter them). This script writes a
new ELF file with exactly those parts at their original addresses and file
contents (each kept code window a section and a PT_LOAD of its own), and
the same for the debug file, joined as one fuzz input:

    MAIN [ "GSFZDBG1" DEBUG ]

Run as root on the development machine (it reads the chroots of
scripts/chroots.sh); the output is deterministic.

    python3 tests/fuzz/make_elf_corpus.py [OUTDIR]
"""
import os
import struct
import sys
import zlib

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
RELA = struct.Struct("<QQq")
DYN = struct.Struct("<qQ")
CHDR = struct.Struct("<IIQQ")
MARKER = b"GSFZDBG1"

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA, SHT_DYNAMIC, SHT_NOTE = 1, 2, 3, 4, 6, 7
SHT_DYNSYM = 11
SHF_ALLOC, SHF_EXECINSTR, SHF_COMPRESSED = 2, 4, 0x800
PT_LOAD, PT_NOTE = 1, 4
PF_X, PF_R = 1, 4
R_JUMP_SLOT, R_GLOB_DAT = 7, 6
STT_FUNC = 2
SHN_ABS = 0xfff1

IMPORTS = {"pthread_cond_signal", "sem_wait", "sem_trywait", "sem_clockwait",
           "sem_timedwait", "sem_post"}
DEFINED = {"_PyRuntime", "Py_Version", "_Py_DebugOffsets"}
LOCALS = ("take_gil", "drop_gil")
WINDOW = 48          # bytes kept before and after each call site
RUNTIME_HEAD = 2048  # bytes of _PyRuntime kept (the debug offsets lead it)


class Elf:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.b = f.read()
        e = EHDR.unpack_from(self.b, 0)
        self.ehdr = list(e)
        _, _, _, _, _, phoff, shoff, _, _, _, phnum, _, shnum, shstrndx = e
        self.phdrs = [PHDR.unpack_from(self.b, phoff + i * PHDR.size) for i in range(phnum)]
        self.shdrs = [SHDR.unpack_from(self.b, shoff + i * SHDR.size) for i in range(shnum)]
        strtab = self.shdrs[shstrndx]
        self.names = [self.cstr(strtab[4] + s[0]) for s in self.shdrs]

    def cstr(self, off):
        return self.b[off:self.b.index(b"\0", off)].decode()

    def data(self, i):
        sh = self.shdrs[i]
        raw = self.b[sh[4]:sh[4] + sh[5]]
        if sh[2] & SHF_COMPRESSED:
            raw = zlib.decompress(raw[CHDR.size:])
        return raw

    def find(self, name=None, type_=None):
        for i, sh in enumerate(self.shdrs):
            if (name is None or self.names[i] == name) and (type_ is None or sh[1] == type_):
                return i
        return None

    def symbols(self, type_):
        i = self.find(type_=type_)
        if i is None:
            return []
        data, strs = self.data(i), self.data(self.shdrs[i][6])
        out = []
        for k in range(len(data) // SYM.size):
            s = SYM.unpack_from(data, k * SYM.size)
            name = strs[s[0]:strs.index(b"\0", s[0])].decode()
            out.append((name, s))
        return out

    def file_bytes(self, vaddr, size):
        """The file bytes at VADDR (via PT_LOAD), or None."""
        for p in self.phdrs:
            if p[0] == PT_LOAD and p[3] <= vaddr and vaddr + size <= p[3] + p[5]:
                off = vaddr - p[3] + p[2]
                return self.b[off:off + size]
        return None


class Out:
    """Sections to write: (name, type, flags, addr, data, link, info, align, entsize)."""

    def __init__(self, ehdr):
        self.ehdr = ehdr
        self.secs = []
        self.loads = []  # section names that get a PT_LOAD of their own

    def add(self, name, type_, flags, addr, data, link=None, info=0, align=1, entsize=0,
            load=False):
        self.secs.append([name, type_, flags, addr, data, link, info, align, entsize])
        if load:
            self.loads.append(len(self.secs))  # index after the null section
        return len(self.secs)

    def write(self, exec_flags):
        shstr = b"\0"
        name_off = []
        for s in self.secs + [[".shstrtab"]]:
            name_off.append(len(shstr))
            shstr += s[0].encode() + b"\0"
        nph = len(self.loads) + 1
        off = EHDR.size + nph * PHDR.size
        body, offs = b"", []
        for s in self.secs:
            pad = (-off) % max(s[7], 1)
            body += b"\0" * pad
            off += pad
            offs.append(off)
            body += s[4]
            off += len(s[4])
        shstr_off = off
        body += shstr
        off += len(shstr)
        off += (-off) % 8
        body += b"\0" * (off - shstr_off - len(shstr))
        shoff = off
        phdrs = b""
        note = [i for i, s in enumerate(self.secs) if s[1] == SHT_NOTE]
        if note:
            s = self.secs[note[0]]
            phdrs += PHDR.pack(PT_NOTE, PF_R, offs[note[0]], s[3], s[3], len(s[4]),
                               len(s[4]), 4)
        else:
            phdrs += PHDR.pack(0, 0, 0, 0, 0, 0, 0, 0)
        for k in self.loads:
            s = self.secs[k - 1]
            flags = PF_R | (PF_X if s[2] & SHF_EXECINSTR and exec_flags else 0)
            phdrs += PHDR.pack(PT_LOAD, flags, offs[k - 1], s[3], s[3], len(s[4]),
                               len(s[4]), 0x1000)
        index = {s[0]: i + 1 for i, s in reversed(list(enumerate(self.secs)))}
        shdrs = SHDR.pack(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        for i, s in enumerate(self.secs):
            link = index[s[5]] if isinstance(s[5], str) else (s[5] or 0)
            shdrs += SHDR.pack(name_off[i], s[1], s[2], s[3], offs[i], len(s[4]), link, s[6],
                               s[7], s[8])
        shdrs += SHDR.pack(name_off[-1], SHT_STRTAB, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
        e = list(self.ehdr)
        e[5], e[6], e[8], e[9], e[10] = EHDR.size, shoff, EHDR.size, PHDR.size, nph
        e[11], e[12], e[13] = SHDR.size, len(self.secs) + 2, len(self.secs) + 1
        return EHDR.pack(*e) + phdrs + body + shdrs


def interesting(name):
    base = name.split("@")[0]
    return base in IMPORTS or base in DEFINED or any(
        base == l or base.startswith(l + ".") for l in LOCALS)


def strtab(names):
    data, offs = b"\0", {}
    for n in names:
        if n not in offs:
            offs[n] = len(data)
            data += n.encode() + b"\0"
    return data, offs


def call_sites(elf, slots, stubs):
    """(vaddr) of `call stub` and `call *slot(%rip)` in executable sections."""
    sites = []
    for i, sh in enumerate(elf.shdrs):
        if sh[1] != SHT_PROGBITS or not sh[2] & SHF_EXECINSTR:
            continue
        code, addr = elf.data(i), sh[3]
        for k in range(len(code) - 5):
            if code[k] == 0xe8:
                rel = struct.unpack_from("<i", code, k + 1)[0]
                if addr + k + 5 + rel in stubs:
                    sites.append(addr + k)
            elif code[k] == 0xff and code[k + 1] == 0x15 and k + 6 <= len(code):
                rel = struct.unpack_from("<i", code, k + 2)[0]
                if addr + k + 6 + rel in slots:
                    sites.append(addr + k)
    return sites


def plt_stubs(elf, slots):
    stubs = {}
    for name in (".plt", ".plt.sec", ".plt.got"):
        i = elf.find(name)
        if i is None:
            continue
        sh, data = elf.shdrs[i], elf.data(i)
        ent = sh[9] or 16
        for off in range(0, len(data), ent):
            p = data[off:off + 16]
            j = 4 if p[:4] == b"\xf3\x0f\x1e\xfa" else 0
            j += 1 if p[j:j + 1] == b"\xf2" else 0
            if p[j:j + 2] == b"\xff\x25":
                slot = sh[3] + off + j + 6 + struct.unpack_from("<i", p, j + 2)[0]
                if slot in slots:
                    stubs[sh[3] + off] = name
    return stubs


def merge(windows):
    windows.sort()
    out = []
    for a, b in windows:
        if out and a <= out[-1][1] + 64:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def function_symbols(syms, windows):
    """Function symbols that hold a kept window, and the interesting ones."""
    keep = []
    for name, s in syms:
        if not name or s[3] == 0:
            continue
        covers = (s[1] & 0xf) == STT_FUNC and s[5] and any(
            s[4] < b and a < s[4] + s[5] for a, b in windows)
        if covers or interesting(name):
            keep.append((name, s))
    return keep


def symtab_data(syms, shndx_of):
    strs, offs = strtab([n for n, _ in syms])
    data = SYM.pack(0, 0, 0, 0, 0, 0)
    for n, s in syms:
        data += SYM.pack(offs[n], s[1], s[2], shndx_of(s), s[4], s[5])
    return data, strs


def minimise(main_path, dbg_path, compress_symtab=False):
    elf = Elf(main_path)
    dynsyms = elf.symbols(SHT_DYNSYM)
    dyn_keep = [(0, None)] + [(k, s) for k, (n, s) in enumerate(dynsyms) if k and interesting(n)]
    new_index = {old: new for new, (old, _) in enumerate(dyn_keep)}
    slots, relas = set(), {}
    for i, sh in enumerate(elf.shdrs):
        if sh[1] != SHT_RELA:
            continue
        data, kept = elf.data(i), b""
        for k in range(len(data) // RELA.size):
            off, info, add = RELA.unpack_from(data, k * RELA.size)
            if info & 0xffffffff in (R_JUMP_SLOT, R_GLOB_DAT) and (info >> 32) in new_index \
                    and info >> 32:
                name = dynsyms[info >> 32][0].split("@")[0]
                if name in IMPORTS:
                    slots.add(off)
                kept += RELA.pack(off, (new_index[info >> 32] << 32) | (info & 0xffffffff), add)
        relas[elf.names[i]] = kept
    stubs = plt_stubs(elf, slots)
    sites = call_sites(elf, slots, set(stubs))
    windows = [(s - WINDOW, s + WINDOW) for s in sites]
    syms = elf.symbols(SHT_SYMTAB)
    dbg = Elf(dbg_path) if dbg_path else None
    local_syms = syms + (dbg.symbols(SHT_SYMTAB) if dbg else [])
    for name, s in local_syms:
        if any(name == l or name.startswith(l + ".") for l in LOCALS) and s[4]:
            windows.append((s[4], s[4] + 64))
    windows = merge(windows)

    out = Out(elf.ehdr)
    note = elf.find(".note.gnu.build-id")
    if note is not None:
        sh = elf.shdrs[note]
        out.add(".note.gnu.build-id", SHT_NOTE, sh[2], sh[3], elf.data(note), align=4)
    text_index = {}
    for a, b in windows:
        code = elf.file_bytes(a, b - a)
        if code is not None:
            text_index[(a, b)] = out.add(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, a,
                                         code, align=16, load=True)
    # the PLT from its first kept stub to its last
    for name in (".plt", ".plt.sec", ".plt.got"):
        mine = sorted(a for a, n in stubs.items() if n == name)
        if mine:
            i = elf.find(name)
            ent = elf.shdrs[i][9] or 16
            first, last = mine[0], mine[-1] + ent
            out.add(name, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, first,
                    elf.file_bytes(first, last - first), align=16, entsize=ent, load=True)
    # Py_Version and the head of _PyRuntime, file-backed
    for name, s in dynsyms:
        size = {"Py_Version": 8, "_PyRuntime": RUNTIME_HEAD}.get(name.split("@")[0])
        if size and s[4]:
            data = elf.file_bytes(s[4], min(size, s[5] or size))
            if data is not None:
                out.add(".data", SHT_PROGBITS, SHF_ALLOC | 1, s[4], data, align=8, load=True)

    def shndx(s):
        for (a, b), idx in text_index.items():
            if a <= s[4] < b:
                return idx
        return s[3] if s[3] == 0 else SHN_ABS

    # DT_NEEDED, RPATH and RUNPATH of the original, with their names
    dyn = elf.find(type_=SHT_DYNAMIC)
    needed = []
    if dyn is not None:
        ddata, dstrs = elf.data(dyn), elf.data(elf.shdrs[dyn][6])
        for k in range(len(ddata) // DYN.size):
            tag, val = DYN.unpack_from(ddata, k * DYN.size)
            if tag in (1, 15, 29):
                needed.append((tag, dstrs[val:dstrs.index(b"\0", val)].decode()))
    kept_syms = [(dynsyms[k][0], s) for k, s in dyn_keep[1:]]
    dstr_all, doffs = strtab([n for n, _ in kept_syms] + [n for _, n in needed])
    data = SYM.pack(0, 0, 0, 0, 0, 0)
    for n, s in kept_syms:
        data += SYM.pack(doffs[n], s[1], s[2], shndx(s), s[4], s[5])
    out.add(".dynsym", SHT_DYNSYM, SHF_ALLOC, 0, data, link=".dynstr", info=1,
            align=8, entsize=SYM.size)
    out.add(".dynstr", SHT_STRTAB, SHF_ALLOC, 0, dstr_all)
    for name, kept in relas.items():
        if kept:
            out.add(name, SHT_RELA, SHF_ALLOC, 0, kept, link=".dynsym", align=8,
                    entsize=RELA.size)
    if needed:
        d = b"".join(DYN.pack(t, doffs[n]) for t, n in needed) + DYN.pack(0, 0)
        out.add(".dynamic", SHT_DYNAMIC, SHF_ALLOC | 1, 0, d, link=".dynstr", align=8,
                entsize=DYN.size)
    link = elf.find(".gnu_debuglink")
    if link is not None:
        out.add(".gnu_debuglink", SHT_PROGBITS, 0, 0, elf.data(link), align=4)
    if syms:
        keep = function_symbols(syms, windows)
        sdata, sstr = symtab_data(keep, shndx)
        out.add(".symtab", SHT_SYMTAB, 0, 0, sdata, link=".strtab", info=1, align=8,
                entsize=SYM.size)
        out.add(".strtab", SHT_STRTAB, 0, 0, sstr)
    blob = out.write(True)
    if dbg:
        blob += MARKER + minimise_debug(dbg, windows, compress_symtab)
    return blob


def minimise_debug(dbg, windows, compress):
    out = Out(dbg.ehdr)
    note = dbg.find(".note.gnu.build-id")
    sh = dbg.shdrs[note]
    out.add(".note.gnu.build-id", SHT_NOTE, sh[2], sh[3], dbg.data(note), align=4)
    keep = function_symbols(dbg.symbols(SHT_SYMTAB), windows)
    sdata, sstr = symtab_data(keep, lambda s: s[3] if s[3] in (0, SHN_ABS) else 1)
    flags = 0
    if compress:
        sdata = CHDR.pack(1, 0, len(sdata), 8) + zlib.compress(sdata, 9)
        flags = SHF_COMPRESSED
    out.add(".symtab", SHT_SYMTAB, flags, 0, sdata, link=".strtab", info=1, align=8,
            entsize=SYM.size)
    out.add(".strtab", SHT_STRTAB, 0, 0, sstr)
    return out.write(False)


def debug_file(path, root="/"):
    elf = Elf(path)
    i = elf.find(".note.gnu.build-id")
    desc = elf.data(i)[16:]
    hexid = desc.hex()
    p = os.path.join(root, "usr/lib/debug/.build-id", hexid[:2], hexid[2:] + ".debug")
    return p if os.path.exists(p) else None


CHROOTS = "/var/cache/gilscope/chroots"
SOURCES = [
    ("deb12-python3.11", "/", "usr/bin/python3.11"),
    ("bullseye-python3.9", CHROOTS + "/bullseye", "usr/bin/python3.9"),
    ("trixie-python3.13", CHROOTS + "/trixie", "usr/bin/python3.13"),
    ("sid-python3.14", CHROOTS + "/sid", "usr/bin/python3.14"),
    ("sid-python3.15", CHROOTS + "/sid", "usr/bin/python3.15"),
    ("pyenv-libpython3.11", "/root/.pyenv/versions/3.11.7", "lib/libpython3.11.so.1.0"),
]


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus-elf")
    os.makedirs(outdir, exist_ok=True)
    for name, root, rel in SOURCES:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            print(f"skip {name}: no {path}")
            continue
        dbg = debug_file(path, root)
        blob = minimise(path, dbg)
        with open(os.path.join(outdir, f"{name}.elf"), "wb") as f:
            f.write(blob)
        print(f"{name}: {os.path.getsize(path)} -> {len(blob)} bytes"
              f"{' (with debug file)' if dbg else ''}")
        if dbg and name == "deb12-python3.11":
            blob = minimise(path, dbg, compress_symtab=True)
            with open(os.path.join(outdir, f"{name}-zdebug.elf"), "wb") as f:
                f.write(blob)
            blob = minimise(path, None)
            with open(os.path.join(outdir, f"{name}-nodebug.elf"), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
