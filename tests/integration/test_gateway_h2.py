"""etcd's JSON gateway over HTTP/2 on the client port (issue 15 item 1): TLS with ALPN h2 (curl --http2),
differentially against Debian's etcd 3.4, and cleartext h2c with prior knowledge (ledgerkv only: etcd 3.4
sends every cleartext HTTP/2 stream to its gRPC server, which resets a JSON request).

test_gateway.py's differential tests run again here with their requests sent by curl over HTTP/2 (the
`post` they use is swapped for this module's while each test runs): KV, errors, leases, cluster and
maintenance, snapshot, lock and election, /health, /version, /metrics, CORS. HTTP/2 has no chunked encoding:
an answer without content-length (a stream) is reported to them as `transfer-encoding: chunked`, for both
servers alike. Over h2c: the same answers as HTTP/1.1 gives, a watch streamed as {"result":...} messages,
a body above --max-request-bytes (413), HEAD, grpc-gateway's metadata forwarding, and gRPC on the same
connection kind afterwards.
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
from etcd3 import etcdrpc

import lkvtest
import test_gateway
from test_gateway import b64, both, normal  # noqa: F401 (both: a fixture)
from test_gateway import test_kv_routes  # noqa: F401,E402 (in test_gateway's order: they share keys)
from test_gateway import test_errors  # noqa: F401,E402
from test_gateway import test_lease_routes  # noqa: F401,E402
from test_gateway import test_cluster_and_maintenance  # noqa: F401,E402
from test_gateway import test_snapshot_lock_election  # noqa: F401,E402
from test_gateway import test_health_version_metrics  # noqa: F401,E402
from test_gateway import test_cors_default  # noqa: F401,E402
from test_tls import TlsServer

if not shutil.which("curl"):
    pytest.skip("curl is not installed", allow_module_level=True)


def curl_request(url, body=None, headers=None, method="POST", h2c=False, timeout=10):
    """One request over HTTP/2 with curl: (status, headers dict with lower-case names, body bytes)."""
    with tempfile.TemporaryDirectory() as d:
        head_path = os.path.join(d, "head")
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-k", "-D", head_path, "-X", method,
               "--http2-prior-knowledge" if h2c else "--http2"]
        for k, v in (headers or {}).items():
            cmd += ["-H", "%s: %s" % (k, v)]
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
            cmd += ["--data-binary", "@-", "-H", "Content-Type: application/json"]
        if method == "HEAD":  # curl -X HEAD would wait for a body
            cmd = [c for c in cmd if c not in ("-X", "HEAD")] + ["-I", "-o", os.devnull]
        res = subprocess.run(cmd + [url], input=data, capture_output=True, timeout=timeout + 10)
        assert res.returncode == 0, (cmd, url, res.stderr)
        with open(head_path, newline="") as f:
            lines = f.read().split("\r\n")
    assert lines[0].startswith("HTTP/2 "), lines
    hdrs = {}
    for line in lines[1:]:
        if ": " in line:
            k, v = line.split(": ", 1)
            hdrs[k.lower()] = v
    if "content-length" not in hdrs:  # HTTP/2's streamed body, what HTTP/1.1 sends chunked
        hdrs["transfer-encoding"] = "chunked"
    return int(lines[0].split()[1]), hdrs, res.stdout


def post_tls(srv, path, body=None, headers=None, method="POST"):
    return curl_request("https://127.0.0.1:%d%s" % (srv.port, path), body, headers, method)


def post_h2c(srv, path, body=None, headers=None, method="POST"):
    return curl_request("http://127.0.0.1:%d%s" % (srv.port, path), body, headers, method, h2c=True)


@pytest.fixture(autouse=True)
def over_h2(monkeypatch):
    monkeypatch.setattr(test_gateway, "post", post_tls)


class AutoTlsServer(TlsServer):
    """A server of either kind whose client URL is https:// with --auto-tls."""

    def __init__(self, kind, workdir):
        lkvtest.Server.__init__(self, kind, workdir, args=["--auto-tls"])
        self.http_port = None


