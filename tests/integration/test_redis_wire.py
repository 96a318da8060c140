"""Redis read off a plain socket (hooks/resp_wire.c): clients with no hiredis
the hooks can see. Debian's redis-cli and redis-benchmark carry their own
hiredis inside; Python clients here write the protocol themselves. Real
redis-server on loopback; spans as the collector decoded them with the
official OTLP protos."""
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import run, shim_env
from test_redis import PARENT_SPAN, PARENT_TRACE, TRACEPARENT, by_start, check_common
from test_redis import redis  # noqa: F401  (the fixture)

PY = "/usr/bin/python3"


def tool(name):
    path = shutil.which(name)
    if not path:
        pytest.skip("%s not installed" % name)
    libs = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    if "libhiredis" in libs:
        pytest.skip("%s links hiredis: the hiredis hook traces it, not this one" % name)
    return path


def calls(redis, cmd):
    """How many times the server ran cmd (INFO commandstats), asked bare."""
    with socket.create_connection(("127.0.0.1", redis.port)) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n") or data.count(b"\r\n") < 2:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith("cmdstat_%s:" % cmd):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_redis_cli(collector, redis):
    cli = tool("redis-cli")
    base = [cli, "-h", "127.0.0.1", "-p", str(redis.port)]
    cmds = [["set", "k", "v"], ["-n", "3", "get", "k"], ["lpush", "k", "x"],
            ["-3", "hset", "h", "f", "1"], ["-3", "hgetall", "h"]]
    env = shim_env(collector, TRACEPARENT=TRACEPARENT)
    outs = []
    for c in cmds:
        r = run(base + c, env)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    # what the program printed is what it prints bare
    redis_bare = [run(base + c, dict(os.environ)).stdout for c in cmds]
    assert outs[:2] == redis_bare[:2] and outs[2] == redis_bare[2]
    spans = by_start(collector.wait_for(8))
    assert [s["name"] for s in spans] == ["SET", "SELECT", "GET", "LPUSH", "HELLO", "HSET",
                                          "HELLO", "HGETALL"]
    for s in spans:
        check_common(s, redis)
        assert s["end"] > s["start"]
    a = [s["attributes"] for s in spans]
    assert [x["db.query.text"] for x in a] == ["SET k ?", "SELECT 3", "GET k", "LPUSH k ?",
                                              "HELLO ?", "HSET h ? ?", "HELLO ?", "HGETALL h"]
    assert [x["db.namespace"] for x in a] == ["0", "3", "3", "0", "0", "0", "0", "0"]
    assert [s["status_code"] for s in spans] == [0, 0, 0, 2, 0, 0, 0, 0]
    assert a[3]["db.response.status_code"] == a[3]["error.type"] == "WRONGTYPE"
    assert spans[3]["status_message"].startswith("WRONGTYPE Operation against a key")


def test_redis_cli_over_a_unix_socket(collector, redis):
    """redis-cli -s: followed as over TCP; server.address the socket's path,
    no server.port; the output as bare."""
    cli = tool("redis-cli")
    cmds = [["set", "ku", "v"], ["-n", "2", "get", "ku"], ["incr", "ku"]]
    outs = []
    for c in cmds:
        bare = run([cli, "-s", redis.sock] + c, dict(os.environ))
        r = run([cli, "-s", redis.sock] + c, shim_env(collector, TRACEPARENT=TRACEPARENT))
        assert (r.returncode, r.stdout) == (bare.returncode, bare.stdout), r.stderr
        outs.append(r.stdout)
    assert outs[0] == b"OK\n" and outs[2].startswith(b"ERR value is not an integer")
    spans = by_start(collector.wait_for(4))
    assert [s["name"] for s in spans] == ["SET", "SELECT", "GET", "INCR"]
    for s in spans:
        a = s["attributes"]
        assert s["kind"] == "CLIENT" and a["db.system.name"] == "redis"
        assert a["server.address"] == redis.sock and "server.port" not in a
        assert (s["trace_id"], s["parent_span_id"]) == (PARENT_TRACE, PARENT_SPAN)
    assert [s["status_code"] for s in spans] == [0, 0, 0, 2]


