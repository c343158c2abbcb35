"""The causal members' corruption check (issue 16 item 5, docs/causal.md §6): three members started with
--consistency=causal and a short --causal-check-time compare digests of their key states at their common
vector, the keys written since left out.

- Under ongoing writes no member raises an alarm or logs an inconsistency, and once the writes stop the
  members compare and find none.
- One member's store altered offline (one value's bytes rewritten in place in its LMDB file, as
  test_corrupt.py does in Raft mode): after its restart the members find the divergence, narrow it down to
  the one key whose value differs (logged with that key range) and raise CORRUPT (`etcdctl alarm list`);
  the altered member then refuses writes as etcd's corrupt mode does, and a disarm before the repair is
  undone by the next check.
- Writes on every member all the time (a writer per member, on keys of its own, keys all write, deletes,
  and leases granted, attached and revoked): the members still compare, every period, and find nothing.
- The same writes going on while one member's store is altered offline and it restarts: the divergence is
  found within a few periods (CORRUPT on the altered member) although the vectors are never equal.
- The flag is refused in Raft mode.

ledgerkv only: etcd has no causal mode.
"""
import os
import re
import threading
import time

import grpc
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CausalCluster, put, contents, PUT_TIMEOUT
from test_causal_lease import grant, lease
from test_corrupt import alarms

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

ORIGINAL = b"causal-check-value-AAAAAAAA"
ALTERED = b"causal-check-value-BBBBBBBB"
NO_CORRUPTION = "left out): no corruption"
FOUND = "found data inconsistency with member"


class CheckedCausalCluster(CausalCluster):
    def flags(self, member):
        return super().flags(member) + ["--causal-check-time", "300ms"]


@pytest.fixture
def cluster():
    yield from started(cls=CheckedCausalCluster)


# An edge cluster in use: 40 ms each way on every peer link and writes on every member every few ms, so that
# no member ever holds exactly the events a peer's check was taken at (the receiver has written since).
WAN_DELAY_MS = 40


@pytest.fixture
def wan():
    yield from started(cls=CheckedCausalCluster, delay_ms=WAN_DELAY_MS)


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


class Writers:
    """A writer thread per member, writing until stopped: keys of its own, keys every member writes (siblings
    across members), deletes, and a lease granted, with keys attached, then revoked. Errors (a member
    stopped, or refusing writes under CORRUPT) are counted and the writer goes on."""

    def __init__(self, members):
        self.stop = threading.Event()
        self.writes = [0] * len(members)
        self.errors = [None] * len(members)
        self.members = list(members)
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(len(members))]
        for t in self.threads:
            t.start()

    def run(self, i):
        n = 0
        while not self.stop.is_set():
            m = self.members[i]
            try:
                put(m, "own/%d/%d" % (i, n % 400), "w%d" % n)
                if n >= 30:  # a key written a while ago (stable) deleted: its tombstone is purged soon after
                    m.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=b"own/%d/%d" % (i, (n - 30) % 400)),
                                       timeout=PUT_TIMEOUT)
                put(m, "all/%d" % (n % 10), "m%d-%d" % (i, n))
                if n % 7 == 0:
                    m.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=b"all/%d" % (n % 10 + 1)), timeout=PUT_TIMEOUT)
                if n % 20 == 0:
                    lid = grant(m, 30)
                    for j in range(3):
                        req = etcdrpc.PutRequest(key=b"leased/%d/%d" % (i, j), value=b"x", lease=lid)
                        m.kv().Put(req, timeout=PUT_TIMEOUT)
                if n % 20 == 10:
                    for r in lease(m).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=PUT_TIMEOUT).leases:
                        if r.ID >> 48 == m.status().header.member_id & 0x7FFF:
                            lease(m).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=r.ID), timeout=PUT_TIMEOUT)
                self.writes[i] += 1
            except grpc.RpcError as e:
                self.errors[i] = "%s %s" % (e.code(), e.details())
                self.stop.wait(0.05)
            n += 1

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def checks(member):
    return member.log_text().count(NO_CORRUPTION)


def left_out(member):
    """how many keys each of member's checks that found nothing left out (written since their common
    vector)"""
    return [int(n) for n in re.findall(r"\((\d+) keys written since left out\): no corruption", member.log_text())]


def test_checked_under_writes_everywhere_no_false_alarm(wan):
    """Without the common vector no comparison is made while every member writes: vectors are never
    equal."""
    writers = Writers(wan.members)
    try:
        wait_for(lambda: min(writers.writes) >= 30, timeout=30)
        before, written = [checks(m) for m in wan.members], list(writers.writes)

        def compared():
            """6 more comparisons that found nothing on every member, under writes"""
            return all(checks(m) >= n + 6 for m, n in zip(wan.members, before))

        wait_for(compared, timeout=40)  # 300 ms periods
        assert all(w > n + 5 for w, n in zip(writers.writes, written)), (written, writers.writes)
    finally:
        writers.close()
    for m in wan.members:
        assert FOUND not in m.log_text(), [line for line in m.log_text().splitlines() if FOUND in line]
        assert alarms(m) == ""
    # The checks compared keys: each left out only those written shortly before it (the writers cycle over
    # 400 keys each), and some left out some.
    counts = [n for m in wan.members for n in left_out(m)]
    written = sum(min(w, 400) for w in writers.writes)  # keys own/i/... written at least once
    assert max(counts) > 0 and min(counts) < written / 2, (counts, written)
    print("keys left out by each check: %s; %d keys written" % (counts, written))
    assert "Sanitizer" not in "".join(m.log_text() for m in wan.members)


def test_corruption_found_under_writes_everywhere(wan):
    a, b, c = wan.members
    for i in range(100):
        put(wan.members[i % 3], "key/%03d" % i, "v%d" % i)
    a.kv().Put(etcdrpc.PutRequest(key=b"key/050", value=ORIGINAL), timeout=5)
    wait_for(lambda: same_everywhere(wan.members))
    writers = Writers(wan.members)
    try:
        wait_for(lambda: min(writers.writes) >= 20)
        c.stop()
        assert alter_store(c) >= 1
        restarting = time.monotonic()
        wan.restart(c)
        assert c.kv().Range(etcdrpc.RangeRequest(key=b"key/050"), timeout=5).kvs[0].value == ALTERED
        # Found within a few 300 ms periods of c's restart while every member writes (a and b, alarmed, refuse
        # writes from then on, as c does).

        def alarmed():
            """CORRUPT on every member"""
            return all("alarm:CORRUPT" in alarms(m) for m in wan.members)

        wait_for(alarmed, timeout=20)
        found = time.monotonic() - restarting
    finally:
        writers.close()
    print("CORRUPT on every member %.1f s after the altered member's restart began" % found)
    narrowed = 'keys from "key/050" to "key/051" differ'
    wait_for(lambda: any(narrowed in m.log_text() for m in wan.members))
    assert "Sanitizer" not in "".join(m.log_text() for m in wan.members)


def test_flag_refused_in_raft_mode():
    with lkvtest.Factory() as f:
        with pytest.raises(lkvtest.ServerError, match="--causal-check-time is the causal members' check"):
            f.start(args=["--causal-check-time", "1s"])
