"""Causal mode's snapshot catch-up (docs/causal.md §7a, §7b) with three real members, a small event log
(--experimental-causal-log-events 40) and silent members left behind by compaction after 2 s
(--experimental-causal-silent-after 2s).

- A member away (cut off, what was pushed to it lost, then stopped) while the two others write a few hundred
  changes (puts, overwrites, deletes, a lease granted with keys, a lease revoked with its keys, a conflict made
  on both, a user added) is left behind by their compaction; restarted, it gets a snapshot and installs it: the same keys and values (revisions
  aside), the same siblings of the conflicted key, the leases with their TTL, the user; the sender and the
  receiver log it; a watch opened on it from its old revision sees every change at one revision; a kill -9
  right after comes back with the same state, revisions included; writes then replicate both ways; every
  member's audit passes, leases included.
- A member cut off from the others takes its clients' writes while they compact past it; healed, its writes
  reach the others first, then it gets a snapshot, and all converge with its writes.
- A crash after the ledger recorded an install and before the store committed it: the start installs the
  kept snapshot again, the ledger's records compare equal, all converge.

ledgerkv only: etcd has no causal mode.
"""
import hashlib
import os
import queue
import re
import shutil
import threading
import time

import etcd3
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import PUT_TIMEOUT, CausalCluster, put
from test_causal_compaction import event_log
from test_causal_conflicts import siblings, view
from test_causal_lease import grant, lease
from test_causal_members import scrape
from test_causal_lease import put as put_leased
from test_ledger import audit

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

TIMEOUT = 30.0
SILENT_S = 2.0


class Snapshotting(CausalCluster):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra_flags += ["--experimental-causal-log-events", "40", "--experimental-causal-silent-after",
                             "%ds" % SILENT_S, "--ledger-checkpoint-interval", "1s"]


@pytest.fixture
def cluster():
    yield from started(cls=Snapshotting)


def delete(member, key):
    member.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=key.encode()), timeout=PUT_TIMEOUT)


def leases(member):
    return sorted(s.ID for s in lease(member).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=5).leases)


def users(member):
    return sorted(etcdrpc.AuthStub(member.channel()).UserList(etcdrpc.AuthUserListRequest(), timeout=5).users)


def state(member):
    """(revision, {key: (value, lease)}): what Range shows, revisions aside."""
    resp = member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=5)
    return resp.header.revision, {kv.key: (kv.value, kv.lease) for kv in resp.kvs}


def full(member):
    """(revision, {key: (value, lease, create, mod, version)})"""
    resp = member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=5)
    return resp.header.revision, {kv.key: (kv.value, kv.lease, kv.create_revision, kv.mod_revision, kv.version)
                                  for kv in resp.kvs}


def same(members):
    views = [state(m)[1] for m in members]
    return all(v == views[0] for v in views)


def compacted_past(members, rev):
    """every member's event log starts past core revision rev: its core compacted at least that far"""
    return all(event_log(m)[0] > rev for m in members)


def conflict(cluster, a, b, key):
    """Concurrent writes of key on a and b (a cut off meanwhile): two siblings."""
    cluster.cut_off(a)
    put(a, key, "from-a")
    put(b, key, "from-b")
    cluster.heal(a)
    wait_for(lambda: len(siblings(a, key).siblings) == 2 and len(siblings(b, key).siblings) == 2, TIMEOUT)


