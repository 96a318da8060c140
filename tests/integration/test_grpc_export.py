"""OTLP over gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc): the shim's own HTTP/2
client (reporter/h2_client.c, hpack.c) calls TraceService/Export. Checked
against a real gRPC server (grpcio, the C core: scripts/grpc_collector.py)
that decodes with the official OTLP protos, and against a strict HTTP/2
server built on python3-h2 that gives tiny flow-control windows, pings,
and goes away after each call; plus servers that are not gRPC at all."""
import gzip
import os
import struct
import sys
import time

import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest

from conftest import ROOT, Collector, Listener, fuzz_short, run, serve, shim_env, program

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from collector import Receiver, span_dicts, trace_service_pb2  # noqa: E402
from grpc_collector import GrpcCollector  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def gcoll():
    yield from serve(GrpcCollector())


def grpc_env(endpoint, **extra):
    return shim_env(None, OTEL_EXPORTER_OTLP_PROTOCOL="grpc", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                    **extra)


def test_curl_spans_reach_a_grpc_collector(gcoll, http_server):
    env = grpc_env(gcoll.endpoint, OTEL_SERVICE_NAME="legacy",
                   OTEL_EXPORTER_OTLP_HEADERS="X-Api-Key=s3cr%20t,Tenant=acme")
    r = run(["curl", "-s", http_server.url + "/grpc?q=1"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n", r.stderr
    spans = gcoll.wait_for(1)
    assert len(spans) == 1, spans
    s = spans[0]
    assert s["kind"] == "CLIENT" and s["name"] == "GET"
    assert s["resource"]["service.name"] == "legacy"
    assert s["attributes"]["url.full"] == http_server.url + "/grpc?q=1"
    assert s["attributes"]["http.response.status_code"] == 200
    # the injected traceparent names the exported span
    tp = [v for k, v in http_server.requests[0]["headers"] if k.lower() == "traceparent"]
    assert tp == ["00-%s-%s-01" % (s["trace_id"], s["span_id"])], http_server.requests[0]
    md = gcoll.requests[0]["metadata"]
    assert md["x-api-key"] == "s3cr t" and md["tenant"] == "acme", md
    assert md["user-agent"].startswith("autotrace/"), md
    assert gcoll.requests[0]["time_remaining"] is not None  # grpc-timeout was sent


def test_a_big_batch_flows_through_the_servers_windows(gcoll, http_server):
    # 100 spans of ~1.4 KB (a long url.full) in one call: more than HTTP/2's
    # initial 64 KiB windows, so the client must wait for WINDOW_UPDATEs
    n = 100
    env = grpc_env(gcoll.endpoint, OTEL_BSP_MAX_EXPORT_BATCH_SIZE=n,
                   OTEL_BSP_SCHEDULE_DELAY=60000, AUTOTRACE_EXIT_TIMEOUT=20000)
    url = http_server.url + "/many?" + "q" * 1200
    r = run([program("curl_client"), "get", url, str(n)], env, timeout=120)
    assert r.returncode == 0, r.stderr
    spans = gcoll.wait_for(n, timeout=20)
    ids = {s["span_id"] for s in spans}
    assert len(spans) == n and len(ids) == n
    assert all(s["attributes"]["url.full"] == url for s in spans)
    assert len(gcoll.requests) == 1


def test_endpoint_as_host_and_port_and_gzip(gcoll, http_server):
    # no scheme: TLS, unless INSECURE (test_tls_export has the secure one)
    env = grpc_env("127.0.0.1:%d" % gcoll.port, OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
                   OTEL_EXPORTER_OTLP_INSECURE="true")
    r = run(["curl", "-s", http_server.url + "/gz"], env)
    assert r.returncode == 0, r.stderr
    spans = gcoll.wait_for(1)
    # grpcio keeps grpc-encoding from the metadata: it took the message
    # compressed (a compressed flag without it is refused); StrictH2 below
    # sees the flag itself
    assert [s["attributes"]["url.full"] for s in spans] == [http_server.url + "/gz"]


def test_unavailable_is_retried(gcoll, http_server):
    gcoll.status_plan = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    env = grpc_env(gcoll.endpoint, OTEL_BSP_SCHEDULE_DELAY=50)
    r = run(["sh", "-c", "curl -s %s/r >/dev/null; sleep 1.5" % http_server.url], env)
    assert r.returncode == 0, r.stderr
    spans = gcoll.wait_for(1)
    assert len(spans) == 1
    assert [q["status"] for q in gcoll.requests] == [grpc.StatusCode.UNAVAILABLE] * 2 + [
        grpc.StatusCode.OK]


def test_a_refusal_is_not_retried_and_is_said_once(gcoll, http_server):
    gcoll.status_plan = [grpc.StatusCode.INVALID_ARGUMENT]
    env = grpc_env(gcoll.endpoint, AUTOTRACE_LOG_LEVEL="warn")
    r = run(["curl", "-s", "-o", "/dev/null", http_server.url + "/x"], env)
    assert r.returncode == 0
    err = r.stderr.decode()
    assert err.count("otlp (grpc): export of 1 spans") == 1, err
    assert "gRPC status 3 INVALID_ARGUMENT: told to fail: INVALID_ARGUMENT" in err, err
    assert len(gcoll.requests) == 1 and not gcoll.spans


class Http1Only(Listener):
    """Answers whatever comes with an HTTP/1.1 400, as an HTTP/1.1-only
    server does to the HTTP/2 preface."""

    def serve(self, c):
        c.recv(65536)
        c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                  b"Connection: close\r\n\r\n")
        c.close()


@pytest.mark.parametrize("server,says", [(Collector, "it answered in text"),
                                         (Http1Only, "it answered in HTTP/1.x")])
def test_a_port_that_is_not_grpc_is_named(http_server, server, says):
    # e.g. the collector's OTLP/HTTP port (4318) given for gRPC
    c = server()
    try:
        env = grpc_env("http://127.0.0.1:%d" % c.port, AUTOTRACE_LOG_LEVEL="warn")
        t = time.monotonic()
        r = run(["curl", "-s", "-o", "/dev/null", http_server.url + "/p"], env)
        assert r.returncode == 0
        assert time.monotonic() - t < 5
        err = r.stderr.decode()
        assert "does not speak HTTP/2 (%s): is this its OTLP/gRPC port" % says in err, err
        assert err.count("otlp (grpc)") == 1, err
    finally:
        c.close()


def test_http_protobuf_default_endpoint_is_unchanged_by_grpc_code(http_server):
    # with no protocol set the exporter still POSTs to /v1/traces
    c = Collector()
    try:
        r = run(["curl", "-s", "-o", "/dev/null", http_server.url + "/h"], shim_env(c))
        assert r.returncode == 0
        assert len(c.wait_for(1)) == 1 and c.requests[0]["path"] == "/v1/traces"
    finally:
        c.close()


# ---- a strict HTTP/2 server (python3-h2): small windows, pings, GOAWAY ----

class StrictH2(Receiver, Listener):
    """Serves Export on every connection with h2's protocol checks on: a
    client frame that breaks RFC 9113 raises in h2 and is recorded as an
    error. Settings: a 1000-byte initial window, topped up only by what the
    handler has consumed; a PING with each answer, and GOAWAY once it is acknowledged
    (so every call comes on a new connection); optionally refuse the first
    stream (RST_STREAM REFUSED_STREAM), or answer the first call UNAVAILABLE
    at once, before its body ("early")."""

    def __init__(self, first="ok"):
        Receiver.__init__(self)
        self.calls, self.pings_acked = 0, 0
        self.connections = 0
        self.encodings, self.compressed = set(), set()
        self.first = first
        self.resets = []
        Listener.__init__(self)

    def serve(self, sock):
        self.connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 10})
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        bodies, closed = {}, False
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                if closed:  # after our GOAWAY h2 takes nothing more
                    continue
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        hd = dict(ev.headers)
                        assert hd[b":path"] == EXPORT.encode() and hd[b":method"] == b"POST"
                        assert hd[b"content-type"] == b"application/grpc"
                        assert hd[b"te"] == b"trailers"
                        self.encodings.add(hd.get(b"grpc-encoding"))
                        if self.first == "refuse" and self.calls == 0:
                            self.calls += 1
                            conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                            continue
                        if self.first == "early" and self.calls == 0:
                            self.calls += 1
                            conn.send_headers(ev.stream_id, [
                                (":status", "200"), ("content-type", "application/grpc"),
                                ("grpc-status", "14"), ("grpc-message", "busy")],
                                end_stream=True)
                            continue
                        bodies[ev.stream_id] = b""
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        if ev.stream_id in bodies:  # (not a stream it refused)
                            bodies[ev.stream_id] += ev.data
                    elif isinstance(ev, h2.events.StreamReset):
                        self.resets.append((ev.stream_id, ev.error_code, ev.remote_reset))
                    elif isinstance(ev, h2.events.PingAckReceived):
                        # the call answered and the ping too: go away
                        self.pings_acked += 1
                        conn.close_connection(last_stream_id=conn.highest_inbound_stream_id)
                        closed = True
                    elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id in bodies:
                        self._answer(conn, ev.stream_id, bodies.pop(ev.stream_id))
                sock.sendall(conn.data_to_send())
        except ConnectionResetError:
            pass  # a client that ends with the GOAWAY unread
        except Exception as e:  # a protocol error of the client's
            with self.lock:
                self.errors.append(repr(e))
        finally:
            sock.close()

    def _answer(self, conn, sid, body):
        flag, length = struct.unpack(">BI", body[:5])
        msg = body[5:]
        assert len(msg) == length
        self.compressed.add(flag)
        if flag:
            msg = gzip.decompress(msg)
        req = trace_service_pb2.ExportTraceServiceRequest()
        req.ParseFromString(msg)
        conn.ping(b"autotrac")
        reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        conn.send_headers(sid, [(":status", "200"), ("content-type", "application/grpc")])
        conn.send_data(sid, struct.pack(">BI", 0, len(reply)) + reply)
        conn.send_headers(sid, [("grpc-status", "0"), ("grpc-message", "")], end_stream=True)
        with self.lock:
            self.calls += 1
            self.spans.extend(span_dicts(req))
            self.lock.notify_all()


