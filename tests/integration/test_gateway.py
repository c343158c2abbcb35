"""etcd's JSON gateway on the client port (HTTP/1.1 beside gRPC), differentially against Debian's etcd 3.4.

The same requests go to ledgerkv and etcd; answers are compared field by field (header ids and terms differ
between the two: only their presence is compared), with status lines, content types and CORS headers.
Covers KV (base64 bytes, int64 as strings, a txn), leases (keepalive as a chunked stream), watch (chunked
{"result":...} lines, one chunk per message, a compacted start revision), cluster and maintenance
routes (a snapshot streamed as base64 blobs), lock and election, errors (bad JSON, unknown path, wrong method, a compacted revision), /v3beta, /v3alpha (served
as /v3 where etcd 3.4 answers 404), /health, /version and
/metrics on the client port, --cors, --host-whitelist, pipelining, malformed HTTP, a stalled request (408),
HTTP/1.1 over TLS, Expect: 100-continue, and gRPC on the same port afterwards.
"""
import base64
import http.client
import json
import socket
import time

import pytest
from etcd3 import etcdrpc

import lkvtest

HEADER_ONLY_FIELDS = {"cluster_id", "member_id", "raft_term"}


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def post(srv, path, body=None, headers=None, method="POST"):
    """One request on a new connection: (status, headers dict (lower-case names), body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        data = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        conn.request(method, path, body=data, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def call(srv, path, body=None):
    status, _, data = post(srv, path, body if body is not None else {})
    assert status == 200, (srv.kind, path, status, data)
    return json.loads(data)


def read_all(sock):
    """Everything sock receives until the server closes it; closes sock."""
    data = b""
    while True:
        got = sock.recv(65536)
        if not got:
            break
        data += got
    sock.close()
    return data


def normal(obj):
    """The answer with what legitimately differs between two servers removed from response headers."""
    if isinstance(obj, dict):
        return {k: ("<id>" if k in HEADER_ONLY_FIELDS else normal(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normal(v) for v in obj]
    return obj


@pytest.fixture(scope="module")
def both(ledgerkv, etcd):
    return [ledgerkv, etcd]


def same(both, path, body=None):
    """Sends the request to both servers and asserts that the answers agree; returns ledgerkv's."""
    answers = [post(s, path, body if body is not None else {}) for s in both]
    (ls, lh, lb), (es, eh, eb) = answers
    assert ls == es, (path, answers)
    assert lh.get("content-type") == eh.get("content-type"), (path, lh, eh)
    lj, ej = json.loads(lb), json.loads(eb)
    assert normal(lj) == normal(ej), (path, lb, eb)
    return lj


def test_kv_routes(both):
    same(both, "/v3/kv/put", {"key": b64("gw/a"), "value": b64(b"\x00\xffbin")})
    same(both, "/v3/kv/put", {"key": b64("gw/b"), "value": b64("2"), "prev_kv": True})
    got = same(both, "/v3/kv/range", {"key": b64("gw/"), "range_end": b64("gw0")})
    assert base64.b64decode(got["kvs"][0]["value"]) == b"\x00\xffbin"
    assert got["count"] == "2"  # int64 as a string
    same(both, "/v3/kv/range", {"key": b64("gw/"), "range_end": b64("gw0"), "count_only": True})
    same(both, "/v3/kv/range", {"key": b64("gw/"), "rangeEnd": b64("gw0"), "limit": 1, "keys_only": True})
    same(both, "/v3beta/kv/range", {"key": b64("gw/a")})
    txn = {"compare": [{"key": b64("gw/a"), "result": "EQUAL", "target": "VERSION", "version": "1"}],
           "success": [{"request_put": {"key": b64("gw/c"), "value": b64("t")}},
                       {"request_range": {"key": b64("gw/a")}}],
           "failure": [{"request_delete_range": {"key": b64("gw/a")}}]}
    got = same(both, "/v3/kv/txn", txn)
    assert got["succeeded"] is True and "response_put" in got["responses"][0]
    same(both, "/v3/kv/deleterange", {"key": b64("gw/"), "range_end": b64("gw0"), "prev_kv": True})
    # grpc-gateway ignores fields the message lacks
    same(both, "/v3/kv/range", {"key": b64("gw/a"), "no_such_field": 1})


