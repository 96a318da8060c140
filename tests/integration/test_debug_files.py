"""Call sites of a stripped program from its separate debug file, as
Debian's -dbgsym packages install them (/usr/lib/debug/.build-id/xx/
yyyy.debug, sections compressed with zlib) and as gdb finds them: by build
ID under each directory of AUTOTRACE_DEBUG_FILE_DIRECTORY, or by the
program's .gnu_debuglink beside it, in its .debug directory, or under a
debug directory with the program's own path (preload/callsite.c). A debug
file of another build (not the program's build ID) is not used."""
import os
import shutil
import subprocess

import pytest

from conftest import program, run, shim_env
from test_callsite_inline import ADDR2LINE, compare

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "programs",
                                   "curl_client.c"))


def source_line(text):
    with open(SRC) as f:
        return [i for i, l in enumerate(f, 1) if text in l][0]


def split(tmp_path, compress=True, build_id=True):
    """curl_client built with -g, then as a distribution splits it: the
    debug file (objcopy --only-keep-debug, compressed) and the program
    stripped of everything (its .symtab too). Returns (program, debug)."""
    exe = str(tmp_path / "curl_client")
    flags = [] if build_id else ["-Wl,--build-id=none"]
    subprocess.run(["cc", "-O1", "-g", "-o", exe, SRC, "-lcurl", "-lpthread"] + flags,
                   check=True, capture_output=True)
    dbg = str(tmp_path / "curl_client.debug")
    subprocess.run(["objcopy", "--only-keep-debug"] +
                   (["--compress-debug-sections=zlib"] if compress else []) + [exe, dbg],
                   check=True)
    subprocess.run(["strip", exe], check=True)
    return exe, dbg


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
    return [l.split(":")[1].strip() for l in out.split("\n") if "Build ID" in l][0]


def traced(collector, http_server, exe, dirs=None):
    env = shim_env(collector)
    if dirs is not None:
        env["AUTOTRACE_DEBUG_FILE_DIRECTORY"] = dirs
    r = run([exe, "get", http_server.url, "1"], env)
    assert r.returncode == 0, r.stderr
    return collector.wait_for(1)[0]["attributes"]


def assert_named(a):
    # perform() is static: only the .symtab the debug file kept names it
    assert a["code.function.name"] == "perform"
    assert a["code.file.path"].endswith("tests/programs/curl_client.c")
    assert a["code.line.number"] == source_line("curl_easy_perform(h)")


@pytest.mark.parametrize("compress", [True, False])
def test_debug_file_by_build_id(collector, http_server, tmp_path, compress):
    exe, dbg = split(tmp_path, compress)
    if compress:  # as Debian's debug packages are
        assert "C" in subprocess.run(["readelf", "-S", "-W", dbg], capture_output=True,
                                     text=True).stdout.split(".debug_info")[1].split("\n")[0]
    dirs = tmp_path / "debug"
    bid = build_id(exe)
    os.makedirs(dirs / ".build-id" / bid[:2])
    shutil.move(dbg, str(dirs / ".build-id" / bid[:2] / (bid[2:] + ".debug")))
    # the stripped program alone names nothing
    assert not any(k.startswith("code.") for k in traced(collector, http_server, exe, "/nonexistent"))
    with collector.lock:
        collector.spans.clear()
    assert_named(traced(collector, http_server, exe, "/nonexistent:" + str(dirs)))


@pytest.mark.parametrize("where", ["beside", ".debug", "dir"])
def test_debug_file_by_debuglink(collector, http_server, tmp_path, where):
    exe, dbg = split(tmp_path, build_id=False)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + dbg, exe], check=True)
    dirs = tmp_path / "debug"
    os.makedirs(dirs)
    if where == ".debug":
        os.makedirs(tmp_path / ".debug")
        shutil.move(dbg, str(tmp_path / ".debug" / "curl_client.debug"))
    elif where == "dir":
        to = str(dirs) + os.path.realpath(str(tmp_path))
        os.makedirs(to)
        shutil.move(dbg, os.path.join(to, "curl_client.debug"))
    assert_named(traced(collector, http_server, exe, str(dirs)))


