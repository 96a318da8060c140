"""HTTP over unix sockets: a service behind a local proxy, curl
--unix-socket, a daemon's local API. Client and server spans, the trace
carried across the socket; unix traffic that is not HTTP (a binary
protocol, datagram and seqpacket sockets) passes untouched. Real curl and
Python under the shim; spans as the collector decoded them with the
official OTLP protos."""
import os
import socket
import subprocess
import time

import pytest

from conftest import program, run, shim_env

PY = "/usr/bin/python3"
TID = "0af7651916cd43dd8448eb211c80319c"
SID = "b7ad6b7169203331"

# A server on a unix socket (argv[1]; "@name": an abstract one) that answers
# every request with the request's head as it arrived, and stops after
# argv[2] connections.
SERVER = r"""
import os, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
if path.startswith("/") and os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
s.listen(8)
print("ready", flush=True)
for _ in range(n):
    c, _ = s.accept()
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        if b"\r\n\r\n" not in buf:
            break
        head, buf = buf.split(b"\r\n\r\n", 1)
        body = head + b"\r\n\r\n"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    c.close()
"""

# Two requests on one connection from Python's http.client, over the socket
# (argv[1]); prints each response's body.
CLIENT = r"""
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])
c = C("svc.local")
for path in ("/a?x=1", "/b"):
    c.request("GET", path, headers={"X-Mine": "1"})
    sys.stdout.buffer.write(c.getresponse().read())
"""


