"""CGI programs (RFC 3875) run by a real web server, lighttpd, with the shim
in their environment: each request's process gets a SERVER span that
continues the caller's trace from the request's headers (HTTP_TRACEPARENT,
...), is the parent of what the program calls, and carries the status the
program's response head gives; the response the client gets is the
program's own. Also a traced web server (Python's CGI server) passing its
own span on through exec."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

from conftest import free_port, fuzz_short, program, shim_env
from httpnet import CaptureServer, one, raw_request, wait_listening

TID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
GOOD = "00-%s-%s-01" % (TID, PARENT)

PY_CGI = """#!%s
import os, sys, urllib.request
r = urllib.request.urlopen("http://127.0.0.1:%%s/down" %% os.environ["DOWN_PORT"])
r.read()
sys.stdout.write("Status: 404 Not Found\\r\\nContent-Type: text/plain\\r\\n\\r\\nnot here %%d\\n" %% r.status)
""" % sys.executable

SH_CGI = """#!/bin/sh
printf 'Status: 302 Found\\r\\nLocation: http://elsewhere.example/\\r\\n\\r\\n'
"""


class Lighttpd:
    """lighttpd on loopback serving tmp/cgi-bin/*.cgi as CGI programs, with
    env (the shim's variables) added to each program's environment."""

    def __init__(self, tmp, env):
        self.dir = tmp
        self.cgi = os.path.join(tmp, "cgi-bin")
        os.makedirs(self.cgi, exist_ok=True)
        self.port = free_port()
        add = ", ".join('"%s" => "%s"' % (k, v) for k, v in sorted(env.items()))
        conf = os.path.join(tmp, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write('server.document-root = "%s"\n' % tmp
                    + 'server.bind = "127.0.0.1"\nserver.port = %d\n' % self.port
                    + 'server.modules = ("mod_cgi", "mod_setenv")\n'
                    + 'cgi.assign = (".cgi" => "")\n'
                    + "setenv.add-environment = (%s)\n" % add)
        self.log = open(os.path.join(tmp, "lighttpd.err"), "w+")
        # the web server itself is not traced: only its CGI programs are
        clean = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        self.p = subprocess.Popen(["lighttpd", "-D", "-f", conf], env=clean,
                                  stdout=subprocess.DEVNULL, stderr=self.log)
        wait_listening(self.port, self.p, self.stderr)

    def script(self, name, text):
        path = os.path.join(self.cgi, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)

    def binary(self, name, src):
        path = os.path.join(self.cgi, name)
        shutil.copy(src, path)
        os.chmod(path, 0o755)

    def get(self, path, headers=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path),
                                     headers=headers or {})
        # no proxy from the environment: loopback only
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            r = opener.open(req, timeout=20)
            return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def close(self):
        self.p.terminate()
        self.p.wait(timeout=10)
        self.log.close()


def cgi_env(collector, **extra):
    env = shim_env(collector, **extra)
    keep = {"LD_PRELOAD", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_BSP_SCHEDULE_DELAY",
            "AUTOTRACE_EXPORTER_MODE", "PATH"} | set(extra)
    return {k: v for k, v in env.items() if k in keep}


@pytest.fixture
def web(collector, tmp_path):
    servers = []

    def start(**extra):
        s = Lighttpd(str(tmp_path), cgi_env(collector, **extra))
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.close()


def test_a_python_cgi_continues_the_callers_trace_and_is_its_calls_parent(collector, web):
    down = CaptureServer()
    srv = web(DOWN_PORT=down.port)
    srv.script("py.cgi", PY_CGI)
    try:
        status, body = srv.get("/cgi-bin/py.cgi/extra/path?x=1&y=2",
                               {"traceparent": GOOD, "tracestate": "vendor=abc",
                                "baggage": "tenant=blue", "User-Agent": "cgi-test/1"})
        assert (status, body) == (404, b"not here 200\n")  # the program's own response
        spans = collector.wait_for(2)
        s = one(spans, kind="SERVER")
        c = one(spans, kind="CLIENT")
        assert s["trace_id"] == TID and s["parent_span_id"] == PARENT
        assert s["name"] == "GET /cgi-bin/py.cgi"
        a = s["attributes"]
        assert a["http.request.method"] == "GET"
        assert a["http.route"] == "/cgi-bin/py.cgi"
        assert a["url.path"] == "/cgi-bin/py.cgi/extra/path"
        assert a["url.query"] == "x=1&y=2"
        assert a["url.scheme"] == "http"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == srv.port
        assert a["client.address"] == "127.0.0.1" and a["client.port"] > 0
        assert a["user_agent.original"] == "cgi-test/1"
        assert a["network.protocol.version"] == "1.1"
        assert a["http.response.status_code"] == 404
        assert s["status_code"] == 0  # a 4xx is the client's error, not the server's
        assert s["resource"]["process.executable.name"].startswith("python3")
        # the program's call is the request span's child, and passes it on
        assert c["trace_id"] == TID and c["parent_span_id"] == s["span_id"]
        assert s["start"] <= c["start"] and c["end"] <= s["end"]
        sent = down.wait(1)[0].decode()
        assert "traceparent: 00-%s-%s-01" % (TID, c["span_id"]) in sent
        assert "tracestate: vendor=abc" in sent
        assert "tenant=blue" in sent and "autotrace.hops=1" in sent
    finally:
        down.close()


@pytest.mark.parametrize("query,code,body", [
    ("printf", 418, b"short and stout\n"),   # stdio's buffer, written by exit
    ("fflush", 418, None),                   # stdio's buffer at fflush, then a long body
    ("write", 503, b"busy\n"),               # write(2)
    ("dprintf", 502, b"bad gateway\n"),      # dprintf(1, ...): libc's own write
    # stdio writes the head by itself, inside the program's calls:
    ("big", 418, None),                      # its buffer full
    ("linebuf", 418, None),                  # a line-buffered stdout's lines
    ("unbuf", 418, None),                    # an unbuffered stdout
    ("putc", 418, None),                     # inline putc's __overflow
    ("fwrite", 418, None),                   # a body longer than the buffer
    ("errno", 418, b"Numerical result out of range\nshort and stout\n"),  # %m: errno kept
    ("unlocked", 418, b"unlocked\n"),        # fputs_unlocked, fflush_unlocked, _exit
])
def test_the_status_a_c_program_writes_is_the_spans(collector, web, query, code, body):
    srv = web()
    srv.binary("c.cgi", program("cgi_c"))
    status, got = srv.get("/cgi-bin/c.cgi?" + query, {"traceparent": GOOD})
    assert status == code
    if body is not None:
        assert got == body
    else:
        assert got == b"".join(b"%063d\n" % i for i in range(128)) + b"short and stout\n"
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["parent_span_id"] == PARENT
    assert s["attributes"]["http.response.status_code"] == code
    assert s["attributes"]["url.query"] == query
    if code >= 500:
        assert s["status_code"] == 2 and s["attributes"]["error.type"] == str(code)
    else:
        assert s["status_code"] == 0 and "error.type" not in s["attributes"]


def test_a_shell_cgi_redirect_is_a_302(collector, web):
    srv = web()
    srv.script("sh.cgi", SH_CGI)
    req = urllib.request.Request("http://127.0.0.1:%d/cgi-bin/sh.cgi" % srv.port)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a):
            return None
    opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(req, timeout=20)
    assert e.value.code == 302
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["resource"]["process.executable.name"] == "sh"
    assert s["attributes"]["http.response.status_code"] == 302
    assert s["parent_span_id"] == "" and len(s["trace_id"]) == 32  # no caller: a new trace


BASH_CGI = """#!/bin/bash
echo "Status: 404 Not Found"
echo "Content-Type: text/plain"
echo
echo "no $QUERY_STRING here"
"""


def test_a_bash_cgi_status_is_the_spans(collector, web):
    """bash's echo builtin writes with stdio on a line-buffered stdout:
    stdio writes each line by itself, inside the builtin's calls, and the
    head is read from them."""
    srv = web()
    srv.script("bash.cgi", BASH_CGI)
    status, got = srv.get("/cgi-bin/bash.cgi?thing", {"traceparent": GOOD})
    assert (status, got) == (404, b"no thing here\n")
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["resource"]["process.executable.name"] == "bash"
    assert s["parent_span_id"] == PARENT
    assert s["attributes"]["http.response.status_code"] == 404


def test_a_head_never_written_gives_no_status(collector, web):
    """_exit drops what stdio holds: the client gets no response from the
    program, and the span claims none."""
    srv = web()
    srv.binary("c.cgi", program("cgi_c"))
    status, _ = srv.get("/cgi-bin/c.cgi?quit", {"traceparent": GOOD})
    assert status >= 500  # the web server's own answer to a program that said nothing
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["parent_span_id"] == PARENT
    assert "http.response.status_code" not in s["attributes"]


def test_a_crashing_cgi_program_ends_its_request_span_with_the_crash(collector, web):
    srv = web()
    srv.binary("c.cgi", program("cgi_c"))
    srv.get("/cgi-bin/c.cgi?crash", {"traceparent": GOOD})
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["status_code"] == 2
    assert s["attributes"]["error.type"] == "SIGSEGV"
    assert s["attributes"]["http.response.status_code"] == 418  # the head went out first
    ev = [e for e in s["events"] if e["name"] == "exception"]
    assert ev and ev[0]["attributes"]["exception.type"] == "SIGSEGV"


def test_a_programs_children_make_no_request_span_of_their_own(collector, web):
    """A fork child execs curl: curl's call is a child of the request span;
    one SERVER span for the request."""
    down = CaptureServer()
    srv = web(CHILD_URL="http://127.0.0.1:%d/from-child" % down.port)
    srv.binary("c.cgi", program("cgi_c"))
    try:
        status, body = srv.get("/cgi-bin/c.cgi?child", {"traceparent": GOOD})
        assert (status, body) == (418, b"short and stout\n")
        collector.wait_for(2)
        time.sleep(0.3)
        spans = list(collector.spans)
        s = one(spans, kind="SERVER")
        c = one(spans, kind="CLIENT")
        assert c["resource"]["process.executable.name"] == "curl"
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
    finally:
        down.close()


def test_a_wrapper_that_execs_the_real_program_gives_two_nested_spans(collector, web):
    """The span's own process execs: its span ends there, and the program it
    becomes makes the next one, as its child, with the response's status."""
    down = CaptureServer()
    srv = web(DOWN_PORT=down.port)
    srv.script("real.py", PY_CGI)
    srv.script("wrap.cgi", "#!/bin/sh\nexec %s %s\n" % (sys.executable,
                                                         os.path.join(srv.cgi, "real.py")))
    try:
        status, _ = srv.get("/cgi-bin/wrap.cgi", {"traceparent": GOOD})
        assert status == 404
        spans = collector.wait_for(3)
        servers = [s for s in spans if s["kind"] == "SERVER"]
        assert len(servers) == 2
        outer = one(servers, parent_span_id=PARENT)
        inner = one(servers, parent_span_id=outer["span_id"])
        assert outer["resource"]["process.executable.name"] == "sh"
        assert inner["attributes"]["http.response.status_code"] == 404
        assert "http.response.status_code" not in outer["attributes"]
        assert one(spans, kind="CLIENT")["parent_span_id"] == inner["span_id"]
    finally:
        down.close()


def test_an_invalid_traceparent_header_starts_a_new_trace_with_a_warning(collector, web):
    srv = web()
    srv.binary("c.cgi", program("cgi_c"))
    assert srv.get("/cgi-bin/c.cgi?write", {"traceparent": "00-zzzz-not-a-context"})[0] == 503
    s = one(collector.wait_for(1), kind="SERVER")
    assert s["parent_span_id"] == "" and s["trace_id"] != TID
    deadline = time.time() + 5
    while "HTTP_TRACEPARENT" not in srv.stderr() and time.time() < deadline:
        time.sleep(0.05)
    assert "is not a valid W3C traceparent; starting a new trace" in srv.stderr()


def test_autotrace_cgi_0_makes_no_request_span(collector, web):
    down = CaptureServer()
    srv = web(DOWN_PORT=down.port, AUTOTRACE_CGI="0")
    srv.script("py.cgi", PY_CGI)
    try:
        status, _ = srv.get("/cgi-bin/py.cgi", {"traceparent": GOOD})
        assert status == 404
        c = one(collector.wait_for(1), kind="CLIENT")
        time.sleep(0.3)
        assert not [s for s in collector.spans if s["kind"] == "SERVER"]
        assert c["trace_id"] != TID and c["parent_span_id"] == ""
    finally:
        down.close()


def test_a_traced_web_servers_span_is_the_cgi_requests_parent(collector):
    """Python's CGI server under the shim: its SERVER span goes to the
    program it execs as TRACEPARENT (it passes no HTTP_TRACEPARENT), and the
    program's request span is that span's child."""
    # run as root, the server runs its programs as nobody: a directory
    # nobody can reach, not pytest's own
    top = tempfile.mkdtemp(prefix="autotrace-cgi-")
    os.chmod(top, 0o755)
    cgi = os.path.join(top, "cgi-bin")
    os.mkdir(cgi, 0o755)
    with open(os.path.join(cgi, "sh.cgi"), "w") as f:
        f.write(SH_CGI)
    os.chmod(os.path.join(cgi, "sh.cgi"), 0o755)
    port = free_port()
    env = shim_env(collector, OTEL_SERVICE_NAME="websrv")
    p = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "http.server", "--cgi",
                          "--bind", "127.0.0.1", str(port)], cwd=top, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, p, lambda: "")
        out = raw_request(port, "GET /cgi-bin/sh.cgi HTTP/1.0\r\nHost: x\r\n"
                                "traceparent: %s\r\n\r\n" % GOOD)
        assert b"Status: 302 Found" in out  # Python's server passes the head on as it is
        spans = collector.wait_for(2)
        web_span = one(spans, kind="SERVER", parent_span_id=PARENT)
        assert web_span["resource"]["service.name"] == "websrv"
        cgi_span = one(spans, kind="SERVER", parent_span_id=web_span["span_id"])
        assert cgi_span["trace_id"] == TID
        assert cgi_span["attributes"]["http.response.status_code"] == 302
        assert cgi_span["attributes"]["http.route"] == "/cgi-bin/sh.cgi"
    finally:
        p.terminate()
        p.wait(timeout=10)
        shutil.rmtree(top)


def test_a_program_outside_cgi_makes_no_request_span(collector):
    """GATEWAY_INTERFACE without a request method is not a CGI request."""
    down = CaptureServer()
    try:
        env = shim_env(collector, GATEWAY_INTERFACE="CGI/1.1")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null",
                            "http://127.0.0.1:%d/" % down.port], env=env, timeout=30)
        assert r.returncode == 0
        c = one(collector.wait_for(1), kind="CLIENT")
        time.sleep(0.3)
        assert len(collector.spans) == 1 and c["parent_span_id"] == ""
    finally:
        down.close()


def test_head_parser_fuzz_short(tmp_path):
    """The response head's parser (hooks/cgi_head.c) under libFuzzer for a
    few seconds: no crash, the same result however the bytes are cut."""
    fuzz_short("fuzz_cgi_head", tmp_path)


SPAWN_CGI = """#!%s
import os, sys
url = "http://127.0.0.1:%%s/from-%%s" %% (os.environ["DOWN_PORT"], os.environ["HOW"])
cmd = "curl -s -o /dev/null " + url
if os.environ["HOW"] == "system":
    os.system(cmd)
else:
    os.popen(cmd).read()
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n" + os.environ.get("AUTOTRACE_CGI_SPAN", "-"))
""" % sys.executable


@pytest.mark.parametrize("how", ["system", "popen"])
def test_programs_started_through_the_shell_make_no_request_span(collector, web, how):
    """system() and popen() start their shell through posix_spawn, which no
    hook sees: the program passes the request's span on through its own
    environment, so neither the shell nor curl makes a second SERVER span,
    and curl's call is the request span's child."""
    down = CaptureServer()
    srv = web(DOWN_PORT=down.port, HOW=how)
    srv.script("spawn.cgi", SPAWN_CGI)
    try:
        status, body = srv.get("/cgi-bin/spawn.cgi", {"traceparent": GOOD})
        assert status == 200
        collector.wait_for(2)
        time.sleep(0.3)
        spans = list(collector.spans)
        s = one(spans, kind="SERVER")
        c = one(spans, kind="CLIENT")
        assert s["resource"]["process.executable.name"].startswith("python3")
        assert c["resource"]["process.executable.name"] == "curl"
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
        # what the program itself sees of it: the request span's context
        assert body.decode() == "00-%s-%s-01" % (TID, s["span_id"])
    finally:
        down.close()
