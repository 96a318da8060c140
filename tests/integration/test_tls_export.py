"""Export over TLS: https:// endpoints for OTLP (http/protobuf, http/json,
gRPC), Zipkin and the Jaeger collector, with the host's OpenSSL 3 (libssl.so.3
loaded at run time). The receivers are the usual ones serving TLS with a test
CA's certificates (scripts/collector.py, scripts/grpc_collector.py,
tls_certs.py): the server's chain and name are verified (IP address or DNS
name, SNI for names), the trust comes from OTEL_EXPORTER_OTLP_CERTIFICATE or
SSL_CERT_FILE / SSL_CERT_DIR, a client certificate for mutual TLS from
OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE / _KEY; every failure (an untrusted or
misnamed server, a server that is not TLS, no libssl) loses the spans, says
why on stderr, and leaves the program's output, status and exit time alone."""
import concurrent.futures
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, run, shim_env, program
from collector import Collector, TlsServer, server_context, tls_info
from test_exporters import check_zipkin_v2, decode_collector_body, jaeger_ids
from tls_certs import tls_certs  # noqa: F401  (the session fixture)

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from grpc_collector import GrpcCollector  # noqa: E402

PROTOCOLS = ["http/protobuf", "http/json", "grpc"]
CONTENT_TYPES = {"http/protobuf": "application/x-protobuf", "http/json": "application/json"}
EXIT_MS = 2000  # AUTOTRACE_EXIT_TIMEOUT of every run here
BOUND = 8.0  # seconds a run may take at most: the exit bound and a margin, far below run()'s 30


# ---- helpers ----

def tls_env(endpoint, protocol="http/protobuf", log="warn", **extra):
    """shim_env for an OTLP endpoint, without the test environment's
    SSL_CERT_FILE / SSL_CERT_DIR (a test sets them itself). log: the
    AUTOTRACE_LOG_LEVEL (warn: a lost export says why; None: the default,
    off, for what must be said whatever the level)."""
    env = shim_env(None, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, AUTOTRACE_EXIT_TIMEOUT=EXIT_MS)
    for k in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        env.pop(k, None)
    if log:
        env["AUTOTRACE_LOG_LEVEL"] = log
    if endpoint is not None:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    env.update({k: str(v) for k, v in extra.items()})
    return env


def timed_run(cmd, env):
    t = time.monotonic()
    r = run(cmd, env)
    return r, time.monotonic() - t


def err(r):
    return r.stderr.decode(errors="replace")


def said(r, *words):
    """Whether one of the shim's diagnostic lines has one of words (any case)."""
    lines = [ln.lower() for ln in err(r).splitlines() if "autotrace" in ln.lower()]
    return any(w.lower() in ln for ln in lines for w in words)


def same_as_bare(cmd, env, r):
    """The run under the shim (r) printed and exited as the program alone does."""
    bare = dict(env)
    del bare["LD_PRELOAD"]
    b = run(cmd, bare)
    assert (r.returncode, r.stdout) == (b.returncode, b.stdout), (r, b)


def client_cmd(http_server, path, client="curl"):
    """A program making one CLIENT span: curl (libcurl, which has OpenSSL
    loaded already) or http_client (plain sockets, no OpenSSL of its own)."""
    if client == "curl":
        return ["curl", "-s", http_server.url + path], b"hello\n"
    return [program("http_client"), str(http_server.port), path], b"status 200\nhello\n\n"


def check_client_span(spans, http_server, path, r=None):
    """One CLIENT span, the one whose context went out in the request (r:
    the run, whose stderr says why when there is none)."""
    assert len(spans) == 1, (spans, r and err(r))
    s = spans[0]
    assert s["kind"] == "CLIENT" and s["name"] == "GET", s
    assert s["attributes"]["url.full"] == http_server.url + path, s
    assert s["attributes"]["http.response.status_code"] == 200, s
    tp = http_server.header(len(http_server.requests) - 1, "traceparent")
    assert tp == ["00-%s-%s-01" % (s["trace_id"], s["span_id"])], (tp, s)
    return s


def comparable(s):
    """A span without what differs between two runs of the same request."""
    s = dict(s, resource=dict(s["resource"]))
    for k in ("trace_id", "span_id", "start", "end"):
        del s[k]
    del s["resource"]["process.pid"]
    return s


