"""What the shim costs a process that makes no span: its own mapping and
init, not libunwind (crash stack traces) nor zlib (gzip exports), which are
loaded when first needed (preload/unwinder.c, reporter/gzip.c). Without
them among its DT_NEEDED the shim also loads on a machine that lacks them."""
import os
import signal
import subprocess

import pytest

from conftest import BUILD, LIB, program, run, shim_env
from test_failures import exceptions, frames

# tests/preloads/dlopen_fault.c: a dlopen that fails or is slow for the
# sonames a variable names, preloaded beside the shim
FAULT = os.path.join(BUILD, "preloads", "dlopen_fault.so")


def needed(path):
    out = subprocess.run(["readelf", "-dW", path], capture_output=True, text=True,
                         check=True).stdout
    return sorted(ln.split("[")[1].split("]")[0] for ln in out.splitlines()
                  if "(NEEDED)" in ln)


def test_library_needs_only_the_c_library():
    assert set(needed(LIB)) <= {"libc.so.6", "libdl.so.2", "libpthread.so.0"}, needed(LIB)


def test_a_process_without_spans_maps_neither_libunwind_nor_zlib(collector):
    r = run(["cat", "/proc/self/maps"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    maps = r.stdout.decode()
    assert "libautotrace.so" in maps  # the shim is there...
    assert "libunwind" not in maps and "liblzma" not in maps, maps
    assert "libz.so" not in maps, maps


def test_with_crash_recording_off_the_first_span_does_not_load_libunwind(collector,
                                                                         http_server):
    # python3 makes an HTTP request (a span, the exporter thread), then
    # waits until the span is exported, then reads its own maps
    script = ("import urllib.request, time, sys\n"
              "urllib.request.urlopen(sys.argv[1]).read()\n"
              "time.sleep(1.0)\n"
              "print(open('/proc/self/maps').read())\n")
    for crash, expect in (("1", True), ("0", False)):
        r = run(["/usr/bin/python3", "-c", script, http_server.url + "/x"],
                shim_env(collector, AUTOTRACE_CRASH=crash))
        assert r.returncode == 0, r.stderr
        assert ("libunwind.so.8" in r.stdout.decode()) == expect, crash


def fault_env(collector, **extra):
    env = shim_env(collector, **extra)
    env["LD_PRELOAD"] = FAULT + " " + LIB
    return env


def exception_of(span):
    ex = exceptions(span)
    assert len(ex) == 1, span["events"]
    return ex[0]["attributes"]


def test_without_libunwind_a_crash_is_recorded_without_a_stack_trace(collector, http_server):
    # the machine lacks libunwind: the crash is still recorded (type,
    # message, status) and the process still dies by its signal
    env = fault_env(collector, AT_TEST_DLOPEN_FAIL="libunwind.so.8")
    r = run([program("crash_curl"), "segv", http_server.url + "/data"], env)
    assert r.returncode == -signal.SIGSEGV, r.stderr
    err = r.stderr.decode()
    assert "dlopen_fault: libunwind.so.8 fails" in err  # the fault was injected
    assert "libunwind.so.8 cannot be loaded; crashes are recorded without a stack trace" in err
    spans = collector.wait_for(1, 10)
    assert len(spans) == 1
    ex = exception_of(spans[0])
    assert ex["exception.type"] == "SIGSEGV" == spans[0]["attributes"]["error.type"]
    assert "SEGV_MAPERR" in ex["exception.message"]
    assert "exception.stacktrace" not in ex, ex
    assert spans[0]["status_code"] == 2


def test_without_zlib_gzip_exports_go_uncompressed(collector, http_server):
    # OTEL_EXPORTER_OTLP_COMPRESSION=gzip on a machine without zlib: a
    # warning, and every span still arrives, sent without Content-Encoding
    if os.environ.get("AUTOTRACE_TEST_EXPORTER_MODE") == "process":
        pytest.skip("the exporter process loads zlib, and it starts with an empty "
                    "environment (reporter/helper_spawn.c): no LD_PRELOAD fault reaches it")
    env = fault_env(collector, AT_TEST_DLOPEN_FAIL="libz.so.1",
                    OTEL_EXPORTER_OTLP_COMPRESSION="gzip")
    r = run([program("curl_client"), "get", http_server.url + "/g", "3"], env)
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "dlopen_fault: libz.so.1 fails" in err
    assert "libz.so.1 cannot be loaded; sending uncompressed" in err
    assert len(collector.wait_for(3)) == 3
    assert collector.requests
    for q in collector.requests:
        assert "Content-Encoding" not in q["headers"], q["headers"]


def test_fork_while_libunwind_loads(collector, http_server):
    # libunwind takes 800 ms to load in the parent (a slow disk). The
    # parent forks in the middle of it (100 ms after its first request: the
    # load starts 10 ms after the first span): fork waits at most 100 ms for
    # the load, and the child, which loads libunwind itself, records its
    # crash with a stack trace.
    env = fault_env(collector, AT_TEST_DLOPEN_DELAY="libunwind.so.8:800")
    r = run([program("crash_curl"), "fork", http_server.url + "/data"], env)
    assert r.returncode == 0, r.stderr
    out = dict(ln.rsplit(" ", 1) for ln in r.stdout.decode().splitlines()[2:])
    assert out["child signal"] == str(int(signal.SIGSEGV)), r.stdout
    assert "dlopen_fault: libunwind.so.8 delayed 800 ms" in r.stderr.decode()
    if os.environ.get("AUTOTRACE_TEST_EXPORTER_MODE") != "process":
        # the background thread was loading when fork came: fork waited
        # its 100 ms (1 ms sleeps: never less), not the whole load
        assert 100 <= int(out["fork_ms"]) < 800, out
    spans = collector.wait_for(2, 10)
    assert len(spans) == 2
    parent = [s for s in spans if not exceptions(s)]
    child = [s for s in spans if exceptions(s)]
    assert len(parent) == 1 and len(child) == 1, spans
    assert parent[0]["resource"]["process.pid"] != child[0]["resource"]["process.pid"]
    fr = frames(exception_of(child[0])["exception.stacktrace"])
    assert fr[0].startswith("crash_null_deref+0x"), fr
    assert any(f.startswith("on_data+0x") for f in fr) and any(f.startswith("main+0x") for f in fr)


def test_the_span_ring_asks_for_no_huge_pages(collector, http_server):
    # MADV_HUGEPAGE on the ring made the first span's page fault compact
    # memory where the kernel does that for such ranges (defrag "madvise",
    # the default): a stall of 0.2 ms, up to 10 ms seen, on the app's
    # thread. No mapping of the process is marked for huge pages ("hg").
    script = ("import urllib.request, sys\n"
              "urllib.request.urlopen(sys.argv[1]).read()\n"
              "print(open('/proc/self/smaps').read())\n")
    r = run(["/usr/bin/python3", "-c", script, http_server.url + "/x"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert len(collector.wait_for(1)) == 1  # a span went through the ring
    flags = [ln.split()[1:] for ln in r.stdout.decode().splitlines()
             if ln.startswith("VmFlags:")]
    assert flags and not [f for f in flags if "hg" in f], flags
