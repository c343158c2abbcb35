"""Causal mode's membership changes (docs/causal.md §15) with real members (test_causal.py's cluster).

- Removal: three members, one stopped for good; a tombstone written meanwhile stays (the stopped member's
  vector never covers it: docs §7) until `etcdctl member remove` on another member; then it is purged on the
  members still in (Siblings of the key lists nothing: the sole tombstone is gone), MemberList and
  ReplicationStatus leave the removed member out, and removing it again answers etcd's "member not found".
  The removed member started again stops with etcd's "the member has been permanently removed from the
  cluster".
- A removed member's leases end with its removal (docs §15a): the keys attached to them (on the owner and
  on another member) go at the removal's revision; the members still in list none of its leases and answer
  TimeToLive, LeaseRevoke and LeaseKeepAlive of them as etcd answers an unknown lease, also after a restart.

ledgerkv only: etcd has no causal mode.
"""
import time

import grpc
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster, put
from test_causal_conflicts import siblings, status
from test_causal_lease import grant, keepalive_once, lease, leased, tag, time_to_live
from test_causal_lease import put as put_leased

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

TIMEOUT = 20.0


@pytest.fixture
def cluster():
    yield from started(cls=CausalCluster)


def etcdctl(member, *args, check=True):
    return lkvtest.etcdctl(member, *args, check=check)


def listed(member):
    """The member ids `etcdctl member list` prints on member (hex)."""
    out = etcdctl(member, "member", "list", "-w", "simple").stdout
    return {line.split(",")[0].strip() for line in out.splitlines() if line.strip()}


def test_member_remove_lets_tombstones_purge(cluster):
    a, b, c = cluster.members
    for m in cluster.members:
        m.status()  # learns m.id
    put(a, "t", "1")
    wait_for(lambda: all(len(siblings(m, "t").siblings) == 1 for m in cluster.members), TIMEOUT)
    c.stop()
    etcdctl(a, "del", "t")
    # c never reports a vector covering the delete: its tombstone stays on a and b.
    wait_for(lambda: all(len(siblings(m, "t").siblings) == 1 and siblings(m, "t").siblings[0].tombstone
                         for m in (a, b)), TIMEOUT)
    time.sleep(1.0)  # many anti-entropy rounds
    assert len(siblings(a, "t").siblings) == 1, "purged while a member's vector does not cover it"

    out = etcdctl(a, "member", "remove", "%x" % c.id).stdout
    assert "removed from cluster" in out, out
    wait_for(lambda: "%x" % c.id not in listed(b), TIMEOUT)
    assert listed(a) == {"%x" % a.id, "%x" % b.id}
    assert {v.member_id for v in status(b).members} == {a.id, b.id}
    # Both members still in have applied the removal and reported it: the tombstone is purged on both.
    wait_for(lambda: all(len(siblings(m, "t").siblings) == 0 for m in (a, b)), TIMEOUT)
    assert b.wait_log("member %016x is removed" % c.id, timeout=TIMEOUT), b.log_tail()

    again = etcdctl(b, "member", "remove", "%x" % c.id, check=False)
    assert again.returncode != 0 and "member not found" in again.stderr, again.stderr

    # The removed member, started again, is refused by its old peers and stops with etcd's message.
    c.start(wait=False)
    deadline = time.monotonic() + TIMEOUT
    while c.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not c.alive(), "a removed member stops"
    assert "the member has been permanently removed from the cluster" in c.last_start_log()
    put(a, "u", "1")  # the others go on
    wait_for(lambda: "u" in etcdctl(b, "get", "u", "--keys-only").stdout, TIMEOUT)


def not_found(call):
    """The gRPC error of call(), which must be etcd's answer for an unknown lease."""
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert e.value.code() == grpc.StatusCode.NOT_FOUND, e.value
    assert e.value.details() == "etcdserver: requested lease not found"


def test_member_remove_ends_its_leases(cluster):
    a, b, c = cluster.members
    for m in cluster.members:
        m.status()  # learns m.id
    lid, c_tag = grant(c, 60), tag(c)
    put_leased(c, "r/c", "1", lid)
    wait_for(lambda: put_leased(b, "r/b", "1", lid), CONVERGE_TIMEOUT)  # once b applied the grant
    both = {"r/c": lid, "r/b": lid}
    wait_for(lambda: all(leased(m, "r/")[1] == both for m in cluster.members), CONVERGE_TIMEOUT)
    cluster.cut_off(c)
    before = leased(a, "r/")[0]
    etcdctl(a, "member", "remove", "%x" % c.id)
    # On a, the keys went at the removal's own revision; b follows.
    assert leased(a, "r/") == (before + 1, {})
    wait_for(lambda: leased(b, "r/")[1] == {}, CONVERGE_TIMEOUT)
    for m in (a, b):
        assert not [s.ID for s in lease(m).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=5).leases
                    if s.ID >> 48 == c_tag], "a removed member's lease is listed"
        assert time_to_live(m, lid).TTL == -1  # etcd's answer for an unknown lease
        not_found(lambda: lease(m).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=lid), timeout=5))
        assert keepalive_once(m, lid) == 0  # etcd's answer for a lease that is gone
    b.stop()
    cluster.restart(b)
    assert leased(b, "r/")[1] == {}
    assert time_to_live(b, lid).TTL == -1
    assert keepalive_once(b, lid) == 0