def wait_until(cond, timeout=5.0):
    end = time.time() + timeout
    while not cond() and time.time() < end:
        time.sleep(0.02)
    return cond()


def no_spans(c):
    """Nothing accepted: the program has exited, so its exit flush is over."""
    time.sleep(0.3)
    return not c.spans and not c.wait_for(1, timeout=0.2)


def run_and_deliver(c, http_server, path, env):
    """Runs curl for path: it is unaffected and its one CLIENT span (the one
    whose traceparent went out) reaches the receiver c. Returns the run."""
    cmd, out = client_cmd(http_server, path)
    r = run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    check_client_span(c.wait_for(1), http_server, path, r)
    return r


def run_and_lose(c, http_server, path, env, *words, client="curl"):
    """Runs a program whose span the receiver c must not get: the program
    is unaffected (its output, status, a bounded run), its span was made
    (its traceparent went out), nothing reached c, and the shim's stderr
    has one of words (none given: not checked). Returns the run."""
    cmd, out = client_cmd(http_server, path, client)
    r, elapsed = timed_run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    assert http_server.header(0, "traceparent"), "no span was made"
    assert no_spans(c) and not c.requests, c.requests
    if words:
        assert said(r, *words), err(r)
    assert elapsed < BOUND, (elapsed, err(r))
    return r


@pytest.fixture
def receiver():
    """receiver(protocol, tls=None, client_ca=None): a Collector (OTLP/HTTP)
    or a GrpcCollector, closed (and checked for decoding errors) at the end."""
    made = []

    def make(protocol, tls=None, client_ca=None):
        cls = GrpcCollector if protocol == "grpc" else Collector
        c = cls(tls=tls, client_ca=client_ca)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()
    for c in made:
        assert not c.errors, "collector could not decode: %s" % c.errors