def test_errors(both):
    for s in both:  # the same revisions on both: each runs the same writes
        call(s, "/v3/kv/put", {"key": b64("gw/e"), "value": b64("1")})
    rev = int(call(both[0], "/v3/kv/put", {"key": b64("gw/e"), "value": b64("2")})["header"]["revision"])
    assert int(call(both[1], "/v3/kv/put", {"key": b64("gw/e"), "value": b64("2")})["header"]["revision"]) == rev
    same(both, "/v3/kv/compaction", {"revision": str(rev)})
    err = same(both, "/v3/kv/range", {"key": b64("gw/e"), "revision": str(rev - 1)})
    assert err == {"error": "etcdserver: mvcc: required revision has been compacted",
                   "message": "etcdserver: mvcc: required revision has been compacted", "code": 11}
    same(both, "/v3/kv/put", {"key": "", "value": b64("x")})  # key is not provided: 400, code 3
    same(both, "/v3/lease/revoke", {"ID": "12345"})  # lease not found: 404, code 5
    truncated = [post(s, "/v3/kv/range", '{"key":') for s in both]
    assert truncated[0] == (400, truncated[0][1], b'{"error":"unexpected EOF","message":"unexpected EOF","code":3}')
    assert truncated[0][0] == truncated[1][0] and truncated[0][2] == truncated[1][2]
    for body in ('{"limit":"x"}', "[1]", '{"key":"***"}'):
        answers = [post(s, "/v3/kv/range", body) for s in both]
        assert [a[0] for a in answers] == [400, 400], (body, answers)
        assert [json.loads(a[2])["code"] for a in answers] == [3, 3], (body, answers)
    for path, method in (("/v3/kv/nope", "POST"), ("/v3/kv/range", "GET"), ("/nothing", "GET"),
                         ("/v3alpha/kv/nope", "POST")):
        answers = [post(s, path.replace("/v3alpha/", "/v3/") if s.kind == "etcd" else path, method=method)
                   for s in both]
        assert answers[0][0] == answers[1][0] and answers[0][2] == answers[1][2], (path, answers)
        assert answers[0][1].get("content-type") == answers[1][1].get("content-type")


def test_v3alpha_served_as_v3(both):
    """etcd 3.4 answers /v3alpha/ (etcd 3.3's gateway path) 404; issue 15 asks for it, served as /v3/."""
    assert post(both[1], "/v3alpha/kv/range", {})[0] == 404
    same(both, "/v3/kv/put", {"key": b64("gw/alpha"), "value": b64("a")})
    ours = call(both[0], "/v3alpha/kv/range", {"key": b64("gw/alpha")})
    assert normal(ours) == normal(call(both[1], "/v3/kv/range", {"key": b64("gw/alpha")}))


def test_lease_routes(both):
    grants = [call(s, "/v3/lease/grant", {"TTL": 60}) for s in both]
    assert normal({k: v for k, v in grants[0].items() if k != "ID"}) == \
        normal({k: v for k, v in grants[1].items() if k != "ID"})
    for s, g in zip(both, grants):
        lid = g["ID"]
        assert isinstance(lid, str) and g["TTL"] == "60"
        ttl = call(s, "/v3/kv/lease/timetolive", {"ID": lid, "keys": True})
        assert ttl["ID"] == lid and ttl["grantedTTL"] == "60" and 0 < int(ttl["TTL"]) <= 60
        assert call(s, "/v3/lease/timetolive", {"ID": lid})["ID"] == lid
        assert lid in [x["ID"] for x in call(s, "/v3/lease/leases")["leases"]]
        status, headers, data = post(s, "/v3/lease/keepalive", {"ID": lid})
        assert status == 200 and headers.get("transfer-encoding") == "chunked", (s.kind, headers)
        lines = data.decode().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["result"]["ID"] == lid, (s.kind, data)
        assert json.loads(lines[0])["result"]["TTL"] == "60"
        call(s, "/v3/kv/lease/revoke", {"ID": lid})
        status, _, data = post(s, "/v3/lease/timetolive", {"ID": lid})
        assert status == 200 and json.loads(data)["TTL"] == "-1"


