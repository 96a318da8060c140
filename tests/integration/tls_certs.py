"""Certificates for the TLS tests, made with the openssl CLI (EC P-256 keys,
so making them takes a few tens of milliseconds), once per session:

- a test CA (ca.pem, ca.key);
- a server certificate signed by it for IP:127.0.0.1 and DNS:localhost
  (server.pem, server.key);
- one signed by it for DNS:wrong.example only (wrong.pem, wrong.key);
- a second, separate CA for clients (client-ca.pem, client-ca.key) and a
  client certificate signed by it (client.pem, client.key).

Every certificate is X.509 v3 with key identifiers and critical basic
constraints, so also Python's strict verification (VERIFY_X509_STRICT)
takes them. Test modules use the session fixture with

    from tls_certs import tls_certs  # noqa: F401  (the fixture)

and `tls_certs.server` is the (certfile, keyfile) pair Collector(tls=...)
and GrpcCollector(tls=...) take. Run as a program it writes them into a
directory: python3 tests/integration/tls_certs.py DIR"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1, DNS:localhost
[wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


class TlsCerts:
    """Paths (str) of what make_certs wrote into dir."""

    def __init__(self, d):
        self.dir = str(d)
        p = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.ca, self.ca_key = p("ca.pem"), p("ca.key")
        self.server_cert, self.server_key = p("server.pem"), p("server.key")
        self.wrong_cert, self.wrong_key = p("wrong.pem"), p("wrong.key")
        self.client_ca, self.client_ca_key = p("client-ca.pem"), p("client-ca.key")
        self.client_cert, self.client_key = p("client.pem"), p("client.key")
        self.server = (self.server_cert, self.server_key)  # Collector(tls=...)
        self.wrong = (self.wrong_cert, self.wrong_key)
        self.client = (self.client_cert, self.client_key)


def _openssl(d, *args):
    r = subprocess.run(["openssl"] + list(args), cwd=d, capture_output=True, timeout=60)
    if r.returncode:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


def _key(d, name):
    _openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-out", name)


def _ca(d, name, cn):
    _key(d, name + ".key")
    _openssl(d, "req", "-config", "openssl.cnf", "-new", "-x509", "-key", name + ".key",
             "-subj", "/CN=" + cn, "-days", "30", "-sha256", "-extensions", "ca",
             "-set_serial", "1", "-out", name + ".pem")


def _leaf(d, name, cn, ca, ext, serial):
    _key(d, name + ".key")
    _openssl(d, "req", "-config", "openssl.cnf", "-new", "-key", name + ".key",
             "-subj", "/CN=" + cn, "-out", name + ".csr")
    _openssl(d, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-set_serial", str(serial), "-days", "30", "-sha256",
             "-extfile", "openssl.cnf", "-extensions", ext, "-out", name + ".pem")
    os.unlink(os.path.join(d, name + ".csr"))


def make_certs(d):
    """Writes the CAs, certificates and keys into directory d; a TlsCerts."""
    if not shutil.which("openssl"):
        raise RuntimeError("the openssl CLI is not installed (scripts/install-deps.sh)")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "openssl.cnf"), "w") as f:
        f.write(CONFIG)
    _ca(d, "ca", "autotrace test CA")
    _leaf(d, "server", "autotrace test server", "ca", "server", 2)
    _leaf(d, "wrong", "wrong.example", "ca", "wrong", 3)
    _ca(d, "client-ca", "autotrace test client CA")
    _leaf(d, "client", "autotrace test client", "client-ca", "client", 2)
    return TlsCerts(d)


_made = {}
_lock = threading.Lock()


def session_certs():
    """make_certs once per process, in a temporary directory removed at exit
    (so every module importing the fixture shares one set)."""
    with _lock:
        if "certs" not in _made:
            import atexit
            d = tempfile.mkdtemp(prefix="autotrace-tls-")
            atexit.register(shutil.rmtree, d, True)
            _made["certs"] = make_certs(d)
        return _made["certs"]


@pytest.fixture(scope="session")
def tls_certs():
    return session_certs()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tls_certs.py DIR")
    c = make_certs(sys.argv[1])
    print("\n".join("%s %s" % (k, v) for k, v in sorted(vars(c).items()) if isinstance(v, str)))
