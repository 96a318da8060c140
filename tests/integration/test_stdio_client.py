"""A client that writes its requests with stdio on its socket (fwrite to
fdopen(dup(s), "w"), an "r+" stream it also reads the responses from):
libc would write the buffer with its own write, which no hook sees, and
no trace header could be added. The shim writes what the buffer holds
through the write hook where libc would write it (fflush, fclose, the read
of an "r+" stream, a writing call that fills the buffer: net.c,
at_net_stdio_drain), so each request has its CLIENT span and its
traceparent; bytes libc writes by itself (an unbuffered stream) are never
changed, and that connection is no longer followed."""
import time

import pytest

from conftest import bare_and_shim, run, shim_env, program
from httpnet import Server, header_lines, strip_injected
from test_http_client import plain_env
from test_stdio_read import asked


@pytest.mark.parametrize("how,more", [("fflush", []), ("lines", ["-B", "130"]),
                                      ("fclose", []), ("rplus", ["-F"]), ("fflush", ["-F"])])
def test_client_writing_its_requests_with_stdio(collector, how, more):
    """The traced C client writes each of three keep-alive requests with
    stdio: one stream fflush'ed after each (fflush); a line at a time into
    a 160-byte buffer that a 139-byte header line does not fit in after
    the first two, so that the writing call finds it full, then fclose
    (lines); a new stream fclose'd after each (fclose); the "r+" stream it
    reads the responses from, never flushed (rplus). Each request has a
    CLIENT span, the parent of the server's span, with the response's
    status and the client's call site."""
    pairs = []
    for i, (c, sv) in enumerate(asked(collector, ["-s", "202"], ["-W", how] + more, 3, 202)):
        assert sv["trace_id"] == c["trace_id"]
        assert c["attributes"]["http.response.status_code"] == 202
        assert c["attributes"]["url.full"].endswith("/c")
        # the call site: the client's stdio call that wrote its head's end
        # (the read's, rplus: fgets in read_response_stdio, inlined into
        # main, through _FORTIFY_SOURCE's inline fgets of <stdio.h>)
        assert c["attributes"]["code.file.path"].endswith("/http_client.c")
        assert c["attributes"]["code.function.name"] == (
            "read_response_stdio" if how == "rplus" else "stdio_request")
        pairs.append((c, sv))
    assert len(pairs) == 3