def test_stopped_member_installs_a_snapshot(cluster):
    a, b, c = cluster.members
    keep = grant(a, 300)  # lives on: its keys and TTL reach c by the snapshot
    gone = grant(a, 300)  # revoked while c is away: c's copy and its key go
    put_leased(a, "leased/keep", "k", keep)
    put_leased(a, "leased/gone", "g", gone)
    for i in range(20):
        put(cluster.members[i % 3], "k%03d" % i, "old%d" % i)
    wait_for(lambda: same(cluster.members) and len(state(c)[1]) == 22, TIMEOUT)
    old_rev, old_keys = state(c)
    old_keys = {k: v for k, v in old_keys.items() if k.startswith(b"k")}
    stop_rev = state(a)[0]
    # c cut off, then stopped once a and b compacted past it: what they push to it meanwhile goes into
    # connections the proxy holds and then drops (a lossy link). Stopped at once, c would make their
    # transports queue those pushes for when it is back, and it would catch up by events.
    cluster.cut_off(c)
    time.sleep(SILENT_S + 0.5)  # c is silent: a and b compact without it

    late = grant(b, 120)
    put_leased(b, "leased/late", "l", late)
    lease(a).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=gone), timeout=PUT_TIMEOUT)
    etcdrpc.AuthStub(a.channel()).UserAdd(etcdrpc.AuthUserAddRequest(name="alice", password="pw"), timeout=5)
    for i in range(300):
        put((a, b)[i % 2], "k%03d" % (i % 150), "new%d" % i)
    for i in range(0, 150, 7):
        delete(a, "k%03d" % i)
    conflict(cluster, a, b, "both")
    wait_for(lambda: same([a, b]), TIMEOUT)
    wait_for(lambda: compacted_past([a, b], stop_rev + 50), TIMEOUT)

    cluster.drop_held(c)
    c.stop()
    cluster.heal(c)
    cluster.restart(c)
    wait_for(lambda: same(cluster.members) and users(c) == ["alice"], TIMEOUT)
    wait_for(lambda: "installed a snapshot from member" in c.log_text(), TIMEOUT)  # logged once durable
    log = c.log_text()
    assert any("lacks events this member has compacted: sending it a snapshot at vector" in m.log_text()
               for m in (a, b))
    rev, data = state(c)
    assert b"leased/gone" not in data and data[b"leased/keep"] == (b"k", keep) and data[b"leased/late"][1] == late
    assert view(siblings(c, "both")) == view(siblings(a, "both")) == view(siblings(b, "both"))
    assert len(siblings(c, "both").siblings) == 2
    assert leases(c) == leases(a) == sorted([keep, late])
    ttl = lease(c).LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=late), timeout=10)
    assert ttl.grantedTTL == 120 and 0 < ttl.TTL <= 120

    # One revision: a watch from c's old revision sees the install's changes at it (events pushed to c while
    # it was away, which it applied before the snapshot came, are at revisions before it), and those changes
    # lead from c's old keys to its keys now.
    installed = int(re.search(r"installed a snapshot from member [0-9a-f]+ at revision (\d+)", log).group(1))
    watcher = etcd3.client(host="127.0.0.1", port=c.port, timeout=10, grpc_options=lkvtest.GRPC_OPTIONS)
    seen = queue.Queue()
    watch_id = watcher.add_watch_prefix_callback("k", seen.put, start_revision=old_rev + 1)
    events = []
    try:
        while True:
            events += seen.get(timeout=2).events
    except queue.Empty:
        pass
    watcher.cancel_watch(watch_id)
    watcher.close()
    at = [e for e in events if e.mod_revision == installed]
    assert len(at) > 100 and old_rev < installed <= rev  # most of the k keys changed by the snapshot
    assert [e.mod_revision for e in events] == sorted(e.mod_revision for e in events)
    replayed = {k: v for k, v in old_keys.items()}
    for e in events:
        if isinstance(e, etcd3.events.DeleteEvent):
            replayed.pop(e.key, None)
        else:
            replayed[e.key] = (e.value, e.lease)
    assert replayed == {k: v for k, v in data.items() if k.startswith(b"k")}

    # A kill -9 right after: the install is durable.
    before = full(c)
    cluster.kill(c)
    cluster.restart(c)
    assert full(c) == before and users(c) == ["alice"] and leases(c) == sorted([keep, late])

    put(c, "from-c", "x")
    put(a, "from-a", "y")
    wait_for(lambda: same(cluster.members) and b"from-c" in state(b)[1] and b"from-a" in state(c)[1], TIMEOUT)

    # Every member's audit passes: it rebuilds the leases from the events (grants, revokes with and without
    # keys) and, on c, from the install's records.
    for m in cluster.members:
        m.stop()
        p = audit(m.data_dir)
        assert p.returncode == 0 and "audit OK" in p.stdout, p.stdout + p.stderr


