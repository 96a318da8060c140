#!/bin/sh
# Debian packages for building autotrace and running its tests and demo.
# The shim itself links only libc, libpthread, libdl; libunwind and zlib (their
# -dev packages: headers to build, the libraries to load) it loads when first
# needed. The client libraries here are what the test programs use; lighttpd
# runs the CGI tests' programs (git's git-http-backend among them); lighttpd and
# haproxy are the event-loop proxies of the HTTP tests; grpcio and h2 are the OTLP/gRPC tests' servers;
# socat starts busybox's inetd-mode web server per connection for the inetd tests,
# and micro-httpd (which reads its request with stdio) for the stdio-read tests;
# PyMySQL (pure Python) and the mariadb CLI (its client library built in) are
# clients of the MySQL-on-the-wire tests;
# clang with libclang-rt-dev (libFuzzer and the sanitizers' runtimes, only
# recommended by clang) builds tests/fuzz, whose seeds make check replays;
# the openssl CLI makes the TLS tests' certificates; libssl-dev's headers give
# reporter/tls.c OpenSSL's types and constants (the shim links nothing of it: it
# loads libssl.so.3, of libssl3, only when it exports over https).
set -eu
pkgs="build-essential pkg-config libcmocka-dev
 libcurl4-openssl-dev curl wget openssl git
 libhiredis-dev redis-server
 libmariadb-dev mariadb-server mariadb-client
 libunwind-dev zlib1g-dev libssl-dev
 python3 python3-pytest python3-protobuf python3-thrift python3-mysqldb python3-pymysql
 python3-grpcio python3-h2
 lighttpd haproxy socat busybox micro-httpd
 libdbd-mysql-perl perl
 protobuf-compiler thrift-compiler
 valgrind clang libclang-rt-dev llvm binutils dwz
 strace ltrace uftrace"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# the machine image ships Node.js with npm; Debian's npm conflicts with it
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