def test_request_head_reaches_the_server_with_its_header_only(collector):
    """The bytes a stdio-writing client sends, as the server got them (it
    echoes each head): the client's own, in order, plus one traceparent
    line, the CLIENT span's."""
    srv = Server(plain_env(), "-m", "fork", "-e")
    try:
        r = run([program("http_client"), "-n", "2", "-W", "lines", "-B", "130", "-H", "X-One: 1",
                 "-H", "X-Two: 2", str(srv.port), "/e"],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0, r.stderr
        clients = sorted((x for x in collector.wait_for(2) if x["kind"] == "CLIENT"),
                         key=lambda x: x["start"])
        heads = [b for b in r.stdout.split(b"status 200\n")[1:]]
        assert len(clients) == 2 and len(heads) == 2
        for c, head in zip(clients, heads):
            lines = header_lines(head)
            assert dict(lines)["traceparent"] == "00-%s-%s-01" % (c["trace_id"], c["span_id"])
            assert [k for k, _ in lines if k != "traceparent"][:3] == ["host", "x-one", "x-two"]
            assert head.startswith(b"GET /e HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % srv.port)
    finally:
        srv.close()


def test_unbuffered_stream_is_not_followed(collector):
    """On an unbuffered stream libc writes each call's bytes itself, inside
    the call: the request goes out as the client wrote it, with no header
    added, and its connection is no longer followed (no CLIENT span, never
    a wrong one); the server, traced, answers each request in a trace of
    its own."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", "fork", "-e")
    try:
        r = run([program("http_client"), "-n", "2", "-W", "unbuf", str(srv.port), "/u"],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0 and r.stdout.count(b"status 200") == 2, r.stderr
        assert b"traceparent" not in r.stdout.lower()
        collector.wait_for(2)
        time.sleep(0.3)
        spans = collector.spans
        assert [x["kind"] for x in spans] == ["SERVER", "SERVER"]
        assert all(x["parent_span_id"] == "" for x in spans)
    finally:
        srv.close()


@pytest.mark.parametrize("buf", [16, 100, 128, 4096])
@pytest.mark.parametrize("big", [0, 90, 6000])
def test_bytes_on_the_wire_whatever_the_buffer(collector, buf, big):
    """The request written a line at a time into stdio buffers of 16 to
    4096 bytes, with a header line of none, 90 or 6000 bytes: the server
    gets the client's bytes, in order, plus at most one traceparent line,
    the CLIENT span's. Where every line fits in the buffer the request is
    written through the hooks and has its span and header; otherwise libc
    writes some of the head itself (a line longer than the buffer; with a
    buffer under 128 bytes, glibc writes whatever does not fit in what is
    left of it, the first line too), and then neither."""
    srv = Server(plain_env(), "-m", "fork", "-e")
    try:
        args = ["-n", "2", "-W", "lines", "-V", str(buf)] + (["-B", str(big)] if big else [])
        r = run([program("http_client")] + args + [str(srv.port), "/b"],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0, r.stderr
        heads = r.stdout.split(b"status 200\n")[1:]
        assert len(heads) == 2
        fits = buf >= 128 and big + 9 <= buf
        want = 2 if fits else 0
        if fits:
            collector.wait_for(2)
        time.sleep(0.3)
        clients = sorted((x for x in collector.spans if x["kind"] == "CLIENT"),
                         key=lambda x: x["start"])
        assert len(clients) == want
        for i, head in enumerate(heads):
            own = b"GET /b HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % srv.port
            if big:
                own += b"X-Big: " + b"a" * big + b"\r\n"
            if i == 1:
                own += b"Connection: close\r\n"
            lines = header_lines(head)
            tp = [v for k, v in lines if k == "traceparent"]
            assert strip_injected(head[:-1]) == own + b"\r\n"  # less printf's newline
            if fits:
                c = clients[i]
                assert tp == ["00-%s-%s-01" % (c["trace_id"], c["span_id"])]
            else:
                assert tp == []
    finally:
        srv.close()


RPLUS_UNREAD = r'''
import ctypes, json, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
for name in ("fputs", "fflush", "fgetc", "fclose"):
    getattr(libc, name).argtypes = ([ctypes.c_char_p] if name == "fputs" else []) + [ctypes.c_void_p]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
c = socket.create_connection(ls.getsockname())
s, _ = ls.accept()
c.sendall(b"GET /one HTTP/1.1\r\nHost: h\r\n\r\n")
s.recv(4096)
s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
f = libc.fdopen(c.fileno(), b"r+")
first = libc.fgetc(f)  # the rest of the response stays in the buffer, unread
libc.fputs(b"GET /two HTTP/1.1\r\nHost: h\r\n\r\n", f)
ctypes.set_errno(0)
rc = libc.fflush(f)
err = ctypes.get_errno()
s.settimeout(0.5)
try:
    got = s.recv(4096).decode()
except socket.timeout:
    got = None
print(json.dumps([first, rc, err if rc else 0, got]))
'''


def test_r_plus_stream_written_over_unread_bytes_as_without_the_shim(collector):
    """An "r+" stream on a client's socket written while bytes it read are
    not yet handed out: glibc would first seek back over them, which fails
    on a socket (ESPIPE), and writes nothing. With the shim the same: the
    buffer is left to libc, the fflush fails the same way and nothing is
    sent."""
    bare, shim = bare_and_shim(collector, RPLUS_UNREAD)
    assert bare == [ord("H"), -1, 29, None]  # EOF, ESPIPE, nothing sent
    assert shim == bare
