"""TLS and mutual TLS on the client port (issue 13): etcdctl, python-etcd3 and Go clientv3 over https://;
refusals of a missing client certificate, a wrong CA, a certificate without the clientAuth usage, a revoked
one and plain HTTP/2; a certificate replaced on disk served on the next connection; --auto-tls; http and
https listeners at once; --cipher-suites and TLS 1.2 at least; --client-cert-allowed-hostname.

Certificates are made by each run with the openssl command in a temporary directory (no key is committed).
With LEDGERKV_TARGET=etcd the same tests run against Debian's etcd 3.4 (log lines are then not checked),
which shows the expectations are etcd's.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import etcd3
import pytest

import lkvtest
from tlspki import pki  # noqa: F401 (a fixture)

LEDGERKV = lkvtest.TARGET == "ledgerkv"


class TlsServer(lkvtest.Server):
    """A server whose first client URL is https://; an optional second, cleartext one on http_port."""

    def __init__(self, workdir, args=(), http_too=False):
        super().__init__(lkvtest.TARGET, workdir, args=args)
        self.http_port = lkvtest.free_port() if http_too else None

    @property
    def url(self):
        return "https://" + self.endpoint

    def command(self):
        cmd = super().command()
        if self.http_port:
            i = cmd.index("--listen-client-urls")
            cmd[i + 1] += ",http://127.0.0.1:%d" % self.http_port
        return cmd

    def _wait_ready(self, timeout):
        # The harness's probe speaks cleartext gRPC; both servers log this line once they listen.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise lkvtest.ServerError("exited with %s\n%s" % (self.proc.returncode, self.log_tail()))
            if "ready to serve client requests" in self.log_text():
                return
            time.sleep(0.05)
        raise lkvtest.ServerError("not ready\n" + self.log_tail())


def ctl(srv, *args, check=True, insecure=False, endpoint=None):
    """etcdctl against srv's https:// URL (or endpoint) with the given TLS flags. A call expected to fail
    (check=False) gets short timeouts: a refused client retries until its deadline."""
    wait = "5s" if check else "1s"
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + (endpoint or srv.url), "--dial-timeout=" + wait,
           "--command-timeout=" + wait] + (["--insecure-skip-tls-verify", "--insecure-transport=false"]
                                      if insecure else []) + list(args)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                         env=lkvtest.child_env({"ETCDCTL_API": "3"}))
    if check:
        assert res.returncode == 0, "%s failed\nstdout: %s\nstderr: %s" % (cmd, res.stdout, res.stderr)
    return res


def tls_args(pki, name, ca="ca"):
    return ["--cacert", pki.path(ca + ".pem"), "--cert", pki.path(name + ".pem"), "--key", pki.path(name + ".key")]


@pytest.fixture
def servers():
    started = []

    def start(args, http_too=False):
        srv = TlsServer(tempfile.mkdtemp(prefix="lkv-tls-"), args=args, http_too=http_too)
        started.append(srv)
        srv.start()
        return srv

    yield start
    for srv in started:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)


def mtls(pki, *extra):
    return ["--cert-file", pki.path("server.pem"), "--key-file", pki.path("server.key"),
            "--trusted-ca-file", pki.path("ca.pem"), "--client-cert-auth"] + list(extra)


def assert_refused(srv, *args, log=None):
    res = ctl(srv, *args, "get", "k", check=False)
    assert res.returncode != 0, "etcdctl %s was served: %s" % (args, res.stdout)
    if log and LEDGERKV:
        assert srv.wait_log(log, timeout=5), "no %r in the log\n%s" % (log, srv.log_tail())


def test_mutual_tls_with_etcdctl_and_refusals(pki, servers):
    srv = servers(mtls(pki), http_too=True)
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")
    assert ctl(srv, *tls_args(pki, "client"), "get", "k", "--print-value-only").stdout == "v\n"
    assert_refused(srv, "--cacert", pki.path("ca.pem"), log="peer did not return a certificate")
    assert_refused(srv, *tls_args(pki, "foreign"), log="unable to get local issuer certificate")
    assert_refused(srv, *tls_args(pki, "noclientauth"), log="certificate at depth 0 lacks the clientAuth")
    assert_refused(srv, "--cacert", pki.path("ca.pem"), "--cert", pki.path("interchain.pem"), "--key",
                   pki.path("interleaf.key"), log="certificate at depth 1 lacks the clientAuth")
    ctl(srv, "--cacert", pki.path("ca.pem"), "--cert", pki.path("interokchain.pem"), "--key",
        pki.path("interokleaf.key"), "get", "k")
    # the server's certificate from the wrong CA: the client refuses it
    assert_refused(srv, *tls_args(pki, "client", ca="ca2"))
    # plain HTTP/2 (h2c) on the TLS port
    res = ctl(srv, "get", "k", check=False, endpoint="http://" + srv.endpoint)
    assert res.returncode != 0
    if LEDGERKV:
        assert srv.wait_log("wrong version number", timeout=5), srv.log_tail()
    # ... and the cleartext listener beside it serves without certificates; the TLS one still serves
    res = ctl(srv, "get", "k", "--print-value-only", endpoint="http://127.0.0.1:%d" % srv.http_port)
    assert res.stdout == "v\n"
    ctl(srv, *tls_args(pki, "both"), "put", "k2", "v2")


