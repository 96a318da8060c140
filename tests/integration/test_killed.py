"""A process killed by a signal it leaves at its default action (SIGTERM from
a service manager or a web server, SIGINT, SIGHUP, SIGQUIT, an alarm's
SIGALRM, SIGUSR1/2, SIGPROF, a CPU limit's SIGXCPU, SIGIO, SIGPWR, SIGSTKFLT,
SIGTRAP or SIGSYS sent by another process, the real-time signals) exports its spans before it dies: those ended before, and those open
on the thread the signal interrupted, ended as killed. It still dies by that
signal; a program that handles, ignores or waits for the signal is left alone.
Also a real case: git-http-backend, which lighttpd kills once the response is
out (the program gave its stdout to `git upload-pack` and waits for it)."""
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import Listener, program, run, shim_env, wait_gone
from test_cgi import web  # noqa: F401 (fixture)

CLIENT = r"""
import http.client, os, signal, sys, time
port, mode = int(sys.argv[1]), sys.argv[2]
if "dfl-int" in sys.argv:      # Python handles SIGINT itself: give it back
    signal.signal(signal.SIGINT, signal.SIG_DFL)
if "handler" in sys.argv:
    hsig = int(os.environ.get("HANDLED", signal.SIGTERM))
    print("default", signal.getsignal(hsig) == signal.SIG_DFL, flush=True)
    signal.signal(hsig, lambda s, f: print("handled", s, flush=True))
if "sigwait" in sys.argv:
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
if "ignored" in sys.argv:
    print("ignored", signal.getsignal(signal.SIGHUP) == signal.SIG_IGN, flush=True)
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("GET", "/" + mode)
if mode == "wait":             # killed while the response is awaited
    print("sent", flush=True)
    if "alarm" in sys.argv:
        signal.alarm(1)
    c.getresponse().read()
    sys.exit(3)
r = c.getresponse()
r.read()
print("ready", r.status, flush=True)
if "sigwait" in sys.argv:
    print("got", signal.sigwait([signal.SIGTERM]), flush=True)
    sys.exit(0)
if "alarm" in sys.argv:
    signal.alarm(1)
end = time.time() + 30
while time.time() < end:
    time.sleep(0.05)
    if "handler" in sys.argv or "ignored" in sys.argv:
        if os.path.exists(sys.argv[3]):
            print("still here", flush=True)
            sys.exit(0)
sys.exit(4)
"""


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT's, in the working directory


