"""The metrics listener (--listen-metrics-urls) and gRPC's health service.

/health, its exclude= parameter, an alarm, 404 and 405 are compared byte for byte (status, content type,
body) with Debian's etcd 3.4 on its own metrics URL; /version with etcd's client URL (etcd 3.4 serves it
there only). /metrics is parsed: every metric etcd's alert rules and dashboard read is there, counters move
after writes, and the gRPC counters count calls by method and code. Malformed HTTP gets 400 and the
listener keeps serving (https:// in test_metrics_tls.py). A 3-member cluster with two members stopped gives
etcd's no-leader answer. grpc.health.v1.Health/Check answers SERVING, as etcd's does.
"""
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from etcd3 import etcdrpc

import cluster
import lkvtest

# What etcd's mixin (alerts and dashboard, /usr/share/doc/etcd-server/etcd-mixin) and `etcdctl check
# datascale` read, and the rest of the standard set docs/metrics.md lists.
REQUIRED = [
    "etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_leader_changes_seen_total",
    "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
    "etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
    "etcd_mvcc_db_total_size_in_bytes", "etcd_debugging_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes", "etcd_server_quota_backend_bytes",
    "etcd_disk_wal_fsync_duration_seconds_bucket", "etcd_disk_backend_commit_duration_seconds_bucket",
    "etcd_debugging_mvcc_keys_total", "etcd_mvcc_put_total", "etcd_mvcc_delete_total", "etcd_mvcc_range_total",
    "etcd_mvcc_txn_total", "etcd_server_version", "etcd_network_client_grpc_sent_bytes_total",
    "etcd_network_client_grpc_received_bytes_total", "grpc_server_started_total", "grpc_server_handled_total",
    "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
    "process_start_time_seconds", "ledgerkv_ledger_size", "ledgerkv_ledger_signed_heads_total",
    "ledgerkv_pool_threads", "etcd_debugging_mvcc_watcher_total", "etcd_debugging_mvcc_slow_watcher_total",
    "etcd_debugging_lease_granted_total", "etcd_debugging_lease_revoked_total",
    "etcd_debugging_lease_renewed_total",
]


def metrics_url(port):
    return "http://127.0.0.1:%d" % port


def get(port, path, method="GET"):
    """(status, headers with lower-case names, body text) of one request; port: a metrics port, or a base
    URL (a client URL)."""
    base = port if isinstance(port, str) else metrics_url(port)
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def answer(port, path, method="GET"):
    """What a client compares: status, content type, Allow, body."""
    status, headers, body = get(port, path, method)
    return status, headers.get("content-type"), headers.get("allow"), body


