"""A server's connection under more than one descriptor: an inetd-style
service (started with the client's TCP or unix connection as its stdin and stdout:
inetd, xinetd, systemd's Accept=yes, socat's EXEC with nofork), a server
that answers on a dup() of its socket, a forked child that serves on the
socket dup2'ed onto its stdin and stdout. Each request gets its SERVER
span, with the status of the response written on the other descriptor."""
import contextlib
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port, run, shim_env, program
from httpnet import (PY_ACCEPT_ONE, Server, by_service, one, raw_request, read_all,
                     wait_listening)

TID = "0af7651916cd43dd8448eb211c80319c"
SID = "b7ad6b7169203331"
GOOD = "00-%s-%s-01" % (TID, SID)


def get(path, *headers, close=True):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s\r\n" % (
        path, "".join(h + "\r\n" for h in headers),
        "Connection: close\r\n" if close else "")).encode()


def read_response(s):
    """One response with a Content-Length, whole, from socket s."""
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(4096)
        assert b, "connection closed in a response's head: %r" % data
        data += b
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n")
             if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        b = s.recv(4096)
        assert b
        body += b
    return head, body


def inetd(env, cmd, stdin_kind="tcp", path=None):
    """Starts cmd as inetd would, for one client: its stdin and stdout one
    accepted TCP connection; or one end of a unix socketpair ("unix"); or
    a unix connection to path (a name, or "@name": an abstract one), the
    end a listening socket accepted ("unix-accepted") or the client's
    ("unix-client"). Returns the other end, the process and the listening
    port (0 for unix)."""
    port = 0
    if stdin_kind == "unix":
        mine, theirs = socket.socketpair()
    elif stdin_kind.startswith("unix-"):
        addr = "\0" + path[1:] if path.startswith("@") else path
        ls = socket.socket(socket.AF_UNIX)
        ls.bind(addr)
        ls.listen(1)
        client = socket.socket(socket.AF_UNIX)
        client.connect(addr)
        accepted, _ = ls.accept()
        ls.close()
        mine, theirs = ((client, accepted) if stdin_kind == "unix-accepted"
                        else (accepted, client))
    else:
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        mine = socket.create_connection(("127.0.0.1", port), timeout=10)
        theirs, _ = ls.accept()
        ls.close()
    p = subprocess.Popen(cmd, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE, env=env)
    theirs.close()
    mine.settimeout(10)
    return mine, p, port


@contextlib.contextmanager
def serving(s, p):
    """The with block talks to the service p on s; then p is waited for
    to exit by itself (status 0); s closed and p gone whatever happens."""
    try:
        yield
        assert p.wait(10) == 0
    finally:
        s.close()
        p.kill()
        p.wait(10)


