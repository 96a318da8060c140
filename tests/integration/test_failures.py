"""Issue 7: failures made visible. Crashes inside traced calls end the open
spans with an exception event and a symbolized stack trace, and the process
still dies exactly as it would without the shim (signal, core dump); the
application's own handlers still run; spans name the calling function."""
import os
import resource
import shutil
import signal
import subprocess
import urllib.request

import pytest

from conftest import free_port, run, shim_env, program
from httpnet import raw_request
from test_mysql import client, env_tcp, mariadb  # noqa: F401 (fixture)
from test_redis import redis  # noqa: F401 (fixture)


def exceptions(span):
    return [e for e in span["events"] if e["name"] == "exception"]


def crashed_span(collector, timeout=10):
    spans = collector.wait_for(1, timeout)
    assert len(spans) == 1, spans
    s = spans[0]
    ex = exceptions(s)
    assert len(ex) == 1, s["events"]
    return s, ex[0]["attributes"]


def frames(stack):
    return [line.split(" ")[1] for line in stack.strip().split("\n")]


@pytest.mark.parametrize("mode,sig,func,words", [
    ("segv", signal.SIGSEGV, "crash_null_deref", ["SEGV_MAPERR", "address 0x0"]),
    ("abort", signal.SIGABRT, "crash_abort", ["abort()"]),
    ("assert", signal.SIGABRT, "crash_assert", ["Assertion `x == 42' failed"]),
    ("fpe", signal.SIGFPE, "crash_divide", ["integer divide by zero", "FPE_INTDIV"]),
    ("overflow", signal.SIGSEGV, "crash_recurse", ["Segmentation fault"]),
    ("trap", signal.SIGTRAP, "crash_trap", ["Trace/breakpoint trap", "breakpoint"]),
    ("seccomp", signal.SIGSYS, "crash_seccomp",
     ["Bad system call: system call %d refused by a seccomp filter (SYS_SECCOMP) at 0x"
      % 110]),  # getppid, x86-64
])
def test_crash_in_curl_span(collector, http_server, mode, sig, func, words):
    url = http_server.url + "/data"
    plain = run([program("crash_curl"), mode, url], shim_env(None, LD_PRELOAD=""))
    if plain.stdout.endswith(b"no seccomp\n"):
        pytest.skip("seccomp filters cannot be installed here")
    r = run([program("crash_curl"), mode, url], shim_env(collector))
    # dies by the same signal as without the shim
    assert plain.returncode == -sig
    assert r.returncode == -sig, r.stderr
    assert r.stdout == plain.stdout == b"performing\n"
    s, ex = crashed_span(collector)
    assert s["kind"] == "CLIENT" and s["name"] == "GET"
    # what it was doing, although the transfer never finished
    assert s["attributes"]["url.full"] == url
    assert s["attributes"]["http.request.method"] == "GET"
    assert s["status_code"] == 2
    assert s["status_message"] == ex["exception.message"]
    assert s["attributes"]["error.type"] == ex["exception.type"] == signal.Signals(sig).name
    for w in words:
        assert w in ex["exception.message"]
    fr = frames(ex["exception.stacktrace"])
    # the crashing function, then its callers, down to main
    assert any(f.startswith(func + "+0x") for f in fr[:6]), fr
    if mode in ("segv", "fpe", "overflow", "trap"):
        assert fr[0].startswith(func + "+0x"), fr  # starts at the faulting instruction
    if mode != "overflow":
        assert any(f.startswith("on_data+0x") for f in fr), fr
        assert any(f.startswith("main+0x") for f in fr), fr
    assert "(crash_curl)" in ex["exception.stacktrace"]
    if mode != "overflow":
        assert "(libcurl.so.4" in ex["exception.stacktrace"]
    # no frame of the shim's own signal handling
    assert not any(f.startswith(("on_crash", "record", "unwind")) for f in fr)


