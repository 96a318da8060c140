"""An OTLP/gRPC trace receiver for tests: a real gRPC server (grpcio, Debian's
python3-grpcio) serving opentelemetry.proto.collector.trace.v1.TraceService/
Export on loopback, requests decoded with the official OTLP definitions (the
protoc-generated modules collector.py uses). Spans accumulate as the same
plain dicts as collector.Collector's, and wait_for works the same.
GrpcCollector(tls=(certfile, keyfile)) serves over TLS (grpc's own, BoringSSL
or OpenSSL inside grpcio), with client_ca also requiring a client
certificate."""
import time
from concurrent import futures

import grpc

from collector import Receiver, span_dicts, trace_service_pb2

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def _read(path):
    with open(path, "rb") as f:
        return f.read()


class GrpcCollector(Receiver):
    """status_plan: gRPC status codes (grpc.StatusCode) the next calls are
    answered with before the first OK; delay: seconds each call waits.
    tls=(certfile, keyfile) (PEM): a secure port (endpoint https://...);
    client_ca: a PEM file of the CAs a required client certificate must be
    signed by. (A refused handshake is grpc's own log line on stderr;
    tls_errors stays empty here.)"""

    def __init__(self, port=0, host="127.0.0.1", tls=None, client_ca=None, **server_options):
        super().__init__()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                                  options=list(server_options.items()))
        handler = grpc.unary_unary_rpc_method_handler(
            self._export,
            request_deserializer=trace_service_pb2.ExportTraceServiceRequest.FromString,
            # a reply given as bytes goes as it is
            response_serializer=lambda r: r if isinstance(r, bytes) else r.SerializeToString())
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
        address = "%s:%d" % (host, port)
        if tls:
            creds = grpc.ssl_server_credentials(
                [(_read(tls[1]), _read(tls[0]))],
                root_certificates=_read(client_ca) if client_ca else None,
                require_client_auth=bool(client_ca))
            self.port = self.server.add_secure_port(address, creds)
        else:
            self.port = self.server.add_insecure_port(address)
        self.endpoint = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.server.start()

    def _export(self, request, context):
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            status = self.status_plan.pop(0) if self.status_plan else grpc.StatusCode.OK
            self.requests.append({"metadata": dict(context.invocation_metadata()),
                                  "time_remaining": context.time_remaining(),
                                  "status": status})
        if status != grpc.StatusCode.OK:
            context.abort(status, "told to fail: %s" % status.name)
        try:
            spans = span_dicts(request)
        except Exception as e:  # a decode failure is a test failure
            with self.lock:
                self.errors.append(repr(e))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, repr(e))
        with self.lock:
            self.spans.extend(spans)
            self.lock.notify_all()
        if self.reply:
            return self.reply("application/grpc")[0]
        return trace_service_pb2.ExportTraceServiceResponse()

    def close(self):
        self.server.stop(0).wait()
