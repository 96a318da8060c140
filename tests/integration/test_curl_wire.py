"""libcurl's easy transfers of plain http:// URLs get our trace header
written into the request head by the socket hooks, not through
CURLOPT_HTTPHEADER (which libcurl formats byte by byte, ~6,500 instructions
a request). What decides the path, and what each must keep: one traceparent
per request carrying that request's span, the application's bytes unchanged
(bodies, keep-alive, 100-continue), and the header list wherever the head
may not be plain text on a socket we see (redirects, proxies, Fast Open).

Which path a request took shows in where the header is: on the wire it is
the last line of the head, after the application's own -H lines; through
the header list libcurl writes it before them (our node leads the list)."""
import os
import re

from conftest import run, shim_env

TP = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$")


def names(req):
    return [k.lower() for k, _ in req["headers"]]


def tp_of(req):
    tps = [v for k, v in req["headers"] if k.lower() == "traceparent"]
    assert len(tps) == 1, "expected exactly one traceparent, got %r" % tps
    m = TP.match(tps[0])
    assert m, tps[0]
    return m.group(1), m.group(2)


def on_wire(req):
    n = names(req)
    return n[-1] == "traceparent" and n.index("x-app") < n.index("traceparent")


def by_list(req):
    n = names(req)
    return n.index("traceparent") < n.index("x-app")


def body_file(tmp_path, size):
    # binary, with what looks like a head inside: nothing may be added there
    chunk = bytes(range(256)) + b"\r\n\r\ntraceparent: 00-x\r\nHost: y\r\n\r\n"
    data = (chunk * (size // len(chunk) + 1))[:size]
    p = tmp_path / "body.bin"
    p.write_bytes(data)
    return p, data


def curl(args, collector, **extra):
    return run(["curl", "-s", "-o", "/dev/null", "-H", "X-App: 1"] + args,
               shim_env(collector, **extra))


def test_keepalive_post_then_gets(collector, http_server, tmp_path):
    body, data = body_file(tmp_path, 200_000)
    u = http_server.url
    args = ["--data-binary", "@%s" % body, u + "/p", "--next", "-o", "/dev/null", "-H",
            "X-App: 1", u + "/g1", "--next", "-o", "/dev/null", "-H", "X-App: 1", u + "/g2"]
    r = curl(args, collector)
    assert r.returncode == 0, r.stderr
    reqs = http_server.requests
    assert [q["path"] for q in reqs] == ["/p", "/g1", "/g2"]
    assert reqs[0]["body"] == data
    # one connection for the three (keep-alive): the hooks followed each
    # response to find where the next request starts
    assert len({q["peer"] for q in reqs}) == 1
    assert all(on_wire(q) for q in reqs), [names(q) for q in reqs]
    ids = [tp_of(q)[1] for q in reqs]
    spans = collector.wait_for(3)
    assert sorted(s["span_id"] for s in spans) == sorted(ids)
    assert sorted(s["name"] for s in spans) == ["GET", "GET", "POST"]

    # the application's bytes are its own: the same head without the shim,
    # but for our one line
    http_server.requests.clear()
    env = shim_env()
    del env["LD_PRELOAD"]
    r = run(["curl", "-s", "-o", "/dev/null", "-H", "X-App: 1"] + args, env)
    assert r.returncode == 0
    bare = http_server.requests
    for q, b in zip(reqs, bare):
        assert [h for h in q["headers"] if h[0].lower() != "traceparent"] == b["headers"]
    assert bare[0]["body"] == data


def test_expect_100_continue(collector, http_server, tmp_path):
    # past 1 MiB curl asks Expect: 100-continue and waits for the interim
    # response before the body; the next request on the connection still
    # gets its own header
    body, data = body_file(tmp_path, 1_500_000)
    u = http_server.url
    r = curl(["--data-binary", "@%s" % body, u + "/big", "--next", "-o", "/dev/null", "-H",
              "X-App: 1", u + "/after"], collector)
    assert r.returncode == 0, r.stderr
    reqs = http_server.requests
    assert [q["path"] for q in reqs] == ["/big", "/after"]
    assert [v for k, v in reqs[0]["headers"] if k.lower() == "expect"] == ["100-continue"]
    assert reqs[0]["body"] == data
    assert all(on_wire(q) for q in reqs)
    assert tp_of(reqs[0])[1] != tp_of(reqs[1])[1]


def test_redirects_keep_the_header_list(collector, http_server):
    # -L: a later hop may be https, where the socket shows no head
    http_server.redirects["/r"] = "/t"
    r = curl(["-L", http_server.url + "/r"], collector)
    assert r.returncode == 0
    reqs = http_server.requests
    assert [q["path"] for q in reqs] == ["/r", "/t"]
    assert all(by_list(q) for q in reqs), [names(q) for q in reqs]
    assert tp_of(reqs[0]) == tp_of(reqs[1])  # one transfer, one span


def test_env_proxy_keeps_the_header_list(collector, http_server):
    # the proxy could be socks or https: the head is not plain on the socket
    r = curl(["http://example.invalid/x"], collector, http_proxy=http_server.url)
    assert r.returncode == 0, r.stderr
    (q,) = http_server.requests
    assert q["path"] == "http://example.invalid/x"
    assert by_list(q)
    tp_of(q)


def test_tcp_fast_open_keeps_the_header_list(collector, http_server):
    # Fast Open sends the head with sendto() on a socket never connect()ed
    r = curl(["--tcp-fastopen", http_server.url + "/f"], collector)
    assert r.returncode == 0, r.stderr
    (q,) = http_server.requests
    assert by_list(q)
    tp_of(q)


def test_https_url_keeps_the_header_list(collector, http_server):
    # nothing listens for TLS here: what matters is that an https transfer
    # never leaves the socket hooks armed for the next, plain one
    r = curl(["https://127.0.0.1:%d/s" % http_server.port, "--max-time", "5", "--next",
              "-o", "/dev/null", "-H", "X-App: 1", http_server.url + "/plain"], collector)
    reqs = [q for q in http_server.requests if q["path"] == "/plain"]
    assert len(reqs) == 1
    assert on_wire(reqs[0])
    tp_of(reqs[0])
