#!/usr/bin/env python3
"""The exporter thread's CPU per span over OTLP/HTTP (protobuf) and over
OTLP/gRPC, each in the clear and over TLS, side by side: `loop_curl N URL`
under the shim, pinned to CPU 0 with the bench sink it requests from,
exports its N spans to a real receiver of each protocol
(scripts/collector.py; scripts/grpc_collector.py, grpcio; with TLS, a test
CA's certificate made by tests/integration/tls_certs.py), the four
alternating for R rounds. The figures are the shim's own
(`AUTOTRACE_LOG_LEVEL=info` prints its exporter thread's CPU time at exit,
split into rendering, encoding and sending), divided by N. Prints one
`protocol=... total_ns=... render_ns=... encode_ns=... send_ns=...` line per
protocol (medians), and `send_ns_range=min-max`.

  exporter_protocols.py LIB BENCH_BIN [N] [ROUNDS]
"""
import os
import re
import shutil
import statistics
import tempfile
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
from collector import Collector  # noqa: E402
from grpc_collector import GrpcCollector  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from tls_certs import make_certs  # noqa: E402

STATS = re.compile(rb"exported (\d+).*exporter thread CPU (\d+) us \(render (\d+), "
                   rb"encode (\d+), send (\d+)\)")


def main():
    lib, bench_bin = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    sink = subprocess.Popen(["taskset", "-c", "0", os.path.join(bench_bin, "httpd"), "0"],
                            stdout=subprocess.PIPE, text=True)
    url = "http://127.0.0.1:%s/x" % sink.stdout.readline().strip()
    res = {"http/protobuf": [], "grpc": [], "http/protobuf+tls": [], "grpc+tls": []}
    tmp = tempfile.mkdtemp(prefix="autotrace-bench-tls-")
    certs = make_certs(tmp)
    try:
        for _ in range(rounds):
            for name in res:
                proto, tls = name.split("+")[0], name.endswith("+tls")
                cls = Collector if proto == "http/protobuf" else GrpcCollector
                rcv = cls(tls=certs.server if tls else None)
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith(("OTEL_", "AUTOTRACE_", "JAEGER_"))}
                env.update(LD_PRELOAD=lib, OTEL_EXPORTER_OTLP_ENDPOINT=rcv.endpoint,
                           OTEL_EXPORTER_OTLP_PROTOCOL=proto, AUTOTRACE_LOG_LEVEL="info",
                           AUTOTRACE_EXIT_TIMEOUT="10000",
                           OTEL_EXPORTER_OTLP_CERTIFICATE=certs.ca)
                r = subprocess.run(["taskset", "-c", "0", os.path.join(bench_bin, "loop_curl"),
                                    str(n), url], env=env, capture_output=True, timeout=300)
                rcv.close()
                m = STATS.search(r.stderr)
                if r.returncode or not m:
                    sys.exit("loop_curl under %s: rc %d: %s" % (name, r.returncode, r.stderr[-400:]))
                res[name].append([int(x) * 1000.0 / int(m.group(1)) for x in m.groups()[1:]])
    finally:
        sink.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    for proto, rows in res.items():
        cols = list(zip(*rows))
        print("protocol=%s total_ns=%.0f render_ns=%.0f encode_ns=%.0f send_ns=%.0f "
              "send_ns_range=%.0f-%.0f rounds=%d spans=%d"
              % ((proto,) + tuple(statistics.median(c) for c in cols) +
                 (min(cols[3]), max(cols[3]), rounds, n)))


if __name__ == "__main__":
    main()
