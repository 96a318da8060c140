"""MySQL read off a plain socket: clients with no libmariadb the hook can
see. Debian's mariadb CLI carries its client library inside, PyMySQL speaks
the protocol in Python, mysql_static is mysql_client.c linked with
libmariadb.a. Real mariadbd on loopback (test_mysql.py's fixture); spans as
the collector decoded them with the official OTLP protos, compared with the
libmariadb hook's spans for the same statements."""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT, program, run, shim_env
from test_mysql import (INSTALL_DB, MARIADBD, PARENT_ID, TRACE_ID, TRACEPARENT, MariaDB, env_tcp,
                        exactly)
from test_mysql import mariadb  # noqa: F401  (the fixture)
from tls_certs import tls_certs  # noqa: F401  (the session fixture)

PY = "/usr/bin/python3"
CLI = shutil.which("mariadb") or "/usr/bin/mariadb"

pytestmark = pytest.mark.skipif(not (os.path.exists(MARIADBD) and INSTALL_DB),
                                reason="mariadb-server is not installed")

UNSAMPLED = "00-%s-%s-00" % (TRACE_ID, PARENT_ID)

# What the two spans of one statement must agree on (with name, kind and status).
COMPARED = ("db.system.name", "db.namespace", "db.query.text", "db.operation.name",
            "db.collection.name", "server.address", "server.port", "db.response.status_code",
            "error.type")


def view(s):
    a = s["attributes"]
    return (s["name"], s["kind"], s["status_code"], s["status_message"]) + \
        tuple((k, a.get(k)) for k in COMPARED)


def by_start(spans):
    return sorted(spans, key=lambda s: s["start"])


def service(name):
    return lambda s: s["resource"].get("service.name") == name


def query(db, sql):
    """Runs sql on a connection of the test's own (unix socket, MySQLdb, not
    under the shim); the rows."""
    import MySQLdb
    c = MySQLdb.connect(unix_socket=db.socket, user="root", autocommit=True)
    try:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()
    finally:
        c.close()


def bare_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="module")
def tables(mariadb):  # noqa: F811
    import MySQLdb
    c = MySQLdb.connect(unix_socket=mariadb.socket, user="root", db="app")
    cur = c.cursor()
    cur.execute("CREATE TABLE wire_items (id INT PRIMARY KEY, name VARCHAR(40))")
    cur.execute("CREATE TABLE py_wire (id INT PRIMARY KEY, name VARCHAR(40))")
    # two result sets, the second 0.3 s after the first (the server sends
    # each result as it is done)
    cur.execute("CREATE PROCEDURE py_two() BEGIN SELECT 1 AS a; DO SLEEP(0.3); "
                "SELECT name FROM users ORDER BY id; END")
    c.commit()
    c.close()
    return mariadb


# ---- the same spans as the libmariadb hook ----

# mysql_client's steps: text queries three ways, prepared statements (one
# executed twice), a change of database by COM_INIT_DB and back by
# COM_CHANGE_USER (whose reply is an authentication switch the client
# answers), COMMIT, a failing query, a failing prepare, an execute that fails
# (duplicate key), an empty query (no operation: the span is "mariadb"), a
# procedure with two result sets
STEPS = [
    "q:SELECT name FROM users WHERE id = 1 AND name <> 'it''s'",
    "r:SELECT * FROM users WHERE id IN (1, 2, 3) -- trailing",
    "s:SELECT SLEEP(0.05), name FROM users WHERE id = 2",
    "p:SELECT name FROM users WHERE id = ?|2",
    "e:SELECT COUNT(*) FROM users WHERE id > ? AND name <> 'zed'|0",
    "q:INSERT INTO wire_items (id, name) VALUES (10, 'ten')",
    "q:DELETE FROM wire_items WHERE id = 10",
    "u:other",
    "q:SELECT 1",
    "c:app",
    "commit",
    "q:SELECT * FROM missing_table WHERE a = 'secret'",
    "p:SELEKT nonsense",
    "p:INSERT INTO users (id, name) VALUES (?, 'dup')|1",
    "q:/* hint */ UPDATE users SET name = name WHERE id = -7",
    "q:  ",
    "q:CALL py_two()",
]
STEPS_OUT = ["ok"] * 12 + ["err 1146", "err 1064", "err 1062", "ok", "err 1065", "ok"]
# one span a statement; none for select_db, change_user, stmt close, quit
STEPS_SPANS = [
    ("SELECT users", "app", 0), ("SELECT users", "app", 0), ("SELECT users", "app", 0),
    ("SELECT users", "app", 0), ("SELECT users", "app", 0), ("SELECT users", "app", 0),
    ("INSERT wire_items", "app", 0), ("DELETE wire_items", "app", 0), ("SELECT", "other", 0),
    ("COMMIT", "app", 0), ("SELECT missing_table", "app", 2), ("SELEKT", "app", 2),
    ("INSERT users", "app", 2), ("UPDATE users", "app", 0), ("mariadb", "app", 2),
    ("CALL", "app", 0),
]


