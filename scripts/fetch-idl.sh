#!/bin/sh
# The official wire definitions the tests decode with (never only our own
# decoder): the OTLP .proto files and the Jaeger IDL, from the npm packages
# named in shared/CONVENTIONS.md, installed under build/idl.
set -eu
dest=${1:-build/idl}
if [ -f "$dest/.done" ]; then exit 0; fi
mkdir -p "$dest"
npm install --silent --no-audit --no-fund --no-save --prefix "$dest" \
	@opentelemetry/otlp-grpc-exporter-base@0.38.0 jaeger-client@3.19.0 >/dev/null
protos="$dest/node_modules/@opentelemetry/otlp-grpc-exporter-base/build/protos"
mkdir -p "$dest/py"
protoc -I "$protos" --python_out="$dest/py" \
	"$protos/opentelemetry/proto/common/v1/common.proto" \
	"$protos/opentelemetry/proto/resource/v1/resource.proto" \
	"$protos/opentelemetry/proto/trace/v1/trace.proto" \
	"$protos/opentelemetry/proto/collector/trace/v1/trace_service.proto"
idl="$dest/node_modules/jaeger-client/dist/src/jaeger-idl/thrift"
thrift -r --gen py -out "$dest/py" "$idl/agent.thrift"
thrift -r --gen py -out "$dest/py" "$idl/jaeger.thrift"
touch "$dest/.done"