def test_crash_in_traceparent_parented_span(collector, http_server):
    tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    env = shim_env(collector, TRACEPARENT="00-%s-%s-01" % (tid, pid))
    r = run([program("crash_curl"), "segv", http_server.url], env)
    assert r.returncode == -signal.SIGSEGV
    s, ex = crashed_span(collector)
    assert s["trace_id"] == tid and s["parent_span_id"] == pid
    assert frames(ex["exception.stacktrace"])[0].startswith("crash_null_deref+0x")


def test_crash_right_after_the_first_span_has_its_stack_trace(collector, http_server):
    # libunwind is loaded when the first span starts the exporter thread
    # (by a thread of its own): a crash microseconds later (curl's open-socket callback, the
    # first thing the request does) waits for it rather than losing the trace
    r = run([program("crash_curl"), "early", http_server.url], shim_env(collector))
    assert r.returncode == -signal.SIGSEGV, r.stderr
    s, ex = crashed_span(collector)
    fr = frames(ex["exception.stacktrace"])
    assert fr[0].startswith("crash_null_deref+0x"), fr
    assert any(f.startswith("on_open_socket+0x") for f in fr), fr
    assert any(f.startswith("main+0x") for f in fr), fr


def test_a_crash_after_closing_every_descriptor_leaves_the_programs_files(
        collector, http_server, tmp_path):
    # libunwind keeps a pipe of its own to test addresses with; a daemon that
    # closes every descriptor and opens its files on the same numbers: at the
    # crash, libunwind wrote bytes of memory into the file (seen: the first
    # five bytes overwritten). The crash is recorded without a stack trace.
    data = tmp_path / "data"
    content = b"0123456789abcdef"
    data.write_bytes(content)
    plain = run([program("crash_curl"), "closeall", http_server.url, str(data)],
                shim_env(None, LD_PRELOAD=""))
    assert plain.returncode == -signal.SIGSEGV and data.read_bytes() == content
    r = run([program("crash_curl"), "closeall", http_server.url, str(data)],
            shim_env(collector))
    assert r.returncode == -signal.SIGSEGV, r.stderr
    assert r.stdout == plain.stdout == b"performing\ndone 0\n"
    assert data.read_bytes() == content
    spans = collector.wait_for(2)
    crashed = [s for s in spans if exceptions(s)]
    assert len(spans) == 2 and len(crashed) == 1, spans
    ex = exceptions(crashed[0])[0]["attributes"]
    assert crashed[0]["attributes"]["error.type"] == ex["exception.type"] == "SIGSEGV"
    assert "SEGV_MAPERR" in ex["exception.message"]
    assert "exception.stacktrace" not in ex


def test_a_crash_in_a_program_with_many_pipes_has_its_stack_trace(collector, http_server):
    # libunwind's own pipe is told from the program's by listing them before
    # and after its load; with more than that list holds, the crash unwinds
    r = run([program("crash_curl"), "pipes", http_server.url], shim_env(collector))
    assert r.returncode == -signal.SIGSEGV, r.stderr
    s, ex = crashed_span(collector)
    fr = frames(ex["exception.stacktrace"])
    assert fr[0].startswith("crash_null_deref+0x") and any(f.startswith("main+0x") for f in fr)


def test_spans_ended_before_a_crash_are_flushed(collector, http_server):
    # the request completes, then the program crashes outside any span:
    # the queued span is exported before the process dies
    r = run([program("crash_curl"), "after", http_server.url],
            shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"))
    assert r.returncode == -signal.SIGSEGV
    assert r.stdout == b"performing\ndone 0\n"
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1
    assert spans[0]["status_code"] == 0 and not exceptions(spans[0])


def test_no_crash_no_exception(collector, http_server):
    r = run([program("crash_curl"), "none", http_server.url], shim_env(collector))
    assert r.returncode == 0
    spans = collector.wait_for(1)
    assert len(spans) == 1 and not exceptions(spans[0]) and spans[0]["status_code"] == 0


def wait_status(cmd, env, cwd):
    """Run cmd with core dumps enabled; return the raw wait status (which
    subprocess does not give: it drops the core-dump bit)."""
    def core_on():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=core_on)
    _, status = os.waitpid(p.pid, 0)
    p.returncode = 0  # reaped here
    return status


