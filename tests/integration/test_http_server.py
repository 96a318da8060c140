"""Issue 3, server side: accepted connections get a SERVER span continuing
the caller's trace (or a new root for anything invalid), current while the
request is handled; chains of services, threads and exec make one trace."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from conftest import BUILD, LIB, free_port, run, shim_env, program
from httpnet import (CaptureServer, Server, header_lines, one, by_service, raw_request,
                     wait_listening)

TID = "0af7651916cd43dd8448eb211c80319c"
SID = "b7ad6b7169203331"
GOOD = "00-%s-%s-01" % (TID, SID)


def req(port, *headers):
    return ("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: ua/1.0\r\n%s"
            "Connection: close\r\n\r\n" % (port, "".join(h + "\r\n" for h in headers)))


@pytest.mark.parametrize("mode", ["thread", "fork", "loop", "prefork"])
def test_server_span_continues_the_callers_trace(collector, mode):
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", mode)
    try:
        out = raw_request(srv.port, req(srv.port, "traceparent: " + GOOD,
                                        "tracestate: k=v"))
        assert out.startswith(b"HTTP/1.1 200")
        s = one(collector.wait_for(1), kind="SERVER")
        assert s["trace_id"] == TID and s["parent_span_id"] == SID
        assert s["trace_state"] == "k=v"
        assert s["name"] == "GET"
        a = s["attributes"]
        assert a["http.request.method"] == "GET"
        assert a["url.path"] == "/a/b" and a["url.query"] == "x=1&y=2"
        assert a["url.scheme"] == "http"
        assert a["server.port"] == srv.port
        assert a["client.address"] == "127.0.0.1"
        assert a["user_agent.original"] == "ua/1.0"
        assert a["http.response.status_code"] == 200
        assert s["status_code"] == 0
    finally:
        srv.close()


HOSTILE = {
    "non-hex": "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",
    "uppercase": "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
    "zero-trace": "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "zero-span": "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "version-ff": "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "short": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
    "long-v00": GOOD + "-00",
    "10kb": "00-" + "a" * 10000,
    "evil": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\x01EVIL",
}


COUNT_ADDR = os.path.join(BUILD, "preloads", "count_addr.so")


@pytest.mark.parametrize("family", ["4", "6"])
@pytest.mark.parametrize("how", ["none", "full", "short"])
def test_client_address_whatever_accept_was_given(collector, family, how):
    """client.address and server.port on IPv4 and IPv6, whether accept()
    was given no address, a whole one or one too short (cut to its family).
    An accept without an address costs its connection one getpeername and
    one getsockname: the peer found while learning the socket is inet is
    kept for the first request's span (count_addr.so, preloaded after the
    shim, counts the calls; the server's own getsockname of its listening
    socket is the one more)."""
    n = 3
    host = "::1" if family == "6" else "127.0.0.1"
    env = shim_env(collector, OTEL_SERVICE_NAME="srv")
    env["LD_PRELOAD"] = LIB + " " + COUNT_ADDR
    args = ["-m", "loop", "-n", str(n), "-a", how] + (["-6"] if family == "6" else [])
    p = subprocess.Popen([program("http_server")] + args, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline()
        if not line and family == "6":
            pytest.skip("no IPv6 loopback: %s" % p.communicate(timeout=10)[1][-200:])
        port = int(line)
        for _ in range(n):
            assert raw_request(port, req(port), host=host).startswith(b"HTTP/1.1 200")
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    assert p.returncode == 0, err[-500:]
    servers = [s for s in collector.wait_for(n) if s["kind"] == "SERVER"]
    assert len(servers) == n
    for s in servers:
        assert s["attributes"]["client.address"] == host
        assert s["attributes"]["server.port"] == port
    m = re.search(rb"count_addr getpeername (\d+) getsockname (\d+)", err)
    assert m, err[-500:]
    assert (int(m.group(1)), int(m.group(2))) == (n, n + 1)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_traceparent_gives_a_new_root_and_no_echo(collector, name):
    down = CaptureServer()
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-u", down.port)
    try:
        out = raw_request(srv.port, req(srv.port, "traceparent: " + HOSTILE[name],
                                        "tracestate: evil=EVIL"))
        assert out.startswith(b"HTTP/1.1 200")
        spans = collector.wait_for(2)
        s = one(spans, kind="SERVER")
        assert s["parent_span_id"] == "" and s["trace_id"] != TID
        c = one(spans, kind="CLIENT")
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == s["trace_id"]
        sent = down.wait(1)[0]
        assert b"EVIL" not in sent and b"evil" not in sent and b"aaaaaaaaaa" not in sent
        tps = [v for k, v in header_lines(sent) if k == "traceparent"]
        assert tps == ["00-%s-%s-01" % (c["trace_id"], c["span_id"])]
    finally:
        srv.close()
        down.close()


def test_huge_headers_and_bytewise_request(collector):
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"))
    try:
        big = "X-Big: " + "b" * 10000
        out = raw_request(srv.port, req(srv.port, big, "traceparent: " + GOOD, big), split=1)
        assert out.startswith(b"HTTP/1.1 200")
        s = one(collector.wait_for(1), kind="SERVER")
        assert s["trace_id"] == TID and s["parent_span_id"] == SID
    finally:
        srv.close()


@pytest.mark.parametrize("props,headers,injected", [
    ("b3", ["b3: %s-%s-1" % (TID, SID)], ["b3"]),
    ("b3", ["b3: %s-%s-1-%s" % (TID[16:], SID, "1" * 16)], ["b3"]),
    ("b3multi", ["X-B3-TraceId: " + TID, "X-B3-SpanId: " + SID, "X-B3-Sampled: 1"],
     ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled"]),
    ("jaeger", ["uber-trace-id: %s:%s:0:1" % (TID, SID), "uberctx-user: alice"],
     ["uber-trace-id"]),
    ("jaeger", ["uber-trace-id: %s%%3A%s%%3A0%%3A1" % (TID, SID)], ["uber-trace-id"]),
    ("tracecontext,baggage", ["traceparent: " + GOOD, "baggage: user=bob"],
     ["traceparent", "baggage"]),
])
def test_other_propagators(collector, props, headers, injected):
    down = CaptureServer()
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv", OTEL_PROPAGATORS=props),
                 "-u", down.port)
    try:
        raw_request(srv.port, req(srv.port, *headers))
        spans = collector.wait_for(2)
        s = one(spans, kind="SERVER")
        want_tid = TID if len(headers[0].split(":")[1].strip().split("-")[0]) != 16 else \
            "0" * 16 + TID[16:]
        assert s["trace_id"] == want_tid and s["parent_span_id"] == SID
        c = one(spans, kind="CLIENT")
        hdrs = dict(header_lines(down.wait(1)[0]))
        for h in injected:
            assert h in hdrs
        tid, sid = c["trace_id"], c["span_id"]
        if "b3" in hdrs:
            assert hdrs["b3"] == "%s-%s-1" % (tid, sid)
        if "x-b3-traceid" in hdrs:
            assert (hdrs["x-b3-traceid"], hdrs["x-b3-spanid"], hdrs["x-b3-sampled"]) == \
                (tid, sid, "1")
        if "uber-trace-id" in hdrs:
            assert hdrs["uber-trace-id"] == "%s:%s:0:1" % (tid, sid)
        if "baggage" in injected:
            assert "user=bob" in hdrs["baggage"].split(",")
        if props == "jaeger" and "uberctx" in headers[-1]:
            assert "user=alice" in headers[-1].replace("uberctx-", "").replace(": ", "=")
    finally:
        srv.close()
        down.close()


def test_chain_of_services_is_one_trace(collector):
    """C client -> A (thread per connection) -> B (fork per connection)
    -> python http.server, all under the shim."""
    pysrv = subprocess.Popen(
        ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        env=shim_env(collector, OTEL_SERVICE_NAME="py"), stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd="/")
    line = pysrv.stdout.readline().decode()
    pyport = int(line.split("port ")[1].split(" ")[0])
    b = Server(shim_env(collector, OTEL_SERVICE_NAME="b"), "-m", "fork", "-u", pyport)
    a = Server(shim_env(collector, OTEL_SERVICE_NAME="a"), "-u", b.port)
    try:
        r = run([program("http_client"), str(a.port), "/start"],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0 and b"status 200" in r.stdout
        spans = collector.wait_for(7)
        assert len({s["trace_id"] for s in spans}) == 1, spans
        root = one(spans, kind="CLIENT", parent_span_id="")
        assert root["resource"]["service.name"] == "cli"
        a_srv = one(by_service(spans, "a", "SERVER"), parent_span_id=root["span_id"])
        a_cli = one(by_service(spans, "a", "CLIENT"), parent_span_id=a_srv["span_id"])
        b_srv = one(by_service(spans, "b", "SERVER"), parent_span_id=a_cli["span_id"])
        b_cli = one(by_service(spans, "b", "CLIENT"), parent_span_id=b_srv["span_id"])
        py = one(by_service(spans, "py", "SERVER"), parent_span_id=b_cli["span_id"])
        assert py["attributes"]["url.path"] == "/down"
        assert py["attributes"]["http.response.status_code"] == 404
        assert py["status_code"] == 0  # 4xx is not a server error
        assert b_cli["attributes"]["http.response.status_code"] == 404
        assert len(spans) == 6
    finally:
        a.close()
        b.close()
        pysrv.kill()
        pysrv.wait()


@pytest.mark.parametrize("start", ["-T", "-K"])  # pthread_create, C11 thrd_create
def test_thread_created_while_handling_inherits_the_span(collector, start):
    down = CaptureServer()
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), start, "-u", down.port)
    try:
        raw_request(srv.port, req(srv.port, "traceparent: " + GOOD))
        spans = collector.wait_for(2)
        s = one(spans, kind="SERVER")
        c = one(spans, kind="CLIENT")
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
    finally:
        srv.close()
        down.close()


def test_exec_passes_the_context_to_a_cgi_child(collector):
    down = CaptureServer()
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-C", "--",
                 program("http_client"), down.port, "/cgi")
    try:
        out = raw_request(srv.port, req(srv.port, "traceparent: " + GOOD))
        assert b"status 200" in out
        spans = collector.wait_for(2)
        s = one(spans, kind="SERVER")
        c = one(spans, kind="CLIENT")
        assert c["resource"]["process.pid"] != s["resource"]["process.pid"]
        assert c["resource"]["process.executable.name"] == "http_client"
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
    finally:
        srv.close()
        down.close()


def test_5xx_is_an_error_and_keep_alive_spans(collector):
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-s", "500")
    try:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        f = s.makefile("rb")
        for i in range(3):
            s.sendall(("GET /k%d HTTP/1.1\r\nHost: x\r\n\r\n" % i).encode())
            assert f.readline().startswith(b"HTTP/1.1 500")
            while f.readline() != b"\r\n":
                pass
            f.read(len("hello from 00000\n") - 5 + len(str(srv.p.pid)))
        s.close()
        spans = collector.wait_for(3)
        assert sorted(x["attributes"]["url.path"] for x in spans) == ["/k0", "/k1", "/k2"]
        for x in spans:
            assert x["status_code"] == 2 and x["attributes"]["error.type"] == "500"
    finally:
        srv.close()


def test_non_http_server_traffic_is_ignored(collector):
    """An accepted connection speaking something else: no span, bytes
    intact both ways."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-e")
    try:
        payload = b"\x16\x03\x01\x00\x05hello\r\n\r\n"
        want = b"HTTP/1.1 200 X\r\nContent-Length: 14\r\n\r\n" + payload
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(payload)
        out = b""
        while len(out) < len(want):
            b = s.recv(4096)
            if not b:
                break
            out += b
        s.close()
        assert out == want
        time.sleep(0.5)
        assert collector.wait_for(1, timeout=1) == []
    finally:
        srv.close()