def steps_spans(collector, db, prog, steps, out, n, unix=False, **extra):
    if unix:  # over the server's unix socket
        env = shim_env(collector, MYSQL_TEST_SOCKET=db.socket, MYSQL_TEST_DB="app",
                       OTEL_SERVICE_NAME=prog, **extra)
    else:
        env = env_tcp(collector, db, OTEL_SERVICE_NAME=prog, **extra)
    r = run([program(prog)] + steps, env)
    assert r.stdout.decode().splitlines() == out, r.stderr.decode()
    return by_start(exactly(collector, n, service(prog)))


@pytest.mark.parametrize("extra", [{}, {"AUTOTRACE_SQL_LITERALS": "1"},
                                   {"TRACEPARENT": TRACEPARENT}],
                         ids=["sanitized", "literals", "parent"])
def test_same_spans_as_the_hook(collector, tables, extra):
    n = len(STEPS_SPANS)
    hook = steps_spans(collector, tables, "mysql_client", STEPS, STEPS_OUT, n, **extra)
    assert [(s["name"], s["attributes"]["db.namespace"], s["status_code"]) for s in hook] == \
        STEPS_SPANS
    wire = steps_spans(collector, tables, "mysql_static", STEPS, STEPS_OUT, n, **extra)
    assert [view(s) for s in wire] == [view(s) for s in hook]
    for s in hook + wire:
        assert s["attributes"]["server.address"] == "127.0.0.1"
        assert s["attributes"]["server.port"] == tables.port
        if "TRACEPARENT" in extra:
            assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        else:
            assert s["parent_span_id"] == ""
    for a, b in zip(wire, wire[1:]):  # one at a time, each ended before the next began
        assert a["start"] < a["end"] <= b["start"]
    assert wire[2]["end"] - wire[2]["start"] >= 40_000_000  # SLEEP(0.05)
    # the procedure's second result came 0.3 s after its first: the span
    # ends with the last (the hook's, with mysql_query, at the first)
    assert wire[-1]["end"] - wire[-1]["start"] >= 280_000_000


def test_same_spans_over_a_unix_socket(collector, tables):
    """Over the server's unix socket (what the CLI and PHP use for
    "localhost"): the hook's spans again, server.address the socket's path
    and no server.port, for the hook (the path it was given) and on the
    wire (the peer's path)."""
    n = len(STEPS_SPANS)
    hook, wire = (steps_spans(collector, tables, prog, STEPS, STEPS_OUT, n, unix=True)
                  for prog in ("mysql_client", "mysql_static"))
    assert [(s["name"], s["attributes"]["db.namespace"], s["status_code"]) for s in wire] == \
        STEPS_SPANS
    assert [view(s) for s in wire] == [view(s) for s in hook]
    for s in hook + wire:
        assert s["attributes"]["server.address"] == tables.socket
        assert "server.port" not in s["attributes"]


USE_STEPS = ["q:USE other", "q:SELECT 1", "q:use `app`;", "q:SELECT name FROM users WHERE id = 1",
             "q:USE nope", "q:SELECT 3", "u:other", "q:USE app", "q:SELECT 4"]
USE_OUT = ["ok", "ok", "ok", "ok", "err 1049", "ok", "ok", "ok", "ok"]
# the USE's own span has the database it was sent in; the next ones the new
USE_SPANS = [("USE", "app"), ("SELECT", "other"), ("USE", "other"), ("SELECT users", "app"),
             ("USE", "app"), ("SELECT", "app"), ("USE", "other"), ("SELECT", "app")]

USE_PYMYSQL = r"""
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", database="app",
                    autocommit=True)
cur = c.cursor()
for q in ("USE other", "SELECT 1", "USE `app`", "SELECT 2"):
    cur.execute(q)
print("ok")
"""


def test_use_statement_moves_the_namespace(collector, tables):
    """A statement "USE name" that worked changes db.namespace for the
    statements after it, as mysql_select_db (COM_INIT_DB) does: the hook's
    spans and the wire's alike; one that failed changes nothing."""
    n = len(USE_SPANS)
    hook = steps_spans(collector, tables, "mysql_client", USE_STEPS, USE_OUT, n)
    assert [(s["name"], s["attributes"]["db.namespace"]) for s in hook] == USE_SPANS
    wire = steps_spans(collector, tables, "mysql_static", USE_STEPS, USE_OUT, n)
    assert [view(s) for s in wire] == [view(s) for s in hook]
    assert hook[4]["attributes"]["error.type"] == "1049"
    r = run([PY, "-c", USE_PYMYSQL, str(tables.port)],
            shim_env(collector, OTEL_SERVICE_NAME="use_pymysql"))
    assert r.stdout == b"ok\n", r.stderr.decode()
    spans = by_start(exactly(collector, 4, service("use_pymysql")))
    assert [(s["name"], s["attributes"]["db.namespace"]) for s in spans] == \
        [("USE", "app"), ("SELECT", "other"), ("USE", "other"), ("SELECT", "app")]


