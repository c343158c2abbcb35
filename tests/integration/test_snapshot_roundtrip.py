"""The way in and the way out at scale (issue 14 item 5): a few thousand keys with history, a compaction,
leases and users, from a real etcd 3.4 into ledgerkv (`etcdctl snapshot save`, `ledgerkv snapshot
restore`) and back from that ledgerkv into a new etcd (`etcdctl snapshot save`, `etcdctl snapshot
restore`): every step serves the same keys, values, create and mod revisions, versions and leases, at the
current revision and at an older one above the compaction, the same leases with their keys, and the same
users and roles."""
import tempfile

import pytest

import lkvtest
from etcd3 import etcdrpc
from test_snapshot import everything, restore_and_start
from test_snapshot_restore import restored_server

KEYS = 3000
LEASES = {0x5001: 120, 0x5002: 600, 0x5003: 3600}  # id: granted TTL
TXN_OPS = 100  # below --max-txn-ops (128)


def txn_puts(kv, items, lease=0):
    for i in range(0, len(items), TXN_OPS):
        ops = [etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=k, value=v, lease=lease))
               for k, v in items[i:i + TXN_OPS]]
        kv.Txn(etcdrpc.TxnRequest(success=ops), timeout=30)


def load(srv):
    """KEYS keys, a third of them overwritten twice, a range deleted, a compaction in the middle, keys on
    each lease, users and roles. Returns (revision after the compaction's writes, revision at the end)."""
    kv = srv.kv()
    keys = [b"/rt/%05d" % i for i in range(KEYS)]
    txn_puts(kv, [(k, b"v0-" + k) for k in keys])
    txn_puts(kv, [(k, b"v1-" + k) for k in keys[::3]])
    compact = kv.Range(etcdrpc.RangeRequest(key=b"/rt/"), timeout=10).header.revision
    kv.Compact(etcdrpc.CompactionRequest(revision=compact), timeout=30)
    txn_puts(kv, [(k, b"v2-" + k) for k in keys[1::3]])
    kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"/rt/01000", range_end=b"/rt/01100"), timeout=10)
    middle = kv.Range(etcdrpc.RangeRequest(key=b"/rt/"), timeout=10).header.revision
    lease = etcdrpc.LeaseStub(srv.channel())
    for lid, ttl in LEASES.items():
        lease.LeaseGrant(etcdrpc.LeaseGrantRequest(ID=lid, TTL=ttl), timeout=10)
        txn_puts(kv, [(b"/lease/%x/%02d" % (lid, i), b"l") for i in range(20)], lease=lid)
    for step in (["role", "add", "reader"], ["role", "grant-permission", "reader", "read", "/rt/", "--prefix"],
                 ["user", "add", "alice", "--new-user-password", "apw"], ["user", "grant-role", "alice", "reader"],
                 ["user", "add", "svc", "--no-password"]):
        lkvtest.etcdctl(srv, *step)
    return middle, kv.Range(etcdrpc.RangeRequest(key=b"/rt/"), timeout=10).header.revision


def leases(srv):
    stub = etcdrpc.LeaseStub(srv.channel())
    out = {}
    for lid in LEASES:
        r = stub.LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=lid, keys=True), timeout=10)
        assert 0 < r.TTL <= r.grantedTTL
        out[lid] = (r.grantedTTL, sorted(r.keys))
    return out


def users(srv):
    return [lkvtest.etcdctl(srv, *step).stdout for step in (["user", "list"], ["role", "list"],
                                                            ["user", "get", "alice"], ["role", "get", "reader"])]


def served(srv, middle):
    return everything(srv), everything(srv, middle), leases(srv), users(srv)


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="moves data between etcd and ledgerkv")
def test_etcd_to_ledgerkv_and_back(server_factory):
    etcd = server_factory.start("etcd")
    middle, last = load(etcd)
    want = served(etcd, middle)
    assert len(want[0]) == KEYS - 100 + 20 * len(LEASES)
    with tempfile.TemporaryDirectory() as tmp:
        lkvtest.etcdctl(etcd, "snapshot", "save", tmp + "/etcd.db", timeout=60)
        lkv = restored_server(server_factory, tmp + "/etcd.db")
        assert served(lkv, middle) == want
        lkvtest.etcdctl(lkv, "snapshot", "save", tmp + "/ledgerkv.db", timeout=60)
        back = restore_and_start(server_factory, tmp + "/ledgerkv.db")
        assert served(back, middle) == want
        # both go on from the same revision
        for srv in (lkv, back):
            assert srv.kv().Put(etcdrpc.PutRequest(key=b"/rt/next", value=b"n"), timeout=10).header.revision == last + 1
