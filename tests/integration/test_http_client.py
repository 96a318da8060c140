"""Issue 3, client side: HTTP/1.x requests written on plain sockets get a
CLIENT span and the propagation headers, and the wire carries exactly the
application's bytes plus our header lines, however the application writes."""
import os
import re
import socket
import subprocess

import pytest

from conftest import run, shim_env, program
from httpnet import CaptureServer, Server, header_lines, strip_injected, one

TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


@pytest.fixture
def capture():
    s = CaptureServer()
    yield s
    s.close()


def plain_env():
    env = shim_env()
    del env["LD_PRELOAD"]
    return env


def client(env, port, *opts, path="/p?q=1"):
    return run([program("http_client")] + list(opts) + [str(port), path], env)


WRITE_MODES = {
    "write": [],
    "bytewise": ["-b"],
    "writev": ["-w"],
    "sendmsg": ["-M"],
    "nonblock": ["-N"],
    "nonblock-bytewise": ["-N", "-b"],
    "tiny-sndbuf-10k-header": ["-N", "-S", "1", "-B", "10000"],
    "post-body": ["-d", "a=1&b=2"],
    "reads-bytewise": ["-R", "1"],  # __read_chk, one byte at a time
    "nonblock-reads-bytewise": ["-N", "-R", "1"],  # __recv_chk
}


@pytest.mark.parametrize("mode", sorted(WRITE_MODES))
def test_injection_is_exact_whatever_the_writes(collector, capture, mode):
    opts = WRITE_MODES[mode]
    r = client(plain_env(), capture.port, *opts)
    assert r.returncode == 0, r.stderr
    r = client(shim_env(collector, OTEL_SERVICE_NAME="cli"), capture.port, *opts)
    assert r.returncode == 0, r.stderr
    assert b"status 200" in r.stdout
    base, traced = capture.wait(2)
    # the application's bytes, in order, untouched; ours added once
    assert strip_injected(traced) == base
    hdrs = header_lines(traced)
    tps = [v for k, v in hdrs if k == "traceparent"]
    assert len(tps) == 1
    m = TP.match(tps[0])
    assert m
    # the added lines sit together right before the end of the header section
    assert hdrs[-1][0] == "traceparent"
    spans = collector.wait_for(1, pred=lambda s: s["kind"] == "CLIENT")
    s = one(spans, kind="CLIENT")
    assert (s["trace_id"], s["span_id"]) == (m.group(1), m.group(2))
    a = s["attributes"]
    assert s["name"] == ("POST" if "-d" in opts else "GET")
    assert a["url.full"] == "http://127.0.0.1:%d/p?q=1" % capture.port
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == capture.port
    assert a["http.response.status_code"] == 200
    assert s["parent_span_id"] == ""


