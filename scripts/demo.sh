#!/bin/sh
# make demo: a chain of real programs, started only with LD_PRELOAD, makes
# one connected trace:
#
#   curl (CLI) -> lighttpd (not traced) -> checkout.cgi (a Python CGI program)
#              -> frontend (C, raw sockets, thread per connection)
#              -> backend  (C, raw sockets, fork per connection)
#                          -> Redis (hiredis) and MySQL (libmariadb)
#
# The web server is not traced: the CGI program continues the trace from the
# request's headers, which lighttpd hands it as HTTP_TRACEPARENT.
#
# Everything runs on 127.0.0.1 in a temporary directory and is torn down at
# the end. The trace is printed as a tree by scripts/collector.py; when a real
# Jaeger or OpenTelemetry Collector already listens on 127.0.0.1:4318 the
# spans go there instead (see it in its UI).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PY=/usr/bin/python3
cd "$ROOT"

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

say "installing what the demo needs (scripts/install-deps.sh)"
./scripts/install-deps.sh
say "building"
make -s BUILD="$BUILD" all programs >/dev/null
./scripts/fetch-idl.sh "$ROOT/build/idl"

TMP=$(mktemp -d /tmp/autotrace-demo.XXXXXX)
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
listening() {
	$PY -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" \
		2>/dev/null
}
wait_port() {
	i=0
	until listening "$1"; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "demo: $2 did not start (see $TMP)" >&2; exit 1; }
		sleep 0.1
	done
}

# ---- where the spans go ----
if listening 4318; then
	ENDPOINT=http://127.0.0.1:4318
	say "a collector already listens on 127.0.0.1:4318: the spans go there (look in its UI)"
	OWN_COLLECTOR=0
else
	CPORT=$(free_port)
	ENDPOINT=http://127.0.0.1:$CPORT
	$PY scripts/collector.py --port "$CPORT" --quiet-after 1 >"$TMP/collector.out" 2>&1 &
	PIDS="$PIDS $!"
	wait_port "$CPORT" collector
	OWN_COLLECTOR=1
fi

# ---- Redis and MariaDB, in the temporary directory ----
say "starting redis-server and mariadbd on loopback"
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$TMP" \
	>"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
MPORT=$(free_port)
mkdir -p "$TMP/db"
mariadb-install-db --no-defaults --auth-root-authentication-method=normal --skip-test-db \
	--datadir="$TMP/db" --innodb-log-file-size=8M --innodb-buffer-pool-size=16M \
	>"$TMP/install-db.log" 2>&1
mariadbd --no-defaults --user="$(id -un)" --datadir="$TMP/db" --socket="$TMP/mysqld.sock" \
	--port="$MPORT" --bind-address=127.0.0.1 --skip-name-resolve --performance-schema=OFF \
	--skip-log-bin --innodb-log-file-size=8M --innodb-buffer-pool-size=16M \
	--pid-file="$TMP/mysqld.pid" >"$TMP/mariadbd.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$RPORT" redis-server
wait_port "$MPORT" mariadbd
mariadb --no-defaults -uroot --socket="$TMP/mysqld.sock" -e "
	CREATE DATABASE shop;
	CREATE TABLE shop.users (id INT PRIMARY KEY, name VARCHAR(40));
	INSERT INTO shop.users VALUES (1, 'alice'), (2, 'bob');"

# ---- the services: unchanged binaries, only LD_PRELOAD ----
# Run in a subshell, `( traced ... )`: the subshell becomes the program
# (exec), so a service's $! is its own pid and cleanup's kill reaches it. A
# subshell that waited for it instead would die alone and leave the service
# running after the demo.
traced() {
	name=$1
	shift
	exec env LD_PRELOAD="$BUILD/libautotrace.so" OTEL_SERVICE_NAME="$name" \
		OTEL_EXPORTER_OTLP_ENDPOINT="$ENDPOINT" OTEL_BSP_SCHEDULE_DELAY=200 "$@"
}
say "starting backend (fork per connection) and frontend (thread per connection) under LD_PRELOAD"
BPORT=$(free_port)
FPORT=$(free_port)
(traced backend "$BUILD/programs/http_demo_backend" "$BPORT" "$RPORT" "$MPORT") \
	>"$TMP/backend.log" 2>&1 &
PIDS="$PIDS $!"
(traced frontend "$BUILD/programs/http_demo_frontend" "$FPORT" "$BPORT") \
	>"$TMP/frontend.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$BPORT" backend
wait_port "$FPORT" frontend

# ---- a web server that is not traced, and its CGI program that is ----
say "starting lighttpd (not traced), whose CGI program gets LD_PRELOAD from its configuration"
WPORT=$(free_port)
mkdir -p "$TMP/www/cgi-bin"
cat >"$TMP/www/cgi-bin/checkout.cgi" <<EOF
#!$PY
import os, sys, urllib.request
url = "http://127.0.0.1:$FPORT/checkout?" + os.environ.get("QUERY_STRING", "")
body = urllib.request.urlopen(url).read().decode()
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n" + body)
EOF
chmod 755 "$TMP/www/cgi-bin/checkout.cgi"
cat >"$TMP/lighttpd.conf" <<EOF
server.document-root = "$TMP/www"
server.bind = "127.0.0.1"
server.port = $WPORT
server.modules = ("mod_cgi", "mod_setenv")
cgi.assign = (".cgi" => "")
setenv.add-environment = ("LD_PRELOAD" => "$BUILD/libautotrace.so",
	"OTEL_SERVICE_NAME" => "storefront", "OTEL_EXPORTER_OTLP_ENDPOINT" => "$ENDPOINT")
EOF
lighttpd -D -f "$TMP/lighttpd.conf" >"$TMP/lighttpd.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$WPORT" lighttpd

say "curl http://127.0.0.1:$WPORT/cgi-bin/checkout.cgi?user=1   (curl itself under LD_PRELOAD too)"
(traced client curl -sS "http://127.0.0.1:$WPORT/cgi-bin/checkout.cgi?user=1")

if [ "$OWN_COLLECTOR" = 0 ]; then
	say "done: the trace is in the collector at 127.0.0.1:4318"
	exit 0
fi
say "the trace, as the collector received it"
i=0
until grep -q '^trace ' "$TMP/collector.out"; do
	i=$((i + 1))
	if [ $i -ge 150 ]; then
		echo "demo: no trace arrived; collector output:" >&2
		cat "$TMP/collector.out" >&2
		exit 1
	fi
	sleep 0.1
done
sleep 2.5 # spans of the same trace that were still on their way
sed -n '/^trace /,$p' "$TMP/collector.out"
