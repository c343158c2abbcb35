"""Maintenance: HashKV compared with a real etcd 3.4 given the same requests (hash and compact revision at
several revisions, before and after a compaction, errors for compacted and future revisions), `etcdctl
endpoint hashkv`, and Hash.
"""
import json
import re
import threading
import time

import grpc
import pytest

from etcd3 import etcdrpc

import cluster as clusters
from lkvtest import etcdctl
from test_metrics import scrape

RPC_TIMEOUT = 10
LEASE_ID = 0x4C4B56  # chosen by the client, so that both servers store the same lease id in the keys


def put(k, v, lease=0):
    return etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=k, value=v, lease=lease))


def delete(k, end=b""):
    return etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=k, range_end=end))


def workload_before_compaction():
    """Requests (stub name, request) that build history: puts, overwrites, deletes, txns, a lease."""
    ops = [("LeaseGrant", etcdrpc.LeaseGrantRequest(ID=LEASE_ID, TTL=600))]
    for i in range(12):
        ops.append(("Put", etcdrpc.PutRequest(key=b"k/%02d" % i, value=b"v%d" % i)))
    ops.append(("Put", etcdrpc.PutRequest(key=b"k/03", value=b"again", lease=LEASE_ID)))
    ops.append(("DeleteRange", etcdrpc.DeleteRangeRequest(key=b"k/05")))
    ops.append(("Txn", etcdrpc.TxnRequest(success=[put(b"t/a", b"1"), put(b"t/b", b"2"), delete(b"k/06")])))
    ops.append(("Put", etcdrpc.PutRequest(key=b"k/05", value=b"reborn")))
    ops.append(("DeleteRange", etcdrpc.DeleteRangeRequest(key=b"k/08", range_end=b"k/10")))
    ops.append(("Put", etcdrpc.PutRequest(key=b"k/00", value=b"", prev_kv=True)))
    return ops


def workload_after_compaction():
    return [
        ("Put", etcdrpc.PutRequest(key=b"k/01", value=b"after")),
        ("Txn", etcdrpc.TxnRequest(success=[delete(b"t/", b"t0"), put(b"u", b"x")])),
        ("Put", etcdrpc.PutRequest(key=b"k/11", value=b"x" * 300)),
    ]


class Node:
    def __init__(self, srv):
        self.srv = srv
        ch = srv.channel()
        self.kv = etcdrpc.KVStub(ch)
        self.lease = etcdrpc.LeaseStub(ch)
        self.maint = etcdrpc.MaintenanceStub(ch)

    def apply(self, name, req):
        stub = self.lease if name.startswith("Lease") else self.kv
        return getattr(stub, name)(req, timeout=RPC_TIMEOUT).header.revision

    def hashkv(self, rev):
        try:
            r = self.maint.HashKV(etcdrpc.HashKVRequest(revision=rev), timeout=RPC_TIMEOUT)
            return ("ok", r.hash, r.compact_revision, r.header.revision)
        except grpc.RpcError as e:
            return ("error", e.code(), e.details())


def both(nodes, name, req):
    revs = [n.apply(name, req) for n in nodes]
    assert revs[0] == revs[1], (name, revs)
    return revs[0]


def compare_hashes(nodes, revs):
    """Asks both at each revision; returns the distinct hashes answered (so that a caller sees they vary)."""
    hashes = set()
    for rev in revs:
        got = [n.hashkv(rev) for n in nodes]
        assert got[0] == got[1], "HashKV at %d: etcd %r, ledgerkv %r" % (rev, got[0], got[1])
        if got[0][0] == "ok":
            hashes.add(got[0][1])
    return hashes