def test_cut_off_member_writes_survive(cluster):
    a, b, c = cluster.members
    for i in range(10):
        put(cluster.members[i % 3], "k%03d" % i, "old%d" % i)
    wait_for(lambda: same(cluster.members) and len(state(c)[1]) == 10, TIMEOUT)
    stop_rev = state(a)[0]
    cluster.cut_off(c)
    for i in range(5):
        put(c, "c/%d" % i, "mine%d" % i)  # acknowledged by c alone
    time.sleep(SILENT_S + 0.5)
    for i in range(200):
        put((a, b)[i % 2], "k%03d" % (i % 60), "new%d" % i)
    wait_for(lambda: compacted_past([a, b], stop_rev + 50), TIMEOUT)
    # The proxy holds what a and b pushed to c, and would pass it on at the heal: lost, as a lossy link would
    # lose it, c lacks events they compacted.
    cluster.drop_held(c)
    put(a, "after/a", "1")
    cluster.heal(c)
    wait_for(lambda: same(cluster.members) and len(state(a)[1]) == 66, TIMEOUT)
    _, data = state(b)
    assert all(data[b"c/%d" % i] == (b"mine%d" % i, 0) for i in range(5))
    wait_for(lambda: "installed a snapshot from member" in c.log_text(), TIMEOUT)
    assert scrape(c)["ledgerkv_causal_snapshots_installed_total"] >= 1
    assert sum(scrape(m)["ledgerkv_causal_snapshots_sent_total"] for m in (a, b)) >= 1
    # The ledger records the install as the store's own records: the audit rebuilds c's store from them.
    c.stop()
    p = audit(c.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr


def test_install_made_again_after_a_crash_before_the_commit(cluster, tmp_path):
    """A crash after the ledger's append and before the store's commit (docs/causal.md §7b "Crashes"): the
    store and event log from before the install, the ledger with its records, the snapshot kept in
    member/causal/snapshot (copied while it was there). The start installs it again, making the same records
    the ledger holds (compared: a difference would refuse the start), and converges; the audit passes."""
    a, b, c = cluster.members
    for i in range(9):
        put(cluster.members[i % 3], "k%03d" % i, "old%d" % i)
    wait_for(lambda: same(cluster.members) and len(state(c)[1]) == 9, TIMEOUT)
    stop_rev = state(a)[0]
    cluster.cut_off(c)
    time.sleep(SILENT_S + 0.5)
    value = "v" * 1000
    for i in range(2000):  # a snapshot of 1 MB: its file stays while the store commits and is copied
        put((a, b)[i % 2], "k%04d" % (i % 1000), value)
    wait_for(lambda: compacted_past([a, b], stop_rev + 50), TIMEOUT)
    cluster.drop_held(c)
    c.stop()
    saved = tmp_path / "before"
    for part in ("db", "causal/events"):
        copy = shutil.copytree if part == "db" else shutil.copy
        (saved / part).parent.mkdir(parents=True, exist_ok=True)
        copy(os.path.join(c.data_dir, "member", part), str(saved / part))

    kept = os.path.join(c.data_dir, "member", "causal", "snapshot")
    caught, stop = [], threading.Event()

    def catch():
        while not stop.is_set() and not caught:
            try:
                with open(kept, "rb") as f:  # written aside and renamed: whole once it is there
                    caught.append(f.read())
            except OSError:
                time.sleep(0.001)

    catcher = threading.Thread(target=catch)
    catcher.start()
    cluster.heal(c)
    cluster.restart(c)
    wait_for(lambda: "installed a snapshot from member" in c.log_text(), TIMEOUT)
    stop.set()
    catcher.join()
    assert caught and not os.path.exists(kept)
    wait_for(lambda: same(cluster.members), TIMEOUT)
    c.stop()

    shutil.rmtree(os.path.join(c.data_dir, "member", "db"))
    shutil.copytree(str(saved / "db"), os.path.join(c.data_dir, "member", "db"))
    shutil.copy(str(saved / "causal/events"), os.path.join(c.data_dir, "member", "causal", "events"))
    with open(kept, "wb") as f:
        f.write(caught[0])
    cluster.restart(c)
    assert c.log_text().count("installed a snapshot from member") == 2
    assert not os.path.exists(kept)
    wait_for(lambda: same(cluster.members), TIMEOUT)
    c.stop()
    p = audit(c.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr


QUEUE = 8 << 20  # --experimental-peer-queue-bytes at its least: no snapshot above it goes as one message


class SmallQueues(Snapshotting):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra_flags += ["--experimental-peer-queue-bytes", str(QUEUE)]


@pytest.fixture
def small_queues():
    yield from started(cls=SmallQueues)


def put_many(member, n, value):
    """Keys big/0000.. big/<n-1> = value, 64 a Txn (one event each)."""
    for first in range(0, n, 64):
        ops = [etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"big/%04d" % i, value=value))
               for i in range(first, min(n, first + 64))]
        member.kv().Txn(etcdrpc.TxnRequest(success=ops), timeout=PUT_TIMEOUT)


