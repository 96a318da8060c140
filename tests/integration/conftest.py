"""Shared fixtures: the shim, a collector decoding with the official OTLP
protos, an HTTP server that records what it received."""
import http.server
import json
import shutil
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("AUTOTRACE_BUILD", os.path.join(ROOT, "build"))
LIB = os.path.join(BUILD, "libautotrace.so")
PROGRAMS = os.path.join(BUILD, "programs")

subprocess.run([os.path.join(ROOT, "scripts", "fetch-idl.sh"), os.path.join(ROOT, "build", "idl")],
               check=True)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from collector import Collector, QuietServer  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def serve(receiver):
    """For a fixture: yields the receiver, then closes it and checks that it
    could decode everything it was sent."""
    yield receiver
    receiver.close()
    assert not receiver.errors, "collector could not decode: %s" % receiver.errors


@pytest.fixture
def collector():
    yield from serve(Collector())


class RecordingServer:
    """HTTP/1.1 server on loopback that records each request's headers (raw
    lines, in order) and body (Content-Length or chunked) and answers with a
    configurable status (or a function of the request's number, from 1),
    after `pause` seconds; a path starting /redir is redirected to /done."""

    def __init__(self):
        self.requests = []
        self.status = 200
        self.body = b"hello\n"
        self.pause = 0.0
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _chunked(self):
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0], 16)
                    if not size:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()

            def _handle(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = self._chunked()
                else:
                    n = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(n) if n else b""
                rec.requests.append({"method": self.command, "path": self.path,
                                     "headers": list(self.headers.items()), "body": body})
                status = rec.status(len(rec.requests)) if callable(rec.status) else rec.status
                time.sleep(rec.pause)
                redirect = self.path.startswith("/redir")  # -> /done, on this server
                self.send_response(302 if redirect else status)
                if redirect:
                    self.send_header("Location", "/done")
                self.send_header("Content-Length", str(len(rec.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(rec.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def __getattr__(self, name):  # any other method, e.g. "purge"
                if name.startswith("do_"):
                    return self._handle
                raise AttributeError(name)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def header(self, i, name):
        vals = [v for k, v in self.requests[i]["headers"] if k.lower() == name.lower()]
        return vals

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_server():
    s = RecordingServer()
    yield s
    s.close()



class Listener:
    """A TCP server on loopback for hand-made peers: each connection it
    takes goes to self.serve(conn), on a thread of its own (a subclass
    sets what serve uses before calling this __init__)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def close(self):
        self.sock.close()


def shim_env(collector=None, **extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith(("OTEL_", "JAEGER_", "AUTOTRACE_")) or k in ("TRACEPARENT", "TRACESTATE"):
            del env[k]
    env["LD_PRELOAD"] = LIB
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    # AUTOTRACE_TEST_EXPORTER_MODE=process runs a test with the exporter in a
    # helper process (the CI runs the cross-process tests both ways)
    mode = os.environ.get("AUTOTRACE_TEST_EXPORTER_MODE")
    if mode:
        env["AUTOTRACE_EXPORTER_MODE"] = mode
    if collector is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.endpoint
    env.update({k: str(v) for k, v in extra.items()})
    return env


# For the Python scripts the tests run under the shim: the names of this
# process's threads by thread id (a thread of the shim names itself
# autotrace-exp or autotrace-bg once it runs).
TASK_NAMES_PY = """
def task_names():
    names = {}
    for t in os.listdir("/proc/self/task"):
        try:
            names[int(t)] = open("/proc/self/task/%s/comm" % t).read().strip()
        except OSError:
            pass
    return names
"""


def process_state(pid):
    """A process's state letter from /proc (R, S, Z...), or "gone"."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "gone"


def wait_gone(pid, timeout):
    """Waits until pid has exited (gone, or a zombie not reaped by us);
    returns its last state."""
    end = time.time() + timeout
    state = process_state(pid)
    while state not in ("gone", "Z", "X") and time.time() < end:
        time.sleep(0.05)
        state = process_state(pid)
    return state


def run(cmd, env, timeout=30, **kw):
    return subprocess.run(cmd, env=env, timeout=timeout, capture_output=True, **kw)


def bare_and_shim(collector, script, service="py"):
    """What a Python script prints as JSON run without the shim, then with
    it (exporting to collector): (bare, shim)."""
    out = []
    for env in (shim_env(), shim_env(collector, OTEL_SERVICE_NAME=service)):
        if len(out) == 0:
            del env["LD_PRELOAD"]
        r = run([sys.executable, "-c", script], env)
        assert r.returncode == 0, r.stderr
        out.append(json.loads(r.stdout))
    return out


def program(name):
    return os.path.join(PROGRAMS, name)


def fuzz_short(target, tmp_path, seconds=8):
    """Builds a libFuzzer target of tests/fuzz and runs it briefly from its
    seeds (make fuzz runs longer); skips without clang."""
    if not shutil.which("clang"):
        pytest.skip("clang is not installed")
    r = subprocess.run(["make", "-s", "BUILD=" + BUILD, os.path.join(BUILD, "fuzz", target)],
                       cwd=ROOT, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    seeds = os.path.join(ROOT, "tests", "fuzz", "seeds", target)
    r = subprocess.run([os.path.join(BUILD, "fuzz", target), "-max_total_time=%d" % seconds,
                        "-rss_limit_mb=1024", str(tmp_path), seeds], capture_output=True,
                       timeout=120, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr.decode()[-3000:]
