"""Issue 6: every way spans leave the process — Jaeger agent (UDP, thrift
compact), Jaeger collector (HTTP, thrift binary), Zipkin v2 JSON, console,
OTLP/JSON lines file, OTLP gzip, several at once — each decoded with the
official definitions (Jaeger IDL from jaeger-client@3.19.0 through
Debian's thrift compiler and python3-thrift; the OTLP protos), plus the
classic JAEGER_* configuration and receivers that are down, slow or broken."""
import base64
import concurrent.futures
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import BUILD, ROOT, run, shim_env, program
from collector import decode, span_dicts

sys.path.insert(0, os.path.join(ROOT, "build", "idl", "py"))
from agent import Agent  # noqa: E402  (generated from the official agent.thrift)
from jaeger import ttypes as jaeger_types  # noqa: E402
from thrift.Thrift import TMessageType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.transport import TTransport  # noqa: E402

TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


# ---- decoding with the official definitions ----

def decode_agent_packet(data):
    """Agent.emitBatch (oneway, compact) -> jaeger.Batch."""
    proto = TCompactProtocol.TCompactProtocol(TTransport.TMemoryBuffer(data))
    name, mtype, _ = proto.readMessageBegin()
    assert (name, mtype) == ("emitBatch", TMessageType.ONEWAY)
    args = Agent.emitBatch_args()
    args.read(proto)
    proto.readMessageEnd()
    return args.batch


def decode_collector_body(data):
    batch = jaeger_types.Batch()
    batch.read(TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(data)))
    return batch


def u64hex(v):
    return "%016x" % (v & 0xFFFFFFFFFFFFFFFF)


def jaeger_ids(span):
    return u64hex(span.traceIdHigh) + u64hex(span.traceIdLow), u64hex(span.spanId)


def tags(tag_list):
    out = {}
    for t in tag_list or []:
        out[t.key] = {0: t.vStr, 1: t.vDouble, 2: t.vBool, 3: t.vLong, 4: t.vBinary}[t.vType]
    return out


ZIPKIN_KINDS = {"CLIENT", "SERVER", "PRODUCER", "CONSUMER"}
HEX = re.compile(r"^[0-9a-f]+$")


def check_zipkin_v2(spans):
    """The fields and types of zipkin2-api.yaml's Span, strictly."""
    assert isinstance(spans, list)
    allowed = {"traceId", "id", "parentId", "name", "kind", "timestamp", "duration",
               "localEndpoint", "remoteEndpoint", "annotations", "tags", "debug", "shared"}
    for s in spans:
        assert set(s) <= allowed, set(s) - allowed
        assert HEX.match(s["traceId"]) and len(s["traceId"]) in (16, 32)
        assert HEX.match(s["id"]) and len(s["id"]) == 16
        if "parentId" in s:
            assert HEX.match(s["parentId"]) and len(s["parentId"]) == 16
        assert isinstance(s["name"], str)
        if "kind" in s:
            assert s["kind"] in ZIPKIN_KINDS
        assert isinstance(s["timestamp"], int) and s["timestamp"] > 1500000000000000
        assert isinstance(s["duration"], int) and s["duration"] >= 1
        for ep in ("localEndpoint", "remoteEndpoint"):
            if ep in s:
                assert set(s[ep]) <= {"serviceName", "ipv4", "ipv6", "port"}
                if "port" in s[ep]:
                    assert isinstance(s[ep]["port"], int)
        for a in s.get("annotations", []):
            assert set(a) == {"timestamp", "value"}
            assert isinstance(a["timestamp"], int) and isinstance(a["value"], str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.get("tags", {}).items())
    return spans


# ---- receivers ----

