"""Causal mode's membership changes (docs/causal.md §15) with real members (test_causal.py's cluster).

- Removal: three members, one stopped for good; a tombstone written meanwhile stays (the stopped member's
  vector never covers it: docs §7) until `etcdctl member remove` on another member; then it is purged on the
  members still in (Siblings of the key lists nothing: the sole tombstone is gone), MemberList and
  ReplicationStatus leave the removed member out, and removing it again answers etcd's "member not found".
  The removed member started again stops with etcd's "the member has been permanently removed from the
  cluster".

ledgerkv only: etcd has no causal mode.
"""
import time

import pytest

import lkvtest
from cluster import started, wait_for
from test_causal import CausalCluster, put
from test_causal_conflicts import siblings, status

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
