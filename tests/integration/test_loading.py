"""What the shim costs a process that makes no span: its own mapping and
init, not libunwind (crash stack traces) nor zlib (gzip exports), which are
loaded when first needed (preload/unwinder.c, reporter/gzip.c). Without
them among its DT_NEEDED the shim also loads on a machine that lacks them."""
import subprocess

from conftest import LIB, run, shim_env


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