class UdpAgent:
    """A Jaeger agent's UDP port: keeps every datagram."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 16 << 20)
                break
            except OSError:
                pass
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.packets = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        self.sock.settimeout(0.1)
        while self.running:
            try:
                data = self.sock.recv(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.packets.append(data)

    def batches(self, nspans=1, timeout=10.0):
        end = time.time() + timeout
        while True:
            with self.lock:
                pk = list(self.packets)
            got = [decode_agent_packet(p) for p in pk]
            if sum(len(b.spans) for b in got) >= nspans or time.time() >= end:
                return pk, got
            time.sleep(0.05)

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def agent():
    a = UdpAgent()
    yield a
    a.close()


def posts(server, path):
    return [r for r in server.requests if r["method"] == "POST" and r["path"] == path]


def wait_posts(server, path, n=1, timeout=10.0):
    end = time.time() + timeout
    while len(posts(server, path)) < n and time.time() < end:
        time.sleep(0.05)
    return posts(server, path)


def client_ids(server, i=0):
    tps = server.header(i, "traceparent")
    assert len(tps) == 1, tps
    m = TP.match(tps[0])
    return m.group(1), m.group(2), m.group(3)


# ---- formats, checked on bytes the encoders wrote (unit test output) ----

@pytest.fixture(scope="module")
def unit_out(tmp_path_factory):
    d = tmp_path_factory.mktemp("thrift")
    subprocess.run([os.path.join(BUILD, "tests", "test_thrift")], check=True, capture_output=True,
                   env=dict(os.environ, AT_THRIFT_OUT=str(d)))
    return d


def test_agent_packets_decode_with_official_idl(unit_out):
    files = sorted(unit_out.glob("udp-*.bin"))
    assert len(files) >= 2  # 300 spans of ~450 bytes: the batch had to be split
    spans = []
    for f in files:
        data = f.read_bytes()
        assert len(data) <= 65000
        b = decode_agent_packet(data)
        assert b.process.serviceName == "svc-\u00fc"
        pt = tags(b.process.tags)
        # JAEGER_TAGS with ${ENV:default}, below OTEL_RESOURCE_ATTRIBUTES
        assert pt["team"] == "core" and pt["region"] == "us-west,1" and pt["both"] == "otel"
        assert pt["bin"] == "\ufffd\ufffdz" and isinstance(pt["process.pid"], int)
        spans += b.spans
    assert len(spans) == 300
    assert len({s.spanId for s in spans}) == 300
    s = spans[0]
    assert jaeger_ids(s) == ("010203040506070890a0b0c0d0e0f0ff", "ffeeddccbbaa9988")
    assert u64hex(s.parentSpanId) == "ab" * 8
    assert [(r.refType, u64hex(r.spanId)) for r in s.references] == [
        (jaeger_types.SpanRefType.CHILD_OF, "ab" * 8)]
    assert (s.references[0].traceIdHigh, s.references[0].traceIdLow) == (s.traceIdHigh, s.traceIdLow)
    assert s.operationName == "GET" and s.flags == 1
    assert s.startTime == 1700000000000000 and s.duration == 1234
    t = tags(s.tags)
    assert t["unicode"] == "h\u00e9llo \u2713"
    assert t["binary"] == "a\ufffd\ufffdb\x00c"
    assert t["big"] == "x" * 300
    assert t["ratio"] == 0.25 and t["flag"] is True and t["negative"] == -42
    assert t["http.response.status_code"] == 200
    assert t["span.kind"] == "client" and t["error"] is True
    assert t["otel.status_code"] == "ERROR" and t["otel.status_description"] == "boom"
    assert t["otel.dropped_attributes_count"] == 3
    log = s.logs[0]
    assert tags(log.fields) == {"event": "exception", "exception.type": "SIGSEGV"}
    assert [tags(x.tags)["http.response.status_code"] for x in spans] == list(range(200, 500))


def test_span_too_big_for_a_packet_is_trimmed_not_lost(unit_out):
    batches = [decode_agent_packet(f.read_bytes()) for f in sorted(unit_out.glob("trim-*.bin"))]
    assert all(len(f.read_bytes()) <= 900 for f in unit_out.glob("trim-*.bin"))
    huge = batches[1].spans[0]
    t = tags(huge.tags)
    assert huge.operationName == "GET"
    # the largest attribute went first; the rest survived
    assert "huge" not in t and t["otel.dropped_attributes_count"] == 1
    assert t["big"] == "x" * 300 and t["unicode"] == "h\u00e9llo \u2713"
    assert "huge" not in tags(batches[0].spans[0].tags)  # the other span is untouched
    assert tags(batches[0].spans[0].tags)["big"] == "x" * 300


def test_collector_batch_decodes_with_binary_protocol(unit_out):
    b = decode_collector_body((unit_out / "batch-binary.bin").read_bytes())
    assert len(b.spans) == 10 and b.process.serviceName == "svc-\u00fc"
    assert jaeger_ids(b.spans[0])[0] == "010203040506070890a0b0c0d0e0f0ff"
    assert tags(b.spans[0].tags)["binary"] == "a\ufffd\ufffdb\x00c"


def test_zipkin_json_schema(unit_out):
    spans = check_zipkin_v2(json.loads((unit_out / "zipkin.json").read_bytes()))
    s = spans[0]
    assert s["traceId"] == "010203040506070890a0b0c0d0e0f0ff" and s["parentId"] == "ab" * 8
    assert s["kind"] == "CLIENT" and s["localEndpoint"] == {"serviceName": "svc-\u00fc"}
    assert s["tags"]["binary"] == "a\ufffd\ufffdb\x00c" and s["tags"]["negative"] == "-42"
    assert s["tags"]["error"] == "boom" and s["tags"]["otel.status_code"] == "ERROR"
    assert s["tags"]["otel.dropped_attributes_count"] == "3"
    assert json.loads(s["annotations"][0]["value"]) == {"exception": {"exception.type": "SIGSEGV"}}


# ---- real programs under the shim ----

def test_jaeger_agent_selected_by_jaeger_env(agent, http_server):
    env = shim_env(None, JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port,
                   JAEGER_SERVICE_NAME="legacy-svc", AT_TEST_DC="dc9",
                   JAEGER_TAGS="team=core,dc=${AT_TEST_DC:none},zone=${AT_TEST_NOPE:z1}")
    r = run(["curl", "-s", http_server.url + "/x"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    trace_id, span_id, _ = client_ids(http_server)
    _, batches = agent.batches(1)
    assert len(batches) == 1 and len(batches[0].spans) == 1
    b = batches[0]
    assert b.process.serviceName == "legacy-svc"
    pt = tags(b.process.tags)
    assert (pt["team"], pt["dc"], pt["zone"]) == ("core", "dc9", "z1")
    assert pt["process.executable.name"] == "curl"
    s = b.spans[0]
    assert jaeger_ids(s) == (trace_id, span_id)
    assert s.parentSpanId == 0 and not s.references
    t = tags(s.tags)
    assert t["span.kind"] == "client" and t["http.response.status_code"] == 200
    assert t["url.full"] == http_server.url + "/x"


def test_jaeger_agent_splits_a_big_batch(agent, http_server):
    n = 400
    env = shim_env(None, OTEL_TRACES_EXPORTER="jaeger", JAEGER_AGENT_HOST="127.0.0.1",
                   JAEGER_AGENT_PORT=agent.port, OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1000,
                   OTEL_BSP_SCHEDULE_DELAY=60000, AUTOTRACE_EXIT_TIMEOUT=10000)
    url = http_server.url + "/many?" + "q" * 200
    r = run([program("curl_client"), "get", url, str(n)], env, timeout=60)
    assert r.returncode == 0, r.stderr
    packets, batches = agent.batches(n)
    assert len(packets) >= 2, [len(p) for p in packets]  # one batch of 400 did not fit
    assert max(len(p) for p in packets) <= 65000
    ids = [jaeger_ids(s)[1] for b in batches for s in b.spans]
    assert len(ids) == n and len(set(ids)) == n


def test_jaeger_agent_trims_a_span_bigger_than_the_packet(agent, http_server):
    # "localhost": the IPv4 address is used (the agent listens on 127.0.0.1 only)
    env = shim_env(None, OTEL_TRACES_EXPORTER="jaeger", JAEGER_AGENT_HOST="localhost",
                   JAEGER_AGENT_PORT=agent.port, AUTOTRACE_JAEGER_MAX_PACKET=1000)
    r = run(["curl", "-s", http_server.url + "/" + "p" * 3000], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    packets, batches = agent.batches(1)
    assert len(packets) == 1 and len(packets[0]) <= 1000
    s = batches[0].spans[0]
    t = tags(s.tags)
    assert s.operationName == "GET" and jaeger_ids(s)[1] == client_ids(http_server)[1]
    assert "url.full" not in t and t["otel.dropped_attributes_count"] == 1
    assert t["http.request.method"] == "GET" and t["http.response.status_code"] == 200


def test_jaeger_collector_http_with_basic_auth(http_server):
    env = shim_env(None, JAEGER_ENDPOINT=http_server.url + "/api/traces",
                   JAEGER_USER="alice", JAEGER_PASSWORD="s3cr\u00e9t:x")
    r = run(["curl", "-s", http_server.url + "/x"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    trace_id, span_id, _ = client_ids(http_server)
    reqs = wait_posts(http_server, "/api/traces")
    assert len(reqs) == 1
    h = {k.lower(): v for k, v in reqs[0]["headers"]}
    assert h["content-type"] == "application/x-thrift"
    user_pass = base64.b64decode(h["authorization"].split(" ", 1)[1]).decode()
    assert h["authorization"].startswith("Basic ") and user_pass == "alice:s3cr\u00e9t:x"
    b = decode_collector_body(reqs[0]["body"])
    assert b.process.serviceName == "curl"
    assert [jaeger_ids(s) for s in b.spans] == [(trace_id, span_id)]


def test_zipkin_exporter(http_server):
    env = shim_env(None, OTEL_TRACES_EXPORTER="zipkin",
                   OTEL_EXPORTER_ZIPKIN_ENDPOINT=http_server.url + "/api/v2/spans")
    r = run(["curl", "-s", http_server.url + "/z"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    trace_id, span_id, _ = client_ids(http_server)
    reqs = wait_posts(http_server, "/api/v2/spans")
    assert len(reqs) == 1
    assert dict((k.lower(), v) for k, v in reqs[0]["headers"])["content-type"] == "application/json"
    spans = check_zipkin_v2(json.loads(reqs[0]["body"]))
    assert len(spans) == 1
    s = spans[0]
    assert (s["traceId"], s["id"]) == (trace_id, span_id) and "parentId" not in s
    assert s["kind"] == "CLIENT" and s["name"] == "GET"
    assert s["localEndpoint"] == {"serviceName": "curl"}
    assert s["remoteEndpoint"] == {"ipv4": "127.0.0.1", "port": http_server.port}
    assert s["tags"]["http.response.status_code"] == "200"
    assert s["tags"]["url.full"] == http_server.url + "/z"


def test_console_writes_stderr_never_stdout(http_server):
    env = shim_env(None, OTEL_TRACES_EXPORTER="console")
    r = run(["curl", "-s", http_server.url + "/c"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    _, span_id, _ = client_ids(http_server)
    lines = [l for l in r.stderr.decode().splitlines() if " span " in l]
    assert len(lines) == 1, r.stderr
    assert re.match(r'^autotrace\[\d+\]: span "GET" CLIENT [\d.]+ms service="curl" ', lines[0])
    assert "span=" + span_id in lines[0] and "http.response.status_code=200" in lines[0]


def test_file_lines_from_many_processes(http_server, tmp_path):
    path = tmp_path / "spans.jsonl"
    env = shim_env(None, AUTOTRACE_FILE=str(path), OTEL_BSP_MAX_EXPORT_BATCH_SIZE=3)
    nproc, per = 8, 15

    def one(i):
        return run([program("curl_client"), "get", http_server.url + "/f%d" % i, str(per)], env)

    with concurrent.futures.ThreadPoolExecutor(nproc) as ex:
        results = list(ex.map(one, range(nproc)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    spans = []
    for line in lines[:-1]:
        # every line a whole ExportTraceServiceRequest: no interleaving
        spans += span_dicts(decode(line, "application/json"))
    assert len(spans) == nproc * per
    assert len({s["span_id"] for s in spans}) == nproc * per
    assert len({s["resource"]["process.pid"] for s in spans}) == nproc
    assert len(lines) - 1 >= nproc  # at least one request per process


def test_several_exporters_at_once(collector, agent, http_server, tmp_path):
    path = tmp_path / "spans.jsonl"
    env = shim_env(collector, OTEL_TRACES_EXPORTER="otlp, jaeger,zipkin,console",
                   JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port,
                   OTEL_EXPORTER_ZIPKIN_ENDPOINT=http_server.url + "/api/v2/spans",
                   AUTOTRACE_FILE=str(path))
    r = run(["curl", "-s", http_server.url + "/m"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    _, span_id, _ = client_ids(http_server)
    assert [s["span_id"] for s in collector.wait_for(1)] == [span_id]
    _, batches = agent.batches(1)
    assert [jaeger_ids(s)[1] for b in batches for s in b.spans] == [span_id]
    z = json.loads(wait_posts(http_server, "/api/v2/spans")[0]["body"])
    assert [s["id"] for s in z] == [span_id]
    assert "span=" + span_id in r.stderr.decode()
    assert [s["span_id"] for s in span_dicts(decode(path.read_bytes(), "application/json"))] == [span_id]


def test_otlp_gzip(collector, http_server):
    # the collector gunzips and decodes with the official protos (scripts/collector.py)
    env = shim_env(collector, OTEL_EXPORTER_OTLP_COMPRESSION="gzip",
                   OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20tok")
    r = run([program("curl_client"), "get", http_server.url + "/g", "5"], env)
    assert r.returncode == 0
    assert len(collector.wait_for(5)) == 5
    assert collector.requests
    for q in collector.requests:
        assert q["headers"].get("Content-Encoding") == "gzip"
        assert q["headers"].get("authorization") == "Bearer tok"


def test_otel_wins_over_jaeger(collector, agent, http_server):
    env = shim_env(collector, OTEL_TRACES_EXPORTER="otlp", JAEGER_AGENT_HOST="127.0.0.1",
                   JAEGER_AGENT_PORT=agent.port, OTEL_SERVICE_NAME="otel-name",
                   JAEGER_SERVICE_NAME="jaeger-name", OTEL_TRACES_SAMPLER="always_on",
                   JAEGER_SAMPLER_TYPE="const", JAEGER_SAMPLER_PARAM="0")
    r = run(["curl", "-s", http_server.url], env)
    assert r.returncode == 0
    spans = collector.wait_for(1)
    assert len(spans) == 1 and spans[0]["resource"]["service.name"] == "otel-name"
    time.sleep(0.3)
    assert agent.packets == []


@pytest.mark.parametrize("stype,param,flag", [("const", "0", "00"), ("const", "1", "01"),
                                              ("probabilistic", "0", "00"),
                                              ("probabilistic", "1", "01")])
def test_jaeger_sampler_const_probabilistic(collector, http_server, stype, param, flag):
    env = shim_env(collector, JAEGER_SAMPLER_TYPE=stype, JAEGER_SAMPLER_PARAM=param)
    r = run(["curl", "-s", http_server.url], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    assert client_ids(http_server)[2] == flag
    assert len(collector.wait_for(1, timeout=1.0 if flag == "00" else 10.0)) == (flag == "01")


def test_jaeger_sampler_ratelimiting(collector, http_server):
    n = 40
    env = shim_env(collector, JAEGER_SAMPLER_TYPE="ratelimiting", JAEGER_SAMPLER_PARAM="2")
    t = time.monotonic()
    r = run([program("curl_client"), "get", http_server.url + "/r", str(n)], env)
    elapsed = time.monotonic() - t
    assert r.returncode == 0
    flags = [client_ids(http_server, i)[2] for i in range(n)]
    sampled = flags.count("01")
    # a bucket of 2 traces, refilled at 2 per second
    assert 2 <= sampled <= 2 + 2 * elapsed + 1, (sampled, elapsed)
    assert flags[:2] == ["01", "01"]
    time.sleep(0.3)
    assert len(collector.wait_for(sampled, timeout=5)) == sampled


def test_jaeger_disabled(collector, http_server):
    r = run(["curl", "-s", http_server.url], shim_env(collector, JAEGER_DISABLED="true"))
    assert r.returncode == 0 and r.stdout == b"hello\n"
    assert http_server.header(0, "traceparent") == []
    time.sleep(0.3)
    assert collector.requests == []


def test_attribute_limits_reported_in_each_format(collector, agent, http_server):
    env = shim_env(collector, OTEL_TRACES_EXPORTER="otlp,jaeger,zipkin",
                   JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port,
                   OTEL_EXPORTER_ZIPKIN_ENDPOINT=http_server.url + "/api/v2/spans",
                   OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=12, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=3)
    r = run(["curl", "-s", http_server.url + "/limits/abcdef"], env)
    assert r.returncode == 0
    o = collector.wait_for(1)[0]
    assert len(o["attributes"]) == 3 and o["dropped_attributes"] >= 1
    dropped = o["dropped_attributes"]
    assert o["attributes"]["url.full"] == (http_server.url + "/limits")[:12]
    _, batches = agent.batches(1)
    jt = tags(batches[0].spans[0].tags)
    assert jt["otel.dropped_attributes_count"] == dropped and jt["url.full"] == o["attributes"]["url.full"]
    z = json.loads(wait_posts(http_server, "/api/v2/spans")[0]["body"])[0]
    assert z["tags"]["otel.dropped_attributes_count"] == str(dropped)


def test_unicode_and_binary_strings_in_every_format(collector, agent, http_server, tmp_path):
    path = tmp_path / "spans.jsonl"
    env = shim_env(collector, OTEL_TRACES_EXPORTER="otlp,jaeger,zipkin",
                   JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=agent.port,
                   OTEL_EXPORTER_ZIPKIN_ENDPOINT=http_server.url + "/api/v2/spans",
                   AUTOTRACE_FILE=str(path),
                   OTEL_RESOURCE_ATTRIBUTES="owner=J\u00fcrgen,raw=%FF%FE!")
    env = {k.encode(): v.encode() for k, v in env.items()}
    env[b"OTEL_SERVICE_NAME"] = b"svc-\xe2\x9c\x93-\xff"
    url = http_server.url.encode() + b"/\xc3\xbcn\xc3\xaf/\xff\xfe?q=\xe2\x9c\x93"
    r = subprocess.run([b"curl", b"-s", b"-o", b"/dev/null", url], env=env, capture_output=True,
                       timeout=30)
    assert r.stdout == b""
    o = collector.wait_for(1)[0]
    want = "/\u00fcn\u00ef/\ufffd\ufffd?q=\u2713"
    assert o["attributes"]["url.full"].endswith(want), o["attributes"]
    assert o["resource"]["service.name"] == "svc-\u2713-\ufffd"
    assert o["resource"]["raw"] == "\ufffd\ufffd!" and o["resource"]["owner"] == "J\u00fcrgen"
    _, batches = agent.batches(1)
    b = batches[0]
    assert b.process.serviceName == "svc-\u2713-\ufffd" and tags(b.process.tags)["raw"] == "\ufffd\ufffd!"
    assert tags(b.spans[0].tags)["url.full"].endswith(want)
    z = check_zipkin_v2(json.loads(wait_posts(http_server, "/api/v2/spans")[0]["body"]))[0]
    assert z["tags"]["url.full"].endswith(want)
    assert z["localEndpoint"]["serviceName"] == "svc-\u2713-\ufffd"
    f = span_dicts(decode(path.read_bytes(), "application/json"))[0]
    assert f["attributes"]["url.full"].endswith(want)


# ---- receivers that are down, slow or broken: the host never notices ----

class BadServer:
    """mode "slow": listens, never answers; "garbage": answers noise and
    closes; "down": a port nothing listens on."""

    def __init__(self, mode):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns = []
        if mode == "down":
            self.sock.close()
            return
        self.sock.listen(64)
        if mode == "garbage":
            threading.Thread(target=self._garbage, daemon=True).start()

    def _garbage(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(1)
                c.recv(65536)
                c.sendall(b"\x00\xff\xfeNOT HTTP AT ALL\r\n\r\n" + os.urandom(512))
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


ROUTES = {
    "jaeger-http": lambda port: {"JAEGER_ENDPOINT": "http://127.0.0.1:%d/api/traces" % port},
    "zipkin": lambda port: {"OTEL_TRACES_EXPORTER": "zipkin",
                            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": "http://127.0.0.1:%d/api/v2/spans" % port},
    "otlp-gzip": lambda port: {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port,
                               "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"},
    "jaeger-udp": lambda port: {"JAEGER_AGENT_HOST": "127.0.0.1", "JAEGER_AGENT_PORT": str(port)},
    "otlp-grpc": lambda port: {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port,
                               "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("mode", ["down", "slow", "garbage"])
def test_receiver_down_slow_or_garbage(http_server, route, mode):
    bad = BadServer(mode)
    try:
        env = shim_env(None, **ROUTES[route](bad.port))
        t = time.monotonic()
        r = run([program("curl_client"), "get", http_server.url + "/b", "3"], env)
        elapsed = time.monotonic() - t
        assert r.returncode == 0 and r.stdout == b"0 200\n" * 3, r.stderr
        assert len(http_server.requests) == 3
        assert elapsed < 5.0, elapsed  # exit flush bounded by AUTOTRACE_EXIT_TIMEOUT
    finally:
        bad.close()


# ---- a fork's child and the parent's connections ----

FORKER = """\
import os, sys, time, urllib.request

