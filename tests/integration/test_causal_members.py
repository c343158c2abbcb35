"""Causal mode's membership side (docs/causal.md §15) with three real members (test_causal.py's cluster)
started with a short --experimental-causal-silent-after.

- Every member hears from every peer (ReplicationStatus: last heard set, nobody silent).
- A member stopped is reported silent by the others: once in the log, in ReplicationStatus (silent, its last
  heard time kept; `ledgerkv causal-status` prints the same) and in the metrics (ledgerkv_causal_silent_peers, ledgerkv_causal_peer_last_heard_seconds
  growing past the threshold); started again it is reported heard again, once, and the gauges drop back.

ledgerkv only: etcd has no causal mode.
"""
import json
import subprocess
import urllib.request

import pytest

import lkvtest
from cluster import started, wait_for
from test_causal import CausalCluster
from test_causal_conflicts import status

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

SILENT_AFTER = 3.0  # seconds: well above a running peer's gaps (a hello every 100 ms) on a loaded machine
TIMEOUT = 15.0


class QuickSilence(CausalCluster):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra_flags.append("--experimental-causal-silent-after=%dms" % (SILENT_AFTER * 1000))


@pytest.fixture
def cluster():
    yield from started(cls=QuickSilence)


def peers(member):
    """{member id: (last_heard_ms, silent)} as member's ReplicationStatus shows its peers."""
    resp = status(member)
    return {v.member_id: (v.last_heard_ms, v.silent) for v in resp.members if v.member_id != resp.member_id}


def scrape(member):
    """The causal gauges of member's /metrics: {'name{labels}': value}."""
    with urllib.request.urlopen(member.url + "/metrics", timeout=10) as r:
        body = r.read().decode()
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in body.splitlines()
                                                   if line.startswith("ledgerkv_causal_"))}


def test_silent_member_reported(cluster):
    a, b, c = cluster.members
    for m in cluster.members:
        m.status()  # learns m.id
    ids = {m.name: m.id for m in cluster.members}

    def all_heard():
        """a has heard from b and c, and reports neither silent"""
        p = peers(a)
        return set(p) == {ids["m2"], ids["m3"]} and all(heard > 0 and not silent for heard, silent in p.values())

    wait_for(all_heard, TIMEOUT)
    assert "is silent" not in a.log_text()
    heard_c = peers(a)[ids["m3"]][0]

    c.stop()
    silent_line = "member %016x is silent" % ids["m3"]
    assert a.wait_log(silent_line, timeout=TIMEOUT), a.log_tail()
    assert b.wait_log(silent_line, timeout=TIMEOUT), b.log_tail()

    def c_silent():
        """a's ReplicationStatus shows c silent (its last hearing kept) and b not"""
        p = peers(a)
        return p[ids["m3"]][1] and p[ids["m3"]][0] >= heard_c and not p[ids["m2"]][1]

    wait_for(c_silent, TIMEOUT)
    label = 'ledgerkv_causal_peer_last_heard_seconds{member="%x"}' % ids["m3"]

    def c_silent_in_metrics():
        """a's metrics count one silent peer, c quiet for longer than the threshold"""
        g = scrape(a)
        return g.get("ledgerkv_causal_silent_peers") == 1 and g.get(label, 0) > SILENT_AFTER

    wait_for(c_silent_in_metrics, TIMEOUT)
    # The operator's view: `ledgerkv causal-status` prints the same.
    out = subprocess.run([lkvtest.ledgerkv_bin(), "causal-status", "--endpoints", "127.0.0.1:%d" % a.port],
                         check=True, capture_output=True, text=True, timeout=10).stdout
    shown = {int(v["id"], 16): v for v in json.loads(out)["members"]}
    assert shown[ids["m3"]]["silent"] and shown[ids["m3"]]["last_heard_ms"] >= heard_c
    assert not shown[ids["m2"]]["silent"] and shown[ids["m2"]]["last_heard_ms"] > 0
    assert shown[ids["m1"]]["last_heard_ms"] == 0 and not shown[ids["m1"]]["silent"]
    assert scrape(a)['ledgerkv_causal_peer_last_heard_seconds{member="%x"}' % ids["m2"]] < SILENT_AFTER

    cluster.restart(c)
    heard_line = "member %016x is heard again" % ids["m3"]
    assert a.wait_log(heard_line, timeout=TIMEOUT), a.log_tail()
    wait_for(all_heard, TIMEOUT)
    wait_for(lambda: scrape(a).get("ledgerkv_causal_silent_peers") == 0, TIMEOUT)
    # Once each way: one silence, one return (b was never reported).
    log = a.log_text()
    assert log.count(silent_line) == 1 and log.count(heard_line) == 1, a.log_tail()
    assert "member %016x is silent" % ids["m2"] not in log