def test_mariadb_cli_over_a_unix_socket(collector, tables):
    """The CLI with -S: its statements' spans, the output as bare."""
    cmd = [CLI, "--no-defaults", "-S", tables.socket, "-u", "root", "--force", "app"]
    script = "SELECT name FROM users WHERE id = 2;\nSELECT * FROM cli_nothing;\n"
    bare = run(cmd, bare_env(), input=script.encode())
    assert b"ERROR 1146" in bare.stderr and bare.stdout == b"name\nbob\n", bare.stderr
    r = run(cmd, shim_env(collector), input=script.encode())
    assert (r.returncode, r.stdout, r.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    spans = by_start(exactly(collector, 2))
    assert [(s["name"], s["attributes"]["db.query.text"], s["status_code"]) for s in spans] == \
        [("SELECT users", "SELECT name FROM users WHERE id = ?", 0),
         ("SELECT cli_nothing", "SELECT * FROM cli_nothing", 2)]
    for s in spans:
        a = s["attributes"]
        assert a["db.system.name"] == "mariadb" and a["db.namespace"] == "app"
        assert a["server.address"] == tables.socket and "server.port" not in a


@pytest.mark.parametrize("literals", ["0", "1"])
def test_big_statement_same_as_the_hook(collector, tables, literals):
    # 60 kB: libmariadb writes it in two sends (8 kB, then the rest), the
    # reply comes in several reads
    steps = ["q:SELECT '%s' AS big, name FROM users WHERE id = 1" % ("x" * 60000),
             "q:SELECT 2"]
    hook = steps_spans(collector, tables, "mysql_client", steps, ["ok", "ok"], 2,
                       AUTOTRACE_SQL_LITERALS=literals)
    wire = steps_spans(collector, tables, "mysql_static", steps, ["ok", "ok"], 2,
                       AUTOTRACE_SQL_LITERALS=literals)
    if literals == "1":
        # kept as sent, the first 1 KiB: the wire span is named from that
        # (the literal fills it), the hook's from the whole statement
        # (docs/mysql.md); everything else is the same
        assert wire[0]["name"] == "SELECT" and hook[0]["name"] == "SELECT users"
        assert "db.collection.name" not in wire[0]["attributes"]
        for s in (wire[0], hook[0]):
            s["name"] = "SELECT"
            s["attributes"].pop("db.collection.name", None)
        assert len(wire[0]["attributes"]["db.query.text"]) == 1023
    assert [view(s) for s in wire] == [view(s) for s in hook]
    assert wire[1]["attributes"]["db.query.text"] == ("SELECT 2" if literals == "1"
                                                      else "SELECT ?")


def test_static_threads_each_with_a_connection(collector, tables):
    env = env_tcp(collector, tables)
    r = run([program("mysql_static"), "threads:8:SELECT id FROM users WHERE name = 'bob'"], env)
    assert r.stdout == b"ok\n", r.stderr.decode()
    spans = exactly(collector, 40)
    assert len({s["span_id"] for s in spans}) == 40
    assert {s["name"] for s in spans} == {"SELECT users"}
    assert {s["attributes"]["db.query.text"] for s in spans} == \
        {"SELECT id FROM users WHERE name = ?"}
    assert all(s["attributes"]["server.port"] == tables.port and s["status_code"] == 0
               for s in spans)


# ---- the mariadb CLI ----

# Read from stdin (batch mode): with -e the 10.11 CLI stops at the first
# error even with --force.
CLI_SCRIPT = """\
DROP TABLE IF EXISTS cli_big;
CREATE TABLE cli_big (id INT PRIMARY KEY, name VARCHAR(40));
INSERT INTO cli_big SELECT seq, CONCAT('name-', seq) FROM seq_1_to_5000;
SELECT id, name, IF(id = 4000, SLEEP(0.5), 0) AS s FROM cli_big ORDER BY id;
SELECT * FROM cli_missing WHERE id = 7;
use other
SELECT COUNT(*) FROM app.cli_big WHERE name LIKE 'name-1%';
DROP TABLE app.cli_big;
"""
# name, db.query.text, db.namespace, error.type
CLI_SPANS = [
    ("DROP cli_big", "DROP TABLE IF EXISTS cli_big", "app", None),
    ("CREATE cli_big", "CREATE TABLE cli_big (id INT PRIMARY KEY, name VARCHAR(?))", "app", None),
    ("INSERT cli_big", "INSERT INTO cli_big SELECT seq, CONCAT(?, seq) FROM seq_1_to_5000", "app",
     None),
    ("SELECT cli_big", "SELECT id, name, IF(id = ?, SLEEP(?), ?) AS s FROM cli_big ORDER BY id",
     "app", None),
    ("SELECT cli_missing", "SELECT * FROM cli_missing WHERE id = ?", "app", "1146"),
    ("SELECT app.cli_big", "SELECT COUNT(*) FROM app.cli_big WHERE name LIKE ?", "other", None),
    ("DROP app.cli_big", "DROP TABLE app.cli_big", "other", None),
]
# What the CLI sends of its own: `use` asks SELECT DATABASE() first (then
# COM_INIT_DB); interactive, it would also ask for @@version_comment.
CLI_OWN = {"SELECT DATABASE()", "select @@version_comment limit ?"}


def cli(db, *args, env=None, script=None):
    cmd = [CLI, "--no-defaults", "-h", "127.0.0.1", "-P", str(db.port), "-u", "root"] + list(args)
    return run(cmd, env if env is not None else bare_env(),
               input=script.encode() if script is not None else None)


def test_mariadb_cli(collector, tables):
    bare = cli(tables, "--force", "app", script=CLI_SCRIPT)
    assert b"ERROR 1146" in bare.stderr, bare.stderr
    assert b"5000\tname-5000\t0\n" in bare.stdout and bare.stdout.endswith(b"\n1111\n")
    r = cli(tables, "--force", "app", script=CLI_SCRIPT,
            env=shim_env(collector, TRACEPARENT=TRACEPARENT))
    # what it printed is what it prints bare
    assert (r.returncode, r.stdout, r.stderr) == (bare.returncode, bare.stdout, bare.stderr)
    spans = collector.wait_for(len(CLI_SPANS), 10)
    time.sleep(0.5)
    spans = by_start(collector.spans)
    mine = [s for s in spans if s["attributes"].get("db.query.text") not in CLI_OWN]
    own = [s for s in spans if s["attributes"].get("db.query.text") in CLI_OWN]
    assert [(s["name"], s["attributes"]["db.query.text"], s["attributes"]["db.namespace"],
             s["attributes"].get("error.type")) for s in mine] == CLI_SPANS
    assert len(own) <= 2 and all(s["name"] == "SELECT" and s["status_code"] == 0 for s in own)
    for s in spans:
        a = s["attributes"]
        assert s["kind"] == "CLIENT"
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert a["db.system.name"] == "mariadb"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == tables.port
        assert s["status_code"] == (2 if a.get("error.type") else 0)
    for a, b in zip(spans, spans[1:]):  # none left open: each ended before the next began
        assert a["start"] < a["end"] <= b["start"]
    bad = mine[4]
    assert bad["attributes"]["db.response.status_code"] == "1146"
    assert bad["status_message"] == "Table 'app.cli_missing' doesn't exist"
    # 5000 rows, those from id 4000 on 0.5 s after the first ones: the span
    # ends when the last row has been read
    big = mine[3]
    assert big["end"] - big["start"] >= 450_000_000


def test_cli_compressed_not_followed(collector, tables):
    """--compress: the protocol goes in compressed packets; not followed, the
    program works."""
    sql = "SHOW SESSION STATUS LIKE 'Compression'; SELECT name FROM users ORDER BY id"
    bare = cli(tables, "-N", "--compress", "app", "-e", sql)
    assert bare.returncode == 0 and bare.stdout == b"Compression\tON\nalice\nbob\n", bare.stderr
    r = cli(tables, "-N", "--compress", "app", "-e", sql, env=shim_env(collector))
    assert (r.returncode, r.stdout, r.stderr) == (0, bare.stdout, bare.stderr)
    assert collector.wait_for(1, 1.0) == []


@pytest.fixture(scope="module")
def mariadb_tls(tmp_path_factory, tls_certs):  # noqa: F811
    # test_mysql's server, with the test CA's certificate for 127.0.0.1
    db = MariaDB(tmp_path_factory.mktemp("mariadb_tls"),
                 ["--ssl-ca=" + tls_certs.ca, "--ssl-cert=" + tls_certs.server_cert,
                  "--ssl-key=" + tls_certs.server_key])
    yield db
    db.stop()


TLS_PYMYSQL = r"""
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", database="app",
                    ssl={"ca": sys.argv[2]})
cur = c.cursor()
cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
print(cur.fetchall()[0][1].startswith("TLS"))
cur.execute("SELECT name FROM users ORDER BY id")
print(cur.fetchall())
c.close()
"""


def test_tls_not_followed(collector, mariadb_tls, tls_certs):  # noqa: F811
    """The 10.11 CLI asks for TLS by default when the server offers it (and
    goes on in the clear when it does not): a connection that turns to TLS
    is no longer followed, and works. --skip-ssl: the same in the clear,
    followed."""
    sql = "SHOW SESSION STATUS LIKE 'Ssl_cipher'; SELECT name FROM users ORDER BY id"
    r = cli(mariadb_tls, "-N", "app", "-e", sql, env=shim_env(collector))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("Ssl_cipher\t") and lines[0] != "Ssl_cipher\t", lines
    assert lines[1:] == ["alice", "bob"]
    r = run([PY, "-c", TLS_PYMYSQL, str(mariadb_tls.port), tls_certs.ca], shim_env(collector))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["True", "(('alice',), ('bob',))"]
    assert collector.wait_for(1, 1.0) == []
    # in the clear, the same statements are spans
    r = cli(mariadb_tls, "-N", "--skip-ssl", "app", "-e", sql, env=shim_env(collector))
    assert r.returncode == 0 and r.stdout == b"Ssl_cipher\t\nalice\nbob\n", r.stderr
    spans = by_start(exactly(collector, 2))
    assert [s["name"] for s in spans] == ["SHOW", "SELECT users"]
    assert all(s["attributes"]["server.port"] == mariadb_tls.port for s in spans)


# ---- PyMySQL ----

PYMYSQL = r"""
import sys, pymysql
from pymysql.constants import CLIENT
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", database="app",
                    autocommit=True, client_flag=CLIENT.MULTI_STATEMENTS)
cur = c.cursor()
cur.execute("SELECT name FROM users WHERE id = %s", (1,))
print(cur.fetchall())
cur.execute("DELETE FROM py_wire")
cur.executemany("INSERT INTO py_wire (id, name) VALUES (%s, %s)",
                [(1, "secret-one"), (2, "secret-two"), (3, "secret-three")])
print(cur.rowcount)
cur.execute("SELECT seq, CONCAT('row-', seq) FROM seq_1_to_3000 WHERE seq > %s", (0,))
rows = cur.fetchall()
print(len(rows), rows[-1])
try:
    cur.execute("SELECT * FROM py_missing WHERE a = 'secret'")
except pymysql.err.ProgrammingError as e:
    print("err", e.args[0])
cur.execute("SELECT 1; SELECT SLEEP(0.3); SELECT name FROM users WHERE id = 2")
sets = [cur.fetchall()]
while cur.nextset():
    sets.append(cur.fetchall())
print(sets)
cur.execute("CALL py_two()")
sets = [cur.fetchall()]
while cur.nextset():
    sets.append(cur.fetchall())
print(sets)
c.select_db("other")
cur.execute("SELECT DATABASE()")
print(cur.fetchall())
c.close()
"""
PYMYSQL_OUT = ["(('alice',),)", "3", "3000 (3000, 'row-3000')", "err 1146",
               "[((1,),), ((0,),), (('bob',),)]",
               "[((1,),), (('alice',), ('bob',)), ()]", "(('other',),)"]
# name, db.query.text, db.namespace, error.type
PYMYSQL_SPANS = [
    ("SELECT users", "SELECT name FROM users WHERE id = ?", "app", None),
    ("DELETE py_wire", "DELETE FROM py_wire", "app", None),
    ("INSERT py_wire", "INSERT INTO py_wire (id, name) VALUES (?, ?),(?, ?),(?, ?)", "app", None),
    ("SELECT seq_1_to_3000", "SELECT seq, CONCAT(?, seq) FROM seq_1_to_3000 WHERE seq > ?", "app",
     None),
    ("SELECT py_missing", "SELECT * FROM py_missing WHERE a = ?", "app", "1146"),
    ("SELECT", "SELECT ?; SELECT SLEEP(?); SELECT name FROM users WHERE id = ?", "app", None),
    ("CALL", "CALL py_two()", "app", None),
    ("SELECT", "SELECT DATABASE()", "other", None),
]


def test_pymysql(collector, tables):
    r = run([PY, "-c", PYMYSQL, str(tables.port)], shim_env(collector, TRACEPARENT=TRACEPARENT))
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().splitlines() == PYMYSQL_OUT
    spans = by_start(exactly(collector, len(PYMYSQL_SPANS)))
    assert [(s["name"], s["attributes"]["db.query.text"], s["attributes"]["db.namespace"],
             s["attributes"].get("error.type")) for s in spans] == PYMYSQL_SPANS
    for s in spans:
        a = s["attributes"]
        assert s["kind"] == "CLIENT" and "secret" not in str(s)
        assert (s["trace_id"], s["parent_span_id"]) == (TRACE_ID, PARENT_ID)
        assert a["db.system.name"] == "mariadb"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == tables.port
        assert a["db.operation.name"] == s["name"].split()[0]
        assert s["status_code"] == (2 if a.get("error.type") else 0)
    for a, b in zip(spans, spans[1:]):
        assert a["start"] < a["end"] <= b["start"]
    bad = spans[4]
    assert bad["attributes"]["db.response.status_code"] == "1146"
    assert bad["attributes"]["db.collection.name"] == "py_missing"
    assert bad["status_message"] == "Table 'app.py_missing' doesn't exist"
    # one span for the three statements, ended by the last result, 0.3 s
    # after the first; the same for the procedure's two results and its OK
    for multi in (spans[5], spans[6]):
        assert multi["end"] - multi["start"] >= 280_000_000


# ---- the bytes on the wire ----

class RecordingProxy:
    """A TCP proxy on loopback to the server; records, per connection, the
    bytes each way."""

    def __init__(self, target):
        self.target = target
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.conns = []  # {"up": client to server, "down": back}
        self.threads = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            rec = {"up": bytearray(), "down": bytearray()}
            self.conns.append(rec)
            for a, b, buf in ((c, s, rec["up"]), (s, c, rec["down"])):
                t = threading.Thread(target=self.pump, args=(a, b, buf), daemon=True)
                t.start()
                self.threads.append(t)

    @staticmethod
    def pump(a, b, buf):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                buf += d
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def wait(self, timeout=10):
        end = time.time() + timeout
        for t in list(self.threads):
            t.join(max(0.0, end - time.time()))
        assert not any(t.is_alive() for t in self.threads), "a proxied connection still open"

    def close(self):
        self.lsock.close()


def packets(data):
    """The MySQL packets of a byte stream: (sequence id, payload). The
    client's handshake response and COM_CHANGE_USER carry its pid (the
    connection attribute _pid): left out."""
    out, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i:i + 3], "little")
        payload = bytes(data[i + 4:i + 4 + n])
        if (not out and data[i + 3] == 1) or payload[:1] == b"\x11":
            payload = re.sub(rb"_pid[\x01-\x0a]\d+", b"_pid", payload)
        out.append((data[i + 3], payload))
        i += 4 + n
    assert i == len(data), "a partial packet at the end"
    return out


