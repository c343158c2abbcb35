"""A watch position that survives a fail-over in causal mode (issue 16 item 2, docs/causal.md §17):
Conflicts.WatchPosition turns a member's revision into a version vector, and that vector into the revision
another member's watch resumes from.

- The vector of a revision names exactly the events its member had applied up to it.
- A client that watched member A up to revision R resumes on member B from the revision B gives for A's
  vector: it receives every write A had not applied by R (one B had before R's vector was taken, one made on
  B during a partition, one made on A during the partition and arriving after the heal) and none that A had
  applied (those came before the first write outside the vector on B).
- Malformed requests are refused (INVALID_ARGUMENT), a revision not reached yet is a future revision.

ledgerkv only: etcd has no causal mode.
"""
import queue
import threading
import time

import grpc
import pytest

import lkvtest
from cluster import started
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster, put
from test_causal_conflicts import call, pb

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")


@pytest.fixture
def cluster():
    yield from started(cls=CausalCluster)


def position(member, **kwargs):
    return call(member, "WatchPosition", pb.WatchPositionRequest(**kwargs), pb.WatchPositionResponse)


def member_id(member):
    return member.status().header.member_id


def has(member, key):
    return bool(member.kv().Range(etcdrpc.RangeRequest(key=key.encode()), timeout=5).kvs)


def wait_has(member, key):
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while not has(member, key):
        assert time.monotonic() < deadline, "%s never got %s" % (member.name, key)
        time.sleep(0.05)


class Watch:
    """A raw Watch stream on member from start_revision over the prefix; keys of PUT events, in order."""

    def __init__(self, member, prefix, start_revision):
        self.requests = queue.Queue()
        create = etcdrpc.WatchCreateRequest(key=prefix, range_end=prefix[:-1] + bytes([prefix[-1] + 1]),
                                            start_revision=start_revision)
        self.requests.put(etcdrpc.WatchRequest(create_request=create))
        self.keys = queue.Queue()
        self.stream = etcdrpc.WatchStub(member.channel()).Watch(iter(self.requests.get, None), timeout=60)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for resp in self.stream:
                for ev in resp.events:
                    self.keys.put(ev.kv.key.decode())
        except grpc.RpcError:
            pass  # cancelled at close

    def until(self, wanted):
        """Keys received until every one of wanted has come (a deadline fails the test)."""
        got, deadline = [], time.monotonic() + CONVERGE_TIMEOUT
        while not set(wanted) <= set(got):
            left = deadline - time.monotonic()
            assert left > 0, "watch got %s, waiting for %s" % (got, wanted)
            try:
                got.append(self.keys.get(timeout=left))
            except queue.Empty:
                pass
        return got

    def close(self):
        self.stream.cancel()
        self.requests.put(None)
        self.thread.join(5)


def test_resume_on_another_member(cluster):
    a, b, c = cluster.members
    ia, ib, ic = member_id(a), member_id(b), member_id(c)
    put(a, "p/w1", "a")
    put(b, "p/w2", "b")
    for m in cluster.members:
        wait_has(m, "p/w1")
        wait_has(m, "p/w2")
    # z reaches B (and C) but not A: the client's position on A will not cover it
    cluster.cut_off(a)
    put(c, "p/z", "c")
    wait_has(b, "p/z")

    # the client watched A up to its current revision: its position there
    rev_a = a.status().header.revision
    own = position(a, revision=rev_a)
    assert own.member_id == ia and own.start_revision == rev_a + 1
    vector = {e.origin: e.seq for e in own.vector}
    assert vector == {ia: 1, ib: 1}, vector
    assert not has(a, "p/z")

    # A keeps writing on its side, B on its own, then A is gone for the client: it resumes on B
    put(a, "p/y1", "a")
    put(b, "p/x1", "b")
    there = position(b, member_id=ia, revision=rev_a, vector=own.vector)
    assert there.member_id == ib and {e.origin: e.seq for e in there.vector} == vector
    assert there.start_revision <= there.revision
    w = Watch(b, b"p/", there.start_revision)
    try:
        cluster.heal(a)
        got = w.until(["p/z", "p/x1", "p/y1"])
        assert "p/w1" not in got and "p/w2" not in got, got
    finally:
        w.close()

    # a vector covering everything B has: resume at B's next revision
    full = position(b, revision=b.status().header.revision)
    again = position(b, member_id=ic, revision=1, vector=full.vector)
    assert again.start_revision == b.status().header.revision + 1


def test_refusals(cluster):
    a = cluster.members[0]
    ia = member_id(a)
    cases = [dict(revision=0),
             dict(revision=1, vector=[pb.EventId(origin=ia, seq=1)]),
             dict(member_id=ia + 1, vector=[pb.EventId(origin=ia, seq=0)]),
             dict(member_id=ia + 1, vector=[pb.EventId(origin=ia, seq=1), pb.EventId(origin=ia, seq=2)])]
    for req in cases:
        with pytest.raises(grpc.RpcError) as e:
            position(a, **req)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, req
    with pytest.raises(grpc.RpcError) as e:
        position(a, revision=a.status().header.revision + 5)
    assert e.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert e.value.details() == "etcdserver: mvcc: required revision is a future revision"
