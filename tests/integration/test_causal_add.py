"""Causal mode's member add served end to end (docs/causal.md §15b) with real members and Debian's etcdctl.

- Growing a cluster: two members with keys; `etcdctl member add` answers etcd's MemberAddResponse and prints
  the ETCD_* lines; the third member started with them (--initial-cluster-state existing, empty data dir)
  takes the id MemberAdd drew, catches up, writes once it applied its own add, its writes and the others'
  reach everyone; every member lists three, by name once started; each member restarted keeps all three.
- etcd's replacement procedure: three members, one stopped for good and removed, a new one added and
  started with an empty data dir: it catches up (by a snapshot, though nothing was compacted: the removed
  member's events are ones it cannot verify) and the cluster takes writes everywhere.
- Refusals as etcd's: a peer URL in use ("etcdserver: Peer URLs already exists"); a learner (not served).

ledgerkv only: etcd has no causal mode.
"""
import re
import time

import pytest

import lkvtest
from cluster import Cluster, started, wait_for
from etcd3 import etcdrpc
from test_causal import put

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

TIMEOUT = 20.0


class AddCluster(Cluster):
    """Causal members on plain peer URLs; a member added at run time starts with the --initial-cluster that
    `etcdctl member add` printed (member.initial)."""

    def __init__(self, extra=(), **kwargs):
        super().__init__(extra_flags=["--consistency=causal"] + list(extra), **kwargs)

    def flags(self, member):
        f = super().flags(member)
        if getattr(member, "initial", None):
            f[f.index("--initial-cluster") + 1] = member.initial
        return f

    def wait_ready(self, timeout=lkvtest.READY_TIMEOUT):
        for m in self.running():
            wait_for(m.status, timeout)
        return self.members[0]

    def leader(self):
        return None


def contents(member):
    resp = member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=2)
    return {kv.key.decode(): kv.value.decode() for kv in resp.kvs}


def same(members, want=None):
    """every member holds the same keys and values (want's, when given)"""
    seen = [contents(m) for m in members]
    return all(s == seen[0] for s in seen) and (want is None or seen[0] == want)


def names(member):
    """{id: name} of MemberList on member"""
    ms = etcdrpc.ClusterStub(member.channel()).MemberList(etcdrpc.MemberListRequest(), timeout=5).members
    return {m.ID: m.name for m in ms}


def add(cluster, on, name):
    """`etcdctl member add` of a new member on `on`: the member (not started, its flags from the printed
    lines) and its id."""
    new = cluster.new_member(name)
    res = lkvtest.etcdctl(on, "member", "add", name, "--peer-urls", new.peer_url)
    m = re.match(r"Member ([ 0-9a-f]{16}) added to cluster ([ 0-9a-f]{16})\n\n", res.stdout)
    assert m, res.stdout
    assert int(m.group(2), 16) == on.status().header.cluster_id
    env = dict(re.findall(r'^(ETCD_\w+)="([^"]*)"$', res.stdout, re.M))
    assert env["ETCD_NAME"] == name and env["ETCD_INITIAL_CLUSTER_STATE"] == "existing", res.stdout
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == new.peer_url
    new.initial = env["ETCD_INITIAL_CLUSTER"]
    return new, int(m.group(1), 16)


def writes_everywhere(members, tag):
    """a write on each member reaches every member"""
    for m in members:
        wait_for(lambda: put(m, "%s/%s" % (tag, m.name), m.name), TIMEOUT)  # a joiner waits for its add
    wait_for(lambda: same(members) and all("%s/%s" % (tag, m.name) in contents(members[0]) for m in members),
             TIMEOUT)


@pytest.fixture
def two():
    yield from started(size=2, cls=AddCluster)


def test_member_add_grows_the_cluster(two):
    a, b = two.members
    for i in range(5):
        put(a, "k/a%d" % i, "x")
        put(b, "k/b%d" % i, "y")
    c, cid = add(two, a, "m3")
    listed = names(a)
    assert cid in listed and listed[cid] == "", listed  # unstarted: no name yet
    assert len(listed) == 3
    wait_for(lambda: cid in names(b), TIMEOUT)  # b applied the add (anti-entropy)
    c.start()
    assert c.status().header.member_id == cid
    wait_for(lambda: same(two.members), TIMEOUT)
    writes_everywhere(two.members, "w1")
    want = {a.id: "m1", b.id: "m2", cid: "m3"}
    for m in two.members:
        wait_for(lambda: names(m) == want, TIMEOUT)
    for m in two.members:  # each restarted keeps the three (the joiner: its identity, not joining again)
        m.stop()
        two.restart(m)
        assert m.status().header.member_id in want
        wait_for(lambda: names(m) == want, TIMEOUT)
    writes_everywhere(two.members, "w2")


def test_replacement_after_remove():
    with AddCluster(size=3, extra=["--experimental-causal-silent-after", "2s"]) as cl:
        cl.start()
        a, b, c = cl.members
        for m in cl.members:
            m.status()
        for i in range(15):
            for m in cl.members:
                put(m, "k/%s/%d" % (m.name, i), "v")
        wait_for(lambda: same(cl.members), TIMEOUT)
        c.stop()
        lkvtest.etcdctl(a, "member", "remove", "%x" % c.id)
        wait_for(lambda: c.id not in names(b), TIMEOUT)
        for i in range(30):  # writes after the removal (the event logs keep the removed member's events)
            put(a, "after/%d" % i, "v")
        d, did = add(cl, b, "m4")
        assert "m3" not in d.initial, d.initial
        d.start()
        assert d.status().header.member_id == did
        live = [a, b, d]
        wait_for(lambda: same(live), TIMEOUT)
        writes_everywhere(live, "w")
        want = {a.id: "m1", b.id: "m2", did: "m4"}
        for m in live:
            wait_for(lambda: names(m) == want, TIMEOUT)
        cl.members.remove(c)


def test_member_add_refusals(two):
    a, b = two.members
    res = lkvtest.etcdctl(a, "member", "add", "dup", "--peer-urls", b.peer_url, check=False)
    assert res.returncode != 0 and "etcdserver: Peer URLs already exists" in res.stderr, res.stderr
    res = lkvtest.etcdctl(a, "member", "add", "l", "--learner", "--peer-urls", "http://127.0.0.1:1",
                          check=False)
    assert res.returncode != 0 and "not supported" in res.stderr, res.stderr
    assert len(names(a)) == 2
