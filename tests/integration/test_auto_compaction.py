"""Auto-compaction (issue 12 item 11): --auto-compaction-mode periodic|revision with
--auto-compaction-retention, as etcd 3.4's v3compactor runs it: a single node compacts on its own; in a
three-member cluster only the leader proposes compactions (a member that stops leading pauses, the new leader
takes over) and every member ends with the same compact revision. Also KV.Compact with and without
`physical`, whose history removal runs in steps after the answer, and a kill -9 in the middle of that
removal (the restarted server has the same data and finishes it).

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests) and against ledgerkv otherwise; revision
mode needs ledgerkv's --auto-compaction-revision-interval (etcd 3.4 looks every 5 minutes), so it is
ledgerkv-only.
"""
import re
import subprocess
import threading
import time

import grpc
import pytest
from etcd3 import etcdrpc

import lkvtest
from cluster import Cluster, started

COMPACTED = "mvcc: required revision has been compacted"
# A finished auto-compaction as either server logs it (etcd 3.4: capnslog or zap; ledgerkv: one line).
FINISHED = re.compile(r"(?i)finished auto.?(periodic |revision )?compaction")


def compact_revision(srv):
    """The member's compact revision, as a watch from revision 1 is told when it is canceled (-1 if none).
    It watches every key, so that history from revision 1 shows at once as an event (only a store without
    any write makes it wait for its deadline)."""
    req = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"\0", range_end=b"\0",
                                                                         start_revision=1))
    call = etcdrpc.WatchStub(srv.channel()).Watch(iter([req]), timeout=5)
    try:
        for resp in call:
            if resp.canceled:
                return resp.compact_revision
            if not resp.created or resp.events:
                return -1  # history from revision 1 is there: never compacted
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
    finally:
        call.cancel()
    return -1


class Writer:
    """Puts on one server from a thread every `every` seconds, recording (monotonic time, revision)."""

    def __init__(self, srv, prefix, every=0.02):
        self.srv, self.prefix, self.every = srv, prefix, every
        self.log, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        kv, i = self.srv.kv(), 0
        while not self.stop.is_set():
            try:
                resp = kv.Put(etcdrpc.PutRequest(key=b"%s/%d" % (self.prefix, i % 20), value=b"v%d" % i), timeout=5)
                self.log.append((time.monotonic(), resp.header.revision))
            except grpc.RpcError:
                pass  # a leader change in the cluster test: the next put goes on
            i += 1
            time.sleep(self.every)

    def finish(self):
        self.stop.set()
        self.thread.join(timeout=10)
        return self.log

    def revision_at(self, t):
        """The last revision acknowledged at or before monotonic time t (1 before any)."""
        return max([r for (w, r) in self.log if w <= t], default=1)


