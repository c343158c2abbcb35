"""Leases in causal mode (issue 16 item 4, docs/causal.md §5) with three real members on loopback, their peer
traffic through peer_proxy's proxies.

- A lease belongs to the member that granted it: its id carries the owner's tag (bits 48..62 = the low 15
  bits of the member id); a client-chosen id naming another member is refused, as is a revoke on a member
  that does not own the lease.
- The grant is an event: every member knows the lease; a put with it on another member attaches the key
  there and everywhere. Renewals and TTL queries on another member reach the owner over the peer transport.
  The owner restarted counts the lease's full TTL again.
- A revoke on the owner is one event: on every member both attached keys go at one revision.
- Cut off from the others, the owner expires its unrenewed lease and deletes its keys; the far side keeps
  them, and one put there meanwhile with the lease (answering renewals with "owner is unreachable"), until
  the expiry event arrives after the heal and deletes them all at one revision.

ledgerkv only: etcd has no causal mode.
"""
import time

import grpc
import pytest

import lkvtest
from cluster import wait_for
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, PUT_TIMEOUT, cluster  # noqa: F401 (cluster: the fixture)

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")


def lease(member):
    return etcdrpc.LeaseStub(member.channel())


def grant(member, ttl, lid=0):
    return lease(member).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=ttl, ID=lid), timeout=PUT_TIMEOUT).ID


def put(member, key, value, lid):
    req = etcdrpc.PutRequest(key=key.encode(), value=value.encode(), lease=lid)
    return member.kv().Put(req, timeout=PUT_TIMEOUT)


def keepalive_once(member, lid, timeout=10):
    resps = list(lease(member).LeaseKeepAlive(iter([etcdrpc.LeaseKeepAliveRequest(ID=lid)]), timeout=timeout))
    return resps[0].TTL if resps else None


def time_to_live(member, lid):
    return lease(member).LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=lid, keys=True), timeout=10)


def leased(member, prefix):
    """(revision, {key: lease}) of the keys under prefix on member."""
    resp = member.kv().Range(etcdrpc.RangeRequest(key=prefix.encode(), range_end=prefix.encode()[:-1] + b"0"),
                             timeout=2)
    return resp.header.revision, {kv.key.decode(): kv.lease for kv in resp.kvs}


def tag(member):
    return member.status().header.member_id & 0x7FFF


def test_owner_grant_keepalive_revoke(cluster):
    a, b, c = cluster.members
    lid = grant(a, 30)
    assert lid > 0 and lid >> 48 == tag(a), "the id names its owner"

    # A client-chosen id must name the member it is granted on.
    with pytest.raises(grpc.RpcError) as e:
        grant(a, 30, lid=(tag(b) << 48) | 7)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "names another member" in e.value.details()
    assert grant(b, 30, lid=(tag(b) << 48) | 7) == (tag(b) << 48) | 7

    put(a, "l/a", "1", lid)
    wait_for(lambda: put(b, "l/b", "2", lid), CONVERGE_TIMEOUT)  # once b applied the grant
    both = {"l/a": lid, "l/b": lid}
    wait_for(lambda: all(leased(m, "l/")[1] == both for m in cluster.members), CONVERGE_TIMEOUT)
    assert lid in [s.ID for s in lease(c).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=5).leases]

    # Renewals and TTL queries through b and c are answered by a.
    assert keepalive_once(b, lid) == 30
    ttl = time_to_live(c, lid)
    assert ttl.grantedTTL == 30 and 0 < ttl.TTL <= 30 and sorted(ttl.keys) == [b"l/a", b"l/b"]

    # The owner restarts (its event log and ledger replayed): its lease counts a full TTL again, as etcd's.
    a.stop()
    cluster.restart(a)
    ttl = wait_for(lambda: time_to_live(a, lid), CONVERGE_TIMEOUT)
    assert ttl.grantedTTL == 30 and ttl.TTL >= 25 and sorted(ttl.keys) == [b"l/a", b"l/b"]

    # Only the owner revokes; its revoke deletes both keys at one revision on every member.
    with pytest.raises(grpc.RpcError) as e:
        lease(b).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=lid), timeout=5)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    before = {m.name: leased(m, "l/")[0] for m in cluster.members}
    lease(a).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=lid), timeout=PUT_TIMEOUT)
    wait_for(lambda: all(leased(m, "l/") == (before[m.name] + 1, {}) for m in cluster.members), CONVERGE_TIMEOUT)
    assert keepalive_once(b, lid) == 0  # etcd's answer for a lease that is gone


def test_partition_keeps_keys_on_far_side(cluster):
    a, b, c = cluster.members
    lid = grant(a, 2)
    put(a, "p/a", "1", lid)
    wait_for(lambda: all(leased(m, "p/")[1] == {"p/a": lid} for m in cluster.members), CONVERGE_TIMEOUT)

    # Renewals through b keep the lease alive on a for longer than its TTL.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert keepalive_once(b, lid) == 2
        time.sleep(0.5)
    assert leased(a, "p/")[1] == {"p/a": lid}

    cluster.cut_off(a)
    put(b, "p/b", "2", lid)  # attached on the far side, unseen by the owner
    wait_for(lambda: leased(c, "p/")[1] == {"p/a": lid, "p/b": lid}, CONVERGE_TIMEOUT)
    wait_for(lambda: leased(a, "p/")[1] == {}, CONVERGE_TIMEOUT)  # a expired it: no renewal reached it
    for m in (b, c):
        assert leased(m, "p/")[1] == {"p/a": lid, "p/b": lid}, "the far side keeps them until the owner's event"
    with pytest.raises(grpc.RpcError) as e:
        keepalive_once(b, lid)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "owner is unreachable" in e.value.details()

    # The expiry is one event: on b it deletes both keys, the one put there too, at one revision.
    before = leased(b, "p/")[0]
    cluster.heal(a)
    wait_for(lambda: all(leased(m, "p/")[1] == {} for m in (b, c)), CONVERGE_TIMEOUT)
    assert leased(b, "p/")[0] == before + 1
    assert lid not in [s.ID for s in lease(b).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=5).leases]
