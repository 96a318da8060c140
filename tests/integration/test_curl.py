"""Issue 2: libcurl traced end to end, and the runtime's behaviour around it
(configuration, exit flush, fork, disabled shim, dead collector)."""
import os
import re
import subprocess
import time

import pytest

from conftest import LIB, free_port, run, shim_env, program

TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


def only_tp(server, i=0):
    tps = server.header(i, "traceparent")
    assert len(tps) == 1, "expected exactly one traceparent, got %r" % tps
    m = TP.match(tps[0])
    assert m, tps[0]
    return m.group(1), m.group(2), m.group(3)


def test_curl_cli_header_matches_exported_span(collector, http_server):
    r = run(["curl", "-s", http_server.url + "/x?y=1"], shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"hello\n"
    trace_id, span_id, flags = only_tp(http_server)
    assert flags == "01"
    spans = collector.wait_for(1)
    assert len(spans) == 1
    s = spans[0]
    assert (s["trace_id"], s["span_id"]) == (trace_id, span_id)
    assert s["kind"] == "CLIENT" and s["name"] == "GET"
    assert s["parent_span_id"] == ""
    a = s["attributes"]
    assert a["http.request.method"] == "GET"
    assert a["url.full"] == http_server.url + "/x?y=1"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == http_server.port
    assert a["http.response.status_code"] == 200
    assert a["network.protocol.version"] == "1.1" and "network.transport" not in a
    assert a["network.peer.address"] == "127.0.0.1"
    assert a["network.peer.port"] == http_server.port
    assert s["status_code"] == 0
    assert s["end"] > s["start"] > 0
    res = s["resource"]
    assert res["service.name"] == "curl"
    assert res["process.executable.name"] == "curl"
    assert res["telemetry.sdk.name"] == "autotrace"
    assert isinstance(res["process.pid"], int) and res["host.name"]


def test_libcurl_program_keeps_app_headers(collector, http_server):
    r = run([program("curl_client"), "get", http_server.url + "/a", "3"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split("\n")[:3] == ["0 200"] * 3
    assert len(http_server.requests) == 3
    ids = set()
    for i in range(3):
        assert http_server.header(i, "X-App") == ["1"]
        ids.add(only_tp(http_server, i)[1])
    assert len(ids) == 3  # one span per request on the kept-alive handle
    spans = collector.wait_for(3)
    assert {s["span_id"] for s in spans} == ids
    assert len({s["trace_id"] for s in spans}) == 3  # independent roots


def test_app_traceparent_is_kept(collector, http_server):
    r = run([program("curl_client"), "own-tp", http_server.url], shim_env(collector))
    assert r.returncode == 0
    assert http_server.header(0, "traceparent") == [
        "00-11111111111111111111111111111111-2222222222222222-01"]
    assert len(collector.wait_for(1)) == 1  # still traced


def test_duphandle_and_reset(collector, http_server):
    r = run([program("curl_client"), "dup", http_server.url], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert http_server.header(0, "X-App") == ["1"]
    assert http_server.header(1, "X-App") == []
    only_tp(http_server, 0)
    only_tp(http_server, 1)


def test_setopt_argument_types(collector, http_server):
    r = run([program("curl_client"), "options", http_server.url + "/p"], shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"0 200\n", r.stderr
    req = http_server.requests[0]
    assert req["method"] == "POST" and req["body"] == b"a=1&b=2"
    assert http_server.header(0, "User-Agent") == ["options-test/1"]
    s = collector.wait_for(1)[0]
    assert s["name"] == "POST" and s["attributes"]["http.request.method"] == "POST"


def _sizes(out):
    return [int(line.split()[2]) for line in out.decode().splitlines()]


def test_plain_http_requests_get_headers_below_libcurl(collector, http_server):
    """A plain http:// transfer hands its header lines to the socket hooks
    (hooks/wire.h): on one kept-alive connection, requests with bodies of
    every framing (a body that reads like a request, 3 MiB with Expect:
    100-continue, chunked) and a GET each get exactly one traceparent, after
    the application's own headers, and nothing else changes: the same
    headers in the same order and the same bodies as without the shim. libcurl
    itself never formatted our line: its count of the header bytes it sent
    is the same as without the shim."""
    cmd = [program("curl_client"), "bodies", http_server.url + "/b"]
    plain = run(cmd, shim_env(collector, LD_PRELOAD=""), timeout=60)
    assert plain.returncode == 0, plain.stderr
    r = run(cmd, shim_env(collector), timeout=60)
    assert r.returncode == 0, r.stderr
    assert [l.split()[:2] for l in r.stdout.decode().splitlines()] == [["0", "200"]] * 5
    assert _sizes(r.stdout) == _sizes(plain.stdout)
    reqs = http_server.requests
    assert len(reqs) == 10
    big = bytes(ord("a") + i % 26 for i in range(3 << 20))
    bodies = [b"a=1", b"GET /inner HTTP/1.1\r\nHost: x\r\n\r\n", big,
              b"chunk-one;chunk-two", b""]
    spans = {s["span_id"]: s for s in collector.wait_for(5)}
    for i in range(5):
        mine, theirs = reqs[5 + i], reqs[i]
        assert mine["body"] == theirs["body"] == bodies[i]
        assert (mine["method"], mine["path"]) == (theirs["method"], theirs["path"])
        assert mine["headers"][:-1] == theirs["headers"]
        assert mine["headers"][-1][0].lower() == "traceparent"
        _, span_id, _ = only_tp(http_server, 5 + i)
        assert spans[span_id]["name"] == theirs["method"]
    assert [reqs[i]["method"] for i in range(5)] == ["POST"] * 4 + ["GET"]


def test_redirects_get_headers_through_libcurl(collector, http_server):
    """FOLLOWLOCATION on (a redirect may lead to https, where the socket
    hooks see nothing): the header goes through CURLOPT_HTTPHEADER, so libcurl
    counts it in every request it sends, and both hops carry the one span.
    Then, off: the next request on the same kept-alive connection gets its
    header from the socket hooks (the connection was followed all along)."""
    cmd = [program("curl_client"), "redirect", http_server.url + "/redir"]
    plain = run(cmd, shim_env(collector, LD_PRELOAD=""))
    r = run(cmd, shim_env(collector, AUTOTRACE_LOG_LEVEL="info"))
    assert r.returncode == 0, r.stderr
    assert [l.split()[:2] for l in r.stdout.decode().splitlines()] == [["0", "200"], ["0", "302"]]
    reqs = http_server.requests
    assert [q["path"] for q in reqs] == ["/redir", "/done", "/redir"] * 2
    assert http_server.header(0, "traceparent") == []
    assert only_tp(http_server, 3) == only_tp(http_server, 4)
    line = len("traceparent: ") + len(http_server.header(3, "traceparent")[0]) + 2
    assert _sizes(r.stdout)[0] - _sizes(plain.stdout)[0] == 2 * line
    assert _sizes(r.stdout)[1] == _sizes(plain.stdout)[1]
    _, third, _ = only_tp(http_server, 5)
    assert b"CURLOPT_HTTPHEADER" not in r.stderr
    spans = collector.wait_for(2)
    assert {s["span_id"] for s in spans} == {only_tp(http_server, 3)[1], third}


def test_which_way_the_header_goes_shows_in_curl_verbose(collector, http_server):
    """curl -v prints the request as libcurl built it: a plain GET's
    traceparent is added below libcurl (not printed, but received); a custom
    method the socket hooks would not take for HTTP ("purge") sends it
    through CURLOPT_HTTPHEADER (printed and received)."""
    r = run(["curl", "-s", "-v", http_server.url + "/g"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert b"> traceparent" not in r.stderr.lower() and b"> GET /g HTTP/1.1" in r.stderr
    tp = "00-%s-%s-%s" % only_tp(http_server, 0)
    r = run(["curl", "-s", "-v", "-X", "purge", http_server.url + "/p"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert http_server.requests[1]["method"] == "purge"
    tp2 = "00-%s-%s-%s" % only_tp(http_server, 1)
    assert ("> traceparent: " + tp2).encode() in r.stderr
    assert tp.encode() not in r.stderr
    assert len(collector.wait_for(2)) == 2


def test_unseen_connection_falls_back_to_libcurl(collector, http_server):
    """A connection made under the application's multi handle (not followed
    by the socket hooks) and shared through a CURLSH is reused by
    curl_easy_perform on another handle: that request goes out without trace
    headers (the cost of the fallback, said in the log), and the handle's
    next one gets them through CURLOPT_HTTPHEADER."""
    r = run([program("curl_client"), "shared", http_server.url],
            shim_env(collector, AUTOTRACE_LOG_LEVEL="info"))
    assert r.returncode == 0, r.stderr
    assert [l.split()[:2] for l in r.stdout.decode().splitlines()] == [["0", "200"]] * 3
    assert r.stderr.count(b"through CURLOPT_HTTPHEADER") == 1
    assert len(http_server.requests) == 3
    only_tp(http_server, 0)  # the multi transfer's, through its own list
    assert http_server.header(1, "traceparent") == []
    _, third, _ = only_tp(http_server, 2)
    spans = collector.wait_for(3)
    assert third in {s["span_id"] for s in spans} and len(spans) == 3


def test_disabled_is_pure_passthrough(collector, http_server):
    for off in ("0", "false", "off"):
        r = run(["curl", "-s", "-i", http_server.url], shim_env(collector, AUTOTRACE_ENABLED=off))
        assert r.returncode == 0 and b"hello" in r.stdout
    plain = run(["curl", "-s", "-i", http_server.url], shim_env(collector, LD_PRELOAD=""))
    for i in range(4):
        assert http_server.header(i, "traceparent") == []
        assert http_server.requests[i]["headers"] == http_server.requests[3]["headers"]
    assert plain.stdout.split(b"\r\n")[0] == b"HTTP/1.1 200 OK"
    time.sleep(0.5)
    assert collector.spans == [] and collector.requests == []


def test_otel_sdk_disabled(collector, http_server):
    r = run(["curl", "-s", http_server.url], shim_env(collector, OTEL_SDK_DISABLED="true"))
    assert r.returncode == 0
    assert http_server.header(0, "traceparent") == []


def test_program_without_libcurl_unaffected(collector):
    env = shim_env(collector)
    for cmd in (["/bin/echo", "hi"], ["/usr/bin/python3", "-c", "print(6*7)"],
                ["/bin/sh", "-c", "exit 3"], ["/bin/ls", "/nonexistent"]):
        bare = subprocess.run(cmd, capture_output=True)
        shim = run(cmd, env)
        assert (shim.returncode, shim.stdout, shim.stderr) == (bare.returncode, bare.stdout,
                                                                bare.stderr)
    time.sleep(0.3)
    assert collector.requests == []


def test_dead_collector_bounds_exit(http_server):
    # nothing listens on that port: the exit flush gives up after the bound
    env = shim_env(None, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
                   AUTOTRACE_EXIT_TIMEOUT="300", OTEL_BSP_SCHEDULE_DELAY="60000")
    t = time.monotonic()
    r = run(["curl", "-s", http_server.url], env)
    elapsed = time.monotonic() - t
    assert r.returncode == 0 and r.stdout == b"hello\n"
    only_tp(http_server)
    # the OTLP timeout (10 s) would apply without the exit bound
    assert elapsed < 3.0, elapsed


def test_dead_collector_is_asked_once_at_exit(http_server):
    # The only export is the exit flush, which the program waits for: a
    # refused connection is not tried again after a pause (it was, 100 and
    # 200 ms later: 300 ms added to every exit with no collector running).
    port = free_port()  # nothing listens there: connecting is refused
    env = shim_env(None, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port,
                   OTEL_BSP_SCHEDULE_DELAY="60000", AUTOTRACE_LOG_LEVEL="debug")
    r = run(["curl", "-s", http_server.url], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    only_tp(http_server)
    err = r.stderr.decode()
    # asked once in the exit flush, and once more before only if the
    # exporter had connected ahead (2 ms after it started) by then
    ahead = err.count("not connected ahead: connect: Connection refused")
    assert ahead <= 1, err
    assert err.count("cannot connect to 127.0.0.1:%d (connect: Connection refused)" % port) == \
        1 + ahead, err
    # the failure is a warning that says what failed, once
    assert err.count("otlp: export of 1 spans to http://127.0.0.1:%d/v1/traces failed: "
                     "connect: Connection refused" % port) == 1, err
    # and no pause before giving up (the first would be 100 ms)
    m = re.search(r"last flush (\d+) us", err)
    assert m and int(m.group(1)) < 80000, err
    warn = run(["curl", "-s", http_server.url], dict(env, AUTOTRACE_LOG_LEVEL="warn"))
    assert "failed: connect: Connection refused" in warn.stderr.decode()
    quiet = run(["curl", "-s", http_server.url], dict(env, AUTOTRACE_LOG_LEVEL="error"))
    assert quiet.stderr == b""


def test_dead_collector_retried_until_the_program_waits(http_server):
    # In the background the exporter tries again after 100, 200, 400, 800,
    # 1600 ms: the program does not wait for it. When the program exits
    # during a pause, the flush it waits for ends that pause and the
    # exporter gives up at once, instead of the program waiting it out.
    port = free_port()  # nothing listens there: connecting is refused
    env = shim_env(None, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port,
                   OTEL_BSP_SCHEDULE_DELAY="20", AUTOTRACE_EXIT_TIMEOUT="10000",
                   AUTOTRACE_LOG_LEVEL="debug")
    # tries at ~20, 120, 320, 720, 1520 ms; the exit at ~2300 ms is in the
    # pause before the one at 3120
    r = run([program("curl_client"), "linger", http_server.url, "2300"], env)
    assert r.returncode == 0 and r.stdout == b"0 200\n", r.stderr
    err = r.stderr.decode()
    tries = err.count("cannot connect to 127.0.0.1:%d" % port)
    assert 3 <= tries <= 6, err
    assert err.count("failed: connect: Connection refused") == 1, err  # once per run of failures
    m = re.search(r"last flush (\d+) us", err)
    assert m, err
    # waiting out that pause would take ~800 ms
    assert int(m.group(1)) < 400000, err


def test_blackhole_collector_bounds_exit(http_server):
    # a collector that accepts but never answers
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        env = shim_env(None, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % s.getsockname()[1],
                       AUTOTRACE_EXIT_TIMEOUT="300", OTEL_BSP_SCHEDULE_DELAY="60000")
        t = time.monotonic()
        r = run(["curl", "-s", http_server.url], env)
        assert r.returncode == 0 and r.stdout == b"hello\n"
        assert time.monotonic() - t < 3.0
    finally:
        s.close()


def test_traceparent_env_is_the_parent(collector, http_server):
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    r = run(["curl", "-s", http_server.url], shim_env(collector, TRACEPARENT=parent,
                                                         TRACESTATE="congo=t61rcWkgMzE"))
    assert r.returncode == 0
    trace_id, span_id, _ = only_tp(http_server)
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert http_server.header(0, "tracestate") == ["congo=t61rcWkgMzE"]
    s = collector.wait_for(1)[0]
    assert s["parent_span_id"] == "00f067aa0ba902b7"
    assert s["trace_id"] == trace_id and s["span_id"] == span_id
    assert s["trace_state"] == "congo=t61rcWkgMzE"


def test_invalid_traceparent_env_starts_new_trace(collector, http_server):
    r = run(["curl", "-s", http_server.url],
            shim_env(collector, TRACEPARENT="00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"))
    assert r.returncode == 0
    assert b"autotrace" in r.stderr and b"TRACEPARENT" in r.stderr
    trace_id, _, _ = only_tp(http_server)
    assert trace_id != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert collector.wait_for(1)[0]["parent_span_id"] == ""


def test_sampler_off_still_propagates(collector, http_server):
    r = run(["curl", "-s", http_server.url], shim_env(collector, OTEL_TRACES_SAMPLER="always_off"))
    assert r.returncode == 0
    assert only_tp(http_server)[2] == "00"
    time.sleep(0.5)
    assert collector.spans == []


def test_parent_based_follows_unsampled_parent(collector, http_server):
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    r = run(["curl", "-s", http_server.url], shim_env(collector, TRACEPARENT=parent))
    assert r.returncode == 0
    trace_id, _, flags = only_tp(http_server)
    assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and flags == "00"
    time.sleep(0.5)
    assert collector.spans == []


def test_http_json_protocol(collector, http_server):
    r = run(["curl", "-s", http_server.url],
            shim_env(collector, OTEL_EXPORTER_OTLP_PROTOCOL="http/json"))
    assert r.returncode == 0
    spans = collector.wait_for(1)
    assert collector.requests[0]["headers"]["Content-Type"] == "application/json"
    assert spans[0]["span_id"] == only_tp(http_server)[1]


def test_traces_endpoint_and_headers(collector, http_server):
    env = shim_env(None, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint + "/v1/traces",
                   OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s3cret,x-tenant=a%20b",
                   OTEL_SERVICE_NAME="svc", OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test")
    assert run(["curl", "-s", http_server.url], env).returncode == 0
    s = collector.wait_for(1)[0]
    h = collector.requests[0]["headers"]
    assert h["x-api-key"] == "s3cret" and h["x-tenant"] == "a b"
    assert s["resource"]["service.name"] == "svc"
    assert s["resource"]["deployment.environment"] == "test"


def test_collector_retry_on_503(collector, http_server):
    collector.status_plan = [503, 503]
    r = run(["curl", "-s", http_server.url], shim_env(collector, AUTOTRACE_EXIT_TIMEOUT="3000"))
    assert r.returncode == 0
    assert len(collector.wait_for(1)) == 1
    assert [q["status"] for q in collector.requests] == [503, 503, 200]


def test_exit_flush_waits_for_a_batch_being_exported(collector, http_server):
    # The exporter takes its batch off the queue before it posts it. A batch
    # whose POST got a 503 and waits to be retried when the app exits is not
    # in the queue any more: the exit flush must wait for it all the same.
    collector.status_plan = [503]
    env = shim_env(collector, OTEL_BSP_MAX_EXPORT_BATCH_SIZE="1", AUTOTRACE_EXIT_TIMEOUT="3000")
    r = run([program("curl_client"), "linger", http_server.url, "40"], env)
    assert r.returncode == 0, r.stderr
    assert len(collector.wait_for(1)) == 1
    assert [q["status"] for q in collector.requests] == [503, 200]


def test_errors_set_status(collector, http_server):
    http_server.status = 503
    env = shim_env(collector)
    assert run(["curl", "-s", http_server.url + "/fail"], env).returncode == 0
    # a port nothing listens on: curl fails to connect (exit 7)
    assert run(["curl", "-s", "http://127.0.0.1:9/"], env).returncode == 7
    spans = collector.wait_for(2)
    by_port = {s["attributes"]["server.port"]: s for s in spans}
    s503 = by_port[http_server.port]
    assert s503["status_code"] == 2
    assert s503["attributes"]["error.type"] == "503"
    assert s503["attributes"]["http.response.status_code"] == 503
    refused = by_port[9]
    assert refused["status_code"] == 2
    assert refused["attributes"]["error.type"] == "CURLE_COULDNT_CONNECT"
    assert refused["status_message"]
    assert "http.response.status_code" not in refused["attributes"]
    assert s503["attributes"]["network.peer.port"] == http_server.port


def test_peer_is_the_address_connected_to(collector, http_server):
    """network.peer.*: the address libcurl connected to, where server.* is the
    URL's host (a name resolved here by --resolve), and a proxy's."""
    env = shim_env(collector)
    url = "http://shop.test:%d/p" % http_server.port
    r = run(["curl", "-s", "--resolve", "shop.test:%d:127.0.0.1" % http_server.port, url], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    r = run(["curl", "-s", "-x", "http://127.0.0.1:%d" % http_server.port,
             "http://stock.test/q"], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    spans = collector.wait_for(2)
    by_host = {s["attributes"]["server.address"]: s["attributes"] for s in spans}
    named, proxied = by_host["shop.test"], by_host["stock.test"]
    assert named["server.port"] == http_server.port
    assert (named["network.peer.address"], named["network.peer.port"]) == (
        "127.0.0.1", http_server.port)
    assert proxied["server.port"] == 80
    assert (proxied["network.peer.address"], proxied["network.peer.port"]) == (
        "127.0.0.1", http_server.port)


def test_client_4xx_is_error(collector, http_server):
    http_server.status = 404
    assert run(["curl", "-s", http_server.url], shim_env(collector)).returncode == 0
    s = collector.wait_for(1)[0]
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "404"


def test_userinfo_redacted(collector, http_server):
    url = "http://alice:hunter2@127.0.0.1:%d/private" % http_server.port
    assert run(["curl", "-s", url], shim_env(collector)).returncode == 0
    s = collector.wait_for(1)[0]
    assert "hunter2" not in s["attributes"]["url.full"]
    assert "REDACTED" in s["attributes"]["url.full"] or "alice" not in s["attributes"]["url.full"]


def test_fork_child_with__exit_loses_nothing(collector, http_server):
    r = run([program("curl_client"), "fork", http_server.url], shim_env(collector))
    assert r.returncode == 0, r.stderr
    spans = collector.wait_for(2)
    assert len(spans) == 2
    pids = {s["resource"]["process.pid"] for s in spans}
    assert len(pids) == 2  # the child reports its own pid
    assert len({s["span_id"] for s in spans}) == 2  # and its own ids
    assert {s["span_id"] for s in spans} == {only_tp(http_server, i)[1] for i in range(2)}


def test_vfork_child_exit(collector, http_server):
    r = run([program("curl_client"), "vfork", http_server.url], shim_env(collector), timeout=20)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["0 200", "child 7", "0 200"]
    spans = collector.wait_for(2)
    assert len(spans) == 2 and len({s["resource"]["process.pid"] for s in spans}) == 1


def test_threads(collector, http_server):
    r = run([program("curl_client"), "threads", http_server.url, "16"], shim_env(collector))
    assert r.returncode == 0
    spans = collector.wait_for(16)
    assert len(spans) == 16
    assert len({s["span_id"] for s in spans}) == 16
    assert len({s["trace_id"] for s in spans}) == 16


def test_app_closing_every_fd(collector, http_server, tmp_path):
    """A daemon closes every fd, then opens a file that gets the number of the
    exporter's socket: the exporter must reconnect, never write into it."""
    f = tmp_path / "data"
    r = run([program("curl_client"), "closeall", http_server.url, str(f)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert f.read_bytes() == b""
    assert len(collector.wait_for(2)) == 2


def test_bad_configuration_warns_and_runs(collector, http_server):
    env = shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="soon", OTEL_TRACES_SAMPLER="sometimes",
                   OTEL_EXPORTER_OTLP_HEADERS="garbage")
    r = run(["curl", "-s", http_server.url], env)
    assert r.returncode == 0 and r.stdout == b"hello\n"
    err = r.stderr.decode()
    for name in ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_TRACES_SAMPLER", "OTEL_EXPORTER_OTLP_HEADERS"):
        lines = [l for l in err.splitlines() if name in l]
        assert len(lines) == 1 and lines[0].startswith("autotrace["), err
    assert len(collector.wait_for(1)) == 1


def test_exit_stats_with_log_level(collector, http_server):
    r = run(["curl", "-s", http_server.url], shim_env(collector, AUTOTRACE_LOG_LEVEL="info"))
    assert r.returncode == 0
    assert re.search(rb"spans queued 1, exported 1, dropped 0", r.stderr), r.stderr
    # the exporter thread's CPU time: it ran (connected, encoded, posted), briefly
    m = re.search(rb"exporter thread CPU (\d+) us \(render (\d+), encode (\d+), send (\d+)\)",
                  r.stderr)
    assert m, r.stderr
    total, render, encode, send = (int(x) for x in m.groups())
    assert 0 < total < 2_000_000, r.stderr
    # the split is of that time (each part rounded down to a microsecond);
    # posting to the collector (connect, send, wait for its answer) is never
    # free, while one span's rendering and encoding may round to 0
    assert render + encode + send <= total, r.stderr
    assert send > 0, r.stderr


FORK_STATS = r"""
import os, sys, time, urllib.request
url = sys.argv[1]
for i in range(60):
    urllib.request.urlopen(url + "/parent").read()
time.sleep(0.5)  # the parent's exporter has shipped them (schedule delay 50 ms)
pid = os.fork()
if pid == 0:
    urllib.request.urlopen(url + "/child").read()
    sys.exit(0)  # a normal exit: the child's stats
os.waitpid(pid, 0)
"""


def test_exit_stats_of_a_fork_child_are_its_own(collector, http_server, tmp_path):
    """The CPU split counts the child's exporter thread only, not what the
    parent's had done before the fork."""
    script = tmp_path / "fork_stats.py"
    script.write_text(FORK_STATS)
    r = run(["/usr/bin/python3", str(script), http_server.url],
            shim_env(collector, AUTOTRACE_LOG_LEVEL="info", OTEL_BSP_SCHEDULE_DELAY="50"))
    assert r.returncode == 0, r.stderr
    stats = re.findall(rb"autotrace\[(\d+)\]: spans queued (\d+), exported (\d+).*exporter "
                       rb"thread CPU (\d+) us \(render (\d+), encode (\d+), send (\d+)\)",
                       r.stderr)
    assert len(stats) == 2, r.stderr
    for pid, queued, exported, total, render, encode, send in stats:
        total, parts = int(total), int(render) + int(encode) + int(send)
        assert parts <= total, r.stderr
    assert sorted(int(s[2]) for s in stats) == [1, 60], r.stderr


def _build_so(tmp_path, name, src, libs=""):
    c = tmp_path / (name + ".c")
    c.write_text(src)
    so = tmp_path / ("lib%s.so" % name)
    subprocess.run("gcc -shared -fPIC -o %s %s %s" % (so, c, libs), shell=True, check=True)
    return so


PLUGIN = r"""
#include <curl/curl.h>
static size_t sink(char *p, size_t s, size_t n, void *u) { return s * n; }
int plugin_get(const char *url) {
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    int rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    return rc;
}
"""


def test_libcurl_loaded_late_with_rtld_local(collector, http_server, tmp_path):
    """Like a Perl/Python/PHP extension: the plugin, and libcurl with it, are
    dlopen'ed RTLD_LOCAL long after start."""
    so = _build_so(tmp_path, "plugin", PLUGIN, "-lcurl")
    main = tmp_path / "host.c"
    main.write_text(r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { puts(dlerror()); return 1; }
    int (*get)(const char *) = (int (*)(const char *))dlsym(h, "plugin_get");
    printf("%d\n", get(argv[2]));
    return 0;
}""")
    exe = tmp_path / "host"
    subprocess.run(["gcc", "-o", str(exe), str(main), "-ldl"], check=True)
    r = run([str(exe), str(so), http_server.url], shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"0\n", r
    only_tp(http_server)
    assert len(collector.wait_for(1)) == 1


def test_hook_called_before_our_constructor(collector, http_server, tmp_path):
    """A library the program links runs its constructor before ours (it is
    initialised first): its curl request must be traced, not crash."""
    so = _build_so(tmp_path, "early", PLUGIN + r"""
#include <stdlib.h>
#include <stdio.h>
__attribute__((constructor)) static void early(void) {
    fprintf(stderr, "early constructor: %d\n", plugin_get(getenv("EARLY_URL")));
}
""", "-lcurl")
    main = tmp_path / "main.c"
    main.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-o", str(exe), str(main), "-Wl,--no-as-needed", "-L%s" % tmp_path,
                    "-learly", "-Wl,-rpath,%s" % tmp_path], check=True)
    r = run([str(exe)], shim_env(collector, EARLY_URL=http_server.url))
    assert r.returncode == 0 and b"early constructor: 0" in r.stderr, r
    only_tp(http_server)
    assert len(collector.wait_for(1)) == 1


def test_curl_multi_parallel_transfers(collector, http_server):
    import socket
    hole = socket.socket()  # accepts, never answers: the transfer the app abandons
    hole.bind(("127.0.0.1", 0))
    hole.listen(4)
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    try:
        r = run([program("curl_multi"), http_server.url + "/m", "3",
                 "http://127.0.0.1:%d/hole" % hole.getsockname()[1]],
                shim_env(collector, TRACEPARENT=parent))
    finally:
        hole.close()
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert "removed early" in out
    assert sorted(l for l in out if l != "removed early") == ["0 0 200", "1 0 200", "2 0 200"]
    assert len(http_server.requests) == 3
    sent = {}
    for i in range(3):
        trace_id, span_id, _ = only_tp(http_server, i)
        assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
        sent[span_id] = http_server.header(i, "X-App")
    assert sorted(sent.values()) == [[], [], ["multi"]]  # the app's header kept where set
    spans = collector.wait_for(4)
    assert len(spans) == 4
    done = [s for s in spans if s["span_id"] in sent]
    assert len(done) == 3
    for s in done:
        assert s["parent_span_id"] == "00f067aa0ba902b7"
        assert s["attributes"]["http.response.status_code"] == 200 and s["status_code"] == 0
        assert s["attributes"]["url.full"] == http_server.url + "/m"
        assert s["attributes"]["network.peer.port"] == http_server.port
    (cancelled,) = [s for s in spans if s["span_id"] not in sent]
    assert cancelled["status_code"] == 2 and cancelled["attributes"]["error.type"] == "cancelled"
