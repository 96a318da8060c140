"""Bytes of a traced connection that no read or write hook sees: a body the
kernel moves itself with sendfile (lighttpd's static files, nginx with
`sendfile on`) or splice (through a pipe), and sendmmsg/recvmmsg. A body's
bytes are counted without being seen, so each request of a keep-alive
connection still gets its own span, with its own status, ending when its
response does; bytes that cannot be counted stop the following of that
connection, and never lead to a header in the wrong place."""
import inspect
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import free_port, program, shim_env
from httpnet import PY_ACCEPT_ONE, wait_listening

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def read_response(s, splice_body=False):
    """One response from s: the head read a byte at a time (so that nothing
    past it is read), the body by Content-Length or chunked; with
    splice_body the body goes through a pipe (os.splice), never read from
    the socket by recv. Returns (status, body)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = s.recv(1)
        assert b, "connection closed in a response head: %r" % head
        head += b
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdr = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
    if "content-length" in hdr:
        n = int(hdr["content-length"])
        return status, (splice_in(s, n) if splice_body else recv_exactly(s, n))
    body = b""
    while True:  # chunked, read by recv
        size = b""
        while not size.endswith(b"\r\n"):
            size += s.recv(1)
        n = int(size.split(b";")[0], 16)
        body += recv_exactly(s, n + 2)[:n]
        if not n:
            return status, body


def recv_exactly(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        assert b, "connection closed in a body"
        out += b
    return out


def splice_in(s, n):
    r, w = os.pipe()
    out = b""
    try:
        while len(out) < n:
            k = os.splice(s.fileno(), w, n - len(out))
            assert k > 0, "connection closed in a body"
            out += os.read(r, k)
    finally:
        os.close(r)
        os.close(w)
    return out


def server_spans(collector, n):
    spans = [s for s in collector.wait_for(n, pred=lambda s: s["kind"] == "SERVER")
             if s["kind"] == "SERVER"]
    assert len(spans) == n, [s["attributes"].get("url.path") for s in spans]
    return sorted(spans, key=lambda s: s["start"])


def assert_in_turn(spans):
    """Each request's span ends before the next one starts: one connection,
    one request at a time."""
    for a, b in zip(spans, spans[1:]):
        assert a["end"] <= b["start"], (a["attributes"]["url.path"], b["attributes"]["url.path"])


# ---- a real web server: lighttpd's static files -------------------------

def test_lighttpd_static_files_over_one_connection(collector, tmp_path):
    """lighttpd, traced, serves static files with sendfile (its Linux
    network backend; checked with strace) over one keep-alive connection:
    every request has its span, with its path and status, one after the
    other. Before sendfile was followed, the first response's body went by
    unseen, the next responses were counted as its body, and the requests
    after the first had no span."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "a.bin").write_bytes(os.urandom(20000))
    (www / "small.txt").write_bytes(b"hello\n")
    (www / "large.bin").write_bytes(os.urandom(3 << 20))  # several sendfile calls
    port = free_port()
    conf = tmp_path / "lighttpd.conf"
    conf.write_text('server.document-root = "%s"\nserver.bind = "127.0.0.1"\n'
                    'server.port = %d\nserver.network-backend = "sendfile"\n'
                    'mimetype.assign = (".txt" => "text/plain", ".bin" => '
                    '"application/octet-stream")\n' % (www, port))
    trace = tmp_path / "strace"
    log = open(tmp_path / "err", "w+")
    env = shim_env(collector, OTEL_SERVICE_NAME="lighttpd")
    # its own process group: strace and lighttpd are stopped together
    p = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=sendfile,sendfile64", "-o", str(trace),
                          "lighttpd", "-D", "-f", str(conf)],
                         env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        wait_listening(port, p, lambda: log.read())
        paths = ["/a.bin", "/small.txt", "/missing", "/large.bin", "/a.bin", "/small.txt"]
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        got = []
        for path in paths:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: 00-%s-%s-01\r\n\r\n"
                      % (path.encode(), TID.encode(), PARENT.encode()))
            status, body = read_response(s)
            got.append(status)
            if status == 200:
                assert body == (www / path[1:]).read_bytes()
        s.close()
        assert got == [200, 200, 404, 200, 200, 200]
        spans = server_spans(collector, len(paths))
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()
    calls = [ln for ln in trace.read_text().splitlines() if "sendfile" in ln]
    assert len(calls) > 3, "lighttpd did not use sendfile: the test tests nothing"
    assert [x["attributes"]["url.path"] for x in spans] == paths
    assert [x["attributes"]["http.response.status_code"] for x in spans] == got
    for x in spans:
        assert x["trace_id"] == TID and x["parent_span_id"] == PARENT
    assert_in_turn(spans)