def scrape(port):
    """Every sample of /metrics as {'name{labels}': value}."""
    status, headers, body = get(port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def family(samples, name):
    return {k: v for k, v in samples.items() if k == name or k.startswith(name + "{")}


def start_with_metrics(factory, kind="ledgerkv", extra=()):
    port = lkvtest.free_port()
    srv = factory.start(kind=kind, args=["--listen-metrics-urls", metrics_url(port)] + list(extra))
    return srv, port


def set_alarm(srv, action):
    member = etcdrpc.MaintenanceStub(srv.channel()).Status(etcdrpc.StatusRequest(), timeout=5).header.member_id
    etcdrpc.MaintenanceStub(srv.channel()).Alarm(
        etcdrpc.AlarmRequest(action=action, memberID=member, alarm=etcdrpc.NOSPACE), timeout=5)


@pytest.fixture(scope="module")
def pair():
    """ledgerkv and Debian's etcd, each with a metrics URL."""
    with lkvtest.Factory() as f:
        yield start_with_metrics(f), start_with_metrics(f, kind="etcd")


HEALTH_PATHS = ["/health", "/health?exclude=NOSPACE", "/health?exclude=CORRUPT&exclude=NOSPACE", "/nope",
                "/metrics/x"]


def test_health_as_etcd(pair):
    (lkv, lport), (etcd, eport) = pair
    assert answer(lport, "/health") == (200, "text/plain; charset=utf-8", None, '{"health":"true"}')
    for path in HEALTH_PATHS:
        assert answer(lport, path) == answer(eport, path), path
    assert answer(lport, "/health", "POST") == answer(eport, "/health", "POST") == (
        405, "text/plain; charset=utf-8", "GET", "Method Not Allowed\n")


def test_health_with_an_alarm_as_etcd(pair):
    (lkv, lport), (etcd, eport) = pair
    for srv in (lkv, etcd):
        set_alarm(srv, etcdrpc.AlarmRequest.ACTIVATE)
    try:
        assert answer(lport, "/health") == (503, "text/plain; charset=utf-8", None, '{"health":"false"}\n')
        for path in HEALTH_PATHS:
            assert answer(lport, path) == answer(eport, path), path
        assert get(lport, "/health?exclude=NOSPACE")[0] == 200
        assert get(lport, "/readyz")[0] == 200  # NOSPACE is no data corruption
        for path in HEALTH_PATHS[:3]:  # the client URLs answer /health as the metrics URLs do, as etcd's
            assert answer(lkv.url, path) == answer(etcd.url, path) == answer(lport, path), path
        for srv in (lkv, etcd):  # etcd 3.4.23's gRPC health never changes from SERVING
            assert grpc_health(srv) == b"\x08\x01"
    finally:
        for srv in (lkv, etcd):
            set_alarm(srv, etcdrpc.AlarmRequest.DEACTIVATE)
    assert get(lport, "/health")[0] == 200
    failures = scrape(lport)["etcd_server_health_failures"]
    assert failures >= 2


def test_version_as_etcd(pair):
    (lkv, lport), (etcd, _) = pair
    status, headers, body = get(lport, "/version")
    with urllib.request.urlopen(etcd.url + "/version", timeout=5) as r:
        etcd_body, etcd_type = json.loads(r.read()), r.headers["Content-Type"]
    assert status == 200 and headers["content-type"] == etcd_type == "application/json"
    ours = json.loads(body)
    assert sorted(ours) == sorted(etcd_body) == ["etcdcluster", "etcdserver"]
    assert ours["etcdcluster"] == etcd_body["etcdcluster"] == "3.4.0"
    version = etcdrpc.MaintenanceStub(lkv.channel()).Status(etcdrpc.StatusRequest(), timeout=5).version
    assert ours["etcdserver"] == version
    assert body == '{"etcdserver":"%s","etcdcluster":"3.4.0"}' % version  # Go's field order


def test_livez_readyz(pair):
    (_, lport), _ = pair
    assert answer(lport, "/livez") == (200, "text/plain; charset=utf-8", None, "ok")
    assert answer(lport, "/readyz?verbose") == (
        200, "text/plain; charset=utf-8", None,
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nreadyz check passed\n")
    assert get(lport, "/readyz?exclude=linearizable_read&verbose")[2].startswith(
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read excluded: ok\n")


def test_metrics_present_and_moving(pair):
    (lkv, lport), (etcd, eport) = pair
    before = scrape(lport)
    names = {k.split("{")[0] for k in before}
    missing = [m for m in REQUIRED if m not in names]
    assert not missing, missing
    assert before["etcd_server_has_leader"] == 1 and before["etcd_server_is_leader"] == 1
    assert before['etcd_server_version{server_version="%s"}' % json.loads(get(lport, "/version")[2])["etcdserver"]] == 1
    assert before["process_resident_memory_bytes"] > 0 and before["process_open_fds"] > 0
    assert abs(before["process_start_time_seconds"] - time.time()) < 600
    for i in range(5):
        lkvtest.etcdctl(lkv, "put", "/m/%d" % i, "v")
    lkvtest.etcdctl(lkv, "get", "/m/0")
    lkvtest.etcdctl(lkv, "del", "/m/0")
    after = scrape(lport)
    assert after["etcd_mvcc_put_total"] - before["etcd_mvcc_put_total"] == 5
    assert after["etcd_mvcc_delete_total"] - before["etcd_mvcc_delete_total"] == 1
    assert after["etcd_mvcc_range_total"] - before["etcd_mvcc_range_total"] >= 1
    assert after["etcd_server_proposals_applied_total"] - before["etcd_server_proposals_applied_total"] == 6
    assert after["etcd_debugging_mvcc_keys_total"] == before["etcd_debugging_mvcc_keys_total"] + 4
    assert after["etcd_disk_wal_fsync_duration_seconds_count"] > before["etcd_disk_wal_fsync_duration_seconds_count"]
    assert after["etcd_disk_backend_commit_duration_seconds_count"] > \
        before["etcd_disk_backend_commit_duration_seconds_count"]
    # 5 puts of a 4-byte key and value: more than 5 * 8 bytes received, the answers' headers sent
    for name in ("etcd_network_client_grpc_received_bytes_total", "etcd_network_client_grpc_sent_bytes_total"):
        assert after[name] - before[name] > 40, name
    put_ok = 'grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",' \
             'grpc_type="unary"}'
    assert after[put_ok] - before[put_ok] == 5
    # the same series exist on etcd, with the same labels (etcd pre-initialises every code too)
    etcd_samples = scrape(eport)
    assert put_ok in etcd_samples
    assert 'grpc_server_started_total{grpc_method="Watch",grpc_service="etcdserverpb.Watch",' \
           'grpc_type="bidi_stream"}' in after
    assert after["etcd_mvcc_db_total_size_in_bytes"] >= after["etcd_mvcc_db_total_size_in_use_in_bytes"] > 0


def test_watch_and_lease_metrics(pair):
    (lkv, lport), _ = pair
    before = scrape(lport)
    done = threading.Event()

    def requests():
        yield etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"/w"))
        done.wait(10)

    stream = etcdrpc.WatchStub(lkv.channel()).Watch(requests(), timeout=20)
    assert next(stream).created
    during = scrape(lport)
    done.set()
    stream.cancel()
    assert during["etcd_debugging_mvcc_watcher_total"] == before["etcd_debugging_mvcc_watcher_total"] + 1
    lease = lkvtest.etcdctl(lkv, "lease", "grant", "60").stdout.split()[1]
    lkvtest.etcdctl(lkv, "lease", "keep-alive", "--once", lease)
    lkvtest.etcdctl(lkv, "lease", "revoke", lease)
    after = scrape(lport)
    for name in ("granted", "renewed", "revoked"):
        metric = "etcd_debugging_lease_%s_total" % name
        assert after[metric] == before[metric] + 1, metric
    deadline = time.time() + 5  # the canceled stream's watcher goes when the server sees the reset
    while scrape(lport)["etcd_debugging_mvcc_watcher_total"] != before["etcd_debugging_mvcc_watcher_total"]:
        assert time.time() < deadline
        time.sleep(0.1)


def promtool_problems(port):
    """promtool's lint of one scrape: the set of its complaints; a text it cannot parse fails."""
    text = get(port, "/metrics")[2]
    res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert "parsing error" not in res.stderr + res.stdout, res.stderr
    return {line.strip() for line in (res.stdout + res.stderr).splitlines() if line.strip()}


def test_promtool_reads_it_as_etcds(pair):
    """Prometheus' own parser accepts the text; its naming lints are only those etcd's own names earn."""
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian's prometheus) is not installed")
    (_, lport), (_, eport) = pair
    ours, etcds = promtool_problems(lport), promtool_problems(eport)
    assert ours <= etcds, ours - etcds


def raw(port, data):
    """Sends data, returns what the listener answered before it closed (or 3 s passed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def test_bad_http_keeps_serving(pair):
    (_, lport), _ = pair
    assert raw(lport, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert raw(lport, b"GET /health HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    two = raw(lport, b"GET /health HTTP/1.1\r\n\r\nGET /version HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert two.count(b"HTTP/1.1 200 OK\r\n") == 2 and b'{"health":"true"}' in two
    assert get(lport, "/health")[0] == 200


def grpc_health(srv, service=b""):
    """grpc.health.v1.Health/Check with a hand-encoded request (field 1, the service name)."""
    call = srv.channel().unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
    req = b"\x0a" + bytes([len(service)]) + service if service else b""
    return call(req, timeout=5)


def test_grpc_health_check_as_etcd(pair):
    (lkv, _), (etcd, _) = pair
    for srv in (lkv, etcd):
        assert grpc_health(srv) == b"\x08\x01"  # status: SERVING
        with pytest.raises(grpc.RpcError) as e:
            grpc_health(srv, b"etcdserverpb.KV")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND and e.value.details() == "unknown service"


def grpc_health_watch(srv, service=b""):
    """The first answer of grpc.health.v1.Health/Watch; the stream is then canceled."""
    call = srv.channel().unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
    req = b"\x0a" + bytes([len(service)]) + service if service else b""
    stream = call(req, timeout=10)
    first = next(stream)
    stream.cancel()
    return first


def test_grpc_health_watch_as_etcd(pair):
    (lkv, lport), (etcd, _) = pair
    for srv in (lkv, etcd):
        assert grpc_health_watch(srv) == b"\x08\x01"  # SERVING, and the stream stays open
        assert grpc_health_watch(srv, b"etcdserverpb.KV") == b"\x08\x03"  # SERVICE_UNKNOWN
    assert get(lport, "/health")[0] == 200


def test_stop_with_a_health_watch_open():
    with lkvtest.Factory() as f:
        srv = f.start()
        call = srv.channel().unary_stream("/grpc.health.v1.Health/Watch", request_serializer=lambda b: b,
                                          response_deserializer=lambda b: b)
        stream = call(b"", timeout=30)
        assert next(stream) == b"\x08\x01"
        began = time.time()
        srv.stop()  # clean (exit 0), and the open stream does not hold it up for the grace period
        assert time.time() - began < 1.5
        with pytest.raises(grpc.RpcError) as e:
            next(stream)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE


class MetricsCluster(cluster.Cluster):
    """A cluster whose members each listen for metrics on a port of their own."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metrics_ports = {}

    def flags(self, member):
        port = self.metrics_ports.setdefault(member.name, lkvtest.free_port())
        return super().flags(member) + ["--listen-metrics-urls", metrics_url(port)]


@pytest.fixture
def metrics_cluster():
    yield from cluster.started(size=3, cls=MetricsCluster, kind="ledgerkv")


def test_cluster_without_leader(metrics_cluster):
    c = metrics_cluster
    ports = [c.metrics_ports[m.name] for m in c.members]
    for p in ports:
        assert get(p, "/health")[0] == 200
    assert sum(scrape(p)["etcd_server_is_leader"] for p in ports) == 1
    for m in c.members[1:]:
        m.stop()
    deadline = time.time() + 15
    while time.time() < deadline and get(ports[0], "/health")[0] == 200:
        time.sleep(0.2)
    assert answer(ports[0], "/health") == (503, "text/plain; charset=utf-8", None, '{"health":"false"}\n')
    assert answer(c.members[0].url, "/health") == answer(ports[0], "/health")  # the client URL too
    assert grpc_health(c.members[0]) == b"\x08\x01"  # SERVING all the same, as etcd 3.4.23's
    assert scrape(ports[0])["etcd_server_has_leader"] == 0
    # etcd 3.5's serializable=true asks about this member alone, which still serves local reads
    assert get(ports[0], "/health?serializable=true")[0] == 200
    status, _, body = get(ports[0], "/readyz")
    assert status == 503 and body.endswith("readyz check failed\n") and "[-]linearizable_read failed" in body


def test_etcdctl_check_datascale():
    """etcdctl reads process_resident_memory_bytes from the client URL's /metrics before and after 10000
    puts of 1 KiB (its smallest load), then deletes them; without the metric it says FAIL."""
    with lkvtest.Factory() as f:
        srv = f.start()
        out = lkvtest.etcdctl(srv, "check", "datascale", "--load=s", timeout=300).stdout
        assert "PASS: Approximate system memory used" in out, out
        assert not lkvtest.etcdctl(srv, "get", "--prefix", "/etcdctl-check-datascale/", "--keys-only").stdout.strip()
