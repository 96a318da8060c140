"""Programs a traced process starts with posix_spawn, posix_spawnp, system
or popen continue its trace, as after exec (hooks/spawn.c): the current
context goes into their environment as TRACEPARENT. system and popen take
the process's own environ, so it is swapped for the call only while the
program has no thread of its own, and put back after it."""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import program, run, shim_env
from httpnet import CaptureServer, Server, by_service, header_lines, one, raw_request

TID = "0af7651916cd43dd8448eb211c80319c"
GOOD = "00-%s-b7ad6b7169203331-01" % TID
HOWS = ["system", "popen", "spawn", "spawnp"]


def request(port):
    return ("GET /job HTTP/1.1\r\nHost: 127.0.0.1:%d\r\ntraceparent: %s\r\n"
            "Connection: close\r\n\r\n" % (port, GOOD))


def body(resp):
    return resp.split(b"\r\n\r\n", 1)[1].decode()


def serve_once(env, how, mode, down, collector=None):
    """http_server -C: each request starts http_client (a GET of down) with
    -P how; the response body is what it printed, the call's result and,
    for system and popen, the server's environment after the call. With a
    collector, the server is closed once it has the two spans."""
    srv = Server(env, "-m", mode, "-P", how, "-C", "--", program("http_client"), down.port,
                 "/child")
    try:
        out = body(raw_request(srv.port, request(srv.port)))
        if collector:
            collector.wait_for(2)
        return out
    finally:
        srv.close()


@pytest.mark.parametrize("mode", ["fork", "thread"])
@pytest.mark.parametrize("how", HOWS)
def test_a_started_program_continues_the_request(collector, how, mode):
    """The server handles a request (its SERVER span current) and starts a
    program that makes an HTTP call: that call's span is the SERVER span's
    child, and the traceparent the next server receives names it. In a
    program with threads of its own (mode thread) system and popen pass
    through: their program's call starts a trace of its own. What the
    program sees (its output, the call's result, its environ afterwards) is
    the same as without the shim."""
    down = CaptureServer()
    try:
        bare_env = shim_env()
        del bare_env["LD_PRELOAD"]
        bare = serve_once(bare_env, how, mode, down)
        traced = serve_once(shim_env(collector, OTEL_SERVICE_NAME="srv"), how, mode, down,
                            collector)
        assert "status 200" in traced
        assert traced == bare
        assert re.search(r"rc (0|-1)\n", traced), traced
        if how in ("system", "popen"):
            assert "environ same TRACEPARENT=-\n" in traced

        spans = collector.wait_for(2)
        s = one(by_service(spans, "srv", "SERVER"))
        c = one([x for x in spans if x["kind"] == "CLIENT"])
        assert s["trace_id"] == TID
        assert c["resource"]["process.executable.name"] == "http_client"
        assert c["resource"]["process.pid"] != s["resource"]["process.pid"]
        sent = dict(header_lines(down.wait(2)[1]))
        assert sent["traceparent"] == "00-%s-%s-01" % (c["trace_id"], c["span_id"])
        if mode == "thread" and how in ("system", "popen"):
            assert c["parent_span_id"] == "" and c["trace_id"] != TID
        else:
            assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
    finally:
        down.close()