def test_cluster_and_maintenance(both):
    answers = [call(s, "/v3/cluster/member/list") for s in both]
    for a in answers:
        assert len(a["members"]) == 1 and set(a["members"][0]) >= {"ID", "name", "peerURLs", "clientURLs"}
    assert set(answers[0]) == set(answers[1])
    st = [call(s, "/v3/maintenance/status") for s in both]
    assert set(st[0]) >= {"header", "version", "dbSize", "leader", "raftIndex", "raftTerm"}, st[0]
    assert st[0]["leader"] == st[0]["header"]["member_id"]
    # etcd 3.4 answers an alarm GET without a header (ledgerkv's Alarm fills one): the alarms agree
    alarms = [call(s, "/v3/maintenance/alarm", {"action": "GET"}) for s in both]
    assert alarms[0].get("alarms") == alarms[1].get("alarms")
    hashes = [call(s, "/v3/maintenance/hash") for s in both]
    assert set(hashes[0]) == set(hashes[1]) == {"header", "hash"}


def test_snapshot_lock_election(both):
    for s in both:
        status, headers, data = post(s, "/v3/maintenance/snapshot")
        assert status == 200 and headers.get("transfer-encoding") == "chunked", (s.kind, status, data[:200])
        msgs = [json.loads(line)["result"] for line in data.decode().splitlines()]
        blob = b"".join(base64.b64decode(m.get("blob", "")) for m in msgs)
        assert len(blob) >= 16384 and "remaining_bytes" not in msgs[-1], (s.kind, len(blob), msgs[-1].keys())
        lease = call(s, "/v3/lease/grant", {"TTL": 30})["ID"]
        key = call(s, "/v3/lock/lock", {"name": b64("gw-lock"), "lease": lease})["key"]
        assert base64.b64decode(key).startswith(b"gw-lock/"), key
        call(s, "/v3/lock/unlock", {"key": key})
        leader = call(s, "/v3/election/campaign", {"name": b64("gw-el"), "lease": lease, "value": b64("me")})
        got = call(s, "/v3/election/leader", {"name": b64("gw-el")})
        assert got["kv"]["value"] == b64("me") and got["kv"]["key"] == leader["leader"]["key"]
        call(s, "/v3/election/resign", {"leader": leader["leader"]})
        call(s, "/v3/lease/revoke", {"ID": lease})
    # etcd's "election: no leader" is a plain Go error: gRPC Unknown, HTTP 500
    same(both, "/v3/election/leader", {"name": b64("gw-el")})


def read_chunks(sock, want, with_head=True, timeout=5.0):
    """Reads a chunked answer's head (with_head) and then `want` chunks: (head text, [chunk payloads])."""
    sock.settimeout(timeout)
    buf, head, chunks = b"", "", []
    if with_head:
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        raw, buf = buf.split(b"\r\n\r\n", 1)
        head = raw.decode()
    deadline = time.monotonic() + timeout
    while len(chunks) < want and time.monotonic() < deadline:
        if b"\r\n" in buf:
            size_line, rest = buf.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) >= size + 2:
                chunks.append(rest[:size])
                buf = rest[size + 2:]
                continue
        buf += sock.recv(65536)
    return head, chunks