# ---- a server that sends and receives bodies through sendfile and splice --

SERVER = PY_ACCEPT_ONE + r"""
body_file = open(sys.argv[1], "rb")
size = os.fstat(body_file.fileno()).st_size

def head():
    h = b""
    while not h.endswith(b"\r\n\r\n"):
        b = c.recv(1)
        if not b:
            return None
        h += b
    return h

def splice_out(data):
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    left = len(data)
    while left:
        left -= os.splice(r, c.fileno(), left)
    os.close(r)

status = 200
while True:
    h = head()
    if h is None:
        break
    path = h.split(b" ")[1].decode()
    n = 0
    for ln in h.split(b"\r\n")[1:]:
        if ln.lower().startswith(b"content-length:"):
            n = int(ln.split(b":")[1])
    got = b""
    if path == "/splice-in":  # the request's body through a pipe
        r, w = os.pipe()
        while len(got) < n:
            k = os.splice(c.fileno(), w, n - len(got))
            got += os.read(r, k)
        os.close(r); os.close(w)
    else:
        while len(got) < n:
            got += c.recv(n - len(got))
    status += 10  # 210, 220...: none without a body (as 204 and 304 are)
    if path == "/chunked":  # chunk sizes written, chunk data sent from the file
        c.sendall(b"HTTP/1.1 %d OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (status, size))
        c.sendfile(body_file, 0, size)
        c.sendall(b"\r\n0\r\n\r\n")
        continue
    c.sendall(b"HTTP/1.1 %d OK\r\nContent-Length: %d\r\n\r\n" % (status, size))
    if path in ("/sendfile", "/splice-in"):
        c.sendfile(body_file, 0, size)
    elif path == "/splice-out":
        splice_out(open(sys.argv[1], "rb").read())
    else:
        c.sendall(open(sys.argv[1], "rb").read())
"""