def test_redis_benchmark_pipelines(collector, redis):
    bench = tool("redis-benchmark")
    r = run([bench, "-h", "127.0.0.1", "-p", str(redis.port), "-n", "400", "-c", "4", "-P",
             "10", "-t", "set,get", "-q"], shim_env(collector), timeout=60)
    assert r.returncode == 0, r.stderr
    # one span per command the server ran, each ended by its own reply
    want = {"SET": calls(redis, "set"), "GET": calls(redis, "get")}
    assert want["SET"] >= 400 and want["GET"] >= 400
    spans = collector.wait_for(sum(want.values()), 15,
                               pred=lambda s: s["name"] in ("SET", "GET"))
    got = [s for s in spans if s["name"] in ("SET", "GET")]
    for name, n in want.items():
        assert len([s for s in got if s["name"] == name]) == n
    assert all(s["status_code"] == 0 and s["end"] > s["start"] for s in got)
    assert {s["attributes"]["db.query.text"] for s in got} == {"SET key:__rand_int__ ?",
                                                              "GET key:__rand_int__"}
    assert len({s["span_id"] for s in got}) == len(got)


# A client of its own: the protocol in pieces of `piece` bytes, replies read
# a few bytes at a time; prints what it read.
OWN_CLIENT = r"""
import socket, sys
port, piece, rsize = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def cmd(*a):
    out = b"*%d\r\n" % len(a)
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out += b"$%d\r\n%s\r\n" % (len(x), x)
    return out
s = socket.create_connection(("127.0.0.1", port))
def send(data):
    for i in range(0, len(data), piece):
        s.sendall(data[i:i + piece])
def read_until(n_replies_end):
    data = b""
    while not data.endswith(n_replies_end):
        chunk = s.recv(rsize)
        if not chunk:
            raise SystemExit("closed")
        data += chunk
    return data
big = b"x" * 100000
send(cmd("SET", "big", big) + cmd("GET", "big") + cmd("INCR", "big") + cmd("PING"))
got = read_until(b"+PONG\r\n")
assert got.startswith(b"+OK\r\n$100000\r\n" + big + b"\r\n-ERR value is not an integer")
send(cmd("MULTI") + cmd("SET", "a", 1) + cmd("INCR", "a") + cmd("EXEC"))
print(read_until(b":2\r\n"))
send(cmd("BLPOP", "nothing", "0.3"))
print(read_until(b"*-1\r\n") if piece % 2 else read_until(b"\r\n"))
send(cmd("HELLO", 3) + cmd("HGETALL", "none") + cmd("GET", "missing"))
print(read_until(b"_\r\n"))
"""


