#!/usr/bin/python3
"""make bench: measures what the shim costs its host and writes bench/RESULTS.md.

Everything runs on this machine against servers the script starts itself on
127.0.0.1 (the bench HTTP server, redis-server, mariadbd) and tears down.
Timing loops pin client and server to CPU 0 (taskset), as the issue asks.
Nothing here asserts a timing: it reports, next to each budget.

Environment: BUILD (the build directory, default build), BENCH_QUICK=1 (small
counts, for trying the script), BENCH_OUT (where to write, default
bench/RESULTS.md), BENCH_SECTIONS (comma list of callgrind, e2e, lines,
micro, exporter, scale, memory: run only those) and BENCH_LOOPS (comma list of loop
keys: curl, http_client, http_server, redis, mysql, file, unix, stdio, stdio_read, dprintf, span_db,
span_leaf, span_min) for a partial run while working on one hook.
"""
import datetime
import glob
import os
import platform
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.path.join(ROOT, os.environ.get("BUILD", "build")))
LIB = os.path.join(BUILD, "libautotrace.so")
CORE = os.path.join(BUILD, "libatcore.a")
BIN = os.path.join(BUILD, "bench")
QUICK = os.environ.get("BENCH_QUICK") == "1"
OUT = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "RESULTS.md"))
PIN = ["taskset", "-c", "0"]
SECTIONS = [x for x in os.environ.get("BENCH_SECTIONS", "").split(",") if x]
LOOPS = [x for x in os.environ.get("BENCH_LOOPS", "").split(",") if x]
ROUNDS = 3 if QUICK else 9
# End-to-end: bare, bare + idle thread and the shim run this many pairwise
# rounds, the tracers (strace, ltrace, uftrace: slow) only the first ROUNDS.
# Run to run, one loop's time moves by ~10% on these machines: the median
# ratio of 9 rounds cannot tell 1.02 from 1.10, of 25 it narrows to ~±3%.
E2E_ROUNDS = 3 if QUICK else 25
LINES_ITERS = 30 if QUICK else 60  # lackey: iterations per loop
# The cold-cache span row: KiB walked before each call (L2 is 512 KiB a core
# on these machines; L3, 32 MiB, is mostly kept).
EVICT_KB = 2048
# Single calls of the Redis and MySQL hooks (section 3): pairwise rounds of
# short runs. A call's p50 drifts with the machine by up to 2 µs over a few
# seconds (measured: bare alone, 24 runs in a row, 5228-7411 ns); short runs
# keep a round's variants close in time. At 3ea50ee 45 rounds gave 95%
# intervals of the median from ±35 to ±200 ns, widest for the exporter process.
CALL_ROUNDS = 3 if QUICK else 45
CALL_VARIANTS = ("bare", "shim", "thread", "proc", "off")

TMP = tempfile.mkdtemp(prefix="atbench-")
procs = []          # servers we started, stopped at exit
report = []         # markdown lines
budget_rows = []    # (budget, measured, verdict)
notes = []
commands = []
build_cmds = []


def md(*lines):
    report.extend(lines)


def q(n, quick):
    return quick if QUICK else n


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def cmdline(argv, env_extra=None):
    pre = " ".join("%s=%s" % (k, v) for k, v in (env_extra or {}).items())
    s = " ".join(argv)
    return (pre + " " + s).strip()


# ---------------------------------------------------------------- building

def at_libs():
    """The libraries libautotrace.so links (make passes $(LIBS) as AT_LIBS)."""
    v = os.environ.get("AT_LIBS")
    if not v:
        m = re.search(r"^LIBS :=(.*)$", open(os.path.join(ROOT, "Makefile")).read(), re.M)
        v = m.group(1) if m else "-ldl -lpthread"
    return v.split()


def build_programs():
    os.makedirs(BIN, exist_ok=True)
    have_jaeger = os.path.exists(os.path.join(ROOT, "reporter", "jaeger.h"))
    for src in sorted(glob.glob(os.path.join(ROOT, "bench", "*.c"))):
        name = os.path.basename(src)[:-2]
        text = open(src).read()
        m = re.search(r"^// LIBS:(.*)$", text, re.M)
        libs = m.group(1).split() if m else []
        extra = []
        if "ATCORE" in libs:
            libs = [CORE if x == "ATCORE" else x for x in libs] + at_libs()
        if name == "exporter_tput" and have_jaeger:
            extra = ["-DHAVE_JAEGER"]
        out = os.path.join(BIN, name)
        if re.search(r"^ \* BUILD: shared", text, re.M):  # a library to preload
            extra = ["-shared", "-fPIC"]
            out += ".so"
        argv = ["gcc", "-O2", "-g", "-Wall", "-Wextra", "-pthread"] + extra + \
               ["-o", out, src] + libs
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode and name == "exporter_tput" and extra:
            notes.append("exporter_tput did not build against reporter/jaeger.h (%s); "
                         "built without the Jaeger encoders" % r.stderr.strip().splitlines()[-1:])
            argv = [a for a in argv if a not in extra]
            r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode:
            # the tree changes under us: report it, run what can run
            notes.append("bench/%s.c does not build against this tree; what needs it is "
                         "skipped: %s" % (name, (r.stderr.strip().splitlines() or ["?"])[0]))
            log("cannot build %s:\n%s" % (src, r.stderr))
        build_cmds.append(" ".join(argv).replace(ROOT + "/", "").replace(BUILD, "$BUILD"))


def prog(name):
    return os.path.join(BIN, name)


def exported_symbols():
    r = subprocess.run(["nm", "-D", "--defined-only", LIB], capture_output=True, text=True)
    return {ln.split()[-1].split("@")[0] for ln in r.stdout.splitlines() if ln.strip()}


# ---------------------------------------------------------------- servers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def start(argv, env=None, **kw):
    p = subprocess.Popen(argv, env=env, **kw)
    procs.append(p)
    return p


