"""AUTOTRACE_EXPORTER_MODE=process: the exporter runs in a helper process
(this library run as a program, reporter/helper.c) fed through a shared
memfd ring. Real python3 programs under the shim against the recording HTTP
server; spans decoded by the collector with the official OTLP protos. What
matters to the host: it stays single-threaded, it never sees the helper as
a child (no SIGCHLD, wait() says ECHILD), the helper holds none of its
descriptors, and fork, exec and a killed helper cost it nothing."""
import os
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import TASK_NAMES_PY, process_state, program, run, shim_env, wait_gone

PY = "/usr/bin/python3"

# What every script does first: one traced HTTP request (the first span
# starts the exporter), then prints facts about itself as key=value lines.
PRELUDE = TASK_NAMES_PY + textwrap.dedent("""
    import http.client, os, signal, sys, time
    def request(port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/p%d" % os.getpid())
        body = c.getresponse().read()
        c.close()
        return body
    def threads():
        for line in open("/proc/self/status"):
            if line.startswith("Threads:"):
                return int(line.split()[1])
    def others():
        # the names of the threads but the main one, less the shim's
        # short-lived background thread (autotrace-bg: libunwind).
        # A thread of the shim names itself once it runs: until then it has
        # its creator's name (the program's, or the exporter's for the
        # background thread), so wait (at most 2 s) for every name to settle
        main = open("/proc/self/comm").read().strip()
        for _ in range(200):
            names = [n for t, n in task_names().items()
                     if t != os.getpid() and n != "autotrace-bg"]
            if main not in names and len(names) == len(set(names)):
                break
            time.sleep(0.01)
        return ",".join(sorted(names)) or "none"
    def helper_of(pid):
        # "autotrace-exporter <pid>" in ps
        want = b"autotrace-exporter\\0%d\\0" % pid
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if open("/proc/%s/cmdline" % d, "rb").read() == want:
                        return int(d)
                except OSError:
                    pass
        return None
    def out(**kw):
        for k, v in kw.items():
            print("%s=%s" % (k, v), flush=True)
    def child_seen():
        # what waitpid(-1) says: a child of this process, or none at all
        try:
            os.waitpid(-1, os.WNOHANG)
            return "child"
        except ChildProcessError:
            return "ECHILD"
""")


def script(body, port, env, timeout=30):
    src = PRELUDE + "PORT = %d\n" % port + textwrap.dedent(body)
    r = run([PY, "-c", src], env, timeout=timeout)
    facts = {}
    for line in r.stdout.decode().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            facts[k] = v
    return r, facts


def penv(collector, **kw):
    return shim_env(collector, AUTOTRACE_EXPORTER_MODE="process", **kw)


def client_spans(collector, n, timeout=10):
    return collector.wait_for(n, timeout=timeout, pred=lambda s: s["kind"] == "CLIENT")