def core_files(d):
    return [f for f in os.listdir(d) if f == "core" or f.startswith("core.")]


@pytest.mark.parametrize("mode", ["segv", "abort"])
def test_exit_status_and_core_dump_unchanged(collector, http_server, tmp_path, mode):
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    if hard != resource.RLIM_INFINITY:
        pytest.skip("core dumps are limited on this machine (hard RLIMIT_CORE)")
    cmd = [program("crash_curl"), mode, http_server.url]
    results = []
    for preload in (False, True):
        d = tmp_path / ("shim" if preload else "plain")
        d.mkdir()
        env = shim_env(collector) if preload else shim_env(None, LD_PRELOAD="")
        st = wait_status(cmd, env, str(d))
        results.append((os.WIFSIGNALED(st), os.WTERMSIG(st), os.WCOREDUMP(st)))
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        if pattern.startswith("core"):  # a file in the working directory
            assert len(core_files(str(d))) == int(os.WCOREDUMP(st)), (preload, os.listdir(d))
    sig = signal.SIGSEGV if mode == "segv" else signal.SIGABRT
    assert results[0][:2] == (True, sig)
    assert results[1] == results[0]
    assert collector.wait_for(1)[0]["status_code"] == 2


@pytest.mark.parametrize("mode", ["sigaction", "signal"])
def test_app_handler_still_runs(collector, http_server, mode):
    plain = run([program("crash_handler"), mode, http_server.url], shim_env(None, LD_PRELOAD=""))
    r = run([program("crash_handler"), mode, http_server.url], shim_env(collector))
    assert plain.returncode == r.returncode == -signal.SIGSEGV
    # the handler ran once (with the real siginfo), then the default action
    assert r.stdout == plain.stdout
    assert r.stdout.count(b"app handler ran") == 1
    if mode == "sigaction":
        # the application sees its own disposition, not the shim's
        assert r.stdout.startswith(b"previous default, now mine\n")
        assert b"app handler ran: 0\n" in r.stdout
    s, ex = crashed_span(collector)
    assert frames(ex["exception.stacktrace"])[0].startswith("crash_null_deref+0x")


def test_a_sandbox_handling_its_traps_lives_on(collector, http_server):
    # SIGSYS (a seccomp filter's SECCOMP_RET_TRAP) and SIGTRAP handled by the
    # program, as a sandbox that emulates system calls does: its handlers
    # answer, the transfer goes on, and its span is no crash
    plain = run([program("crash_handler"), "emulate", http_server.url],
                shim_env(None, LD_PRELOAD=""))
    if b"no seccomp" in plain.stdout:
        pytest.skip("seccomp filters cannot be installed here")
    r = run([program("crash_handler"), "emulate", http_server.url], shim_env(collector))
    assert plain.returncode == r.returncode == 0, r.stderr
    assert r.stdout == plain.stdout == b"previous default default\nemulated 100 traps 10\ndone 0\n"
    (s,) = collector.wait_for(1)
    assert s["status_code"] == 0 and not exceptions(s)
    assert s["attributes"]["http.response.status_code"] == 200


FAULT_TP = "00-0af7651916cd43dd8448eb211c8031%02x-b7ad6b7169203331-01"


