"""A connection's bytes read with stdio: an inetd service that reads its
request with fgets(stdin) (micro_httpd), a server that reads fdopen(s, "r"),
a client that reads its response that way. libc reads the socket itself,
inside fgets, getline, fread, getc... (hooks/stdio_read.c): the bytes are
worked out from the stream's buffer, and each request still has its span,
its caller's context and its status; a call whose bytes cannot be known
(fscanf) stops the following, never a byte of the application's changes.
And a response a forked child leaves in its stream's buffer, for exit,
fflush(NULL) or fcloseall to write."""
import shutil
import subprocess
import time

import pytest

from conftest import free_port, run, shim_env, program
from httpnet import Server, by_service, one, wait_listening
from test_inetd import GOOD, SID, TID, get, inetd, read_response, serving


def post(path, body, *headers, close=False):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n%s%s\r\n" % (
        path, len(body), "".join(h + "\r\n" for h in headers),
        "Connection: close\r\n" if close else "")).encode() + body


def test_micro_httpd_is_one_trace_with_its_client(collector, tmp_path):
    """micro_httpd (Debian's micro-httpd), a real inetd web server that reads
    its request with fgets(stdin) and writes with printf and putc, started
    per connection by socat and asked by curl, all under the shim: a SERVER
    span per request, child of curl's CLIENT span, with the request's
    attributes and the status; a file larger than stdio's buffers comes
    whole."""
    assert shutil.which("micro-httpd") or shutil.which("/usr/sbin/micro-httpd"), \
        "micro-httpd: scripts/install-deps.sh installs it"
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hi from micro_httpd\n")
    big = bytes(range(256)) * 400  # 100 KiB
    (www / "big.bin").write_bytes(big)
    port = free_port()
    srv = subprocess.Popen(
        ["socat", "TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork" % port,
         "EXEC:/usr/sbin/micro-httpd %s,nofork" % www],
        env=shim_env(collector, OTEL_SERVICE_NAME="micro"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_listening(port, srv)
        url = "http://127.0.0.1:%d" % port
        cenv = shim_env(collector, OTEL_SERVICE_NAME="curl")
        assert run(["curl", "-s", url + "/index.html"], cenv).stdout == \
            b"hi from micro_httpd\n"
        assert run(["curl", "-s", url + "/big.bin"], cenv).stdout == big
        r = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url + "/nope"], cenv)
        assert r.stdout == b"404"
        collector.wait_for(6, pred=lambda s: s["resource"].get("service.name") in (
            "micro", "curl"))
        time.sleep(0.3)
        servers = by_service(collector.spans, "micro", "SERVER")
        clients = by_service(collector.spans, "curl", "CLIENT")
        assert len(servers) == 3 and len(clients) == 3, servers
        for path, status in (("/index.html", 200), ("/big.bin", 200), ("/nope", 404)):
            s = [x for x in servers if x["attributes"]["url.path"] == path][0]
            c = [x for x in clients if x["attributes"]["url.full"].startswith(url + path)][0]
            assert (s["trace_id"], s["parent_span_id"]) == (c["trace_id"], c["span_id"])
            a = s["attributes"]
            assert a["http.request.method"] == "GET"
            assert a["http.response.status_code"] == status
            assert a["server.port"] == port and a["client.address"] == "127.0.0.1"
            assert a["user_agent.original"].startswith("curl/")
    finally:
        srv.kill()
        srv.wait(10)


READS = ["fgets", "getline", "fread", "getc", "getc_unlocked", "gets"]


@pytest.mark.parametrize("how", READS)
def test_inetd_service_reading_stdin_with_stdio(collector, how):
    """The C test server as an inetd service reading each request from
    stdin with stdio (its head a line at a time with fgets, getline, fread
    of one byte, getc, the inline getc_unlocked or gets; its body with one
    fread): three requests on the connection, the second with a body
    larger than stdio's buffer (read straight into the caller's), each a
    SERVER span with its caller's context and status; the service echoes
    each head as it read it: the application's bytes are its own."""
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, port = inetd(env, [program("http_server"), "-m", "inetd", "-R", how, "-e",
                             "-s", "404"])
    body = b"b" * 20000
    reqs = [get("/one?a=b", "traceparent: " + GOOD, close=False),
            post("/two", body),
            get("/three", "traceparent: 00-%s-%s-01" % ("1" * 32, "2" * 16))]
    with serving(s, p):
        for r in reqs:
            s.sendall(r)
            head, echoed = read_response(s)
            assert head.startswith(b"HTTP/1.1 404 X\r\n")
            assert echoed == r.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
        assert s.recv(10) == b""
    collector.wait_for(3)
    time.sleep(0.2)
    servers = [x for x in collector.spans if x["kind"] == "SERVER"]
    assert sorted(x["attributes"]["url.path"] for x in servers) == ["/one", "/three", "/two"]
    first = one(servers, trace_id=TID)
    assert first["parent_span_id"] == SID and first["attributes"]["url.query"] == "a=b"
    third = one(servers, trace_id="1" * 32)
    assert third["parent_span_id"] == "2" * 16
    two = [x for x in servers if x["attributes"]["url.path"] == "/two"][0]
    assert two["attributes"]["http.request.method"] == "POST"
    assert two["trace_id"] not in (TID, "1" * 32)
    for x in servers:
        assert x["attributes"]["http.response.status_code"] == 404
        assert x["attributes"]["server.port"] == port


