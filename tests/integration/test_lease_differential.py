"""Differential test of the Lease API: the same sequence of grants (client-chosen ids, the minimum TTL, too
large TTLs, duplicates), puts attaching/moving/keeping leases (top level and in txns), TimeToLive with keys,
KeepAlive streams, Leases, revokes and an expiry is sent to a fresh etcd and a fresh server under test
through raw gRPC stubs. Responses are compared field by field (header cluster_id/member_id/raft_term
cleared), errors by (gRPC code, details). Server-chosen ids are compared by shape only, and remaining TTLs
loosely (within 2 s of the granted TTL), since they depend on time.
"""
import time

import grpc
import pytest
from google.protobuf import text_format

from etcd3 import etcdrpc

RPC_TIMEOUT = 10


class Side:
    def __init__(self, srv):
        self.srv = srv
        self.kv = etcdrpc.KVStub(srv.channel())
        self.lease = etcdrpc.LeaseStub(srv.channel())
        self.auto_id = None  # the id this server chose for a grant with ID 0


def clear_header(resp):
    if resp.HasField("header"):
        resp.header.cluster_id = 0
        resp.header.member_id = 0
        resp.header.raft_term = 0
    return resp


def call(fn, req):
    """Normalised outcome of one unary call: the response as text, or the error."""
    try:
        return text_format.MessageToString(clear_header(fn(req, timeout=RPC_TIMEOUT)), as_one_line=True)
    except grpc.RpcError as e:
        return "error %s %r" % (e.code(), e.details())


def ttl_view(side, resp):
    """A TimeToLive response with its time-dependent remaining TTL reduced to 'within 2 s of granted'."""
    keys = sorted(resp.keys)
    ok = resp.grantedTTL - 2 <= resp.TTL <= resp.grantedTTL if resp.TTL >= 0 else resp.TTL
    rid = "auto" if resp.ID == side.auto_id else resp.ID
    return (resp.header.revision, rid, resp.grantedTTL, ok, keys)


@pytest.fixture(scope="module")
def sides(etcd, ledgerkv):
    return [Side(etcd), Side(ledgerkv)]


def same(sides, fn):
    """Runs fn on both sides and asserts equal results; returns the result."""
    got = [fn(s) for s in sides]
    assert got[0] == got[1], "etcd: %r\nledgerkv: %r" % (got[0], got[1])
    return got[0]


def put(key, value=b"v", **kw):
    return lambda s: call(s.kv.Put, etcdrpc.PutRequest(key=key, value=value, **kw))


def grant(lease_id, ttl):
    return lambda s: call(s.lease.LeaseGrant, etcdrpc.LeaseGrantRequest(ID=lease_id, TTL=ttl))


def revoke(lease_id):
    return lambda s: call(s.lease.LeaseRevoke, etcdrpc.LeaseRevokeRequest(ID=lease_id))


def time_to_live(lease_id, keys=True):
    def fn(s):
        lid = s.auto_id if lease_id == "auto" else lease_id
        resp = s.lease.LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=lid, keys=keys), timeout=RPC_TIMEOUT)
        return ttl_view(s, resp)
    return fn


def keyspace(s):
    out = call(s.kv.Range, etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"))
    return out.replace("lease: %d " % s.auto_id, "lease: auto ") if s.auto_id else out


def test_lease_differential(sides):
    # grants: the minimum TTL, duplicates, too large, server-chosen ids
    same(sides, grant(100, 1))
    same(sides, grant(100, 5))
    same(sides, grant(101, 9000000001))
    same(sides, grant(101, 60))
    same(sides, grant(-7, 0))
    same(sides, revoke(-7))

    def auto(s):
        resp = s.lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=30), timeout=RPC_TIMEOUT)
        s.auto_id = resp.ID
        return (resp.ID > 0, resp.TTL, resp.header.revision)
    assert same(sides, auto)[0]

    # puts attach, move and keep leases
    same(sides, put(b"k1", lease=100))
    same(sides, put(b"k2", lease=100, prev_kv=True))
    same(sides, put(b"k3", lease=999))
    same(sides, put(b"k1", b"v2", ignore_lease=True, prev_kv=True))
    same(sides, lambda s: call(s.kv.Range, etcdrpc.RangeRequest(key=b"k1")))
    same(sides, lambda s: call(s.kv.Put, etcdrpc.PutRequest(key=b"k9", value=b"a", lease=s.auto_id)))

    # txns: the chosen path's leases are checked, the other path's are not
    def txn(success_lease, failure_lease, ok=True):
        cmp = etcdrpc.Compare(key=b"k1", result=etcdrpc.Compare.EQUAL if ok else etcdrpc.Compare.NOT_EQUAL,
                              target=etcdrpc.Compare.VERSION, version=2)
        succ = etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"k4", value=b"t", lease=success_lease))
        fail = etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"k5", value=b"t", lease=failure_lease))
        return lambda s: call(s.kv.Txn, etcdrpc.TxnRequest(compare=[cmp], success=[succ], failure=[fail]))
    same(sides, txn(101, 999))
    same(sides, txn(999, 101))
    same(sides, txn(101, 999, ok=False))
    same(sides, put(b"k2", lease=101))

    same(sides, time_to_live(100))
    same(sides, time_to_live(101))
    same(sides, time_to_live(101, keys=False))
    same(sides, time_to_live(999))
    same(sides, time_to_live("auto"))

    def keepalive(s):
        reqs = [etcdrpc.LeaseKeepAliveRequest(ID=i) for i in (100, 999, 101, 100)]
        return [text_format.MessageToString(clear_header(r), as_one_line=True)
                for r in s.lease.LeaseKeepAlive(iter(reqs), timeout=RPC_TIMEOUT)]
    same(sides, keepalive)

    def leases(s):
        resp = s.lease.LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=RPC_TIMEOUT)
        ids = sorted("auto" if l.ID == s.auto_id else str(l.ID) for l in resp.leases)
        return (resp.header.revision, ids)
    same(sides, leases)

    # deletes detach; revoke deletes what is left in one revision
    same(sides, lambda s: call(s.kv.DeleteRange, etcdrpc.DeleteRangeRequest(key=b"k1")))
    same(sides, time_to_live(100))
    same(sides, revoke(101))
    same(sides, revoke(101))
    same(sides, keyspace)
    same(sides, time_to_live(101))
    same(sides, lambda s: call(s.lease.LeaseRevoke, etcdrpc.LeaseRevokeRequest(ID=s.auto_id)))

    # expiry: the keys go in one revision, with the same history on both
    same(sides, grant(200, 2))
    same(sides, put(b"e1", lease=200))
    same(sides, put(b"e2", lease=200))
    rev = same(sides, lambda s: s.kv.Range(etcdrpc.RangeRequest(key=b"e1"), timeout=RPC_TIMEOUT).header.revision)
    for s in sides:
        deadline = time.monotonic() + 10
        while s.kv.Range(etcdrpc.RangeRequest(key=b"e", range_end=b"f"), timeout=RPC_TIMEOUT).count:
            assert time.monotonic() < deadline, "%s did not expire lease 200" % s.srv.kind
            time.sleep(0.1)
    same(sides, keyspace)
    same(sides, lambda s: call(s.kv.Range, etcdrpc.RangeRequest(key=b"e", range_end=b"f", revision=rev)))
    assert same(sides, lambda s: s.kv.Range(etcdrpc.RangeRequest(key=b"e1"), timeout=RPC_TIMEOUT)
                .header.revision) == rev + 1
    same(sides, time_to_live(200))
    same(sides, revoke(100))
    same(sides, leases)