def digest(member):
    """(count, hash) of every key and value, read in pages (the whole would be one 12 MiB answer)."""
    h, count, key = hashlib.sha256(), 0, b"\0"
    while True:
        resp = member.kv().Range(etcdrpc.RangeRequest(key=key, range_end=b"\0", limit=500), timeout=10)
        for kv in resp.kvs:
            h.update(b"%d:%s=%d:%s;" % (len(kv.key), kv.key, len(kv.value), kv.value))
        count += len(resp.kvs)
        if not resp.more:
            return count, h.hexdigest()
        key = resp.kvs[-1].key + b"\0"


def test_snapshot_larger_than_the_peer_queue(small_queues):
    """A member left behind catches up from a snapshot of about 12 MiB through per-peer queues of 8 MiB: the
    snapshot is streamed in 1 MiB chunks within the window the receiver's acknowledgements open, into a file
    under its data dir, verified and installed whole; no transfer file stays behind. (Sent as one message,
    as before, it was refused by the queue and the member never caught up.)"""
    cluster = small_queues
    a, b, c = cluster.members
    put(a, "before", "x")
    wait_for(lambda: same(cluster.members), TIMEOUT)
    stop_rev = state(a)[0]
    cluster.cut_off(c)
    time.sleep(SILENT_S + 0.5)  # c is silent: a and b compact without it
    put_many(a, 3072, b"v" * 4096)  # 12 MiB of live values in 48 events
    for i in range(60):
        put((a, b)[i % 2], "small/%02d" % (i % 10), "s%d" % i)
    wait_for(lambda: compacted_past([a, b], stop_rev + 50), TIMEOUT)
    cluster.drop_held(c)
    c.stop()
    cluster.heal(c)
    cluster.restart(c)
    wait_for(lambda: "installed a snapshot from member" in c.log_text(), TIMEOUT)
    wait_for(lambda: digest(c) == digest(a) == digest(b), TIMEOUT)
    assert digest(c)[0] == 3072 + 10 + 1
    size = int(re.search(r"installed a snapshot from member [0-9a-f]+ at revision \d+ \(vector [^;]*; (\d+) bytes",
                         c.log_text()).group(1))
    assert size > QUEUE
    snap_dir = os.path.join(c.data_dir, "member", "causal", "snap")
    assert os.listdir(snap_dir) == []
    assert not os.path.exists(os.path.join(c.data_dir, "member", "causal", "snapshot"))
    put(c, "from-c", "x")
    wait_for(lambda: a.kv().Range(etcdrpc.RangeRequest(key=b"from-c"), timeout=5).count == 1, TIMEOUT)