class TlsHttpServer:
    """An HTTPS server on loopback (collector.TlsServer) that records each
    request (method, path, lower-cased headers, body, TLS facts) and answers
    200 with body: a Zipkin or Jaeger collector's port, or a site."""

    def __init__(self, tls, body=b"over tls\n"):
        self.requests = []
        self.body = body
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if not size:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                body = self._body()
                rec.requests.append({"method": self.command, "path": self.path,
                                     "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": body, "tls": tls_info(self.connection)})
                self.send_response(200)
                self.send_header("Content-Length", str(len(rec.body)))
                self.end_headers()
                self.wfile.write(rec.body)

            do_GET = do_POST = _handle

        self.server = TlsServer(("127.0.0.1", 0), Handler, server_context(tls))
        self.tls_errors = self.server.tls_errors
        self.port = self.server.server_address[1]
        self.url = "https://localhost:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, path):
        return [q for q in self.requests if q["method"] == "POST" and q["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- OTLP over https ----

@pytest.mark.parametrize("client", ["curl", "http_client"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_otlp_over_https(receiver, tls_certs, http_server, protocol, client):
    cmd, out = client_cmd(http_server, "/tls?q=1", client)
    # the same request exported in the clear, to compare with
    plain = receiver(protocol)
    r = run(cmd, tls_env(plain.endpoint, protocol))
    assert r.returncode == 0 and r.stdout == out, err(r)
    base = check_client_span(plain.wait_for(1), http_server, "/tls?q=1", r)

    c = receiver(protocol, tls=tls_certs.server)
    assert c.endpoint.startswith("https://127.0.0.1:")
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    r, elapsed = timed_run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    s = check_client_span(c.wait_for(1), http_server, "/tls?q=1", r)
    assert comparable(s) == comparable(base)
    assert elapsed < BOUND, (elapsed, err(r))
    assert not c.errors and not c.tls_errors, (c.errors, c.tls_errors)
    if protocol != "grpc":
        q = c.requests[0]
        assert q["path"] == "/v1/traces" and q["status"] == 200, q
        assert q["headers"]["Content-Type"] == CONTENT_TYPES[protocol], q
        assert q["tls"]["version"] in ("TLSv1.2", "TLSv1.3"), q
        # an IP address is no server name (RFC 6066): no SNI for it
        assert q["tls"]["sni"] is None, q
    assert not said(r, "tls", "ssl", "certificate"), err(r)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_big_batches_over_https(receiver, tls_certs, protocol):
    """1500 spans with 900-byte URLs in batches of up to 1024 (bodies of up
    to ~1 MB: many TLS records, rings that fill and wrap, HTTP/2 flow
    control over TLS), all arriving once, in two or three requests; over
    OTLP/HTTP on one kept connection. The spans' server is the C test
    server (Python's answers 40 ms late on a kept connection)."""
    c = receiver(protocol, tls=tls_certs.server)
    srv = subprocess.Popen([program("http_server")], stdout=subprocess.PIPE)
    try:
        port = int(srv.stdout.readline())
        env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca,
                      OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1024, OTEL_BSP_MAX_QUEUE_SIZE=4096,
                      OTEL_BSP_SCHEDULE_DELAY=60000)
        n, path = 1500, "/" + "b" * 900
        r = run([program("http_client"), "-n", str(n), str(port), path], env, timeout=60)
    finally:
        srv.kill()
        srv.wait()
    assert r.returncode == 0 and r.stdout.count(b"status 200") == n, err(r)
    spans = c.wait_for(n, timeout=20)
    assert len(spans) == n and len({s["span_id"] for s in spans}) == n, (len(spans), err(r))
    assert all(s["attributes"]["url.full"].endswith(path) for s in spans)
    assert 2 <= len(c.requests) <= 3, len(c.requests)
    assert not said(r, "fail"), err(r)
    if protocol != "grpc":  # one TLS connection for all of them
        assert len({q["tls"]["port"] for q in c.requests}) == 1, c.requests


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_fork_per_connection_server_exports_from_each_child(receiver, tls_certs, protocol):
    """Each child of a fork-per-connection server (ending with _exit) makes
    its span, starts its own exporter, shakes hands and sends it before it
    goes; the client's spans go too: every request has both."""
    c = receiver(protocol, tls=tls_certs.server)
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    srv = subprocess.Popen([program("http_server"), "-m", "fork"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    try:
        port = int(srv.stdout.readline())
        for i in range(20):
            r = run([program("http_client"), str(port), "/f%d" % i], env)
            assert r.returncode == 0 and b"status 200" in r.stdout, err(r)
        spans = c.wait_for(40, timeout=15)
    finally:
        srv.kill()
        _, serr = srv.communicate()
    server = [s for s in spans if s["kind"] == "SERVER"]
    client = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(server) == 20 and len(client) == 20, (len(server), len(client), serr[-500:])
    assert {s["parent_span_id"] for s in server} == {s["span_id"] for s in client}
    assert len({s["resource"]["process.pid"] for s in server}) == 20  # one child each


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_host_name_is_verified_and_sent_as_sni(receiver, tls_certs, http_server, protocol):
    c = receiver(protocol, tls=tls_certs.server)
    env = tls_env("https://localhost:%d" % c.port, protocol,
                  OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    run_and_deliver(c, http_server, "/name", env)
    if protocol != "grpc":
        assert c.requests[0]["tls"]["sni"] == "localhost", c.requests[0]


def test_traces_variables_win_over_the_generic_ones(receiver, tls_certs, http_server):
    # the generic ones name files that would fail: the client CA signs no
    # server certificate, the server's key is no client's
    c = receiver("http/protobuf", tls=tls_certs.server, client_ca=tls_certs.client_ca)
    env = tls_env(None, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=c.endpoint + "/v1/traces",
                  OTEL_EXPORTER_OTLP_ENDPOINT="https://127.0.0.1:1",
                  OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.client_ca,
                  OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=tls_certs.ca,
                  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=tls_certs.server_cert,
                  OTEL_EXPORTER_OTLP_CLIENT_KEY=tls_certs.server_key,
                  OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE=tls_certs.client_cert,
                  OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY=tls_certs.client_key)
    run_and_deliver(c, http_server, "/traces-vars", env)
    assert c.requests[0]["tls"]["peer_cn"] == "autotrace test client", c.requests[0]


# ---- gRPC endpoints without a scheme: TLS unless OTEL_EXPORTER_OTLP_INSECURE ----

def test_grpc_host_and_port_is_tls_by_default(receiver, tls_certs, http_server):
    c = receiver("grpc", tls=tls_certs.server)
    env = tls_env("127.0.0.1:%d" % c.port, "grpc", OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    run_and_deliver(c, http_server, "/schemeless", env)


@pytest.mark.parametrize("var", ["OTEL_EXPORTER_OTLP_INSECURE",
                                 "OTEL_EXPORTER_OTLP_TRACES_INSECURE"])
def test_grpc_host_and_port_insecure_is_plaintext(receiver, http_server, var):
    c = receiver("grpc")
    env = tls_env("127.0.0.1:%d" % c.port, "grpc", **{var: "true"})
    run_and_deliver(c, http_server, "/insecure", env)


def test_grpc_host_and_port_against_a_plaintext_server(receiver, tls_certs, http_server):
    c = receiver("grpc")
    env = tls_env("127.0.0.1:%d" % c.port, "grpc",
                  OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    r = run_and_lose(c, http_server, "/secure-default", env, "tls")
    same_as_bare(r.args, env, r)


@pytest.mark.parametrize("client", ["curl", "http_client"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_many_short_programs_at_once(receiver, tls_certs, http_server, protocol, client):
    """Programs that exit right after their one request, many at a time:
    the exporter's start (which loads and initializes OpenSSL) races the
    program's exit (and, in curl, OpenSSL's own exit handler). None may
    crash or lose its span."""
    c = receiver(protocol, tls=tls_certs.server)
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    cmd, out = client_cmd(http_server, "/many", client)
    n = 48
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        results = list(ex.map(lambda i: run(cmd, env), range(n)))
    bad = [(r.returncode, r.stdout, err(r)) for r in results if r.returncode or r.stdout != out]
    assert not bad, "%d of %d runs failed: %s" % (len(bad), n, bad[:4])
    spans = c.wait_for(n, timeout=15)
    said_why = [err(r) for r in results if r.stderr]
    assert len(spans) == n, (len(spans), said_why[:4])
    assert len({s["span_id"] for s in spans}) == n


# ---- connected ahead ----

WAITER = """\
import sys, urllib.request
urllib.request.urlopen(sys.argv[1]).read()
print("requested", flush=True)
sys.stdin.readline()
"""


def established_to(port):
    """The local ports of the loopback TCP connections established to port
    (the kernel's table: whoever made them, a thread or a helper process)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            f = ln.split()
            local, remote, state = f[1], f[2], f[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                found.append(int(local.rsplit(":", 1)[1], 16))
    return found


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_collector_is_connected_to_before_the_first_export(receiver, tls_certs, http_server,
                                                                protocol, tls):
    # The exporter connects (and makes its TLS handshake, and for gRPC sends
    # its preface) when it starts, at the program's first span, not in its
    # first export: a short program's exit flush then only sends. The export
    # later goes over that connection.
    c = receiver(protocol, tls=tls_certs.server if tls else None)
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca,
                  OTEL_BSP_SCHEDULE_DELAY=5000)
    p = subprocess.Popen([sys.executable, "-c", WAITER, http_server.url + "/ahead"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"requested\n"
        if protocol == "grpc":  # grpcio does not show its connections: the kernel's table does
            assert wait_until(lambda: established_to(c.port)), "no connection while it runs"
            ahead = established_to(c.port)
        else:
            ready = (lambda: c.server.handshakes) if tls else (lambda: c.server.accepted)
            assert wait_until(ready), "no connection while the program runs"
        assert not c.requests and not c.spans  # nothing exported yet (schedule delay: 5 s)
        out, errs = p.communicate(b"\n", timeout=BOUND)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, errs
    spans = c.wait_for(1)
    assert [s["name"] for s in spans] == ["GET"], (spans, errs)
    if protocol == "grpc":
        assert len(ahead) == 1, ahead
        return
    # one connection, the one made ahead, carried the export
    assert len(c.server.accepted) == 1, (c.server.accepted, errs)
    if tls:
        assert c.requests[0]["tls"]["port"] == c.server.handshakes[0] == c.server.accepted[0]
        assert not c.tls_errors, c.tls_errors


# ---- what is trusted ----

@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_untrusted_server_gets_nothing(receiver, tls_certs, http_server, protocol):
    # neither OTEL_EXPORTER_OTLP_CERTIFICATE nor SSL_CERT_FILE/DIR: the
    # system's CAs, which do not include the test CA
    c = receiver(protocol, tls=tls_certs.server)
    env = tls_env(c.endpoint, protocol, log=None)  # said whatever the log level
    assert not any(k in env for k in ("SSL_CERT_FILE", "SSL_CERT_DIR",
                                      "OTEL_EXPORTER_OTLP_CERTIFICATE"))
    r = run_and_lose(c, http_server, "/untrusted", env, "certificate verify failed",
                     "unable to get local issuer")
    if protocol != "grpc":  # the shim did connect and refuse the certificate
        assert wait_until(lambda: c.tls_errors), "no handshake seen"
    same_as_bare(r.args, env, r)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_certificate_for_another_name_is_refused(receiver, tls_certs, http_server, protocol,
                                                    host):
    c = receiver(protocol, tls=tls_certs.wrong)  # DNS:wrong.example, signed by the trusted CA
    env = tls_env("https://%s:%d" % (host, c.port), protocol, log=None,
                  OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    run_and_lose(c, http_server, "/wrong", env, "mismatch")


def _hashed_dir(tmp_path, ca, name="certs"):
    """An SSL_CERT_DIR: the CA (a path, or a list of them) each under its
    subject hash (what c_rehash makes)."""
    d = tmp_path / name
    d.mkdir()
    for one in [ca] if isinstance(ca, str) else ca:
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", one], check=True,
                           capture_output=True, text=True).stdout.strip()
        (d / (h + ".0")).write_bytes(open(one, "rb").read())
    return str(d)


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_openssl_environment_names_the_trust(receiver, tls_certs, http_server, tmp_path,
                                             protocol, var):
    c = receiver(protocol, tls=tls_certs.server)
    where = tls_certs.ca if var == "SSL_CERT_FILE" else _hashed_dir(tmp_path, tls_certs.ca)
    env = tls_env(c.endpoint, protocol, **{var: where})
    run_and_deliver(c, http_server, "/" + var, env)


def test_a_ca_file_that_cannot_be_read_is_said(receiver, tls_certs, http_server, tmp_path):
    c = receiver("http/protobuf", tls=tls_certs.server)
    missing = str(tmp_path / "no-such-ca.pem")
    env = tls_env(c.endpoint, log=None, OTEL_EXPORTER_OTLP_CERTIFICATE=missing)
    cmd, out = client_cmd(http_server, "/noca")
    r, elapsed = timed_run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    assert no_spans(c), c.spans
    assert said(r, missing, "OTEL_EXPORTER_OTLP_CERTIFICATE"), err(r)
    assert elapsed < BOUND, (elapsed, err(r))


# ---- a CA file and a hashed CA directory: the directory first ----
#
# OpenSSL parses a CA file whole as it loads it (Debian's bundle of 140-odd
# CAs: 22 to 34 ms of the exporter's CPU in every process that exports over
# https), and a hashed directory one CA at a time, as a verification needs
# it. Where the trust has both, the shim loads the directory alone and the
# file only when no issuer was found there; then it connects again. The CAs
# trusted are the same.

# what is in the directory and in the file, for each case: the test CA
# (which signed the receiver's certificate) or the client CA (which did not)
LAYOUTS = {"in the directory": (["ca"], ["client_ca"]),
           "only in the file": (["client_ca"], ["ca"]),
           "in neither": (["client_ca"], ["client_ca"])}


def _trust(tmp_path, tls_certs, case, file_name="ca-certificates.crt", hashed=True):
    """A CA directory and, in it like Debian's bundle, a CA file, laid out
    for case (LAYOUTS); hashed=False: the directory has the file only."""
    in_dir, in_file = ([getattr(tls_certs, k) for k in ks] for ks in LAYOUTS[case])
    d = _hashed_dir(tmp_path, in_dir if hashed else [], "trust")
    f = os.path.join(d, file_name)
    with open(f, "wb") as out:
        for ca in in_file:
            out.write(open(ca, "rb").read())
    return d, f


def traced_opens(cmd, env, trace):
    """cmd under strace, which logs every openat of the program and its
    threads and children (the exporter's) into trace: the shim is preloaded
    into the program only."""
    env = dict(env)
    lib = env.pop("LD_PRELOAD")
    return ["strace", "-f", "-qq", "-e", "trace=openat", "-o", trace,
            "-E", "LD_PRELOAD=" + lib] + cmd, env


def opened(trace, path):
    with open(trace) as f:
        return any("openat(" in ln and '"%s"' % path in ln for ln in f)


def check_trust_case(c, http_server, path, cmd, env, case, trace, ca_file, protocol):
    """The run of cmd (a one-request http_client) under strace: its span
    arrives unless the test CA is in neither place; the CA file is read
    only when the directory had no issuer; a refusal is said once."""
    out = client_cmd(http_server, path, "http_client")[1]
    r = run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    refusals = [ln for ln in err(r).splitlines()
                if "unable to get local issuer" in ln and "will not be sent" in ln]
    if case == "in neither":
        assert no_spans(c), c.spans
        assert len(refusals) == 1, err(r)
    else:
        check_client_span(c.wait_for(1), http_server, path, r)
        assert not refusals and not said(r, "verify failed"), err(r)
    assert opened(trace, ca_file) == (case != "in the directory"), open(trace).read()[-3000:]
    if protocol != "grpc":
        if case == "in neither":  # refused with the directory, then with both (and again)
            assert len(c.tls_errors) >= 2, c.tls_errors
        else:  # refused with the directory only, then taken for good
            assert len(c.tls_errors) == (case == "only in the file"), c.tls_errors


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
@pytest.mark.parametrize("case", list(LAYOUTS))
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_ssl_cert_dir_is_read_before_ssl_cert_file(receiver, tls_certs, http_server, tmp_path,
                                                   protocol, case):
    c = receiver(protocol, tls=tls_certs.server)
    d, f = _trust(tmp_path, tls_certs, case, "bundle.pem")
    env = tls_env(c.endpoint, protocol, SSL_CERT_FILE=f, SSL_CERT_DIR=d)
    trace = str(tmp_path / "opens")
    path = "/" + case.replace(" ", "-")
    cmd, env = traced_opens(client_cmd(http_server, path, "http_client")[0], env, trace)
    check_trust_case(c, http_server, path, cmd, env, case, trace, f, protocol)


def _system_trust_paths():
    """OpenSSL's default CA directory and file (OPENSSLDIR/certs and
    OPENSSLDIR/cert.pem), resolved; None unless the file is in the
    directory (Debian: /usr/lib/ssl/certs -> /etc/ssl/certs, cert.pem ->
    /etc/ssl/certs/ca-certificates.crt), so that one bind mount replaces
    both."""
    r = subprocess.run(["openssl", "version", "-d"], capture_output=True, text=True)
    if r.returncode or '"' not in r.stdout:
        return None
    top = r.stdout.split('"')[1]
    d, f = os.path.realpath(top + "/certs"), os.path.realpath(top + "/cert.pem")
    return (d, top + "/cert.pem", f) if os.path.dirname(f) == d else None


def _in_own_mount_namespace(over, cmd):
    """cmd in a user and mount namespace of its own, with the directory
    over[0] mounted over over[1] (the system's CAs seen by it alone)."""
    return ["unshare", "-r", "-m", "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"',
            over[0], over[1]] + cmd


@pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed")
@pytest.mark.parametrize("case", list(LAYOUTS) + ["a bundle only"])
def test_the_system_cas_are_read_as_needed(receiver, tls_certs, http_server, tmp_path, case):
    # neither OTEL_EXPORTER_OTLP_CERTIFICATE nor SSL_CERT_FILE/DIR: OpenSSL's
    # default directory and file, replaced for this run by a bind mount
    paths = _system_trust_paths()
    if not paths:
        pytest.skip("OpenSSL's default CA file is not in its default CA directory")
    if run(_in_own_mount_namespace((str(tmp_path), str(tmp_path)), ["true"]),
           dict(os.environ)).returncode:
        pytest.skip("no user and mount namespace for an unprivileged user here")
    cert_dir, default_file, bundle = paths
    c = receiver("http/protobuf", tls=tls_certs.server)
    layout = "only in the file" if case == "a bundle only" else case
    d, _ = _trust(tmp_path, tls_certs, layout, os.path.basename(bundle),
                  hashed=case != "a bundle only")
    env = tls_env(c.endpoint)
    trace = str(tmp_path / "opens")
    path = "/" + case.replace(" ", "-")
    cmd, env = traced_opens(client_cmd(http_server, path, "http_client")[0], env, trace)
    cmd = _in_own_mount_namespace((d, cert_dir), cmd)
    if case == "a bundle only":  # no hashed directory: the file from the start
        r = run(cmd, env)
        assert r.returncode == 0, err(r)
        check_client_span(c.wait_for(1), http_server, path, r)
        assert opened(trace, default_file) and not c.tls_errors, c.tls_errors
        return
    check_trust_case(c, http_server, path, cmd, env, case, trace, default_file, "http/protobuf")


# ---- mutual TLS ----

@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_mutual_tls_with_a_client_certificate(receiver, tls_certs, http_server, protocol):
    c = receiver(protocol, tls=tls_certs.server, client_ca=tls_certs.client_ca)
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca,
                  OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=tls_certs.client_cert,
                  OTEL_EXPORTER_OTLP_CLIENT_KEY=tls_certs.client_key)
    run_and_deliver(c, http_server, "/mtls", env)
    if protocol != "grpc":
        assert c.requests[0]["tls"]["peer_cn"] == "autotrace test client", c.requests[0]
        assert not c.tls_errors, c.tls_errors


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_mutual_tls_without_a_client_certificate(receiver, tls_certs, http_server, protocol):
    c = receiver(protocol, tls=tls_certs.server, client_ca=tls_certs.client_ca)
    env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca)
    r = run_and_lose(c, http_server, "/no-client-cert", env)
    if protocol != "grpc":
        # the server asked for one and did not get one; its alert is said
        assert said(r, "certificate"), err(r)
        assert wait_until(lambda: c.tls_errors), "no handshake seen"
        assert any("certificate" in e for e in c.tls_errors), c.tls_errors
    else:
        # grpcio hangs up without an alert (curl --http2 sees the same):
        # the export's failure is what there is to say
        assert said(r, "fail"), err(r)
    same_as_bare(r.args, env, r)


# ---- servers that do not speak TLS, or never answer ----

@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_https_to_a_plaintext_collector(receiver, http_server, protocol):
    c = receiver(protocol)
    env = tls_env("https://127.0.0.1:%d" % c.port, protocol)
    r = run_and_lose(c, http_server, "/plain-collector", env, "tls")
    same_as_bare(r.args, env, r)


def test_a_server_that_never_answers_the_handshake_is_bounded(http_server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)  # the kernel completes the connection; nobody reads the ClientHello
    try:
        env = tls_env("https://127.0.0.1:%d" % s.getsockname()[1],
                      AUTOTRACE_EXIT_TIMEOUT=1000)
        cmd, out = client_cmd(http_server, "/silent")
        r, elapsed = timed_run(cmd, env)
        assert r.returncode == 0 and r.stdout == out, err(r)
        assert elapsed < 1.0 + 3.0, (elapsed, err(r))
        # what waited in the backlog: a TLS handshake record (a ClientHello)
        s.settimeout(2)
        conn, _ = s.accept()
        conn.settimeout(2)
        assert conn.recv(1) == b"\x16", err(r)
        conn.close()
    finally:
        s.close()


# ---- no libssl ----

def test_no_libssl_loses_only_the_https_spans(receiver, tls_certs, http_server):
    c = receiver("http/protobuf", tls=tls_certs.server)
    # Zipkin in the clear to http_server at the same time: still exported
    env = tls_env(c.endpoint, log=None, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca,
                  AUTOTRACE_LIBSSL="/nonexistent/libssl.so.3",
                  OTEL_TRACES_EXPORTER="otlp,zipkin",
                  OTEL_EXPORTER_ZIPKIN_ENDPOINT=http_server.url + "/api/v2/spans")
    cmd, out = client_cmd(http_server, "/nolibssl")
    r, elapsed = timed_run(cmd, env)
    assert r.returncode == 0 and r.stdout == out, err(r)
    assert said(r, "libssl"), err(r)
    assert wait_until(lambda: any(q["path"] == "/api/v2/spans" for q in http_server.requests)), \
        err(r)
    assert no_spans(c) and not c.requests, c.requests
    assert elapsed < BOUND, (elapsed, err(r))
    same_as_bare(cmd, env, r)


# ---- a program that uses OpenSSL itself ----

PY_TLS = r"""
import ssl, sys, urllib.request
cafile, https_url, http_url, order = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
tls = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                  urllib.request.HTTPSHandler(context=ctx))
plain = urllib.request.build_opener(urllib.request.ProxyHandler({}))
calls = [(tls, https_url), (plain, http_url)]
for opener, url in calls if order == "tls-first" else calls[::-1]:
    with opener.open(url, timeout=10) as r:
        sys.stdout.write(r.read().decode())
sys.stdout.flush()
"""


@pytest.mark.parametrize("order", ["tls-first", "plain-first"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_a_program_using_openssl_itself(receiver, tls_certs, http_server, tmp_path, protocol,
                                        order):
    """Python's ssl and the shim share the process's libssl; the spans wait
    for the exit flush (schedule delay 60 s), which runs while OpenSSL's own
    exit handler may be cleaning it up."""
    site = TlsHttpServer(tls_certs.server, body=b"secret page\n")
    try:
        c = receiver(protocol, tls=tls_certs.server)
        script = tmp_path / "tls_client.py"
        script.write_text(PY_TLS)
        env = tls_env(c.endpoint, protocol, OTEL_EXPORTER_OTLP_CERTIFICATE=tls_certs.ca,
                      OTEL_BSP_SCHEDULE_DELAY=60000)
        cmd = ["/usr/bin/python3", str(script), tls_certs.ca, site.url + "/page",
               http_server.url + "/py", order]
        r, elapsed = timed_run(cmd, env)
        want = b"secret page\nhello\n" if order == "tls-first" else b"hello\nsecret page\n"
        assert r.returncode == 0 and r.stdout == want, err(r)
        assert [q["path"] for q in site.requests] == ["/page"], site.requests
        assert site.requests[0]["tls"]["sni"] == "localhost"
        spans = c.wait_for(1, pred=lambda s: s["attributes"].get("url.full") ==
                           http_server.url + "/py")
        check_client_span(spans, http_server, "/py", r)
        assert spans[0]["resource"]["process.executable.name"].startswith("python3"), spans
        assert elapsed < BOUND, (elapsed, err(r))
    finally:
        site.close()


# ---- Zipkin and the Jaeger collector over https ----

def _zipkin(site):
    return {"OTEL_TRACES_EXPORTER": "zipkin",
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": site.url + "/api/v2/spans"}, "/api/v2/spans"


def _jaeger(site):
    return {"JAEGER_ENDPOINT": site.url + "/api/traces"}, "/api/traces"


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
@pytest.mark.parametrize("route", [_zipkin, _jaeger], ids=["zipkin", "jaeger"])
def test_zipkin_and_jaeger_over_https(tls_certs, http_server, route, trusted):
    site = TlsHttpServer(tls_certs.server, body=b"")
    try:
        extra, path = route(site)
        if trusted:
            extra["SSL_CERT_FILE"] = tls_certs.ca
        env = tls_env(None, log="warn" if trusted else None, **extra)
        cmd, out = client_cmd(http_server, "/zj")
        r, elapsed = timed_run(cmd, env)
        assert r.returncode == 0 and r.stdout == out, err(r)
        tp = http_server.header(0, "traceparent")
        assert len(tp) == 1, http_server.requests
        trace_id, span_id = tp[0].split("-")[1:3]
        assert elapsed < BOUND, (elapsed, err(r))
        if not trusted:
            time.sleep(0.3)
            assert not site.requests, site.requests
            assert said(r, "certificate verify failed", "unable to get local issuer"), err(r)
            assert wait_until(lambda: site.tls_errors), "no handshake seen"
            return
        assert wait_until(lambda: site.posts(path)), (site.requests, site.tls_errors, err(r))
        (q,) = site.posts(path)
        assert q["tls"]["sni"] == "localhost", q
        if route is _zipkin:
            spans = check_zipkin_v2(json.loads(q["body"]))
            assert [(s["traceId"], s["id"]) for s in spans] == [(trace_id, span_id)]
        else:
            assert q["headers"]["content-type"] == "application/x-thrift", q
            b = decode_collector_body(q["body"])
            assert [jaeger_ids(s) for s in b.spans] == [(trace_id, span_id)]
    finally:
        site.close()
