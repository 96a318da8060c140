"""Issue 3: `make demo` (scripts/demo.sh) shows one connected trace through
curl -> lighttpd (not traced) -> a CGI program -> frontend -> backend ->
Redis and MySQL."""
import os
import re
import shutil
import socket
import subprocess

import pytest

from conftest import BUILD, ROOT


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(_listening(4318), reason="a collector on 4318 would receive the demo's spans")
@pytest.mark.skipif(not (shutil.which("redis-server") and shutil.which("mariadbd")),
                    reason="redis-server / mariadbd not installed")
def demo_services():
    """pids of this build's demo services (frontend, backend) now running"""
    want = os.path.join(BUILD, "programs", "http_demo_").encode()
    found = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if f.read().startswith(want):
                        found.add(int(d))
            except OSError:
                pass
    return found


def test_demo_prints_one_connected_trace():
    before = demo_services()
    env = dict(os.environ, BUILD=BUILD)
    for k in list(env):
        if k.startswith(("OTEL_", "AUTOTRACE_")) or k == "LD_PRELOAD":
            del env[k]
    r = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh")], env=env, timeout=170,
                       capture_output=True, cwd=ROOT)
    out = r.stdout.decode()
    assert r.returncode == 0, out + r.stderr.decode()
    # the demo stops the services it started (it used to leave the frontend)
    assert demo_services() - before == set()
    assert "user: alice" in out
    tree = out[out.index("\ntrace ") + 1:]
    traces = re.findall(r"^trace (\w+) \((\d+) spans\)", tree, re.M)
    assert len(traces) == 1, tree
    lines = [l for l in tree.splitlines()[1:] if l.strip()]
    # kind, name, service, by depth
    got = [(len(l) - len(l.lstrip()), l.split()[0], l.split()[1], re.search(r"\[(\w+)\]", l).group(1))
           for l in lines]
    assert got[:6] == [(2, "CLIENT", "GET", "client"), (4, "SERVER", "GET", "storefront"),
                       (6, "CLIENT", "GET", "storefront"), (8, "SERVER", "GET", "frontend"),
                       (10, "CLIENT", "GET", "frontend"), (12, "SERVER", "GET", "backend")]
    # the CGI program's request span, named by its route, with its status
    assert "GET /cgi-bin/checkout.cgi" in lines[1]
    assert "http.response.status_code=200" in lines[1]
    below = {(n, s) for d, k, n, s in got[6:] if d == 14 and k == "CLIENT"}
    # the database spans, once hooks/redis.c and hooks/mysql.c are in
    assert {("INCR", "backend"), ("GET", "backend")} <= below
    assert any(n == "SELECT" for n, s in below)
