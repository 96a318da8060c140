"""Issue 5: MySQL/MariaDB through libmariadb: a CLIENT span per query from C
programs, Perl DBI and Python MySQLdb, against a real mariadbd started here
on loopback (own datadir, TCP and unix socket)."""
import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import fuzz_short, ROOT, free_port, program, run, shim_env

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db")

pytestmark = pytest.mark.skipif(not (os.path.exists(MARIADBD) and INSTALL_DB),
                                reason="mariadb-server is not installed")

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TRACE_ID, PARENT_ID)


class MariaDB:
    def __init__(self, base, extra=()):
        self.base = str(base)
        self.datadir = os.path.join(self.base, "data")
        self.socket = os.path.join(self.base, "mysqld.sock")
        self.port = free_port()
        small = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M"]
        subprocess.run([INSTALL_DB, "--no-defaults", "--auth-root-authentication-method=normal",
                        "--skip-test-db", "--datadir=" + self.datadir] + small,
                       check=True, capture_output=True, timeout=120)
        self.log = open(os.path.join(self.base, "mariadbd.log"), "wb")
        self.proc = subprocess.Popen(
            [MARIADBD, "--no-defaults", "--user=root", "--datadir=" + self.datadir,
             "--socket=" + self.socket, "--port=%d" % self.port, "--bind-address=127.0.0.1",
             "--skip-networking=0", "--pid-file=" + os.path.join(self.base, "mariadbd.pid"),
             "--skip-name-resolve", "--performance-schema=OFF", "--skip-log-bin"] + small +
            list(extra), stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()
        self.sql("CREATE DATABASE app; CREATE DATABASE other; "
                 "CREATE TABLE app.users (id INT PRIMARY KEY, name VARCHAR(40)); "
                 "INSERT INTO app.users VALUES (1, 'alice'), (2, 'bob');")

    def wait_ready(self):
        end = time.time() + 60
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited: %s" % self.read_log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                if os.path.exists(self.socket):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("mariadbd not ready: %s" % self.read_log())

    def read_log(self):
        with open(os.path.join(self.base, "mariadbd.log"), "rb") as f:
            return f.read()[-2000:].decode(errors="replace")

    def sql(self, text):
        import MySQLdb
        c = MySQLdb.connect(unix_socket=self.socket, user="root")
        try:
            cur = c.cursor()
            for stmt in [s for s in text.split(";") if s.strip()]:
                cur.execute(stmt)
            c.commit()
        finally:
            c.close()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    db = MariaDB(tmp_path_factory.mktemp("mariadb"))
    yield db
    db.stop()


def env_tcp(collector, db, **extra):
    return shim_env(collector, MYSQL_TEST_HOST="127.0.0.1", MYSQL_TEST_PORT=db.port,
                    MYSQL_TEST_DB="app", **extra)


def client(steps, env, ok_lines=None):
    r = run([program("mysql_client")] + steps, env)
    out = r.stdout.decode().splitlines()
    if ok_lines is not None:
        assert out == ok_lines, (out, r.stderr.decode())
    return out


def exactly(collector, n, pred=None):
    """All n spans arrived (the program flushed at exit), and no more."""
    spans = collector.wait_for(n, 10, pred)
    assert len(spans) >= n, spans
    more = collector.wait_for(n + 1, 0.5, pred)
    assert len(more) == n, [s["name"] for s in more]
    return spans


def by_text(spans):
    return {s["attributes"].get("db.query.text"): s for s in spans}


def test_text_queries_over_tcp(collector, mariadb):
    env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT)
    client(["q:SELECT name FROM users WHERE id = 1 AND name <> 'it''s'",
            "r:SELECT * FROM users WHERE id IN (1, 2, 3) -- trailing",
            "q:/* hint */ UPDATE users SET name = \"x\\\"y\" WHERE id = -7"],
           env, ["ok", "ok", "ok"])
    spans = exactly(collector, 3)
    got = by_text(spans)
    s = got["SELECT name FROM users WHERE id = ? AND name <> ?"]
    assert s["name"] == "SELECT users"
    assert s["kind"] == "CLIENT"
    assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
    a = s["attributes"]
    assert a["db.system.name"] == "mariadb"
    assert a["db.namespace"] == "app"
    assert a["db.operation.name"] == "SELECT"
    assert a["db.collection.name"] == "users"
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == mariadb.port
    assert "db.response.status_code" not in a and "error.type" not in a
    assert s["status_code"] == 0 and s["end"] > s["start"]
    assert "SELECT * FROM users WHERE id IN (?)" in got
    u = got["UPDATE users SET name = ? WHERE id = ?"]
    assert u["name"] == "UPDATE users" and u["attributes"]["db.operation.name"] == "UPDATE"
    for s in spans:  # every span in the given trace, none of the literals anywhere
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert "it''s" not in str(s) and "-7" not in str(s)