def test_trusted_ca_alone_requires_client_certificates(pki, servers):
    # etcd 3.4: --trusted-ca-file without --client-cert-auth still asks for and verifies client certificates
    srv = servers(["--cert-file", pki.path("server.pem"), "--key-file", pki.path("server.key"),
                   "--trusted-ca-file", pki.path("ca.pem")])
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")
    assert_refused(srv, "--cacert", pki.path("ca.pem"), log="peer did not return a certificate")


@pytest.mark.skipif(not LEDGERKV, reason="etcd (grpc-go) waits 120 s for a handshake")
def test_stalled_handshake_is_closed(pki, servers):
    srv = servers(mtls(pki))
    with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
        s.sendall(b"\x16\x03\x01")  # the start of a ClientHello record, then nothing
        start = time.monotonic()
        assert s.recv(100) == b""  # closed by the server...
        assert 9 < time.monotonic() - start < 15  # ... after its 10 s deadline
    assert srv.wait_log("no handshake within 10000 ms", timeout=5), srv.log_tail()
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")  # and it kept serving


def test_revoked_certificate(pki, servers):
    srv = servers(mtls(pki, "--client-crl-file", pki.path("crl.pem")))
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")
    assert_refused(srv, *tls_args(pki, "revoked"), log="revoked")
    ctl(srv, *tls_args(pki, "client"), "get", "k")


def test_expired_certificate(pki, servers):
    srv = servers(mtls(pki))
    assert_refused(srv, *tls_args(pki, "expired"), log="certificate has expired")
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")


def test_renegotiation_is_refused(pki, servers):
    # TLS 1.3 has no renegotiation; a TLS 1.2 client asking for one is refused (as Go's server does), and a
    # handshake can never be re-run to swap the certificate the connection was checked with
    srv = servers(mtls(pki))
    res = subprocess.run(["openssl", "s_client", "-connect", srv.endpoint, "-tls1_2", "-alpn", "h2", "-CAfile",
                          pki.path("ca.pem"), "-cert", pki.path("client.pem"), "-key", pki.path("client.key")],
                         input="R\n", capture_output=True, text=True, errors="replace", timeout=30)
    out = res.stdout + res.stderr
    assert "Verify return code: 0 (ok)" in out and "RENEGOTIATING" in out, out
    assert "SSL routines" in out.split("RENEGOTIATING", 1)[1], out  # the renegotiation failed
    if LEDGERKV:
        assert "no renegotiation" in out, out
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")


def test_allowed_hostname(pki, servers):
    srv = servers(mtls(pki, "--client-cert-allowed-hostname", "client.example"))
    ctl(srv, *tls_args(pki, "client"), "put", "k", "v")
    assert_refused(srv, *tls_args(pki, "both"), log="does not match the allowed host name client.example")


def test_python_etcd3(pki, servers):
    srv = servers(mtls(pki))
    c = etcd3.client(host="127.0.0.1", port=srv.port, ca_cert=pki.path("ca.pem"),
                     cert_key=pki.path("client.key"), cert_cert=pki.path("client.pem"), timeout=5)
    try:
        c.put("py", "thon")
        assert c.get("py")[0] == b"thon"
        # a value of many TLS records each way (the Go client below watches over TLS)
        big = os.urandom(1 << 20)
        c.put("big", big)
        assert c.get("big")[0] == big
    finally:
        c.close()
    bad = etcd3.client(host="127.0.0.1", port=srv.port, ca_cert=pki.path("ca.pem"),
                       cert_key=pki.path("noclientauth.key"), cert_cert=pki.path("noclientauth.pem"), timeout=3)
    try:
        with pytest.raises(Exception):
            bad.get("py")
    finally:
        bad.close()


def test_go_clientv3(pki, servers):
    binary = lkvtest.go_build("tlsclient")
    srv = servers(mtls(pki))

    def run(name, timeout="10s"):
        return subprocess.run([binary, "-endpoint", srv.url, "-cacert", pki.path("ca.pem"), "-timeout", timeout,
                               "-cert", pki.path(name + ".pem"), "-key", pki.path(name + ".key")],
                              capture_output=True, text=True, timeout=60, env=lkvtest.child_env())

    res = run("client")
    assert res.returncode == 0 and "tlsclient PASS" in res.stdout, res.stderr
    res = run("noclientauth", timeout="2s")
    assert res.returncode != 0 and "PASS" not in res.stdout