STMT_ID_COMMANDS = b"\x17\x18\x19\x1a\x1c"  # execute, long data, close, reset, fetch


def stmt_ids_renumbered(pkts):
    """The server numbers prepared statements (MariaDB keeps counting on a
    reused connection thread), so two runs see different ids: each id
    becomes the order of its first use, every other byte kept."""
    ids, out = {}, []
    for seq, payload in pkts:
        if seq == 0 and len(payload) >= 5 and payload[0] in STMT_ID_COMMANDS:
            n = ids.setdefault(payload[1:5], len(ids) + 1)
            payload = payload[:1] + n.to_bytes(4, "little") + payload[5:]
        out.append((seq, payload))
    return out


def proxied(db, kind, proxy_port, env):
    if kind == "pymysql":
        return run([PY, "-c", PYMYSQL, str(proxy_port)], env)
    env = dict(env, MYSQL_TEST_HOST="127.0.0.1", MYSQL_TEST_PORT=str(proxy_port),
               MYSQL_TEST_DB="app")
    return run([program(kind)] + STEPS, env)


@pytest.mark.parametrize("kind", ["mysql_static", "pymysql"])
def test_bytes_unchanged(collector, tables, kind):
    """The same program through a recording proxy, bare and under the shim:
    the same packets from the client (but for its pid), the same output; and
    under the shim the connection was followed."""
    seen = []
    for env in (bare_env(), shim_env(collector)):
        proxy = RecordingProxy(tables.port)
        try:
            r = proxied(tables, kind, proxy.port, env)
            proxy.wait()
        finally:
            proxy.close()
        assert r.returncode in (0, 1), r.stderr.decode()
        assert len(proxy.conns) == 1
        seen.append((r.stdout, stmt_ids_renumbered(packets(proxy.conns[0]["up"])),
                     len(packets(proxy.conns[0]["down"])), proxy.port))
    (out0, up0, down0, _), (out1, up1, down1, port1) = seen
    assert out1 == out0
    assert out0.decode().splitlines() == (STEPS_OUT if kind == "mysql_static" else PYMYSQL_OUT)
    assert up1 == up0
    assert up0[-1] == (0, b"\x01")  # COM_QUIT, the last
    assert down1 == down0  # as many packets back
    n = len(STEPS_SPANS) if kind == "mysql_static" else len(PYMYSQL_SPANS)
    spans = exactly(collector, n)
    assert all(s["attributes"]["server.port"] == port1 for s in spans)


