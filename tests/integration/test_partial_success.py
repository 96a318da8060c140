"""An OTLP collector that takes a batch only in part answers with success
and a partial_success (rejected_spans, error_message): the shim must not
send the batch again, must not count the rejected spans as exported, and
says how many were rejected and why (AUTOTRACE_LOG_LEVEL=warn). The pinned
official protos (CONVENTIONS.md) predate partial_success, so the answers are
written here by the specification's field numbers: ExportTraceServiceResponse
field 1, ExportTracePartialSuccess {int64 rejected_spans = 1; string
error_message = 2}, and its proto3 JSON."""
import json
import os
import re
import sys

import pytest

from conftest import ROOT, fuzz_short, run, shim_env

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from collector import Collector  # noqa: E402
from grpc_collector import GrpcCollector  # noqa: E402


def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80])
        v >>= 7
    return out + bytes([v])


def partial_proto(rejected, msg):
    inner = b""
    if rejected:
        inner += b"\x08" + varint(rejected)
    if msg:
        m = msg.encode()
        inner += b"\x12" + varint(len(m)) + m
    return b"\x0a" + varint(len(inner)) + inner


def answer(rejected, msg):
    """The collector's reply: protobuf, JSON or a gRPC message as asked."""
    def reply(ctype):
        if "json" in ctype:
            body = {"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": msg}}
            return json.dumps(body).encode(), "application/json"
        return partial_proto(rejected, msg), "application/x-protobuf"
    return reply


STATS = re.compile(r"spans queued (\d+), exported (\d+)")


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json", "grpc"])
@pytest.mark.parametrize("rejected,msg", [(2, "span too old"), (0, "attributes truncated")])
def test_partial_success_is_said_and_not_retried(http_server, protocol, rejected, msg):
    c = GrpcCollector() if protocol == "grpc" else Collector()
    try:
        c.reply = answer(rejected, msg)
        env = shim_env(c, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, AUTOTRACE_LOG_LEVEL="info",
                       OTEL_BSP_SCHEDULE_DELAY=60000)  # one batch, at exit
        urls = [http_server.url + "/p%d" % i for i in range(3)]
        r = run(["curl", "-s"] + urls, env)
        assert r.returncode == 0 and r.stdout == b"hello\n" * 3, r.stderr
        err = r.stderr.decode()
        assert len(c.wait_for(3)) == 3
        assert len(c.requests) == 1, c.requests  # not sent again
        m = STATS.search(err)
        assert m and m.group(1) == "3", err
        assert int(m.group(2)) == 3 - rejected, err
        if rejected:
            assert "rejected %d of 3 spans: %s" % (rejected, msg) in err, err
        else:
            assert "took 3 spans with a warning: %s" % msg in err, err
        assert "failed" not in err, err
    finally:
        c.close()
    assert not c.errors, c.errors


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_an_empty_partial_success_is_full_success(http_server, protocol):
    c = GrpcCollector() if protocol == "grpc" else Collector()
    try:
        c.reply = lambda ctype: (b"\x0a\x00", "application/x-protobuf")  # all accepted
        env = shim_env(c, OTEL_EXPORTER_OTLP_PROTOCOL=protocol, AUTOTRACE_LOG_LEVEL="info",
                       OTEL_BSP_SCHEDULE_DELAY=60000)
        r = run(["curl", "-s", http_server.url + "/all"], env)
        assert r.returncode == 0, r.stderr
        err = r.stderr.decode()
        m = STATS.search(err)
        assert m and m.groups() == ("1", "1"), err
        assert "rejected" not in err and "warning" not in err, err
    finally:
        c.close()


def test_partial_success_reader_fuzz_short(tmp_path):
    """What a collector answers is read as protobuf and as JSON
    (reporter/otlp_partial.c) under libFuzzer for a few seconds: no crash,
    the message printable and bounded, never more rejected than sent."""
    fuzz_short("fuzz_partial", tmp_path)