PY_SERVER = r"""
import http.server, os, sys

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        curl = ["curl", "-s", "-o", "/dev/null", os.environ["DOWN_URL"]]
        how = os.environ["HOW"]
        if how.startswith("vars"):  # a child with an environment of N variables
            env = {"V%d" % i: "x" for i in range(int(how[4:]))}
            r, w = os.pipe()
            pid = os.posix_spawn("/bin/sh", ["sh", "-c", "echo ${TRACEPARENT:--}; env | grep -c ^V"],
                                 env, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
            os.close(w)
            b = c = os.read(r, 4096)
            while c:
                c = os.read(r, 4096)
                b += c
            os.close(r)
            os.waitpid(pid, 0)
            self.send_response(200)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)
            return
        if how == "system":
            rc = os.system(" ".join(curl))
        else:
            pid = os.posix_spawnp("curl", curl, os.environ)
            rc = os.waitpid(pid, 0)[1]
        b = ("rc %d %s\n" % (rc, os.environ.get("TRACEPARENT", "-"))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def log_message(self, *a):
        pass

s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@pytest.mark.parametrize("how", ["system", "posix_spawnp"])
def test_python_service_shelling_out_to_curl(collector, how):
    """A single-threaded Python service (http.server) runs curl per request
    with os.system (libc's system) or os.posix_spawnp: curl's span is the
    request's child."""
    down = CaptureServer()
    env = shim_env(collector, OTEL_SERVICE_NAME="py", HOW=how,
                   DOWN_URL="http://127.0.0.1:%d/py" % down.port)
    p = subprocess.Popen(["/usr/bin/python3", "-c", PY_SERVER], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(p.stdout.readline())
        assert body(raw_request(port, request(port))) == "rc 0 -\n"
        spans = collector.wait_for(2)
        s = one(by_service(spans, "py", "SERVER"))
        c = one([x for x in spans if x["kind"] == "CLIENT"])
        assert c["resource"]["process.executable.name"] == "curl"
        assert c["parent_span_id"] == s["span_id"] and c["trace_id"] == TID
        sent = dict(header_lines(down.wait(1)[0]))
        assert sent["traceparent"] == "00-%s-%s-01" % (TID, c["span_id"])
    finally:
        p.kill()
        p.wait()
        down.close()


@pytest.mark.parametrize("nvars", [100, 3000])
def test_an_environment_too_large_passes_untouched(collector, nvars):
    """posix_spawn with the environment a program built: up to 2048
    variables it gets TRACEPARENT besides them; a larger one is passed as
    it is (the copy would not fit the bound)."""
    env = shim_env(collector, OTEL_SERVICE_NAME="py", HOW="vars%d" % nvars, DOWN_URL="-")
    p = subprocess.Popen(["/usr/bin/python3", "-c", PY_SERVER], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        port = int(p.stdout.readline())
        tp, count = body(raw_request(port, request(port))).split()
        assert int(count) == nvars
        s = one(collector.wait_for(1), kind="SERVER")
        if nvars < 2048:
            assert tp == "00-%s-%s-01" % (TID, s["span_id"])
        else:
            assert tp == "-"
    finally:
        p.kill()
        p.wait()


SPAWN_NOTHING_CURRENT = r"""
import os, sys
r = {}
r["system"] = os.system("exit 3")
pid = os.posix_spawn("/bin/sh", ["sh", "-c", "echo $TRACEPARENT >&2; exit 4"], {"A": "1"})
r["spawn"] = os.waitpid(pid, 0)[1]
r["env"] = os.environ.get("TRACEPARENT", "-")
print(r)
"""


def test_nothing_current_leaves_the_environment_alone(collector):
    """With no span current the calls pass through: results as bare, and an
    environment the program built without TRACEPARENT stays without it."""
    bare_env = shim_env()
    del bare_env["LD_PRELOAD"]
    bare = run(["/usr/bin/python3", "-c", SPAWN_NOTHING_CURRENT], bare_env)
    traced = run(["/usr/bin/python3", "-c", SPAWN_NOTHING_CURRENT], shim_env(collector))
    assert bare.returncode == traced.returncode == 0
    assert traced.stdout == bare.stdout
    assert b"'system': 768, 'spawn': 1024" in traced.stdout
    assert traced.stderr == bare.stderr == b"\n"


OLD_SPAWN_LIB = r"""
#include <spawn.h>
#include <sys/wait.h>
extern char **environ;
/* as a library linked before glibc 2.15 binds it */
__asm__(".symver posix_spawn,posix_spawn@GLIBC_2.2.5");
int old_spawn(const char *path, char **argv)
{
    pid_t pid;
    int st, rc = posix_spawn(&pid, path, 0, 0, argv, environ);
    if (rc)
        return rc;
    waitpid(pid, &st, 0);
    return 1000 + WEXITSTATUS(st);
}
"""

NEW_SPAWN_MAIN = r"""
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
extern char **environ;
int old_spawn(const char *path, char **argv);
int main(int argc, char **argv)
{
    char *av[] = {argv[1], 0};
    pid_t pid;
    int st, rc = posix_spawn(&pid, argv[1], 0, 0, av, environ);
    if (!rc) {
        waitpid(pid, &st, 0);
        rc = 1000 + WEXITSTATUS(st);
    }
    printf("new %d\n", rc);
    fflush(stdout);
    printf("old %d\n", old_spawn(argv[1], av));
    return 0;
}
"""


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is not installed")
def test_each_caller_gets_the_posix_spawn_it_was_linked_against(collector, tmp_path):
    """glibc keeps posix_spawn@GLIBC_2.2.5 for programs linked before 2.15:
    it runs a file with no #! line with /bin/sh, where the current one fails
    with ENOEXEC. The hook has no version, so it takes, for each call, the
    one the calling object was linked against: a library whose version
    needs stop before GLIBC_2.15 gets the old one."""
    (tmp_path / "old.c").write_text(OLD_SPAWN_LIB)
    (tmp_path / "main.c").write_text(NEW_SPAWN_MAIN)
    lib, exe = str(tmp_path / "liboldspawn.so"), str(tmp_path / "main")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, str(tmp_path / "old.c")], check=True)
    subprocess.run(["gcc", "-o", exe, str(tmp_path / "main.c"), "-L" + str(tmp_path),
                    "-loldspawn", "-Wl,-rpath," + str(tmp_path)], check=True)
    needs = subprocess.run(["objdump", "-T", lib], capture_output=True, text=True).stdout
    assert "(GLIBC_2.2.5) posix_spawn" in needs
    script = tmp_path / "script"
    script.write_text("echo from-script\nexit 3\n")  # no #! line
    script.chmod(0o755)
    bare_env = shim_env()
    del bare_env["LD_PRELOAD"]
    bare = run([exe, str(script)], bare_env)
    traced = run([exe, str(script)], shim_env(collector))
    assert bare.stdout == b"new 8\nfrom-script\nold 1003\n"
    assert traced.stdout == bare.stdout and traced.returncode == bare.returncode == 0