def request(path):
    with urllib.request.urlopen(sys.argv[1] + path) as r:
        r.read()

def sockets():
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink("/proc/self/fd/" + fd).startswith("socket:")
        except OSError:
            pass
    return n

request("/before")  # a span: the exporter starts (and connects, or sends)
end = time.time() + 5
while not sockets() and time.time() < end:
    time.sleep(0.01)
before = sockets()
pid = os.fork()
if not pid:
    print("child", sockets(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
request("/after")  # the parent's exporter goes on over its own
print("parent", before, sockets(), flush=True)
"""


@pytest.mark.parametrize("route", ["otlp", "jaeger-udp"])
def test_a_fork_child_does_not_hold_the_parents_collector_socket(collector, agent, http_server,
                                                                  route):
    # The exporter's socket (a kept-alive TCP connection, or the agent's UDP
    # socket) is inherited by a fork's child; the child closes its copy at
    # once, so that a child that lives long (a pre-fork server's worker)
    # does not hold the parent's connection open past the parent's close.
    extra = {"AUTOTRACE_EXPORTER_MODE": "thread"}  # (a helper's sockets are not the app's)
    if route == "jaeger-udp":
        extra.update(JAEGER_AGENT_HOST="127.0.0.1", JAEGER_AGENT_PORT=str(agent.port),
                     OTEL_TRACES_EXPORTER="jaeger")
    env = shim_env(collector if route == "otlp" else None, **extra)
    r = run([sys.executable, "-c", FORKER, http_server.url], env)
    assert r.returncode == 0, r.stderr
    lines = dict(ln.split(" ", 1) for ln in r.stdout.decode().splitlines())
    assert lines["child"] == "0", (lines, r.stderr)
    before, after = lines["parent"].split()
    assert before == "1" and after == "1", (lines, r.stderr)
    if route == "otlp":
        spans = collector.wait_for(2)
    else:
        spans = [s for b in agent.batches(2)[1] for s in b.spans]
    assert len(spans) == 2, (spans, r.stderr)
