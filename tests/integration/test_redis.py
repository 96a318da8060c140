"""Issue 4: Redis through hiredis. Real redis-server on loopback; the same C
programs (synchronous, pipelined, asynchronous on a poll() event loop,
dlopen'ed) run against Debian's hiredis 0.14 and against hiredis 1.2.0 (the
1.x ABI, built by scripts/build-hiredis1.sh); spans checked as the collector
decoded them with the official OTLP protos."""
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import fuzz_short, BUILD, ROOT, run, shim_env, program, free_port

PARENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = "00-%s-%s-01" % (PARENT_TRACE, PARENT_SPAN)
PROGS = ["redis_sync", "redis_pipeline", "redis_async", "redis_dlopen", "redis_evserver"]


class RedisServer:
    def __init__(self, tmp):
        self.port = free_port()
        self.sock = os.path.join(str(tmp), "redis.sock")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--unixsocket", self.sock, "--dir", str(tmp)],
            cwd=str(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.time() > end or self.proc.poll() is not None:
                self.kill()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server not installed")
    s = RedisServer(tmp_path)
    yield s
    s.kill()


@pytest.fixture(scope="module")
def hiredis1():
    """hiredis 1.2.0 built from the npm package's source, and the test
    programs compiled against its headers."""
    out = os.path.join(BUILD, "hiredis1")
    r = subprocess.run([os.path.join(ROOT, "scripts", "build-hiredis1.sh"), out],
                       capture_output=True, timeout=300)
    if r.returncode != 0:
        pytest.skip("could not build hiredis 1.x: %s" % r.stderr.decode()[-500:])
    os.makedirs(os.path.join(out, "programs"), exist_ok=True)
    for p in PROGS:
        src = os.path.join(ROOT, "tests", "programs", p + ".c")
        dst = os.path.join(out, "programs", p)
        if os.path.exists(dst) and os.path.getmtime(dst) > os.path.getmtime(src):
            continue
        r = subprocess.run(["cc", "-O1", "-g", "-Wall", "-I" + os.path.join(out, "include"),
                            "-o", dst, src, "-L" + os.path.join(out, "lib"), "-lhiredis", "-ldl"],
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            pytest.skip("could not build %s against hiredis 1.x: %s" % (p, r.stderr.decode()))
    return out


class Flavor:
    def __init__(self, name, progdir=None, libdir=None):
        self.name, self.progdir, self.libdir = name, progdir, libdir
        self.lib = os.path.join(libdir, "libhiredis.so.1.1.0") if libdir else "libhiredis.so.0.14"

    def prog(self, name):
        return os.path.join(self.progdir, name) if self.progdir else program(name)

    def env(self, collector, **extra):
        env = shim_env(collector, **extra)
        if self.libdir:
            env["LD_LIBRARY_PATH"] = self.libdir
        return env


@pytest.fixture(params=["0.14", "1.x"])
def flavor(request):
    if request.param == "0.14":
        return Flavor("0.14")
    out = request.getfixturevalue("hiredis1")
    return Flavor("1.x", os.path.join(out, "programs"), os.path.join(out, "lib"))


def by_start(spans):
    return sorted(spans, key=lambda s: s["start"])


def check_common(s, redis, parent=True):
    a = s["attributes"]
    assert s["kind"] == "CLIENT"
    assert a["db.system.name"] == "redis"
    assert a["db.operation.name"] == s["name"]
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == redis.port
    assert s["end"] >= s["start"] > 0
    if parent:
        assert s["trace_id"] == PARENT_TRACE
        assert s["parent_span_id"] == PARENT_SPAN


def test_sync_commands(collector, redis, flavor):
    r = run([flavor.prog("redis_sync"), "basic", "127.0.0.1", str(redis.port)],
            flavor.env(collector, TRACEPARENT=TRACEPARENT))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    # the application sees exactly what hiredis returned
    assert out[:4] == ["set: OK", "get: alice", "incrby: 5", "hset: 1"]
    assert out[4].startswith("notint: error ERR value is not an integer")
    assert out[5].startswith("wrongtype: error WRONGTYPE")
    assert out[-1] == "done"
    spans = by_start(collector.wait_for(9))
    assert [s["name"] for s in spans] == ["SET", "GET", "INCRBY", "HSET", "INCR", "LPUSH",
                                          "NOSUCHCOMMAND", "SELECT", "SET"]
    for s in spans:
        check_common(s, redis)
    q = [s["attributes"]["db.query.text"] for s in spans]
    assert q == ["SET user:1 ?", "GET user:1", "INCRBY counter:7 ?", "HSET h:1 ? ?",
                 "INCR user:1", "LPUSH user:1 ?", "NOSUCHCOMMAND a ?", "SELECT 3", "SET k3 ?"]
    ok = [spans[i] for i in (0, 1, 2, 3, 7, 8)]
    for s in ok:
        assert s["status_code"] == 0 and "error.type" not in s["attributes"]
    incr, lpush, unknown = spans[4], spans[5], spans[6]
    assert incr["status_code"] == 2
    assert incr["status_message"].startswith("ERR value is not an integer")
    assert incr["attributes"]["db.response.status_code"] == "ERR"
    assert incr["attributes"]["error.type"] == "ERR"
    ev = [e for e in incr["events"] if e["name"] == "exception"]
    assert ev and ev[0]["attributes"]["exception.type"] == "ERR"
    assert ev[0]["attributes"]["exception.message"] == incr["status_message"]
    assert lpush["status_code"] == 2
    assert lpush["attributes"]["db.response.status_code"] == "WRONGTYPE"
    assert lpush["status_message"].startswith("WRONGTYPE Operation")
    assert unknown["attributes"]["db.response.status_code"] == "ERR"
    # db.namespace: 0 until SELECT 3 succeeds, 3 after
    assert [s["attributes"]["db.namespace"] for s in spans] == ["0"] * 7 + ["3", "3"]
    assert len({s["span_id"] for s in spans}) == 9


def test_sync_args_shown_on_request(collector, redis):
    r = run([program("redis_sync"), "basic", "127.0.0.1", str(redis.port)],
            shim_env(collector, AUTOTRACE_REDIS_ARGS="1"))
    assert r.returncode == 0, r.stderr
    spans = by_start(collector.wait_for(9))
    q = [s["attributes"]["db.query.text"] for s in spans]
    assert q[0] == "SET user:1 alice"
    assert q[2] == "INCRBY counter:7 5"
    assert q[3] == 'HSET h:1 field "secret value"'
    assert q[8] == 'SET k3 "v\\x00x"'
    assert all(s["parent_span_id"] == "" for s in spans)  # no TRACEPARENT: roots


def test_attribute_count_limit_zero(collector, redis):
    """The command is captured on the application thread and rendered on the
    exporter's: the span's name must survive a count limit of 0 (no room for
    the capture), and the count and length limits apply to what is rendered."""
    r = run([program("redis_sync"), "basic", "127.0.0.1", str(redis.port)],
            shim_env(collector, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="0"))
    assert r.returncode == 0, r.stderr
    spans = by_start(collector.wait_for(9))
    assert [s["name"] for s in spans] == ["SET", "GET", "INCRBY", "HSET", "INCR", "LPUSH",
                                          "NOSUCHCOMMAND", "SELECT", "SET"]
    assert all(s["attributes"] == {} for s in spans)
    assert all(s["dropped_attributes"] > 0 for s in spans)


def test_attribute_limits_apply_to_rendered(collector, redis):
    r = run([program("redis_sync"), "basic", "127.0.0.1", str(redis.port)],
            shim_env(collector, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="3",
                     OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT="6", AUTOTRACE_REDIS_ARGS="1"))
    assert r.returncode == 0, r.stderr
    spans = by_start(collector.wait_for(9))
    assert [s["name"] for s in spans][:2] == ["SET", "GET"]
    for i, s in enumerate(spans):
        a = s["attributes"]
        assert len(a) == 3 and s["dropped_attributes"] >= 3
        assert "db.query.text" in a and len(a["db.query.text"]) <= 6
        if i in (4, 5, 6):  # failed: the error's attributes come first
            assert {"error.type", "db.response.status_code"} < set(a)
        else:
            assert set(a) == {"db.query.text", "db.system.name", "db.operation.name"}
    assert spans[0]["attributes"]["db.query.text"] == "SET us"


def test_crash_inside_a_command_records_its_span(collector, redis):
    # the command's span is a leaf (never current): a crash during the call
    # still ends it with the exception, as it ends any open span
    r = run([program("redis_sync"), "crash", "127.0.0.1", str(redis.port)],
            shim_env(collector))
    assert r.returncode == -signal.SIGABRT, r.stderr
    assert r.stdout == b"waiting\n"
    spans = collector.wait_for(1)
    assert len(spans) == 1, spans
    s = spans[0]
    check_common(s, redis, parent=False)
    assert s["name"] == "BLPOP" and s["kind"] == "CLIENT"
    assert s["attributes"]["db.query.text"] == "BLPOP autotrace:never ?"
    assert s["status_code"] == 2
    ex = [e for e in s["events"] if e["name"] == "exception"]
    assert len(ex) == 1
    assert ex[0]["attributes"]["exception.type"] == "SIGABRT"
    assert "on_alarm+0x" in ex[0]["attributes"]["exception.stacktrace"]
    # it began before the call and ended at the crash, a second into it
    assert 0.8e9 < s["end"] - s["start"] < 4e9


def test_unsampled_commands_follow_the_database(collector, redis):
    # one trace in 2 s: the first GET and the last are sampled; the SELECT
    # and the commands between are not, and make no span, yet the database
    # they leave is the last span's
    r = run([program("redis_sync"), "follow", "127.0.0.1", str(redis.port)],
            shim_env(collector, JAEGER_SAMPLER_TYPE="ratelimiting", JAEGER_SAMPLER_PARAM="0.5"))
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    spans = by_start(collector.wait_for(2))
    assert len(spans) == 2, [s["name"] for s in spans]
    assert [s["attributes"]["db.query.text"] for s in spans] == ["GET a", "GET c"]
    assert spans[0]["attributes"]["db.namespace"] == "0"
    assert spans[1]["attributes"]["db.namespace"] == "3"


def test_ratio_sampler_decides_on_the_exported_trace_id(collector, redis):
    # a root under traceidratio draws its ids before the decision: the trace
    # id each exported span carries is one the ratio keeps (W3C: the low 8
    # bytes below ratio x 2^64), and about half the commands make none
    r = run([program("redis_sync"), "loop", "127.0.0.1", str(redis.port), "200", "0"],
            shim_env(collector, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.5"))
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    spans = collector.wait_for(40)
    assert 40 <= len(spans) <= 160, len(spans)
    assert len({s["trace_id"] for s in spans}) == len(spans)
    for s in spans:
        assert int(s["trace_id"][16:], 16) < 2 ** 63, s["trace_id"]


def test_parent_with_tracestate(collector, redis):
    # a leaf record has no tracestate: a parent that has one makes the whole span
    tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = run([program("redis_sync"), "basic", "127.0.0.1", str(redis.port)],
            shim_env(collector, TRACEPARENT="00-%s-%s-01" % (tid, pid),
                     TRACESTATE="vendor=abc"))
    assert r.returncode == 0, r.stderr
    spans = by_start(collector.wait_for(9))
    assert [s["name"] for s in spans][:2] == ["SET", "GET"]
    for s in spans:
        assert s["trace_id"] == tid and s["parent_span_id"] == pid
        assert s["trace_state"] == "vendor=abc"
        assert s["attributes"]["db.system.name"] == "redis"
        assert s["attributes"]["db.query.text"].split(" ")[0] == s["name"] or s["status_code"] == 2


def test_variadic_arguments_passed_on(collector, redis):
    """redisCommand is variadic: the hook passes its arguments on as a
    va_list. Integers, long longs, doubles (in vector registers), %b and %%
    reach hiredis untouched: the program prints the same with no shim, a
    disabled shim and a tracing one."""
    argv = [program("redis_sync"), "varargs", "127.0.0.1", str(redis.port)]
    bare = shim_env(collector)
    del bare["LD_PRELOAD"]
    outs = [run(argv, env).stdout.decode() for env in
            (bare, shim_env(collector, AUTOTRACE_ENABLED="0"), shim_env(collector))]
    assert outs[0].splitlines()[:2] == ["set: OK", "get: 2.500|str|b-i|%|-3"]
    assert "get1: 0.125000" in outs[0] and "get2: 1.000000e+10" in outs[0]
    assert "get3: -3.75" in outs[0] and outs[0].endswith("done\n")
    assert outs[1] == outs[0] and outs[2] == outs[0]
    spans = collector.wait_for(7)
    assert len(spans) == 7  # only the tracing run made spans
    assert {s["name"] for s in spans} == {"SET", "GET", "MSET", "MGET"}


def test_sync_command_on_a_non_blocking_context(collector, redis, flavor):
    """On a non-blocking context redisCommand only appends (NULL), even with
    a reply already in the reader that a blocking one would take: the shim,
    which makes hiredis's append and wait itself where it knows the
    context's layout, reads the blocking flag at the right offset in both
    ABIs. The PING is then a pipelined command: its span ends with its
    reply, not as an error."""
    argv = [flavor.prog("redis_sync"), "nonblock", "127.0.0.1", str(redis.port)]
    bare = flavor.env(collector)
    del bare["LD_PRELOAD"]
    want = ["set: OK", "command: NULL", "get: one", "ping: PONG", "done"]
    assert run(argv, bare).stdout.decode().splitlines() == want
    r = run(argv, flavor.env(collector, TRACEPARENT=TRACEPARENT))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == want
    spans = by_start(collector.wait_for(3))
    assert [s["name"] for s in spans] == ["SET", "GET", "PING"]
    for s in spans:
        check_common(s, redis)
        assert s["status_code"] == 0 and "error.type" not in s["attributes"]
    assert spans[2]["attributes"]["db.query.text"] == "PING"
    # from its append to the redisGetReply that took PONG, after GET's
    assert spans[2]["end"] > spans[1]["end"]


def test_socket_handed_to_hiredis(collector, redis, flavor):
    """The program connects and sends a PING itself (a span on the wire),
    then gives the socket to hiredis (redisConnectFd). Its commands are the
    hook's spans, and the descriptor, whose bytes now go by under the hook,
    is let go at the first: its later calls pass straight through instead
    of each marking the connection out of step again."""
    argv = [flavor.prog("redis_sync"), "handed", "127.0.0.1", str(redis.port), "3"]
    r = run(argv, flavor.env(collector, AUTOTRACE_LOG_LEVEL="debug"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["by hand: PONG", "incr: 1", "incr: 2",
                                              "incr: 3", "done"]
    spans = by_start(collector.wait_for(4))
    assert [s["name"] for s in spans] == ["PING", "INCR", "INCR", "INCR"]
    for s in spans:
        check_common(s, redis, parent=False)
    assert [s["attributes"]["db.query.text"] for s in spans[1:]] == ["INCR handed"] * 3
    log = r.stderr.decode()
    assert "Redis on the wire" in log
    assert log.count("not HTTP/1.x or out of step: no longer watched") == 1, log


def test_unix_socket_address(collector, redis):
    r = run([program("redis_sync"), "unix", redis.sock], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["set: OK", "get: 1", "done"]
    spans = collector.wait_for(2)
    assert len(spans) == 2
    for s in spans:
        assert s["attributes"]["server.address"] == redis.sock
        assert "server.port" not in s["attributes"]


def test_pipeline(collector, redis, flavor):
    r = run([flavor.prog("redis_pipeline"), "127.0.0.1", str(redis.port), "2"],
            flavor.env(collector, TRACEPARENT=TRACEPARENT))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[:3] == ["0: OK", "1: OK", "2: one"]
    assert out[3].startswith("3: error ERR value is not an integer")
    assert out[5:8] == ["5: type 3", "6: PONG", "7: PONG"]
    spans = by_start(collector.wait_for(11))
    assert [s["name"] for s in spans] == ["SELECT", "SET", "GET", "INCR", "HSET", "EXISTS",
                                          "PING", "PING", "DBSIZE", "GET", "GET"]
    for s in spans:
        check_common(s, redis)
    pipe = spans[:8]
    # one span per command from its append to its reply: all were appended
    # before the first reply was read
    assert max(s["start"] for s in pipe) <= min(s["end"] for s in pipe)
    assert [s["status_code"] for s in pipe] == [0, 0, 0, 2, 0, 0, 0, 0]
    assert pipe[3]["attributes"]["db.response.status_code"] == "ERR"
    assert [s["attributes"]["db.namespace"] for s in spans[:9]] == ["2"] * 9
    assert spans[2]["attributes"]["db.query.text"] == "GET p:1"
    assert spans[5]["attributes"]["db.query.text"] == "EXISTS p:1"
    # appended, never read: the context was freed
    for s in spans[9:]:
        assert s["status_code"] == 2
        assert s["attributes"]["error.type"] == "REDIS_ERR_NO_REPLY"


def test_pipeline_longer_than_tracked(collector, redis):
    """More pending commands than a context tracks (256): the rest run
    untraced, and every traced span still meets its own reply."""
    n = 400
    r = run([program("redis_pipeline"), "127.0.0.1", str(redis.port), str(n)],
            shim_env(collector))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert len([l for l in out if l.endswith(": PONG")]) == n
    spans = collector.wait_for(256 + 3, timeout=10)
    spans = by_start(spans)
    time.sleep(0.3)
    assert len(collector.spans) == 256 + 3
    names = [s["name"] for s in spans]
    assert names[:6] == ["SELECT", "SET", "GET", "INCR", "HSET", "EXISTS"]
    assert names[6:256] == ["PING"] * 250
    assert names[256:] == ["DBSIZE", "GET", "GET"]
    errors = [s["name"] for s in spans[:257] if s["status_code"] == 2]
    assert errors == ["INCR"]


def test_async_event_loop(collector, redis, flavor):
    r = run([flavor.prog("redis_async"), "127.0.0.1", str(redis.port)],
            flavor.env(collector, TRACEPARENT=TRACEPARENT))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[-1] == "done pending=0"
    cb = out[:-1]
    assert len(cb) == 7 and all(l.endswith("privdata=ok") for l in cb), cb
    assert cb[0] == "set: OK privdata=ok" and cb[1] == "get: v1 privdata=ok"
    assert cb[6] == "exists: 0 privdata=ok"  # a:1 is in db 0, this runs in db 3
    spans = by_start(collector.wait_for(8))
    assert [s["name"] for s in spans] == ["SET", "GET", "INCR", "SET", "SELECT", "SET", "HSET",
                                          "EXISTS"]
    for s in spans:
        check_common(s, redis)
    assert spans[2]["status_code"] == 2
    assert spans[2]["attributes"]["db.response.status_code"] == "ERR"
    assert [s["status_code"] for i, s in enumerate(spans) if i != 2] == [0] * 7
    assert spans[3]["attributes"]["db.query.text"] == "SET a:nocb ?"  # no callback: traced too
    assert [s["attributes"]["db.namespace"] for s in spans] == ["0"] * 4 + ["3"] * 4
    assert spans[7]["attributes"]["db.query.text"] == "EXISTS a:1"
    # issued together, answered later: the spans overlap
    assert max(s["start"] for s in spans) <= min(s["end"] for s in spans)


def test_async_freed_with_pending(collector, redis, flavor):
    r = run([flavor.prog("redis_async"), "127.0.0.1", str(redis.port), "free"],
            flavor.env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["get: NULL privdata=ok", "freed pending=0"]
    spans = collector.wait_for(1)
    assert len(spans) == 1
    s = spans[0]
    assert s["name"] == "GET" and s["status_code"] == 2
    assert s["attributes"]["error.type"] == "REDIS_ERR_NO_REPLY"


def test_server_killed_mid_run(collector, redis, flavor):
    p = subprocess.Popen([flavor.prog("redis_sync"), "loop", "127.0.0.1", str(redis.port),
                          "40", "50"], env=flavor.env(collector), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        seen = 0
        while seen < 5:
            line = p.stdout.readline()
            assert line, p.stderr.read()
            seen += line == b"ping: PONG\n"
        redis.kill()
        rest, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    lines = rest.decode().splitlines()
    assert lines[-1] == "done"  # the program kept running
    nulls = [l for l in lines if l.startswith("ping: NULL")]
    assert nulls
    spans = by_start(collector.wait_for(40, timeout=10))
    assert len(spans) == 40
    assert all(s["name"] == "PING" for s in spans)
    failed = [s for s in spans if s["status_code"] == 2]
    assert len(failed) == len(nulls)
    assert spans[0]["status_code"] == 0 and spans[-1]["status_code"] == 2
    for s in failed:
        assert s["attributes"]["error.type"] in ("REDIS_ERR_EOF", "REDIS_ERR_IO")
        assert s["status_message"]


def test_dlopen_local(collector, redis, flavor):
    r = run([flavor.prog("redis_dlopen"), flavor.lib, "127.0.0.1", str(redis.port)],
            flavor.env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["mapped=0", "set: OK", "get: plugin", "done"]
    spans = by_start(collector.wait_for(2))
    assert [s["name"] for s in spans] == ["SET", "GET"]
    assert spans[0]["attributes"]["db.query.text"] == "SET d:1 ?"
    assert spans[1]["attributes"]["db.system.name"] == "redis"


def test_program_without_hiredis(collector):
    r = run([program("redis_dlopen")], shim_env(collector))
    assert r.returncode == 0, r.stderr
    # the shim does not load hiredis, and nothing is traced
    assert r.stdout.decode().splitlines() == ["mapped=0", "done"]
    assert b"autotrace" not in r.stderr
    time.sleep(0.5)
    assert collector.spans == []


def test_async_subscribe_untouched(collector, redis, flavor):
    """A subscription's callback runs once per message: it is passed through
    as is (not traced), and the PUBLISHes are."""
    r = run([flavor.prog("redis_async"), "127.0.0.1", str(redis.port), "sub"],
            flavor.env(collector))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[:4] == ["sub: subscribe - privdata=ok", "sub: message m0 privdata=ok",
                       "sub: message m1 privdata=ok", "sub: message m2 privdata=ok"]
    assert out[4] == "messages=3" and out[-1] == "done"
    collector.wait_for(3)
    time.sleep(0.3)
    assert [s["name"] for s in collector.spans] == ["PUBLISH"] * 3


def test_threads_each_with_a_context(collector, redis):
    r = run([program("redis_sync"), "threads", "127.0.0.1", str(redis.port), "8", "50"],
            shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["threads ok=400"]
    spans = collector.wait_for(400, timeout=15)
    assert len(spans) == 400
    assert len({s["span_id"] for s in spans}) == 400
    keys = {}
    for s in spans:
        assert s["name"] == "INCR" and s["status_code"] == 0
        assert s["attributes"]["server.port"] == redis.port
        q = s["attributes"]["db.query.text"]
        keys[q] = keys.get(q, 0) + 1
    assert keys == {"INCR thread:%d" % i: 50 for i in range(8)}


def test_sampled_out_passes_through(collector, redis):
    """Unsampled async commands keep the application's own callback and
    privdata; nothing is exported."""
    env = shim_env(collector, OTEL_TRACES_SAMPLER="always_off")
    r = run([program("redis_async"), "127.0.0.1", str(redis.port)], env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert out[-1] == "done pending=0"
    assert len(out) == 8 and all(l.endswith("privdata=ok") for l in out[:-1])
    r = run([program("redis_pipeline"), "127.0.0.1", str(redis.port)], env)
    assert r.returncode == 0, r.stderr
    time.sleep(0.5)
    assert collector.spans == []


def test_event_loop_server(collector, redis, flavor):
    """A one-thread poll() server answering HTTP requests from async Redis
    replies: each GET's parent is the span current when it was issued, the
    request's SERVER span (made by the HTTP server hook)."""
    import http.client
    s = socket.create_connection(("127.0.0.1", redis.port))
    s.sendall(b"SET greeting hello\r\n")
    assert s.recv(16) == b"+OK\r\n"
    s.close()
    port = free_port()
    p = subprocess.Popen([flavor.prog("redis_evserver"), "127.0.0.1", str(redis.port), str(port),
                          "2"], env=flavor.env(collector), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"listening\n", p.stderr.read()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        got = []
        for path in ("/greeting", "/nokey"):
            conn.request("GET", path, headers={"traceparent": TRACEPARENT})
            r = conn.getresponse()
            got.append((r.status, r.read()))
        conn.close()
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert got == [(200, b"hello"), (404, b"")]
    assert p.returncode == 0 and out == b"served 2\n", err
    gets = by_start(collector.wait_for(
        2, pred=lambda s: s["attributes"].get("db.system.name") == "redis"))
    assert [g["attributes"]["db.query.text"] for g in gets] == ["GET greeting", "GET nokey"]
    for g in gets:
        assert g["kind"] == "CLIENT" and g["status_code"] == 0
        assert g["attributes"]["server.port"] == redis.port
    servers = collector.wait_for(2, timeout=2, pred=lambda s: s["kind"] == "SERVER")
    if not servers:
        pytest.skip("no HTTP server hook in this build: parent check not possible")
    by_path = {s["attributes"].get("url.path"): s for s in servers}
    for g, path in zip(gets, ("/greeting", "/nokey")):
        srv = by_path[path]
        assert srv["trace_id"] == PARENT_TRACE and srv["parent_span_id"] == PARENT_SPAN
        assert g["trace_id"] == PARENT_TRACE
        assert g["parent_span_id"] == srv["span_id"]


def test_capture_fuzz_short(tmp_path):
    """A short libFuzzer run of the command capture and its rendering (make
    fuzz runs longer)."""
    fuzz_short("fuzz_redis", tmp_path)