def test_hashkv_matches_etcd(server_factory):
    etcd = Node(server_factory.start("etcd"))
    lkv = Node(server_factory.start("ledgerkv"))
    nodes = [etcd, lkv]
    first = etcd.hashkv(0)
    assert first[0] == "ok" and first[2] == -1  # never compacted
    compare_hashes(nodes, [0, 1, -1])
    revs = [both(nodes, name, req) for name, req in workload_before_compaction()]
    assert len(compare_hashes(nodes, [0, 1, 2, revs[3], revs[-3], revs[-1], revs[-1] + 1, revs[-1] + 100])) == 5

    compact = revs[len(revs) // 2]
    both(nodes, "Compact", etcdrpc.CompactionRequest(revision=compact, physical=True))
    after = [both(nodes, name, req) for name, req in workload_after_compaction()]
    points = [0, compact - 1, compact, compact + 1, revs[-1], after[0], after[-1], after[-1] + 1]
    assert len(compare_hashes(nodes, points)) == 4
    ok = lkv.hashkv(compact + 1)
    assert ok[0] == "ok" and ok[2] == compact
    assert lkv.hashkv(compact)[1] == grpc.StatusCode.OUT_OF_RANGE
    assert lkv.hashkv(after[-1] + 1)[1] == grpc.StatusCode.OUT_OF_RANGE

    # No key live at the revision: etcd then keeps every record the compaction left in the hash.
    end = both(nodes, "DeleteRange", etcdrpc.DeleteRangeRequest(key=b"\0", range_end=b"\0"))
    compare_hashes(nodes, [0, end, after[-1]])
    # Compacted at the current revision: only HashKV(0) is still answered.
    both(nodes, "Compact", etcdrpc.CompactionRequest(revision=end, physical=True))
    compare_hashes(nodes, [0, end, end + 1])

    # etcdctl prints the same line for both (the endpoint aside).
    outs = [etcdctl(n.srv, "endpoint", "hashkv", "-w", "table").stdout for n in nodes]
    rows = [o.replace(n.srv.endpoint, "EP") for o, n in zip(outs, nodes)]
    assert rows[0] == rows[1] and "%d" % lkv.hashkv(0)[1] in rows[1], outs


def test_hash_follows_state_not_history_layout(server_factory):
    """Hash covers the key and lease buckets: it changes with every write and lease, not with reads."""
    lkv = Node(server_factory.start("ledgerkv"))
    hash_now = lambda: lkv.maint.Hash(etcdrpc.HashRequest(), timeout=RPC_TIMEOUT)
    h0 = hash_now()
    assert h0.header.revision == 1
    lkv.apply("Put", etcdrpc.PutRequest(key=b"a", value=b"1"))
    h1 = hash_now()
    assert h1.hash != h0.hash and h1.header.revision == 2
    lkv.kv.Range(etcdrpc.RangeRequest(key=b"a"), timeout=RPC_TIMEOUT)
    assert hash_now().hash == h1.hash
    lkv.apply("LeaseGrant", etcdrpc.LeaseGrantRequest(ID=LEASE_ID, TTL=600))
    h2 = hash_now()
    assert h2.hash != h1.hash and h2.header.revision == 2  # a lease is no revision, but it is state
    out = etcdctl(lkv.srv, "endpoint", "hashkv").stdout
    assert "%d" % lkv.hashkv(0)[1] in out


@pytest.fixture
def three():
    yield from clusters.started(size=3)


def test_hashkv_agrees_across_cluster_members(three):
    """Members that applied the same log answer the same HashKV, whatever each one's removal of compacted
    history has reached; `etcdctl endpoint hashkv --cluster` lists every member with that hash."""
    leader = Node(three.leader())
    for name, req in workload_before_compaction():
        leader.apply(name, req)
    mid = leader.apply("Put", etcdrpc.PutRequest(key=b"mid", value=b"m"))
    leader.apply("Compact", etcdrpc.CompactionRequest(revision=mid - 3))
    for name, req in workload_after_compaction():
        last = leader.apply(name, req)
    members = [Node(m) for m in three.members]
    for rev in (0, mid, last):
        clusters.wait_for(lambda: len({n.hashkv(rev) for n in members}) == 1)
    assert leader.hashkv(0)[0] == "ok" and leader.hashkv(0)[2] == mid - 3
    out = etcdctl(three.leader(), "endpoint", "hashkv", "--cluster", "-w", "json").stdout
    got = json.loads(out)
    assert len(got) == 3 and {e["HashKV"]["hash"] for e in got} == {leader.hashkv(0)[1]}, out
    out = etcdctl(three.leader(), "defrag", "--cluster").stdout
    assert sorted(out.splitlines()) == sorted("Finished defragmenting etcd member[%s]" % m.url
                                              for m in three.members), out
    for rev in (0, mid, last):  # the same state after it, on every member
        clusters.wait_for(lambda: len({n.hashkv(rev) for n in members}) == 1)


NOSPACE = "etcdserver: mvcc: database space exceeded"


def status(srv):
    """etcdctl endpoint status's JSON Status (errors, dbSizeInUse: fields python-etcd3's protos lack)."""
    return json.loads(etcdctl(srv, "endpoint", "status", "-w", "json").stdout)[0]["Status"]


def test_nospace_alarm_list_disarm_and_recovery(server_factory):
    """A small quota trips NOSPACE: puts refused, the alarm listed (etcdctl alarm list, Status errors) and
    kept across a restart; reads and deletes still served; compaction, defragment (the file shrinks), disarm,
    and writes go through again."""
    srv = server_factory.start(args=["--quota-backend-bytes", str(4 * 1024 * 1024)])
    node = Node(srv)
    for n in range(400):
        try:
            node.apply("Put", etcdrpc.PutRequest(key=b"k%d" % (n % 5), value=b"x" * 100000))
        except grpc.RpcError as e:
            assert (e.code(), e.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, NOSPACE)
            break
    else:
        pytest.fail("the quota never tripped")
    member = node.maint.Status(etcdrpc.StatusRequest(), timeout=RPC_TIMEOUT).header.member_id
    line = "memberID:%d alarm:NOSPACE \n" % member
    assert etcdctl(srv, "alarm", "list").stdout == line
    res = etcdctl(srv, "put", "a", "b", check=False)
    assert res.returncode != 0 and "Error: " + NOSPACE in res.stderr

    srv.kill()  # the alarm is state: it survives a crash
    srv.start()
    node = Node(srv)
    assert status(srv).get("errors") == [line.rstrip("\n")]
    assert etcdctl(srv, "alarm", "list").stdout == line
    with pytest.raises(grpc.RpcError) as e:
        node.apply("Put", etcdrpc.PutRequest(key=b"a", value=b"b"))
    assert e.value.details() == NOSPACE
    assert node.kv.Range(etcdrpc.RangeRequest(key=b"k0"), timeout=RPC_TIMEOUT).count == 1
    rev = node.apply("DeleteRange", etcdrpc.DeleteRangeRequest(key=b"k4"))  # capped: deletes still go

    etcdctl(srv, "compact", str(rev), "--physical")
    full = status(srv)["dbSize"]
    etcdctl(srv, "defrag")  # etcd's quota counts the file's size, which only a defragment shrinks
    assert status(srv)["dbSize"] < full // 2
    assert etcdctl(srv, "alarm", "disarm").stdout == line
    assert etcdctl(srv, "alarm", "list").stdout == ""
    assert etcdctl(srv, "alarm", "disarm").stdout == ""  # nothing left to disarm
    assert etcdctl(srv, "put", "a", "b").stdout == "OK\n"
    after = status(srv)
    assert "errors" not in after and after["dbSizeInUse"] < 2 * 1024 * 1024, after


def fill(node, prefix, n, size):
    """n puts of size bytes under prefix, in txns of 10 (fewer round trips)."""
    for i in range(0, n, 10):
        ops = [put(b"%s%05d" % (prefix, j), b"%d" % j * (size // 6)) for j in range(i, min(n, i + 10))]
        node.apply("Txn", etcdrpc.TxnRequest(success=ops))


DEFRAG_COUNT = "etcd_disk_backend_defrag_duration_seconds_count"
RECLAIMED = "ledgerkv_defrag_reclaimed_bytes_total"


def test_defrag_shrinks_and_keeps_the_data(server_factory):
    """Deleting and compacting frees pages; etcdctl defrag gives them back: dbSize drops to about dbSizeInUse,
    the keys, HashKV and Hash are what they were, and writes go on after it. etcd's client gets an empty
    answer: the operator sees the space reclaimed in the log line and the metrics (etcd's defragment
    duration and in-flight gauge, ledgerkv's bytes reclaimed)."""
    srv = server_factory.start()
    node = Node(srv)
    fill(node, b"big/", 400, 20000)
    fill(node, b"keep/", 20, 100)
    rev = node.apply("DeleteRange", etcdrpc.DeleteRangeRequest(key=b"big/", range_end=b"big0"))
    node.apply("Compact", etcdrpc.CompactionRequest(revision=rev, physical=True))
    before = status(srv)
    hashes = (node.hashkv(0), node.maint.Hash(etcdrpc.HashRequest(), timeout=RPC_TIMEOUT).hash)
    assert before["dbSize"] > 3 * 1024 * 1024, before
    metrics_before = scrape(srv.port)

    out = etcdctl(srv, "defrag").stdout
    assert out == "Finished defragmenting etcd member[%s]\n" % srv.endpoint
    after = status(srv)
    assert after["dbSize"] < 512 * 1024 and after["dbSize"] < before["dbSize"] // 8, after
    assert after["dbSize"] - after["dbSizeInUse"] < 256 * 1024, after  # little left free in the file
    assert (node.hashkv(0), node.maint.Hash(etcdrpc.HashRequest(), timeout=RPC_TIMEOUT).hash) == hashes
    got = node.kv.Range(etcdrpc.RangeRequest(key=b"keep/", range_end=b"keep0"), timeout=RPC_TIMEOUT)
    assert [kv.key for kv in got.kvs] == [b"keep/%05d" % i for i in range(20)]
    assert node.apply("Put", etcdrpc.PutRequest(key=b"after", value=b"1")) == rev + 1
    metrics = scrape(srv.port)
    assert metrics[DEFRAG_COUNT] == metrics_before[DEFRAG_COUNT] + 1
    assert metrics["etcd_disk_defrag_inflight"] == 0
    if srv.kind == "ledgerkv":
        m = re.search(r"defragment finished: db size (\d+) -> (\d+) bytes \((\d+) reclaimed\)", srv.log_text())
        assert m, srv.log_tail()
        sizes = [int(x) for x in m.groups()]
        assert sizes == [before["dbSize"], after["dbSize"], before["dbSize"] - after["dbSize"]], (sizes, after)
        assert metrics[RECLAIMED] - metrics_before[RECLAIMED] == sizes[2]


def test_defrag_under_concurrent_writes(server_factory):
    """Writers put, overwrite and delete keys of their own while a defragment copies and swaps the store:
    it finishes, writes were acknowledged while it ran, and every acknowledged one is there afterwards:
    each key's last value, revision and version (or its absence after a delete), and each put's value at
    its own revision."""
    srv = server_factory.start()
    node = Node(srv)
    fill(node, b"big/", 400, 20000)  # ~8 MB to copy: the writes land inside the defragment
    stop = threading.Event()
    acked = [[] for _ in range(3)]  # per writer: (key, value or None for a delete, revision)

    def writer(t):
        kv = etcdrpc.KVStub(srv.channel())
        i = 0
        while not stop.is_set():
            key = b"cw/%d/%02d" % (t, i % 40)
            if i % 7 == 6:
                rev = kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=key), timeout=RPC_TIMEOUT).header.revision
                acked[t].append((key, None, rev))
            else:
                value = b"%d-%d" % (t, i) * 50
                rev = kv.Put(etcdrpc.PutRequest(key=key, value=value), timeout=RPC_TIMEOUT).header.revision
                acked[t].append((key, value, rev))
            i += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    time.sleep(0.2)
    during = sum(len(a) for a in acked)
    node.maint.Defragment(etcdrpc.DefragmentRequest(), timeout=60)
    during = sum(len(a) for a in acked) - during
    stop.set()
    for th in threads:
        th.join()
    assert during > 0

    expected = {}
    for ops in acked:
        for key, value, rev in ops:  # each writer's keys are its own, its ops in order
            if value is None:
                expected.pop(key, None)
            else:
                version = expected[key][2] + 1 if key in expected else 1
                expected[key] = (value, rev, version)
    got = node.kv.Range(etcdrpc.RangeRequest(key=b"cw/", range_end=b"cw0"), timeout=RPC_TIMEOUT)
    assert {kv.key: (kv.value, kv.mod_revision, kv.version) for kv in got.kvs} == expected
    for ops in acked:
        for key, value, rev in ops[::3]:
            at = node.kv.Range(etcdrpc.RangeRequest(key=key, revision=rev), timeout=RPC_TIMEOUT)
            assert [(kv.value, kv.mod_revision) for kv in at.kvs] == ([] if value is None else [(value, rev)])
    assert node.kv.Range(etcdrpc.RangeRequest(key=b"big/", range_end=b"big0", count_only=True),
                         timeout=RPC_TIMEOUT).count == 400


def test_kill_during_defrag_loses_nothing(server_factory):
    """kill -9 at several points of a defragment that runs under concurrent writes: every acknowledged
    write is there after the restart, and the store defragments fine afterwards."""
    srv = server_factory.start()
    node = Node(srv)
    fill(node, b"big/", 1000, 30000)  # ~20 MB to copy: the kills land inside the defragment
    # Kills spread over a defragment as long as one takes on this machine and build (ASan is slower)
    start = time.monotonic()
    node.maint.Defragment(etcdrpc.DefragmentRequest(), timeout=30)
    took = time.monotonic() - start
    acked = []
    for delay in (0.0, 0.25 * took, 0.5 * took, 0.75 * took):
        stop = threading.Event()

        def writer():
            kv = etcdrpc.KVStub(srv.channel())
            while not stop.is_set():
                key = b"w/%06d" % len(acked)
                try:
                    kv.Put(etcdrpc.PutRequest(key=key, value=b"x" * 5000), timeout=RPC_TIMEOUT)
                except grpc.RpcError:
                    return
                acked.append(key)

        w = threading.Thread(target=writer)
        w.start()
        fut = node.maint.Defragment.future(etcdrpc.DefragmentRequest(), timeout=30)
        time.sleep(delay)
        srv.kill()
        stop.set()
        w.join()
        fut.cancel()
        srv.start()
        node = Node(srv)
        got = node.kv.Range(etcdrpc.RangeRequest(key=b"w/", range_end=b"w0", keys_only=True),
                            timeout=RPC_TIMEOUT)
        assert set(acked) <= {kv.key for kv in got.kvs}, delay
    if srv.kind == "ledgerkv":
        log = srv.log_text()
        assert log.count("defragment: starting") - log.count("defragment finished") >= 2, (took, log[-2000:])
    assert etcdctl(srv, "defrag").stdout.startswith("Finished defragmenting")
    got = node.kv.Range(etcdrpc.RangeRequest(key=b"w/", range_end=b"w0", count_only=True), timeout=RPC_TIMEOUT)
    assert got.count >= len(acked)
    assert node.kv.Range(etcdrpc.RangeRequest(key=b"big/", range_end=b"big0", count_only=True),
                         timeout=RPC_TIMEOUT).count == 1000
