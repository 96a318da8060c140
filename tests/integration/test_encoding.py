"""The OTLP encoders' output, decoded with the official protos: nested
lengths over several varint bytes, every attribute type, unicode, invalid
UTF-8 and control characters, events, status, tracestate, parent ids."""
import os
import subprocess

from conftest import BUILD
from collector import decode, span_dicts


def encoded(tmp_path):
    subprocess.run([os.path.join(BUILD, "tests", "test_encode")], check=True,
                   capture_output=True, env=dict(os.environ, AT_ENCODE_OUT=str(tmp_path)))
    return tmp_path


def check(spans):
    assert len(spans) in (1, 100)
    s = spans[0]
    assert s["name"] == "GET" and s["kind"] == "CLIENT"
    assert s["parent_span_id"] == "ab" * 8
    assert s["trace_state"] == "congo=t61rcWkgMzE"
    assert s["start"] == 1700000000000000000 and s["end"] - s["start"] == 1234567
    a = s["attributes"]
    assert a["http.response.status_code"] == 200
    assert a["negative"] == -42
    assert a["ratio"] == 0.5
    assert a["flag"] is False
    assert a["unicode"] == "h\u00e9llo w\u00f6rld \u2713"
    # invalid bytes replaced, everything else kept
    assert a["binary"] == "a\ufffd\ufffdb\x00c\x01\"\\"
    assert a["big"] == "x" * 600
    assert s["dropped_attributes"] == 3
    assert s["status_code"] == 2 and s["status_message"] == 'boom "quoted"'
    ev = s["events"][0]
    assert ev["name"] == "exception"
    assert ev["attributes"] == {"exception.type": "SIGSEGV", "exception.message": "line1\nline2"}
    res = s["resource"]
    assert res["telemetry.sdk.name"] == "autotrace" and isinstance(res["process.pid"], int)
    if len(spans) == 100:
        assert [x["attributes"]["http.response.status_code"] for x in spans] == list(range(200, 300))
        assert spans[1]["attributes"]["flag"] is True
        assert len({x["span_id"] for x in spans}) == 100


def test_protobuf_decodes_with_official_protos(tmp_path):
    d = encoded(tmp_path)
    check(span_dicts(decode((d / "batch.pb").read_bytes(), "application/x-protobuf")))
    check(span_dicts(decode((d / "one.pb").read_bytes(), "application/x-protobuf")))


def test_json_decodes_with_official_protos(tmp_path):
    d = encoded(tmp_path)
    check(span_dicts(decode((d / "batch.json").read_bytes(), "application/json")))
