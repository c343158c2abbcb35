"""etcd's Auth with auth on (issue 13 item 2): the same etcdctl sequence run against ledgerkv and Debian's
etcd 3.4, step by step (output, error text, exit status): root, read-only, prefix and single-key users
doing get/put/del/txn/watch/compaction/member list/defrag and the Auth calls, a wrong password, no user, a
revoked permission taking effect, a password change ending the old password's use, AuthDisable by root
only. Also: leases (LeaseRevoke needs write access to the lease's keys), tokens expiring with a short
--auth-token-ttl, python-etcd3 with a user and password, and a 3-member cluster where a token from
Authenticate on one member works on the others.
"""
import functools
import json
import shutil
import subprocess
import tempfile
import time

import etcd3
import grpc
import pytest
from etcd3 import etcdrpc

import cluster
import lkvtest
from test_gateway import b64, normal, post
from test_tls import TlsServer, ctl
from tlspki import pki  # noqa: F401 (a fixture)

SETUP = [
    ["user", "add", "root:rootpw"],
    ["user", "add", "alice:apw"],
    ["user", "add", "bob:bpw"],
    ["role", "add", "reader"],
    ["role", "grant-permission", "reader", "read", "--prefix", "app/"],
    ["role", "add", "writer"],
    ["role", "grant-permission", "writer", "readwrite", "--prefix", "app/"],
    ["role", "grant-permission", "writer", "write", "k1"],
    ["user", "grant-role", "alice", "reader"],
    ["user", "grant-role", "bob", "writer"],
    ["put", "app/a", "1"],
    ["put", "other", "2"],
    ["auth", "enable"],
]

ALICE = ["--user", "alice:apw"]
BOB = ["--user", "bob:bpw"]
ROOT = ["--user", "root:rootpw"]

# Each step: etcdctl's arguments (stdin after "<<"); "rc" first: only the exit status and error text are
# compared (the output names the member or endpoint).
SEQUENCE = [
    ["get", "app/a"],
    ["put", "app/a", "x"],
    ROOT + ["get", "app/a"],
    ["--user", "root:wrong", "get", "app/a"],
    ["--user", "ghost:x", "get", "app/a"],
    ALICE + ["get", "app/a"],
    ALICE + ["get", "app/", "--prefix"],
    ALICE + ["get", "other"],
    ALICE + ["get", "", "--from-key"],
    ALICE + ["put", "app/b", "2"],
    ALICE + ["del", "app/a"],
    BOB + ["put", "app/b", "2"],
    BOB + ["put", "k1", "v"],
    BOB + ["get", "k1"],
    BOB + ["put", "k1", "v2", "--prev-kv"],
    BOB + ["put", "other", "v"],
    BOB + ["del", "app/b", "--prev-kv"],
    BOB + ["put", "app/b", "3"],
    BOB + ["txn", "--interactive=false", "<<", 'value("app/b") = "3"\n\nput app/c 4\nget app/a\n\nput app/d 5\n\n'],
    BOB + ["txn", "--interactive=false", "<<", 'value("other") = "2"\n\nput app/c 4\n\n\n'],
    BOB + ["txn", "--interactive=false", "<<", 'value("app/b") = "3"\n\nput k1 z\n\n\n'],
    BOB + ["txn", "--interactive=false", "<<", 'value("app/b") = "3"\n\nget k1\n\n\n'],
    BOB + ["txn", "--interactive=false", "<<", '\n\nput other x\n\n\n'],
    ALICE + ["txn", "--interactive=false", "<<", 'value("app/a") = "1"\n\nget app/a\n\nget app/b\n\n'],
    ALICE + ["compaction", "2"],
    ALICE + ["user", "list"],
    ALICE + ["user", "get", "alice"],
    ALICE + ["user", "get", "bob"],
    ALICE + ["role", "get", "reader"],
    ALICE + ["role", "get", "writer"],
    ALICE + ["role", "list"],
    ALICE + ["role", "add", "x"],
    ALICE + ["user", "add", "eve:pw"],
    ["user", "list"],
    ROOT + ["user", "list"],
    ROOT + ["role", "list"],
    ROOT + ["role", "add", "x"],
    ROOT + ["user", "add", "eve:pw"],
    ALICE + ["alarm", "list"],
    ["rc", "member", "list"],
    ["rc"] + ALICE + ["member", "list"],
    ["rc"] + ALICE + ["endpoint", "status"],
    ["rc"] + ALICE + ["endpoint", "hashkv"],
    ["rc"] + ROOT + ["endpoint", "hashkv"],
    ["rc"] + ALICE + ["defrag"],
    ["rc"] + ROOT + ["defrag"],
    ROOT + ["role", "revoke-permission", "reader", "app/", "--prefix"],
    ALICE + ["get", "app/a"],
    ROOT + ["role", "grant-permission", "reader", "read", "app/a"],
    ALICE + ["get", "app/a"],
    ALICE + ["get", "app/b"],
    ROOT + ["user", "passwd", "alice", "--interactive=false", "<<", "apw2\n"],
    ALICE + ["get", "app/a"],
    ["--user", "alice:apw2", "get", "app/a"],
    ALICE + ["auth", "disable"],
    BOB + ["auth", "disable"],
    ROOT + ["auth", "disable"],
    ["get", "app/", "--prefix"],
    ["user", "list"],
]


