"""The causal members' corruption check (issue 16 item 5, docs/causal.md §6): three members started with
--consistency=causal and a short --causal-check-time compare digests of their key states whenever their
vectors are equal.

- Under ongoing writes no member raises an alarm or logs an inconsistency, and once the writes stop the
  members compare and find none.
- One member's store altered offline (one value's bytes rewritten in place in its LMDB file, as
  test_corrupt.py does in Raft mode): after its restart the members find the divergence, narrow it down to
  the one key whose value differs (logged with that key range) and raise CORRUPT (`etcdctl alarm list`);
  the altered member then refuses writes as etcd's corrupt mode does, and a disarm before the repair is
  undone by the next check.
- The flag is refused in Raft mode.

ledgerkv only: etcd has no causal mode.
"""
import os
import threading

import grpc
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CausalCluster, put, contents
from test_corrupt import alarms

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

ORIGINAL = b"causal-check-value-AAAAAAAA"
ALTERED = b"causal-check-value-BBBBBBBB"
NO_CORRUPTION = "at the same vector: no corruption"
FOUND = "found data inconsistency with member"


class CheckedCausalCluster(CausalCluster):
    def flags(self, member):
        return super().flags(member) + ["--causal-check-time", "300ms"]


@pytest.fixture
def cluster():
    yield from started(cls=CheckedCausalCluster)


def same_everywhere(members):
    """every member holds the same keys and values"""
    seen = [contents(m)[1] for m in members]
    return all(s == seen[0] for s in seen)


def alter_store(member):
    """Rewrites every copy of ORIGINAL in the stopped member's LMDB file as ALTERED; returns the count."""
    path = os.path.join(member.data_dir, "member", "db", "data.mdb")
    with open(path, "r+b") as f:
        data = f.read()
        f.seek(0)
        f.write(data.replace(ORIGINAL, ALTERED))
    return data.count(ORIGINAL)


def test_no_false_alarm_then_corruption_found(cluster):
    a, b, c = cluster.members
    for i in range(200):
        put(cluster.members[i % 3], "key/%03d" % i, "v%d" % i)

    # Writes keep coming on a (so b and c, which only receive, often have equal vectors) while the checks run.
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            put(a, "busy/%d" % (i % 50), "w%d" % i)
            i += 1
            stop.wait(0.01)  # paced, so that b and c often hold the same events between two writes

    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_for(lambda: all(m.log_text().count(NO_CORRUPTION) >= 2 for m in (b, c)), timeout=30)
    finally:
        stop.set()
        t.join()
    a.kv().Put(etcdrpc.PutRequest(key=b"key/123", value=ORIGINAL), timeout=5)
    wait_for(lambda: same_everywhere(cluster.members))
    before = [m.log_text().count(NO_CORRUPTION) for m in cluster.members]
    wait_for(lambda: all(m.log_text().count(NO_CORRUPTION) > n for m, n in zip(cluster.members, before)))
    for m in cluster.members:
        assert FOUND not in m.log_text(), m.log_tail()
        assert alarms(m) == ""

    c.stop()
    assert alter_store(c) >= 1
    cluster.restart(c)
    assert c.kv().Range(etcdrpc.RangeRequest(key=b"key/123"), timeout=5).kvs[0].value == ALTERED
    wait_for(lambda: "alarm:CORRUPT" in alarms(c))
    # Every member compares with c: the two others find it too. The divergence is narrowed down to the one
    # key whose value was altered.
    wait_for(lambda: "alarm:CORRUPT" in alarms(a) and "alarm:CORRUPT" in alarms(b))
    narrowed = 'keys from "key/123" to "key/124" differ'
    wait_for(lambda: any(narrowed in m.log_text() for m in cluster.members))

    # etcd's corrupt mode on the member: its clients' writes refused, reads served.
    with pytest.raises(grpc.RpcError) as e:
        put(c, "after", "v")
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.DATA_LOSS, "etcdserver: corrupt cluster")
    assert c.kv().Range(etcdrpc.RangeRequest(key=b"key/000"), timeout=5).kvs[0].value == b"v0"
    # Disarmed before the repair, the alarm comes back at the next check.
    assert lkvtest.etcdctl(c, "alarm", "disarm").stdout == "alarm:CORRUPT \n"  # listed for member 0, disarmed
    wait_for(lambda: "alarm:CORRUPT" in alarms(c))
    assert "Sanitizer" not in "".join(m.log_text() for m in cluster.members)


def test_flag_refused_in_raft_mode():
    with lkvtest.Factory() as f:
        with pytest.raises(lkvtest.ServerError, match="--causal-check-time is the causal members' check"):
            f.start(args=["--causal-check-time", "1s"])