def test_attribute_limits(collector, mariadb):
    """The statement and the connection's facts are copied raw and rendered
    on the exporter thread: the count and length limits still hold, and a
    statement longer than the length limit is cut, never left raw."""
    env = env_tcp(collector, mariadb, OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="4",
                  OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT="40")
    client(["q:SELECT name FROM users WHERE id = 1",
            "q:SELECT 'a-secret-literal-long-enough-to-be-cut' FROM users"], env, ["ok", "ok"])
    spans = exactly(collector, 2)
    for s in spans:
        a = s["attributes"]
        assert len(a) == 4 and s["dropped_attributes"] >= 1, a
        assert all(len(v) <= 40 for v in a.values() if isinstance(v, str)), a
        assert "secret" not in str(s)
    short = [s for s in spans if "db.query.text" in s["attributes"]]
    assert len(short) == 1 and short[0]["name"] == "SELECT users"
    assert short[0]["attributes"]["db.query.text"] == "SELECT name FROM users WHERE id = ?"


def test_unix_socket_and_namespace_changes(collector, mariadb):
    env = shim_env(collector, MYSQL_TEST_SOCKET=mariadb.socket, MYSQL_TEST_DB="")
    client(["q:SELECT 1", "u:other", "q:SELECT 2", "c:app", "q:SELECT 3"],
           env, ["ok"] * 5)
    spans = exactly(collector, 3)  # select_db and change_user make no span
    spans.sort(key=lambda s: s["start"])
    for s in spans:
        a = s["attributes"]
        assert a["server.address"] == mariadb.socket
        assert "server.port" not in a
        assert a["db.query.text"] == "SELECT ?" and s["name"] == "SELECT"
        assert a["db.system.name"] == "mariadb"
    assert "db.namespace" not in spans[0]["attributes"]
    assert spans[1]["attributes"]["db.namespace"] == "other"
    assert spans[2]["attributes"]["db.namespace"] == "app"


def test_layered_calls_make_one_span_each(collector, mariadb):
    # In libmariadb mysql_query tail-calls mysql_real_query through the PLT
    # and mysql_commit calls mysql_real_query: both hooks run, one span.
    env = env_tcp(collector, mariadb)
    client(["q:SELECT 1", "q:SELECT 2", "commit", "r:SELECT 3"], env, ["ok"] * 4)
    spans = exactly(collector, 4)
    assert sorted(s["attributes"]["db.query.text"] for s in spans) == \
        ["COMMIT", "SELECT ?", "SELECT ?", "SELECT ?"]
    assert len({s["span_id"] for s in spans}) == 4
    assert all(s["parent_span_id"] == "" for s in spans)