def test_bodies_sent_and_received_unseen(collector, tmp_path):
    """A Python server, traced, whose responses' bodies go out by sendfile
    (os.sendfile), by splice from a pipe, or as chunks whose data sendfile
    sends, and which reads a request's body by splice into a pipe: each
    request of the connection has its span with its own status, in turn."""
    body = tmp_path / "body"
    body.write_bytes(os.urandom(50000))
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    env = shim_env(collector, OTEL_SERVICE_NAME="srv")
    p = subprocess.Popen([sys.executable, str(script), str(body)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = int(p.stdout.readline())
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        paths = ["/sendfile", "/splice-out", "/splice-in", "/chunked", "/write", "/sendfile"]
        for path in paths:
            upload = os.urandom(30000) if path == "/splice-in" else b""
            s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                      % (path.encode(), len(upload)) + upload)
            status, got = read_response(s)
            assert got == body.read_bytes(), path
        s.close()
        spans = server_spans(collector, len(paths))
    finally:
        p.kill()
        p.wait()
    assert [x["attributes"]["url.path"] for x in spans] == paths
    assert [x["attributes"]["http.response.status_code"] for x in spans] == \
        [200 + 10 * (i + 1) for i in range(len(paths))]
    assert_in_turn(spans)
    assert p.stderr.read() == ""


# ---- a client whose bodies go unseen ------------------------------------

CLIENT = r"""
import ctypes, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = open(sys.argv[2], "rb")
n = os.fstat(f.fileno()).st_size
for i in range(3):
    # a request's head written, its body sent from the file by sendfile
    # (Python's: libc's sendfile64; the second, libc's sendfile)
    s.sendall(b"POST /up%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, n))
    if i != 1:
        s.sendfile(f, 0, n)
    else:
        off = ctypes.c_long(0)
        assert ctypes.CDLL(None).sendfile(s.fileno(), f.fileno(), ctypes.byref(off), n) == n
    status, body = read_response(s, splice_body=(i == 1))
    print(status, len(body), flush=True)
"""


def keep_alive(server):
    """The recording server answers each request of a connection with its
    own status (200 + its number) and a 40000-byte body."""
    server.status = lambda n: 200 + n
    server.body = os.urandom(40000)
    return server


def traceparents(requests):
    out = []
    for r in requests:
        tp = [v for k, v in r["headers"] if k.lower() == "traceparent"]
        out.append(tp[0] if tp else None)
    return out


@pytest.mark.parametrize("sampled", [True, False])
def test_client_bodies_sent_by_sendfile(collector, http_server, tmp_path, sampled):
    """A traced client sends each request's body with sendfile, and reads
    one response's body by splice: every request of the connection gets
    its trace header, in its head and nowhere else, and (sampled) its span
    with its own status. Not sampled, a request is followed to the end of
    its body to find the next head: before sendfile was counted, the next
    request's head was taken for body and got no header."""
    data = tmp_path / "data"
    payload = os.urandom(70000)
    data.write_bytes(payload)
    script = tmp_path / "client.py"
    # the response reader above, in the client's own script
    script.write_text("".join(inspect.getsource(f) for f in (read_response, recv_exactly, splice_in))
                      + CLIENT)
    srv = keep_alive(http_server)
    env = shim_env(collector, OTEL_SERVICE_NAME="cli",
                   OTEL_TRACES_SAMPLER="always_on" if sampled else "always_off")
    r = subprocess.run([sys.executable, str(script), str(srv.port), str(data)],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.split("\n")[:3] == ["201 40000", "202 40000", "203 40000"]
    assert [x["body"] for x in srv.requests] == [payload] * 3  # the bodies, untouched
    tps = traceparents(srv.requests)
    assert all(tp and tp.endswith("-01" if sampled else "-00") for tp in tps), tps
    if not sampled:
        time.sleep(0.5)
        assert collector.spans == []
        return
    spans = sorted([s for s in collector.wait_for(3) if s["kind"] == "CLIENT"],
                   key=lambda s: s["start"])
    assert [s["attributes"]["http.response.status_code"] for s in spans] == [201, 202, 203]
    assert [s["attributes"]["url.full"].rsplit("/", 1)[1] for s in spans] == ["up0", "up1", "up2"]
    assert [tp.split("-")[2] for tp in tps] == [s["span_id"] for s in spans]
    for a, b in zip(spans, spans[1:]):
        assert a["end"] <= b["start"]


# ---- many messages at once ----------------------------------------------

def test_requests_written_with_sendmmsg(collector, http_server):
    """A traced client writes each request's head in two messages of one
    sendmmsg and reads its response with recvmmsg: each message goes
    through the same path as a sendmsg, so each request gets its trace
    header (before the empty line, in the second message) and its span
    with its own status; the application's bytes are its own."""
    srv = keep_alive(http_server)
    r = subprocess.run([program("mmsg_client"), str(srv.port), "3"],
                       env=shim_env(collector, OTEL_SERVICE_NAME="mmsg"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert r.stdout.split("\n")[:3] == ["201 40000", "202 40000", "203 40000"]
    spans = sorted(collector.wait_for(3, pred=lambda s: s["kind"] == "CLIENT"),
                   key=lambda s: s["start"])
    tps = traceparents(srv.requests)
    for i, req in enumerate(srv.requests):
        assert (req["method"], req["path"]) == ("GET", "/m%d" % i)
        hdr = req["headers"]
        assert [(k, v) for k, v in hdr if k.lower() != "traceparent"] == [("Host", "x"), ("X-A", "1")]
        assert hdr[-1][0].lower() == "traceparent"  # before the empty line
    assert [s["attributes"]["http.response.status_code"] for s in spans] == [201, 202, 203]
    assert [s["attributes"]["url.full"].rsplit("/", 1)[1] for s in spans] == ["m0", "m1", "m2"]
    assert [tp.split("-")[2] for tp in tps] == [s["span_id"] for s in spans]


ZERO_READS = r"""
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(16)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(2):
    s.sendall(b"GET /z%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += s.recv(1)
    # reads that ask for nothing, in the middle of the response: each
    # returns 0, which is not the peer closing
    assert libc.read(s.fileno(), buf, 0) == 0
    assert libc.recv(s.fileno(), buf, 0, 0) == 0
    assert libc.recvfrom(s.fileno(), buf, 0, 0, None, None) == 0
    n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    print(head.split(b" ")[1].decode(), len(body), flush=True)
"""


def test_a_read_of_nothing_is_not_the_close(collector, http_server, tmp_path):
    """read, recv and recvfrom asked for 0 bytes return 0, as they do when
    the peer closed: the response goes on, and so does the connection
    (before, its span ended as failed, "connection closed before the
    response was complete", and its next request had none)."""
    script = tmp_path / "client.py"
    script.write_text(ZERO_READS)
    srv = keep_alive(http_server)
    r = subprocess.run([sys.executable, str(script), str(srv.port)],
                       env=shim_env(collector, OTEL_SERVICE_NAME="cli"),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["201 40000", "202 40000"]
    spans = sorted(collector.wait_for(2, pred=lambda s: s["kind"] == "CLIENT"),
                   key=lambda s: s["start"])
    assert [s["attributes"]["http.response.status_code"] for s in spans] == [201, 202]
    assert [s["status_code"] for s in spans] == [0, 0]
    assert all(traceparents(srv.requests))
