"""https:// on --listen-metrics-urls (issue 15): served with the client TLS flags, as etcd 3.4 serves it.

With --cert-file/--key-file alone curl and Python's ssl read /health and /metrics over TLS (the client port
stays cleartext); with --trusted-ca-file and --client-cert-auth a client without a certificate, or with one
of another CA, is refused in the handshake and the listener keeps serving; cleartext HTTP on the TLS port
gets no answer; as etcd, a client certificate's SANs must name the client's address. /health over
https (HTTP/1.1: etcd's listener also offers h2 in ALPN, ledgerkv's does not) is compared byte for byte with Debian's etcd 3.4 given the same flags.
An https:// metrics URL without a certificate is refused at start with etcd's words.
"""
import shutil
import socket
import ssl
import subprocess
import urllib.request

import pytest

import lkvtest
from test_gateway import read_all
from tlspki import pki  # noqa: F401 (a fixture)


def start(factory, pki, kind="ledgerkv", mutual=False):
    port = lkvtest.free_port()
    args = ["--listen-metrics-urls", "https://127.0.0.1:%d" % port, "--cert-file", pki.path("server.pem"),
            "--key-file", pki.path("server.key")]
    if mutual:
        args += ["--trusted-ca-file", pki.path("ca.pem"), "--client-cert-auth"]
    return factory.start(kind=kind, args=args), port


def curl(port, path, *tls):
    """(exit code, status, body) of curl over https."""
    res = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}", *tls,
                          "https://127.0.0.1:%d%s" % (port, path)], capture_output=True, text=True, timeout=20)
    body, _, status = res.stdout.rpartition("\n")
    return res.returncode, status, body


def client_tls(pki, name="member", ca="ca"):
    """A client certificate (member's: clientAuth, SAN IP 127.0.0.1, the address it connects from)."""
    return ["--cacert", pki.path(ca + ".pem"), "--cert", pki.path(name + ".pem"), "--key", pki.path(name + ".key")]


@pytest.fixture(scope="module")
def factory():
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    with lkvtest.Factory() as f:
        yield f


def test_server_tls(factory, pki):
    srv, port = start(factory, pki)
    assert curl(port, "/health", "--cacert", pki.path("ca.pem")) == (0, "200", '{"health":"true"}')
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    with urllib.request.urlopen("https://127.0.0.1:%d/metrics" % port, context=ctx, timeout=10) as r:
        text = r.read().decode()
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "etcd_server_has_leader 1" in text
    # a certificate of another CA is not trusted by the client: the server did present its own
    code, _, _ = curl(port, "/health", "--cacert", pki.path("ca2.pem"))
    assert code != 0
    # cleartext on the TLS port: no HTTP answer
    res = subprocess.run(["curl", "-sS", "--max-time", "3", "http://127.0.0.1:%d/health" % port],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode != 0 and "health" not in res.stdout
    # the client port stays cleartext gRPC
    lkvtest.etcdctl(srv, "put", "k", "v")
    assert curl(port, "/health", "--cacert", pki.path("ca.pem"))[1] == "200"


def test_mutual_tls(factory, pki):
    srv, port = start(factory, pki, mutual=True)
    assert curl(port, "/health", *client_tls(pki)) == (0, "200", '{"health":"true"}')
    assert curl(port, "/health", "--cacert", pki.path("ca.pem"))[0] != 0  # no client certificate
    assert curl(port, "/health", *client_tls(pki, "foreign"))[0] != 0  # another CA's
    assert curl(port, "/health", *client_tls(pki, "noclientauth"))[0] != 0  # not for clients
    # as etcd's metrics listener: a client certificate's SANs must name the address it connects from
    assert curl(port, "/health", *client_tls(pki, "client"))[0] != 0  # DNS:client.example
    ctx = ssl.create_default_context(cafile=pki.path("ca.pem"))
    ctx.load_cert_chain(pki.path("member.pem"), pki.path("member.key"))
    for _ in range(2):  # keeps serving after the refusals; keep-alive on one connection
        with urllib.request.urlopen("https://127.0.0.1:%d/metrics" % port, context=ctx, timeout=10) as r:
            assert r.status == 200
    # pipelined requests on one TLS connection are answered in order
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="127.0.0.1")
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = read_all(s)
    assert got.count(b"HTTP/1.1 ") == 2 and got.index(b"200 OK") < got.index(b"404 Not Found")


def test_health_over_https_as_etcd(factory, pki):
    answers = {}
    for kind in ("ledgerkv", "etcd"):
        _, port = start(factory, pki, kind=kind, mutual=True)
        answers[kind] = [curl(port, p, "--http1.1", *client_tls(pki))
                         for p in ("/health", "/health?exclude=NOSPACE", "/nope")]
        code, status, _ = curl(port, "/health", *client_tls(pki, "client"))
        answers[kind].append((code != 0, status))  # refused for its SANs (curl's code depends on timing)
    assert answers["ledgerkv"] == answers["etcd"]


def test_https_without_certificate_refused(tmp_path):
    port = lkvtest.free_port()
    res = subprocess.run([lkvtest.ledgerkv_bin(), "--data-dir", str(tmp_path / "d"), "--listen-client-urls",
                          "http://127.0.0.1:%d" % lkvtest.free_port(), "--listen-metrics-urls",
                          "https://127.0.0.1:%d" % port],
                         capture_output=True, text=True, timeout=20, env=lkvtest.child_env())
    assert res.returncode != 0
    assert "cannot listen on TLS for 127.0.0.1:%d: KeyFile and CertFile are not presented" % port in res.stderr