def answer(res):
    """etcdctl's exit status, output and error text: clientv3 logs its retries as JSON lines with times and
    ids, the answer is the rest."""
    return res.returncode, res.stdout, "\n".join(l for l in res.stderr.splitlines() if not l.startswith('{"level"'))


def run(srv, step):
    rc_only = step[0] == "rc"
    step = step[1:] if rc_only else step
    args, stdin = (step[:step.index("<<")], step[step.index("<<") + 1]) if "<<" in step else (step, None)
    code, out, err = answer(lkvtest.etcdctl(srv, *args, input=stdin, check=False))
    if rc_only:
        return code, err.replace(srv.endpoint, "ENDPOINT") if code else ""
    return code, out, err


def start_pair(f, args=()):
    # bcrypt at its least cost: every etcdctl --user checks a password
    args = ["--bcrypt-cost", "4"] + list(args)
    return f.start(kind="ledgerkv", args=args), f.start(kind="etcd", args=args)


def same_as_etcd(probe, args=()):
    """Runs SETUP, then probe(server) on ledgerkv and on etcd 3.4; their answers must be equal. Returns
    ledgerkv's."""
    with lkvtest.Factory() as f:
        answers = []
        for srv in start_pair(f, args):
            for step in SETUP:
                run(srv, step)
            answers.append(probe(srv))
        assert answers[0] == answers[1]
        return answers[0]


def test_checks_match_etcd():
    with lkvtest.Factory() as f:
        lkv, etcd = start_pair(f)
        for step in SETUP + SEQUENCE:
            assert run(lkv, step) == run(etcd, step), step


def test_watch_and_leases_match_etcd():
    def probe(srv):
        got = []
        # a watch the user may not read is created and canceled at once, with etcd's reason
        for who, key in ((ALICE, "other"), ([], "app/a"), (ALICE, "")):
            res = lkvtest.etcdctl(srv, *(who + ["watch", key, "--prefix"]), check=False)
            got.append((res.returncode, res.stdout, res.stderr))
        # leases: granted by anyone, revoked only with write access to every key attached
        lease = lkvtest.etcdctl(srv, *(BOB + ["lease", "grant", "100"])).stdout.split()[1]
        got.append(run(srv, BOB + ["put", "app/l", "v", "--lease", lease])[0])
        got.append(run(srv, ROOT + ["put", "other", "v", "--lease", lease])[0])
        got.append(run(srv, BOB + ["put", "app/m", "v", "--lease", lease])[1:])
        got.append(run(srv, BOB + ["lease", "revoke", lease])[::2])
        got.append(run(srv, ["rc"] + ROOT + ["lease", "revoke", lease]))
        got.append(run(srv, ROOT + ["get", "", "--from-key", "--keys-only"]))
        return got

    same_as_etcd(probe)