def test_send_and_read_query_result(collector, mariadb):
    env = env_tcp(collector, mariadb)
    client(["s:SELECT SLEEP(0.2), name FROM users WHERE id = 2",
            "s:SELECT * FROM no_such_table WHERE x = 'secret'"],
           env, ["ok", "err 1146"])
    spans = exactly(collector, 2)
    got = by_text(spans)
    ok = got["SELECT SLEEP(?), name FROM users WHERE id = ?"]
    assert ok["name"] == "SELECT users" and ok["status_code"] == 0
    # the span runs from the send to the end of the read, which waits for the sleep
    assert ok["end"] - ok["start"] >= 150_000_000
    bad = got["SELECT * FROM no_such_table WHERE x = ?"]
    assert bad["status_code"] == 2
    assert bad["attributes"]["db.response.status_code"] == "1146"
    assert bad["attributes"]["error.type"] == "1146"
    assert "no_such_table" in bad["status_message"]


def test_prepared_statements(collector, mariadb):
    env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT)
    client(["p:SELECT name FROM users WHERE id = ?|2",
            "e:SELECT COUNT(*) FROM users WHERE id > ? AND name <> 'zed'|0",
            "p:INSERT INTO users (id, name) VALUES (?, 'dup')|1",
            "p:SELEKT nonsense"],
           env, ["ok", "ok", "ok", "err 1062", "err 1064"])
    # one span per execute, and one for the prepare that failed (it never executes)
    spans = exactly(collector, 5)
    sel = [s for s in spans if s["attributes"]["db.query.text"] ==
           "SELECT name FROM users WHERE id = ?"]
    assert len(sel) == 1 and sel[0]["name"] == "SELECT users"
    cnt = [s for s in spans if s["attributes"]["db.query.text"] ==
           "SELECT COUNT(*) FROM users WHERE id > ? AND name <> ?"]
    assert len(cnt) == 2 and all(s["status_code"] == 0 for s in cnt)
    ins = [s for s in spans if s["name"] == "INSERT users"]
    assert len(ins) == 1
    a = ins[0]["attributes"]
    assert a["db.query.text"] == "INSERT INTO users (id, name) VALUES (?, ?)"
    assert ins[0]["status_code"] == 2
    assert a["db.response.status_code"] == "1062" and a["error.type"] == "1062"
    assert "Duplicate" in ins[0]["status_message"]
    bad = [s for s in spans if s["name"] == "SELEKT"]
    assert len(bad) == 1 and bad[0]["status_code"] == 2
    assert bad[0]["attributes"]["db.query.text"] == "SELEKT nonsense"
    assert bad[0]["attributes"]["error.type"] == "1064"
    for s in spans:
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert s["attributes"]["db.namespace"] == "app"
        assert s["attributes"]["server.port"] == mariadb.port


def test_statement_outlives_its_connection(collector, mariadb):
    # the statement's MYSQL* is freed by mysql_close: executing it must not
    # make us touch that handle, and the span says what happened
    env = env_tcp(collector, mariadb)
    client(["orphan:SELECT name FROM users WHERE id = 1", "q:SELECT 1"], env,
           ["err 2013", "ok"])
    spans = exactly(collector, 2)
    got = by_text(spans)
    o = got["SELECT name FROM users WHERE id = ?"]
    assert o["status_code"] == 2 and o["attributes"]["error.type"] == "2013"
    assert "server.address" not in o["attributes"]  # the connection's facts are gone
    assert o["attributes"]["db.system.name"] == "mariadb"  # noted at prepare
    assert got["SELECT ?"]["attributes"]["server.port"] == mariadb.port


def test_long_statement_is_cut_cleanly(collector, mariadb):
    cols = ", ".join("%d AS ñame_%d" % (k, k) for k in range(200))
    sql = "SELECT %s FROM users WHERE name <> 'x'" % cols
    env = env_tcp(collector, mariadb)
    client(["q:" + sql], env, ["ok"])
    s = exactly(collector, 1)[0]
    a = s["attributes"]
    text = a["db.query.text"]  # decoded by protobuf: valid UTF-8
    full = "SELECT %s FROM users WHERE name <> ?" % ", ".join(
        "? AS ñame_%d" % k for k in range(200))
    assert 200 < len(text.encode()) < 1024 and full.startswith(text)
    # the other attributes were set before the text, which fills what is left
    assert a["db.namespace"] == "app" and a["server.port"] == mariadb.port
    assert s["name"] == "SELECT users" and a["db.collection.name"] == "users"