def open_watch(srv, body):
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    data = json.dumps(body).encode()
    s.sendall(b"POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    return s


def test_watch_stream(both):
    results = []
    for s in both:
        w = open_watch(s, {"create_request": {"key": b64("gw/w"), "prev_kv": True}})
        try:
            head, created = read_chunks(w, 1)
            call(s, "/v3/kv/put", {"key": b64("gw/w"), "value": b64("1")})
            call(s, "/v3/kv/put", {"key": b64("gw/w"), "value": b64("2")})
            _, events = read_chunks(w, 2, with_head=False)
        finally:
            w.close()
        assert head.startswith("HTTP/1.1 200 OK") and "Transfer-Encoding: chunked" in head, head
        msgs = [json.loads(c) for c in created + events]
        assert all(c.endswith(b"}\n") for c in created + events)  # one message and its newline per chunk
        results.append(msgs)
    l, e = results
    assert l[0]["result"]["created"] is True
    assert [normal(m["result"]["events"]) for m in l[1:]] == [normal(m["result"]["events"]) for m in e[1:]]
    assert l[2]["result"]["events"][0]["prev_kv"]["value"] == b64("1")


def test_watch_compacted(both):
    revs = []
    for s in both:
        call(s, "/v3/kv/put", {"key": b64("gw/c"), "value": b64("1")})
        rev = int(call(s, "/v3/kv/put", {"key": b64("gw/c"), "value": b64("2")})["header"]["revision"])
        call(s, "/v3/kv/compaction", {"revision": str(rev)})
        revs.append(rev)
    answers = []
    for s in both:
        w = open_watch(s, {"create_request": {"key": b64("gw/c"), "start_revision": "1"}})
        try:
            _, chunks = read_chunks(w, 2)
        finally:
            w.close()
        answers.append([json.loads(c)["result"] for c in chunks])
    for a, rev in zip(answers, revs):
        assert a[0]["created"] is True
        assert a[1]["canceled"] is True and a[1]["compact_revision"] == str(rev), a
    assert set(answers[0][1]) == set(answers[1][1])


def test_health_version_metrics(both):
    answers = [post(s, "/health", method="GET") for s in both]
    assert answers[0][0] == answers[1][0] == 200
    assert json.loads(answers[0][2]) == json.loads(answers[1][2]) == {"health": "true"}
    versions = [json.loads(post(s, "/version", method="GET")[2]) for s in both]
    assert set(versions[0]) == set(versions[1]) == {"etcdserver", "etcdcluster"}
    status, headers, body = post(both[0], "/metrics", method="GET")
    assert status == 200 and b"etcd_server_has_leader 1" in body


def cors_of(headers):
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def test_cors_default(both):
    answers = [post(s, "/v3/kv/range", {"key": b64("x")}, headers={"Origin": "http://o.example"})
               for s in both]
    assert cors_of(answers[0][1]) == cors_of(answers[1][1]) != {}
    assert answers[0][1]["access-control-allow-origin"] == "*"
    opts = [post(s, "/v3/kv/range", method="OPTIONS") for s in both]
    assert opts[0][0] == opts[1][0] == 200 and opts[0][2] == opts[1][2] == b""
    assert cors_of(opts[0][1]) == cors_of(opts[1][1])


def test_cors_and_host_whitelist(server_factory):
    args = ["--cors", "http://good.example:8080", "--host-whitelist", "localhost,gw.example"]
    pair = [server_factory.start("ledgerkv", args=args), server_factory.start("etcd", args=args)]
    for origin, allowed in (("http://good.example:8080", True), ("http://bad.example", False)):
        answers = [post(s, "/version", method="GET", headers={"Origin": origin, "Host": "gw.example:1"})
                   for s in pair]
        assert [a[0] for a in answers] == [200, 200]
        assert cors_of(answers[0][1]) == cors_of(answers[1][1])
        assert ("access-control-allow-origin" in answers[0][1]) == allowed
        if allowed:
            assert answers[0][1]["access-control-allow-origin"] == origin
    refused = [post(s, "/v3/kv/range", {}, headers={"Host": "evil.example:2379"}) for s in pair]
    assert refused[0][0] == refused[1][0] == 421
    assert refused[0][2] == refused[1][2] and b"--host-whitelist \"evil.example\"" in refused[0][2]
    assert refused[0][1]["content-type"] == refused[1][1]["content-type"]
    # gRPC is not HTTP/1.1: the whitelist does not apply to it
    pair[0].kv().Range(etcdrpc.RangeRequest(key=b"x"), timeout=5)


def test_bad_cors_refused(tmp_path):
    import subprocess
    r = subprocess.run([lkvtest.ledgerkv_bin(), "--data-dir", str(tmp_path / "d"), "--cors", "not a url"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--cors" in r.stderr, r.stderr


def test_pipelining_bad_http_and_grpc(ledgerkv):
    s = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=5)
    body = json.dumps({"key": b64("gw/p")}).encode()
    req = (b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    s.sendall(req + req + b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = read_all(s)
    assert data.count(b"HTTP/1.1 200 OK") == 3 and data.rstrip().endswith(b'"etcdcluster":"3.4.0"}'), data
    s = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=5)
    s.sendall(b"GARBAGE / HTTP/1.1\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 400 Bad Request")
    s.close()
    # gRPC on the same port still works, and sees what the gateway wrote
    call(ledgerkv, "/v3/kv/put", {"key": b64("gw/g"), "value": b64("v")})
    r = ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"gw/g"), timeout=5)
    assert r.kvs[0].value == b"v"


def test_expect_continue(both):
    """curl asks for "100 Continue" before a body above 1 KiB; Go's server sends it, and so must we (curl
    would otherwise wait a second for it)."""
    value = b64(b"x" * 4096)
    body = json.dumps({"key": b64("gw/big"), "value": value}).encode()
    for srv in both:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(b"POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n" % len(body))
        assert s.recv(4096).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), srv.kind
        s.sendall(body)
        data = read_all(s)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), (srv.kind, data[:200])
        assert call(srv, "/v3/kv/range", {"key": b64("gw/big")})["kvs"][0]["value"] == value