def fault_server(collector, http_server, mode):
    p = subprocess.Popen([program("fault_server"), str(http_server.port), mode],
                         env=shim_env(collector, OTEL_SERVICE_NAME="srv"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p, int(p.stdout.readline())


def fault_request(port, i):
    return raw_request(port, "GET /r%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "traceparent: %s\r\n\r\n" % (i, FAULT_TP % i))


def test_a_fault_the_program_lives_on_is_no_crash(collector, http_server):
    """A SIGSEGV the program's own handler deals with while it serves a
    request (fault_server: it makes a protected page writable and returns,
    as a JVM's null checks and safepoint polls, or a garbage collector's
    write barrier, live on faults): the request's span is not ended by it,
    keeps its status, and the call made after it is its child. (The JDK's
    HTTP server ended its first request's span as a SIGSEGV crash, and the
    call the request made started a trace of its own.)"""
    p, port = fault_server(collector, http_server, "recover")
    try:
        for i in range(3):
            assert fault_request(port, i).endswith(b"ok\n")
        spans = collector.wait_for(6)
    finally:
        p.kill()
        p.wait()
    srv = {s["attributes"]["url.path"]: s for s in spans if s["kind"] == "SERVER"}
    up = [s for s in spans if s["kind"] == "CLIENT"]
    assert sorted(srv) == ["/r0", "/r1", "/r2"] and len(up) == 3, spans
    for i in range(3):
        s = srv["/r%d" % i]
        assert s["trace_id"] == (FAULT_TP % i)[3:35]
        assert s["status_code"] == 0 and not exceptions(s), s
        assert s["attributes"]["http.response.status_code"] == 200
        assert len([c for c in up if c["parent_span_id"] == s["span_id"]]) == 1


@pytest.mark.parametrize("mode,sig", [("die", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_a_fault_whose_handler_kills_is_recorded_where_it_happened(collector, http_server,
                                                                   mode, sig):
    """The program's handler gives up on the fault (it sets the default
    and raises the signal again, or calls abort()): the process dies by
    that signal as without the shim, and the request's span is ended by
    the fault it had, with its address and the stack where it happened,
    not the raise's."""
    p, port = fault_server(collector, http_server, mode)
    fault_request(port, 0)
    out, err = p.communicate(timeout=20)
    assert p.returncode == -sig and err.count(b"handler\n") == 1, err
    s, ex = crashed_span(collector)
    assert s["kind"] == "SERVER" and s["attributes"]["url.path"] == "/r0"
    assert ex["exception.type"] == s["attributes"]["error.type"] == "SIGSEGV"
    assert "SEGV_ACCERR" in ex["exception.message"], ex
    assert "sent by" not in ex["exception.message"], ex
    assert frames(ex["exception.stacktrace"])[0].startswith("touch_page+0x"), ex


JAVA_SERVER = """
import com.sun.net.httpserver.*; import java.net.*; import java.io.*;
public class Srv {
  static int len(String s) { return s.length(); }
  static int nulls() {  /* null checks in compiled code: the JVM takes a SIGSEGV for them */
    int n = 0;
    for (int k = 0; k < 20000; k++) { try { len(k % 2 == 0 ? null : "x"); } catch (NullPointerException e) { n++; } }
    return n;
  }
  public static void main(String[] a) throws Exception {
    for (int k = 0; k < 200000; k++) len("x");
    HttpServer s = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    s.createContext("/", ex -> {
      nulls();
      HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + a[0] + "/down").openConnection();
      int code = c.getResponseCode();
      try (InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream()) { if (in != null) in.readAllBytes(); }
      byte[] b = ("ok " + code + "\\n").getBytes();
      ex.sendResponseHeaders(200, b.length); ex.getResponseBody().write(b); ex.close();
    });
    s.start(); System.out.println(s.getAddress().getPort()); System.out.flush();
  }
}
"""


@pytest.mark.skipif(not shutil.which("java"), reason="java is not installed")
def test_jvm_server_requests_right_after_start(collector, http_server, tmp_path):
    """The JDK's own HTTP server, whose handler meets null references in
    compiled code: the JVM takes a SIGSEGV for each (thousands a run), its
    handler turns it into a NullPointerException. Every request's span
    ends with its status and no exception, and the call it makes is its
    child. (The previous library ended the span as a SIGSEGV crash at the
    first, and the call started a trace of its own.)"""
    src = tmp_path / "Srv.java"
    src.write_text(JAVA_SERVER)
    p = subprocess.Popen(["java", str(src), str(http_server.port)],
                         env=shim_env(collector, OTEL_SERVICE_NAME="jvm"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(p.stdout.readline())
        for i in range(3):
            assert fault_request(port, i).endswith(b"ok 200\n")
        spans = collector.wait_for(6, 20)
    finally:
        p.kill()
        p.wait()
    srv = {s["attributes"]["url.path"]: s for s in spans if s["kind"] == "SERVER"}
    assert sorted(srv) == ["/r0", "/r1", "/r2"], spans
    for i in range(3):
        s = srv["/r%d" % i]
        assert s["status_code"] == 0 and not exceptions(s), s
        assert s["attributes"]["http.response.status_code"] == 200
        down = [c for c in spans if c["kind"] == "CLIENT" and c["parent_span_id"] == s["span_id"]]
        assert len(down) == 1 and down[0]["attributes"]["url.full"].endswith("/down")


def build(tmp_path, src, out, *flags):
    """Compiles a test program with other flags than the Makefile's."""
    exe = str(tmp_path / out)
    path = os.path.join(os.path.dirname(__file__), "..", "programs", src)
    subprocess.run(["cc", "-O1", "-o", exe, path] + list(flags) + ["-lcurl", "-lpthread"],
                   check=True, capture_output=True)
    return exe


def test_app_handler_strict_iso_c_signal(collector, http_server, tmp_path):
    # in strict ISO C, <signal.h> makes signal() glibc's __sysv_signal
    exe = build(tmp_path, "crash_handler.c", "crash_handler_iso", "-std=c11",
                "-D_POSIX_C_SOURCE=200809L")
    assert b"__sysv_signal" in subprocess.run(["nm", "-u", exe], capture_output=True).stdout
    plain = run([exe, "signal", http_server.url], shim_env(None, LD_PRELOAD=""))
    r = run([exe, "signal", http_server.url], shim_env(collector))
    assert plain.returncode == r.returncode == -signal.SIGSEGV
    assert r.stdout == plain.stdout == b"app handler ran: -\n"
    s, ex = crashed_span(collector)
    assert ex["exception.type"] == "SIGSEGV"


def test_app_handler_recovers(collector, http_server):
    # the application's handler jumps out: the program goes on as without us
    r = run([program("crash_handler"), "recover", http_server.url], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"previous default, now mine\napp handler ran: 0\nrecovered\n"
    s, ex = crashed_span(collector)
    assert ex["exception.type"] == "SIGSEGV"


def test_crash_recording_off(collector, http_server):
    env = shim_env(collector, AUTOTRACE_CRASH="0")
    r = run([program("crash_handler"), "sigaction", http_server.url], env)
    assert r.returncode == -signal.SIGSEGV
    assert r.stdout.count(b"app handler ran") == 1
    assert not any(exceptions(s) for s in collector.wait_for(1, 1.5))


# ---- the code that made the call ----

def test_callsite_names_calling_function(collector, http_server):
    # curl_client calls curl_easy_perform from its static function perform():
    # a name only the executable's .symtab knows
    r = run([program("curl_client"), "get", http_server.url, "2"], shim_env(collector))
    assert r.returncode == 0
    spans = collector.wait_for(2)
    assert [s["attributes"].get("code.function.name") for s in spans] == ["perform", "perform"]
    # and the line of the call, from the executable's DWARF line table
    src = os.path.join(os.path.dirname(__file__), "..", "programs", "curl_client.c")
    with open(src) as f:
        line = [i for i, l in enumerate(f, 1) if "curl_easy_perform(h)" in l][0]
    for s in spans:
        assert s["attributes"]["code.file.path"].endswith("tests/programs/curl_client.c")
        assert os.path.isabs(s["attributes"]["code.file.path"])  # DWARF 5: with the build dir
        assert s["attributes"]["code.line.number"] == line


def test_callsite_from_dynamic_symbols(collector, http_server):
    # curl(1) calls libcurl from its own code; whatever it names, it names
    # a function of the curl executable or of a library, never of the shim
    r = run(["curl", "-s", http_server.url], shim_env(collector))
    assert r.returncode == 0
    a = collector.wait_for(1)[0]["attributes"]
    name = a.get("code.function.name")
    assert name is None or not name.startswith(("at_", "curl_easy_perform"))


def test_callsite_dwarf4(collector, http_server, tmp_path):
    # DWARF 4 line tables name the file as the compiler was given it (here
    # "curl_client.c", compiled in its directory): made absolute with the
    # unit's DW_AT_comp_dir, as DWARF 5's are (before: "curl_client.c")
    exe = str(tmp_path / "curl_client_dw4")
    src = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "programs"))
    subprocess.run(["cc", "-O1", "-g", "-gdwarf-4", "-o", exe, "curl_client.c", "-lcurl",
                    "-lpthread"], check=True, capture_output=True, cwd=src)
    r = run([exe, "get", http_server.url, "1"], shim_env(collector))
    assert r.returncode == 0
    a = collector.wait_for(1)[0]["attributes"]
    assert a["code.function.name"] == "perform"
    assert a["code.file.path"] == os.path.join(src, "curl_client.c")
    src = os.path.join(os.path.dirname(__file__), "..", "programs", "curl_client.c")
    with open(src) as f:
        assert "curl_easy_perform(h)" in f.read().split("\n")[a["code.line.number"] - 1]


def test_callsite_off(collector, http_server):
    r = run([program("curl_client"), "get", http_server.url, "1"],
            shim_env(collector, AUTOTRACE_CALLSITE="0"))
    assert r.returncode == 0
    a = collector.wait_for(1)[0]["attributes"]
    assert not any(k.startswith("code.") for k in a)


def test_callsite_stripped_binary_names_nothing(collector, http_server, tmp_path):
    exe = str(tmp_path / "curl_client")
    shutil.copy(program("curl_client"), exe)
    subprocess.run(["strip", exe], check=True)
    r = run([exe, "get", http_server.url, "1"], shim_env(collector))
    assert r.returncode == 0
    # no symbols: better no name than the wrong one
    a = collector.wait_for(1)[0]["attributes"]
    assert not any(k.startswith("code.") for k in a)


# ---- crashes in a server, call loops (HTTP server hooks, hooks/net.c) ----

class LoopServices:
    """Two loop_service processes calling each other (tests/programs)."""

    def __init__(self, collector, limit, **env):
        self.ports = free_port(), free_port()
        self.procs = []
        for i, name in enumerate(("svc-a", "svc-b")):
            e = shim_env(collector, OTEL_SERVICE_NAME=name, **env)
            p = subprocess.Popen([program("loop_service"), str(self.ports[i]),
                                  str(self.ports[1 - i]), str(limit)], env=e,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.procs.append(p)
            assert p.stdout.readline() == b"listening\n", p.stderr.read()

    def get(self, path, timeout=30):
        url = "http://127.0.0.1:%d%s" % (self.ports[0], path)
        return urllib.request.urlopen(url, timeout=timeout).read()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


@pytest.fixture
def services(collector):
    """services(limit, **env) starts the pair; stopped after the test."""
    made = []

    def start(limit, **env):
        made.append(LoopServices(collector, limit, **env))
        return made[-1]
    yield start
    for s in made:
        s.close()


def test_call_loop_marked_past_depth(collector, services):
    assert services(9, AUTOTRACE_LOOP_DEPTH="4").get("/hop/0") == b"0"
    # 10 server spans (/hop/0../hop/9), 9 client spans between them
    spans = collector.wait_for(19, 15)
    assert len(spans) == 19
    assert len({s["trace_id"] for s in spans}) == 1
    servers = [s for s in spans if s["kind"] == "SERVER"]
    assert len(servers) == 10
    ids = {s["span_id"]: s for s in spans}
    for s in servers:
        hop = int(s["attributes"]["url.path"].rsplit("/", 1)[1])
        depth = s["attributes"].get("autotrace.loop.depth")
        # hop N is the (N+1)th server span of the chain
        assert depth == (hop + 1 if hop + 1 > 4 else None), (hop, depth)
        if hop:
            parent = ids[s["parent_span_id"]]
            assert parent["kind"] == "CLIENT"
            assert parent["resource"]["service.name"] != s["resource"]["service.name"]


def test_call_loop_not_counted_without_baggage(collector, services):
    assert services(3, OTEL_PROPAGATORS="tracecontext").get("/hop/0") == b"0"
    spans = collector.wait_for(7, 15)
    assert len(spans) == 7 and len({s["trace_id"] for s in spans}) == 1
    assert not any("autotrace.loop.depth" in s["attributes"] for s in spans)


def test_crash_in_server_handler(collector, services):
    svc = services(0)
    with pytest.raises(Exception):
        svc.get("/crash", timeout=10)
    p = svc.procs[0]
    assert p.wait(10) == -signal.SIGSEGV
    s, ex = crashed_span(collector)
    assert s["kind"] == "SERVER" and s["attributes"]["url.path"] == "/crash"
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGSEGV"
    fr = frames(ex["exception.stacktrace"])
    assert fr[0].startswith("handle_crash+0x") and any(f.startswith("conn_main+0x") for f in fr)


# ---- the same error semantics in every hook ----

def check_error(s):
    """Status Error with a description, error.type, and an exception event
    saying the same."""
    assert s["status_code"] == 2 and s["status_message"]
    ex = exceptions(s)
    assert len(ex) == 1, s["events"]
    a = ex[0]["attributes"]
    assert a["exception.type"] == s["attributes"]["error.type"]
    assert a["exception.message"] == s["status_message"]


def test_error_semantics_curl(collector, http_server):
    r = run([program("curl_client"), "get", "http://127.0.0.1:%d/" % free_port(), "1"],
            shim_env(collector))
    assert r.returncode == 0
    http_server.status = 500
    r = run([program("curl_client"), "get", http_server.url, "1"], shim_env(collector))
    spans = collector.wait_for(2)
    refused = [s for s in spans if "http.response.status_code" not in s["attributes"]][0]
    check_error(refused)
    assert refused["attributes"]["error.type"] == "CURLE_COULDNT_CONNECT"
    # an HTTP status has no message: Error and error.type, no exception event
    status = [s for s in spans if s["attributes"].get("http.response.status_code") == 500][0]
    assert status["status_code"] == 2 and status["attributes"]["error.type"] == "500"
    assert not exceptions(status)


def test_error_semantics_redis_stopped_mid_run(collector, redis):
    p = subprocess.Popen([program("redis_sync"), "loop", "127.0.0.1", str(redis.port), "12", "50"],
                         env=shim_env(collector), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ping: PONG\n"
        redis.kill()
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    spans = collector.wait_for(12, 10)
    failed = [s for s in spans if s["status_code"] == 2]
    assert failed
    for s in failed:
        check_error(s)
    assert not any(exceptions(s) for s in spans if s["status_code"] != 2)


def test_error_semantics_mysql_failing_query(collector, mariadb):
    client(["q:SELECT * FROM missing WHERE a = 42"], env_tcp(collector, mariadb), ["err 1146"])
    s = collector.wait_for(1, 10)[0]
    check_error(s)
    assert s["attributes"]["error.type"] == "1146"
    assert s["status_message"] == "Table 'app.missing' doesn't exist"