def start(env, *args):
    return subprocess.Popen([sys.executable, "-c", CLIENT] + [str(a) for a in args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=no_core)


def first_line(p):
    return p.stdout.readline().decode().strip()


def finish(p):
    out, err = p.communicate(timeout=20)
    return p.returncode, out.decode(), err.decode()


def bare_env():
    return shim_env(None, LD_PRELOAD="")


@pytest.mark.parametrize("sig,extra", [
    (signal.SIGTERM, ()), (signal.SIGHUP, ()), (signal.SIGQUIT, ()),
    (signal.SIGINT, ("dfl-int",)), (signal.SIGUSR1, ()), (signal.SIGUSR2, ()),
    (signal.SIGPROF, ()), (signal.SIGIO, ()), (signal.SIGPWR, ()), (16, ()),  # SIGSTKFLT
    (signal.SIGTRAP, ()), (signal.SIGSYS, ()),  # sent, not raised by an instruction
    (signal.SIGRTMIN, ()), (signal.SIGRTMIN + 3, ()), (signal.SIGRTMAX, ()),
])
def test_spans_ended_before_a_kill_are_exported(collector, http_server, sig, extra):
    results = []
    for env in (bare_env(), shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000")):
        p = start(env, http_server.port, "done", *extra)
        assert first_line(p) == "ready 200"
        p.send_signal(sig)
        results.append(finish(p)[0])
    # dies by the signal, as without the shim
    assert results == [-sig, -sig]
    # the span went out although the next export was a minute away
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1, spans
    s = spans[0]
    assert s["kind"] == "CLIENT" and s["attributes"]["http.response.status_code"] == 200
    assert s["status_code"] == 0 and not s["events"]


def test_a_call_under_way_ends_as_killed(collector, http_server):
    http_server.pause = 20
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000")
    p = start(env, http_server.port, "wait")
    assert first_line(p) == "sent"
    deadline = time.time() + 10
    while not http_server.requests and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # in its read of the response
    os.kill(p.pid, signal.SIGTERM)
    rc, out, err = finish(p)
    assert rc == -signal.SIGTERM, err
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1, spans
    s = spans[0]
    assert s["kind"] == "CLIENT" and s["name"] == "GET"
    assert "http.response.status_code" not in s["attributes"]
    assert s["status_code"] == 2
    assert s["attributes"]["error.type"] == "SIGTERM"
    ex = [e for e in s["events"] if e["name"] == "exception"]
    assert len(ex) == 1
    msg = "Terminated (sent by process %d)" % os.getpid()
    assert ex[0]["attributes"]["exception.type"] == "SIGTERM"
    assert ex[0]["attributes"]["exception.message"] == s["status_message"] == msg
    assert "exception.stacktrace" not in ex[0]["attributes"]  # a kill is no fault
    # the request went out with its traceparent naming this span
    tp = http_server.header(0, "traceparent")
    assert tp == ["00-%s-%s-01" % (s["trace_id"], s["span_id"])]


@pytest.mark.parametrize("n", [0, 3, signal.SIGRTMAX - signal.SIGRTMIN])
def test_a_real_time_signal_ends_a_call_as_killed(collector, http_server, n):
    http_server.pause = 20
    p = start(shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"), http_server.port, "wait")
    assert first_line(p) == "sent"
    deadline = time.time() + 10
    while not http_server.requests and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    os.kill(p.pid, signal.SIGRTMIN + n)
    rc, out, err = finish(p)
    assert rc == -(signal.SIGRTMIN + n), err
    s = collector.wait_for(1, 5)[0]
    name = "SIGRTMIN+%d" % n if n else "SIGRTMIN"
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == name
    assert s["status_message"] == "Real-time signal %d (sent by process %d)" % (n, os.getpid())


def helper_of(pid):
    deadline = time.time() + 10
    while time.time() < deadline:
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if f.read().split(b"\0")[:2] == [b"autotrace-exporter", str(pid).encode()]:
                        return int(d)
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    raise AssertionError("no exporter process for %d" % pid)


def test_a_service_stopped_whole_with_its_exporter_process(collector, http_server):
    """systemd stops a service by sending SIGTERM to every process of its
    cgroup, the exporter process too: that one goes when the program has
    gone, after it has exported what the program flushed as it died."""
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000",
                   AUTOTRACE_EXPORTER_MODE="process")
    p = start(env, http_server.port, "done")
    assert first_line(p) == "ready 200"
    helper = helper_of(p.pid)
    os.kill(helper, signal.SIGTERM)
    p.send_signal(signal.SIGTERM)
    assert finish(p)[0] == -signal.SIGTERM
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1 and spans[0]["status_code"] == 0
    assert wait_gone(helper, 5) in ("gone", "Z", "X"), "the exporter process outlived its program"


def test_curl_stopped_by_timeout(collector, http_server):
    """A real curl stopped by timeout(1) (SIGTERM) in the middle of its
    transfer: the span says what it was fetching, and that it was killed."""
    if not shutil.which("timeout"):
        pytest.skip("no timeout(1)")
    http_server.pause = 20
    url = http_server.url + "/slow?x=1"
    r = run(["timeout", "-s", "TERM", "1", "curl", "-s", "-X", "PUT", url],
            shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"))
    assert r.returncode == 124, r.stderr  # timeout's: its command was killed
    s = collector.wait_for(1, 5)[0]
    assert s["kind"] == "CLIENT" and s["name"] == "PUT"
    assert s["attributes"]["url.full"] == url
    assert s["attributes"]["http.request.method"] == "PUT"
    assert "http.response.status_code" not in s["attributes"]
    assert s["attributes"]["error.type"] == "SIGTERM" and s["status_code"] == 2
    assert s["status_message"].startswith("Terminated (sent by process ")
    assert http_server.header(0, "traceparent") == [
        "00-%s-%s-01" % (s["trace_id"], s["span_id"])]


def test_an_alarm_that_kills_mid_call(collector, http_server):
    http_server.pause = 20
    p = start(shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"), http_server.port, "wait",
              "alarm")
    assert first_line(p) == "sent"
    rc, out, err = finish(p)
    assert rc == -signal.SIGALRM, err
    s = collector.wait_for(1, 5)[0]
    assert s["attributes"]["error.type"] == "SIGALRM"
    assert s["status_message"] == "Alarm clock (a timer)"


# a CGI program or a batch job under a CPU limit (Apache's RLimitCPU, ulimit
# -t): the kernel's SIGXCPU kills it while its request waits
XCPU = r"""
import http.client, sys, threading
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.request("GET", "/cpu")
print("sent", flush=True)
def burn():
    while True:
        pass
threading.Thread(target=burn, daemon=True).start()
c.getresponse().read()
sys.exit(3)
"""


def test_killed_by_its_cpu_time_limit(collector, http_server):
    http_server.pause = 20

    def limit():
        no_core()
        resource.setrlimit(resource.RLIMIT_CPU, (1, 5))
    rcs = []
    for env in (bare_env(), shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000")):
        p = subprocess.Popen([sys.executable, "-c", XCPU, str(http_server.port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit)
        assert first_line(p) == "sent"
        rcs.append(finish(p)[0])
    assert rcs == [-signal.SIGXCPU, -signal.SIGXCPU]
    s = collector.wait_for(1, 5)[0]
    assert s["attributes"]["url.full"].endswith("/cpu")
    assert s["attributes"]["error.type"] == "SIGXCPU"
    assert s["status_message"] == "CPU time limit exceeded (a resource limit: RLIMIT_CPU)"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGRTMIN + 1])
def test_a_handled_signal_is_the_programs(collector, http_server, tmp_path, sig):
    outs = []
    for env in (bare_env(), shim_env(collector)):
        env["HANDLED"] = str(int(sig))
        flag = tmp_path / ("flag%d" % len(outs))
        p = start(env, http_server.port, "done", flag, "handler")
        # the program sees the default disposition, as without the shim
        assert first_line(p) == "default True"
        assert first_line(p) == "ready 200"
        p.send_signal(sig)
        time.sleep(0.3)
        flag.write_text("")
        outs.append(finish(p)[:2])
    assert outs[0] == outs[1] == (0, "handled %d\nstill here\n" % sig)
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1 and spans[0]["status_code"] == 0 and not spans[0]["events"]


@pytest.mark.parametrize("how", ["sigaction", "sysv"])
@pytest.mark.parametrize("then", ["raise", "return"])
def test_a_one_shot_handler_then_the_default(collector, http_server, how, then):
    """A SIGTERM handler with SA_RESETHAND (installed with it, or by
    sysv_signal) runs once; the default is then the disposition. A program
    whose handler raises the signal again dies by it (node's way), one
    whose handler returns dies by the next: its queue is sent either way
    (with a batch delay of 60 s, only the kill can send it). The program
    sees what it sees without the shim: the flag, the default inside its
    handler, its siginfo, its status."""
    outs = []
    for env in (bare_env(), shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000")):
        p = subprocess.Popen([program("oneshot_term"), str(http_server.port), how, then],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert first_line(p) == "ready oneshot"
        p.send_signal(signal.SIGTERM)
        lines = ""
        if then == "return":
            lines = p.stdout.readline().decode() + p.stdout.readline().decode()
            assert lines.endswith("still here\n")
            time.sleep(0.1)
            assert p.poll() is None
            p.send_signal(signal.SIGTERM)
        code, out = finish(p)[:2]
        outs.append((code, lines + out))
    assert outs[0] == outs[1]
    assert outs[1][0] == -signal.SIGTERM
    assert outs[1][1].startswith("handler 15 default %d\n" % (how == "sigaction"))
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1 and spans[0]["attributes"]["url.full"].endswith("/oneshot")
    assert spans[0]["status_code"] == 0


NODE_SERVER = r"""
const http = require('http');
const s = http.createServer((req, res) => {
  http.get('http://127.0.0.1:' + process.argv[1] + '/from-node', (r) => {
    r.resume();
    r.on('end', () => res.end('ok\n'));
  });
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
"""


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_node_killed_by_sigterm_sends_its_spans(collector, http_server):
    """node handles SIGTERM with a one-shot handler that resets the
    terminal and raises it again: a node service stopped by its service
    manager still sends the spans it queued (its request's SERVER span and
    the call it made), and dies by SIGTERM as without the shim."""
    codes = []
    for env in (bare_env(), shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000",
                                     OTEL_SERVICE_NAME="node")):
        p = subprocess.Popen(["node", "-e", NODE_SERVER, str(http_server.port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        port = int(first_line(p))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(b"GET /job HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while not got.endswith(b"ok\n"):
                b = c.recv(4096)
                if not b:
                    break
                got += b
        assert got.endswith(b"ok\n")
        p.send_signal(signal.SIGTERM)
        codes.append(finish(p)[0])
    assert codes == [-signal.SIGTERM, -signal.SIGTERM]
    spans = collector.wait_for(2, 5)
    srv = [s for s in spans if s["kind"] == "SERVER"]
    cli = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(srv) == 1 and len(cli) == 1 and len(spans) == 2
    assert srv[0]["attributes"]["url.path"] == "/job"
    assert cli[0]["attributes"]["url.full"].endswith("/from-node")
    assert cli[0]["parent_span_id"] == srv[0]["span_id"]


def test_an_ignored_signal_stays_ignored(collector, http_server, tmp_path):
    flag = tmp_path / "flag"

    def ignore_hup():
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup does
    p = subprocess.Popen([sys.executable, "-c", CLIENT, str(http_server.port), "done",
                          str(flag), "ignored"], env=shim_env(collector),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ignore_hup)
    assert first_line(p) == "ignored True"
    assert first_line(p) == "ready 200"
    p.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    flag.write_text("")
    assert finish(p)[:2] == (0, "still here\n")


def test_a_signal_waited_for_is_received(collector, http_server):
    p = start(shim_env(collector), http_server.port, "done", "sigwait")
    assert first_line(p) == "ready 200"
    time.sleep(0.1)
    p.send_signal(signal.SIGTERM)
    assert finish(p)[:2] == (0, "got 15\n")
    assert len(collector.wait_for(1, 5)) == 1


SERVER = r"""
import ctypes, http.server, sys, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/crash":
            ctypes.string_at(0)  # SIGSEGV, at its default
        print("handling", self.path, flush=True)
        time.sleep(30)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def test_a_request_being_served_on_another_thread_ends_as_killed(collector):
    """A threaded server stopped while a request is handled: the signal
    interrupts the main thread (in its accept loop), the request's SERVER
    span is another thread's, and is exported as killed, in its caller's
    trace."""
    import socket
    p = subprocess.Popen([sys.executable, "-c", SERVER],
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = int(first_line(p))
    tid, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\ntraceparent: 00-%s-%s-01\r\n\r\n"
              % (tid.encode(), parent.encode()))
    assert first_line(p) == "handling /slow"
    p.send_signal(signal.SIGTERM)
    rc, out, err = finish(p)
    c.close()
    assert rc == -signal.SIGTERM, err
    s = collector.wait_for(1, 5)[0]
    assert s["kind"] == "SERVER" and s["trace_id"] == tid and s["parent_span_id"] == parent
    assert s["attributes"]["url.path"] == "/slow"
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGTERM"
    assert s["status_message"].startswith("Terminated (sent by process ")


def test_a_crash_ends_the_requests_other_threads_serve(collector):
    """A crash at the default action kills the whole process: the request
    another thread serves is exported as ended by it, besides the crashing
    request's own span with its stack trace."""
    import socket
    p = subprocess.Popen([sys.executable, "-c", SERVER],
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = int(first_line(p))
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert first_line(p) == "handling /slow"
    crash = socket.create_connection(("127.0.0.1", port))
    crash.sendall(b"GET /crash HTTP/1.1\r\nHost: x\r\n\r\n")
    rc, out, err = finish(p)
    slow.close()
    crash.close()
    assert rc == -signal.SIGSEGV, err
    spans = {s["attributes"]["url.path"]: s for s in collector.wait_for(2, 5)}
    assert sorted(spans) == ["/crash", "/slow"]
    for s in spans.values():
        assert s["kind"] == "SERVER" and s["status_code"] == 2
        assert s["attributes"]["error.type"] == "SIGSEGV"
    ex = [e["attributes"] for e in spans["/crash"]["events"] if e["name"] == "exception"]
    assert "exception.stacktrace" in ex[0]
    ex = [e["attributes"] for e in spans["/slow"]["events"] if e["name"] == "exception"]
    assert ex[0]["exception.message"].startswith("Segmentation fault")
    assert "exception.stacktrace" not in ex[0]  # not where this request was



class Silent(Listener):
    """Takes connections and reads what comes, never answers: a server a
    call waits on until the caller dies. got: connections that sent."""

    def __init__(self):
        self.got, self.conns = 0, []
        super().__init__()

    def serve(self, c):
        self.conns.append(c)
        first = True
        while True:
            try:
                if not c.recv(65536):
                    return
            except OSError:
                return
            if first:
                self.got += 1
                first = False

    def close(self):
        super().close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("how", ["term", "segv"])
def test_the_calls_other_threads_wait_in_end_as_killed(collector, http_server, how):
    """A threaded program killed while its threads wait in calls (libcurl
    transfers that hang, a Redis command with no reply): the signal
    interrupts the main thread, waiting for them with no span of its own,
    or a thread that crashes. The other threads' calls are exported, ended
    by that signal, each in its own trace. A thread that blocks SIGTERM
    (leaving it to the main thread) is asked with another signal it takes
    (a SIGSEGV it does not block reaches it anyway); one that blocks every
    signal keeps it pending: its call is lost, and the process still dies
    at once, by that signal."""
    http_server.pause = 30
    redis = Silent()
    url = http_server.url
    args = ["curl:%s/a" % url, "curl:%s/b" % url, "redis:%d" % redis.port,
            "blocked-curl:%s/c" % url, "deaf-curl:%s/d" % url] + (
                ["segv"] if how == "segv" else [])
    p = subprocess.Popen([program("threads_stuck")] + args,
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert first_line(p) == "started"
        deadline = time.time() + 10
        while (len(http_server.requests) < 4 or redis.got < 1) and time.time() < deadline:
            time.sleep(0.02)
        assert len(http_server.requests) == 4 and redis.got == 1
        time.sleep(0.2)  # each in its wait for the answer
        t = time.monotonic()
        if how == "term":
            os.kill(p.pid, signal.SIGTERM)
        else:
            p.stdin.write(b"go\n")
            p.stdin.flush()
        rc, out, err = finish(p)
        took = time.monotonic() - t
    finally:
        p.kill()
        redis.close()
    sig = signal.SIGTERM if how == "term" else signal.SIGSEGV
    assert rc == -sig, err
    assert "done" not in out and "curl" not in out and "redis" not in out, out
    assert took < 5, took
    # the thread that blocks every signal loses its call
    paths = ["/a", "/b", "/c"]
    spans = collector.wait_for(len(paths) + 1, 5)
    time.sleep(0.3)
    spans = collector.spans
    assert len(spans) == len(paths) + 1, spans
    curl = {s["attributes"]["url.full"]: s for s in spans if "url.full" in s["attributes"]}
    assert sorted(curl) == [url + p for p in paths], spans
    red = [s for s in spans if s["attributes"].get("db.system.name") == "redis"]
    assert len(red) == 1 and red[0]["attributes"]["db.query.text"] == "GET k", spans
    for s in spans:
        assert s["kind"] == "CLIENT" and s["status_code"] == 2, s
        assert s["attributes"]["error.type"] == sig.name, s
        ex = [e["attributes"] for e in s["events"] if e["name"] == "exception"]
        assert len(ex) == 1 and ex[0]["exception.type"] == sig.name
        if how == "term":
            msg = "Terminated (sent by process %d)" % os.getpid()
        else:
            msg = ex[0]["exception.message"]
            assert msg.startswith("Segmentation fault"), msg
        assert ex[0]["exception.message"] == s["status_message"] == msg
        assert "exception.stacktrace" not in ex[0]  # not where these calls were
    assert len({s["trace_id"] for s in spans}) == len(spans)
    # each transfer's request named its span
    for req in http_server.requests:
        s = curl.get(url + req["path"])
        if s:
            tp = [v for k, v in req["headers"] if k.lower() == "traceparent"]
            assert tp == ["00-%s-%s-01" % (s["trace_id"], s["span_id"])]


LOOP = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
n = 0
while True:
    c.request("GET", "/n%d" % n)
    c.getresponse().read()
    n += 1
    print(n, flush=True)
"""


def test_killed_anywhere_in_a_busy_loop(collector, http_server):
    """SIGTERM at an arbitrary moment of a loop of requests: inside the
    interpreter, the hooks, the queue, a system call. Each time the process
    dies by it, at once; every request it completed is exported, and a span
    under way at most once more, as killed; everything decodes."""
    import random
    rng = random.Random(7)
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000")
    done = {}
    for _ in range(12):
        p = subprocess.Popen([sys.executable, "-c", LOOP, str(http_server.port)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert p.stdout.readline().strip() == b"1"
        time.sleep(rng.uniform(0.0, 0.15))
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        assert p.returncode == -signal.SIGTERM, err
        assert time.time() - t0 < 2, "the flush is bounded by AUTOTRACE_EXIT_TIMEOUT"
        done[p.pid] = 1 + len(out.split())
    spans = collector.wait_for(sum(done.values()), 10)
    for pid, n in done.items():
        mine = [s for s in spans if s["resource"]["process.pid"] == pid]
        ok = [s for s in mine if s["status_code"] == 0]
        killed = [s for s in mine if s["status_code"] != 0]
        assert len(ok) >= n, (pid, n, len(ok))
        assert len(killed) <= 1
        for s in ok:
            assert s["attributes"]["http.response.status_code"] == 200 and not s["events"]
        for s in killed:
            assert s["attributes"]["error.type"] == "SIGTERM"
        paths = sorted(int(s["attributes"]["url.full"].rsplit("/n", 1)[1]) for s in mine)
        assert paths == list(range(len(paths))), "no span twice, none missing"


CGI = r"""
import os, sys, time
os.write(1, b"Status: 201 Created\r\nContent-Type: text/plain\r\n\r\npart")
if sys.argv[1] == "close":   # the response is out of its hands
    os.close(1)
print("ready", file=sys.stderr, flush=True)
time.sleep(30)
"""


@pytest.mark.parametrize("how", ["close", "hold"])
def test_a_cgi_program_killed_after_or_during_its_response(collector, how):
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000", GATEWAY_INTERFACE="CGI/1.1",
                   REQUEST_METHOD="GET", SCRIPT_NAME="/cgi-bin/slow.cgi",
                   REQUEST_URI="/cgi-bin/slow.cgi")
    p = subprocess.Popen([sys.executable, "-c", CGI, how], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stderr.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=20)
    assert p.returncode == -signal.SIGTERM, err
    s = collector.wait_for(1, 5)[0]
    assert s["kind"] == "SERVER" and s["name"] == "GET /cgi-bin/slow.cgi"
    assert s["attributes"]["http.response.status_code"] == 201
    if how == "close":
        # its web server had the whole response (lighttpd kills such a program)
        assert s["status_code"] == 0 and not s["events"]
    else:
        # killed mid-response (a web server gives up on a program whose client left)
        assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGTERM"


def inner_pid(p):
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = f.read().split()
            if kids:
                return int(kids[0])
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError("no child of unshare")


def test_a_pid_namespaces_init_is_not_killed_by_a_default_signal(collector, http_server):
    """The kernel does not deliver to a PID namespace's init (a container's
    program) a signal it leaves at the default: a handler of ours would make
    it delivered, so init gets none, and a call under way when it comes
    finishes as it would without the shim."""
    if subprocess.run(["unshare", "-Urpf", "true"], capture_output=True).returncode:
        pytest.skip("no user and PID namespaces here")
    http_server.pause = 1.5
    p = subprocess.Popen(["unshare", "-Urpf", sys.executable, "-c", CLIENT,
                          str(http_server.port), "wait"],
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert first_line(p) == "sent"
    os.kill(inner_pid(p), signal.SIGTERM)
    rc, out, err = finish(p)
    assert rc == 3, err  # it got its response
    s = collector.wait_for(1, 5)[0]
    assert s["attributes"]["http.response.status_code"] == 200
    assert s["status_code"] == 0 and not s["events"]


GIT_BACKEND = "/usr/lib/git-core/git-http-backend"


@pytest.mark.skipif(not shutil.which("git") or not os.path.exists(GIT_BACKEND),
                    reason="git is not installed")
def test_git_clone_through_git_http_backend(collector, web, tmp_path):
    """lighttpd ends a CGI program that outlives its response with SIGTERM:
    git-http-backend gives its stdout to `git upload-pack` and waits for it,
    the pipe's end is the response's. Each request's CGI span was lost (no
    exit, no flush); now it is exported, with the status its head gave and
    no error, under the clone's CLIENT span."""
    git = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
    repo = tmp_path / "repo.git"
    work = tmp_path / "work"
    env = dict(os.environ, **git)
    env.pop("LD_PRELOAD", None)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True, env=env)
    subprocess.run(["git", "init", "-q", str(work)], check=True, env=env)
    for i in range(3):
        (work / ("f%d" % i)).write_text("%d\n" % i)
        subprocess.run(["git", "-C", str(work), "add", "."], check=True, env=env)
        subprocess.run(["git", "-C", str(work), "-c", "user.email=t@e", "-c", "user.name=t",
                        "commit", "-q", "-m", "c%d" % i], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(repo), "HEAD:refs/heads/main"],
                   check=True, env=env)
    srv = web(GIT_PROJECT_ROOT=str(tmp_path), GIT_HTTP_EXPORT_ALL="1")
    os.symlink(GIT_BACKEND, os.path.join(srv.cgi, "git.cgi"))
    url = "http://127.0.0.1:%d/cgi-bin/git.cgi/repo.git" % srv.port
    r = run(["git", "clone", "-q", url, str(tmp_path / "clone")],
            shim_env(collector, OTEL_SERVICE_NAME="git", **git))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path / "clone")) == [".git", "f0", "f1", "f2"]
    spans = collector.wait_for(6, 10)
    clients = [s for s in spans if s["kind"] == "CLIENT"]
    servers = [s for s in spans if s["kind"] == "SERVER"]
    # info/refs, then the upload-pack POSTs (how many: git's choice)
    assert len(clients) >= 2 and len(servers) == len(clients), \
        [(s["kind"], s["name"]) for s in spans]
    for c in clients:
        s = [x for x in servers if x["parent_span_id"] == c["span_id"]]
        assert len(s) == 1, c
        s = s[0]
        assert s["trace_id"] == c["trace_id"]
        assert s["name"] == "%s /cgi-bin/git.cgi" % c["name"]
        assert s["attributes"]["http.response.status_code"] == 200
        assert s["status_code"] == 0 and not s["events"], s
        assert c["attributes"]["http.response.status_code"] == 200


# SIGPIPE: a program writing to a pipe whose reader has gone (`prog | head`,
# a CGI program whose web server closed its stdout) dies by it when it leaves
# it at the default, as Perl does. argv: the server's port, the mode.
PIPE_WRITER = r"""
use strict; use IO::Socket::INET; use POSIX ();
my ($port, $mode) = @ARGV;
my $old = POSIX::SigAction->new;
POSIX::sigaction(POSIX::SIGPIPE(), undef, $old);
print STDERR "view ", ($old->handler eq 'DEFAULT' ? "default" : "other"), "\n";
$SIG{PIPE} = 'IGNORE' if $mode eq 'ignore';
$SIG{PIPE} = sub { print STDERR "handled\n"; POSIX::_exit(7) } if $mode eq 'handler';
my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "connect: $!";
print $s "GET /pipe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
my $r = join("", <$s>);
$| = 1;
print "x" x 4096 for 1 .. 100000;
print STDERR "survived\n";
POSIX::_exit(0);  # not exit: its flush of stdout would fail, or not
"""


def pipe_writer(env, port, mode):
    """Runs PIPE_WRITER with its stdout read a little, then closed."""
    p = subprocess.Popen(["perl", "-e", PIPE_WRITER, str(port), mode], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=no_core)
    assert p.stdout.read(100) == b"x" * 100
    p.stdout.close()
    err = p.stderr.read().decode()
    return p.wait(20), err.splitlines()


@pytest.mark.skipif(not shutil.which("perl"), reason="no perl")
@pytest.mark.parametrize("mode", ["default", "ignore", "handler"])
def test_sigpipe(collector, http_server, mode):
    """Left at the default: the program dies by SIGPIPE as without the
    shim, its span exported first (the next export was a minute away), and
    sigaction reads back the default. Ignored or handled: as without the
    shim."""
    bare = pipe_writer(bare_env(), http_server.port, mode)
    shim = pipe_writer(shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"), http_server.port,
                       mode)
    assert shim == bare
    assert bare == {"default": (-signal.SIGPIPE, ["view default"]),
                    "ignore": (0, ["view default", "survived"]),
                    "handler": (7, ["view default", "handled"])}[mode]
    if mode != "default":
        return  # exported at exit
    spans = collector.wait_for(1, 5)
    assert len(spans) == 1, spans
    s = spans[0]
    assert s["kind"] == "CLIENT" and s["attributes"]["http.response.status_code"] == 200


CGI_WRITER = r"""
use POSIX ();
$| = 1;
print "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
print "x" x 4096 for 1 .. 100000;
POSIX::_exit(0);
"""


@pytest.mark.skipif(not shutil.which("perl"), reason="no perl")
def test_a_cgi_program_whose_client_left(collector):
    """A Perl CGI program whose web server closed its stdout mid-response
    (the client left): it dies by SIGPIPE, as without the shim, and its
    request's span says so, in the caller's trace."""
    tid, sid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000", GATEWAY_INTERFACE="CGI/1.1",
                   REQUEST_METHOD="GET", SCRIPT_NAME="/cgi-bin/big.cgi",
                   REQUEST_URI="/cgi-bin/big.cgi", HTTP_TRACEPARENT="00-%s-%s-01" % (tid, sid))
    p = subprocess.Popen(["perl", "-e", CGI_WRITER], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=no_core)
    assert p.stdout.read(100).startswith(b"Status: 200 OK")
    p.stdout.close()
    assert p.wait(20) == -signal.SIGPIPE, p.stderr.read()
    s = collector.wait_for(1, 5)[0]
    assert s["kind"] == "SERVER" and s["name"] == "GET /cgi-bin/big.cgi"
    assert (s["trace_id"], s["parent_span_id"]) == (tid, sid)
    assert s["attributes"]["http.response.status_code"] == 200
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGPIPE"
    assert s["status_message"] == "Broken pipe (a write to a pipe or socket its reader closed)"


UPLOADER = r"""
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
c.putrequest("PUT", "/upload")
c.putheader("Content-Length", str(64 << 20))
c.endheaders()
print("sending", flush=True)
c.send(b"x" * (64 << 20))  # the server reads none of it: blocks
"""


def test_killed_in_a_write_that_blocks(collector):
    """SIGTERM while the program is blocked writing a request's body (the
    server reads nothing): the request's span, whose connection the write
    holds, ends as killed."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    p = subprocess.Popen([sys.executable, "-c", UPLOADER, str(srv.getsockname()[1])],
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    conn, _ = srv.accept()
    try:
        assert first_line(p) == "sending"
        time.sleep(0.5)  # the socket's buffers fill: the send blocks
        p.send_signal(signal.SIGTERM)
        rc, out, err = finish(p)
        assert rc == -signal.SIGTERM, err
        head = conn.recv(65536)
    finally:
        conn.close()
        srv.close()
    s = collector.wait_for(1, 5)[0]
    assert s["kind"] == "CLIENT" and s["name"] == "PUT"
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGTERM"
    assert b"traceparent: 00-%s-%s-01" % (s["trace_id"].encode(), s["span_id"].encode()) in head