@pytest.mark.parametrize("first,compression", [("ok", "none"), ("refuse", "gzip"),
                                               ("early", "none")])
def test_a_strict_http2_server_finds_no_fault(http_server, first, compression):
    srv = StrictH2(first)
    try:
        n = 120  # three calls of ~50 KB through a 1000-byte window
        env = grpc_env("http://127.0.0.1:%d" % srv.port, OTEL_BSP_MAX_EXPORT_BATCH_SIZE=40,
                       OTEL_BSP_SCHEDULE_DELAY=60000, AUTOTRACE_EXIT_TIMEOUT=20000,
                       AUTOTRACE_LOG_LEVEL="warn", OTEL_EXPORTER_OTLP_COMPRESSION=compression)
        r = run([program("curl_client"), "get", http_server.url + "/s?" + "q" * 1000, str(n)],
                env, timeout=60)
        assert r.returncode == 0, r.stderr
        spans = srv.wait_for(n, timeout=20)
        assert not srv.errors, srv.errors
        assert len({s["span_id"] for s in spans}) == n, r.stderr
        # every call's PING answered (the last ack may still be on its way)
        end = time.monotonic() + 5
        while srv.pings_acked < 3 and time.monotonic() < end:
            time.sleep(0.05)
        assert srv.pings_acked >= 3
        assert srv.connections >= 3  # a new connection after each GOAWAY
        assert b"failed" not in r.stderr, r.stderr
        if first == "early":  # the client ended its half of the stream answered early
            assert (1, h2.errors.ErrorCodes.NO_ERROR, True) in srv.resets, srv.resets
        gz = compression == "gzip"
        assert srv.compressed == {int(gz)}
        assert srv.encodings == {b"gzip" if gz else None}
    finally:
        srv.close()


