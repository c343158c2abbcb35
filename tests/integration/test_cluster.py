"""Three-member clusters under faults: writes through any member read back from every member, membership and
leadership as every member reports them; kill -9 of the leader and SIGSTOP/SIGCONT of a follower during a
recorded concurrent workload (linearizable reads, puts, compare-and-set), after which the history must be
linearizable, no acknowledged write lost, and every member must hold the same data.

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests) and against ledgerkv otherwise; it skips
while the ledgerkv binary refuses multi-member command lines.
"""
import time

import pytest

from etcd3 import etcdrpc
from cluster import started
from linearizability import check, lost_writes
from recorder import Client, Recorder, range_prefix

WORKLOAD = 1.0  # seconds of recorded load before a fault and after recovery
CONVERGE_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def cluster():
    """One cluster for the tests that inject no fault (each works under its own key prefix)."""
    yield from started()


@pytest.fixture
def fresh_cluster():
    """A cluster of its own, for a test that kills or pauses a member."""
    yield from started()


def converged(cluster, prefix):
    """Waits until a serializable range of prefix is the same on every member; returns it (asserts)."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        views = {m.name: range_prefix(m, prefix) for m in cluster.members}
        if len({tuple(v) for v in views.values()}) == 1:
            return next(iter(views.values()))
        if time.monotonic() > deadline:
            raise AssertionError("members differ after %.0fs: %s" % (CONVERGE_TIMEOUT, {
                name: [(k, v, mod) for k, v, _, mod, _ in rows] for name, rows in views.items()}))
        time.sleep(0.1)


def verify(cluster, rec, min_acked=20):
    """The checks after a faulty run: a leader, linearizable history, no lost write, equal members."""
    lead = cluster.wait_ready(timeout=10)
    final = rec.final_reads(lead)
    print("workload:", rec.summary())
    assert len(rec.acked_writes()) >= min_acked, "too little was written: " + rec.summary()
    res = check(rec.snapshot())
    assert res.ok, "history not linearizable: %s\n%s" % (res.explanation, rec.summary())
    lost = lost_writes(rec.snapshot(), final)
    assert not lost, "\n".join(lost)
    rows = converged(cluster, rec.prefix)
    assert {k.decode(): v.decode() for k, v, _, _, _ in rows} == {k: v for k, v in final.items() if v is not None}


def test_writes_on_every_member_read_from_every_member(cluster):
    prefix = "cluster/basic/"
    for m in cluster.members:
        m.kv().Put(etcdrpc.PutRequest(key=(prefix + m.name).encode(), value=m.name.encode()), timeout=5)
    want = [((prefix + m.name).encode(), m.name.encode()) for m in cluster.members]
    for m in cluster.members:  # linearizable reads: each member sees every write just acknowledged
        assert [(k, v) for k, v, _, _, _ in range_prefix(m, prefix, serializable=False)] == want, m.name


def test_every_member_names_the_same_leader(cluster):
    ids = {m.name: m.status().header.member_id for m in cluster.members}
    assert len(set(ids.values())) == 3 and 0 not in ids.values(), ids
    leaders = {m.name: m.status().leader for m in cluster.members}
    assert len(set(leaders.values())) == 1 and leaders["m1"] in ids.values(), (ids, leaders)


def test_member_list_on_every_member(cluster):
    ids = {m.name: m.status().header.member_id for m in cluster.members}
    want = {m.name: (ids[m.name], [m.peer_url], [m.url]) for m in cluster.members}
    for m in cluster.members:
        resp = etcdrpc.ClusterStub(m.channel()).MemberList(etcdrpc.MemberListRequest(), timeout=5)
        assert {x.name: (x.ID, list(x.peerURLs), list(x.clientURLs)) for x in resp.members} == want, m.name


def test_leader_killed_during_workload(fresh_cluster, record_property):
    cluster = fresh_cluster
    rec = Recorder(cluster.members, "cluster/kill/").start()
    try:
        time.sleep(WORKLOAD)
        lead = cluster.wait_ready()
        t_kill = time.monotonic()
        cluster.kill(lead)
        new = cluster.wait_ready(timeout=10)
        assert new is not lead
        took = rec.wait_write_after(t_kill, timeout=10)
        assert took is not None, "no write succeeded within 10 s of killing the leader: " + rec.summary()
        print("leader %s killed: new leader %s, first acknowledged write %.3f s after the kill "
              "(election timeout %.1f s)" % (lead.name, new.name, took, cluster.election_timeout))
        record_property("first_write_after_leader_kill_s", round(took, 3))
        cluster.restart(lead)
        t_back = time.monotonic()
        time.sleep(WORKLOAD)
    finally:
        rec.stop()
    assert rec.acked_writes(since=t_back), "nothing written after the restart: " + rec.summary()
    verify(cluster, rec)
    st = lead.status()
    assert st.leader == cluster.wait_ready().id, "the restarted member does not follow the leader"


def test_follower_paused_during_workload(fresh_cluster):
    cluster = fresh_cluster
    rec = Recorder(cluster.members, "cluster/pause/").start()
    try:
        time.sleep(WORKLOAD)
        follower = cluster.followers()[0]
        t_pause = time.monotonic()
        cluster.pause(follower)
        time.sleep(2 * cluster.election_timeout)
        t_resume = time.monotonic()
        cluster.resume(follower)
        time.sleep(WORKLOAD)
    finally:
        rec.stop()
    during = [op for op in rec.acked_writes(since=t_pause) if op.ret < t_resume]
    assert during, "no write succeeded while a follower was paused: " + rec.summary()
    verify(cluster, rec)


class StaleCacheClient(Client):
    """Deliberately broken: serves reads from a local cache filled by its first read of each key."""

    def read(self, key):
        if key not in self.cache:
            self.cache[key] = super().read(key)
        return self.cache[key]

    def run(self):
        self.cache = {}
        super().run()


class LyingClient(Client):
    """Deliberately broken: acknowledges every third put without sending it."""

    def write(self, key, value):
        if self.count % 3 == 0:
            return True
        return super().write(key, value)


def test_checker_catches_stale_reads_from_a_client_cache(cluster):
    rec = Recorder(cluster.members, "cluster/stale/", client_class=StaleCacheClient).start()
    time.sleep(WORKLOAD)
    rec.stop()
    lead = cluster.wait_ready()
    rec.final_reads(lead)
    res = check(rec.snapshot())
    assert not res.ok, "stale cached reads passed the checker: " + rec.summary()
    assert res.key.startswith("cluster/stale/") and "read()" in res.explanation, res.explanation
    print("caught:", res.explanation)


def test_checker_catches_acknowledged_writes_never_sent(cluster):
    rec = Recorder(cluster.members, "cluster/lie/", client_class=LyingClient).start()
    time.sleep(WORKLOAD)
    rec.stop()
    rec.final_reads(cluster.wait_ready())
    res = check(rec.snapshot())
    assert not res.ok, "writes that were never sent passed the checker: " + rec.summary()
    print("caught:", res.explanation)
