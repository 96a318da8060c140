"""The shim writes its diagnostics and console spans to descriptor 2 only
while that is the program's stderr (PITFALLS 6: never write into a
descriptor that belongs to the app). A daemon that closes its stderr and
opens a file, a socket or accepts a connection gets number 2 for its own
data; a stderr the program redirects on purpose (dup2, a shell's 2>file,
freopen) is followed. A program started without its stderr keeps number 2
free: the shim's ring and sockets go above it.

With the exporter in a process (AUTOTRACE_EXPORTER_MODE=process) the console
lines are that process's: they go to the stderr the program had at its first
span, which the exporter process keeps a copy of."""
import os
import re
import socket
import subprocess
import threading

import pytest

from conftest import run, shim_env
from httpnet import read_all

PROCESS = os.environ.get("AUTOTRACE_TEST_EXPORTER_MODE") == "process"

# Under the shim: a GET while stderr is the original, then stderr is
# changed as argv[1] says and descriptor 2 checked to be the file argv[3];
# then a second GET, and the program writes its own line on descriptor 2.
PROG = r"""
import ctypes, http.client, os, sys, time
how, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.freopen.restype = ctypes.c_void_p
libc.freopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
cstderr = ctypes.c_void_p.in_dll(libc, "stderr")

def get(path):
    c = http.client.HTTPConnection("127.0.0.1", port)
    c.request("GET", path)
    c.getresponse().read()
    c.close()

def open_out():
    return os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

def closed(fd):
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False

if how == "started_closed":
    assert closed(2)
    get("/before")
    time.sleep(0.5)  # exported: the exporter's connection is open
    assert closed(2), os.readlink("/proc/self/fd/2")
else:
    get("/before")
if how == "close":
    os.close(2)
    fd = open_out()
elif how == "close_range":
    assert libc.close_range(2, 2, 0) == 0
    fd = open_out()
elif how == "fclose":  # glibc's close, past the hooks
    assert libc.fclose(cstderr.value) == 0
    fd = open_out()
elif how == "socket":  # a connection takes number 2: what is written there goes to a peer
    import socket
    os.close(2)
    s = socket.create_connection(("127.0.0.1", int(sys.argv[4])))
    fd = s.fileno()
elif how == "started_closed":
    fd = open_out()
elif how == "dup2":
    f = open_out()
    os.dup2(f, 2)
    os.close(f)
    fd = 2
elif how == "freopen":  # unseen by the hooks; stdio's stderr still on 2
    assert libc.freopen(out.encode(), b"w", cstderr.value)
    fd = 2
elif how == "none":
    fd = 2
assert fd == 2, fd
get("/after")
os.write(2, b"the program's own line\n")
"""


@pytest.fixture
def prog(tmp_path):
    p = tmp_path / "prog.py"
    p.write_text(PROG)
    return str(p)


def shim(collector, **kw):
    # console and OTLP: the collector shows the program was traced throughout
    return shim_env(collector, OTEL_TRACES_EXPORTER="otlp,console", AUTOTRACE_LOG_LEVEL="debug",
                    **kw)


def paths_exported(collector, n):
    return sorted(s["attributes"]["url.full"].rsplit("/", 1)[1] for s in collector.wait_for(n))


@pytest.mark.parametrize("how", ["close", "close_range", "fclose"])
def test_a_closed_stderr_number_is_the_programs(how, prog, collector, http_server, tmp_path):
    out = tmp_path / "data"
    r = run(["/usr/bin/python3", prog, how, str(http_server.port), str(out)], shim(collector))
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == b"the program's own line\n"
    assert paths_exported(collector, 2) == ["after", "before"]
    assert b"autotrace[" in r.stderr  # while it was the program's stderr, the shim spoke
    # the exporter process still has the program's first stderr
    assert (b"/after" in r.stderr) == PROCESS


def test_started_without_stderr(prog, collector, http_server, tmp_path):
    out = tmp_path / "data"
    r = run(["sh", "-c", 'exec "$@" 2>&-', "sh", "/usr/bin/python3", prog, "started_closed",
             str(http_server.port), str(out)], shim(collector))
    assert r.returncode == 0
    assert out.read_bytes() == b"the program's own line\n"
    assert paths_exported(collector, 2) == ["after", "before"]