class Answers(Receiver, Listener):
    """Answers every Export call with the fields given, as they are (h2's
    own checks of what it sends are off): for what a collector may send
    that no gRPC server would."""

    def __init__(self, headers, trailers):
        Receiver.__init__(self)
        self.headers, self.trailers = headers, trailers
        Listener.__init__(self)

    def serve(self, sock):
        conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, validate_outbound_headers=False,
            normalize_outbound_headers=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        with sock:
            while data := sock.recv(65536):
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        with self.lock:
                            self.requests.append(ev.stream_id)
                        conn.send_headers(ev.stream_id, self.headers)
                        conn.send_headers(ev.stream_id, self.trailers, end_stream=True)
                sock.sendall(conn.data_to_send())


GRPC_OK = [(":status", "200"), ("content-type", "application/grpc")]


@pytest.mark.parametrize("headers,trailers,says", [
    # percent-decoding takes two hex digits, nothing else (sscanf's %x took
    # " 4" and " 1" for digits, and said "busyA 1A%zz")
    (GRPC_OK, [("grpc-status", "3"), ("grpc-message", "busy% 4 1%41%zz%4")],
     "gRPC status 3 INVALID_ARGUMENT: busy% 4 1A%zz%4"),
    # a :status is three digits ("1:0" was taken for 200, the call for done)
    ([(":status", "1:0"), ("content-type", "application/grpc")], [("grpc-status", "0")],
     "HTTP 0 (gRPC INTERNAL): no valid :status in the response"),
    (GRPC_OK, [("grpc-status", "+3")], "gRPC status 13 INTERNAL: no grpc-status in the response"),
])
def test_what_a_collector_answers_is_read_strictly(http_server, headers, trailers, says):
    srv = Answers(headers, trailers)
    try:
        env = grpc_env("http://127.0.0.1:%d" % srv.port, AUTOTRACE_LOG_LEVEL="info")
        r = run(["curl", "-s", "-o", "/dev/null", http_server.url + "/a"], env)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        assert "otlp (grpc): export of 1 spans to http://127.0.0.1:%d failed: %s" % (
            srv.port, says) in err, err
        assert "exported 0," in err, err
    finally:
        srv.close()


def test_collector_answers_fuzz_short(tmp_path):
    """The exporter's HTTP/1.1 and HTTP/2 clients (tests/fuzz/fuzz_collector.c)
    under libFuzzer for a few seconds, on whatever a collector may answer."""
    fuzz_short("fuzz_collector", tmp_path)


def test_hpack_decoder_fuzz_short(tmp_path):
    """The HPACK decoder (reporter/hpack.c), which reads what a collector
    sends, under libFuzzer for a few seconds: no crash, its table within
    its limit."""
    fuzz_short("fuzz_hpack", tmp_path)
