"""Call sites inside inlined code: where a call is _FORTIFY_SOURCE's inline
wrapper's (<stdio.h>, <unistd.h>, <sys/socket.h>), or a static function's
the compiler inlined, the shim names the call the program's source makes,
in the function that makes it (preload/dwarf_info.c reads the DWARF
.debug_info for it). Checked against binutils' addr2line, which reads the
same DWARF on its own, on every call instruction of real binaries, DWARF 5
and 4, then on a traced client's spans. The reference is LLVM's
llvm-addr2line: GNU addr2line 2.40 names the wrong file for some inlined
code of DWARF 5 (libautotrace.so's at_span_intern_fast, inlined into
at_span_set_strn in span.h, it places in curl.c; gdb and llvm-addr2line
in span.h)."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, fuzz_short, program
from test_stdio_read import asked

SYSTEM = ("/usr/include/", "/usr/local/include/", "/usr/lib/gcc/", "/usr/lib/llvm-")
TOOL = os.path.join(BUILD, "tools", "dwarf_frame")

ADDR2LINE = shutil.which("llvm-addr2line")
pytestmark = pytest.mark.skipif(not ADDR2LINE or not shutil.which("objdump"),
                                reason="llvm-addr2line (Debian: llvm) or objdump is not installed")


def call_addresses(path, limit=4000):
    """The address of every call instruction in the object's code."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True,
                         text=True, check=True).stdout
    addrs = [m.group(1) for m in re.finditer(r"^\s*([0-9a-f]+):\s+call", out, re.M)]
    step = max(1, len(addrs) // limit)
    return addrs[::step]


def addr2line_frames(path, addrs):
    """llvm-addr2line -i's frames for each address, innermost first: a list of
    (function, file, line) per address (line 0 when it has none)."""
    out = subprocess.run([ADDR2LINE, "-i", "-f", "-a", "-e", path],
                         input="\n".join("0x" + a for a in addrs),
                         capture_output=True, text=True, check=True).stdout.split("\n")
    res, cur = [], None
    i = 0
    while i < len(out):
        if out[i].startswith("0x"):
            cur = []
            res.append(cur)
            i += 1
            continue
        if not out[i]:
            break
        func, loc = out[i], out[i + 1]
        loc = re.sub(r" \(discriminator \d+\)$", "", loc)
        f, _, ln = loc.rpartition(":")
        cur.append((func, f, int(ln) if ln.isdigit() else 0))
        i += 2
    assert len(res) == len(addrs)
    return res


def expected(frames):
    """The frame the shim should name: the innermost whose code is not a
    system header's (an inlined call's site is in the frame after it)."""
    k = 0
    while k + 1 < len(frames) and frames[k][1].startswith(SYSTEM) and frames[k + 1][2]:
        k += 1
    return frames[k]


def base_name(n):
    # a clone's symbol (foo.constprop.0, foo.isra.0, foo.part.0, foo.cold)
    # is the function addr2line names foo
    return n.split(".")[0]


def symbol_addresses(path):
    """Each function symbol's address (aliases share one: fcntl, fcntl64)."""
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True).stdout
    return {p[2]: p[0] for p in (l.split() for l in out.split("\n")) if len(p) == 3}


def compare(path, limit=4000, reference=None, debug_dirs=""):
    """Our frame of each call instruction of path against llvm-addr2line's
    of reference (path itself, else its unstripped copy); debug_dirs:
    where path's separate debug file is. (checked, inlined) counts."""
    reference = reference or path
    syms = symbol_addresses(reference)
    addrs = call_addresses(path, limit)
    assert addrs
    ours = subprocess.run([TOOL, path], input="\n".join(addrs) + "\n", capture_output=True,
                          text=True, check=True,
                          env=dict(os.environ, AUTOTRACE_DEBUG_FILE_DIRECTORY=debug_dirs)
                          ).stdout.split("\n")[:-1]
    theirs = addr2line_frames(reference, addrs)
    checked = inlined = 0
    for a, mine, frames in zip(addrs, ours, theirs):
        name, f, ln = mine.split("\t")
        want = expected(frames)
        if want[1] == "??" or not want[2]:
            continue  # addr2line knows no line: nothing to compare
        checked += 1
        inlined += len(frames) > 1
        # DWARF 4 names a file as the compiler was given it: both make it
        # absolute with the unit's compilation directory
        assert (f, int(ln)) == (want[1], want[2]), (a, mine, frames)
        if want is not frames[-1]:  # inside an inlined function: its name
            assert name == want[0], (a, mine, frames)
        elif name and base_name(name) != base_name(want[0]):
            assert name in syms and syms[name] == syms.get(want[0]), (a, mine, frames)
    return checked, inlined