def rpc_auth(srv, name, password):
    return etcdrpc.AuthStub(srv.channel()).Authenticate(
        etcdrpc.AuthenticateRequest(name=name, password=password), timeout=10).token


def rpc_get(srv, token, key=b"app/a"):
    try:
        r = srv.kv().Range(etcdrpc.RangeRequest(key=key), metadata=[("token", token)], timeout=10)
        return [kv.value for kv in r.kvs]
    except grpc.RpcError as e:
        return e.code(), e.details()


def test_token_ttl_matches_etcd():
    def probe(srv):
        token = rpc_auth(srv, "alice", "apw")
        got = [rpc_get(srv, token), rpc_get(srv, "bogus.1"), rpc_get(srv, token + "x")]
        time.sleep(1.2)
        got.append(rpc_get(srv, token))  # used again within its TTL: renewed
        time.sleep(1.2)
        got.append(rpc_get(srv, token))
        time.sleep(3.5)
        got.append(rpc_get(srv, token))  # unused for longer than the TTL
        return got

    got = same_as_etcd(probe, ["--auth-token-ttl", "2"])
    assert got[-1] == (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")


def test_python_etcd3_with_user(pki):
    """python-etcd3 sends its token as call credentials, which grpcio sends over TLS only."""
    srv = TlsServer(tempfile.mkdtemp(prefix="lkv-authtls-"),
                    args=["--cert-file", pki.path("server.pem"), "--key-file", pki.path("server.key"),
                          "--bcrypt-cost", "4"])
    srv.start()
    try:
        for step in SETUP:
            ctl(srv, "--cacert", pki.path("ca.pem"), *step)
        client = functools.partial(etcd3.client, host="127.0.0.1", port=srv.port, ca_cert=pki.path("ca.pem"),
                                   timeout=10)
        c = client(user="bob", password="bpw")
        c.put("app/py", "1")
        assert c.get("app/py")[0] == b"1"
        with pytest.raises(grpc.RpcError) as e:
            c.get("other")
        assert (e.value.code(), e.value.details()) == (grpc.StatusCode.PERMISSION_DENIED,
                                                       "etcdserver: permission denied")
        c.close()
        with pytest.raises(grpc.RpcError) as e:
            client(user="bob", password="wrong")
        assert (e.value.code(), e.value.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: authentication failed, invalid user ID or password")
    finally:
        srv.stop()
        shutil.rmtree(srv.workdir, ignore_errors=True)


def test_gateway_token_matches_etcd():
    """The JSON gateway: /v3/auth/authenticate answers a token, sent back in the Authorization header."""
    def probe(srv):
        status, _, body = post(srv, "/v3/auth/authenticate", {"name": "alice", "password": "apw"})
        token = json.loads(body).get("token", "")
        got = [status, bool(token)]
        for headers, key in (({"Authorization": token}, "app/a"), ({"Authorization": token}, "other"),
                             ({}, "app/a"), ({"Authorization": "bogus.1"}, "app/a")):
            status, _, body = post(srv, "/v3/kv/range", {"key": b64(key)}, headers=headers)
            got.append((status, normal(json.loads(body))))
        status, _, body = post(srv, "/v3/auth/authenticate", {"name": "alice", "password": "no"})
        return got + [(status, json.loads(body))]

    same_as_etcd(probe)


class KindTlsServer(TlsServer):
    """test_tls's server (its first client URL https://) of either kind."""

    def __init__(self, kind, workdir, args):
        lkvtest.Server.__init__(self, kind, workdir, args=args)
        self.http_port = None


def test_client_certificate_cn_is_the_user_as_in_etcd(pki):
    """With --client-cert-auth and no token, the verified certificate's CN is the user (etcd's
    AuthInfoFromTLS); a token wins over it."""
    args = ["--cert-file", pki.path("server.pem"), "--key-file", pki.path("server.key"), "--trusted-ca-file",
            pki.path("ca.pem"), "--client-cert-auth", "--bcrypt-cost", "4"]
    answers = []
    for kind in ("ledgerkv", "etcd"):
        srv = KindTlsServer(kind, tempfile.mkdtemp(prefix="lkv-authcn-"), args)
        srv.start()
        try:
            cert = ["--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"), "--key",
                    pki.path("client.key")]
            other = ["--cacert", pki.path("ca.pem"), "--cert", pki.path("both.pem"), "--key", pki.path("both.key")]
            for step in SETUP[:-1] + [["user", "add", "client", "--no-password"],
                                      ["user", "grant-role", "client", "reader"], SETUP[-1]]:
                ctl(srv, *(cert + step))
            got = []
            for step in (cert + ["get", "app/a"], cert + ["put", "app/a", "x"], cert + ["get", "other"],
                         other + ["get", "app/a"], cert + ROOT + ["put", "other", "3"], cert + ["user", "list"],
                         cert + ROOT + ["get", "other", "--print-value-only"]):
                got.append(answer(ctl(srv, *step, check=False)))
            answers.append(got)
        finally:
            srv.stop()
            shutil.rmtree(srv.workdir, ignore_errors=True)
    assert answers[0] == answers[1]
    assert answers[0][0][0] == 0 and answers[0][1][2] == "Error: etcdserver: permission denied"


@pytest.fixture
def three():
    yield from cluster.started(size=3, kind="ledgerkv", extra_flags=["--bcrypt-cost", "4"])


def test_cluster_token_on_every_member(three):
    a, b, d = three.members
    for step in SETUP:
        run(a, step)
    for _ in range(5):  # a fresh token each round, used at once on the other members
        token = rpc_auth(a, "alice", "apw")
        assert [rpc_get(m, token) for m in (b, d, a)] == [[b"1"]] * 3
    # a write checked on one member is applied as that user everywhere
    token = rpc_auth(d, "bob", "bpw")
    b.kv().Put(etcdrpc.PutRequest(key=b"app/c", value=b"3"), metadata=[("token", token)], timeout=10)
    assert rpc_get(a, token, b"app/c") == [b"3"]
    with pytest.raises(grpc.RpcError) as e:
        b.kv().Put(etcdrpc.PutRequest(key=b"other", value=b"3"), metadata=[("token", token)], timeout=10)
    assert e.value.details() == "etcdserver: permission denied"
    # a password change drops the user's tokens on every member
    run(b, ROOT + ["user", "passwd", "bob", "--interactive=false", "<<", "new\n"])
    time.sleep(0.5)
    assert [rpc_get(m, token) for m in (a, b, d)] == [
        (grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")] * 3


def test_cluster_streams_wait_for_the_token_index(three):
    """A member that has not applied a token's Authenticate yet (paused while the others commit it) holds
    Watch and LeaseKeepAlive streams that carry the token until it has, as it holds unary calls: the
    watches are created in the order asked (not canceled with "invalid auth token"), see a later put,
    and the keep-alive is answered."""
    lead = three.wait_ready()
    lagging = three.followers()[0]
    for step in SETUP:
        assert run(lead, step)[0] == 0, step
    grant = etcdrpc.LeaseStub(lead.channel()).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=100), timeout=10,
                                                          metadata=[("token", rpc_auth(lead, "alice", "apw"))])
    # an Authenticate there (refused until it applied "auth enable") is answered once applied there: it
    # then has everything but what comes next
    cluster.wait_for(lambda: rpc_auth(lagging, "alice", "apw"))
    three.pause(lagging)
    try:
        token = rpc_auth(lead, "alice", "apw")
        creates = [etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=k, range_end=e))
                   for k, e in ((b"app/", b"app0"), (b"app/a", b""))]
        watch = etcdrpc.WatchStub(lagging.channel()).Watch(iter(creates), metadata=[("token", token)], timeout=60)
        keepalive = etcdrpc.LeaseStub(lagging.channel()).LeaseKeepAlive(
            iter([etcdrpc.LeaseKeepAliveRequest(ID=grant.ID)]), metadata=[("token", token)], timeout=60)
    finally:
        three.resume(lagging)
    created = [next(watch), next(watch)]
    assert [(r.created, r.canceled, r.cancel_reason, r.watch_id) for r in created] == [
        (True, False, "", 0), (True, False, "", 1)]
    assert [(r.ID, r.TTL > 0) for r in keepalive] == [(grant.ID, True)]
    lead.kv().Put(etcdrpc.PutRequest(key=b"app/a", value=b"w"), metadata=[("token", rpc_auth(lead, "bob", "bpw"))],
                  timeout=10)
    events = next(watch)
    assert [(e.kv.key, e.kv.value) for e in events.events] == [(b"app/a", b"w")]
    watch.cancel()


