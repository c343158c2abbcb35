"""Per-client rate limits (issue 13 item 3): a client over its limit is refused RESOURCE_EXHAUSTED with a
message naming the limit, while another client (another source address, another certificate CN, another
authenticated user) is served; LeaseKeepAlive is exempt, a Watch's creates count (refused one by one); the
JSON gateway answers 429; etcdctl's output; the refusals counted in /metrics; SIGHUP re-reads
--rate-limit-file (a bad one leaves the limits in force).

The second client address is 127.0.0.2: a small TCP forwarder of ours dials the server from it, so any
client (gRPC, etcdctl) pointed at the forwarder is that other client. ledgerkv's own flags: skipped against
etcd.
"""
import http.client
import json
import queue
import re
import signal
import socket
import threading
import time
import urllib.request

import grpc
import pytest
from etcd3 import etcdrpc

import lkvtest
from test_tls import TlsServer, ctl, mtls, tls_args
from tlspki import pki  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="ledgerkv's own flags")

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


class SourceProxy:
    """Listens on 127.0.0.1 and forwards each connection to target, dialed from source (127.0.0.2)."""

    def __init__(self, target_port, source="127.0.0.2"):
        self.target = ("127.0.0.1", target_port)
        self.source = source
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, source_address=(self.source, 0))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.listener.close()


def msg(identity, limit, what="requests"):
    return "ledgerkv: rate limit exceeded for %s: %d %s/s" % (identity, limit, what)


def put(stub, key, value=b"v"):
    """Puts key; returns None, or the refusal's (code, details)."""
    try:
        stub.Put(etcdrpc.PutRequest(key=key, value=value), timeout=10)
        return None
    except grpc.RpcError as e:
        return e.code(), e.details()


def exhaust(stub, most=20, value=b"v"):
    """Puts until the first refusal (a bucket is empty then); returns it."""
    for i in range(most):
        refused = put(stub, b"fill%d" % i, value)
        if refused:
            return refused
    raise AssertionError("no refusal after %d puts" % most)


