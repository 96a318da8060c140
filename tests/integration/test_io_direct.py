"""The I/O hooks' direct system calls (hooks/io_direct.h): a program with no
thread of its own gets read/write/recv/send/sendmsg/poll/connect/accept/close
made as system calls once the
exporter thread runs (glibc's cancellation switches then cost it nothing;
with an exporter process glibc stays single-threaded and nothing changes),
with the same results and errno as libc's; a program that starts a thread
or cancels one gets libc's cancellation points back (PITFALLS 16), a thread
started where no hook sees it gets libc's calls, and an interposer after the
shim keeps seeing every call."""
import os
import re

import pytest

from conftest import BUILD, LIB, program, run, shim_env

COUNT_IO = os.path.join(BUILD, "preloads", "count_io.so")
EARLY_IO = os.path.join(BUILD, "preloads", "early_io.so")
# io_direct.h's bits: read 0x1, write 0x2, recv 0x4, send 0x8, sendmsg 0x10,
# poll 0x20, connect 0x40, accept 0x80, close 0x100
ALL = 0x1FF


def direct_bits(stderr):
    m = re.search(r"made as system calls \(0x([0-9a-f]+)\)", stderr)
    return int(m.group(1), 16) if m else 0


def test_direct_calls_give_libc_results_and_errno(collector, http_server):
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_EXPORTER_MODE="thread")
    r = run([program("io_direct"), str(http_server.port), "check"], env)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, out + err
    assert re.fullmatch(r"ok \d+\n", out), out
    # the calls checked were the direct ones: read, write, recv, send,
    # sendmsg, poll, connect, accept, close
    assert direct_bits(err) == ALL, err
    spans = collector.wait_for(1, pred=lambda s: s["kind"] == "CLIENT")
    assert spans and spans[0]["attributes"]["url.full"].endswith("/direct"), spans


@pytest.mark.parametrize("start", ["cancel", "c11"])
def test_a_thread_of_the_program_gets_libc_cancellation_points_back(
    collector, http_server, start
):
    # start "c11": the threads come from thrd_create, which glibc runs without
    # calling pthread_create through the PLT
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_EXPORTER_MODE="thread")
    r = run([program("io_direct"), str(http_server.port), start], env, timeout=20)
    out, err = r.stdout.decode(), r.stderr.decode()
    # exit 142 (SIGALRM): a cancelled thread stayed blocked in recv or read
    assert r.returncode == 0, (r.returncode, out, err)
    assert out == "cancelled 4\n", out + err
    assert direct_bits(err) == ALL, err  # they were direct before the threads


@pytest.mark.parametrize("call", ["timer", "timer_poll"])
def test_a_thread_glibc_starts_itself_gets_libc_cancellation_points(
    collector, http_server, call
):
    # a SIGEV_THREAD timer's callback thread: glibc starts it without the
    # shim's pthread_create hook seeing it; its recv (or poll) must still be
    # libc's
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_EXPORTER_MODE="thread")
    r = run([program("io_direct"), str(http_server.port), call], env, timeout=20)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, (r.returncode, out, err)
    assert out == "cancelled 1\n", out + err
    assert direct_bits(err) == ALL, err


def test_an_interposer_after_the_shim_still_sees_every_write_and_poll(collector, http_server):
    n = 2000
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_EXPORTER_MODE="thread")
    env["LD_PRELOAD"] = "%s %s" % (LIB, COUNT_IO)
    r = run([program("io_direct"), str(http_server.port), "writes", str(n)], env)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0 and out == "wrote %d\n" % n, out + err
    m = re.search(r"count_io write (\d+) read (\d+) poll (\d+)", err)
    assert m, err
    # the n writes, reads and polls of the pipe loop, at least
    assert all(int(m.group(i)) >= n for i in (1, 2, 3)), m.group(0)
    # write, read and poll are not libc's next definitions: never made
    # directly (recv, send, sendmsg are, the interposer has none of them)
    assert direct_bits(err) == ALL & ~0x23, err


def test_with_an_exporter_process_libc_is_called_as_before(collector, http_server):
    env = shim_env(collector, AUTOTRACE_LOG_LEVEL="debug", AUTOTRACE_EXPORTER_MODE="process")
    r = run([program("io_direct"), str(http_server.port), "check"], env)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0 and re.fullmatch(r"ok \d+\n", out), out + err
    assert "exporter process started" in err, err  # the mode really was process
    assert direct_bits(err) == 0, err


@pytest.mark.parametrize("call", ["write", "send", "sendto", "sendmsg", "writev", "read", "recv",
                                  "recvfrom", "recvmsg", "readv", "__read_chk", "__recv_chk",
                                  "__recvfrom_chk"])
def test_a_hooks_first_call_before_the_shim_looked_up_libc(collector, http_server, call):
    """A library's constructor that runs first makes the call (early_io.so):
    the hook, whose own path has no frame, looks libc up out of line then
    and makes the call again; the bytes and the result are the program's,
    and the shim goes on to trace the program's request."""
    env = shim_env(collector, EARLY_IO=call)
    env["LD_PRELOAD"] = EARLY_IO + " " + env["LD_PRELOAD"]
    r = run([program("http_client"), str(http_server.port), "/early"], env)
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "early %s 5 hello\n" % call in err, err
    spans = collector.wait_for(1, pred=lambda s: s["kind"] == "CLIENT")
    assert spans and spans[0]["attributes"]["url.full"].endswith("/early"), spans
