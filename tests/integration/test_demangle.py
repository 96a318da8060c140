"""A C++ program's spans name their calling function as C++ does
("shop::Client::fetch", not "_ZN4shop6Client5fetchEv"): demangled with the
program's own libstdc++ by the exporter thread, or with libstdc++ loaded by
the exporter process (preload/demangle.c); a method and its overload, an
operator, a lambda in a method with parameters and one in an operator(), a
function template, an anonymous namespace's function. A Rust program's as
Rust does ("<rust_client::Client as rust_client::Fetch>::fetch"), with its
symbols mangled either way rustc does (preload/demangle_rust.c), and every
Rust symbol of a real program read as binutils' c++filt reads it."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, run, shim_env

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "programs", "cpp_client.cpp"))

RUST_SRC = os.path.join(ROOT, "tests", "programs", "rust", "rust_client.rs")
DEMANGLE = os.path.join(BUILD, "tools", "demangle")


def line_of(tag, src=SRC):
    with open(src) as f:
        return [i for i, l in enumerate(f, 1) if l.rstrip().endswith("// " + tag)][0]


@pytest.mark.skipif(not shutil.which("g++"), reason="g++ is not installed")
def test_cpp_call_sites_named_as_cpp(collector, http_server, tmp_path):
    exe = str(tmp_path / "cpp_client")
    subprocess.run(["g++", "-O1", "-g", "-o", exe, SRC, "-lcurl"], check=True,
                   capture_output=True)
    r = run([exe, http_server.url], shim_env(collector))
    assert r.returncode == 0, r.stderr
    spans = sorted(collector.wait_for(7), key=lambda s: s["start"])
    got = [(s["attributes"].get("code.function.name"), s["attributes"].get("code.line.number"))
           for s in spans]
    assert got == [("shop::Client::fetch", line_of("Client::fetch()")),
                   ("shop::Client::fetch", line_of("Client::fetch(int)")),
                   ("shop::Client::operator()", line_of("Client::operator()")),
                   # the lambda's, in each(int): not "shop::Client::each"
                   ("shop::Client::each(int)::{lambda()#1}::operator()",
                    line_of("Client::each lambda")),
                   # in an operator(): not "shop::Retry::operator()"
                   ("shop::Retry::operator()(char const*) const::{lambda()#1}::operator()",
                    line_of("Retry lambda")),
                   ("shop::get<long>", line_of("get<T>")),
                   ("(anonymous namespace)::direct", line_of("direct"))]
    for s in spans:
        assert s["attributes"]["code.file.path"] == SRC


def rustc():
    """rustc on PATH, or rustup's in the home directory (not on a
    non-login shell's PATH)."""
    home = os.path.expanduser("~/.cargo/bin/rustc")
    return shutil.which("rustc") or (home if os.access(home, os.X_OK) else None)


@pytest.fixture(scope="module", params=["legacy", "v0"])
def rust_client(request, tmp_path_factory):
    """rust_client.rs built with the symbol mangling named (legacy: rustc's
    default for a program's own crate)."""
    rc = rustc()
    if not rc:
        pytest.skip("rustc is not installed")
    exe = str(tmp_path_factory.mktemp("rust") / ("rust_client_" + request.param))
    argv = [rc, "-g", "-C", "opt-level=0", "-o", exe, RUST_SRC]
    if request.param == "v0":
        argv += ["-C", "symbol-mangling-version=v0"]
    r = subprocess.run(argv, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return request.param, exe


def test_rust_call_sites_named_as_rust(collector, http_server, rust_client):
    mangling, exe = rust_client
    r = run([exe, str(http_server.port)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["HTTP/1.1 200 OK"] * 3, r.stdout
    spans = sorted(collector.wait_for(3, pred=lambda s: s["kind"] == "CLIENT"),
                   key=lambda s: s["start"])
    got = [(s["attributes"].get("code.function.name"), s["attributes"].get("code.line.number"))
           for s in spans]
    v0 = mangling == "v0"
    assert got == [
        ("<rust_client::Client as rust_client::Fetch>::fetch",
         line_of("Client::fetch", RUST_SRC)),
        # a legacy symbol does not carry a function's generic arguments
        ("rust_client::get::<2>" if v0 else "rust_client::get", line_of("get::<N>", RUST_SRC)),
        ("rust_client::main::{closure#0}" if v0 else "rust_client::main::{{closure}}",
         line_of("closure", RUST_SRC))]
    for s in spans:
        assert s["attributes"]["code.file.path"] == RUST_SRC


def rust_symbols(exe):
    out = subprocess.run(["nm", exe], capture_output=True, check=True).stdout.decode()
    names = {ln.split()[-1] for ln in out.splitlines() if ln.strip()}
    return sorted(n for n in names
                  if n.startswith("_R") or re.fullmatch(r"_ZN.*17h[0-9a-f]{16}E", n))


@pytest.mark.skipif(not shutil.which("c++filt") or not shutil.which("nm"),
                    reason="binutils is not installed")
def test_rust_symbols_read_as_cxxfilt_reads_them(rust_client):
    """Every Rust symbol of the program (its own, the standard library's:
    v0 in rustc 1.95's, legacy in older ones), through the shim's demangler
    and through binutils' c++filt -s rust, whose crate hashes ([0123abcd]),
    legacy hashes (::h0123456789abcdef) and constants' types (2: usize)
    the shim does not write."""
    mangling, exe = rust_client
    syms = rust_symbols(exe)
    assert len(syms) > 300, syms
    text = "\n".join(syms) + "\n"
    ours = subprocess.run([DEMANGLE], input=text.encode(), capture_output=True,
                          check=True).stdout.decode().splitlines()
    theirs = subprocess.run(["c++filt", "-s", "rust"], input=text.encode(), capture_output=True,
                            check=True).stdout.decode().splitlines()
    theirs = [re.sub(r"([0-9]+): [ui](?:8|16|32|64|128|size)\b", r"\1",
                     re.sub(r"::h[0-9a-f]{16}$", "", re.sub(r"\[[0-9a-f]+\]", "", t)))
              for t in theirs]
    assert len(ours) == len(syms) == len(theirs)
    differ = [(m, o, t) for m, o, t in zip(syms, ours, theirs) if o != t]
    assert not differ, differ[:5]
    assert not [o for o in ours if o.startswith(("_R", "_ZN"))]