@pytest.mark.parametrize("piece,rsize", [(1, 1), (7, 3), (100000, 65536)])
def test_own_client_in_pieces(collector, redis, piece, rsize):
    r = run([PY, "-c", OWN_CLIENT, str(redis.port), str(piece), str(rsize)],
            shim_env(collector, TRACEPARENT=TRACEPARENT), timeout=60)
    assert r.returncode == 0, r.stderr
    spans = by_start(collector.wait_for(12))
    names = ["SET", "GET", "INCR", "PING", "MULTI", "SET", "INCR", "EXEC", "BLPOP", "HELLO",
             "HGETALL", "GET"]
    assert [s["name"] for s in spans] == names
    for s in spans:
        check_common(s, redis)
    assert [s["status_code"] for s in spans] == [0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert spans[2]["attributes"]["error.type"] == "ERR"
    # a 100 kB value: the text shows its key only
    assert spans[0]["attributes"]["db.query.text"] == "SET big ?"
    # BLPOP waited for its timeout: its span lasts as long
    blpop = spans[8]
    assert blpop["end"] - blpop["start"] >= 0.25e9
    # replies in order: the pipelined ones ended after the 100 kB reply came in
    assert spans[3]["end"] >= spans[1]["end"] >= spans[0]["end"]


# A fake server: records the bytes it got, answers every command with +OK
# after reading it (reply) or never.
class RecordingRedis:
    def __init__(self, reply=True):
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.got = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        c, _ = self.sock.accept()
        with c:
            while True:
                d = c.recv(4096)
                if not d:
                    return
                self.got += d
                if self.reply:
                    c.sendall(b"+OK\r\n" * d.count(b"*"))


def test_bytes_unchanged(collector):
    srv = RecordingRedis()
    script = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
msg = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" * 3
for i in range(0, len(msg), 5):
    s.send(msg[i:i + 5])
got = b""
while len(got) < 15:
    got += s.recv(100)
print(got)
"""
    r = run([PY, "-c", script, str(srv.port)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    srv.thread.join(5)
    assert srv.got == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" * 3
    assert r.stdout.strip() == repr(b"+OK\r\n" * 3).encode()
    spans = collector.wait_for(3)
    assert [s["name"] for s in spans] == ["SET"] * 3
    assert spans[0]["attributes"]["server.port"] == srv.port


def test_out_of_step(collector):
    """Commands, then bytes that are not RESP: the commands under way end
    there (no status), the connection is left alone, nothing is changed."""
    srv = RecordingRedis(reply=False)
    script = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
s.close()
"""
    r = run([PY, "-c", script, str(srv.port)], shim_env(collector, AUTOTRACE_LOG_LEVEL="debug"))
    assert r.returncode == 0, r.stderr
    srv.thread.join(5)
    assert srv.got == (b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
                       b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"redis on the wire: a write that is not RESP; no longer followed" in r.stderr
    assert b"no longer watched" in r.stderr  # the fd let go: later calls pass through
    spans = by_start(collector.wait_for(2))
    assert [(s["name"], s["status_code"]) for s in spans] == [("PING", 0), ("GET", 0)]


SUBSCRIBER = r"""
import socket, sys
port = int(sys.argv[1])
sub = socket.create_connection(("127.0.0.1", port))
pub = socket.create_connection(("127.0.0.1", port))
sub.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
got = b""
while b":1\r\n" not in got:
    got += sub.recv(100)
for i in range(3):
    pub.sendall(b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$1\r\n%d\r\n" % i)
    assert pub.recv(100) == b":1\r\n"
got = b""
while got.count(b"message") < 3:
    got += sub.recv(1000)
print("messages", got.count(b"message"))
"""


def test_subscription(collector, redis):
    r = run([PY, "-c", SUBSCRIBER, str(redis.port)], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [b"messages", b"3"]
    spans = by_start(collector.wait_for(4))
    time.sleep(0.3)
    spans = by_start(collector.spans)
    # the messages that came after are no replies: no span for them, and no
    # error for the subscription
    assert [s["name"] for s in spans] == ["SUBSCRIBE", "PUBLISH", "PUBLISH", "PUBLISH"]
    assert all(s["status_code"] == 0 for s in spans)


# Waits in a BLPOP on one connection; the other connection has the server
# close it (CLIENT KILL), or the test kills this process.
BLOCKED = r"""
import socket, sys
port, how = int(sys.argv[1]), sys.argv[2]
a = socket.create_connection(("127.0.0.1", port))
a.sendall(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
cid = a.recv(100).strip()[1:]
a.sendall(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$2\r\n30\r\n")
print("waiting", flush=True)
if how == "kill-conn":
    b = socket.create_connection(("127.0.0.1", port))
    b.sendall(b"*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$2\r\nID\r\n$%d\r\n%s\r\n" % (len(cid), cid))
    print(b.recv(100), flush=True)
print("read", a.recv(100), flush=True)
"""


def test_server_closes_the_connection(collector, redis):
    r = run([PY, "-c", BLOCKED, str(redis.port), "kill-conn"], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == b"read b''"
    spans = {s["name"]: s for s in collector.wait_for(4)}
    blpop = spans["BLPOP"]
    assert blpop["status_code"] == 2
    assert blpop["attributes"]["error.type"] == "REDIS_ERR_EOF"
    assert spans["CLIENT"]["status_code"] == 0


def test_killed_while_waiting(collector, redis):
    p = subprocess.Popen([PY, "-c", BLOCKED, str(redis.port), "wait"],
                         env=shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"waiting\n"
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGTERM)
    assert p.wait(10) == -signal.SIGTERM
    spans = {s["name"]: s for s in collector.wait_for(2, 5)}
    blpop = spans["BLPOP"]
    assert blpop["status_code"] == 2 and blpop["attributes"]["error.type"] == "SIGTERM"
    assert spans["CLIENT"]["status_code"] == 0


def test_not_sampled(collector, redis):
    cli = tool("redis-cli")
    r = run([cli, "-p", str(redis.port), "set", "k", "v"],
            shim_env(collector, OTEL_TRACES_SAMPLER="always_off"))
    assert r.returncode == 0 and r.stdout == b"OK\n", r.stderr
    time.sleep(0.5)
    assert collector.spans == []
    assert calls(redis, "set") == 1