def test_certificate_replaced_on_disk(pki, servers):
    d = tempfile.mkdtemp(prefix="lkv-rot-")
    try:
        cert, key = os.path.join(d, "server.pem"), os.path.join(d, "server.key")
        shutil.copy(pki.path("server.pem"), cert)
        shutil.copy(pki.path("server.key"), key)
        srv = servers(["--cert-file", cert, "--key-file", key])
        ctl(srv, "--cacert", pki.path("ca.pem"), "put", "k", "v")
        # rotate to a certificate of the second CA: written aside, then renamed over (as tools do)
        shutil.copy(pki.path("server2.pem"), cert + ".new")
        shutil.copy(pki.path("server2.key"), key + ".new")
        os.rename(key + ".new", key)
        os.rename(cert + ".new", cert)
        time.sleep(1.2)  # the files are looked at, at most, once a second
        ctl(srv, "--cacert", pki.path("ca2.pem"), "get", "k")
        assert ctl(srv, "--cacert", pki.path("ca.pem"), "get", "k", check=False).returncode != 0
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_auto_tls(servers):
    srv = servers(["--auto-tls"])
    ctl(srv, "put", "k", "v", insecure=True)
    assert ctl(srv, "get", "k", "--print-value-only", insecure=True).stdout == "v\n"
    fixtures = os.path.join(srv.data_dir, "fixtures", "client")
    text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", os.path.join(fixtures, "cert.pem")],
                          capture_output=True, text=True, check=True).stdout
    assert "O = etcd" in text and "IP Address:127.0.0.1" in text and "TLS Web Server Authentication" in text
    assert "NIST CURVE: P-521" in text or "secp521r1" in text
    assert os.stat(os.path.join(fixtures, "key.pem")).st_mode & 0o077 == 0
    # not trusted without skipping verification
    assert ctl(srv, "get", "k", check=False).returncode != 0


def s_client(srv, *args):
    alpn = [] if "-alpn" in args else ["-alpn", "h2"]
    res = subprocess.run(["openssl", "s_client", "-connect", srv.endpoint] + alpn + list(args),
                         input=b"", capture_output=True, timeout=20)
    return (res.stdout + res.stderr).decode("utf-8", "replace")


def test_cipher_suites_and_versions(pki, servers):
    srv = servers(["--cert-file", pki.path("server.pem"), "--key-file", pki.path("server.key"),
                   "--cipher-suites", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256"])
    out = s_client(srv, "-tls1_2")
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in out and "ALPN protocol: h2" in out, out
    out = s_client(srv, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert "Cipher is (NONE)" in out or "handshake failure" in out, out
    out = s_client(srv, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert "Cipher is (NONE)" in out or "alert" in out, out
    out = s_client(srv, "-tls1_3")
    assert "TLSv1.3" in out and "ALPN protocol: h2" in out, out
    # ALPN as Go's server: an HTTP/1.1 client goes on without ALPN, other protocols are refused
    out = s_client(srv, "-tls1_3", "-alpn", "http/1.1")
    assert "TLSv1.3" in out and "No ALPN negotiated" in out, out
    out = s_client(srv, "-tls1_3", "-alpn", "spdy/3")
    assert "no application protocol" in out, out


@pytest.mark.skipif(not LEDGERKV, reason="checks ledgerkv's start-up messages")
@pytest.mark.parametrize("args,message", [
    (["--listen-client-urls", "https://127.0.0.1:0"],
     "TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:0 with HTTPS "
     "scheme"),
    (["--cipher-suites", "TLS_RSA_WITH_NOPE"], 'unexpected TLS cipher suite "TLS_RSA_WITH_NOPE"'),
    (["--auto-tls", "--client-cert-auth", "--listen-client-urls", "https://127.0.0.1:0"],
     "refusing to start rather than serve without the client certificate checks you asked for"),
    (["--listen-client-urls", "https://127.0.0.1:0", "--cert-file", "/nonexistent.pem", "--key-file", "/x"],
     "client TLS: cannot read certificate file /nonexistent.pem"),
])
def test_startup_refusals(args, message, tmp_path):
    res = subprocess.run([lkvtest.ledgerkv_bin(), "--data-dir", str(tmp_path / "d")] + args,
                         capture_output=True, text=True, timeout=30, env=lkvtest.child_env())
    assert res.returncode != 0 and message in res.stderr, res.stderr