def metric(srv, limit):
    text = urllib.request.urlopen(srv.url + "/metrics", timeout=10).read().decode()
    m = re.search(r'^ledgerkv_rate_limited_total\{limit="%s"\} (\S+)$' % limit, text, re.M)
    assert m, text
    return float(m.group(1))


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A server allowing 1 request a second with a burst of 4 per address, its rate limit file, and a
    forwarder that makes its clients 127.0.0.2."""
    path = str(tmp_path_factory.mktemp("rl") / "limits.yaml")
    with open(path, "w") as f:
        f.write("# rate-limit-* keys over the flags\n")
    with lkvtest.Factory() as fac:
        srv = fac.start(args=["--rate-limit-requests=1", "--rate-limit-burst=4", "--rate-limit-by=address",
                              "--rate-limit-file", path])
        proxy = SourceProxy(srv.port)
        other = grpc.insecure_channel(proxy.endpoint, options=lkvtest.GRPC_OPTIONS)
        yield srv, proxy, other, path
        other.close()
        proxy.close()


def test_one_address_over_its_limit_another_served(limited):
    srv, proxy, other, _ = limited
    kv, kv2 = srv.kv(), etcdrpc.KVStub(other)
    before = metric(srv, "requests")
    assert exhaust(kv) == (EXHAUSTED, msg("address 127.0.0.1", 1))
    assert put(kv, b"refused") == (EXHAUSTED, msg("address 127.0.0.1", 1))
    assert put(kv2, b"other") is None  # 127.0.0.2 has its own bucket
    # nothing of a refused request was executed
    assert etcdrpc.KVStub(other).Range(etcdrpc.RangeRequest(key=b"refused"), timeout=10).count == 0
    assert metric(srv, "requests") == before + 2


def test_etcdctl_output(limited):
    srv, _, _, _ = limited
    exhaust(srv.kv())
    res = lkvtest.etcdctl(srv, "put", "k", "v", check=False)
    assert res.returncode == 1, res.stdout
    assert ("Error: rpc error: code = ResourceExhausted desc = " + msg("address 127.0.0.1", 1)) in res.stderr


def test_keepalive_exempt_watch_creates_counted(limited):
    srv, _, other, _ = limited
    lease = etcdrpc.LeaseStub(other).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=10)
    exhaust(srv.kv())
    answers = list(etcdrpc.LeaseStub(srv.channel()).LeaseKeepAlive(
        iter([etcdrpc.LeaseKeepAliveRequest(ID=lease.ID)] * 20), timeout=10))
    assert len(answers) == 20 and all(a.TTL > 0 for a in answers)
    # a Watch's create is a request like any other: refused alone (created and canceled, as etcd refuses
    # one it does not permit), the stream goes on and serves a create once the bucket has a token again
    requests = queue.Queue()
    create = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"w"))
    requests.put(create)
    call = etcdrpc.WatchStub(srv.channel()).Watch(iter(requests.get, None), timeout=10)
    try:
        refused = next(call)
        assert refused.created and refused.canceled
        assert refused.cancel_reason == ("rpc error: code = ResourceExhausted desc = " +
                                         msg("address 127.0.0.1", 1))
        time.sleep(1.1)
        requests.put(create)
        created = next(call)
        assert created.created and not created.canceled and created.watch_id >= 0
    finally:
        requests.put(None)
        call.cancel()


def test_gateway_answers_429(limited):
    srv, proxy, _, _ = limited
    exhaust(srv.kv())
    body = json.dumps({"key": "Zw==", "value": "dg=="})
    for source, status in (("127.0.0.1", 429), ("127.0.0.2", 200)):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10, source_address=(source, 0))
        conn.request("POST", "/v3/kv/put", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = json.loads(resp.read())
        conn.close()
        assert resp.status == status, answer
        if status == 429:
            text = msg("address 127.0.0.1", 1)
            assert answer == {"error": text, "message": text, "code": 8}


def reload(srv, text, path, expect):
    with open(path, "w") as f:
        f.write(text)
    seen = srv.log_text().count(expect)
    srv.proc.send_signal(signal.SIGHUP)
    assert srv.wait_log(expect, count=seen + 1, timeout=10), srv.log_tail()


def test_sighup_reloads_the_file(limited):
    srv, _, _, path = limited
    kv = srv.kv()
    exhaust(kv)
    reload(srv, "rate-limit-requests: 1000\nrate-limit-burst: 1000\nrate-limit-bytes: 3000\n", path,
           "rate limits reloaded")
    time.sleep(0.1)  # 1000 a second refill the empty bucket: 100 tokens
    assert [put(kv, b"after%d" % i) for i in range(20)] == [None] * 20
    before = metric(srv, "bytes")
    time.sleep(1.1)  # a full bytes bucket: 3000
    assert put(kv, b"big", b"x" * 2000) is None
    assert put(kv, b"big", b"x" * 2000) == (EXHAUSTED, msg("address 127.0.0.1", 3000, "request bytes"))
    assert metric(srv, "bytes") == before + 1
    # a bad file changes nothing
    reload(srv, "rate-limit-requests: many\n", path, "rate limits not reloaded")
    assert "--rate-limit-requests: invalid value \"many\"" in srv.log_text()
    reload(srv, "rate-limit-bytez: 1\n", path, "rate limits not reloaded")
    assert exhaust(kv, 5, b"x" * 2000) == (EXHAUSTED, msg("address 127.0.0.1", 3000, "request bytes"))
    # an empty file: the flags' limits again
    reload(srv, "", path, "rate limits reloaded")
    assert exhaust(kv) == (EXHAUSTED, msg("address 127.0.0.1", 1))


def test_stream_ended_when_not_exempt(limited):
    srv, _, other, path = limited
    lease = etcdrpc.LeaseStub(other).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=10)
    reload(srv, "rate-limit-exempt: ''\n", path, "rate limits reloaded")
    try:
        exhaust(srv.kv())
        time.sleep(1.1)  # one token: the stream's first keep-alive is taken (its handler holds the stream),
        # the second is over the limit and ends the stream through the handler's cancel hook
        answers = []
        with pytest.raises(grpc.RpcError) as e:
            for a in etcdrpc.LeaseStub(srv.channel()).LeaseKeepAlive(
                    iter([etcdrpc.LeaseKeepAliveRequest(ID=lease.ID)] * 5), timeout=10):
                answers.append(a)
        assert (e.value.code(), e.value.details()) == (EXHAUSTED, msg("address 127.0.0.1", 1))
        # the first renewal's answer comes from the lease forwarder's thread; the stream may end before it
        assert len(answers) <= 1 and all(a.TTL > 0 for a in answers)
    finally:
        reload(srv, "", path, "rate limits reloaded")


def test_certificate_cn_is_the_identity(pki, tmp_path):
    srv = TlsServer(str(tmp_path), args=mtls(pki, "--rate-limit-requests=1", "--rate-limit-burst=2",
                                            "--rate-limit-by=cn"))
    srv.start()
    try:
        refused = None
        for i in range(5):
            res = ctl(srv, *tls_args(pki, "client"), "put", "k%d" % i, "v", check=False)
            if res.returncode != 0:
                refused = res.stderr
                break
        assert refused and msg("cn client", 1) in refused, refused
        ctl(srv, *tls_args(pki, "both"), "put", "other", "v")  # same address, another certificate
    finally:
        srv.stop()


def test_authenticated_user_is_the_identity(tmp_path):
    path = str(tmp_path / "limits.yaml")
    open(path, "w").close()  # no limit while auth is set up
    with lkvtest.Factory() as fac:
        srv = fac.start(args=["--rate-limit-by=user", "--rate-limit-file", path, "--bcrypt-cost", "4"])
        for step in (["user", "add", "root:rootpw"], ["user", "add", "alice:apw"], ["user", "add", "bob:bpw"],
                     ["role", "add", "rw"], ["role", "grant-permission", "rw", "readwrite", "--prefix", "k"],
                     ["user", "grant-role", "alice", "rw"], ["user", "grant-role", "bob", "rw"],
                     ["auth", "enable"]):
            lkvtest.etcdctl(srv, *step)
        reload(srv, "rate-limit-requests: 1\nrate-limit-burst: 3\n", path, "rate limits reloaded")
        auth = etcdrpc.AuthStub(srv.channel())
        tokens = {u: auth.Authenticate(etcdrpc.AuthenticateRequest(name=u, password=u[0] + "pw"),
                                       timeout=10).token for u in ("alice", "bob")}
        kv = srv.kv()

        def put_as(user, key):
            try:
                kv.Put(etcdrpc.PutRequest(key=key, value=b"v"), metadata=[("token", tokens[user])], timeout=10)
                return None
            except grpc.RpcError as e:
                return e.code(), e.details()

        answers = [put_as("alice", b"k%d" % i) for i in range(6)]
        assert None in answers and answers[-1] == (EXHAUSTED, msg("user alice", 1)), answers
        assert put_as("bob", b"kb") is None  # same address, another user
