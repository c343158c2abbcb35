"""`ledgerkv snapshot restore` of compacted snapshots (issue 14 item 2, issue 12's "restore from a compacted
snapshot") and etcd 3.6's --bump-revision / --mark-compacted: the ledger starts with a STATE record of the
keys live at the compact revision, checked by `ledgerkv audit` and by ledger_verify.py (written from
docs/ledger.md alone), then the history above it; reads below the compact revision are refused as etcd
refuses them, reads above answer as the source does."""
import os
import subprocess

import grpc
import pytest

import ledger_verify as lv
import lkvtest
import test_ledger as tl
import test_snapshot_restore as sr
from etcd3 import etcdrpc

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")

COMPACTED = "etcdserver: mvcc: required revision has been compacted"


def compacted_workload(srv, physical):
    """sr.workload's history, a compaction in its middle, then more writes above it (overwrites of keys
    live at the compact revision, a delete of one, a new key on the kept lease). Returns (compact, last)."""
    kv = srv.kv()
    sr.workload(srv)
    compact = kv.Put(etcdrpc.PutRequest(key=b"/r/k01", value=b"at-compact"), timeout=10).header.revision
    kv.Put(etcdrpc.PutRequest(key=b"/r/k02", value=b"above"), timeout=10)
    lkvtest.etcdctl(srv, "compaction", compact, *(["--physical"] if physical else []))
    kv.Put(etcdrpc.PutRequest(key=b"/r/k03", value=b"above2"), timeout=10)
    kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"/r/k04"), timeout=10)
    kv.Put(etcdrpc.PutRequest(key=b"/r/leased2", value=b"l2", lease=sr.LEASE_ID), timeout=10)
    last = kv.Put(etcdrpc.PutRequest(key=b"/r/k01", value=b"last"), timeout=10).header.revision
    return compact, last


def range_error(srv, rev):
    with pytest.raises(grpc.RpcError) as e:
        sr.everything(srv, rev)
    return e.value.code(), e.value.details()


def watch_compacted_at(srv, start):
    """What a watch from `start` is told: the compact revision when it is canceled for it, else -1."""
    req = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"\0", range_end=b"\0",
                                                                         start_revision=start))
    call = etcdrpc.WatchStub(srv.channel()).Watch(iter([req]), timeout=5)
    try:
        for resp in call:
            if resp.canceled:
                return resp.compact_revision
            if resp.events:
                return -1
    finally:
        call.cancel()
    return -1


def audit(data_dir):
    res = subprocess.run([lkvtest.ledgerkv_bin(), "audit", "--data-dir", data_dir], capture_output=True,
                         text=True, timeout=60, env=lkvtest.child_env())
    assert res.returncode == 0, res.stderr + res.stdout
    return res.stdout


def ledger_state(data_dir):
    """The ledger's records as ledger_verify.py reads them, its latest head checked against their root."""
    led = os.path.join(data_dir, "ledger")
    entries = lv.read_log(os.path.join(led, "ledger.log"), want_version=2)
    head = lv.read_heads(os.path.join(led, "ledger.heads"))[-1]
    assert lv.verify_sth(head, head["public_key"])
    assert lv.mth([e["leaf"] for e in entries[:head["tree_size"]]]) == head["root"]
    return entries


def as_range(keys):
    return sorted((k, v, create, mod, version, lease) for (k, v, create, mod, _, version, lease) in keys)


def check_compacted(fac, source, tmp_path, physical):
    compact, last = compacted_workload(source, physical)
    want = {rev: sr.everything(source, rev) for rev in (compact, compact + 2, 0)}
    path = str(tmp_path / ("%s.db" % source.kind))
    lkvtest.etcdctl(source, "snapshot", "save", path, timeout=60)
    srv = sr.restored_server(fac, path)
    for rev, kvs in want.items():
        assert sr.everything(srv, rev) == kvs, rev
    assert range_error(srv, compact - 1) == range_error(source, compact - 1)
    assert range_error(srv, compact - 1) == (grpc.StatusCode.OUT_OF_RANGE, COMPACTED)
    assert watch_compacted_at(srv, compact - 5) == compact == watch_compacted_at(source, compact - 5)
    ttl = etcdrpc.LeaseStub(srv.channel()).LeaseTimeToLive(
        etcdrpc.LeaseTimeToLiveRequest(ID=sr.LEASE_ID, keys=True), timeout=10)
    assert (ttl.grantedTTL, sorted(ttl.keys)) == (300, [b"/r/leased", b"/r/leased2"])
    assert srv.kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10).header.revision == last + 1
    # The STATE record has a receipt like any other (the claims of no request), verified by both verifiers.
    tl.cli("receipt", "--endpoints", srv.endpoint, "--head")
    receipt = tl.fetch(srv, compact, claims=lv.claims_digest(b"", b""))
    assert (receipt["kind"], receipt["revision"], receipt["leaf_index"]) == (lv.STATE, compact, 0)
    assert tl.both_verify(str(tmp_path), receipt, tl.node_key(srv))
    srv.stop()
    out = audit(srv.data_dir)
    entries = ledger_state(srv.data_dir)
    first = entries[0]
    assert (first["kind"], first["revision"]) == (lv.STATE, compact)
    assert as_range(first["keys"]) == want[compact]  # the state at the compact revision, record for record
    assert [e["revision"] for e in entries[1:]] == list(range(compact + 1, last + 2))
    assert "tree size %d root" % len(entries) in out


def test_restore_compacted_etcd(server_factory, tmp_path):
    check_compacted(server_factory, server_factory.start("etcd"), tmp_path, physical=False)


def test_restore_compacted_etcd_physical(server_factory, tmp_path):
    check_compacted(server_factory, server_factory.start("etcd"), tmp_path, physical=True)


def test_restore_compacted_ledgerkv(server_factory, tmp_path):
    check_compacted(server_factory, server_factory.start("ledgerkv"), tmp_path, physical=True)


def test_bump_revision_mark_compacted(server_factory, tmp_path):
    """etcd 3.6's flags: the revision jumps by N and is compacted there, so watches from any revision a
    client saw are told "compacted" (informers relist) and the next write is above all of them."""
    etcd = server_factory.start("etcd")
    last = sr.workload(etcd)
    want = sr.everything(etcd)
    path = str(tmp_path / "bump.db")
    lkvtest.etcdctl(etcd, "snapshot", "save", path, timeout=60)
    res = sr.restore(path, "--data-dir", str(tmp_path / "x"), "--bump-revision", "1000")
    assert res.returncode != 0 and "--mark-compacted required if --bump-revision > 0" in res.stderr
    assert not os.path.exists(str(tmp_path / "x"))
    srv = sr.restored_server(server_factory, path, "--bump-revision", "1000", "--mark-compacted")
    assert sr.everything(srv) == want  # keys keep their own revisions
    assert sr.everything(srv, last + 1000) == want
    assert range_error(srv, last) == (grpc.StatusCode.OUT_OF_RANGE, COMPACTED)
    assert watch_compacted_at(srv, last) == last + 1000
    put = srv.kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10)
    assert put.header.revision == last + 1001
    srv.stop()
    audit(srv.data_dir)
    entries = ledger_state(srv.data_dir)
    assert (entries[0]["kind"], entries[0]["revision"]) == (lv.STATE, last + 1000)
    assert as_range(entries[0]["keys"]) == want
    assert [e["revision"] for e in entries[1:]] == [last + 1001]