def test_relative_debug_directory_is_the_start_directorys(collector, http_server, tmp_path):
    """AUTOTRACE_DEBUG_FILE_DIRECTORY=debug, relative: the directory it
    names from where the program started, which then changes directory (as
    a daemon does) before its request; the exporter (thread or process)
    looks for the debug file after that."""
    exe, dbg = split(tmp_path)
    bid = build_id(exe)
    os.makedirs(tmp_path / "debug" / ".build-id" / bid[:2])
    shutil.move(dbg, str(tmp_path / "debug" / ".build-id" / bid[:2] / (bid[2:] + ".debug")))
    env = shim_env(collector, AUTOTRACE_DEBUG_FILE_DIRECTORY="/nonexistent:debug")
    r = run([exe, "chdir", http_server.url, "/"], env, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert_named(collector.wait_for(1)[0]["attributes"])


def test_debug_file_of_another_build_is_not_used(collector, http_server, tmp_path):
    """The debuglink's file beside the program, but of another build (its
    build ID differs): its lines would be another program's. Nothing."""
    exe, dbg = split(tmp_path)
    other = str(tmp_path / "other")
    subprocess.run(["cc", "-O2", "-g", "-o", other, SRC, "-lcurl", "-lpthread"],
                   check=True)
    subprocess.run(["objcopy", "--add-gnu-debuglink=" + dbg, exe], check=True)
    subprocess.run(["objcopy", "--only-keep-debug", other, dbg], check=True)
    assert build_id(other) != build_id(exe)
    a = traced(collector, http_server, exe, "/nonexistent")
    assert not any(k.startswith("code.") for k in a)


def test_compressed_sections_in_the_program(collector, http_server, tmp_path):
    """A program built with compressed debug sections (gcc -gz): before,
    its compressed .debug_line was left unread."""
    exe = str(tmp_path / "curl_client")
    subprocess.run(["cc", "-O1", "-g", "-gz", "-o", exe, SRC, "-lcurl", "-lpthread"], check=True)
    assert_named(traced(collector, http_server, exe))



def dwz_pair(tmp_path, alt_name):
    """curl_client at -O2 (perform() inlined into main) and a second build,
    run through dwz as Debian's debhelper does (dh_dwz): what the two share
    moves to a supplementary file, tmp_path/common.debug, which each names
    in its .gnu_debugaltlink (alt_name there); the inlined function's
    entry, its name with it, is then in that file. Returns the first."""
    exe, other = str(tmp_path / "curl_client"), str(tmp_path / "other")
    for out, extra in ((exe, []), (other, ["-DOTHER=1"])):
        subprocess.run(["cc", "-O2", "-g", "-o", out, SRC, "-lcurl", "-lpthread"] + extra,
                       check=True)
    subprocess.run(["dwz", "-m", "common.debug", "-M", alt_name, exe, other], check=True,
                   cwd=str(tmp_path))
    sections = subprocess.run(["readelf", "-S", "-W", exe], capture_output=True,
                              text=True).stdout
    assert ".gnu_debugaltlink" in sections
    info = subprocess.run(["readelf", "--debug-dump=info", exe], capture_output=True,
                          text=True).stdout
    assert "alt indirect string" in info and "(DW_TAG_inlined_subroutine)" in info
    return exe


@pytest.mark.skipif(not shutil.which("dwz"), reason="dwz is not installed")
@pytest.mark.parametrize("how", ["in the program", "debug file", "by build ID"])
def test_names_from_a_dwz_supplementary_file(collector, http_server, tmp_path, how):
    """The call is in perform(), inlined into main(): its name is in the
    dwz file, found as gdb finds it: from the program itself by a relative
    path (from the program's directory); from its separate debug file by
    an absolute one; or by the supplementary file's own build ID under a
    debug directory, its path pointing nowhere. Before, main."""
    alt = {"in the program": "common.debug", "debug file": str(tmp_path / "common.debug"),
           "by build ID": "/nonexistent/common.debug"}[how]
    exe = dwz_pair(tmp_path, alt)
    dirs = "/nonexistent"
    if how != "in the program":
        dirs = str(tmp_path / "debug")
        dbg = str(tmp_path / "curl_client.debug")
        subprocess.run(["objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", exe,
                        dbg], check=True)
        subprocess.run(["strip", exe], check=True)
        bid = build_id(exe)
        os.makedirs(os.path.join(dirs, ".build-id", bid[:2]))
        shutil.move(dbg, os.path.join(dirs, ".build-id", bid[:2], bid[2:] + ".debug"))
    if how == "by build ID":
        common = str(tmp_path / "common.debug")
        cid = build_id(common)
        os.makedirs(os.path.join(dirs, ".build-id", cid[:2]))
        shutil.move(common, os.path.join(dirs, ".build-id", cid[:2], cid[2:] + ".debug"))
    a = traced(collector, http_server, exe, dirs)
    assert a["code.function.name"] == "perform"
    assert a["code.file.path"].endswith("tests/programs/curl_client.c")
    assert a["code.line.number"] == source_line("curl_easy_perform(h)")


@pytest.mark.skipif(not ADDR2LINE, reason="llvm-addr2line (Debian: llvm) is not installed")
def test_split_program_against_addr2line(tmp_path):
    """Every call instruction of the stripped, fortified C client, named
    from its compressed debug file, as llvm-addr2line names the unstripped
    one."""
    exe = str(tmp_path / "http_client")
    shutil.copy(program("http_client"), exe)
    full = str(tmp_path / "full")
    shutil.copy(exe, full)
    dirs = tmp_path / "debug"
    bid = build_id(exe)
    os.makedirs(dirs / ".build-id" / bid[:2])
    subprocess.run(["objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", exe,
                    str(dirs / ".build-id" / bid[:2] / (bid[2:] + ".debug"))], check=True)
    subprocess.run(["strip", exe], check=True)
    checked, inlined = compare(exe, reference=full, debug_dirs=str(dirs))
    assert checked > 50 and inlined > 10