def test_parent_tracestate_goes_with_every_statement(collector, mariadb):
    # a statement's span is a compact leaf record when it can be; a parent
    # with a tracestate makes the whole span, which carries it (a short
    # statement, and one long enough that the tracestate takes room it needs)
    cols = ", ".join("%d AS c%d" % (k, k) for k in range(83))
    long = "SELECT %s FROM users" % cols
    assert 900 < len(long) < 1000  # a leaf's whole, not with the tracestate
    state = "a=" + "v" * 200 + ",b=" + "w" * 200  # W3C: 256 at most a member
    env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT, TRACESTATE=state)
    client(["q:SELECT 1", "q:" + long], env, ["ok", "ok"])
    spans = sorted(exactly(collector, 2), key=lambda s: s["start"])
    for s in spans:
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert s["trace_state"] == state
        assert s["name"] == "SELECT" if s is spans[0] else "SELECT users"
        assert s["attributes"]["db.query.text"].startswith("SELECT ?")
        assert s["attributes"]["db.system.name"] == "mariadb"


def test_failing_query(collector, mariadb):
    env = env_tcp(collector, mariadb)
    client(["q:SELECT * FROM missing WHERE a = 42", "q:THIS IS NOT SQL 'x'"],
           env, ["err 1146", "err 1064"])
    spans = exactly(collector, 2)
    got = by_text(spans)
    m = got["SELECT * FROM missing WHERE a = ?"]
    assert m["status_code"] == 2 and m["name"] == "SELECT missing"
    assert m["status_message"] == "Table 'app.missing' doesn't exist"
    assert m["attributes"]["db.response.status_code"] == "1146"
    s = got["THIS IS NOT SQL ?"]
    assert s["name"] == "THIS" and s["attributes"]["error.type"] == "1064"
    assert "SQL syntax" in s["status_message"]


def test_literals_kept_on_request(collector, mariadb):
    env = env_tcp(collector, mariadb, AUTOTRACE_SQL_LITERALS="1")
    client(["q:SELECT name FROM users WHERE id = 1", "p:SELECT ? + 5|1"], env, ["ok", "ok"])
    spans = exactly(collector, 2)
    texts = sorted(s["attributes"]["db.query.text"] for s in spans)
    assert texts == ["SELECT ? + 5", "SELECT name FROM users WHERE id = 1"]
    assert {s["name"] for s in spans} == {"SELECT", "SELECT users"}


def test_threads_each_with_a_connection(collector, mariadb):
    env = env_tcp(collector, mariadb)
    client(["threads:8:SELECT id FROM users WHERE name = 'bob'"], env, ["ok"])
    spans = exactly(collector, 40)
    assert len({s["span_id"] for s in spans}) == 40
    assert {s["attributes"]["db.query.text"] for s in spans} == \
        {"SELECT id FROM users WHERE name = ?"}
    assert all(s["attributes"]["server.port"] == mariadb.port for s in spans)


def test_nonblocking_api(collector, mariadb):
    # mysql_real_query_start runs mysql_real_query on a coroutine inside
    # libmariadb; two queries are in flight at once on one thread.
    env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT)
    r = run([program("mysql_async")], env)
    assert r.returncode == 0 and r.stdout == b"ok\n", r.stderr.decode()
    # the two async queries (start .. last cont) and the blocking one after;
    # mysql_commit_start is not traced
    spans = exactly(collector, 3)
    sleeps = [s for s in spans if s["attributes"]["db.query.text"] == "SELECT SLEEP(?)"]
    assert len(sleeps) == 2
    for s in sleeps:
        assert s["end"] - s["start"] >= 90_000_000
        assert s["status_code"] == 0
    a, b = sleeps
    assert a["start"] < b["end"] and b["start"] < a["end"]  # in flight together
    after = [s for s in spans if s["attributes"]["db.query.text"] == "SELECT ?"]
    assert len(after) == 1
    for s in spans:  # nothing left half-open on the thread: all children of TRACEPARENT
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)