def wait_for(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_periodic_single_node(server_factory):
    """Retention 2s: the schedule ticks every 200ms; compactions go to the revision of about one retention
    ago, never to anything newer, and keep up while writes go on."""
    srv = server_factory.start(args=["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "2s"])
    w = Writer(srv, b"/periodic")
    time.sleep(6.5)
    checked_at = time.monotonic()
    c = compact_revision(srv)
    log = w.finish()
    assert c > 1, "no compaction after 6.5 s with a 2 s retention"
    # compacted to a revision seen one retention ago (one tick of slack), at most two periods behind
    assert c <= w.revision_at(checked_at - 2.0 + 0.3), (c, log[-1])
    assert c >= w.revision_at(checked_at - 4.0 - 1.0), (c, log[-1])
    kv = srv.kv()
    with pytest.raises(grpc.RpcError) as e:
        kv.Range(etcdrpc.RangeRequest(key=b"/periodic/1", revision=c - 1), timeout=5)
    assert COMPACTED in e.value.details()
    assert kv.Range(etcdrpc.RangeRequest(key=b"/periodic/", range_end=b"/periodic0", revision=c),
                    timeout=5).count > 0
    if srv.kind == "ledgerkv":
        assert FINISHED.search(srv.log_text())
        assert re.search(r"finished auto-compaction at revision \d+ \(retention: 2s", srv.log_text())


def test_periodic_compacts_everything_once_quiet(server_factory):
    """Once writes stop, the window fills with the last revision and the compaction reaches it."""
    srv = server_factory.start(args=["--auto-compaction-retention=1s"])  # periodic is etcd's default mode
    kv = srv.kv()
    for i in range(30):
        last = kv.Put(etcdrpc.PutRequest(key=b"/quiet/%d" % (i % 3), value=b"x"), timeout=5).header.revision
    assert wait_for(lambda: compact_revision(srv) == last, 8), (compact_revision(srv), last)
    assert kv.Range(etcdrpc.RangeRequest(key=b"/quiet/", range_end=b"/quiet0"), timeout=5).count == 3


@pytest.mark.skipif(lkvtest.TARGET == "etcd", reason="etcd 3.4 looks every 5 minutes in revision mode")
def test_revision_single_node(server_factory):
    """Retention 10 revisions: compacts to current - 10 at each look, once per new target."""
    srv = server_factory.start(args=["--auto-compaction-mode", "revision", "--auto-compaction-retention", "10",
                                     "--auto-compaction-revision-interval", "300ms"])
    kv = srv.kv()
    time.sleep(0.7)  # a few looks at revision 1
    for i in range(9):
        kv.Put(etcdrpc.PutRequest(key=b"/rev/%d" % (i % 5), value=b"w"), timeout=5)
    time.sleep(1.0)  # a few looks at revision 10
    assert compact_revision(srv) == -1  # nothing to compact while current - 10 <= 0
    for i in range(50):
        last = kv.Put(etcdrpc.PutRequest(key=b"/rev/%d" % (i % 5), value=b"x"), timeout=5).header.revision
    assert wait_for(lambda: compact_revision(srv) == last - 10, 5), (compact_revision(srv), last)
    for i in range(25):
        last = kv.Put(etcdrpc.PutRequest(key=b"/rev/%d" % (i % 5), value=b"y"), timeout=5).header.revision
    assert wait_for(lambda: compact_revision(srv) == last - 10, 5), (compact_revision(srv), last)
    time.sleep(1.0)  # quiet: no new target, no further compaction
    assert srv.log_text().count("finished auto-compaction at revision %d " % (last - 10)) == 1
    assert "(retention: 10 revisions" in srv.log_text()


def test_compact_physical_and_not(server_factory):
    """KV.Compact: answered with the current revision either way; below it reads fail at once."""
    srv = server_factory.start()
    kv = srv.kv()
    written = []  # (revision, key, value)
    for i in range(200):
        key, value = b"/c/%d" % (i % 4), b"%d" % i
        written.append((kv.Put(etcdrpc.PutRequest(key=key, value=value), timeout=5).header.revision, key, value))
    last = written[-1][0]

    def values_at(rev):
        latest = {}
        for r, k, v in written:
            if r <= rev:
                latest[k] = v
        return [latest[k] for k in sorted(latest)]
    resp = kv.Compact(etcdrpc.CompactionRequest(revision=last - 100), timeout=10)
    assert resp.header.revision == last
    with pytest.raises(grpc.RpcError) as e:
        kv.Range(etcdrpc.RangeRequest(key=b"/c/1", revision=last - 101), timeout=5)
    assert COMPACTED in e.value.details()
    got = kv.Range(etcdrpc.RangeRequest(key=b"/c/", range_end=b"/c0", revision=last - 100), timeout=5)
    assert [x.value for x in got.kvs] == values_at(last - 100)
    resp = kv.Compact(etcdrpc.CompactionRequest(revision=last - 1, physical=True), timeout=10)
    assert resp.header.revision == last
    got = kv.Range(etcdrpc.RangeRequest(key=b"/c/", range_end=b"/c0", revision=last - 1), timeout=5)
    assert [x.value for x in got.kvs] == values_at(last - 1)
    with pytest.raises(grpc.RpcError) as e:
        kv.Compact(etcdrpc.CompactionRequest(revision=last - 1), timeout=10)
    assert COMPACTED in e.value.details()


def test_restart_during_removal(server_factory):
    """kill -9 while a large compaction's history is being removed: the restarted server has the compact
    revision and the same data, and finishes the removal (etcd resumes its scheduled compaction too)."""
    srv = server_factory.start()
    subprocess.run([lkvtest.ledgerkv_bin(), "bench", "put", "--endpoints", srv.endpoint, "--total", "50000",
                    "--key-space", "100", "--clients", "32", "--conns", "4", "--no-progress"],
                   check=True, capture_output=True, env=lkvtest.child_env(), timeout=300)
    kv = srv.kv()
    last = kv.Put(etcdrpc.PutRequest(key=b"/restart/last", value=b"x"), timeout=5).header.revision
    want = kv.Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=10)
    kv.Compact(etcdrpc.CompactionRequest(revision=last), timeout=10)
    time.sleep(0.3)
    if srv.kind == "ledgerkv":
        assert "finished scheduled compaction" not in srv.log_text()  # still removing: the kill comes mid-way
    srv.kill()
    srv.start()
    assert compact_revision(srv) == last
    got = srv.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=10)
    assert got.count == want.count
    assert [(x.key, x.value, x.mod_revision, x.version) for x in got.kvs] == \
        [(x.key, x.value, x.mod_revision, x.version) for x in want.kvs]
    if srv.kind == "ledgerkv":
        assert srv.wait_log("finished scheduled compaction at %d " % last, timeout=60), srv.log_tail()


class CompactingCluster(Cluster):
    """A three-member cluster whose members run auto-compaction, periodic with a 1s retention."""

    def flags(self, member):
        return super().flags(member) + ["--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1s"]


@pytest.fixture(scope="module")
def cluster():
    yield from started(cls=CompactingCluster)


def finished_count(member):
    return len(FINISHED.findall(member.last_start_log()))


def test_cluster_only_the_leader_compacts(cluster):
    """Only the leader logs compactions; after MoveLeader the new leader takes over and the old one pauses;
    once writes stop, every member reaches the same compact revision."""
    lead = cluster.wait_ready()
    w = Writer(lead, b"/cl")
    assert wait_for(lambda: finished_count(lead) >= 2, 10), lead.log_tail()
    for m in cluster.followers():
        assert finished_count(m) == 0, m.log_tail()
    w.finish()

    new = cluster.followers()[0]
    etcdrpc.MaintenanceStub(lead.channel()).MoveLeader(etcdrpc.MoveLeaderRequest(targetID=new.id), timeout=10)
    assert cluster.wait_ready() is new
    before_old = finished_count(lead)
    w = Writer(new, b"/cl")
    assert wait_for(lambda: finished_count(new) >= 2, 10), new.log_tail()
    time.sleep(1.0)
    last = w.finish()[-1][1]
    assert finished_count(lead) <= before_old + 1  # at most one that was in flight when it stopped leading
    others = [m for m in cluster.members if m is not new and m is not lead]
    assert all(finished_count(m) == 0 for m in others)

    def same():
        revs = {m.name: compact_revision(m) for m in cluster.members}
        return revs if len(set(revs.values())) == 1 and last in revs.values() else None
    assert wait_for(same, 10), {m.name: compact_revision(m) for m in cluster.members}
    # the same answers below and at the compact revision on every member (serializable: local reads)
    for m in cluster.members:
        with pytest.raises(grpc.RpcError) as e:
            m.kv().Range(etcdrpc.RangeRequest(key=b"/cl/1", revision=last - 1, serializable=True), timeout=5)
        assert COMPACTED in e.value.details()
        got = m.kv().Range(etcdrpc.RangeRequest(key=b"/cl/", range_end=b"/cl0", serializable=True), timeout=5)
        assert got.count == 20
