"""A plain HTTP client's requests that are not sampled: the shim follows each
request by its own framing and never parses the response (net.c, follow),
except for the requests whose response decides what the next bytes are: an
upgrade, a CONNECT (the connection becomes a tunnel) and a 100-continue (the
body may never come). On one keep-alive connection every request gets its
traceparent (flag 00) whatever its body's framing, and a tunnel's bytes, even
ones that look like a request, go out untouched. The same run with every
request sampled (the response parsed) must give the same wire."""
import re
import socket
import sys
import threading

import pytest

from conftest import run, shim_env
from httpnet import header_lines, strip_injected

TP = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-(0[01])$")
TUNNEL = b"GET /tunnel HTTP/1.1\r\nHost: t\r\n\r\n"  # looks like a request; is not one

# What the client writes: (request bytes in the pieces it writes them, whether
# a tunnel follows). The server answers by what it reads (ScriptServer).
REQUESTS = [
    [b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"],
    [b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", b"hel", b"lo"],
    [b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n",
     b"0\r\n\r\n"],
    # refused before its body: the body is never sent, the next request follows
    [b"POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"],
    [b"GET /e HTTP/1.1\r\nHost: h\r\n\r\n"],
    [b"GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: x-test\r\n\r\n"],
]
CONNECT = [b"CONNECT t.test:80 HTTP/1.1\r\nHost: t.test:80\r\n\r\n"]

CLIENT = r"""
import socket, sys
port = int(sys.argv[1])
reqs = %r
def response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(1)
        if not b:
            raise SystemExit("closed")
        data += b
    n = 0
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
    while n:
        n -= len(s.recv(n))
    return data.split(b" ")[1]
for reqs_on_conn in (reqs[:-1], reqs[-1:]):
    s = socket.create_connection(("127.0.0.1", port))
    for pieces in reqs_on_conn:
        for p in pieces:
            s.sendall(p)
        status = response(s)
        print(status.decode())
        if status in (b"101", b"200") and pieces[0].split(b" ")[0] == b"CONNECT" or status == b"101":
            s.sendall(%r)
    s.close()
""" % (REQUESTS + [CONNECT], TUNNEL)


class ScriptServer:
    """Keep-alive HTTP/1.1 on loopback that records each request as it came:
    100-continue is refused (417, the body is not read), an upgrade gets 101
    and a CONNECT 200, and then the tunnel's bytes are recorded raw."""

    def __init__(self):
        self.got = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _read(self, c, buf, n):
        while len(buf) < n:
            b = c.recv(65536)
            if not b:
                raise EOFError
            buf += b
        return buf

    def _head(self, c, buf):
        while b"\r\n\r\n" not in buf:
            b = c.recv(65536)
            if not b:
                raise EOFError
            buf += b
        end = buf.index(b"\r\n\r\n") + 4
        return buf[:end], buf[end:]

    def _serve(self, c):
        buf = b""
        c.settimeout(10)
        while True:
            head, buf = self._head(c, buf)
            hdrs = dict(header_lines(head))
            if "upgrade" in hdrs or head.startswith(b"CONNECT "):
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          b"Upgrade: x-test\r\n\r\n" if "upgrade" in hdrs else
                          b"HTTP/1.1 200 Connection established\r\n\r\n")
                buf = self._read(c, buf, len(TUNNEL))
                self.got.append((head, buf))
                return
            if hdrs.get("expect", "").lower() == "100-continue":
                c.sendall(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
                self.got.append((head, b""))
                continue
            body = b""
            if "content-length" in hdrs:
                buf = self._read(c, buf, int(hdrs["content-length"]))
                body, buf = buf[:int(hdrs["content-length"])], buf[int(hdrs["content-length"]):]
            elif hdrs.get("transfer-encoding") == "chunked":
                while b"0\r\n\r\n" not in buf:
                    buf = self._read(c, buf, len(buf) + 1)
                end = buf.index(b"0\r\n\r\n") + 5
                body, buf = buf[:end], buf[end:]
            self.got.append((head, body))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def _loop(self):
        for _ in range(2):
            c, _ = self.sock.accept()
            try:
                self._serve(c)
            except (EOFError, OSError):
                pass
            c.close()

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("sampler,flag", [("always_off", "00"), ("always_on", "01")])
def test_requests_followed_without_their_responses(collector, sampler, flag):
    srv = ScriptServer()
    try:
        r = run([sys.executable, "-c", CLIENT, str(srv.port)],
                shim_env(collector, OTEL_TRACES_SAMPLER=sampler))
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [b"200", b"200", b"200", b"417", b"200", b"101", b"200"]
        srv.t.join(10)
        sent = REQUESTS + [CONNECT]
        assert len(srv.got) == len(sent)
        for pieces, (head, rest) in zip(sent, srv.got):
            app = b"".join(pieces)
            # the application's bytes, and one traceparent in its head
            assert strip_injected(head + rest) == app + (TUNNEL if rest == TUNNEL else b"")
            tps = [v for k, v in header_lines(head) if k == "traceparent"]
            assert len(tps) == 1, head
            assert TP.match(tps[0]).group(1) == flag
        # a tunnel's bytes, request-like as they are, went out untouched
        assert [rest for _, rest in srv.got][-2:] == [TUNNEL, TUNNEL]
    finally:
        srv.close()
    if sampler == "always_on":
        spans = collector.wait_for(len(REQUESTS) + 1, pred=lambda s: s["kind"] == "CLIENT")
        assert sorted(s["attributes"]["http.response.status_code"] for s in spans) == \
            [101, 200, 200, 200, 200, 200, 417]