# ---- a statement that never gets its reply ----

SLEEPER = r"""
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", database="app",
                    autocommit=True)
cur = c.cursor()
print("connected", flush=True)
try:
    cur.execute(sys.argv[2])
    print(cur.fetchall())
except pymysql.err.OperationalError as e:
    print("err", e.args[0])
"""


def sleeper(db, kind, sql, env):
    if kind == "pymysql":
        cmd = [PY, "-c", SLEEPER, str(db.port), sql]
    else:
        if kind == "mysql_client_prepared":  # sql has one ? for 5
            cmd = [program("mysql_client"), "p:%s|5" % sql]
        else:
            cmd = [program(kind), "q:" + sql]
        env = dict(env, MYSQL_TEST_HOST="127.0.0.1", MYSQL_TEST_PORT=str(db.port),
                   MYSQL_TEST_DB="app")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def running(db, sql, timeout=10):
    """The id of the connection running sql, once the server runs it."""
    end = time.time() + timeout
    while time.time() < end:
        rows = query(db, "SELECT id FROM information_schema.processlist WHERE info = '%s'" % sql)
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError("the server never ran %s" % sql)


@contextlib.contextmanager
def reaped(p, db, sql):
    """p killed if it outlived the block, and sql's statement on the
    server (its sleep: no one waits for it)."""
    try:
        yield
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        kill_statement(db, sql)


