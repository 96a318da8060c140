"""Helpers for the HTTP-over-sockets tests: a raw capture server, the C test
servers, and span lookups."""
import os
import socket
import subprocess
import threading
import time

from conftest import program


# The start of a Python server program (python3 -c): listens on a loopback
# port, prints it (the test reads that line) and accepts one connection, c.
PY_ACCEPT_ONE = r"""
import os, socket, sys
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
"""


def wait_listening(port, proc, errors=None):
    """Waits until something listens on the loopback port, proc (the
    server) still running: an assertion with errors() (default: proc's
    stderr) if it exits, or after 10 s."""
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, "the server exited: %s" % (
                errors() if errors else proc.stderr.read())
            assert time.time() < deadline, "nothing listens on %d" % port
            time.sleep(0.05)


class CaptureServer:
    """Raw TCP server on loopback: records the exact bytes of each connection
    (until the request head and its Content-Length body are complete, or the
    peer closes) and answers a fixed HTTP response. Optionally waits before
    reading, with a tiny receive buffer, so that senders hit EAGAIN."""

    def __init__(self, response=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                 delay=0.0, rcvbuf=0, http=True):
        self.conns = []
        self.response = response
        self.delay = delay
        self.http = http
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Condition()
        self.stop = False
        threading.Thread(target=self._loop, daemon=True).start()

    def _complete(self, data):
        if not self.http:
            return False
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return False
        n = 0
        for line in data[:end].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        return len(data) >= end + 4 + n

    def _serve(self, c, i):
        c.settimeout(10)
        if self.delay:
            time.sleep(self.delay)
        data = b""
        try:
            while not self._complete(data):
                b = c.recv(65536)
                if not b:
                    break
                data += b
            if self.http:
                c.sendall(self.response)
        except OSError:
            pass
        finally:
            c.close()
        with self.lock:
            self.conns[i] = data
            self.lock.notify_all()

    def _loop(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            # in the order of accept: a later connection's thread may finish
            # first (the client saw our response before we recorded its bytes)
            with self.lock:
                self.conns.append(None)
                i = len(self.conns) - 1
            threading.Thread(target=self._serve, args=(c, i), daemon=True).start()

    def _done(self):
        n = 0
        while n < len(self.conns) and self.conns[n] is not None:
            n += 1
        return self.conns[:n]

    def wait(self, n=1, timeout=15):
        end = time.time() + timeout
        with self.lock:
            while len(self._done()) < n and time.time() < end:
                self.lock.wait(0.1)
            return self._done()

    def close(self):
        self.stop = True
        self.sock.close()


def raw_request(port, head, split=None, pause=0.0, host="127.0.0.1"):
    """Send a request head from an untraced socket (bytewise when split=1);
    return the response bytes."""
    s = socket.create_connection((host, port), timeout=10)
    data = head.encode("latin-1") if isinstance(head, str) else head
    step = split or len(data)
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
        if pause:
            time.sleep(pause)
    out = read_all(s)
    s.close()
    return out


def read_all(sock):
    """What the peer sends until it closes."""
    got = b""
    while True:
        b = sock.recv(65536)
        if not b:
            return got
        got += b


class Server:
    """One of the C test servers (tests/programs/http_server.c)."""

    def __init__(self, env, *args):
        self.p = subprocess.Popen([program("http_server")] + [str(a) for a in args], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.port = int(self.p.stdout.readline())

    def close(self):
        self.p.kill()
        self.p.wait(10)


def header_lines(head):
    """Header lines of a request head (bytes) as (lowercase name, value)."""
    out = []
    for line in head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        out.append((k.strip().lower().decode(), v.strip().decode("latin-1")))
    return out


def strip_injected(data, names=("traceparent", "tracestate", "baggage", "b3", "x-b3-traceid",
                                "x-b3-spanid", "x-b3-sampled", "uber-trace-id")):
    """The request bytes without the header lines the shim adds."""
    head, sep, rest = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept = [lines[0]] + [l for l in lines[1:]
                         if l.split(b":")[0].strip().lower().decode() not in names]
    return b"\r\n".join(kept) + sep + rest


def one(spans, **kw):
    got = [s for s in spans if all(s.get(k) == v for k, v in kw.items())]
    assert len(got) == 1, "expected one span %s, got %d of %s" % (
        kw, len(got), [(s["kind"], s["name"], s["resource"].get("service.name")) for s in spans])
    return got[0]


def by_service(spans, name, kind=None):
    return [s for s in spans if s["resource"].get("service.name") == name
            and (kind is None or s["kind"] == kind)]