class UnixServer:
    def __init__(self, path, conns, env):
        self.path = path
        self.p = subprocess.Popen([PY, "-c", SERVER, path, str(conns)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.p.stdout.readline() == b"ready\n", self.p.stderr.read()

    def close(self):
        try:
            self.p.wait(10)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()


def bare_env():
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def heads(body):
    """The request heads a response body echoed, as lists of lines."""
    return [h.split(b"\r\n") for h in body.split(b"\r\n\r\n") if h]


def test_curl_to_a_server_on_a_unix_socket(collector, tmp_path):
    """curl --unix-socket under the shim to a server under the shim: one
    trace, the server's span the child of curl's; the server's says the
    transport and has no port."""
    path = str(tmp_path / "api.sock")
    srv = UnixServer(path, 1, shim_env(collector, OTEL_SERVICE_NAME="srv"))
    try:
        r = run(["curl", "-sS", "--unix-socket", path, "http://localhost/v1/items?limit=3"],
                shim_env(collector, OTEL_SERVICE_NAME="cli",
                         TRACEPARENT="00-%s-%s-01" % (TID, SID)))
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    spans = collector.wait_for(2)
    cli = [s for s in spans if s["kind"] == "CLIENT"]
    srv_spans = [s for s in spans if s["kind"] == "SERVER"]
    assert len(cli) == 1 and len(srv_spans) == 1
    c, s = cli[0], srv_spans[0]
    # what the server got: curl's request with its span's traceparent
    got = dict(line.split(b": ", 1) for line in heads(r.stdout)[0][1:])
    assert got[b"traceparent"] == ("00-%s-%s-01" % (TID, c["span_id"])).encode()
    assert (c["trace_id"], c["parent_span_id"]) == (TID, SID)
    assert (s["trace_id"], s["parent_span_id"]) == (TID, c["span_id"])
    a = s["attributes"]
    assert s["name"] == "GET" and a["url.path"] == "/v1/items" and a["url.query"] == "limit=3"
    assert a["server.address"] == "localhost" and a["network.transport"] == "unix"
    assert "server.port" not in a and "client.address" not in a
    assert a["http.response.status_code"] == 200
    ca = c["attributes"]
    assert ca["http.response.status_code"] == 200 and ca["network.protocol.version"] == "1.1"
    # curl's span owns the transfer: it names the socket, the URL's host stays
    assert ca["network.transport"] == "unix" and ca["network.peer.address"] == path
    assert ca["server.address"] == "localhost" and ca["server.port"] == 80


def test_curl_abstract_socket(collector):
    """curl --abstract-unix-socket: the span's peer is the name, "@..."."""
    name = "@autotrace-curl-%d" % os.getpid()
    srv = UnixServer(name, 1, bare_env())
    try:
        r = run(["curl", "-sS", "--abstract-unix-socket", name[1:], "http://svc/x"],
                shim_env(collector))
    finally:
        srv.close()
    assert r.returncode == 0, r.stderr
    a = collector.wait_for(1)[0]["attributes"]
    assert a["network.transport"] == "unix" and a["network.peer.address"] == name
    assert a["url.full"] == "http://svc/x" and a["http.response.status_code"] == 200


def test_libcurl_unix_socket_option_per_handle(collector, http_server, tmp_path):
    """CURLOPT_UNIX_SOCKET_PATH set by a program (which then reuses its
    buffer): the handle's spans, its duphandle's and a multi transfer's
    name the socket; the handle with the option unset and the duphandle
    after curl_easy_reset go over TCP, and their spans say nothing of
    unix (their peer is the TCP server)."""
    path = str(tmp_path / "api.sock")
    srv = UnixServer(path, 3, bare_env())
    try:
        r = run([program("curl_client"), "unix", "http://svc.local/u", path,
                 http_server.url + "/t"], shim_env(collector))
    finally:
        srv.close()
    assert r.returncode == 0 and r.stdout == b"0 200\n" * 5, (r.stdout, r.stderr)
    spans = sorted(collector.wait_for(5), key=lambda s: s["start"])
    assert len(spans) == 5
    for i, s in enumerate(spans):
        a = s["attributes"]
        assert a["http.response.status_code"] == 200
        if i in (0, 1, 4):
            assert a["url.full"] == "http://svc.local/u"
            assert a["network.transport"] == "unix" and a["network.peer.address"] == path
        else:
            assert a["url.full"] == http_server.url + "/t"
            # the TCP connection's peer, nothing of the socket
            assert "network.transport" not in a
            assert (a["network.peer.address"], a["network.peer.port"]) == (
                "127.0.0.1", http_server.port)
    assert len(http_server.requests) == 2


def test_python_client_over_a_unix_socket(collector, tmp_path):
    """http.client over a unix socket (no libcurl): a CLIENT span a request,
    with the socket's path; the server sees the program's own request
    heads plus one traceparent line each, nothing else changed."""
    path = str(tmp_path / "svc.sock")
    got = []
    for env in (bare_env(), shim_env(collector)):
        srv = UnixServer(path, 1, bare_env())
        try:
            r = run([PY, "-c", CLIENT, path], env)
        finally:
            srv.close()
        assert r.returncode == 0, r.stderr
        got.append(heads(r.stdout))
    bare, traced = got
    assert len(bare) == len(traced) == 2
    spans = sorted(collector.wait_for(2), key=lambda s: s["start"])
    assert len(spans) == 2
    for b, t, s in zip(bare, traced, spans):
        tp = [line for line in t if line.startswith(b"traceparent: ")]
        assert tp == [("traceparent: 00-%s-%s-01" % (s["trace_id"], s["span_id"])).encode()]
        assert [line for line in t if line not in tp] == b
        a = s["attributes"]
        assert s["kind"] == "CLIENT" and s["name"] == "GET"
        assert a["network.transport"] == "unix" and a["network.peer.address"] == path
        assert a["server.address"] == "svc.local" and a["server.port"] == 80
        assert a["http.response.status_code"] == 200
    assert [s["attributes"]["url.full"] for s in spans] == ["http://svc.local/a?x=1",
                                                            "http://svc.local/b"]


def test_abstract_socket_and_no_host(collector):
    """An HTTP/1.0 request with no Host, to an abstract socket: the span's
    server.address is the socket's name, "@..." as ss and lsof write it."""
    name = "@autotrace-test-%d" % os.getpid()
    srv = UnixServer(name, 1, bare_env())
    prog = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.connect('\\0' + sys.argv[1][1:])\n"
            "s.sendall(b'GET /x HTTP/1.0\\r\\n\\r\\n')\n"
            "print(s.recv(4096).split(b'\\r\\n')[0].decode())\n")
    try:
        r = run([PY, "-c", prog, name], shim_env(collector))
    finally:
        srv.close()
    assert r.stdout == b"HTTP/1.1 200 OK\n", r.stderr
    s = collector.wait_for(1)[0]
    a = s["attributes"]
    assert a["server.address"] == name and "server.port" not in a
    assert a["network.peer.address"] == name and a["network.transport"] == "unix"


# Unix traffic that is not an HTTP client's: a binary protocol that writes
# an HTTP-looking message later, a request sent with a descriptor, a
# seqpacket and a datagram socket each sending a request. argv[1]: a
# directory.
OTHERS = r"""
import os, socket, sys, threading
d = sys.argv[1]
def serve(kind, path, n):
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(path)
    if kind == socket.SOCK_DGRAM:
        return s
    s.listen(1)
    def run():
        c, _ = s.accept()
        for _ in range(n):
            c.sendall(c.recv(65536) or b"")
        c.close()
    threading.Thread(target=run, daemon=True).start()
    return s
req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
out = []
serve(socket.SOCK_STREAM, d + "/bin.sock", 2)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(d + "/bin.sock")
for msg in (b"\x00\x01binary hello", req):
    c.sendall(msg)
    out.append(c.recv(65536) == msg)
# an HTTP request sent with a descriptor (SCM_RIGHTS): no header added to it
fs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
fs.bind(d + "/fds.sock")
fs.listen(1)
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.connect(d + "/fds.sock")
a, _ = fs.accept()
r, w = os.pipe()
socket.send_fds(c, [req], [w])
msg, fds, _, _ = socket.recv_fds(a, 65536, 1)
os.write(fds[0], b"via fd")
out.append(msg == req and os.read(r, 16) == b"via fd")
serve(socket.SOCK_SEQPACKET, d + "/seq.sock", 1)
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(d + "/seq.sock")
c.send(req)
out.append(c.recv(65536) == req)
g = serve(socket.SOCK_DGRAM, d + "/dgram.sock", 0)
c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
c.connect(d + "/dgram.sock")
c.send(req)
out.append(g.recv(65536) == req)
print(out)
"""


def test_other_unix_traffic_untouched(collector, tmp_path):
    r = run([PY, "-c", OTHERS, str(tmp_path)], shim_env(collector))
    assert r.stdout == b"[True, True, True, True, True]\n", r.stderr
    # no CLIENT span: the request that went with a descriptor was passed
    # through as it was; the accepted end read it as a request (a SERVER
    # span, ended at exit with no response)
    collector.wait_for(1)
    time.sleep(0.5)
    assert [(s["kind"], s["name"]) for s in collector.spans] == [("SERVER", "GET")]