def test_fork_child_exiting_mid_response_keeps_its_span(collector):
    """The child answers with a response that ends at close and calls _exit
    without closing: the span is ended and flushed by _exit."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", "fork", "-r", "close", "-x")
    try:
        out = raw_request(srv.port, req(srv.port, "traceparent: " + GOOD))
        assert out.startswith(b"HTTP/1.1 200") and b"hello from" in out
        s = one(collector.wait_for(1), kind="SERVER")
        assert s["parent_span_id"] == SID
        assert s["attributes"]["http.response.status_code"] == 200
        assert s["resource"]["process.pid"] != srv.p.pid
    finally:
        srv.close()


@pytest.mark.parametrize("framing", ["len", "chunked"])
def test_server_span_ends_before_its_client_has_the_response(collector, framing):
    """A server thread that runs again only long after its response left (a
    preempted thread; here writes that return 200 ms late, from an
    interposer beneath the shim) still ends its span inside the client's:
    at the start of the response's last write, not when that write returned.
    Jaeger would otherwise show the child outliving its parent."""
    env = shim_env(collector, OTEL_SERVICE_NAME="srv", AT_TEST_LATE_RETURN_MS="200")
    env["LD_PRELOAD"] = LIB + " " + os.path.join(BUILD, "preloads", "late_return.so")
    srv = Server(env, "-m", "loop", "-r", framing)
    try:
        r = run(["curl", "-sS", "http://127.0.0.1:%d/late" % srv.port],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0, r.stderr
        spans = collector.wait_for(2)
        c = one(spans, kind="CLIENT")
        s = one(spans, kind="SERVER")
        assert s["parent_span_id"] == c["span_id"]
        assert c["start"] <= s["start"] <= s["end"] <= c["end"]
    finally:
        srv.close()


def proxy_through(cmd, collector, back, tmp_path, port, batches):
    """Starts a traced proxy (cmd, listening on port), sends it each batch of
    paths at once (a thread a request), and checks every proxied request
    against the spans: the CLIENT span of a path is the child of the SERVER
    span of that path, and the traceparent the backend got names it."""
    import threading
    log = open(tmp_path / "err", "w+")
    p = subprocess.Popen(cmd, env=shim_env(collector, OTEL_SERVICE_NAME="proxy"),
                         stdout=subprocess.DEVNULL, stderr=log)
    paths = [x for b in batches for x in b]
    answers = {}

    def get(path):
        answers[path] = raw_request(port, "GET %s HTTP/1.1\r\nHost: x\r\n"
                                          "Connection: close\r\n\r\n" % path)

    try:
        wait_listening(port, p, lambda: log.read())
        for batch in batches:
            threads = [threading.Thread(target=get, args=(x,)) for x in batch]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        spans = collector.wait_for(2 * len(paths))
    finally:
        p.terminate()
        p.wait(timeout=10)
        log.close()
    assert all(answers[x].startswith(b"HTTP/1.1 200") for x in paths), answers
    server = {s["attributes"]["url.path"]: s for s in spans if s["kind"] == "SERVER"}
    client = {urllib.parse.urlsplit(s["attributes"]["url.full"]).path: s
              for s in spans if s["kind"] == "CLIENT"}
    assert sorted(server) == sorted(client) == sorted(paths)
    wrong = [x for x in paths if client[x]["parent_span_id"] != server[x]["span_id"]]
    assert not wrong, "proxied on behalf of another request: %s" % wrong
    seen = {r["path"]: dict(r["headers"]).get("traceparent") for r in back.requests}
    for x in paths:
        assert seen[x] == "00-%s-%s-01" % (client[x]["trace_id"], client[x]["span_id"])


def test_event_loop_proxy_calls_belong_to_their_request(collector, http_server, tmp_path):
    """lighttpd, traced, proxies (mod_proxy) nine requests that arrive at
    once to a backend that answers each late: its single thread reads
    request after request while it connects to the backend for each and
    writes the proxied requests when those connects complete. Each proxied
    request is made on behalf of the request it was connected for, not of
    whichever request the loop read last: its CLIENT span is the child of
    that request's SERVER span, and the traceparent the backend receives
    names that CLIENT span. (Before: a third of them went to another
    request's trace.)"""
    http_server.pause = 0.4  # answers each request late
    port = free_port()
    conf = tmp_path / "lighttpd.conf"
    conf.write_text('server.document-root = "%s"\nserver.bind = "127.0.0.1"\n'
                    'server.port = %d\nserver.modules = ("mod_proxy")\n'
                    'proxy.server = ("" => (("host" => "127.0.0.1", "port" => %d)))\n'
                    % (tmp_path, port, http_server.port))
    proxy_through(["lighttpd", "-D", "-f", str(conf)], collector, http_server, tmp_path, port,
                  [["/r%d" % i for i in range(9)]])


@pytest.mark.skipif(not shutil.which("haproxy"), reason="haproxy is not installed")
def test_event_loop_proxy_reusing_its_backend_connections(collector, http_server, tmp_path):
    """HAProxy, traced, one thread, reusing idle backend connections
    (http-reuse always), proxies rounds of six requests that arrive at once:
    it connects for a request after reading others, and sends a request on a
    connection another request opened. Neither the thread's last request nor
    the one a connection was opened for is then the right parent; the request
    under way with the path the proxied request asks for is (a proxy keeps
    the path). Before: 7 to 11 of 30 CLIENT spans under another request."""
    http_server.pause = 0.3
    port = free_port()
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("global\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n"
                    "  timeout client 30s\n  timeout server 30s\n  http-reuse always\n"
                    "frontend fe\n  bind 127.0.0.1:%d\n  default_backend be\n"
                    "backend be\n  server s1 127.0.0.1:%d\n" % (port, http_server.port))
    proxy_through(["haproxy", "-f", str(conf), "-db"], collector, http_server, tmp_path, port,
                  [["/r%d/%d" % (r, i) for i in range(6)] for r in range(5)])