def ask_once(s, p, request):
    """Sends request on s to the service p, reads its one response and
    waits for p to exit. Returns the head, the body and p's stderr."""
    with serving(s, p):
        s.sendall(request)
        head, body = read_response(s)
    return head, body, p.stderr.read().decode()


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_inetd_service_under_socat_is_one_trace_with_its_client(collector, tmp_path, over):
    """busybox httpd -i, a real inetd-mode web server, started per
    connection by socat (EXEC with nofork: the connection is its stdin and
    stdout) listening on TCP or on a unix socket, and asked by curl (with
    --unix-socket), all three under the shim: curl's CLIENT span is the
    parent of busybox's SERVER span, which has the request's attributes
    and each response's status."""
    assert shutil.which("busybox") and shutil.which("socat"), \
        "busybox and socat: scripts/install-deps.sh installs them"
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hi from busybox\n")
    port, sock = free_port(), str(tmp_path / "www.sock")
    listen = ("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port if over == "tcp"
              else "UNIX-LISTEN:%s,fork" % sock)
    srv = subprocess.Popen(
        ["socat", listen, "EXEC:busybox httpd -i -h %s,nofork" % www],
        env=shim_env(collector, OTEL_SERVICE_NAME="bb"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if over == "tcp":
            wait_listening(port, srv)
            url, via = "http://127.0.0.1:%d" % port, []
        else:
            while not os.path.exists(sock):
                assert srv.poll() is None, srv.stderr.read()
                time.sleep(0.05)
            url, via = "http://localhost", ["--unix-socket", sock]
        r = run(["curl", "-s"] + via + [url + "/index.html?x=1"],
                shim_env(collector, OTEL_SERVICE_NAME="curl"))
        assert r.stdout == b"hi from busybox\n"
        r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"] + via + [url + "/nope"],
                shim_env(collector, OTEL_SERVICE_NAME="curl"))
        assert r.stdout == b"404"
        spans = collector.wait_for(4, pred=lambda s: s["resource"].get("service.name") in (
            "bb", "curl"))
        time.sleep(0.3)
        servers = by_service(collector.spans, "bb", "SERVER")
        clients = by_service(collector.spans, "curl", "CLIENT")
        assert len(servers) == 2 and len(clients) == 2, spans
        # the wait for the probe connection: socat's accept made no span
        assert by_service(collector.spans, "bb", "CLIENT") == []
        for path, status in (("/index.html", 200), ("/nope", 404)):
            s = [x for x in servers if x["attributes"]["url.path"] == path][0]
            c = [x for x in clients if x["attributes"]["url.full"].startswith(url + path)][0]
            assert s["trace_id"] == c["trace_id"] and s["parent_span_id"] == c["span_id"]
            a = s["attributes"]
            assert a["http.request.method"] == "GET"
            assert a["http.response.status_code"] == status
            if over == "tcp":
                assert a["server.port"] == port and a["client.address"] == "127.0.0.1"
            else:
                assert a["network.transport"] == "unix" and "server.port" not in a
                assert c["attributes"]["network.peer.address"] == sock
            assert a["user_agent.original"].startswith("curl/")
            assert s["status_code"] == 0  # a 404 is not a server's error
        assert [x for x in servers if x["attributes"]["url.path"] == "/index.html"][0][
            "attributes"]["url.query"] == "x=1"
    finally:
        srv.kill()
        srv.wait(10)


@pytest.mark.parametrize("how", ["write", "stdio"])
def test_inetd_service_keep_alive_requests_each_have_a_span(collector, how):
    """The C test server as an inetd service: two requests on its one
    connection, each a SERVER span with the caller's context and the
    response's status; the client gets exactly the server's bytes. With
    stdio (printf to stdout), libc writes the bytes: the first response at
    an fflush, the last at exit."""
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, port = inetd(env, [program("http_server"), "-m", "inetd"] +
                       (["-S"] if how == "stdio" else []))
    with serving(s, p):
        s.sendall(get("/one?a=b", "traceparent: " + GOOD, close=False))
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 X\r\n") and body == b"hello from %d\n" % p.pid
        s.sendall(get("/two"))
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200 X\r\n")
        assert s.recv(10) == b""
    spans = collector.wait_for(2)
    first = one(spans, name="GET", trace_id=TID)
    assert first["parent_span_id"] == SID and first["kind"] == "SERVER"
    a = first["attributes"]
    assert a["url.path"] == "/one" and a["url.query"] == "a=b"
    assert a["http.response.status_code"] == 200
    assert a["server.port"] == port and a["client.address"] == "127.0.0.1"
    second = [x for x in spans if x["attributes"].get("url.path") == "/two"]
    assert len(second) == 1 and second[0]["attributes"]["http.response.status_code"] == 200
    assert second[0]["trace_id"] != TID
    assert second[0]["resource"]["process.pid"] == p.pid


@pytest.mark.parametrize("framing", ["len", "chunked"])
def test_inetd_stdio_response_longer_than_its_buffer(collector, framing):
    """A response printf'ed and fwrite'd to stdout that does not fit
    stdio's buffer (4 KiB on a socket): libc writes most of it by itself,
    inside those calls, and the rest at the fflush. Each of the two
    requests on the connection has its span and its status; the client
    gets the server's bytes (the body echoes the request's head)."""
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, port = inetd(env, [program("http_server"), "-m", "inetd", "-S", "-e",
                             "-s", "404", "-r", framing])
    pad = "x-pad: " + "p" * 9000
    with serving(s, p):
        first = get("/big", "traceparent: " + GOOD, pad, close=False)
        s.sendall(first)
        if framing == "len":
            head, body = read_response(s)
            assert head.startswith(b"HTTP/1.1 404 X\r\n") and body == first
            s.sendall(get("/two"))
            head, body = read_response(s)
            assert head.startswith(b"HTTP/1.1 404 X\r\n") and body == get("/two")
            assert s.recv(10) == b""
        else:
            want = b"%x\r\n%s\r\n0\r\n\r\n"
            data = b""
            while not data.endswith(b"\r\n0\r\n\r\n"):
                b = s.recv(65536)
                assert b, data
                data += b
            assert data.startswith(b"HTTP/1.1 404 X\r\n")
            assert data.endswith(b"\r\n\r\n" + want % (len(first), first))
            s.sendall(get("/two"))
            data = read_all(s)
            assert data.startswith(b"HTTP/1.1 404 X\r\n")
            assert data.endswith(b"\r\n\r\n" + want % (len(get("/two")), get("/two")))
    spans = collector.wait_for(2)
    big = one(spans, trace_id=TID)
    assert big["parent_span_id"] == SID and big["attributes"]["url.path"] == "/big"
    two = [x for x in spans if x["attributes"].get("url.path") == "/two"]
    assert len(two) == 1
    for x in (big, two[0]):
        assert x["kind"] == "SERVER" and x["attributes"]["http.response.status_code"] == 404
        assert x["attributes"]["server.port"] == port


@pytest.mark.parametrize("where", ["path", "abstract"])
def test_inetd_service_on_a_unix_socket(collector, tmp_path, where):
    """A service started with a connection a listening unix socket accepted
    (systemd's Accept=yes on a ListenStream=/path): a SERVER span for its
    request, the caller's trace continued, the transport unix and no port;
    a listener on a path or an abstract name."""
    path = str(tmp_path / "svc.sock") if where == "path" else "@autotrace-inetd-%d" % os.getpid()
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, _ = inetd(env, [program("http_server"), "-m", "inetd"], "unix-accepted", path)
    head, body, _ = ask_once(s, p, get("/u?k=v", "traceparent: " + GOOD))
    assert head.startswith(b"HTTP/1.1 200 X\r\n") and body == b"hello from %d\n" % p.pid
    s = one(collector.wait_for(1), kind="SERVER")
    assert (s["trace_id"], s["parent_span_id"]) == (TID, SID)
    a = s["attributes"]
    assert a["url.path"] == "/u" and a["url.query"] == "k=v"
    assert a["http.response.status_code"] == 200 and a["network.transport"] == "unix"
    assert "server.port" not in a and "client.address" not in a


@pytest.mark.parametrize("why", ["switched-off", "traceparent", "unix-socket", "unix-client"])
def test_stdin_socket_not_followed(collector, why, tmp_path):
    """No SERVER span where stdin is not an inetd client's connection to
    follow: AUTOTRACE_INETD=0; a program started within a trace
    (TRACEPARENT: a traced parent's request, which the parent reads); a
    unix socketpair (how libuv gives a child its stdio); the connecting
    end of a unix connection (the program is the client). The service's
    bytes are the same."""
    extra = {"AUTOTRACE_INETD": "0"} if why == "switched-off" else (
        {"TRACEPARENT": GOOD} if why == "traceparent" else {})
    env = shim_env(collector, OTEL_SERVICE_NAME="svc", AUTOTRACE_LOG_LEVEL="debug", **extra)
    s, p, _ = inetd(env, [program("http_server"), "-m", "inetd"],
                    why if why.startswith("unix") else "tcp", str(tmp_path / "c.sock"))
    head, body, err = ask_once(s, p, get("/x"))
    assert head == b"HTTP/1.1 200 X\r\nContent-Length: %d\r\nConnection: close" % len(body)
    assert "inetd service" not in err
    time.sleep(0.5)
    assert [x for x in collector.spans if x["kind"] == "SERVER"] == []


@pytest.mark.parametrize("how", ["dup", "fdopen"])
@pytest.mark.parametrize("framing", ["len", "close"])
def test_response_written_on_a_dup_of_the_socket(collector, framing, how):
    """A server thread that reads its connection and answers on a dup() of
    it, closing the dup first; or, the classic way, with stdio on
    fdopen(dup(s), "w"), fflush'ed after each response but the last, which
    fclose writes: every request of a keep-alive connection has its span
    and its response's status; a response that ends at close ends with the
    last descriptor."""
    args = ["-m", "dup"] if how == "dup" else ["-m", "thread", "-S"]
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-r", framing, *args)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        if framing == "len":
            s.sendall(get("/a", "traceparent: " + GOOD, close=False))
            assert read_response(s)[0].startswith(b"HTTP/1.1 200")
            s.sendall(get("/b"))
            assert read_response(s)[0].startswith(b"HTTP/1.1 200")
        else:
            s.sendall(get("/a", "traceparent: " + GOOD))
        rest = read_all(s)
        s.close()
        if framing == "close":
            assert rest.startswith(b"HTTP/1.1 200 X\r\nConnection: close\r\n\r\nhello from ")
        want = 2 if framing == "len" else 1
        spans = collector.wait_for(want)
        time.sleep(0.3)
        assert len(collector.spans) == want
        a = one(spans, trace_id=TID)
        assert a["parent_span_id"] == SID and a["attributes"]["url.path"] == "/a"
        for x in spans:
            assert x["attributes"]["http.response.status_code"] == 200
        if framing == "len":
            assert {x["attributes"]["url.path"] for x in spans} == {"/a", "/b"}
    finally:
        srv.close()


@pytest.mark.parametrize("mode", ["stdio", "vfork"])
def test_forked_child_serving_on_stdin_and_stdout(collector, mode):
    """A forking server whose child dup2's the connection onto its stdin
    and stdout, closes the original and serves on 0 and 1 (the classic
    way to run a handler on a connection), or execs a program to (from a
    vfork child, whose dup2 and close must leave the parent's memory
    alone): one span per request, in the child, with the response's
    status; the server goes on with its next connection."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", mode)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(get("/a", "traceparent: " + GOOD, close=False))
        head, body = read_response(s)
        assert head.startswith(b"HTTP/1.1 200")
        child = int(body.split()[-1])
        s.sendall(get("/b"))
        assert read_response(s)[0].startswith(b"HTTP/1.1 200")
        s.close()
        spans = collector.wait_for(2)
        time.sleep(0.3)
        assert len(collector.spans) == 2
        assert one(spans, trace_id=TID)["attributes"]["url.path"] == "/a"
        for x in spans:
            assert x["kind"] == "SERVER"
            assert x["attributes"]["http.response.status_code"] == 200
            assert x["resource"]["process.pid"] == child != srv.p.pid
        out = raw_request(srv.port, get("/c").decode())
        assert out.startswith(b"HTTP/1.1 200")
        third = collector.wait_for(3)
        assert [x["attributes"]["url.path"] for x in third if x not in spans] == ["/c"]
    finally:
        srv.close()


PY_DUP_SERVER = PY_ACCEPT_ONE + r'''
w = c.dup()  # os.dup, socket.dup: fcntl64(F_DUPFD_CLOEXEC)
data = b""
while b"\r\n\r\n" not in data:
    data += c.recv(4096)
w.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
w.close()
c.close()
'''


def test_python_server_answering_on_socket_dup(collector):
    """Python's socket.dup() (fcntl64 with F_DUPFD_CLOEXEC, not dup):
    the response written on the duplicate gives the span its status."""
    p = subprocess.Popen(["/usr/bin/python3", "-c", PY_DUP_SERVER],
                         env=shim_env(collector, OTEL_SERVICE_NAME="py"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(p.stdout.readline())
        out = raw_request(port, get("/d", "traceparent: " + GOOD).decode())
        assert out == b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
        assert p.wait(10) == 0
    finally:
        p.kill()
        p.wait(10)
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["parent_span_id"] == SID and s["attributes"]["url.path"] == "/d"
    assert s["attributes"]["http.response.status_code"] == 201


SH_SERVICE = r'''
read -r method path version
while read -r line; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
done
body="hello from sh $path"
printf 'HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s' ${#body} "$body"
'''


def test_shell_script_inetd_service(collector):
    """A shell script as an inetd service: bash reads the request a byte
    at a time (its read builtin on a socket) and answers with printf; the
    request's span continues the caller's trace and has the status, which
    stdio wrote by itself (bash's stdout is line-buffered) inside the
    printf builtin's stdio calls."""
    env = shim_env(collector, OTEL_SERVICE_NAME="sh")
    s, p, port = inetd(env, ["/bin/bash", "-c", SH_SERVICE])
    head, body, _ = ask_once(s, p, get("/shell?q=1", "traceparent: " + GOOD))
    assert body == b"hello from sh /shell?q=1"
    x = one(collector.wait_for(1), kind="SERVER")
    assert x["trace_id"] == TID and x["parent_span_id"] == SID
    a = x["attributes"]
    assert a["url.path"] == "/shell" and a["url.query"] == "q=1"
    assert a["http.request.method"] == "GET" and a["server.port"] == port
    assert a["client.address"] == "127.0.0.1"
    assert a["http.response.status_code"] == 200