def stop(p, sig_timeout=5):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(sig_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start_httpd(cpu, env=None, maxreq=0, wrapper=()):
    p = start(["taskset", "-c", str(cpu)] + list(wrapper) + [prog("httpd"), "0", str(maxreq)],
              env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    port = int(p.stdout.readline())
    return p, port


def start_redis():
    if not shutil.which("redis-server"):
        return None, None
    port = free_port()
    p = start(PIN + ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", TMP], stdout=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL)
    return (p, port) if wait_port(port) else (None, None)


def start_mariadb():
    if not shutil.which("mariadbd") or not shutil.which("mariadb-install-db"):
        return None, None
    d = os.path.join(TMP, "mysql")
    r = subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + d, "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       capture_output=True, text=True)
    if r.returncode:
        notes.append("mariadb-install-db failed: MySQL loops skipped")
        return None, None
    port = free_port()
    p = start(PIN + ["mariadbd", "--no-defaults", "--datadir=" + d, "--socket=" + d + "/sock",
                     "--port=%d" % port, "--bind-address=127.0.0.1", "--user=root",
                     "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--skip-grant-tables",
                     "--pid-file=" + d + "/pid"],
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (p, port) if wait_port(port, 60) else (None, None)


class Blackhole:
    """A collector that accepts TCP but never answers (a hung collector)."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(128)
        self.port = self.s.getsockname()[1]


# ---------------------------------------------------------------- running

def parse_kv(out):
    for line in out.splitlines()[::-1]:
        if "=" in line:
            return {k: v for k, v in (t.split("=", 1) for t in line.split() if "=" in t)}
    raise RuntimeError("no result line in: %r" % out)


def run(argv, env, timeout=300):
    """Runs argv; its key=value result line, plus cpu_s: the user+system time
    of the process and everything it waited for (all its threads)."""
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    end = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.time() > end:
            p.kill()
            p.wait()
            raise RuntimeError("%s timed out" % " ".join(argv))
        time.sleep(0.005)
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if p.returncode:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), p.returncode, stderr[-800:]))
    d = parse_kv(stdout)
    d["cpu_s"] = ru.ru_utime + ru.ru_stime
    d["minflt"] = ru.ru_minflt
    d["stderr"] = stderr
    return d


def base_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "AUTOTRACE_", "JAEGER_")) and k != "LD_PRELOAD"}
    return env


IDLE = os.path.join(BIN, "idle_thread.so")


def idle_preload():
    """The path of idle_thread.so as LD_PRELOAD gives it, padded with
    slashes to the length of the bare variant's BENCH_PAD_LD_PRELOAD entry,
    so that "thread" and "bare" have environments of exactly the same size."""
    want = len("BENCH_PAD_LD_PRELOAD") + len(LIB) - len("LD_PRELOAD")
    d, b = os.path.split(IDLE)
    return d + "/" * max(1, want - len(d) - len(b)) + b


def variant_env(kind, sink_port):
    """bare / shim / disabled / thread (bare + idle_thread.so: one idle
    thread, so glibc's multi-threaded paths) / proc (the shim with its
    exporter in a helper process, AUTOTRACE_EXPORTER_MODE=process) / off (the
    shim with nothing sampled, OTEL_TRACES_SAMPLER=always_off: what a call
    costs when its trace is not sampled), plus the shim's exporter aimed at
    the sink."""
    env = base_env()
    # Every variant has the same number of environment variables of the same
    # sizes: a host's getenv() (libcurl calls it on every transfer) scans the
    # whole environment, and a longer one is not the shim's cost.
    extra = {"BENCH_PAD_LD_PRELOAD": LIB,
             "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % sink_port,
             "BENCH_PAD_ENABLED": "1", "BENCH_PAD_LOG_LEVEL": "info",
             "BENCH_PAD_EXPORTER_MODE": "process", "BENCH_PAD_SAMPLER": "always_off"}
    if kind in ("shim", "disabled", "proc", "off"):
        del extra["BENCH_PAD_LD_PRELOAD"]
        extra["LD_PRELOAD"] = LIB
        # info: the exit stats give the exporter thread's CPU time
        del extra["BENCH_PAD_LOG_LEVEL"]
        extra["AUTOTRACE_LOG_LEVEL"] = "info"
    if kind == "thread":
        del extra["BENCH_PAD_LD_PRELOAD"]
        extra["LD_PRELOAD"] = idle_preload()
    if kind == "proc":
        del extra["BENCH_PAD_EXPORTER_MODE"]
        extra["AUTOTRACE_EXPORTER_MODE"] = "process"
    if kind == "off":
        del extra["BENCH_PAD_SAMPLER"]
        extra["OTEL_TRACES_SAMPLER"] = "always_off"
    if kind == "disabled":
        del extra["BENCH_PAD_ENABLED"]
        extra["AUTOTRACE_ENABLED"] = "0"
    env.update(extra)
    return env, extra


def med(xs):
    return statistics.median(xs)


def median_ci(xs, level=0.95, draws=2000):
    """Bootstrap interval of the median of xs (resampled with replacement,
    a fixed seed: the same data give the same interval)."""
    rnd = random.Random(1)
    n = len(xs)
    meds = sorted(statistics.median(rnd.choice(xs) for _ in range(n)) for _ in range(draws))
    lo = meds[int((1 - level) / 2 * draws)]
    hi = meds[min(draws - 1, int((1 + level) / 2 * draws))]
    return lo, hi


def fmt_mm(xs, f="%.0f"):
    return (f + " (" + f + "–" + f + ")") % (med(xs), min(xs), max(xs))


# ---------------------------------------------------------------- 1. callgrind

def cg_totals(path):
    for ln in open(path):
        if ln.startswith("totals:"):
            return int(ln.split()[1])
    return 0


def callgrind_total(argv, env, tag, toggle="bench_loop"):
    """Instructions executed by the main thread inside `toggle` (and what it
    calls). --separate-threads=yes writes one profile per thread; only
    thread 1's is read, so the exporter thread never counts there. The
    exporter's own work is collected too (--toggle-collect=export_all: every
    batch it finalizes, encodes and posts) in the other threads' profiles,
    returned apart with the spans it exported (the info-level exit stats)."""
    out = os.path.join(TMP, "cg-" + tag)
    vg = ["valgrind", "--tool=callgrind", "--toggle-collect=" + toggle,
          "--toggle-collect=export_all", "--separate-threads=yes",
          "--callgrind-out-file=" + out + ".%p"]
    p = subprocess.Popen(vg + argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    stdout, stderr = p.communicate(timeout=600)
    r = subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr)
    if r.returncode:
        raise RuntimeError("callgrind %s: %s" % (tag, r.stderr[-600:]))
    # the process's own profile: with the exporter in a process, the
    # children that start it (valgrind follows them until they exec) write
    # profiles of their own
    files = ["%s.%d-01" % (out, p.pid)]
    total = cg_totals(files[-1])
    others = [f for f in glob.glob(files[-1][:-len("01")] + "*") if f != files[-1]]
    exported = re.findall(r"exported (\d+),", r.stderr)
    exp = (sum(cg_totals(f) for f in others), int(exported[-1])) if exported else None
    return total, files[-1], r.stdout, exp


def hook_names():
    """The interposed functions (exports.map): a call from the shim to one of
    these names in another object is the real function it wraps."""
    text = re.sub(r"/\*.*?\*/", "", open(os.path.join(ROOT, "exports.map")).read(), flags=re.S)
    body = text.split("global:")[1].split("local:")[0]
    return {w.strip() for w in body.split(";") if w.strip()}


def cg_scan(path, obj="libautotrace"):
    """One pass over a callgrind profile (thread 1's file): the instructions
    executed inside obj itself (not in what it calls), the calls into obj
    from other objects (how many times the host crossed a hook), and the
    whole cost of obj's calls into other objects except to the real
    functions it wraps (exports.map's names): the clock, memcpy, malloc…
    Exact, where a difference of totals also carries how the host library's
    own path moved between two runs."""
    hooks = hook_names()
    obs, fns = {}, {}
    cur_ob = callee_ob = callee_fn = None
    excl = entries = outside = 0
    call_line = False  # the line after calls= is the call's inclusive cost
    count_call = False

    def named(table, ln):
        m = re.match(r"[a-z]+=\((\d+)\)\s*(.*)", ln.rstrip("\n"))
        if not m:
            return ln.split("=", 1)[1].strip()
        if m.group(2):
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), "")

    for ln in open(path):
        if ln.startswith("ob="):
            cur_ob = named(obs, ln)
            callee_ob = None
        elif ln.startswith("cob="):
            callee_ob = named(obs, ln)
        elif ln.startswith("fn="):
            named(fns, ln)
            callee_ob = None
        elif ln.startswith("cfn="):
            callee_fn = named(fns, ln)
        elif ln.startswith("calls="):
            target = callee_ob if callee_ob is not None else cur_ob
            inside, into = obj in (cur_ob or ""), obj in (target or "")
            if into and not inside:
                entries += int(ln.split("=")[1].split()[0])
            name = callee_fn or ""
            if name.startswith("__libc_"):
                name = name[len("__libc_"):]
            count_call = inside and not into and name not in hooks
            callee_ob = None
            call_line = True
        elif ln[:1].isdigit() or ln[:1] in "+-*":
            f = ln.split()
            if len(f) < 2:
                call_line = False
                continue
            if call_line:
                call_line = False
                if count_call:
                    outside += int(f[1])
            elif obj in (cur_ob or ""):
                excl += int(f[1])
    return excl, entries, outside


def cg_entries(path, obj="libautotrace"):
    """The instructions inside obj and the calls into it (cg_scan): what
    the hooks' own code costs per crossing."""
    excl, entries, _ = cg_scan(path, obj)
    return excl, entries


def cg_own(path, obj="libautotrace"):
    """The shim's own work on the application thread, exactly (cg_scan):
    inside obj plus its calls into other objects, not the calls it wraps.
    It leaves out what the shim makes the host do (a second thread's cost to
    the host's calls, a header libcurl carries)."""
    excl, _, outside = cg_scan(path, obj)
    return excl + outside


def multi_threaded(thread1_file):
    """Whether the run whose thread-1 profile this is had a second thread:
    --separate-threads=yes writes one file per thread (….PID-01, -02, …)."""
    return len(glob.glob(thread1_file[:-len("01")] + "*")) > 1


def cg_excl(path):
    """Exclusive instructions per function ("file:function") and per object
    ("[object]") of a profile."""
    r = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                       capture_output=True, text=True)
    d = {}
    for ln in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.*)$", ln)
        if m and ":" in m.group(2) and "PROGRAM TOTALS" not in ln:
            fn, _, obj = m.group(2).partition(" [")
            fl, _, func = fn.rpartition(":")
            fl = os.path.basename(fl)
            if fl == "???":
                fl = os.path.basename(obj.rstrip("]")).split(".so")[0]
            fn = "%s:%s" % (fl, func.replace("0x00000000000", "0x"))
            ir = int(m.group(1).replace(",", ""))
            d[fn] = d.get(fn, 0) + ir
            o = "[" + (os.path.basename(obj.rstrip("]")).split(".so")[0] or "inlined") + "]"
            d[o] = d.get(o, 0) + ir
    return d


def replaced(bare_file, shim_file):
    """Instructions of the host library's interposed functions that ran
    bare and not at all under the shim: its hook does their work itself
    (hiredis's redisCommand and redisvCommand, whose append and wait the
    Redis hook makes directly). Exact, as the shim's own count is: the
    shim's own minus these is what its path adds with every other function
    of the host unchanged. Returns (instructions, names)."""
    hooks = hook_names()
    a, b = cg_excl(bare_file), cg_excl(shim_file)
    gone = sorted(k for k, v in a.items()
                  if not k.startswith("[") and v > 0 and not b.get(k)
                  and k.rpartition(":")[2] in hooks and not k.startswith("libautotrace"))
    return sum(a[k] for k in gone), [k.rpartition(":")[2] for k in gone]


def top_added(bare_file, shim_file, n=6):
    """Functions whose exclusive instruction count grew most (per call)."""
    a, b = cg_excl(bare_file), cg_excl(shim_file)
    diff = sorted(((b.get(k, 0) - a.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
    funcs = [(d, k) for d, k in diff if d > 0 and not k.startswith("[")][:n]
    objs = [(d, k) for d, k in diff if abs(d) > 0 and k.startswith("[")]
    return funcs, objs


def section_callgrind(ctx):
    md("## 1. Per-call cost on the application thread", "",
       "Instructions: `valgrind --tool=callgrind --toggle-collect=bench_loop "
       "--separate-threads=yes`; the total of **thread 1 only** (the application thread; "
       "the exporter thread's profile is a separate file that is not counted), collected "
       "only inside `bench_loop()`, i.e. the measured iterations after a warm-up. "
       "Added per call = (total with the shim − total without) / calls. "
       "The raw-HTTP server row runs the bench server under callgrind, toggled on "
       "`handle_request()`, with a bare client.", "")
    rows = []
    sink = ctx["sink"]
    loops = ctx["loops"]
    for key, title, name, args, calls, hooked, variants in loops:
        if not hooked:
            rows.append("| %s | – | – | – | – | – | – | – | – | skipped: %s |" % (title, ctx["why"][key]))
            continue
        log("callgrind: " + title)
        res = {}
        try:
            for v in variants:
                env, extra = variant_env(v, sink)
                if name == "span_cost":
                    env = base_env()
                    extra = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % sink}
                    if v == "bare":
                        extra["AUTOTRACE_ENABLED"] = "0"
                    env.update(extra)
                # a queue that holds every span of the run: under valgrind an
                # exporter process starts slowly (it runs under valgrind too)
                # and a full queue would drop spans, whose copy then goes
                # uncounted; every variant gets it, so environments stay equal
                env["OTEL_BSP_MAX_QUEUE_SIZE"] = extra["OTEL_BSP_MAX_QUEUE_SIZE"] = "32768"
                if key == "http_server":
                    n = args()[0]
                    srv, port = start_httpd(0, env=env, maxreq=n + 20, wrapper=[
                        "valgrind", "--tool=callgrind", "--toggle-collect=handle_request",
                        "--separate-threads=yes",
                        "--callgrind-out-file=%s/cg-srv-%s.%%p" % (TMP, v)])
                    run([prog("loop_rawhttp"), str(n), str(port)], base_env())
                    srv.wait(120)
                    f = sorted(glob.glob("%s/cg-srv-%s.*-01" % (TMP, v)))[-1]
                    res[v] = (cg_totals(f), f, n + 20)
                    cmd = cmdline(["valgrind --tool=callgrind --toggle-collect=handle_request "
                                   "--separate-threads=yes", "bench/httpd 0", str(n + 20)], extra)
                else:
                    a = [str(x) for x in args()]
                    # libcurl's own path varies by ±1,500 instructions per request from
                    # one run to the next (its poll loop): three runs, the median
                    runs = sorted((callgrind_total([prog(name)] + a, env,
                                                   "%s-%s-%d" % (key, v, i))
                                   for i in range(3 if key == "curl" else 1)),
                                  key=lambda t: t[0])
                    tot, f, _, exp = runs[len(runs) // 2]
                    res[v] = (tot, f, int(a[0]))
                    if v == "shim" and exp and exp[1] > 0 and name != "span_cost":
                        ctx["exp_instr"][key] = (exp[0] / exp[1], exp[1])
                    cmd = cmdline(["valgrind --tool=callgrind --toggle-collect=bench_loop "
                                   "--separate-threads=yes", "bench/" + name] + a, extra)
                if v != "bare":
                    commands.append(cmd.replace(LIB, "$BUILD/libautotrace.so")
                                    .replace(BIN, "$BUILD/bench"))
        except Exception as e:  # a server that is not there, a crash: report it
            rows.append("| %s | – | – | – | – | – | – | – | – | failed: %s |" % (
                title, str(e)[:200].replace("|", "/")))
            continue
        n = res["bare"][2]
        base = res["bare"][0] / n
        shim = (res["shim"][0] - res["bare"][0]) / n / calls
        dis = ((res["disabled"][0] - res["bare"][0]) / n / calls) if "disabled" in res else None
        proc = ((res["proc"][0] - res["bare"][0]) / n / calls) if "proc" in res else None
        off = ((res["off"][0] - res["bare"][0]) / n / calls) if "off" in res else None
        ctx["instr"][key] = shim
        if proc is not None:
            ctx["instr_proc"][key] = proc
            pt, _ = top_added(res["bare"][1], res["proc"][1], 3)
            ctx["proc_tops"].append("%s: %s" % (title, ", ".join(
                "`%s` %+.0f" % (k, d / n / calls) for d, k in pt)))
        ctx["instr_dis"][key] = dis
        if "disabled" in res:
            own, entries = cg_entries(res["disabled"][1])
            if entries:
                ctx["dis_entry"][key] = (own / entries, entries / n / calls)
        # what any second thread costs (glibc's multi-threaded paths), and
        # what is left: the shim's own code
        mt = ((res["thread"][0] - res["bare"][0]) / n / calls) if "thread" in res else None
        mt_cell = "%.0f" % mt if mt is not None else "–"
        # the shim starts its exporter thread at the first span: a loop that
        # makes none (file, socketpair) stays single-threaded, and then none
        # of the added instructions are the multi-threaded mode's
        if mt is not None and not multi_threaded(res["shim"][1]):
            mt_cell = "0 (no span, so no exporter thread; an idle thread alone: %+.0f)" % mt
            mt = 0
        if mt is not None:
            ctx["instr_mt"][key] = mt
            ctx["instr_own"][key] = shim - mt
            mtt, _ = top_added(res["bare"][1], res["thread"][1], 3)
            ctx["mt_tops"].append("%s: %s" % (title, ", ".join(
                "`%s` %+.0f" % (k, d / n / calls) for d, k in mtt if d / n / calls >= 1) or
                "none ≥ 1"))
        tops, objs = top_added(res["bare"][1], res["shim"][1])
        top = "by object: " + ", ".join("%s %+.0f" % (k.strip("[]"), d / n / calls)
                                        for d, k in objs if abs(d / n / calls) >= 1)
        top += "; top functions: " + ", ".join("`%s` %+.0f" % (k, d / n / calls)
                                              for d, k in tops[:5])
        if "disabled" in res:
            dt, _ = top_added(res["bare"][1], res["disabled"][1], 3)
            ctx["dis_tops"].append("%s: %s" % (title, ", ".join(
                "`%s` %+.0f" % (k, d / n / calls) for d, k in dt)))
        own = {v: cg_own(res[v][1]) / n / calls for v in ("shim", "proc", "off") if v in res}
        ctx["instr_exact"][key] = own
        if "proc" in res:
            rep, names = replaced(res["bare"][1], res["proc"][1])
            ctx["instr_replaced"][key] = (rep / n / calls, names)
        if off is not None:
            ctx["instr_off"][key] = (off, own["off"])
        rows.append("| %s | %.0f | **%.0f** | %s | %s | %s | %s | %s | %s | %s |" % (
            title, base / calls, shim, mt_cell,
            "**%.0f**" % (shim - mt) if mt is not None else "–",
            "**%.0f**" % proc if proc is not None else "–",
            " / ".join("**%.0f**" % own[v] if v in own else "–" for v in ("shim", "proc")),
            "%.0f / **%.0f**" % (off, own["off"]) if off is not None else "–",
            "%.1f" % dis if dis is not None else "–", top))
    md("| loop (per call) | instructions bare | added by the shim (shim − bare) | of which "
       "libc's multi-threaded mode (bare + an idle thread − bare) | added over bare + idle "
       "thread (the shim's own code) | added, exporter process (`AUTOTRACE_EXPORTER_MODE="
       "process`) | the shim's own instructions, exact: exporter thread / exporter "
       "process | added, not sampled (`OTEL_TRACES_SAMPLER=always_off`): shim − bare / "
       "exact | added, disabled shim (`AUTOTRACE_ENABLED=0`) | where the "
       "added instructions go (shim − bare, exclusive, per call) |",
       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    md(*rows)
    md("", "The exact column counts, in the application thread's profile, the instructions "
       "executed inside libautotrace.so plus the whole cost of each call it makes into "
       "another object (the clock, `memcpy`, the allocator…), leaving out its calls to the "
       "real functions it wraps (the host's own work); divided by the calls. A difference of "
       "totals also carries how the host library's own path moved between the two runs: "
       "libmariadb's `poll` when a reply is late, glibc's `malloc` taking another path "
       "because the shim's allocations at start-up left the heap laid out differently "
       "(measured: ±200 instructions per `mysql_query`, either way, from one build to the "
       "next with the same hook code). The exact figure does not move with those. It "
       "leaves out what the shim makes the host do: what the process's second thread costs "
       "the host's own calls (the “multi-threaded mode” column), and for libcurl the work of "
       "carrying the injected `traceparent` header (libcurl's own code, and the hook's calls "
       "to the real `curl_easy_setopt`, which it interposes too): most of the libcurl row's "
       "difference of totals.")
    if ctx["instr_off"]:
        md("", "Not sampled (`OTEL_TRACES_SAMPLER=always_off`, the shim otherwise as in the "
           "shim column): what a call whose trace is not sampled costs, the common case "
           "where a service samples a fraction of its traces. No span is queued, so no "
           "exporter thread starts and glibc stays single-threaded; the hooks still follow "
           "each connection, and an HTTP request still gets its `traceparent` (sampled "
           "flag 0) so that the next service makes the same decision; its response is "
           "not parsed (the request is followed by its own framing, docs/http.md). A span "
           "that is not sampled draws no ids unless a child or a header needs them "
           "(preload/span.h, at_span_ctx).")
    if ctx["proc_tops"]:
        md("", "With `AUTOTRACE_EXPORTER_MODE=process` the exporter runs in a helper process "
           "fed through a shared ring (reporter/helper.c): the application stays "
           "single-threaded, so glibc keeps its single-threaded paths, and the column should "
           "come close to “added over bare + idle thread”. Where it adds (functions that "
           "grew most, per call): " + "; ".join(ctx["proc_tops"]) + ".")
    if ctx["exp_instr"]:
        md("", "The exporter thread's instructions per span, from the same shim runs "
           "(`--toggle-collect=export_all`: every batch it renders, symbolizes, encodes as "
           "OTLP protobuf and POSTs to the bench sink, the exit flush included; total over "
           "the spans it exported, warm-up included): " + "; ".join(
               "%s %.0f (%d spans)" % (t, ctx["exp_instr"][k][0], ctx["exp_instr"][k][1])
               for k, t, *_ in loops if k in ctx["exp_instr"]) +
           ". With client, server and exporter pinned to one CPU (section 2) these are "
           "host time too.")
    if ctx["mt_tops"]:
        md("", "The shim starts an exporter thread, and a process with a second thread makes "
           "glibc take its multi-threaded paths on the application thread (malloc's arena "
           "locks, `calloc` without its single-thread shortcut, the cancellation "
           "enable/disable around `read`/`write`/`send`/`recv`/`poll`…), whoever started the "
           "thread. (The shim takes the cancellation part back off in a program with no "
           "thread of its own: hooks/io_direct.c makes read, write, recv, send, sendmsg and "
           "poll as system calls; the idle thread's run still pays it.) "
           "The “bare + idle thread” variant preloads `bench/idle_thread.so`, whose "
           "constructor starts one detached thread that sleeps in `pause()` and does nothing "
           "else; the same environment size as bare. Any in-process exporter pays that "
           "column; the next one is the shim's own code. The shim starts its thread at the "
           "first span, so a loop that makes none (file, socketpair) stays single-threaded "
           "and its column is 0 (the callgrind run of the shim wrote no second thread's "
           "profile). Where the multi-threaded mode adds "
           "(functions that grew most, per call): " + "; ".join(ctx["mt_tops"]) + ".")
    if ctx["dis_tops"]:
        md("", "Where a disabled shim's instructions go (functions that grew most, per call): " +
           "; ".join(ctx["dis_tops"]) + ".")
    md("", "The `span_cost` rows are a fake hook (`bench/span_cost.c`, linked against "
       "`libatcore.a`) around a call that does nothing. `db`: what a database hook did "
       "with the span API, and what the other hooks still do: `at_enter`, `at_span_start`, "
       "`AT_SPAN_CALLER`, five attributes (`db.system.name`, `db.operation.name`, "
       "`db.query.text`, `server.address`, `server.port`), `at_span_end`, `at_leave`. "
       "`leaf`: what the Redis and MySQL hooks do now (a leaf span, `preload/leaf.h`): "
       "`at_enter`, `at_leaf_begin`, a PING captured with its connection's facts "
       "(`at_redis_cap_words`), `at_leaf_end` (a compact record into the queue), "
       "`at_leave`. “bare” there is the same binary with `AUTOTRACE_ENABLED=0`. The queue "
       "is made large enough (32768) that no span is dropped during the count.", "")


# ---------------------------------------------------------------- 2. end-to-end

def tool_prefix(tool, loop_key, tmpdir):
    if tool == "strace":
        return ["strace", "-f", "-e", "trace=network", "-o", "/dev/null"]
    if tool == "ltrace":
        call = {"curl": "curl_easy_perform", "http_client": "send+recv",
                "redis": "redisCommand", "mysql": "mysql_query"}[loop_key]
        return ["ltrace", "-f", "-o", "/dev/null", "-e", call]
    if tool == "uftrace":
        return ["uftrace", "record", "--force", "-d", os.path.join(tmpdir, "uftrace.data")]
    return []


def section_e2e(ctx):
    md("## 2. End-to-end: client loops against real local servers", "",
       "Client and server pinned to CPU 0 (`taskset -c 0`), the exporter thread too (it "
       "inherits the affinity) and shipping to the bench sink. Each cell: median ns per "
       "request over %d rounds run pairwise (bare, bare + idle thread, shim, shim with its "
       "exporter in a process (`AUTOTRACE_EXPORTER_MODE=process`: not in the CPU columns, "
       "which are the client process's), strace, ltrace, "
       "uftrace, bare, …; strace, ltrace and uftrace in the first %d rounds only), min–max in "
       "brackets; ratio = variant / bare of the same round. The shim's ratio is followed by "
       "the 95%% bootstrap interval of its median: a budget is judged met or not only when "
       "the whole interval says so. "
       "“bare + idle thread” preloads `bench/idle_thread.so` (one thread that sleeps in "
       "`pause()`, see section 1): the part of the shim's ratio that any in-process exporter "
       "thread costs, through glibc's multi-threaded paths. “Not sampled” is the shim with "
       "`OTEL_TRACES_SAMPLER=always_off`: a request whose trace is not sampled (no span "
       "queued, no exporter thread)." % (E2E_ROUNDS, ROUNDS), "")
    lead = (["bare", "thread", "shim"] if ctx.get("thread") else ["bare", "shim"]) + ["proc", "off"]
    tools = lead + [t for t in ("strace", "ltrace", "uftrace") if shutil.which(t)]
    tracers = tools[len(lead):]
    for t in ("strace", "ltrace", "uftrace"):
        if not shutil.which(t):
            notes.append("%s is not installed: its end-to-end column is missing "
                         "(scripts/install-deps.sh installs it)" % t)
    md("| loop | bare ns/req | shim ns/req | shim − bare ns | shim ratio | shim ratio, exporter "
       "process | shim ratio, not sampled | bare + idle thread ratio | shim ratio, fastest runs | CPU µs/req, bare → shim | added CPU µs/req: app "
       "thread, exporter thread (render, encode, send) | " +
       " | ".join("%s ratio" % t for t in tracers) + " |",
       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(tracers))
    for key, title, name, args, hooked in ctx["e2e"]:
        if not hooked:
            md("| %s | – | – | – | – | – | – | – | – | – | – | %s |" % (title, " | ".join(
                ["skipped: " + ctx["why"][key]] + ["–"] * (len(tracers) - 1))))
            continue
        log("end-to-end: " + title)
        res = {t: [] for t in tools}
        cpu = {"bare": [], "shim": []}
        app_cpu = {"bare": [], "shim": []}
        flt = {"bare": [], "shim": [], "proc": []}
        loop_flt = {"bare": [], "shim": []}  # during the measured loop: (app thread, process)
        exp_cpu = []
        exp_parts = []  # the exporter's render, encode, send per request
        proc_exp_cpu = []  # the exporter process's CPU per request (not in wait4's)
        try:
            for r in range(E2E_ROUNDS):
                for t in (tools if r < ROUNDS else lead):
                    env, extra = variant_env(t if t in ("shim", "thread", "proc", "off") else "bare",
                                             ctx["sink"])
                    d = os.path.join(TMP, "e2e-%s-%d" % (t, r))
                    os.makedirs(d, exist_ok=True)
                    argv = PIN + tool_prefix(t, key, d) + [prog(name)] + [str(a) for a in args()]
                    out = run(argv, env)
                    res[t].append(float(out["ns_per_iter"]))
                    if t in flt:
                        flt[t].append(out["minflt"])
                    if t in loop_flt and "app_minflt" in out:
                        loop_flt[t].append((int(out["app_minflt"]), int(out["proc_minflt"])))
                    if t in cpu:
                        cpu[t].append(out["cpu_s"] * 1e6 / int(args()[0]))
                        app_cpu[t].append(float(out.get("app_cpu_ns_per_iter", -1000)) / 1000)
                    if t == "proc":
                        m = re.findall(r"exporter thread CPU (\d+) us", out["stderr"])
                        if m:
                            proc_exp_cpu.append(int(m[-1]) / int(args()[0]))
                    if t == "shim":
                        m = re.findall(r"exporter thread CPU (\d+) us \(render (\d+), "
                                       r"encode (\d+), send (\d+)\)", out["stderr"])
                        if m:
                            exp_cpu.append(int(m[-1][0]) / int(args()[0]))
                            exp_parts.append([int(x) / int(args()[0]) for x in m[-1][1:]])
                    shutil.rmtree(d, ignore_errors=True)
                    if r == 0 and t != "bare":
                        commands.append(cmdline(argv, extra).replace(LIB, "$BUILD/libautotrace.so")
                                        .replace(BIN, "$BUILD/bench").replace(TMP, "$TMP"))
        except Exception as e:
            md("| %s | failed: %s |" % (title, str(e)[:200].replace("|", "/")))
            continue
        ratios = {t: [x / b for x, b in zip(res[t], res["bare"])] for t in tools}
        diff = [x - b for x, b in zip(res["shim"], res["bare"])]
        ctx["e2e_ratio"][key] = (med(ratios["shim"]), min(ratios["shim"]), max(ratios["shim"]))
        ctx["e2e_ci"][key] = median_ci(ratios["shim"])
        ctx["e2e_ns"][key] = diff
        if "uftrace" in ratios:
            ctx["e2e_uftrace"][key] = med(ratios["uftrace"])
        if "thread" in ratios:
            ctx["e2e_thread"][key] = med(ratios["thread"])
        if ratios.get("proc"):
            ctx["e2e_proc"][key] = (med(ratios["proc"]), median_ci(ratios["proc"]),
                                    med(proc_exp_cpu) if proc_exp_cpu else None)
        if ratios.get("off"):
            ctx["e2e_off"][key] = (med(ratios["off"]), median_ci(ratios["off"]))
        fast = min(res["shim"]) / min(res["bare"])
        ctx["e2e_fast"][key] = fast
        ctx["e2e_cpu"][key] = (med(cpu["bare"]), med(cpu["shim"]))
        ctx["e2e_flt"][key] = (int(args()[0]), med(flt["bare"]), med(flt["shim"]),
                               med(flt["proc"]) if flt["proc"] else None,
                               tuple(med([x[i] for x in loop_flt["shim"]]) for i in range(2))
                               if loop_flt["shim"] else None)
        app = [x - b for x, b in zip(app_cpu["shim"], app_cpu["bare"])]
        ctx["e2e_split"][key] = (med(app) if app else None, med(exp_cpu) if exp_cpu else None)
        if exp_parts:
            ctx["e2e_exp_parts"][key] = tuple(med([p[i] for p in exp_parts]) for i in range(3))
        sp = ctx["e2e_split"][key]
        parts = ctx["e2e_exp_parts"].get(key)
        pr = ctx["e2e_proc"].get(key)
        md("| %s | %s | %s | %s | %s | %s | %s | %s | %.3f | %.1f → %.1f (%+.1f) | %s, %s | %s |" % (
            title, fmt_mm(res["bare"]), fmt_mm(res["shim"]), fmt_mm(diff),
            fmt_mm(ratios["shim"], "%.3f") + " [%.3f–%.3f]" % ctx["e2e_ci"][key],
            (fmt_mm(ratios["proc"], "%.3f") + " [%.3f–%.3f]" % pr[1] +
             ("; its exporter process %.2f µs/req" % pr[2] if pr[2] is not None else ""))
            if pr else "–",
            fmt_mm(ratios["off"], "%.3f") + " [%.3f–%.3f]" % ctx["e2e_off"][key][1]
            if ratios.get("off") else "–",
            fmt_mm(ratios["thread"], "%.3f") if "thread" in ratios else "–", fast,
            med(cpu["bare"]), med(cpu["shim"]), med(cpu["shim"]) - med(cpu["bare"]),
            "%+.2f" % sp[0] if sp[0] is not None else "?",
            ("%.2f" % sp[1] if sp[1] is not None else "?") +
            (" (%.2f, %.2f, %.2f)" % parts if parts else ""),
            " | ".join(fmt_mm(ratios[t], "%.2f") for t in tracers)))
    md("", "ltrace traces only the named call (`-e`); uftrace is `uftrace record --force` "
       "(library calls of a binary built without `-pg`). CPU µs/req: user + system time of "
       "the client process, all its threads (the exporter's included), from `wait4`, "
       "divided by the loop's iterations (start-up and warm-up included), median of the "
       "rounds: the shim's whole CPU cost to the host, less sensitive to the machine's "
       "scheduling noise than wall time. Added CPU, split: the application thread's CPU "
       "time over the measured loop only (`CLOCK_THREAD_CPUTIME_ID`, shim − bare of the "
       "same round, median), and the exporter thread's whole CPU time (the shim's own "
       "figure, printed at exit by `AUTOTRACE_LOG_LEVEL=info` as `exporter thread CPU N us "
       "(render N, encode N, send N)`; warm-up spans and its start included) per request of "
       "the loop; in brackets, the parts of it: rendering deferred attributes and call sites, "
       "encoding OTLP protobuf, and sending (the POST's system calls, where the kernel's "
       "loopback TCP carries the bytes to the sink and wakes it). The rest is the thread's "
       "wake-ups.", "")
    if ctx["e2e_flt"]:
        md("Page faults of the client process (`wait4`'s minor faults, all its threads, "
           "start-up and exit included; median of the rounds): exact, where the µs move with "
           "the machine, and on this virtual machine a page fault costs 2-3 µs (a first "
           "write to an anonymous page, measured). The shim's come from its span queue "
           "(a leaf record of 128 bytes per Redis or MySQL span, so a new page every 32 "
           "spans on a pass round the queue, which holds ~36,000 of them; ~200 to "
           "300 bytes for an HTTP span), the exporter's copies of a batch (up to "
           "512 spans, each rendered as it is copied and the next placed where its used "
           "part ends: under 1 KiB for a Redis or MySQL span, where a whole span is "
           "2.2 KiB), its thread's stack and buffers, and libunwind's load. "
           "The shim's faults during the measured loop (`getrusage` before and after it, in "
           "the loop program) are split between the application thread (the queue's records) "
           "and the whole process (the exporter thread's too). A queue its exporter drains "
           "to empty starts again at its first unit (tests/unit/test_queue.c), and the "
           "exporter takes each batch off the queue as soon as it has copied it, before "
           "it posts it: on one CPU the app does not run while the exporter copies, so the "
           "queue is drained then and the app keeps writing over its first pages (before, "
           "a batch stayed queued through its POST, the queue never drained in these loops, "
           "and a Redis loop of 5000 requests took 157 faults on the app thread, one per "
           "32 spans, where it takes 17 now). What the process takes besides is mostly "
           "the exporter's buffers, once.", "",
           "| loop | requests | bare | shim | added | added per 1000 requests | shim, during "
           "the loop: app thread / process | exporter process (the app's only) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|")
        for key, title, _, _, _ in ctx["e2e"]:
            f = ctx["e2e_flt"].get(key)
            if f:
                md("| %s | %d | %.0f | %.0f | %+.0f | %.0f | %s | %s |" % (
                    title, f[0], f[1], f[2], f[2] - f[1], (f[2] - f[1]) * 1000 / f[0],
                    "%.0f / %.0f" % f[4] if f[4] else "–",
                    "%.0f (%+.0f)" % (f[3], f[3] - f[1]) if f[3] is not None else "–"))
        md("")
    if shutil.which("strace"):
        syscalls_per_request(ctx)


def strace_counts(argv, env):
    out = os.path.join(TMP, "strace-c")
    subprocess.run(["strace", "-f", "-c", "-o", out] + argv, env=env, capture_output=True,
                   timeout=300)
    d = {}
    for ln in open(out):
        f = ln.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            try:
                d[f[-1]] = int(f[3])
            except ValueError:
                pass
    return d


# valgrind loads a position-independent main program at this address
# (checked: the marker must be hit once per iteration, else the run fails)
VG_PIE_BASE = 0x108000


def op_address(path):
    out = subprocess.run(["nm", path], capture_output=True, text=True).stdout
    for ln in out.splitlines():
        f = ln.split()
        if len(f) == 3 and f[2] == "op":
            return VG_PIE_BASE + int(f[0], 16)
    raise RuntimeError("%s has no op()" % path)


def lackey_lines(argv, env, iters, tag):
    """Distinct 64-byte lines of code and of data that one iteration of the
    loop touches: `valgrind --tool=lackey --trace-mem=yes` logs every
    instruction fetch and data access, piped to bench/lackey_lines, which
    cuts it where op() (the loop's body, one per iteration) begins. Median
    over the iterations after the first ten (a segment where the exporter
    thread ran is an outlier the median ignores)."""
    marker = op_address(argv[0])
    rd, wr = os.pipe()
    count = subprocess.Popen([prog("lackey_lines"), "%x" % marker], stdin=rd,
                             stdout=subprocess.PIPE, text=True)
    os.close(rd)
    try:
        r = subprocess.run(["valgrind", "--tool=lackey", "--trace-mem=yes", "--log-fd=%d" % wr]
                           + argv, env=env, capture_output=True, text=True, timeout=600,
                           pass_fds=(wr,))
    finally:
        os.close(wr)
    out = count.communicate(timeout=120)[0].split("\n")
    if r.returncode or count.returncode:
        raise RuntimeError("lackey %s: %s" % (tag, r.stderr[-400:]))
    segs = [tuple(int(x) for x in ln.split()) for ln in out[1:] if ln]
    if len(segs) < iters:
        raise RuntimeError("lackey %s: op() began %d times, not %d: the program was not "
                           "loaded at 0x%x" % (tag, len(segs) + 1, iters, VG_PIE_BASE))
    segs = segs[10:]
    return med([s[0] for s in segs]), med([s[1] for s in segs])


def section_lines(ctx):
    """The end-to-end cost is mostly not instructions: with client and server
    on one CPU, the server's work between two requests evicts the client's
    lines from L1 and L2, so every line a request touches is a miss. The
    count of distinct lines per request is exact and stable. A part of
    section 2, after its tables (BENCH_SECTIONS=lines: alone)."""
    md("### Cache lines per request", "")
    if not shutil.which("valgrind"):
        md("skipped: valgrind is not installed", "")
        return
    md("Counted with `valgrind --tool=lackey --trace-mem=yes` (all threads, "
       "the log cut where each iteration's `op()` begins; distinct 64-byte lines of code and "
       "of data touched in one iteration, median over %d iterations after a warm-up). With "
       "client and server on one CPU, the server's work between two requests evicts most of "
       "the client's lines from L1 and L2, so each line a request touches is a miss: the "
       "lines the shim adds, not its instructions, are most of its end-to-end cost." % (
           LINES_ITERS - 10), "",
       "| loop | code lines bare | code lines shim | data lines bare | data lines shim | "
       "added lines (code + data) | added lines, exporter process (code + data) |",
       "|---|---:|---:|---:|---:|---:|---:|")
    for key, title, name, args, hooked in ctx["e2e"]:
        if not hooked:
            continue
        log("cache lines: " + title)
        a = [str(x) for x in args()]
        res = {}
        try:
            for v in ("bare", "shim", "proc"):
                env, _ = variant_env(v, ctx["sink"])
                res[v] = lackey_lines([prog(name), str(LINES_ITERS)] + a[1:], env,
                                      LINES_ITERS, "%s-%s" % (key, v))
        except Exception as e:
            md("| %s | failed: %s |" % (title, str(e)[:200].replace("|", "/")))
            continue
        added = (res["shim"][0] - res["bare"][0], res["shim"][1] - res["bare"][1])
        padd = (res["proc"][0] - res["bare"][0], res["proc"][1] - res["bare"][1])
        ctx["lines"][key] = (added[0] + added[1], padd[0] + padd[1])
        md("| %s | %.0f | %.0f | %.0f | %.0f | **%+.0f** (%+.0f + %+.0f) | **%+.0f** (%+.0f + "
           "%+.0f) |" % (
               title, res["bare"][0], res["shim"][0], res["bare"][1], res["shim"][1],
               added[0] + added[1], added[0], added[1], padd[0] + padd[1], padd[0], padd[1]))
    md("")


def syscalls_per_request(ctx):
    """A hook that splits one write into several, or adds a call per request,
    shows here precisely, whatever the noise of the timings."""
    md("System calls per request (`strace -f -c`, all threads, the exporter's included, "
       "warm-up excluded by difference of two counts):", "",
       "| loop | bare | shim | the calls that differ (shim − bare per request) |",
       "|---|---:|---:|---|")
    for key, title, name, args, hooked in ctx["e2e"]:
        if not hooked:
            continue
        a = [str(x) for x in args()]
        n1, n2 = 200, 1200
        per = {}
        for v in ("bare", "shim"):
            env, _ = variant_env(v, ctx["sink"])
            c1 = strace_counts([prog(name), str(n1)] + a[1:], env)
            c2 = strace_counts([prog(name), str(n2)] + a[1:], env)
            per[v] = {k: (c2.get(k, 0) - c1.get(k, 0)) / (n2 - n1) for k in set(c1) | set(c2)}
        diff = sorted(((per["shim"].get(k, 0) - per["bare"].get(k, 0), k)
                       for k in set(per["bare"]) | set(per["shim"])), key=lambda x: -abs(x[0]))
        changed = ", ".join("%s %+.2f" % (k, d) for d, k in diff if abs(d) >= 0.01) or "none"
        ctx["sys_diff"][key] = (sum(per["shim"].values()) - sum(per["bare"].values()), changed)
        md("| %s | %.2f | %.2f | %s |" % (title, sum(per["bare"].values()),
                                          sum(per["shim"].values()), changed))
    md("")


def section_micro(ctx):
    md("## 3. Pinned micro-benchmarks (ns per call)", "",
       "Same pairwise method, %d rounds, pinned to CPU 0. `write+read` loops do one "
       "`write` and one `read` per iteration; the table gives ns per call (÷2)." % ROUNDS, "")
    md("| loop | bare ns/call | added by the shim, ns/call | added, disabled shim, ns/call |",
       "|---|---:|---:|---:|")
    for key, title, name, args, calls, hooked in ctx["micro"]:
        if not hooked:
            md("| %s | – | – | skipped: %s |" % (title, ctx["why"][key]))
            continue
        log("micro: " + title)
        res = {"bare": [], "shim": [], "disabled": []}
        for r in range(ROUNDS):
            for v in res:
                env, extra = variant_env(v, ctx["sink"])
                argv = PIN + [prog(name)] + [str(a) for a in args()]
                res[v].append(float(run(argv, env)["ns_per_iter"]) / calls)
        add = [s - b for s, b in zip(res["shim"], res["bare"])]
        dis = [s - b for s, b in zip(res["disabled"], res["bare"])]
        ctx["micro_ns"][key] = (add, dis)
        md("| %s | %s | %s; fastest vs fastest %+.1f | %s; fastest vs fastest %+.1f |" % (
            title, fmt_mm(res["bare"], "%.1f"), fmt_mm(add, "%.1f"),
            min(res["shim"]) - min(res["bare"]), fmt_mm(dis, "%.1f"),
            min(res["disabled"]) - min(res["bare"])))
    # the disabled hook prologue: at_enter() on a shim that is off
    env = base_env()
    env["AUTOTRACE_ENABLED"] = "0"
    xs = [float(run(PIN + [prog("span_cost"), str(q(20000000, 2000000)), "1", "db"], env)
                ["ns_per_iter"]) for r in range(ROUNDS)]
    ctx["dis_ns"] = xs
    md("| disabled shim: a hook's `at_enter()` path, whole loop iteration included "
       "(`span_cost`, `AUTOTRACE_ENABLED=0`) | – | %s | – |" % fmt_mm(xs, "%.2f"))
    # the span floor, paced below the exporter's rate so that nothing is dropped
    log("micro: span floor")
    lat = {}
    # "cold": the DB span again, with a walk that evicts L1 and L2 before each
    # call (what a client loop's span costs when the server's turn on the CPU
    # has pushed the shim out of them)
    for mode in ("db", "leaf", "minimal", "cold"):
        for v in ("off", "on"):
            env = base_env()
            env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % ctx["sink"],
                        "BENCH_PACE_NS": "4000"})
            if mode == "cold":
                env["BENCH_EVICT_KB"] = str(EVICT_KB)
            if v == "off":
                env["AUTOTRACE_ENABLED"] = "0"
            xs = []
            for r in range(ROUNDS):
                o = run(PIN + [prog("span_cost"), str(q(100000, 20000)), "1",
                               "db" if mode == "cold" else mode], env)
                xs.append(float(o["lat_p50"]))
            lat[(mode, v)] = (xs, o)
    for mode, title in (("db", "synthetic DB span, 5 attributes"),
                        ("leaf", "synthetic DB span as a leaf (a captured PING)"),
                        ("minimal", "minimal span"),
                        ("cold", "synthetic DB span, caches cold (a %d KiB walk before each "
                         "call)" % EVICT_KB)):
        add = [a - b for a, b in zip(lat[(mode, "on")][0], lat[(mode, "off")][0])]
        ctx["span_ns"][mode] = add
        o = lat[(mode, "on")][1]
        md("| %s (`span_cost`, paced at 250k spans/s: pushed %s, dropped %s) | – | %s | – |" % (
            title, o["pushed"], o["dropped"], fmt_mm(add, "%.0f")))
    md("", "A `write`/`read` system call costs about a microsecond on this virtual machine and "
       "varies by more than the budget from run to run, so the ns difference of those rows is "
       "noise-bound; the instruction counts of section 1 are the precise figure.")
    md("", "The span rows time single calls (p50 of 20,000, each between two clock reads) "
       "with the shim on minus the same with `AUTOTRACE_ENABLED=0`. The cold row (p50 of "
       "2,000) walks %d KiB, one store per cache line, before each call, outside the timed "
       "part: in a client loop whose server shares the CPU, the server's turn pushes the "
       "shim's code and data out of L1 and L2 before every request, and the span then costs "
       "what this row gives, not what the warm rows or the instruction counts suggest: the "
       "cost the end-to-end rows see is set by how many cache lines a span touches." % EVICT_KB,
       "")
    section_calls(ctx)


def section_calls(ctx):
    """Single calls of the real Redis and MySQL hooks, the server played by
    the calling thread (bench/call_redis.c, bench/call_mysql.c): the ns half
    of their budget, warm and with caches cold."""
    rows = []
    vs = [v for v in CALL_VARIANTS if v != "thread" or ctx.get("thread")]
    for key, title, name, args in ctx["calls"]:
        if not ctx["hooks"].get(key):
            continue
        for cold in (False, True):
            log("micro: %s call%s" % (title, ", cold" if cold else ""))
            res = {v: [] for v in vs}
            for r in range(CALL_ROUNDS):
                for v in vs:
                    env, extra = variant_env(v, ctx["sink"])
                    if cold:
                        env["BENCH_EVICT_KB"] = str(EVICT_KB)
                    argv = PIN + [prog(name), str(q(1000, 300) if cold else q(4000, 1000))] + \
                        [str(a) for a in args]
                    res[v].append(float(run(argv, env)["lat_p50"]))
                    if r == 0 and v == "shim" and not cold:
                        commands.append(cmdline(argv, extra).replace(LIB, "$BUILD/libautotrace.so")
                                        .replace(BIN, "$BUILD/bench"))
            add = {v: [x - b for x, b in zip(res[v], res["bare"])] for v in vs[1:]}
            ctx["call_ns"][(key, cold)] = {v: (med(d), median_ci(d)) for v, d in add.items()}
            fast = {v: min(res[v]) - min(res["bare"]) for v in vs[1:]}
            rows.append("| %s%s | %s | %s |" % (
                title, ", caches cold (a %d KiB walk before each call)" % EVICT_KB if cold else "",
                fmt_mm(res["bare"]), " | ".join(
                    "%+.0f [%+.0f – %+.0f]; fastest %+.0f" % (
                        (med(add[v]),) + median_ci(add[v]) + (fast[v],))
                    if v in add else "–" for v in CALL_VARIANTS[1:])))
    if not rows:
        return
    md("", "### Single calls of the Redis and MySQL hooks (ns per call)", "",
       "`call_redis` and `call_mysql` time single calls (p50 of 4,000, or of 1,000 with caches "
       "cold) of `redisCommand(c, \"PING\")` and of `mysql_query(m, \"SELECT 1\")` with "
       "`mysql_store_result` and `mysql_free_result`, each between two clock reads, with no "
       "server: the calling thread plays it, writing the reply into the other end of the "
       "loopback TCP connection before each call and reading the command back after it, "
       "outside the timed part (for MySQL, the reply is the real mariadbd's answer to one "
       "`SELECT 1`, recorded at start, and the client's socket is then moved to that "
       "connection with `dup2`). So a timed call is the application thread's whole work for "
       "it: the hook, the host library and its `write` and `read`, and no server's work. Added = variant − bare of the same round, median over %d rounds "
       "run pairwise, its 95%% bootstrap interval in brackets; “fastest”: the variant's "
       "fastest round less bare's fastest. A call's time drifts with the machine by up to "
       "2 µs over seconds (its `write` and `read` most): the median of the rounds, not one "
       "round, is the figure, and the verdict takes its interval." % CALL_ROUNDS, "",
       "| call | bare ns | added, exporter thread | added, bare + idle thread (glibc's "
       "multi-threaded paths alone) | added, exporter process | added, not sampled |",
       "|---|---:|---:|---:|---:|---:|", *rows)


# ---------------------------------------------------------------- 4. exporter

def section_exporter(ctx):
    md("## 4. Exporter throughput and overload", "")
    log("exporter throughput")
    secs = "0.3" if QUICK else "1"
    argv = PIN + [prog("exporter_tput"), secs]
    r = subprocess.run(argv, env=base_env(), capture_output=True, text=True, timeout=120)
    commands.append(" ".join(argv).replace(BIN, "$BUILD/bench"))
    rows = [parse_kv(ln) for ln in r.stdout.splitlines() if ln.startswith("encoder=")]
    env = base_env()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % ctx["sink1"]
    argv = PIN + [prog("exporter_tput"), secs, "ship"]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    commands.append(("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$SINK_ON_CPU1 " +
                     " ".join(argv)).replace(BIN, "$BUILD/bench"))
    rows += [parse_kv(ln) for ln in r.stdout.splitlines() if ln.startswith("encoder=")]
    md("One thread pinned to CPU 0 encodes 512-span batches of HTTP-client-shaped spans "
       "(6 attributes) in a loop (`bench/exporter_tput.c`, linked against `libatcore.a`); "
       "`otlp_proto_http` also POSTs every batch through the exporter's own HTTP client to "
       "the bench sink on CPU 1.", "",
       "| encoder | spans/s (wall) | spans per CPU-second | bytes/span |", "|---|---:|---:|---:|")
    have_jaeger = False
    for o in rows:
        if o["encoder"].startswith("jaeger"):
            have_jaeger = True
        bps = o["bytes_per_span"] if o["encoder"] != "otlp_proto_http" else "–"
        md("| %s | %s | %s | %s |" % (o["encoder"], "{:,}".format(int(float(o["spans_per_s"]))),
                                      "{:,}".format(int(float(o["spans_per_cpu_s"]))), bps))
        ctx["tput"][o["encoder"]] = float(o["spans_per_cpu_s"])
    if not have_jaeger:
        md("| jaeger_compact | – | – | skipped: reporter/jaeger.h not in the tree |")
    md("")

    log("exporter protocols")
    argv = [sys.executable, os.path.join(ROOT, "bench", "exporter_protocols.py"), LIB, BIN,
            str(q(3000, 500)), str(q(7, 2))]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    commands.append(" ".join(argv[1:]).replace(ROOT + "/", "").replace(BIN, "$BUILD/bench")
                    .replace(LIB, "$BUILD/libautotrace.so"))
    md("### OTLP/gRPC and OTLP/HTTP side by side, in the clear and over TLS", "",
       "`bench/exporter_protocols.py`: `loop_curl` (pinned with its sink to CPU 0) exports its "
       "spans to a real receiver of each protocol (`scripts/collector.py`; grpcio's server, "
       "`scripts/grpc_collector.py`), in the clear and over TLS (https, a test CA's "
       "certificate; TLS 1.3), the four alternating; the exporter thread's CPU per span as the "
       "shim reports it at exit (`AUTOTRACE_LOG_LEVEL=info`), medians of the rounds. Over TLS, "
       "send includes the encryption and the handshake of each connection (one per run "
       "here: the connection is kept).", "",
       "| protocol | exporter CPU ns/span | render | encode | send (min–max) |",
       "|---|---:|---:|---:|---:|")
    for ln in r.stdout.splitlines():
        o = parse_kv(ln)
        md("| %s | %s | %s | %s | %s (%s) |" % (o["protocol"], o["total_ns"], o["render_ns"],
                                                 o["encode_ns"], o["send_ns"],
                                                 o["send_ns_range"].replace("-", "–")))
    if r.returncode:
        md("| failed | %s | | | |" % (r.stderr.strip().splitlines() or ["?"])[-1])
    md("")

    log("batching")
    md("### Batching under a steady load", "",
       "Each client loop of section 2, pinned with its server and a fresh sink to CPU 0, "
       "makes N spans; the sink counts the exporter's POSTs. With `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`"
       " 512 and a 5 s schedule delay, a loop of a few thousand requests should need a handful.",
       "", "| loop | spans | export requests | spans per request |", "|---|---:|---:|---:|")
    for key, title, name, args, hooked in ctx["e2e"]:
        if not hooked:
            continue
        sp, sport = start_httpd(0)
        env, _ = variant_env("shim", sport)
        a = [str(x) for x in args()]
        a[0] = str(q(3000, 500))
        run(PIN + [prog(name)] + a, env)
        stop(sp)
        m = re.search(r"posts=(\d+)", sp.stdout.read())
        posts = int(m.group(1)) if m else 0
        spans = int(a[0]) + 20
        ctx["batching"][key] = spans / posts if posts else None
        md("| %s | %d | %d | %s |" % (title, spans, posts,
                                      "%.1f" % (spans / posts) if posts else "–"))
    md("")

    log("overload")
    md("### Producers outrunning the exporter", "",
       "`span_cost` (one thread, synthetic DB span) as fast as it can, so the queue "
       "(default size 2048) fills and spans are dropped; then 20,000 single calls are "
       "timed one by one in that state. Against: the same paced at 250k spans/s (the "
       "exporter should keep up), a hung collector (accepts, never answers: the exporter is "
       "stuck in its export timeout) and the shim disabled. Unpinned: the exporter thread can "
       "have the other CPU.", "",
       "| exporter state | spans made | pushed | dropped | exported | call p50 ns | p99 ns |",
       "|---|---:|---:|---:|---:|---:|---:|")
    bh = Blackhole()
    cases = [("disabled (AUTOTRACE_ENABLED=0)", {"AUTOTRACE_ENABLED": "0"}, ctx["sink"]),
             ("paced 250k/s, live sink", {"BENCH_PACE_NS": "4000"}, ctx["sink"]),
             ("flat out, live sink", {}, ctx["sink"]),
             ("flat out, hung collector", {}, bh.port)]
    n = q(2000000, 200000)
    for title, extra, port in cases:
        env = base_env()
        env.update(extra)
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % port
        env["AUTOTRACE_EXIT_TIMEOUT"] = "100"
        nn = n if "BENCH_PACE_NS" not in extra else q(200000, 40000)
        o = run([prog("span_cost"), str(nn), "1", "db"], env)
        made = int(o["iters"]) + 21000
        md("| %s | %s | %s | %s | %s | %s | %s |" % (title, "{:,}".format(made), o["pushed"],
                                                      o["dropped"], o["exported"], o["lat_p50"],
                                                      o["lat_p99"]))
        ctx["overload"][title] = o
    bh.s.close()
    md("")


# ---------------------------------------------------------------- 5. scale

def section_scale(ctx):
    md("## 5. Scale: producer threads", "",
       "`span_cost N T db`: T threads share N synthetic DB spans, unpinned (2 CPUs), live "
       "sink, default queue. CPU ns per span = the producer threads' CPU time "
       "(`CLOCK_THREAD_CPUTIME_ID`) / spans; producers outrun the exporter, so most calls "
       "take the drop path (pushed/dropped shown).", "",
       "| threads | CPU ns/span | wall spans/s | pushed | dropped | call p50 ns | p99 ns |",
       "|---:|---:|---:|---:|---:|---:|---:|")
    n = q(2000000, 256000)
    for t in (1, 2, 8, 64):
        log("scale: %d threads" % t)
        xs, o = [], None
        for r in range(3):
            env = base_env()
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % ctx["sink"]
            o = run([prog("span_cost"), str(n), str(t), "db"], env)
            xs.append(float(o["cpu_ns_per_span"]))
        ctx["scale"][t] = med(xs)
        md("| %d | %s | %s | %s | %s | %s | %s |" % (
            t, fmt_mm(xs, "%.0f"), "{:,}".format(int(float(o["spans_per_s"]))), o["pushed"],
            o["dropped"], o["lat_p50"], o["lat_p99"]))
    md("")


# ---------------------------------------------------------------- 6. memory, start, exit

def first_call(ctx):
    """The first traced call of a process against its second: what the
    process's first span costs once (bench/first_call.c, hiredis PING)."""
    if not ctx["hooks"]["redis"] or not ctx.get("redis_port"):
        md("First traced call: skipped (needs the Redis hook and redis-server).", "")
        return
    log("first call")
    runs = q(15, 4)
    res = {v: {"first": [], "second": [], "cpu": []} for v in ("bare", "shim", "proc")}
    for r in range(runs):
        for v in res:
            env, _ = variant_env(v, ctx["sink"])
            o = subprocess.run(PIN + [prog("first_call"), str(ctx["redis_port"])], env=env,
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"first_ns (\d+) second_ns (\d+) first_cpu_ns (\d+)", o.stdout)
            if not m:
                notes.append("first_call %s: %s" % (v, (o.stderr or o.stdout)[-200:]))
                return
            res[v]["first"].append(int(m.group(1)) / 1000)
            res[v]["second"].append(int(m.group(2)) / 1000)
            res[v]["cpu"].append(int(m.group(3)) / 1000)
    commands.append("%s $BUILD/bench/first_call REDIS_PORT   (bare, shim, "
                    "AUTOTRACE_EXPORTER_MODE=process; %d runs each, in turn)"
                    % (" ".join(PIN), runs))
    ctx["first_call"] = {v: (med(res[v]["first"]) - med(res["bare"]["first"]),
                             med(res[v]["cpu"]) - med(res["bare"]["cpu"])) for v in res}
    rows = []
    for v, name in (("bare", "bare"), ("shim", "shim, exporter thread"),
                    ("proc", "shim, `AUTOTRACE_EXPORTER_MODE=process`")):
        rows.append("| %s | %s | %s | %s |" % (name, fmt_mm(res[v]["first"]),
                                               fmt_mm(res[v]["cpu"]), fmt_mm(res[v]["second"])))
    md("### First traced call", "",
       "`bench/first_call`: a process connects to redis-server and times its first two "
       "PINGs; client and server pinned to one CPU, %d runs of each variant in turn, "
       "medians [min–max] in µs. The first call of a process pays once for what its first "
       "span sets up: the exporter thread (created from the application thread; on one "
       "CPU its start-up runs before the call goes on) or the exporter process and, in "
       "that mode, libunwind loaded on the application thread; the first pages of the "
       "span ring. The bare first call pays for the process's own first use of hiredis "
       "(lazy binding, its buffers)." % runs, "",
       "| variant | first call, wall | first call, application thread's CPU | second call, "
       "wall |", "|---|---:|---:|---:|")
    md(*rows)
    md("")


def section_memory(ctx):
    md("## 6. Memory, start-up and exit", "")
    log("memory")
    rows = []
    env_off = base_env()
    env_off["AUTOTRACE_ENABLED"] = "0"
    env_on = base_env()
    env_on["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % ctx["sink"]
    off = run(PIN + [prog("span_cost"), str(q(2000000, 200000)), "1", "db"], env_off)
    on = run(PIN + [prog("span_cost"), str(q(2000000, 200000)), "1", "db"], env_on)
    add = int(on["hwm_kb"]) - int(off["hwm_kb"])
    ctx["rss"] = add
    rows.append("| `span_cost` flat out (queue full, exporter busy) | %s | %s | **%.1f MiB** |"
                % (off["hwm_kb"], on["hwm_kb"], add / 1024))
    rows.append("| same, before its first span (after init) | %s | %s | %.1f MiB |"
                % (off["rss0_kb"], on["rss0_kb"], (int(on["rss0_kb"]) - int(off["rss0_kb"])) / 1024))
    def bare_and_shim(argv, *keys):
        """keys of a loop's result line, bare and shim, 3 runs each in turn:
        for each key, the bare runs' values and the shim's."""
        got = {"bare": [], "shim": []}
        for r in range(3):
            for v in got:
                env, _ = variant_env(v, ctx["sink"])
                got[v].append(run(PIN + argv, env))
        return [x for k in keys for x in ([int(o[k]) for o in got["bare"]],
                                          [int(o[k]) for o in got["shim"]])]

    if ctx["hooks"]["curl"]:
        b, s = bare_and_shim([prog("loop_curl"), str(q(20000, 2000)), ctx["url"]], "hwm_kb")
        rows.append("| libcurl loop, %s requests, LD_PRELOAD | %d | %d | %.1f MiB |"
                    % (q(20000, 2000), med(b), med(s), (med(s) - med(b)) / 1024))
    # a client that makes a new connection for every request: the shim's
    # per-connection state (hooks/fdstate.c) must be reused, not grown
    nc = q(5000, 500)
    new_conn = [prog("loop_rawhttp"), str(nc), str(ctx["web"]), "new"]
    b, s, bf, sf = bare_and_shim(new_conn, "hwm_kb", "app_minflt")
    rows.append("| raw HTTP client, %d requests, a new connection for each | %d | %d | %.1f MiB |"
                % (nc, med(b), med(s), (med(s) - med(b)) / 1024))
    md("Peak resident memory (VmHWM from /proc/self/status), default queue size (2048).", "",
       "| process | without the shim, kB | with, kB | added |", "|---|---:|---:|---:|")
    md(*rows)
    md("", "A client that opens a connection per request (`loop_rawhttp N PORT new`) takes "
       "the same connection slot (24 KiB of the shim's state) each time, the lowest free "
       "one (hooks/fdstate.c): page faults on its application thread during the loop, "
       "bare %.2f, shim %.2f per connection (medians of 3 runs). Before, each new "
       "connection took the next slot round a pool of 16384 and touched fresh pages "
       "(3.2 faults and 8.6 KB of RSS a connection, up to ~140 MB)."
       % (med(bf) / nc, med(sf) / nc), "")

    log("start-up")
    n = q(300, 60)
    res = {"bare": [], "shim": [], "disabled": []}
    for r in range(ROUNDS):
        for v in res:
            env = base_env()
            if v == "disabled":
                env["AUTOTRACE_ENABLED"] = "0"
            o = run([prog("spawn"), str(n), "-" if v == "bare" else LIB, "/bin/true"], env)
            res[v].append(float(o["ns_per_iter"]) / 1000)
    commands.append("$BUILD/bench/spawn %d $BUILD/libautotrace.so /bin/true   (and - for bare)" % n)
    add = [s - b for s, b in zip(res["shim"], res["bare"])]
    dis = [s - b for s, b in zip(res["disabled"], res["bare"])]
    ctx["startup"] = add
    md("### Start-up: `/bin/true`", "",
       "`bench/spawn %d PRELOAD /bin/true`: posix_spawn + wait, %d times, mean per run; "
       "%d rounds pairwise. No span is made." % (n, n, ROUNDS), "",
       "| variant | µs per run | added µs |", "|---|---:|---:|",
       "| bare | %s | – |" % fmt_mm(res["bare"]),
       "| shim | %s | **%s** |" % (fmt_mm(res["shim"]), fmt_mm(add)),
       "| shim, AUTOTRACE_ENABLED=0 | %s | %s |" % (fmt_mm(res["disabled"]), fmt_mm(dis)), "")
    # instructions and page faults: exact, where the µs above move with the machine
    counts = {}
    for v in ("bare", "shim"):
        env = base_env()
        if v == "shim":
            env["LD_PRELOAD"] = LIB
        out = os.path.join(TMP, "cg-start-" + v)
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                        "/bin/true"], env=env, check=True, capture_output=True, timeout=120)
        m = None
        if shutil.which("perf"):
            pf = subprocess.run(["perf", "stat", "-x,", "-e", "page-faults", "-r", "20",
                                 "/bin/true"], env=env, capture_output=True, text=True,
                                timeout=120)
            m = re.search(r"^([0-9.]+),,page-faults", pf.stderr, re.M)
        counts[v] = (cg_totals(out), float(m.group(1)) if m else None)
    commands.append("valgrind --tool=callgrind /bin/true; perf stat -e page-faults -r 20 "
                    "/bin/true   (LD_PRELOAD=$BUILD/libautotrace.so and without)")
    (ib, fb), (i_s, fs) = counts["bare"], counts["shim"]
    md("Start-up of `/bin/true` counted: %d instructions bare, %d with the shim (**+%d**); "
       "page faults %s. At start-up the shim maps itself (its only dependency is libc: "
       "libunwind is loaded with the process's first span, zlib with the first gzip "
       "export), reads its configuration, installs its crash handlers and reserves the "
       "span ring without touching it (its pages are faulted in by the spans written "
       "there)." % (
           ib, i_s, i_s - ib,
           "%.0f bare, %.0f with the shim (+%.0f)" % (fb, fs, fs - fb)
           if fb is not None and fs is not None else "not counted (perf unavailable)"), "")

    first_call(ctx)

    if not ctx["hooks"]["curl"]:
        md("Exit flush: skipped (needs the libcurl hook to make spans).", "")
        return
    log("exit flush")
    live = None
    try:
        sys.path.insert(0, os.path.join(ROOT, "scripts"))
        from collector import Collector  # noqa: E402
        live = Collector()
        live_port = live.port if hasattr(live, "port") else live.server.server_address[1]
    except Exception as e:
        notes.append("scripts/collector.py unusable (%s): exit flush with a live collector "
                     "uses the bench sink instead" % e)
        live_port = ctx["sink"]
    dead = free_port()
    bh = Blackhole()
    reqs = 50
    n = q(10, 4)
    cases = [("bare", None), ("shim, no exit flush (AUTOTRACE_EXIT_TIMEOUT=0)", ctx["sink1"]),
             ("live collector (scripts/collector.py)", live_port),
             ("live collector (bench sink, C)", ctx["sink1"]), ("dead collector (port closed)", dead),
             ("hung collector (accepts, never answers)", bh.port)]
    res = {c: [] for c, _ in cases}
    inproc = {c: [] for c, _ in cases}  # the flush as the process timed it itself
    for r in range(5):
        for c, port in cases:
            env = base_env()
            pre = "-"
            if port:
                pre = LIB
                env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:%d" % port
                env["AUTOTRACE_LOG_LEVEL"] = "info"
                if "EXIT_TIMEOUT=0" in c:
                    env["AUTOTRACE_EXIT_TIMEOUT"] = "0"
            o = run([prog("spawn"), str(n), pre, prog("loop_curl"), str(reqs), ctx["url"]], env)
            res[c].append(float(o["ns_per_iter"]) / 1e6)
            inproc[c] += [int(x) / 1000 for x in re.findall(r"last flush (\d+) us", o["stderr"])]
    received = len(live.spans) if live is not None and hasattr(live, "spans") else None
    bh.s.close()
    nof = res[cases[1][0]]
    ctx["exit"] = {c: [x - b for x, b in zip(res[c], nof)] for c, _ in cases}
    ctx["exit_inproc"] = {c: v for c, v in inproc.items() if v}
    md("### Exit flush", "",
       "A process makes %d libcurl spans (%d requests + 20 warm-up) and exits; the spans "
       "wait in the queue (schedule delay 5 s) and are flushed by the destructor, bounded by "
       "`AUTOTRACE_EXIT_TIMEOUT` (default 500 ms). `bench/spawn %d PRELOAD loop_curl %d URL`, "
       "5 rounds pairwise, ms per process; the last column is the flush as each process "
       "timed it (the destructor's wait, printed by `AUTOTRACE_LOG_LEVEL=info` as `last flush "
       "N us`), median over every process.%s" % (
           reqs + 20, reqs, n, reqs,
           " The live collector (scripts/collector.py) received %s spans." % received
           if received is not None else ""), "",
       "| collector | ms per process | exit flush ms (− the no-flush row) | exit flush ms, "
       "timed in the process |", "|---|---:|---:|---:|")
    for c, _ in cases:
        ip = ctx["exit_inproc"].get(c)
        md("| %s | %s | %s | %s |" % (
            c, fmt_mm(res[c], "%.2f"),
            "–" if c in ("bare", cases[1][0]) else fmt_mm(ctx["exit"][c], "%.2f"),
            fmt_mm(ip, "%.2f") if ip and c != cases[1][0] else "–"))
    md("", "The no-flush row minus bare is what the shim adds to this process besides the "
       "flush (start-up, the exporter thread, the spans).")
    md("")


# ---------------------------------------------------------------- budgets

def verdict(ok):
    return "met" if ok else "**NOT met**"


# What would close a budget that is not met: the analysis behind each figure
# (callgrind's per-function difference in section 1, the system-call counts in
# section 2). Shown only for budgets not met.
CLOSE = {
    "start-up": "libunwind and zlib are no longer loaded at start-up and the ring is not "
    "touched (the counted line under the start-up table): what remains is the kernel mapping "
    "the library, the loader relocating it and the configuration read; on this shared "
    "machine the µs of a process start vary by more than the whole budget from run to run, "
    "the instruction and page-fault counts do not.",
    "Redis span": "section 1 names the functions that grew; the column over a bare process "
    "with one idle thread takes out glibc's multi-threaded paths (~250 for PING: calloc, "
    "malloc and free take the arena lock, read/write switch cancellation on), which any "
    "exporter thread in the process brings. The cancellation part the shim takes back off "
    "for a program with no thread of its own: its I/O hooks make read/write/recv/send/sendmsg/poll as "
    "system calls then (hooks/io_direct.c; ~90 instructions per PING), so the column over "
    "bare + idle thread is now below the shim's own code. Done: a synchronous command is a leaf span "
    "(preload/leaf.h): never made current, never built whole on the application thread; "
    "its start, parent and decision are kept in a small struct, the command is captured "
    "raw (the name, the key, shown values only, no secrets; a format without conversions "
    "copied whole, hooks/redis_cmd.c at_redis_cap_words) with the connection's address, "
    "port and database in an 8-byte head, and at the end the queue takes an 80-byte record "
    "and the raw bytes (at_queue_push_leaf), which the consumer turns into the whole span; "
    "the exporter thread writes the name and every attribute (hooks/redis_render.c). An "
    "error reply, a SELECT, a parent with a tracestate or a crash make the whole span "
    "instead. The hook makes hiredis's append and redisGetReply itself (its redisvCommand "
    "does no more), so a command no longer passes through the shim's hooks on those two; "
    "the connection keeps its capture's head made. What remains of the shim's own "
    "(section 1's functions): the variadic entry with the hook inlined in it, the "
    "connection lookup and the capture (~280: redisCommand, at_redis_cap_words), the "
    "record (~80: a compare-and-swap, its head, the bytes) and the write and read hiredis "
    "makes (~20). "
    "In ns too (section 3's single calls), most of what a call adds with the exporter "
    "thread is glibc's multi-threaded paths (the bare + idle thread column: the atomic "
    "read-modify-writes of malloc's arena lock, and of the cancellation switches the "
    "bare + idle thread run still pays and the shim no longer does). "
    "To close: no exporter thread in the process (the ~150 of glibc's that remain, "
    "malloc's, in the host library's own calls): "
    "`AUTOTRACE_EXPORTER_MODE=process` (an exporter in a helper process, fed through "
    "shared memory) takes those out (its column in section 1), but not the end-to-end cost "
    "(section 2): on one pinned CPU the helper's work and the switches between two address "
    "spaces cost the loop as much as glibc's multi-threaded paths did; and a capture that "
    "is not a copy of the words (the bytes of a PING are the least it could copy).",
    "MySQL span": "as for Redis: glibc's multi-threaded paths (~250-400; gone with the "
    "exporter in a process), and a text statement's span is a leaf (preload/leaf.h): a "
    "statement that succeeded and fits goes into the queue as a record of the "
    "connection's facts (kept laid out per connection) and the statement, rendered on the "
    "exporter thread (hooks/mysql_render.c); a failed or long one makes the whole span "
    "with its summary. The MySQL socket passes straight through (net.c forgets a "
    "connection that can never be HTTP: ~240 per query before). The differences of totals "
    "in this row move by up to ±200 with libmariadb's own path (its recv and poll calls "
    "when a reply is late; glibc's malloc, whose path depends on how the heap was laid out "
    "before the loop): the exact column of section 1 (the same with the exporter in a "
    "thread or a process) is the shim's own cost.",
    "synthetic DB span as a leaf": "the leaf's floor: the parent lookup and the "
    "decision, two timestamps (rdtsc: a few instructions and ~12 ns each, turned into "
    "wall-clock time on the exporter thread), the capture of a PING with its connection's "
    "facts, and the record (a compare-and-swap, its 72-byte head, the raw bytes); over a "
    "process with an exporter thread, glibc's multi-threaded paths in what the host "
    "calls.",
    "synthetic DB span, whole": "the whole span's floor (minimal span row, ~280) is the "
    "header clear, two timestamps, the ids (drawn later: lazy), the sampler, the parent "
    "lookup and the copy into the queue (header + attributes + arena, ~100); five "
    "attributes add ~160. The Redis and MySQL hooks no longer pay it (the leaf row); the "
    "HTTP and libcurl hooks, whose spans are current while the call runs (a child, a "
    "header to inject), do.",
    "disabled shim": "hot hooks pass through in ~9 instructions and no stack frame "
    "(at_go/at_off_pass: redisvCommand, redisvAppendCommand, redisGetReply, mysql_query, "
    "mysql_real_query, curl_multi_*, sigaction; net.c's read/recv/send/write in ~11), but a "
    "call that crosses several interposed layers pays each (redisCommand → redisvCommand → "
    "redisvAppendCommand → redisGetReply → write/read). redisCommand is variadic: its "
    "va_start costs what hiredis's own does; a jump stub to the real redisCommand was "
    "measured and is no cheaper (hiredis's then calls the hooked redisvCommand). libcurl's "
    "row moves by hundreds of instructions from run to run in libcurl's own code (the "
    "median of three runs is shown) while our part is sigaction (~10 per call, several per "
    "transfer) and the curl_* guards (~9 each).",
    "end-to-end": "the hook's own instructions on the application thread (section 1), the "
    "exporter thread's work per span on the same pinned CPU (rendering the database spans' "
    "names and attributes and the call site, encoding: ~1.0k–2.3k instructions, section 1; "
    "then the POST, whose CPU is mostly the kernel's loopback TCP: section 2's split), the fixed cost per process (start-up ~0.5 ms, "
    "~250 page faults for the queue and the exporter at ~3 µs each on this VM, the exit "
    "flush) spread over the loop, and any system call it adds (section 2's table). The "
    "client CPU column gives the whole of it; wall-time ratios on this shared 2-CPU machine "
    "move by ±10% from round to round. For libcurl, the traceparent line of a plain "
    "http:// transfer is written into the head on libcurl's socket (hooks/curl_wire.c, "
    "net.c): ~1.6k instructions a request where CURLOPT_HTTPHEADER cost ~8k (libcurl "
    "formats custom headers with its own printf, ~80 instructions a byte), but ~120 more "
    "cache lines, so no less CPU time in paired pinned runs; a head scanner leaner than "
    "the general parser would keep the instructions and drop the lines.",
    "exit flush, live": "the flush itself is the POST of the queued spans; a slow collector "
    "(the Python one decodes with protobuf in Python) is its own cost.",
    "exit flush, dead": "a refused connection is not tried again while the program waits "
    "(http_backend.c, post); a collector that accepts and never answers is waited for up "
    "to the bound: a lower AUTOTRACE_EXIT_TIMEOUT is the only way to wait less for it.",
    "OTLP protobuf": "encoding alone is above the bound; shipping adds the HTTP client's "
    "copies and system calls per batch.",
    "write/read on a file": "net.c's write/read hooks check the descriptor's cached kind "
    "first (fdstate): keep that the only work for a non-socket descriptor.",
}


row_hints = {}


def close_note():
    out = []
    for name, measured, v in budget_rows:
        if "NOT met" not in v:
            continue
        hint = next((h for k, h in row_hints.items() if name.startswith(k)), None)
        for k in sorted(CLOSE, key=len, reverse=True):
            if hint is None and k in name:
                hint = CLOSE[k]
                break
        out.append("- **%s** — measured %s. %s" % (name, measured, hint or ""))
    return out


def e2e_verdict(r, fast, cpu, u, ci=None):
    """Met only when the wall-time median, the ratio of the fastest runs and the
    client's CPU time all say so: on this shared machine a median alone moves by
    ±10% from run to run and has read below 1.00× for a shim that adds work.
    With the median's interval (ci): not met for certain only when all of it is
    above 1.02; "not resolved" when it straddles 1.02."""
    ok = r[0] <= 1.02 and (u is None or r[0] <= u)
    steady = fast <= 1.02 and (not cpu or cpu[0] <= 0 or cpu[1] / cpu[0] <= 1.02)
    if ci and ci[0] <= 1.02 < ci[1]:
        return "**NOT met** (not resolved: the median's 95%% interval %.3f–%.3f holds 1.02)" % ci
    if ok and not steady:
        return "**NOT met** (the median is within noise; the fastest runs and client CPU are not)"
    return verdict(ok)


def over_idle(ctx, key):
    """Beside a figure against bare: the same over a bare process with one
    idle thread, i.e. without glibc's multi-threaded paths, which any
    in-process exporter thread brings (section 1)."""
    mt = ctx["instr_mt"].get(key)
    if not mt:  # not measured, or the shim started no thread
        return ""
    proc = ctx["instr_proc"].get(key)
    ex = ctx["instr_exact"].get(key, {})
    return "; %.0f over a bare process with one idle thread (%.0f of the %.0f are glibc's " \
           "multi-threaded paths)%s%s" % (
               ctx["instr_own"][key], mt, ctx["instr"][key],
               "; %.0f with the exporter in a process (`AUTOTRACE_EXPORTER_MODE=process`)" % proc
               if proc is not None else "",
               "; the shim's own instructions, exact (section 1): %s" % " and ".join(
                   "%.0f %s" % (ex[v], w) for v, w in (("shim", "with the exporter thread"),
                                                       ("proc", "in process mode"))
                   if v in ex) if ex else "") + (
               "; not sampled (`OTEL_TRACES_SAMPLER=always_off`): %.0f, exact %.0f" %
               ctx["instr_off"][key] if key in ctx["instr_off"] else "")


def calls_text(ctx, key):
    """Section 3's single calls of the real hook, as the budget row gives
    them."""
    w, c = ctx["call_ns"].get((key, False)), ctx["call_ns"].get((key, True))
    if not w:
        return "single calls not measured"
    part = lambda d, v: "%+.0f" % d[v][0] if d and v in d else "?"
    return ("a single call (section 3, median [95%% interval]): %s with the exporter thread, "
            "%s ns of it glibc's multi-threaded paths (bare + idle thread), %s with the "
            "exporter in a process, %s not sampled; caches cold: %s, %s in a process" % (
                ns_text(ctx, key, "shim"), part(w, "thread"), ns_text(ctx, key, "proc"),
                ns_text(ctx, key, "off"), part(c, "shim"), part(c, "proc")))


def split_text(ctx, key):
    sp = ctx["e2e_split"].get(key)
    if not sp or sp[0] is None or sp[1] is None:
        return ""
    return ", of which the app thread %+.2f and the exporter thread %.2f" % sp


def ns_ok(ctx, key, v):
    """The ns half of a Redis/MySQL budget for variant v (section 3's single
    calls, warm): True when the whole 95% interval of the median is within
    100 ns, False when it is all over, None when it straddles (or there is
    no figure)."""
    c = ctx["call_ns"].get((key, False), {}).get(v)
    if not c:
        return None
    lo, hi = c[1]
    return True if hi <= 100 else False if lo > 100 else None


def ns_text(ctx, key, v):
    c = ctx["call_ns"].get((key, False), {}).get(v)
    if not c:
        return "ns not measured"
    return "%+.0f ns [%+.0f – %+.0f]" % ((c[0],) + c[1])


def db_verdict(ctx, key, ins):
    """≤ 100 ns and ≤ 400 added instructions, both: with the exporter thread
    (the difference of totals, glibc's multi-threaded paths in it; the warm
    single call of section 3), and, when that is over, whether the exporter
    in a process meets them (its difference of totals and the shim's own
    instructions there both within, and its single call)."""
    t_ns = ns_ok(ctx, key, "shim")
    if ins <= 400 and t_ns:
        return verdict(True) + " (%.0f instr, %s)" % (ins, ns_text(ctx, key, "shim"))
    over = ["%.0f instr" % ins] if ins > 400 else []
    if t_ns is False:
        over.append(ns_text(ctx, key, "shim"))
    elif t_ns is None:
        over.append(ns_text(ctx, key, "shim") + " (interval straddles 100)")
    thread = "**NOT met** with the exporter thread (%s)" % "; ".join(over)
    proc = ctx["instr_proc"].get(key)
    own = ctx["instr_exact"].get(key, {}).get("proc")
    rep, names = ctx["instr_replaced"].get(key, (0, []))
    if proc is None or own is None:
        return thread
    of = ("; the shim's own less the %.0f of the host's %s, which no longer run (the hook "
          "does their work): %.0f" % (rep, ", ".join("`%s`" % x for x in names), own - rep)
          if rep >= 1 else "")
    p_ins = proc <= 400 and own - rep <= 400
    p_ns = ns_ok(ctx, key, "proc")
    what = "%.0f added, %.0f the shim's own%s; %s" % (proc, own, of, ns_text(ctx, key, "proc"))
    if p_ins and p_ns:
        return thread + "; met with `AUTOTRACE_EXPORTER_MODE=process` (%s)" % what
    if p_ins and p_ns is None:
        return thread + ("; with `AUTOTRACE_EXPORTER_MODE=process` met on instructions, "
                         "undecided on ns (the interval straddles 100: %s)" % what)
    return thread + "; **NOT met** with `AUTOTRACE_EXPORTER_MODE=process` either (%s)" % what


def budgets(ctx):
    b = budget_rows
    for key, title in (("redis", "Redis"), ("mysql", "MySQL")):
        ins = ctx["instr"].get(key)
        ns = ctx["e2e_ns"].get(key)
        if ins is None:
            b.append(("%s span: ≤ 100 ns, ≤ 400 instructions" % title, "hook not in the tree yet",
                      "–"))
        else:
            b.append(("%s span: ≤ 100 ns, ≤ 400 instructions" % title,
                      "%.0f instr (%.1f× the budget)%s; %s%s" % (
                          ins, ins / 400, over_idle(ctx, key), calls_text(ctx, key),
                          "; %.0f ns (end-to-end shim − bare, noise ± µs)" % med(ns)
                          if ns else ""),
                      db_verdict(ctx, key, ins)))
    for key, mode, title in (
            ("span_leaf", "leaf", "synthetic DB span as a leaf (what a Redis/MySQL hook adds "
                                  "at least: `span_cost` leaf)"),
            ("span_db", "db", "synthetic DB span, whole, five attributes (the span API's "
                              "floor for the other hooks)")):
        ins = ctx["instr"].get(key)
        if ins is not None:
            ns = ctx["span_ns"].get(mode)
            b.append((title, "%.0f instr (%.1f× the budget); %.0f ns" % (
                ins, ins / 400, med(ns) if ns else -1),
                verdict(ins <= 400 and (not ns or med(ns) <= 100))))
    ins = ctx["instr"].get("curl")
    if ins is not None:
        b.append(("libcurl span (no explicit budget; for scale)", "%.0f instr%s; %.0f ns" % (
            ins, over_idle(ctx, "curl"),
            med(ctx["e2e_ns"]["curl"]) if "curl" in ctx["e2e_ns"] else -1), "–"))
    for key, title in (("file", "write/read on a file: ≤ 5 ns"),
                       ("unix", "write/read on an untraced socket (no explicit budget)"),
                       ("stdio", "stdio's writing calls on an untraced stream (no explicit "
                                 "budget)"),
                       ("stdio_read", "stdio's reading calls on an untraced stream (no "
                                      "explicit budget)"),
                       ("dprintf", "dprintf on an untraced descriptor (no explicit budget)")):
        m = ctx["micro_ns"].get(key)
        ins = ctx["instr"].get(key)
        if ins is None:
            b.append((title, "no write/read hook yet (0 by construction)", "–"))
            continue
        b.append((title, "%.0f instr/call%s; %.1f ns/call (noise-bound, see §3)" % (
            ins, over_idle(ctx, key), med(m[0]) if m else float("nan")),
            (verdict(ins <= 20) + " (≤ 20 instr taken as ≤ 5 ns)") if key == "file" else "–"))
    dins = {k: v for k, v in ctx["instr_dis"].items() if v is not None}
    if "dis_ns" in ctx:
        de = ctx["dis_entry"]
        b.append(("disabled shim (`AUTOTRACE_ENABLED=0`): ≤ 15 ns per interposed call",
                  "hook prologue %.2f ns/call; the hooks' own instructions per interposed call "
                  "(callgrind: inside libautotrace.so ÷ calls into it) %s (≤ 60 instr taken as "
                  "≤ 15 ns); per loop iteration, all hooks it crosses, difference of totals "
                  "with the host library's own variation: %s instr" % (
                      med(ctx["dis_ns"]),
                      ", ".join("%s %.1f (%.1f crossings/iteration)" % (k, v[0], v[1])
                                for k, v in de.items()) or "not measured",
                      ", ".join("%s %+.0f" % (k, v) for k, v in dins.items())),
                  verdict(med(ctx["dis_ns"]) <= 15 and bool(de) and
                          all(v[0] <= 60 for v in de.values()))))
    for key, title in (("curl", "libcurl"), ("http_client", "raw HTTP"), ("redis", "Redis"),
                       ("mysql", "MySQL")):
        r = ctx["e2e_ratio"].get(key)
        if r is None:
            b.append(("end-to-end %s ≤ 1.02×, never worse than uftrace" % title, "not measured (hook "
                      "not in the tree yet)" if not ctx["hooks"].get(key) else "failed", "–"))
        else:
            u = ctx["e2e_uftrace"].get(key)
            spp = ctx["batching"].get(key)
            hint = []
            sd = ctx["sys_diff"].get(key)
            if sd and sd[0] >= 0.05:
                hint.append("%.2f more system calls per request, all threads (%s)." % sd)
                m = re.search(r"newfstatat \+([\d.]+)", sd[1])
                if m and float(m.group(1)) >= 0.5:
                    hint.append("The newfstatat calls come from the application thread: the "
                                "socket hook fstat()s the application's descriptor on every "
                                "request; remembering the descriptor's identity (fdstate) "
                                "until close/dup2 would remove them.")
            if ctx["instr"].get(key) is not None:
                hint.append("%.0f instructions per request on the application thread "
                            "(section 1 names the functions)%s." % (ctx["instr"][key],
                                                                    over_idle(ctx, key)))
            if ctx["exp_instr"].get(key):
                hint.append("The exporter thread adds %.0f instructions per span (rendering, "
                            "symbolizing, encoding, posting; section 1), on the same CPU here."
                            % ctx["exp_instr"][key][0])
            sp = ctx["e2e_split"].get(key)
            if sp and sp[0] is not None and sp[1] is not None:
                c = ctx["e2e_cpu"].get(key)
                hint.append("Of the client's CPU per request, the application thread added "
                            "%+.2f µs and the exporter thread took %.2f µs; ≤ 1.02× leaves "
                            "%.2f µs for both." % (sp[0], sp[1], 0.02 * c[0] if c else 0))
                if c and sp[1] > 0.02 * c[0] > 0:
                    hint.append("The exporter thread's part alone is %.1f× that: while every "
                                "request's span is rendered, encoded and sent on the same CPU, "
                                "no change on the application's thread closes this budget; "
                                "a sampled fraction of the traces does (section 1's "
                                "not-sampled column: no exporter work for the rest)."
                                % (sp[1] / (0.02 * c[0])))
                parts = ctx["e2e_exp_parts"].get(key)
                if parts:
                    hint.append("The exporter's part: rendering %.2f µs, encoding %.2f µs, "
                                "sending %.2f µs per request; the sending is the kernel's work "
                                "(loopback TCP to the sink), which no change in the shim's "
                                "code removes, only fewer bytes per span." % parts)
            if hint:
                row_hints["end-to-end %s" % title] = " ".join(hint)
            if spp is not None and spp < 50:
                row_hints["end-to-end %s" % title] = " ".join(hint) + " " + (
                    "the exporter sent only %.1f spans per export request (batching table; the "
                    "batch size is 512): export_all() drains whatever is queued, so under a steady "
                    "trickle it loops POSTing a few spans at a time on the application's CPU "
                    "(`sendto`/`recvfrom`/`newfstatat` per request in the system-call table); "
                    "stopping the drain when less than a batch remains and no flush is pending "
                    "gave 512-span batches and took hiredis from 1.34× to 1.13× when measured "
                    "(9 pinned pairwise rounds)." % spp)
            c = ctx["e2e_cpu"].get(key)
            th = ctx["e2e_thread"].get(key)
            pr = ctx["e2e_proc"].get(key)
            b.append(("end-to-end %s ≤ 1.02×, never worse than uftrace" % title,
                      "%.3f× (%.3f–%.3f; median's 95%% interval %.3f–%.3f)%s%s; fastest runs "
                      "%.3f×%s%s" % (
                          r[0], r[1], r[2], *ctx["e2e_ci"][key],
                          " (bare + an idle thread: %.3f×)" % th if th else "",
                          ("; exporter in a process: %.3f× [%.3f–%.3f]" % (pr[0], *pr[1])
                           if pr else "") +
                          ("; not sampled (`OTEL_TRACES_SAMPLER=always_off`): %.3f× "
                           "[%.3f–%.3f]" % (ctx["e2e_off"][key][0], *ctx["e2e_off"][key][1])
                           if key in ctx["e2e_off"] else ""),
                          ctx["e2e_fast"][key],
                          "; uftrace %.2f×" % u if u else "",
                          "; client CPU %.1f → %.1f µs/req (%.3f×)%s" % (
                              c[0], c[1], c[1] / c[0], split_text(ctx, key))
                          if c and c[0] > 0 else ""),
                      e2e_verdict(r, ctx["e2e_fast"][key], c, u, ctx["e2e_ci"].get(key))))
    t = ctx["tput"].get("otlp_proto")
    if t:
        th = ctx["tput"].get("otlp_proto_http")
        b.append(("OTLP protobuf ≥ 1,000,000 spans/s per core",
                  "encode {:,}/CPU-s; encode+POST {:,}/CPU-s".format(int(t), int(th or 0)),
                  verdict(t >= 1e6) + ("" if not th or th >= 1e6 else " (encode only; with "
                                                                       "HTTP shipping not)")))
    o = ctx["overload"]
    if o:
        p = float(o["paced 250k/s, live sink"]["lat_p50"])
        f = float(o["flat out, hung collector"]["lat_p50"])
        b.append(("producers never block", "call p50 %.0f ns paced vs %.0f ns while dropping "
                  "(hung collector)" % (p, f), verdict(f <= p * 1.5 + 50)))
    if ctx["rss"] is not None:
        b.append(("RSS added ≤ 8 MiB (default queue)", "%.1f MiB" % (ctx["rss"] / 1024),
                  verdict(ctx["rss"] <= 8 * 1024)))
    if ctx["startup"]:
        m = med(ctx["startup"])
        b.append(("start-up added ≤ 1 ms (/bin/true)", "%.2f ms (%.1f× the budget)" % (
            m / 1000, m / 1000), verdict(m <= 1000)))
    if ctx["exit"]:
        e = ctx["exit"]
        ip = ctx.get("exit_inproc", {})
        lvs = ip.get("live collector (scripts/collector.py)") or e["live collector (scripts/collector.py)"]
        lcs = ip.get("live collector (bench sink, C)") or e["live collector (bench sink, C)"]
        lv, lc = med(lvs), med(lcs)
        b.append(("exit flush, live collector ≤ 5 ms", "%.2f ms (Python collector); %.2f ms (C sink)"
                  "%s" % (lv, lc, ", timed in the process" if ip else ""), verdict(lc <= 5)))
        dd = max(med(e["dead collector (port closed)"]), med(e["hung collector (accepts, never answers)"]))
        b.append(("exit flush, dead collector ≤ the bound (500 ms)",
                  "closed port %.2f ms; hung %.0f ms" % (med(e["dead collector (port closed)"]),
                                                         med(e["hung collector (accepts, never answers)"])),
                  verdict(dd <= 500 + 20)))
    if ctx["scale"]:
        s1, s64 = ctx["scale"].get(1), ctx["scale"].get(64)
        b.append(("cost per span 1 → 64 threads ≤ 2×", "%.0f → %.0f ns (%.2f×)" % (s1, s64, s64 / s1),
                  verdict(s64 / s1 <= 2)))


# ---------------------------------------------------------------- main

def machine():
    cpu = "?"
    for ln in open("/proc/cpuinfo"):
        if ln.startswith("model name"):
            cpu = ln.split(":", 1)[1].strip()
            break
    def ver(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:
            return "not installed"
    git = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %s"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", ".",
                            ":!bench/RESULTS.md"], capture_output=True, text=True).stdout.strip()
    return [
        "- date: %s" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "- machine: %s, %d CPUs, %s, kernel %s" % (cpu, os.cpu_count(), platform.platform(terse=True),
                                                   platform.release()),
        "- tree: %s%s" % (git, " (with uncommitted changes)" if dirty else ""),
        "- gcc: %s; valgrind: %s" % (ver(["gcc", "--version"]), ver(["valgrind", "--version"])),
        "- strace: %s; ltrace: %s; uftrace: %s" % (ver(["strace", "-V"]), ver(["ltrace", "-V"]),
                                                   ver(["uftrace", "--version"])),
        "- servers: %s; %s" % (ver(["redis-server", "--version"]), ver(["mariadbd", "--version"])),
    ]


LOAD0 = open("/proc/loadavg").read().split()[0]


def guarded(section, ctx):
    """A section that fails (a program that did not build, a server that
    died) is reported as such; the others still run."""
    try:
        section(ctx)
    except Exception as e:
        md("", "**%s failed**: %s" % (section.__name__, str(e)[:400]), "")
        notes.append("%s failed: %s" % (section.__name__, str(e)[:200]))


def main():
    t_start = time.time()
    if not os.path.exists(LIB) or not os.path.exists(CORE):
        sys.exit("bench: build %s and %s first (make bench does)" % (LIB, CORE))
    build_programs()
    syms = exported_symbols()
    hooks = {
        "curl": "curl_easy_perform" in syms,
        "http_client": {"send", "recv"} <= syms,
        "http_server": {"send", "recv"} <= syms,
        "redis": bool({"redisCommand", "redisvCommand", "redisGetReply"} & syms),
        "mysql": bool({"mysql_query", "mysql_real_query"} & syms),
        "file": {"write", "read"} <= syms,
        "unix": {"write", "read"} <= syms,
        "stdio": {"fputs", "putc", "fwrite", "fprintf"} <= syms,
        "stdio_read": {"fgets", "getc", "fread"} <= syms,
        "dprintf": "dprintf" in syms,
        "span_db": True, "span_leaf": True, "span_min": True,
    }
    why = {k: "hook not in the tree yet (libautotrace.so exports no %s)" % s for k, s in (
        ("curl", "curl_easy_perform"), ("http_client", "send/recv"), ("http_server", "send/recv"),
        ("redis", "redisCommand"), ("mysql", "mysql_query"), ("file", "write/read"),
        ("unix", "write/read"), ("stdio", "fputs/putc/fwrite/fprintf"),
        ("stdio_read", "fgets/getc/fread"), ("dprintf", "dprintf"))}

    sink_p, sink = start_httpd(0)
    sink1_p, sink1 = start_httpd(1)
    web_p, web = start_httpd(0)
    url = "http://127.0.0.1:%d/bench" % web
    if LOOPS:  # a partial run starts only the servers it needs
        for k in ("redis", "mysql"):
            if k not in LOOPS:
                hooks[k] = False
                why[k] = "not in BENCH_LOOPS"
    why["redis_wire"] = "no redis-server (it did not start, or not in BENCH_LOOPS)"
    why["mysql_wire"] = "no mariadbd (it did not start, or not in BENCH_LOOPS)"
    redis_p, redis_port = start_redis() if hooks["redis"] else (None, None)
    if hooks["redis"] and not redis_p:
        hooks["redis"] = False
        why["redis"] = "redis-server did not start"
    my_p, my_port = start_mariadb() if hooks["mysql"] else (None, None)
    if hooks["mysql"] and not my_p:
        hooks["mysql"] = False
        why["mysql"] = "mariadbd did not start"
    fpath = os.path.join(TMP, "file")

    ctx = {"sink": sink, "sink1": sink1, "url": url, "web": web, "hooks": hooks, "why": why,
           "redis_port": redis_port,
           "instr": {}, "instr_dis": {}, "instr_proc": {}, "instr_exact": {}, "instr_replaced": {}, "instr_off": {}, "proc_tops": [], "instr_mt": {}, "instr_own": {}, "mt_tops": [],
           "e2e_thread": {}, "e2e_off": {}, "e2e_proc": {}, "lines": {}, "e2e_ratio": {}, "e2e_ci": {}, "e2e_ns": {}, "e2e_uftrace": {},
           "e2e_fast": {}, "e2e_cpu": {}, "e2e_flt": {}, "e2e_split": {}, "e2e_exp_parts": {}, "dis_entry": {}, "exp_instr": {}, "batching": {}, "sys_diff": {},
           "micro_ns": {}, "span_ns": {}, "call_ns": {}, "dis_tops": [], "tput": {}, "overload": {}, "scale": {}, "rss": None,
           "startup": None, "exit": None}
    V2 = ("bare", "shim")
    # "thread": bare + an idle thread, for the loops whose host is not
    # linked against libatcore (the span_cost rows have no preload to add)
    if os.path.exists(IDLE):
        V3T = ("bare", "thread", "shim", "disabled")
        V4P = V3T + ("proc", "off")
        V2T = ("bare", "thread", "shim")
    else:
        notes.append("bench/idle_thread.so was not built: the bare + idle thread variant "
                     "is missing")
        V3T, V2T = ("bare", "shim", "disabled"), V2
        V4P = V3T + ("proc", "off")
    ctx["thread"] = os.path.exists(IDLE)
    ctx["loops"] = [
        ("curl", "libcurl keep-alive GET", "loop_curl", lambda: [q(2000, 300), url], 1,
         hooks["curl"], V4P),
        ("http_client", "raw HTTP client (send/recv)", "loop_rawhttp", lambda: [q(3000, 300), web],
         1, hooks["http_client"], V4P),
        ("http_server", "raw HTTP server (recv/send)", "httpd", lambda: [q(3000, 300)], 1,
         hooks["http_server"], V2T),
        ("redis", "hiredis PING", "loop_redis", lambda: [q(3000, 300), redis_port], 1,
         hooks["redis"], V4P),
        ("mysql", "mysql_query SELECT 1", "loop_mysql", lambda: [q(2000, 300), my_port], 1,
         hooks["mysql"], V4P),
        ("redis_wire", "Redis on the wire, PING (hiredis linked in)", "loop_redis_wire",
         lambda: [q(3000, 300), redis_port], 1, hooks["http_client"] and bool(redis_port), V2T),
        ("mysql_wire", "MySQL on the wire, SELECT 1 (libmariadb linked in)", "loop_mysql_wire",
         lambda: [q(2000, 300), my_port], 1, hooks["http_client"] and bool(my_port), V2T),
        ("file", "write+read, regular file", "loop_fd", lambda: [q(20000, 2000), "file", fpath], 2,
         hooks["file"], V3T),
        ("unix", "write+read, AF_UNIX socketpair (untraced socket)", "loop_fd",
         lambda: [q(20000, 2000), "unix"], 2, hooks["unix"], V2T),
        ("stdio", "fputs+putc+fwrite+fprintf, a stream on /dev/null", "loop_fd",
         lambda: [q(20000, 2000), "stdio", "/dev/null"], 4, hooks["stdio"], V2T),
        ("stdio_read", "fgets+getc+fread, a stream on /dev/zero", "loop_fd",
         lambda: [q(20000, 2000), "stdio_read", "/dev/zero"], 3, hooks["stdio_read"], V2T),
        ("dprintf", "dprintf, /dev/null", "loop_fd",
         lambda: [q(20000, 2000), "dprintf", "/dev/null"], 1, hooks["dprintf"], V2T),
        ("span_db", "synthetic DB span (`span_cost`)", "span_cost", lambda: [q(20000, 5000), 1, "db"],
         1, True, V2),
        ("span_leaf", "synthetic DB span as a leaf (`span_cost` leaf)", "span_cost",
         lambda: [q(20000, 5000), 1, "leaf"], 1, True, V2),
        ("span_min", "minimal span, no attributes (`span_cost`)", "span_cost",
         lambda: [q(20000, 5000), 1, "minimal"], 1, True, V2),
    ]
    ctx["e2e"] = [
        ("curl", "libcurl keep-alive GET", "loop_curl", lambda: [q(3000, 500), url], hooks["curl"]),
        ("http_client", "raw HTTP send/recv", "loop_rawhttp", lambda: [q(5000, 500), web],
         hooks["http_client"]),
        ("redis", "hiredis PING", "loop_redis", lambda: [q(5000, 500), redis_port], hooks["redis"]),
        ("mysql", "mysql_query SELECT 1", "loop_mysql", lambda: [q(3000, 500), my_port],
         hooks["mysql"]),
    ]
    ctx["micro"] = [
        ("file", "write+read, regular file", "loop_fd", lambda: [q(300000, 30000), "file", fpath], 2,
         hooks["file"]),
        ("unix", "write+read, AF_UNIX socketpair", "loop_fd", lambda: [q(300000, 30000), "unix"], 2,
         hooks["unix"]),
        ("stdio", "fputs+putc+fwrite+fprintf, a stream on /dev/null", "loop_fd",
         lambda: [q(300000, 30000), "stdio", "/dev/null"], 4, hooks["stdio"]),
        ("stdio_read", "fgets+getc+fread, a stream on /dev/zero", "loop_fd",
         lambda: [q(300000, 30000), "stdio_read", "/dev/zero"], 3, hooks["stdio_read"]),
        ("dprintf", "dprintf, /dev/null", "loop_fd",
         lambda: [q(300000, 30000), "dprintf", "/dev/null"], 1, hooks["dprintf"]),
    ]
    ctx["calls"] = [("redis", "hiredis PING", "call_redis", []),
                    ("mysql", "mysql_query SELECT 1", "call_mysql", [my_port])]
    if LOOPS:
        for k in ("loops", "e2e", "micro", "calls"):
            ctx[k] = [row for row in ctx[k] if row[0] in LOOPS]
        notes.append("partial run: BENCH_LOOPS=%s" % ",".join(LOOPS))
    if SECTIONS:
        notes.append("partial run: BENCH_SECTIONS=%s" % ",".join(SECTIONS))
    want = lambda name: not SECTIONS or name in SECTIONS
    try:
        if not want("callgrind"):
            pass
        elif shutil.which("valgrind"):
            guarded(section_callgrind, ctx)
        else:
            md("## 1. Per-call cost", "", "skipped: valgrind is not installed", "")
        for sec in (section_e2e, section_lines, section_micro, section_exporter, section_scale,
                    section_memory):
            if want(sec.__name__[len("section_"):]):
                guarded(sec, ctx)
    finally:
        for p in procs[::-1]:
            stop(p)
        if os.environ.get("BENCH_KEEP") == "1":
            print("bench: profiles kept in " + TMP, file=sys.stderr)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    try:
        budgets(ctx)
    except Exception as e:
        notes.append("the budget table is incomplete: %s" % e)
    elapsed = time.time() - t_start
    head = ["# autotrace benchmark results", "",
            "Generated by `make bench` (`bench/run.py`); do not edit by hand. "
            "See docs/bench.md for the method.%s" % (" **BENCH_QUICK run: small counts.**"
                                                      if QUICK else ""), ""]
    head += machine() + ["- this run took %.0f s; load average at start %s, at end %s (the "
                         "machine is shared: other builds and tests may run alongside)" % (
                             elapsed, LOAD0, open("/proc/loadavg").read().split()[0]), ""]
    head += ["## Budgets (issue 8)", "", "| budget | measured | verdict |", "|---|---|---|"]
    head += ["| %s | %s | %s |" % r for r in budget_rows] + [""]
    cn = close_note()
    if cn:
        head += ["### Budgets not met: by how much, and what would close it", ""] + cn + [""]
    if notes:
        head += ["Notes:", ""] + ["- " + n for n in notes] + [""]
    tail = ["## Commands", "", "Build (run.py does this):", "", "```"] + build_cmds + ["```", "",
            "Measured (one of each; `$BUILD/bench` holds the programs, $TMP a scratch dir):", "",
            "```"] + commands + ["```", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(head + report + tail))
    log("wrote %s in %.0f s" % (OUT, elapsed))


if __name__ == "__main__":
    main()