def test_stalled_request(ledgerkv):
    """A request not complete 10 s after its first byte gets 408 and the connection closes (etcd sets no
    read timeout; a stalled client must not hold a connection for ever); others are served meanwhile."""
    s = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=20)
    s.sendall(b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    started = time.monotonic()
    assert call(ledgerkv, "/v3/kv/range", {"key": b64("gw/s")})["header"]
    data = read_all(s)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b"Connection: close" in data, data
    assert 9 < time.monotonic() - started < 15


def test_tls_http11(tmp_path):
    """HTTP/1.1 over TLS (a client that offers no ALPN protocol): the gateway answers, and the host whitelist
    does not apply to TLS requests (etcd's rule)."""
    import ssl
    import subprocess
    port = lkvtest.free_port()
    url = "https://127.0.0.1:%d" % port
    proc = subprocess.Popen([lkvtest.ledgerkv_bin(), "--data-dir", str(tmp_path / "d"), "--listen-client-urls",
                             url, "--advertise-client-urls", url, "--auto-tls", "--host-whitelist", "nobody"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "log", "wb"),
                            env=lkvtest.child_env())
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
                conn.request("POST", "/v3/kv/put", body=json.dumps({"key": b64("t"), "value": b64("v")}),
                             headers={"Host": "evil.example"})
                r = conn.getresponse()
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert r.status == 200 and "revision" in json.loads(r.read())["header"]
        conn.request("POST", "/v3/kv/range", body=json.dumps({"key": b64("t")}))  # keep-alive over TLS
        r = conn.getresponse()
        assert json.loads(r.read())["kvs"][0]["value"] == b64("v")
        conn.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_bad_input_and_slow_clients_on_the_client_port(ledgerkv):
    """Oversized headers (431) and a body declared above the limit (413, before it is sent) are refused and
    their connections closed;
    slow clients that dribble a request's headers a byte at a time (slowloris) each get 408 10 s after
    their first byte, though they keep sending, while the gateway and gRPC answer others at once."""
    big = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=10)
    big.sendall(b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    data = read_all(big)
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), data[:200]
    # A body declared above the limit is refused at once; the answer survives what the client still sends
    # (the server shuts its side and drops the rest rather than resetting the connection).
    head = b"POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
    huge = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=5)
    huge.sendall(head % (4 << 20) + b"x" * (4 << 20))
    data = read_all(huge)
    assert data.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"), data[:200]
    huge = socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=5)
    huge.sendall(head % (64 << 20))  # no body yet: answered at once all the same
    assert read_all(huge).startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    slow = [socket.create_connection(("127.0.0.1", ledgerkv.port), timeout=20) for _ in range(8)]
    head = b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n" + b"X-Drip: " + b"d" * 200
    started, answered, i = time.monotonic(), [None] * len(slow), 0
    while None in answered and time.monotonic() - started < 15:
        for n, s in enumerate(slow):
            if answered[n] is None:
                try:
                    s.sendall(head[i:i + 1])
                except OSError:  # closed after its answer: read it below
                    pass
                s.setblocking(False)
                try:
                    got = s.recv(65536)
                    if got:
                        answered[n] = (time.monotonic() - started, got)
                except BlockingIOError:
                    pass
                s.setblocking(True)
        i += 1
        before = time.monotonic()
        assert call(ledgerkv, "/v3/kv/range", {"key": b64("gw/slow")})["header"]
        ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"gw/slow"), timeout=5)
        assert time.monotonic() - before < 2, "others are served meanwhile"
        time.sleep(0.3)
    for s in slow:
        s.close()
    assert None not in answered, answered
    for took, got in answered:
        assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and 9 < took < 14, (took, got[:100])


def test_first_watch_after_a_start_has_the_term(server_factory):
    """A watch opened at once after the start carries the Raft term in its headers, as every answer does
    (it said term 0, left out, until the watch hub's first tick)."""
    srv = server_factory.start("ledgerkv")
    w = open_watch(srv, {"create_request": {"key": b64("gw/term")}})
    try:
        _, created = read_chunks(w, 1)
    finally:
        w.close()
    term = call(srv, "/v3/kv/range", {"key": b64("gw/term")})["header"]["raft_term"]
    assert json.loads(created[0])["result"]["header"].get("raft_term") == term, created