def test_a_connection_on_number_2_carries_only_the_programs_bytes(prog, collector, http_server):
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    got = []

    def peer():
        c, _ = lsn.accept()
        got.append(read_all(c))
        c.close()

    t = threading.Thread(target=peer)
    t.start()
    r = run(["/usr/bin/python3", prog, "socket", str(http_server.port), "-",
             str(lsn.getsockname()[1])], shim(collector))
    t.join(10)
    lsn.close()
    assert r.returncode == 0, r.stderr
    assert b"".join(got) == b"the program's own line\n"
    assert paths_exported(collector, 2) == ["after", "before"]


@pytest.mark.parametrize("how", ["dup2", "freopen"])
def test_a_redirected_stderr_is_followed(how, prog, collector, http_server, tmp_path):
    out = tmp_path / "log"
    r = run(["/usr/bin/python3", prog, how, str(http_server.port), str(out)], shim(collector))
    assert r.returncode == 0, r.stderr
    assert paths_exported(collector, 2) == ["after", "before"]
    text = out.read_text()
    assert "the program's own line\n" in text
    # the exit's counts, and the console line of the request made after the
    # redirection, went where the program now sends its stderr
    assert "spans queued 2" in text, text
    after = [l for l in text.splitlines() if '" CLIENT ' in l and "/after" in l]
    assert bool(after) != PROCESS, text
    assert (b"/after" in r.stderr) == PROCESS


# An inetd-style service: its client's connection is its stdin, stdout and
# stderr (inetd, systemd's Accept=yes), or it puts it there itself after
# accept (argv[2] "dup2", a forking server). It reads a line, makes a
# request of its own, answers on stdout.
SERVICE = r"""
import http.client, os, socket, sys
port, how = int(sys.argv[1]), sys.argv[2]
if how == "dup2":
    lsn = socket.socket(fileno=0)
    conn, _ = lsn.accept()
    for fd in (0, 1, 2):
        os.dup2(conn.fileno(), fd)
line = os.read(0, 100)
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("GET", "/inetd")
c.getresponse().read()
os.write(1, b"reply to " + line)
"""


@pytest.mark.parametrize("how", ["inherited", "dup2"])
def test_a_service_whose_stderr_is_its_client(how, collector, http_server, tmp_path):
    prog = tmp_path / "service.py"
    prog.write_text(SERVICE)
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    env = shim(collector)
    if how == "inherited":  # as inetd starts it
        cli = socket.create_connection(lsn.getsockname())
        conn, _ = lsn.accept()
        p = subprocess.Popen(["/usr/bin/python3", str(prog), str(http_server.port), how],
                             stdin=conn, stdout=conn, stderr=conn, env=env)
        conn.close()
    else:  # stdin the listening socket; stderr starts as a pipe we read
        p = subprocess.Popen(["/usr/bin/python3", str(prog), str(http_server.port), how],
                             stdin=lsn, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
        cli = socket.create_connection(lsn.getsockname())
    lsn.close()
    cli.sendall(b"hello\n")
    cli.shutdown(socket.SHUT_WR)
    cli.settimeout(20)
    got = read_all(cli)
    cli.close()
    _, err = p.communicate(timeout=20)
    assert p.returncode == 0
    assert got == b"reply to hello\n"
    assert paths_exported(collector, 1) == ["inetd"]
    if how == "dup2":  # before the socket was put there, the pipe was its stderr
        assert b"autotrace[" in err


def test_a_stderr_on_a_local_socket_gets_the_diagnostics(prog, collector, http_server, tmp_path):
    # journald's stream (systemd's StandardError=journal) is a unix socket
    a, b = socket.socketpair()
    p = subprocess.Popen(["/usr/bin/python3", prog, "none", str(http_server.port), "-"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=a,
                         env=shim(collector))
    a.close()
    p.wait(20)
    b.settimeout(5)
    got = read_all(b)
    assert p.returncode == 0
    assert b'" CLIENT ' in got and b"/after" in got and b"spans queued 2" in got, got


@pytest.mark.parametrize("how", ["none", "close"])
def test_log_file(how, prog, collector, http_server, tmp_path):
    # AUTOTRACE_LOG_FILE: the diagnostics go there, whatever descriptor 2 is;
    # a relative path is from where the program started
    out = tmp_path / "data"
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_LOG_FILE="autotrace.log")
    r = run(["/usr/bin/python3", prog, how, str(http_server.port), str(out)], env,
            cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    log = (tmp_path / "autotrace.log").read_text()
    assert "autotrace[" not in r.stderr.decode()
    lines = log.splitlines()
    assert all(re.match(r"autotrace\[\d+\]: ", l) for l in lines), log
    assert any("spans queued 2" in l for l in lines), log
    if how == "close":
        assert out.read_bytes() == b"the program's own line\n"