def test_go_clientv3_with_user():
    """Go clientv3 with Username/Password (tests/go/authclient) against etcd 3.4 and ledgerkv alike,
    including a token expired by a 2 s --auth-token-ttl that the client renews on its own."""
    binary = lkvtest.go_build("authclient")
    with lkvtest.Factory() as f:
        for srv in reversed(start_pair(f, ["--auth-token-ttl", "2"])):  # etcd first: the program is right
            for step in SETUP:
                run(srv, step)
            res = subprocess.run([binary, "-endpoint", srv.endpoint, "-ttl-wait", "4s"], capture_output=True,
                                 text=True, timeout=120, env=lkvtest.child_env())
            assert res.returncode == 0 and "authclient PASS" in res.stdout, (srv.kind, res.stdout, res.stderr[-3000:])


@pytest.mark.parametrize("method", ["RS256", "ES256", "HS256", "HS512"])
def test_jwt_tokens_match_etcd(method, tmp_path):
    """--auth-token jwt with the same key on ledgerkv and etcd 3.4: the same etcdctl answers, and each
    one's tokens accepted by the other (the same claims, signed with OpenSSL here and Go's jwt there);
    an auth change makes earlier tokens old on both. HS*: the private key file's bytes are the shared
    secret (random bytes here), and there is no public key."""
    key, pub = str(tmp_path / "jwt.key"), str(tmp_path / "jwt.pub")
    if method == "RS256":
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
    elif method == "ES256":
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key], check=True,
                       capture_output=True)
    else:
        subprocess.run(["openssl", "rand", "-out", key, "48"], check=True, capture_output=True)
    if method.startswith("HS"):
        spec = "jwt,priv-key=%s,sign-method=%s" % (key, method)
    else:
        subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
        spec = "jwt,pub-key=%s,priv-key=%s,sign-method=%s" % (pub, key, method)
    with lkvtest.Factory() as f:
        lkv, etcd = start_pair(f, ["--auth-token", spec])
        for step in SETUP + [ALICE + ["get", "app/a"], ALICE + ["get", "other"], BOB + ["put", "app/j", "2"],
                             ["get", "app/a"], ["--user", "alice:no", "get", "app/a"]]:
            assert run(lkv, step) == run(etcd, step), step
        tokens = {srv.kind: rpc_auth(srv, "alice", "apw") for srv in (lkv, etcd)}
        assert tokens["ledgerkv"].count(".") == 2
        for srv in (lkv, etcd):
            assert [rpc_get(srv, t) for t in tokens.values()] == [[b"1"]] * 2, srv.kind
            assert rpc_get(srv, tokens["ledgerkv"] + "x") == (grpc.StatusCode.UNAUTHENTICATED,
                                                              "etcdserver: invalid auth token")
            run(srv, ROOT + ["role", "add", "later"])
        old = (grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: revision of auth store is old")
        assert [rpc_get(srv, t) for srv in (lkv, etcd) for t in tokens.values()] == [old] * 4
