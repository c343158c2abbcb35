"""Raft snapshots and log compaction in a three-member cluster: the store's checkpoint is each member's
snapshot, the log is compacted below it, and a member too far behind (down while the others went on, or
added later) is streamed the leader's checkpoint and the ledger's frontier, installs them, and then follows
the log. ledgerkv only: etcd 3.4 keeps 5000 entries below a snapshot (ledgerkv's
--experimental-snapshot-catchup-entries, etcd 3.5's flag, makes it small enough for a short test).
"""
import time

import grpc
import pytest

import lkvtest
from etcd3 import etcdrpc
from cluster import started, wait_for

TIMEOUT = 5.0
FLAGS = ["--snapshot-count", "200", "--experimental-snapshot-catchup-entries", "20"]

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="ledgerkv's snapshot flags")


@pytest.fixture
def cluster():
    yield from started(extra_flags=FLAGS)


def kv(member):
    return etcdrpc.KVStub(member.channel())


def put_many(member, prefix, n, lease=0):
    stub = kv(member)
    for i in range(n):
        stub.Put(etcdrpc.PutRequest(key=b"%s/%05d" % (prefix, i), value=b"v%d" % i, lease=lease), timeout=TIMEOUT)


def everything(member):
    """(revision, [(key, value, mod_revision, version)]) as member serves it locally."""
    resp = kv(member).Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0", serializable=True), timeout=TIMEOUT)
    return resp.header.revision, [(x.key, x.value, x.mod_revision, x.version) for x in resp.kvs]


def same_everywhere(cluster):
    """every member to serve the same revision and keys"""
    views = [everything(m) for m in cluster.running()]
    return all(v == views[0] for v in views)


def test_member_far_behind_installs_a_snapshot(cluster):
    lead = cluster.wait_ready()
    behind = cluster.followers()[0]
    put_many(lead, b"early", 10)
    cluster.kill(behind)
    lease = etcdrpc.LeaseStub(lead.channel()).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=600), timeout=TIMEOUT).ID
    put_many(lead, b"while-down", 450)
    kv(lead).Put(etcdrpc.PutRequest(key=b"leased", value=b"x", lease=lease), timeout=TIMEOUT)
    kv(lead).DeleteRange(etcdrpc.DeleteRangeRequest(key=b"early/00000"), timeout=TIMEOUT)
    rev = kv(lead).Range(etcdrpc.RangeRequest(key=b"leased"), timeout=TIMEOUT).header.revision
    kv(lead).Compact(etcdrpc.CompactionRequest(revision=rev - 100), timeout=TIMEOUT)
    put_many(lead, b"after-compact", 250)  # past --snapshot-count again: the log is compacted below it

    cluster.restart(behind)
    wait_for(lambda: same_everywhere(cluster), timeout=60)
    assert behind.wait_log("installed a snapshot")  # printed just after the store is swapped in
    # What the snapshot carried: the compaction, the lease with its key, the deletion.
    with pytest.raises(grpc.RpcError) as e:
        kv(behind).Range(etcdrpc.RangeRequest(key=b"leased", revision=rev - 150, serializable=True),
                         timeout=TIMEOUT)
    assert e.value.details() == "etcdserver: mvcc: required revision has been compacted"
    leases = etcdrpc.LeaseStub(behind.channel()).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=TIMEOUT)
    assert lease in [x.ID for x in leases.leases]
    ttl = etcdrpc.LeaseStub(behind.channel()).LeaseTimeToLive(
        etcdrpc.LeaseTimeToLiveRequest(ID=lease, keys=True), timeout=TIMEOUT)
    assert list(ttl.keys) == [b"leased"]

    # It goes on from there: writes through it, and a restart from its installed state.
    put_many(behind, b"through-it", 5)
    wait_for(lambda: same_everywhere(cluster))
    cluster.kill(behind)
    cluster.restart(behind)
    put_many(lead, b"after-restart", 5)
    wait_for(lambda: same_everywhere(cluster))


def test_added_member_starts_from_a_snapshot(cluster):
    lead = cluster.wait_ready()
    put_many(lead, b"history", 450)
    d = cluster.new_member("m4")
    stub = etcdrpc.ClusterStub(cluster.followers()[0].channel())
    deadline = time.monotonic() + 15
    while True:
        try:
            stub.MemberAdd(etcdrpc.MemberAddRequest(peerURLs=[d.peer_url]), timeout=TIMEOUT)
            break
        except grpc.RpcError as e:  # etcd's health check after start-up
            if e.details() != "etcdserver: unhealthy cluster" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    d.start()
    wait_for(lambda: same_everywhere(cluster), timeout=60)
    assert d.wait_log("installed a snapshot")
    put_many(d, b"via-new", 3)
    wait_for(lambda: same_everywhere(cluster))