def kill_statement(db, sql):
    import MySQLdb
    for (cid,) in query(db, "SELECT id FROM information_schema.processlist WHERE info = '%s'"
                        % sql):
        try:
            query(db, "KILL %d" % cid)
        except MySQLdb.Error:
            pass  # gone meanwhile


# mysql_client (the libmariadb hook) is the reference: the same error.type
@pytest.mark.parametrize("kind", ["mysql_client", "mysql_static", "pymysql"])
def test_server_closes_the_connection(collector, tables, kind):
    """KILL of the connection from another one: the server closes it with no
    reply; the span ends there with error.type 2013 (CR_SERVER_LOST)."""
    sql = "SELECT SLEEP(5) AS w_%s" % kind
    p = sleeper(tables, kind, sql, shim_env(collector))
    try:
        cid = running(tables, sql)
        killed = time.time_ns()
        query(tables, "KILL %d" % cid)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out.decode().splitlines()[-1] == "err 2013", err.decode()
    spans = exactly(collector, 1)
    s = spans[0]
    assert s["name"] == "SELECT"
    assert s["attributes"]["db.query.text"] == "SELECT SLEEP(?) AS w_%s" % kind
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "2013"
    assert s["start"] < killed
    # ended when the connection closed, not when the sleep would have
    assert killed - 200_000_000 < s["end"] < killed + 1_500_000_000