def test_spans_arrive_and_the_app_stays_single_threaded(collector, http_server):
    r, f = script("""
        out(body=request(PORT).decode().strip(), threads=threads(), pid=os.getpid(),
            helper=helper_of(os.getpid()))
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    assert f["body"] == "hello"
    # no exporter thread in the app: glibc stays on its single-threaded paths
    assert f["threads"] == "1"
    assert f["helper"] != "None"
    (s,) = client_spans(collector, 1)
    assert s["attributes"]["url.full"].endswith("/p" + f["pid"])
    # the resource is the app's, not the helper's
    assert s["resource"]["process.pid"] == int(f["pid"])
    assert s["resource"]["process.executable.name"] == "python3"


def test_the_helper_names_the_apps_calling_function(collector, http_server):
    # curl_client calls curl_easy_perform from its static function perform():
    # the helper reads the app's maps and the executable's .symtab and DWARF
    r = run([program("curl_client"), "get", http_server.url, "1"], penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    a = collector.wait_for(1)[0]["attributes"]
    assert a["code.function.name"] == "perform"
    assert a["code.file.path"].endswith("tests/programs/curl_client.c")


def test_the_same_program_in_thread_mode_has_the_exporter_thread(collector, http_server):
    # the test above could not fail if the span did not start an exporter
    r, f = script("""
        out(body=request(PORT).decode().strip(), others=others(),
            helper=helper_of(os.getpid()))
    """, http_server.port, shim_env(collector, AUTOTRACE_EXPORTER_MODE="thread"))
    assert r.returncode == 0, r.stderr.decode()
    assert f["others"] == "autotrace-exp"
    assert f["helper"] == "None"
    assert len(client_spans(collector, 1)) == 1


def test_the_helper_is_not_the_apps_child(collector, http_server):
    r, f = script("""
        got = []
        signal.signal(signal.SIGCHLD, lambda *a: got.append(1))
        request(PORT)
        time.sleep(0.3)
        w = child_seen()
        h = helper_of(os.getpid())
        out(wait=w, sigchld=len(got), helper=h, same_session=os.getsid(h) == os.getsid(0),
            ppid=open("/proc/%d/stat" % h).read().rsplit(")", 1)[1].split()[1])
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    assert f["wait"] == "ECHILD"
    assert f["sigchld"] == "0"
    assert f["ppid"] != str(os.getpid())
    # a session of its own: the terminal's ^C is not for it
    assert f["same_session"] == "False"
    assert len(client_spans(collector, 1)) == 1


def test_the_helper_holds_none_of_the_apps_descriptors(collector, http_server):
    r, f = script("""
        import socket
        rd, wr = os.pipe()
        os.set_inheritable(rd, True)  # as a legacy C program's would be
        os.set_inheritable(wr, True)
        s = socket.socket()
        s.set_inheritable(True)
        request(PORT)
        h = helper_of(os.getpid())
        fds = {}
        for fd in os.listdir("/proc/%d/fd" % h):
            fds[fd] = os.readlink("/proc/%d/fd/%s" % (h, fd))
        mine = [os.readlink("/proc/self/fd/%d" % fd) for fd in (rd, wr, s.fileno())]
        out(fds=repr(sorted(fds.items())), stderr=os.readlink("/proc/self/fd/2"),
            mine=repr(mine))
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    fds = dict(eval(f["fds"]))
    # stdin, stdout, the app's stderr, the ring, the app's pidfd: not the
    # inheritable pipe and socket; past them, only the helper's own
    # connection to the collector (made when it starts)
    assert not set(eval(f["mine"])) & set(fds.values()), (fds, f["mine"])
    assert sorted(fds)[:5] == ["0", "1", "2", "3", "4"], fds
    assert all(fds[k].startswith("socket:") for k in sorted(fds)[5:]) and len(fds) <= 6, fds
    assert fds["0"] == fds["1"] == "/dev/null"
    assert fds["2"] == f["stderr"]
    assert fds["3"].startswith("/memfd:autotrace-queue")
    assert "pidfd" in fds["4"]
    assert len(client_spans(collector, 1)) == 1


def test_fork_child_gets_its_own_exporter(collector, http_server):
    r, f = script("""
        request(PORT)
        pid = os.fork()
        if pid == 0:
            request(PORT)
            os._exit(0)
        os.waitpid(pid, 0)
        try:
            os.waitpid(-1, os.WNOHANG)
            w = "child"
        except ChildProcessError:
            w = "ECHILD"
        out(parent=os.getpid(), child=pid, wait=w)
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    assert f["wait"] == "ECHILD"
    spans = client_spans(collector, 2)
    assert len(spans) == 2
    by_pid = {s["resource"]["process.pid"]: s for s in spans}
    assert set(by_pid) == {int(f["parent"]), int(f["child"])}
    assert by_pid[int(f["child"])]["attributes"]["url.full"].endswith("/p" + f["child"])


def test_exec_ends_the_old_helper(collector, http_server):
    env = penv(collector)
    src = PRELUDE + "PORT = %d\n" % http_server.port + textwrap.dedent("""
        request(PORT)
        out(helper=helper_of(os.getpid()))
        os.execv("/bin/sleep", ["sleep", "3"])
    """)
    p = subprocess.Popen([PY, "-c", src], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        line = p.stdout.readline().decode().strip()
        assert line.startswith("helper=") and line != "helper=None", line
        helper = int(line.split("=")[1])
        spans = client_spans(collector, 1)  # exported before the exec
        assert spans[0]["resource"]["process.pid"] == p.pid
        # the app's pid lives on as sleep; the helper must not
        state = wait_gone(helper, 2.5)
        assert state in ("gone", "Z", "X"), "helper still %s after the exec" % state
        assert p.poll() is None  # and the app is still running (sleep 3)
        assert open("/proc/%d/comm" % p.pid).read().strip() == "sleep"
    finally:
        p.kill()
        p.wait()


def killed_helper(collector, http_server, settle):
    """The helper killed after the first request (once it had settle seconds
    to export it), then a second request: the spans it exported, how long
    the program took, its result and facts."""
    t0 = time.time()
    r, f = script("""
        a = request(PORT)
        time.sleep(%s)
        h = helper_of(os.getpid())
        os.kill(h, signal.SIGKILL)
        time.sleep(0.2)
        b = request(PORT)  # queued; nobody will export it
        out(a=a.decode().strip(), b=b.decode().strip())
    """ % settle, http_server.port, penv(collector, AUTOTRACE_EXIT_TIMEOUT=3000))
    took = time.time() - t0
    assert r.returncode == 0, r.stderr.decode()
    assert f["a"] == "hello" and f["b"] == "hello"
    # the exit flush sees the helper dead instead of waiting its 3 s bound
    assert took < 2.5 + settle, took
    assert b"exporter process has exited" in r.stderr
    return r


def test_a_killed_helper_costs_the_app_nothing(collector, http_server):
    # killed at once: possibly still starting, before it said it serves
    killed_helper(collector, http_server, 0)


def test_a_killed_helper_after_its_first_export(collector, http_server):
    killed_helper(collector, http_server, 0.5)
    # the first span went out before the kill (schedule delay 100 ms); the
    # second never does
    assert len(client_spans(collector, 2, timeout=2)) == 1


def test_stats_at_exit_come_from_the_helper(collector, http_server):
    r, f = script("""
        for i in range(5):
            request(PORT)
    """, http_server.port, penv(collector, AUTOTRACE_LOG_LEVEL="info"))
    assert r.returncode == 0, r.stderr.decode()
    assert len(client_spans(collector, 5)) == 5
    err = r.stderr.decode()
    assert "spans queued 5, exported 5," in err, err


def test_the_helper_lets_go_of_stderr_when_the_app_exits(tmp_path):
    # a collector that accepts and never answers: the helper is still
    # exporting (AUTOTRACE_EXIT_TIMEOUT after the app is gone) when the app
    # exits; whoever reads the app's stderr pipe must see its end at once
    import socket
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    port = hung.getsockname()[1]
    try:
        env = shim_env(None, AUTOTRACE_EXPORTER_MODE="process", AUTOTRACE_EXIT_TIMEOUT=300,
                       OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:%d" % port,
                       OTEL_BSP_SCHEDULE_DELAY=1)
        # OTEL_BSP_SCHEDULE_DELAY=1: the helper is already in a POST (stuck)
        # when the app exits, so only its stderr thread can let go
        env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "8000"
        src = PRELUDE + textwrap.dedent("""
            import socket
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
            c = socket.create_connection(s.getsockname()); a, _ = s.accept()
            c.sendall(b"GET /x HTTP/1.1\\r\\nHost: h\\r\\n\\r\\n"); a.recv(100)
            a.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"); c.recv(100)
            time.sleep(0.5)
            out(helper=helper_of(os.getpid()))
        """)
        p = subprocess.Popen([PY, "-c", src], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        line = p.stdout.readline().decode().strip()
        assert line.startswith("helper=") and line != "helper=None", line
        helper = int(line.split("=")[1])
        p.wait(20)
        exited = time.time()
        p.stderr.read()  # returns at end-of-file: when no process holds the pipe
        eof = time.time() - exited
        alive = process_state(helper) not in ("gone", "Z", "X")
        assert eof < 1.0, eof
        # the test could not fail if the helper had already gone
        assert alive, "the helper was not still exporting"
    finally:
        hung.close()


def test_a_program_that_closed_the_rings_descriptor_falls_back_to_the_thread(
        collector, http_server):
    # a daemon that closes every descriptor at start-up: the number the
    # shim's memfd had now belongs to the program's own socket, which must
    # never become the helper's ring; the exporter is a thread instead
    r, f = script("""
        os.closerange(3, 4096)
        out(body=request(PORT).decode().strip(), others=others(),
            helper=helper_of(os.getpid()))
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    assert f["body"] == "hello"
    assert f["helper"] == "None"
    assert f["others"] == "autotrace-exp"
    assert b"cannot start the exporter process; exporting from a thread instead" in r.stderr
    (s,) = client_spans(collector, 1)
    assert s["resource"]["process.pid"] > 0


REAPER_FALLBACK = b"the exporter process would become its child; exporting from a thread instead"


def test_a_child_subreaper_exports_from_a_thread(collector, http_server):
    # orphans go to a child subreaper: the helper, left by its short-lived
    # middle process, would be this program's own child (SIGCHLD, wait()
    # returning it); a supervisor waiting for all its children would wait
    # for ever for a helper that waits for it
    r, f = script("""
        import ctypes
        assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
        body = request(PORT).decode().strip()
        time.sleep(0.3)
        out(body=body, wait=child_seen(), others=others(), helper=helper_of(os.getpid()))
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    assert f["body"] == "hello"
    assert f["wait"] == "ECHILD"
    assert f["helper"] == "None"
    assert f["others"] == "autotrace-exp"
    assert b"this program is a child subreaper: " + REAPER_FALLBACK in r.stderr
    assert len(client_spans(collector, 1)) == 1


def test_pid_1_waiting_for_all_its_children_ends(collector, http_server):
    # the program is its PID namespace's init, as a service is in a
    # container; it waits for every child it has before it exits
    unshare = ["unshare", "--pid", "--fork", "--kill-child"]
    if subprocess.run(unshare + ["true"], capture_output=True).returncode:
        pytest.skip("cannot make a PID namespace here (unshare --pid)")
    src = PRELUDE + "PORT = %d\n" % http_server.port + textwrap.dedent("""
        body = request(PORT).decode().strip()
        try:
            w = os.wait()
        except ChildProcessError:
            w = "ECHILD"
        out(pid=os.getpid(), body=body, wait=w, helper=helper_of(os.getpid()))
    """)
    r = run(unshare + [PY, "-c", src], penv(collector), timeout=20)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "pid=1\n" in out and "body=hello\n" in out, out
    assert "wait=ECHILD\n" in out and "helper=None\n" in out, out
    assert b"(PID 1): " + REAPER_FALLBACK in r.stderr
    (s,) = client_spans(collector, 1)
    assert s["resource"]["process.pid"] == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_the_helper_drops_root_when_the_program_does(collector, http_server):
    # a daemon makes a traced call as root, then drops to nobody: its
    # exporter process must not stay root, and goes on exporting
    r, f = script("""
        def creds(pid):
            return {l.split(":")[0]: l.split(":", 1)[1].split()
                    for l in open("/proc/%d/status" % pid)
                    if l.split(":")[0] in ("Uid", "Gid", "Groups")}
        request(PORT)
        h = helper_of(os.getpid())
        before = creds(h)
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        t = time.time()
        while creds(h)["Uid"][0] != "65534" and time.time() - t < 3:
            time.sleep(0.01)
        after = creds(h)
        request(PORT)
        time.sleep(0.3)
        out(before=before, after=after, took=round(time.time() - t, 3),
            helper_alive=open("/proc/%d/stat" % h).read().rsplit(")", 1)[1].split()[0] not in "ZX")
    """, http_server.port, penv(collector))
    assert r.returncode == 0, r.stderr.decode()
    before, after = eval(f["before"]), eval(f["after"])
    assert before["Uid"][:3] == ["0", "0", "0"], before
    assert after["Uid"][:3] == ["65534"] * 3 and after["Gid"][:3] == ["65534"] * 3, after
    assert after["Groups"] == [], after
    assert f["helper_alive"] == "True"
    assert b"spans are no longer exported" not in r.stderr, r.stderr.decode()
    # the span made after the drop is exported by the helper as nobody
    assert len(client_spans(collector, 2)) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="a set-user-ID program needs root")
def test_an_exec_of_a_set_user_id_program_ends_the_helper_quietly(collector, http_server):
    # nobody's program makes a span, then execs a set-user-ID root program
    # (no LD_PRELOAD there): the pid the helper serves is root now, which is
    # no credential to follow but the end of its program
    import tempfile
    with tempfile.TemporaryDirectory(prefix="autotrace-suid-") as d:  # nobody reads it
        os.chmod(d, 0o755)
        suid_exec(collector, http_server, d)


def suid_exec(collector, http_server, d):
    from conftest import LIB
    import shutil
    lib, sleeper = os.path.join(d, "lib.so"), os.path.join(d, "suidsleep")
    shutil.copy(LIB, lib)
    shutil.copy("/bin/sleep", sleeper)
    os.chmod(lib, 0o755)
    os.chmod(sleeper, 0o4755)
    src = textwrap.dedent("""
        import http.client, os, sys
        c = http.client.HTTPConnection("127.0.0.1", %d, timeout=5)
        c.request("GET", "/before-exec")
        c.getresponse().read()
        c.close()
        os.execv(sys.argv[1], ["suidsleep", "0.8"])
    """ % http_server.port)
    # the default schedule: the helper wakes every 200 ms only to watch
    env = penv(collector, LD_PRELOAD=lib, OTEL_BSP_SCHEDULE_DELAY=5000)
    p = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          PY, "-c", src, sleeper], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.4)
    uids = [l.split()[1:] for l in open("/proc/%d/status" % p.pid) if l.startswith("Uid:")]
    _, err = p.communicate(timeout=20)
    assert p.returncode == 0, err.decode()
    # the test could not fail if the exec'd program had not become root
    assert uids == [["65534", "0", "0", "0"]], uids
    assert b"cannot take the credentials" not in err, err.decode()
    (s,) = client_spans(collector, 1)
    assert s["attributes"]["url.full"].endswith("/before-exec")


def test_a_relative_ld_preload_and_a_new_working_directory(collector, http_server):
    # LD_PRELOAD=build/libautotrace.so, then the program changes directory:
    # the helper is started from the library's path in /proc/self/maps
    from conftest import LIB, ROOT
    env = penv(collector, LD_PRELOAD=os.path.relpath(LIB, ROOT))
    src = PRELUDE + "PORT = %d\n" % http_server.port + textwrap.dedent("""
        os.chdir("/")
        out(body=request(PORT).decode().strip(), threads=threads(),
            helper=helper_of(os.getpid()))
    """)
    r = run([PY, "-c", src], env, cwd=ROOT)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert "threads=1" in out and "helper=None" not in out, out + r.stderr.decode()
    assert len(client_spans(collector, 1)) == 1
