"""The metrics a cluster adds (issue 15 item 3): the peer network families and --metrics extensive.

A 3-member ledgerkv cluster with --metrics extensive: every member has a series per other member in
etcd_network_peer_round_trip_time_seconds{To} (pings on the peer transport, observed within seconds),
..._sent_bytes_total{To}, ..._received_bytes_total{From} and ..._sent_failures_total{To}, labelled with the
member ids in etcd's hex; bytes grow with writes; grpc_server_handling_seconds counts the calls made. Every
metric etcd's alert rules (Debian's etcd-mixin) read has series, the v2 HTTP ones aside. Without
--metrics extensive there is no handling histogram (etcd's default), and the lease TTL histogram and the
receipts counter move.
"""
import gzip
import json
import re
import shutil
import subprocess
import time

import pytest

import cluster
import lkvtest
from test_metrics import MetricsCluster, family, promtool_problems, scrape, start_with_metrics

MIXIN = "/usr/share/doc/etcd-server/etcd-mixin/mixin.libsonnet.gz"


class ExtensiveCluster(MetricsCluster):
    def flags(self, member):
        return super().flags(member) + ["--metrics", "extensive"]


@pytest.fixture(scope="module")
def members():
    yield from cluster.started(size=3, cls=ExtensiveCluster, kind="ledgerkv")


def member_ids(c):
    """{name: id in etcd's hex} from MemberList."""
    out = lkvtest.etcdctl(c.members[0], "member", "list", "-w", "json").stdout
    return {m["name"]: "%x" % m["ID"] for m in json.loads(out)["members"]}


def wait_for(fn, timeout=10):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value or time.time() > deadline:
            return value
        time.sleep(0.2)


def test_peer_series_per_member(members):
    c = members
    ids = member_ids(c)
    for m in c.members:
        port = c.metrics_ports[m.name]
        others = {ids[o.name] for o in c.members if o is not m}
        rtt_count = lambda: {k: v for k, v in family(scrape(port), "etcd_network_peer_round_trip_time_seconds_count").items() if v > 0}
        counted = wait_for(lambda: len(rtt_count()) == 2 and rtt_count())
        assert counted, scrape(port).keys()
        assert {re.search(r'To="([0-9a-f]+)"', k).group(1) for k in counted} == others
        s = scrape(port)
        for name, label in (("etcd_network_peer_sent_bytes_total", "To"),
                            ("etcd_network_peer_received_bytes_total", "From"),
                            ("etcd_network_peer_sent_failures_total", "To")):
            series = {'%s{%s="%s"}' % (name, label, o) for o in others}
            assert series <= set(s), (name, sorted(family(s, name)))
        for o in others:
            assert s['etcd_network_peer_sent_bytes_total{To="%s"}' % o] > 0
            assert s['etcd_network_peer_received_bytes_total{From="%s"}' % o] > 0
            # a round trip on loopback: well under the mixin's 150 ms alert
            total = s['etcd_network_peer_round_trip_time_seconds_sum{To="%s"}' % o]
            count = s['etcd_network_peer_round_trip_time_seconds_count{To="%s"}' % o]
            assert 0 < total / count < 0.15


def test_peer_bytes_grow_with_writes(members):
    c = members
    leader = c.leader()
    port = c.metrics_ports[leader.name]
    before = scrape(port)
    lkvtest.etcdctl(leader, "put", "/peers/big", "x" * 100000)
    after = scrape(port)
    sent = lambda s: sum(family(s, "etcd_network_peer_sent_bytes_total").values())
    assert sent(after) - sent(before) >= 2 * 100000  # the entry went to both followers


def test_handling_seconds_with_extensive(members):
    c = members
    m = c.members[0]
    port = c.metrics_ports[m.name]
    key = 'grpc_server_handling_seconds_count{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}'
    before = scrape(port)
    assert key in before  # pre-initialised, as go-grpc-prometheus does
    for _ in range(3):
        lkvtest.etcdctl(m, "get", "/nothing")
    after = scrape(port)
    assert after[key] - before[key] == 3
    bucket = key.replace("_count{", '_bucket{').replace("}", ',le="+Inf"}')
    assert after[bucket] == after[key]


def test_mixin_alerts_see_series(members):
    """Every metric the etcd mixin's alerts and dashboard read is served (etcd_http_* are etcd's v2 API's)."""
    with gzip.open(MIXIN, "rt") as f:
        names = set(re.findall(r"\b((?:etcd|grpc)_[a-z_]+_(?:total|bucket|bytes|seconds|pending|leader))\b",
                               f.read()))
    names = {n for n in names if not n.startswith("etcd_http_")}
    assert "etcd_network_peer_round_trip_time_seconds_bucket" in names
    c = members
    served = {k.split("{")[0] for k in scrape(c.metrics_ports[c.members[0].name])}
    assert names <= served, sorted(names - served)


def test_promtool_reads_the_cluster_scrape(members):
    """Prometheus' parser accepts a member's scrape with the peer and handling-time families; its naming
    lints are only those etcd's own scrape (--metrics extensive) earns."""
    if not shutil.which("promtool"):
        pytest.skip("promtool (Debian's prometheus) is not installed")
    with lkvtest.Factory() as f:
        _, eport = start_with_metrics(f, kind="etcd", extra=["--metrics", "extensive"])
        etcds = promtool_problems(eport)
    ours = promtool_problems(members.metrics_ports[members.members[0].name])
    assert ours <= etcds, ours - etcds


def test_basic_metrics_lease_ttl_receipts_pool():
    with lkvtest.Factory() as f:
        srv, port = start_with_metrics(f)
        before = scrape(port)
        assert not family(before, "grpc_server_handling_seconds_count")  # etcd's basic set
        lease = lkvtest.etcdctl(srv, "lease", "grant", "100").stdout.split()[1]
        rev = json.loads(lkvtest.etcdctl(srv, "put", "--lease", lease, "/ttl", "v", "-w", "json").stdout)
        out = subprocess.run([lkvtest.ledgerkv_bin(), "receipt", "--endpoints", srv.endpoint, "--revision",
                              str(rev["header"]["revision"])], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        after = scrape(port)
        ttl = "etcd_debugging_lease_ttl_total"
        assert after[ttl + "_count"] == before[ttl + "_count"] + 1
        assert after[ttl + '_bucket{le="64"}'] == before[ttl + '_bucket{le="64"}']  # 100 s: in (64, 128]
        assert after[ttl + '_bucket{le="128"}'] == before[ttl + '_bucket{le="128"}'] + 1
        receipts = "ledgerkv_ledger_receipts_served_total"
        assert after[receipts] == before[receipts] + 1
        for k in ('ledgerkv_pool_limit_changes_total{direction="park"}',
                  'ledgerkv_pool_limit_changes_total{direction="unpark"}', "ledgerkv_pool_gate_wait_seconds_total"):
            assert k in after, k