def test_fortified_client_calls_named_where_the_program_makes_them():
    """The C client built with -O2 -D_FORTIFY_SOURCE=2: its fgets, fread,
    recv, read and dprintf are inline wrappers of glibc's headers, some in
    a static function inlined into main. Every call's site is the client's
    own line, in the function whose line it is."""
    path = program("http_client")
    checked, inlined = compare(path)
    assert checked > 50 and inlined > 10
    # the wrappers the shim's hooks see, by name
    frames = dict(l.split("\t", 1) for l in subprocess.run(
        [TOOL, path], input="\n".join(call_addresses(path)) + "\n", capture_output=True,
        text=True, check=True).stdout.split("\n")[:-1])
    assert not any(f.startswith(SYSTEM) for f in frames.values())


def test_the_shim_itself_against_addr2line():
    """libautotrace.so (-O2, much inlined: static functions, always_inline
    helpers, clones): every call instruction's frame agrees."""
    checked, inlined = compare(os.path.join(BUILD, "libautotrace.so"), limit=1500)
    assert checked > 500 and inlined > 100


# C sources of the shim's with much inlining, built into one object here
# with other DWARF versions and options
SOURCES = ["hooks/http_parse.c", "hooks/sql_sanitize.c", "reporter/hpack.c",
           "preload/dwarf_info.c", "preload/dwarf_line.c", "preload/url.c"]


@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5"], ["-gdwarf-4", "-gstrict-dwarf"],
                                   ["-gdwarf-5", "-O3", "-D_FORTIFY_SOURCE=2"],
                                   ["-gdwarf-4", "-O1", "-fPIE", "-pie", "main"]])
def test_other_dwarf_versions_against_addr2line(flags, tmp_path):
    """The same on objects built here: DWARF 4 (its .debug_ranges, high_pc
    as an address or an offset) and 5 (.debug_rnglists, .debug_addr),
    -O1 to -O3, a shared object and a PIE executable."""
    exe = "main" in flags
    flags = [f for f in flags if f != "main"]
    out = str(tmp_path / ("prog" if exe else "lib.so"))
    src = [os.path.join(ROOT, x) for x in SOURCES]
    if exe:
        src = [os.path.join(ROOT, "tests", "programs", "http_client.c")]
    cmd = ["cc", "-O2", "-g"] + flags + ["-o", out] + src
    cmd += ["-lpthread"] if exe else ["-shared", "-fPIC"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    checked, inlined = compare(out)
    assert checked > 50 and inlined > 10


def test_span_names_the_inlined_function_and_its_line(collector):
    """A traced client's CLIENT spans whose request goes out inside
    _FORTIFY_SOURCE's inline fgets, in a static function of the client the
    compiler inlined into main (http_client -W rplus: the "r+" stream's
    read writes the request): the call site is that function's fgets line,
    named as that function, as addr2line names it, not <stdio.h>'s."""
    src = os.path.join(ROOT, "tests", "programs", "http_client.c")
    with open(src) as f:
        lines = f.read().split("\n")
    for c, _ in asked(collector, ["-s", "202"], ["-W", "rplus", "-F"], 2, 202):
        a = c["attributes"]
        assert a["code.file.path"].endswith("/tests/programs/http_client.c")
        assert "fgets(" in lines[a["code.line.number"] - 1]
        assert a["code.function.name"] == "read_response_stdio"


def test_dwarf_readers_fuzz_short(tmp_path):
    """The DWARF readers (preload/dwarf_info.c, dwarf_line.c), which read
    whatever the traced program's objects hold, under libFuzzer for a few
    seconds from seeds made of compiled objects (DWARF 4 and 5): no crash,
    no read out of a section, at most the inlined calls asked for."""
    fuzz_short("fuzz_dwarf", tmp_path)