def tls_server(kind):
    """A running --auto-tls server of kind, stopped and removed after the module."""
    srv = AutoTlsServer(kind, tempfile.mkdtemp(prefix="lkv-h2-"))
    srv.start()
    yield srv
    srv.stop()
    shutil.rmtree(srv.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def ledgerkv():
    yield from tls_server("ledgerkv")


@pytest.fixture(scope="module")
def etcd():
    yield from tls_server("etcd")


@pytest.fixture(scope="module")
def cleartext():
    with lkvtest.Factory() as f:
        yield f.start(args=["--max-request-bytes", "4096"])


def test_h2c_answers_as_http11(cleartext):
    """The same requests over h2c and HTTP/1.1 to one server: the same statuses, content types and JSON."""
    requests = [("/v3/kv/put", {"key": b64("h2/a"), "value": b64("1")}), ("/v3/kv/range", {"key": b64("h2/a")}),
                ("/v3/kv/range", '{"key":'), ("/v3/kv/nope", {}), ("/v3/lease/revoke", {"ID": "12345"})]
    for path, body in requests:
        h2 = post_h2c(cleartext, path, body)
        h1 = HTTP11(cleartext, path, body)
        assert h2[0] == h1[0] and h2[1].get("content-type") == h1[1].get("content-type"), (path, h2, h1)
        if h1[1].get("content-type") == "application/json":
            h2j, h1j = json.loads(h2[2]), json.loads(h1[2])
            for j in (h2j, h1j):  # two puts: one revision apart
                j.get("header", {}).pop("revision", None)
            assert normal(h2j) == normal(h1j), (path, h2, h1)
        else:
            assert h2[2] == h1[2]
    for path in ("/health", "/version", "/nothing"):
        h2, h1 = post_h2c(cleartext, path, method="GET"), HTTP11(cleartext, path, method="GET")
        assert h2[0] == h1[0] and h2[1].get("content-type") == h1[1].get("content-type")
    h2, h1 = post_h2c(cleartext, "/health", method="HEAD"), HTTP11(cleartext, "/health", method="HEAD")
    assert h2[0] == h1[0] and h2[2] == b"" and h2[1]["content-length"] == h1[1]["content-length"], (h2, h1)


HTTP11 = test_gateway.post  # the module's own HTTP/1.1 client (before any test swaps it)


def test_h2c_watch_stream(cleartext):
    url = "http://127.0.0.1:%d/v3/watch" % cleartext.port
    proc = subprocess.Popen(["curl", "-sS", "-N", "--max-time", "10", "--http2-prior-knowledge", "-X", "POST",
                             "--data-binary", json.dumps({"create_request": {"key": b64("h2/w")}}), url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 5
        while not lines and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lines and json.loads(lines[0])["result"]["created"] is True, lines
        post_h2c(cleartext, "/v3/kv/put", {"key": b64("h2/w"), "value": b64("1")})
        post_h2c(cleartext, "/v3/kv/put", {"key": b64("h2/w"), "value": b64("2")})
        while len(lines) < 3 and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    values = [json.loads(line)["result"]["events"][0]["kv"]["value"] for line in lines[1:3]]
    assert values == [b64("1"), b64("2")], lines


def test_h2c_limits_metadata_and_grpc(cleartext):
    # above --max-request-bytes: etcd's error; above the transport's limit as well: 413, as HTTP/1.1 answers
    for size in (8192, 2 << 20):
        big = {"key": b64("h2/big"), "value": b64("x" * size)}
        h2, h1 = post_h2c(cleartext, "/v3/kv/put", big), HTTP11(cleartext, "/v3/kv/put", big)
        assert h2[0] == h1[0] and h2[2] == h1[2], (size, h2, h1)
    assert h2[0] == 413 and h2[2] == b"413 Request Entity Too Large", h2
    # grpc-gateway forwards Authorization and Grpc-Metadata-<key> as metadata: answered as over HTTP/1.1
    for headers in ({"Authorization": "x"}, {"Grpc-Metadata-Token": "y"}):
        h2 = post_h2c(cleartext, "/v3/kv/range", {"key": b64("h2/a")}, headers=headers)
        h1 = HTTP11(cleartext, "/v3/kv/range", {"key": b64("h2/a")}, headers=headers)
        assert h2[0] == h1[0] and h2[2] == h1[2], (headers, h2, h1)
    # gRPC still works on the port (its content-type decides)
    assert cleartext.kv().Range(etcdrpc.RangeRequest(key=b"h2/a"), timeout=5).count == 1