def test_eagain_mid_header_keeps_pending_bytes(collector):
    """The receiver reads late through a tiny buffer: the non-blocking client
    sees EAGAIN over and over, also in the middle of our lines (all the
    propagators make them long; the debug log counts how often)."""
    cap = CaptureServer(delay=0.5, rcvbuf=1024)
    props = "tracecontext,baggage,b3,b3multi,jaeger"
    try:
        sizes = [150000 + 997 * i for i in range(12)]
        base = {}
        for n in sizes:
            r = client(plain_env(), cap.port, "-N", "-S", "1", "-B", str(n), path="/%d" % n)
            assert r.returncode == 0, r.stderr
        for data in cap.wait(len(sizes)):
            base[data.split(b" ")[1]] = data
        # twelve programs ending at once: their exit flushes may take the
        # collector longer than the default bound on a busy machine
        env = shim_env(collector, OTEL_PROPAGATORS=props, AUTOTRACE_LOG_LEVEL="debug",
                       AUTOTRACE_EXIT_TIMEOUT=5000)
        procs = [subprocess.Popen([program("http_client"), "-N", "-S", "1", "-B", str(n),
                                   str(cap.port), "/%d" % n], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for n in sizes]
        waits = 0
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            waits += err.count(b"wait for the socket")
        conns = cap.wait(2 * len(sizes))[len(sizes):]
        assert len(conns) == len(sizes)
        for traced in conns:
            assert strip_injected(traced) == base[traced.split(b" ")[1]]
            names = [k for k, _ in header_lines(traced)]
            assert names.count("traceparent") == 1 and names.count("uber-trace-id") == 1
        assert len(collector.wait_for(len(sizes), pred=lambda s: s["kind"] == "CLIENT")) == \
            len(sizes)
        print("EAGAIN inside the injected lines: %d of %d requests" % (waits, len(sizes)))
    finally:
        cap.close()


def test_app_traceparent_is_kept_and_nothing_added(collector, capture):
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for opts in ([], ["-b"]):
        r = client(shim_env(collector), capture.port, *opts, "-H", "traceparent: " + mine)
        assert r.returncode == 0, r.stderr
    for data in capture.wait(2):
        hdrs = header_lines(data)
        assert [v for k, v in hdrs if k == "traceparent"] == [mine]
        assert not [k for k, _ in hdrs if k in ("tracestate", "baggage")]
    # still a client span each
    assert len(collector.wait_for(2, pred=lambda s: s["kind"] == "CLIENT")) == 2


def test_keep_alive_one_span_per_request(collector):
    env = shim_env(collector, OTEL_SERVICE_NAME="srv")
    srv = Server(env, "-e")
    try:
        r = client(shim_env(collector, OTEL_SERVICE_NAME="cli"), srv.port, "-n", "3")
        assert r.returncode == 0, r.stderr
        assert r.stdout.count(b"status 200") == 3
        assert r.stdout.count(b"traceparent:") == 3
        spans = collector.wait_for(6)
        clients = [s for s in spans if s["kind"] == "CLIENT"]
        servers = [s for s in spans if s["kind"] == "SERVER"]
        assert len(clients) == 3 and len(servers) == 3
        assert len({s["trace_id"] for s in clients}) == 3
        for c in clients:
            sv = one(servers, parent_span_id=c["span_id"])
            assert sv["trace_id"] == c["trace_id"]
    finally:
        srv.close()


@pytest.mark.parametrize("framing", ["len", "chunked", "close"])
def test_response_framing_and_error_status(collector, framing):
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-s", "503", "-r", framing)
    try:
        r = client(shim_env(collector, OTEL_SERVICE_NAME="cli"), srv.port, "-n", "2")
        assert r.stdout.count(b"status 503") == (1 if framing == "close" else 2), r.stdout
        n = 1 if framing == "close" else 2
        spans = collector.wait_for(2 * n)
        for s in spans:
            assert s["attributes"]["http.response.status_code"] == 503
            assert s["status_code"] == 2 and s["attributes"]["error.type"] == "503"
    finally:
        srv.close()


def test_wget_and_python_urllib(collector, http_server):
    r = run(["wget", "-q", "-O", "-", http_server.url + "/w"], shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"hello\n"
    code = ("import urllib.request,sys; "
            "print(urllib.request.urlopen(sys.argv[1]).read().decode())")
    r = run(["/usr/bin/python3", "-c", code, http_server.url + "/u"], shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"hello\n\n", r.stderr
    spans = collector.wait_for(2, pred=lambda s: s["kind"] == "CLIENT")
    assert len(http_server.requests) == 2
    for i, path in enumerate(["/w", "/u"]):
        tps = http_server.header(i, "traceparent")
        assert len(tps) == 1
        m = TP.match(tps[0])
        s = one(spans, span_id=m.group(2))
        assert s["attributes"]["url.full"] == http_server.url + path
        assert s["attributes"]["http.response.status_code"] == 200
        assert s["attributes"]["network.peer.address"] == "127.0.0.1"
        assert s["attributes"]["network.peer.port"] == http_server.port


def test_through_a_proxy_the_peer_is_the_proxy(collector, http_server):
    """wget and Python's urllib told to use a proxy (http_proxy) send it the
    absolute URL: url.full and server.* name the origin server, and
    network.peer.* the proxy the bytes went to."""
    env = shim_env(collector, http_proxy=http_server.url, no_proxy="")
    r = run(["wget", "-q", "-O", "-", "http://svc.example:8080/w"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n", r.stderr
    code = ("import urllib.request,sys; "
            "print(urllib.request.urlopen(sys.argv[1]).read().decode())")
    r = run(["/usr/bin/python3", "-c", code, "http://svc.example:8080/u"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n\n", r.stderr
    assert [q["path"] for q in http_server.requests] == ["http://svc.example:8080/w",
                                                        "http://svc.example:8080/u"]
    spans = sorted(collector.wait_for(2, pred=lambda s: s["kind"] == "CLIENT"),
                   key=lambda s: s["start"])
    assert len(spans) == 2
    for s, path in zip(spans, ["/w", "/u"]):
        a = s["attributes"]
        assert a["url.full"] == "http://svc.example:8080" + path
        assert (a["server.address"], a["server.port"]) == ("svc.example", 8080)
        assert (a["network.peer.address"], a["network.peer.port"]) == \
            ("127.0.0.1", http_server.port)


MANY_CONNECTIONS = r"""
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
for i in range(n):
    if i == 200:
        print(rss_kb(), flush=True)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    while s.recv(65536):
        pass
    s.close()
print(rss_kb(), flush=True)
"""


def test_many_short_connections_reuse_the_same_slots(collector):
    # One connection after another, each closed before the next: the shim's
    # state for a connection (a 24 KiB slot) is taken again by the next one.
    # It used to take the next slot round a pool of 16384, so a client that
    # made 3000 connections grew by ~25 MB (8.6 KB of touched pages each).
    # The bound leaves room for the span queue's pages (4.6 MiB at most).
    srv = Server(shim_env(None, AUTOTRACE_ENABLED="0"))
    try:
        r = run(["/usr/bin/python3", "-c", MANY_CONNECTIONS, str(srv.port), "3200"],
                shim_env(collector), timeout=120)
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    early, late = (int(x) for x in r.stdout.split())
    assert late - early < 8 * 1024, (early, late)
    # they were traced: a client span each, none lost
    assert len(collector.wait_for(3200, timeout=30, pred=lambda s: s["kind"] == "CLIENT")) == 3200


def test_exporter_none_propagates_and_records_nothing(http_server):
    # OTEL_TRACES_EXPORTER=none: the trace still goes on, sampled, to the
    # next service; no span is built or queued for an exporter that is not
    # there (it used to fill the queue and count every later span dropped)
    env = shim_env(None, OTEL_TRACES_EXPORTER="none", AUTOTRACE_LOG_LEVEL="info")
    r = run(["curl", "-s", http_server.url + "/a", http_server.url + "/b"], env)
    assert r.returncode == 0 and r.stdout == b"hello\nhello\n"
    for i in range(2):
        tps = http_server.header(i, "traceparent")
        assert len(tps) == 1 and TP.match(tps[0]) and tps[0].endswith("-01"), tps
    assert re.search(rb"spans queued 0, exported 0, dropped 0", r.stderr), r.stderr


def test_curl_cli_makes_one_span_and_one_header(collector, http_server):
    """curl's own socket I/O happens inside the curl hook: no second span,
    no second header."""
    r = run(["curl", "-s", http_server.url + "/c"], shim_env(collector))
    assert r.returncode == 0
    assert len(http_server.header(0, "traceparent")) == 1
    spans = collector.wait_for(2, timeout=3)
    assert len(spans) == 1


NON_HTTP = {
    "redis": b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
    "tls": bytes.fromhex("160301007a0100007603035e") + os.urandom(100),
    "binary": bytes(range(256)) * 4,
    "lowercase-method": b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "http2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


@pytest.mark.parametrize("kind", sorted(NON_HTTP))
def test_non_http_traffic_is_never_modified(collector, kind):
    cap = CaptureServer(http=False)
    try:
        payload = NON_HTTP[kind]
        code = ("import socket,sys; s=socket.create_connection(('127.0.0.1', int(sys.argv[1]))); "
                "d=bytes.fromhex(sys.argv[2]); [s.send(d[i:i+7]) for i in range(0, len(d), 7)]; "
                "s.close()")
        r = run(["/usr/bin/python3", "-c", code, str(cap.port), payload.hex()],
                shim_env(collector))
        assert r.returncode == 0, r.stderr
        assert cap.wait(1) == [payload]
    finally:
        cap.close()


RETIRE = r"""
import socket, sys
raw, http = int(sys.argv[1]), int(sys.argv[2])
a = socket.create_connection(("127.0.0.1", raw))
fd = a.fileno()
a.sendall(bytes.fromhex(sys.argv[3]))
a.sendall(b"GET /late HTTP/1.1\r\nHost: late\r\n\r\n")  # HTTP after the fact
a.close()
b = socket.create_connection(("127.0.0.1", http))
assert b.fileno() == fd, (b.fileno(), fd)
b.sendall(b"GET /new HTTP/1.1\r\nHost: new\r\n\r\n")
while b.recv(4096):
    pass
"""


def test_non_http_connection_no_longer_watched(collector, capture):
    """A connection whose first bytes are not HTTP/1.x can never be traced:
    its fd is forgotten (every later read and write passes straight through),
    HTTP written on it later is left alone, and a new connection on the same
    number is traced afresh."""
    cap = CaptureServer(http=False)
    try:
        payload = NON_HTTP["tls"]  # (Redis is followed as Redis: test_redis_wire.py)
        r = run(["/usr/bin/python3", "-c", RETIRE, str(cap.port), str(capture.port),
                 payload.hex()], shim_env(collector, AUTOTRACE_LOG_LEVEL="debug"))
        assert r.returncode == 0, r.stderr
        assert cap.wait(1) == [payload + b"GET /late HTTP/1.1\r\nHost: late\r\n\r\n"]
        assert b"not HTTP/1.x or out of step: no longer watched" in r.stderr
        new = capture.wait(1)
        assert len(new) == 1 and strip_injected(new[0]) == b"GET /new HTTP/1.1\r\nHost: new\r\n\r\n"
        s = one(collector.wait_for(1, pred=lambda s: s["kind"] == "CLIENT"), kind="CLIENT")
        assert s["attributes"]["url.full"] == "http://new/new"
    finally:
        cap.close()


def test_disabled_shim_leaves_the_wire_byte_identical(capture):
    opts = ["-b", "-H", "X-A: 1"]
    r1 = client(plain_env(), capture.port, *opts)
    r2 = client(shim_env(None, AUTOTRACE_ENABLED="0"), capture.port, *opts)
    r3 = client(shim_env(None, OTEL_SDK_DISABLED="true"), capture.port, *opts)
    assert r1.returncode == r2.returncode == r3.returncode == 0
    a, b, c = capture.wait(3)
    assert a == b == c
    assert b"traceparent" not in a


def test_file_io_is_unaffected(tmp_path, collector):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(1 << 20))
    dst = tmp_path / "dst"
    r = run(["/bin/sh", "-c", "cat %s | dd of=%s bs=777 2>/dev/null && cp %s %s.2"
             % (src, dst, dst, dst)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == src.read_bytes()
    assert (tmp_path / "dst.2").read_bytes() == src.read_bytes()
    assert collector.wait_for(1, timeout=1) == []


FD_REUSE = r"""
import ctypes, os, socket, sys
port, path, how = int(sys.argv[1]), sys.argv[2], sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(("127.0.0.1", port))
fd = s.detach()
if how == "close_range":
    os.closerange(fd, fd + 1)
else:  # a close the shim never sees
    libc.syscall(3, fd)
f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
assert f == fd, (f, fd)
data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(len(data)):
    os.write(f, data[i:i + 1])
os.close(f)
"""


@pytest.mark.parametrize("how", ["close_range", "raw-syscall"])
def test_fd_number_reused_by_a_file_after_unseen_close(tmp_path, collector, capture, how):
    """A socket's fd number given to a file: HTTP-looking bytes written to the
    file are never touched (close_range forgets the fd; a close we never saw is
    caught by the inode check)."""
    path = tmp_path / "out"
    r = run(["/usr/bin/python3", "-c", FD_REUSE, str(capture.port), str(path), how],
            shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


FD_REPLACED = r"""
import ctypes, fcntl, os, socket, sys
port, path, how = int(sys.argv[1]), sys.argv[2], sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(("127.0.0.1", port))
fd = s.detach()
if how == "close":
    os.close(fd)
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert f == fd, (f, fd)
elif how == "dup2":
    f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(f, fd)
    os.close(f)
else:  # a close and a dup the shim never sees: a pipe takes the number
    r, w = os.pipe()
    libc.syscall(3, fd)
    f = fcntl.fcntl(w, fcntl.F_DUPFD, fd)
    assert f == fd, (f, fd)
    os.close(w)
data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(len(data)):
    os.write(fd, data[i:i + 1])
os.close(fd)
if how == "pipe":
    open(path, "wb").write(os.read(r, 4096))
"""


@pytest.mark.parametrize("how", ["close", "dup2", "pipe"])
def test_fd_number_taken_by_a_file_or_pipe(tmp_path, collector, capture, how):
    """The socket's entry does not outlive the socket: after close or dup2
    the number is a plain fd; after a close and a dup we never saw, our
    header lines, which only go out through sendmsg/send, are refused by the
    pipe (ENOTSOCK) and the application's write goes through as it was.
    Never a byte added, never a span."""
    path = tmp_path / "out"
    r = run(["/usr/bin/python3", "-c", FD_REPLACED, str(capture.port), str(path), how],
            shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert collector.wait_for(1, timeout=1) == []


STALE = r"""
import ctypes, os, socket, sys
port = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
a = socket.create_connection(("127.0.0.1", port))
fd = a.detach()
os.write(fd, b"GET /old HTTP/1.1\r\nHost: old\r\n")  # the parser is mid-header
libc.syscall(3, fd)  # a close the shim never sees
b = socket.create_connection(("127.0.0.1", port))
assert b.fileno() == fd, (b.fileno(), fd)
b.sendall(b"GET /new HTTP/1.1\r\nHost: new\r\n\r\n")
while b.recv(4096):
    pass
"""


def test_fd_number_reused_by_a_socket_after_unseen_close(collector, capture):
    """A new connection on the number starts afresh: nothing of the old
    connection's half-parsed request (its Host, its state) carries over."""
    r = run(["/usr/bin/python3", "-c", STALE, str(capture.port)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    conns = capture.wait(2)
    old = [c for c in conns if b"/old" in c]
    new = [c for c in conns if b"/new" in c]
    assert old == [b"GET /old HTTP/1.1\r\nHost: old\r\n"]
    assert len(new) == 1 and strip_injected(new[0]) == b"GET /new HTTP/1.1\r\nHost: new\r\n\r\n"
    assert [k for k, _ in header_lines(new[0])].count("traceparent") == 1
    s = one(collector.wait_for(1, pred=lambda s: s["kind"] == "CLIENT"), kind="CLIENT")
    assert s["attributes"]["url.full"] == "http://new/new"
    assert s["attributes"]["http.response.status_code"] == 200


SOCKETPAIR = r"""
import ctypes, os, socket, sys
port = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
a = socket.create_connection(("127.0.0.1", port))
fd = a.detach()
libc.syscall(3, fd)  # a close the shim never sees
x, y = socket.socketpair()
assert fd in (x.fileno(), y.fileno()), (fd, x.fileno(), y.fileno())
w, r = (x, y) if x.fileno() == fd else (y, x)
data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(len(data)):
    w.send(data[i:i + 1])
w.close()
got = b""
while True:
    b = r.recv(4096)
    if not b:
        break
    got += b
sys.stdout.write(got.decode())
"""


def test_fd_number_reused_by_a_socketpair_after_unseen_close(collector, capture):
    """A socketpair (neither connect nor accept) on the number of a traced
    connection closed behind our back: it is a new descriptor, not the old
    connection; the bytes go through as written, no header is added."""
    r = run(["/usr/bin/python3", "-c", SOCKETPAIR, str(capture.port)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    assert collector.wait_for(1, timeout=1) == []


def test_connect_spans_only_when_asked(collector, capture):
    r = client(shim_env(collector, AUTOTRACE_NET_SPANS="1"), capture.port)
    assert r.returncode == 0, r.stderr
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    dead.close()  # nothing listens there
    r = client(shim_env(collector, AUTOTRACE_NET_SPANS="1"), port)
    assert r.returncode != 0
    spans = collector.wait_for(3)
    ok = [s for s in spans if s["name"] == "connect" and s["status_code"] == 0]
    assert len(ok) == 1
    ok = ok[0]
    a = ok["attributes"]
    assert (a["server.address"], a["server.port"], a["network.transport"]) == \
        ("127.0.0.1", capture.port, "tcp")
    bad = [s for s in spans if s["name"] == "connect" and s["status_code"] == 2]
    assert len(bad) == 1 and bad[0]["attributes"]["server.port"] == port
    assert bad[0]["status_message"] == "Connection refused"
    get = one(spans, name="GET")
    assert get["trace_id"] != ok["trace_id"]  # siblings in time, both roots
