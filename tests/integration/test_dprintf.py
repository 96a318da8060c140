"""dprintf and vdprintf (and their _FORTIFY_SOURCE forms) on a connection:
libc formats into a buffer of its own and writes it with its own write,
which no hook sees (hooks/dprintf.c). An inetd service or a server that
answers with dprintf has each request's span with its status; a client
that writes its requests with dprintf has a CLIENT span per request and
its trace header; a CGI program's head written with dprintf(1, ...) gives
the span its status. What the calls return, errno and the bytes on the
wire are the application's own (plus the injected header)."""
import pytest

from conftest import bare_and_shim, shim_env, program
from httpnet import header_lines, one, strip_injected
from test_inetd import GOOD, SID, TID, get, inetd, read_response, serving
from test_stdio_read import asked

HOWS = ["dprintf", "vdprintf", "chk", "vchk"]


@pytest.mark.parametrize("how", HOWS)
def test_inetd_service_answering_with_dprintf(collector, how):
    """The C test server as an inetd service writing each response, head
    and body, with one call of dprintf, vdprintf, __dprintf_chk or
    __vdprintf_chk on its stdout: three requests on its connection (the
    second's echoed response longer than the hook's stack buffer), each a
    SERVER span with its caller's context and the status; the bytes are
    the service's."""
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, port = inetd(env, [program("http_server"), "-m", "inetd", "-D", how, "-e",
                             "-s", "201"])
    reqs = [get("/one?a=b", "traceparent: " + GOOD, close=False),
            get("/two", "x-pad: " + "p" * 3000, close=False),
            get("/three")]
    with serving(s, p):
        for r in reqs:
            s.sendall(r)
            head, echoed = read_response(s)
            assert head.startswith(b"HTTP/1.1 201 X\r\nContent-Length: %d" % len(r))
            assert echoed == r
        assert s.recv(10) == b""
    collector.wait_for(3)
    servers = [x for x in collector.spans if x["kind"] == "SERVER"]
    assert sorted(x["attributes"]["url.path"] for x in servers) == ["/one", "/three", "/two"]
    first = one(servers, trace_id=TID)
    assert first["parent_span_id"] == SID and first["attributes"]["url.query"] == "a=b"
    for x in servers:
        assert x["attributes"]["http.response.status_code"] == 201
        assert x["attributes"]["server.port"] == port


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_server_answering_with_dprintf_on_its_socket(collector, framing):
    """A forking server answering on the accepted socket with dprintf (a
    chunked body's end in a second call), asked by the traced C client:
    each request's SERVER span has the status and is the client's child."""
    n = 1 if framing == "close" else 3
    for c, sv in asked(collector, ["-D", "dprintf", "-r", framing, "-s", "404"], [], n, 404):
        assert sv["attributes"]["http.response.status_code"] == 404
        assert c["attributes"]["http.response.status_code"] == 404


def test_client_writing_its_requests_with_dprintf(collector):
    """A client built with _FORTIFY_SOURCE that writes each request with one
    dprintf (__dprintf_chk), the second longer than the hook's stack
    buffer: a CLIENT span per request, whose traceparent reaches the
    server (its span's parent); the server got the client's bytes plus that
    header (it echoes each head)."""
    pairs = asked(collector, ["-e"], ["-P", "-B", "3000"], 2)
    for c, sv in pairs:
        assert sv["trace_id"] == c["trace_id"]
        assert c["attributes"]["http.response.status_code"] == 200
        assert c["attributes"]["url.full"].endswith("/c")


PARITY = r'''
import ctypes, errno, json, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
out = {"calls": []}

def call(f, *a, err=0):
    ctypes.set_errno(err)
    r = f(*a)
    out["calls"].append([r, ctypes.get_errno() if r < 0 else 0])

def head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        if not b:
            break
        data += b
    return data

ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(4)
port = ls.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port))
s, _ = ls.accept()
c2 = socket.create_connection(("127.0.0.1", port))
s2, _ = ls.accept()
bad = (ctypes.c_int * 2)(-1, 0)  # no character
call(libc.dprintf, c2.fileno(), b"%ls", bad)  # EILSEQ: nothing sent
call(libc.dprintf, c2.fileno(), b"GET /%ls HTTP/1.1\r\n\r\n", bad)  # "GET /" sent
got2 = s2.recv(100)
call(libc.dprintf, c.fileno(), b"GET /x HTTP/1.1\r\nHost: h\r\nX-Pad: %s\r\n\r\n", b"p" * 3000)
got = [head(s)]
s.sendall(b"HTTP/1.1 204 No\r\n\r\n")
head(c)
call(libc.__dprintf_chk, c.fileno(), 1, b"GET /m HTTP/1.1\r\nHost: h\r\nX-Err: %m\r\n\r\n",
     err=errno.ERANGE)
got.append(head(s))
s.sendall(b"HTTP/1.1 204 No\r\n\r\n")
head(c)
call(libc.dprintf, -1, b"x")  # EBADF, not a followed descriptor
call(libc.dprintf, c.fileno(), b"")  # nothing to write
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # a reset
import time; time.sleep(0.2)
call(libc.dprintf, c.fileno(), b"GET /gone HTTP/1.1\r\n\r\n")
call(libc.dprintf, c.fileno(), b"GET /gone HTTP/1.1\r\n\r\n")
out["got"] = [g.decode("latin-1") for g in got + [got2]]
print(json.dumps(out))
'''


def test_dprintf_returns_and_errno_as_without_the_shim(collector):
    """dprintf through ctypes on a client's connection, with and without
    the shim: the same results and errno (a conversion error, EILSEQ, with
    nothing sent; %m; a bad descriptor; an empty output; a reset
    connection); the server gets the same bytes but the trace header; the
    two requests answered are CLIENT spans."""
    bare, shim = bare_and_shim(collector, PARITY)
    assert bare["calls"][:2] == [[-1, 84], [-1, 84]]  # EILSEQ
    assert bare["got"][2] == "GET /"  # what glibc formatted before the error
    assert bare["calls"][2][0] == len(bare["got"][0]) > 3000
    assert "X-Err: Numerical result out of range" in bare["got"][1]
    assert bare["calls"][4] == [-1, 9] and bare["calls"][5] == [0, 0]  # EBADF
    assert bare["calls"][-1][0] == -1
    assert shim["calls"] == bare["calls"]
    assert [strip_injected(g.encode("latin-1")) for g in shim["got"]] == \
        [g.encode("latin-1") for g in bare["got"]]
    assert shim["got"][2] == "GET /"  # given up: no header added after it
    clients = [x for x in collector.wait_for(2) if x["kind"] == "CLIENT"]
    path = lambda x: x["attributes"]["url.full"].rsplit("/", 1)[1]
    assert sorted(path(x) for x in clients) == ["m", "x"]
    for x, g in zip(sorted(clients, key=path), sorted(shim["got"][:2], key=lambda g: g.split()[1])):
        assert x["attributes"]["http.response.status_code"] == 204
        tp = dict(header_lines(g.encode("latin-1")))["traceparent"]
        assert tp == "00-%s-%s-01" % (x["trace_id"], x["span_id"])
