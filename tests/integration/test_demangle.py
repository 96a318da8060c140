"""A C++ program's spans name their calling function as C++ does
("shop::Client::fetch", not "_ZN4shop6Client5fetchEv"): demangled with the
program's own libstdc++ by the exporter thread, or with libstdc++ loaded by
the exporter process (preload/demangle.c); a method and its overload, an
operator, a lambda in a method with parameters and one in an operator(), a
function template, an anonymous namespace's function."""
import os
import shutil
import subprocess

import pytest

from conftest import run, shim_env

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "programs", "cpp_client.cpp"))

pytestmark = pytest.mark.skipif(not shutil.which("g++"), reason="g++ is not installed")


def line_of(tag):
    with open(SRC) as f:
        return [i for i, l in enumerate(f, 1) if l.rstrip().endswith("// " + tag)][0]


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