def test_unsampled_program_still_works(collector, mariadb):
    env = env_tcp(collector, mariadb, OTEL_TRACES_SAMPLER="always_off")
    client(["q:SELECT 1", "s:SELECT 2", "p:SELECT ?|3", "q:SELECT * FROM missing"],
           env, ["ok", "ok", "ok", "err 1146"])
    assert collector.wait_for(1, 1.0) == []


@pytest.mark.parametrize("server_prepare", ["0", "1"])
def test_perl_dbi(collector, mariadb, server_prepare):
    # DBD::mysql fills placeholders in itself (mysql_real_query), or with
    # mysql_server_prepare=1 uses mysql_stmt_prepare/execute
    env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT,
                  MYSQL_TEST_SERVER_PREPARE=server_prepare)
    r = run(["perl", os.path.join(ROOT, "tests", "programs", "mysql_dbi.pl")], env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == ["row O'Reilly", "row secret-perl-value",
                                              "err 1146"]
    mine = lambda s: "perl_" in s["attributes"].get("db.query.text", "")  # noqa: E731
    spans = exactly(collector, 6, mine)
    got = by_text(spans)
    assert "INSERT INTO perl_items (id, name) VALUES (?, ?)" in got
    ins = [s for s in spans if s["name"] == "INSERT perl_items"]
    assert len(ins) == 2
    sel = got["SELECT name FROM perl_items WHERE id IN (?) ORDER BY id"]
    assert sel["attributes"]["db.collection.name"] == "perl_items"
    bad = got["SELECT * FROM perl_missing"]
    assert bad["status_code"] == 2 and bad["attributes"]["db.response.status_code"] == "1146"
    for s in spans:
        assert "secret-perl-value" not in str(s) and "Reilly" not in str(s)
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert s["attributes"]["db.system.name"] == "mariadb"
        assert s["attributes"]["server.port"] == mariadb.port
        assert s["resource"]["service.name"] == "perl"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_python_mysqldb(collector, mariadb, transport):
    if transport == "tcp":
        env = env_tcp(collector, mariadb, TRACEPARENT=TRACEPARENT)
    else:
        env = shim_env(collector, MYSQL_TEST_SOCKET=mariadb.socket, MYSQL_TEST_DB="app",
                       TRACEPARENT=TRACEPARENT)
    r = run(["/usr/bin/python3", os.path.join(ROOT, "tests", "programs", "mysql_mysqldb.py")],
            env)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == ["row secret-py-value", "err 1146"]
    mine = lambda s: "py_" in s["attributes"].get("db.query.text", "")  # noqa: E731
    spans = exactly(collector, 5, mine)  # CREATE, DELETE, INSERT, SELECT, UPDATE
    got = by_text(spans)
    # executemany batches the rows into one multi-row INSERT
    assert got["INSERT INTO py_items (id, name) VALUES (?, ?),(?, ?)"]["name"] == \
        "INSERT py_items"
    assert got["SELECT name FROM py_items WHERE id = ?"]["status_code"] == 0
    bad = got["UPDATE py_missing SET a = ?"]
    assert bad["status_code"] == 2 and bad["attributes"]["error.type"] == "1146"
    for s in spans:
        assert "secret-py-value" not in str(s)
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        a = s["attributes"]
        assert a["db.namespace"] == "app"
        if transport == "tcp":
            assert a["server.address"] == "127.0.0.1" and a["server.port"] == mariadb.port
        else:
            assert a["server.address"] == mariadb.socket and "server.port" not in a
    # MySQLdb's own statements (SET autocommit, COMMIT) are traced too
    assert collector.wait_for(1, 1, lambda s: s["name"] == "COMMIT")


def test_sanitizer_fuzz_short(tmp_path):
    """A short libFuzzer run of the sanitizer (make fuzz runs longer)."""
    fuzz_short("fuzz_sql", tmp_path)