@pytest.mark.parametrize("kind", ["mysql_client", "mysql_client_prepared", "mysql_static",
                                  "pymysql"])
def test_killed_while_waiting(collector, tables, kind):
    """SIGTERM while the statement waits for its reply: its span ends, with
    error.type SIGTERM and the statement's name and attributes; one span,
    also with the shared libmariadb (mysql_client: a text statement, an
    execute), whose hook ends its own."""
    sql = "SELECT SLEEP(%s) AS t_%s" % ("?" if kind == "mysql_client_prepared" else "5", kind)
    p = sleeper(tables, kind, sql, shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"))
    with reaped(p, tables, sql):
        running(tables, sql)
        time.sleep(0.1)
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(10) == -signal.SIGTERM
    spans = exactly(collector, 1)
    s = spans[0]
    assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGTERM"
    a = s["attributes"]
    assert s["name"] == "SELECT" and a["db.query.text"] == "SELECT SLEEP(?) AS t_%s" % kind
    assert a["db.system.name"] == "mariadb" and a["db.namespace"] == "app"
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == tables.port
    assert s["end"] - s["start"] < 4_000_000_000



def test_killed_while_another_thread_waits(collector, tables, http_server):
    """SIGTERM to a threaded program while one thread's statement waits
    for its reply (the libmariadb hook) and another's libcurl transfer for
    its answer: the main thread, waiting for both, takes the signal; both
    calls end as killed, the statement with its name and attributes."""
    http_server.pause = 30
    sql = "SELECT SLEEP(5) AS t_thread"
    env = dict(shim_env(collector, OTEL_BSP_SCHEDULE_DELAY="60000"),
               MYSQL_TEST_PORT=str(tables.port), MYSQL_TEST_DB="app")
    p = subprocess.Popen([program("threads_stuck"), "mysql:" + sql,
                          "curl:%s/t" % http_server.url],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with reaped(p, tables, sql):
        running(tables, sql)
        end = time.time() + 10
        while not http_server.requests and time.time() < end:
            time.sleep(0.02)
        time.sleep(0.1)
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(10) == -signal.SIGTERM
    spans = exactly(collector, 2)
    db = [s for s in spans if s["attributes"].get("db.system.name") == "mariadb"]
    assert len(db) == 1, spans
    a = db[0]["attributes"]
    assert db[0]["name"] == "SELECT" and a["db.query.text"] == "SELECT SLEEP(?) AS t_thread"
    assert a["db.namespace"] == "app" and a["server.port"] == tables.port
    for s in spans:
        assert s["status_code"] == 2 and s["attributes"]["error.type"] == "SIGTERM"
        assert s["status_message"] == "Terminated (sent by process %d)" % os.getpid()


# ---- not sampled ----

UNSAMPLED_PYMYSQL = r"""
import sys, pymysql
c = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", database="app",
                    autocommit=True)
cur = c.cursor()
cur.execute("INSERT INTO wire_items (id, name) VALUES (31, 'pymysql')")
cur.execute("SELECT name FROM wire_items WHERE id = 31")
print(cur.fetchall())
c.close()
"""


def test_not_sampled(collector, tables):
    """TRACEPARENT with flags 00: no spans from any of them; every
    statement ran."""
    env = shim_env(collector, TRACEPARENT=UNSAMPLED)
    r = run([program("mysql_static"), "q:INSERT INTO wire_items (id, name) VALUES (30, 'static')",
             "p:SELECT name FROM wire_items WHERE id = ?|30", "q:SELECT * FROM missing"],
            dict(env, MYSQL_TEST_HOST="127.0.0.1", MYSQL_TEST_PORT=str(tables.port),
                 MYSQL_TEST_DB="app"))
    assert r.stdout.decode().splitlines() == ["ok", "ok", "err 1146"], r.stderr.decode()
    r = run([PY, "-c", UNSAMPLED_PYMYSQL, str(tables.port)], env)
    assert r.returncode == 0 and r.stdout == b"(('pymysql',),)\n", r.stderr.decode()
    r = cli(tables, "app", "-e", "INSERT INTO wire_items (id, name) VALUES (32, 'cli')", env=env)
    assert r.returncode == 0, r.stderr
    assert collector.wait_for(1, 1.0) == []
    assert query(tables, "SELECT id, name FROM app.wire_items WHERE id BETWEEN 30 AND 32 "
                 "ORDER BY id") == ((30, "static"), (31, "pymysql"), (32, "cli"))
    query(tables, "DELETE FROM app.wire_items WHERE id BETWEEN 30 AND 32")


# ---- the libmariadb hook's programs: one span a statement, never two ----

def commands(up):
    """How many statements a client sent: COM_QUERY and COM_STMT_EXECUTE."""
    return len([p for seq, p in packets(up) if seq == 0 and p[:1] in (b"\x03", b"\x17")])


@pytest.mark.parametrize("net_spans", ["", "1"])
@pytest.mark.parametrize("kind", ["mysql_client", "mysqldb"])
def test_dynamic_libmariadb_not_doubled(collector, tables, kind, net_spans):
    """mysql_client and Python's MySQLdb use the shared libmariadb, which the
    hook traces: as many statement spans as statements went on the wire (a
    proxy counts them), each with the hook's attributes."""
    proxy = RecordingProxy(tables.port)
    env = shim_env(collector, MYSQL_TEST_HOST="127.0.0.1", MYSQL_TEST_PORT=proxy.port,
                   MYSQL_TEST_DB="app", AUTOTRACE_NET_SPANS=net_spans)
    try:
        if kind == "mysql_client":
            r = run([program("mysql_client"), "q:SELECT 1", "s:SELECT 2", "p:SELECT ?|1",
                     "e:SELECT ? + 1|2", "u:other", "q:SELECT 3", "commit",
                     "threads:3:SELECT id FROM users WHERE id = 1"], env)
        else:
            r = run([PY, os.path.join(ROOT, "tests", "programs", "mysql_mysqldb.py")], env)
        proxy.wait()
    finally:
        proxy.close()
    assert r.returncode == 0, r.stderr.decode()
    n = sum(commands(c["up"]) for c in proxy.conns)
    assert n == (22 if kind == "mysql_client" else 7)
    stmt = lambda s: "db.system.name" in s["attributes"]  # noqa: E731
    spans = exactly(collector, n, stmt)
    assert len({s["span_id"] for s in spans}) == n
    for s in spans:
        assert s["attributes"]["server.port"] == proxy.port
        assert s["attributes"]["db.system.name"] == "mariadb"
        if kind == "mysql_client":  # the hook's: called from the program's functions
            assert s["attributes"]["code.function.name"] in ("main", "stmt_run", "thread_main",
                                                             "mysql_commit")