def asked(collector, server_args, client_args, n=3, status=200):
    """n requests of the traced C client on one connection to the traced C
    server: each (CLIENT span, its SERVER child), in order."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", "fork", *server_args)
    try:
        r = run([program("http_client"), "-n", str(n)] + client_args + [str(srv.port), "/c"],
                shim_env(collector, OTEL_SERVICE_NAME="cli"))
        assert r.returncode == 0 and r.stdout.count(b"status %d" % status) == n, r.stderr
        spans = collector.wait_for(2 * n)
        clients = sorted((x for x in spans if x["kind"] == "CLIENT"), key=lambda x: x["start"])
        servers = [x for x in spans if x["kind"] == "SERVER"]
        assert len(clients) == n and len(servers) == n
        return [(c, one(servers, parent_span_id=c["span_id"])) for c in clients]
    finally:
        srv.close()


@pytest.mark.parametrize("how", ["fgets", "getc"])
def test_server_reading_fdopen_of_its_socket(collector, how):
    """A forking server that reads each connection through
    fdopen(dup(s), "r") and answers with write(), asked by the traced C
    client on one keep-alive connection: every request has its span, child
    of the client's."""
    for c, sv in asked(collector, ["-R", how], ["-d", "x=1"]):
        assert sv["trace_id"] == c["trace_id"]
        assert sv["attributes"]["http.response.status_code"] == 200
        assert sv["attributes"]["http.request.method"] == "POST"


@pytest.mark.parametrize("framing", ["len", "chunked"])
def test_one_stream_for_reading_and_writing(collector, framing):
    """A server with one fdopen(s, "r+") stream for both ways, and no
    fflush: each response stays in the buffer until the fgets of the next
    request writes it, inside that call. Each request's span has the
    status, and is the client's child."""
    for c, sv in asked(collector, ["-R", "fgets", "-S", "-U", "-s", "404", "-r", framing], [],
                       status=404):
        assert sv["attributes"]["http.response.status_code"] == 404
        assert c["attributes"]["http.response.status_code"] == 404


def test_request_read_with_fscanf_is_not_followed(collector):
    """fscanf does not tell what it took: a connection read with it is no
    longer followed (no span for its requests, never one misread: the
    second request's head is longer than stdio's buffer, so fgets reads
    the rest of it after fscanf read its start), and the service's bytes
    are the same."""
    env = shim_env(collector, OTEL_SERVICE_NAME="svc")
    s, p, _ = inetd(env, [program("http_server"), "-m", "inetd", "-R", "scanf", "-e"])
    reqs = [get("/one", "traceparent: " + GOOD, close=False),
            get("/two", "x-pad: " + "p" * 9000)]
    with serving(s, p):
        for r in reqs:
            s.sendall(r)
            head, echoed = read_response(s)
            assert head.startswith(b"HTTP/1.1 200 X\r\n")
            assert echoed == r
    time.sleep(0.5)
    assert [x for x in collector.spans if x["kind"] == "SERVER"] == []


@pytest.mark.parametrize("framing", ["len", "chunked", "close"])
def test_client_reading_its_responses_with_stdio(collector, framing):
    """A client that writes its requests with write() and reads the
    responses through fdopen(s, "r") (fgets and fread, their _FORTIFY_SOURCE
    _chk forms too), then fclose's it: each request's CLIENT span ends with
    its response, not at the close, with its status, and is the server's
    parent."""
    n = 1 if framing == "close" else 3
    pairs = asked(collector, ["-s", "503", "-r", framing], ["-F"], n, 503)
    for i, (c, sv) in enumerate(pairs):
        assert c["attributes"]["http.response.status_code"] == 503
        assert c["status_code"] == 2 and c["attributes"]["error.type"] == "503"
        assert sv["attributes"]["http.response.status_code"] == 503
        # ended when its response was read: before the next request
        if i + 1 < n:
            assert c["end"] <= pairs[i + 1][0]["start"]


@pytest.mark.parametrize("how", ["exit", "flushall", "fcloseall"])
def test_fork_child_leaving_its_response_to_exit(collector, how):
    """A forking server's child that writes its responses with stdio on
    fdopen(dup(s), "w") and leaves the last one in the buffer, never
    fclose'd: libc writes it inside exit() (its flush of every stream), or
    inside fflush(NULL) or fcloseall() before _exit. Each request's span
    has its status."""
    for c, sv in asked(collector, ["-S", "-L", how, "-s", "202"], [], 2, 202):
        assert sv["attributes"]["http.response.status_code"] == 202
        assert c["attributes"]["http.response.status_code"] == 202


def test_exit_while_another_thread_holds_the_stream(collector):
    """At exit the shim writes a followed stream's buffer only if it can
    take its lock at once, as libc's own last flush takes none: a child
    that exits while another of its threads holds the stream's lock for
    good exits, and libc writes the response (unseen, so its span has no
    status); the other request's span has its status."""
    srv = Server(shim_env(collector, OTEL_SERVICE_NAME="srv"), "-m", "fork", "-S", "-L", "held")
    try:
        r = run([program("http_client"), "-n", "2", str(srv.port), "/c"], shim_env(collector),
                timeout=20)
        assert r.returncode == 0 and r.stdout.count(b"status 200") == 2, r.stderr
        servers = [x for x in collector.wait_for(4) if x["kind"] == "SERVER"]
        assert len(servers) == 2
        codes = sorted(x["attributes"].get("http.response.status_code", 0) for x in servers)
        assert codes == [0, 200]
    finally:
        srv.close()
