"""Span timestamps (preload/clock.h): taken as TSC ticks on the application
thread when the kernel keeps time with the TSC, turned into wall-clock
nanoseconds on the exporter thread. Whatever the clock, what a collector
receives must be the wall clock: inside the window the test saw with its own
clock, and durations that hold the time a server really took."""
import platform
import time

import pytest

from conftest import run, shim_env, program
from httpnet import CaptureServer

DELAY = 0.3  # the server waits this long before it reads the request

CLOCKS = ["auto", "system"]
if platform.machine() == "x86_64":
    CLOCKS.append("tsc")


@pytest.fixture
def slow_server():
    s = CaptureServer(delay=DELAY)
    yield s
    s.close()


def timed_run(cmd, env):
    before = time.time_ns()
    r = run(cmd, env)
    after = time.time_ns()
    assert r.returncode == 0, r.stderr
    return r, before, after


@pytest.mark.parametrize("clock", CLOCKS)
def test_span_times_are_the_wall_clock(collector, slow_server, clock):
    url = "http://127.0.0.1:%d/slow" % slow_server.port
    r, before, after = timed_run(["curl", "-s", url],
                                 shim_env(collector, AUTOTRACE_CLOCK=clock,
                                          AUTOTRACE_LOG_LEVEL="debug"))
    want = "TSC" if clock == "tsc" else "system clock" if clock == "system" else ""
    assert b"span timestamps: " + want.encode() in r.stderr
    [s] = collector.wait_for(1)
    assert s["name"] == "GET"
    assert before <= s["start"] < s["end"] <= after
    # the request waited for the server, and no more than the whole run
    assert DELAY * 1e9 <= s["end"] - s["start"] <= after - before


@pytest.mark.parametrize("clock", CLOCKS)
def test_spans_of_a_long_run_stay_on_the_wall_clock(collector, clock):
    """Many batches, a second apart: each batch's anchor keeps every span on
    the wall clock, in the order the requests were made."""
    srv = CaptureServer()
    try:
        env = shim_env(collector, AUTOTRACE_CLOCK=clock, OTEL_BSP_SCHEDULE_DELAY="200")
        marks = []
        # one client process making a request every 0.4 s: several batches
        code = ("import socket,time,sys\n"
                "for i in range(4):\n"
                "    print(time.time_ns(), flush=True)\n"
                "    s=socket.create_connection(('127.0.0.1',%d))\n"
                "    s.sendall(b'GET /r%%d HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' %% i)\n"
                "    s.recv(4096); s.close()\n"
                "    print(time.time_ns(), flush=True)\n"
                "    time.sleep(0.4)\n" % srv.port)
        r, before, after = timed_run(["/usr/bin/python3", "-c", code], env)
        marks = [int(x) for x in r.stdout.split()]
        spans = sorted(collector.wait_for(4), key=lambda s: s["start"])
        assert [s["attributes"]["url.full"].rsplit("/", 1)[1] for s in spans] == \
            ["r0", "r1", "r2", "r3"]
        for i, s in enumerate(spans):
            assert marks[2 * i] <= s["start"] < s["end"] <= marks[2 * i + 1]
    finally:
        srv.close()


def test_crash_event_time_inside_its_span(collector, http_server):
    """An event's time goes through the same conversion as the span's."""
    env = shim_env(collector, AUTOTRACE_CLOCK=CLOCKS[-1])
    r = run([program("crash_curl"), "segv", http_server.url + "/c"], env)
    assert r.returncode < 0, r.stderr
    [s] = collector.wait_for(1)
    [ev] = [e for e in s["events"] if e["name"] == "exception"]
    assert s["start"] <= ev["time"] <= s["end"]


def test_unknown_clock_warns_and_traces(collector, http_server):
    r, before, after = timed_run(["curl", "-s", http_server.url + "/x"],
                                 shim_env(collector, AUTOTRACE_CLOCK="sundial"))
    assert b"AUTOTRACE_CLOCK" in r.stderr and b"sundial" in r.stderr
    [s] = collector.wait_for(1)
    assert before <= s["start"] < s["end"] <= after



@pytest.mark.skipif(platform.machine() != "x86_64", reason="the TSC is x86's")
@pytest.mark.parametrize("when", ["midway", "before"])
def test_application_forbids_the_tsc(collector, when):
    """prctl(PR_SET_TSC, PR_TSC_SIGSEGV): rdtsc, and the vDSO's clocks with
    it, would kill the thread that reads them. The application forbids it
    after spans were stamped with the TSC (midway) or before any (before):
    it and the thread it starts live on, and every span is on the wall clock,
    in the order of the requests."""
    srv = CaptureServer()
    try:
        args = [program("notsc_client"), str(srv.port)] + (["before"] if when == "before" else [])
        bare = run(args, shim_env(None, LD_PRELOAD=""))
        assert bare.returncode == 0 and bare.stdout == b"ok 0\nok 1\nok 2\n", bare.stderr
        r, before, after = timed_run(args, shim_env(collector, AUTOTRACE_LOG_LEVEL="debug"))
        assert r.stdout == bare.stdout
        assert b"TSC is forbidden" in r.stderr
        spans = sorted(collector.wait_for(3), key=lambda s: s["start"])
        assert [s["attributes"]["url.full"].rsplit("/", 1)[1] for s in spans] == \
            ["t0", "t1", "t2"]
        assert before <= spans[0]["start"] and spans[-1]["end"] <= after
        for a, b in zip(spans, spans[1:]):
            assert a["start"] < a["end"] <= b["start"] < b["end"]
    finally:
        srv.close()

