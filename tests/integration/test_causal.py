"""Causal mode with real processes (issue 16, docs/causal.md): three ledgerkv members started with
--consistency=causal on loopback, their peer traffic through peer_proxy's proxies.

- Puts on every member reach every member; MemberList names all three (their hellos carry their attributes).
- A member cut off keeps accepting writes, as do the other two; a key written on both sides meanwhile is a
  conflict. After the heal every member returns the same value for every key, and each member's revision is
  1 + the number of writes made in the whole cluster (every event, local or remote, takes exactly one local
  revision: gap-free, none twice).
- A member stopped while the others write catches up after its restart.
- A watch open on the member that was cut off sees the other side's writes arrive after the heal.
- Lock and Election are refused in this mode, every method (FAILED_PRECONDITION; 412 on the JSON gateway);
  a data dir is served only in the mode that wrote it.

ledgerkv only: etcd has no causal mode.
"""
import json
import queue
import time
import urllib.error
import urllib.request

import etcd3
import grpc
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from peer_proxy import ProxiedCluster

pytestmark = [
    pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own"),
    # python3-etcd3's watch thread re-opens its stream after client.close() and dies on the closed channel.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]

CONVERGE_TIMEOUT = 15.0
PUT_TIMEOUT = 5.0  # a write in causal mode is answered once durable on its member: no peer is waited for


class CausalCluster(ProxiedCluster):
    """Members have no common leader in causal mode: each names itself. Ready once every one answers."""

    def __init__(self, **kwargs):
        super().__init__(extra_flags=["--consistency=causal"], **kwargs)

    def wait_ready(self, timeout=lkvtest.READY_TIMEOUT):
        for m in self.running():
            st = wait_for(m.status, timeout)
            assert st.leader == st.header.member_id, "a causal member names itself as leader"
        return self.members[0]

    def leader(self):
        return None


@pytest.fixture
def cluster():
    yield from started(cls=CausalCluster)


def put(member, key, value):
    return member.kv().Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()), timeout=PUT_TIMEOUT)


def contents(member):
    """(revision, {key: value}) of everything member holds."""
    resp = member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=2)
    return resp.header.revision, {kv.key.decode(): kv.value.decode() for kv in resp.kvs}


def converged(members, writes):
    """every member holds the same keys and values, at revision 1 + writes"""
    seen = [contents(m) for m in members]
    return all(s == (writes + 1, seen[0][1]) for s in seen)


def test_partition_heal_restart(cluster):
    a, b, c = cluster.members
    writes = 0
    for m in cluster.members:
        for i in range(3):
            put(m, "before/%s/%d" % (m.name, i), "v%d" % i)
            writes += 1
    wait_for(lambda: converged(cluster.members, writes), CONVERGE_TIMEOUT)
    _, data = contents(a)
    assert sorted(data) == sorted("before/%s/%d" % (m.name, i) for m in cluster.members for i in range(3))
    names = {m.name for m in etcdrpc.ClusterStub(b.channel()).MemberList(etcdrpc.MemberListRequest()).members}
    assert names == {"m1", "m2", "m3"}

    # c cut off: both sides keep accepting writes, also to a key written on both sides (a conflict).
    watcher = etcd3.client(host="127.0.0.1", port=c.port, timeout=10, grpc_options=lkvtest.GRPC_OPTIONS)
    seen = queue.Queue()
    watch_id = watcher.add_watch_prefix_callback("during/m1/", seen.put)
    cluster.cut_off(c)
    for m in cluster.members:
        for i in range(3):
            put(m, "during/%s/%d" % (m.name, i), "w%d" % i)
            put(m, "both", "from-%s-%d" % (m.name, i))
            writes += 2
    time.sleep(0.5)  # several anti-entropy rounds: nothing crosses the cut
    rev_c, data_c = contents(c)
    assert rev_c == 1 + 9 + 6 and "during/m1/0" not in data_c and data_c["both"] == "from-m3-2"
    rev_a, data_a = contents(a)
    assert rev_a == 1 + 9 + 12 and "during/m3/0" not in data_a

    cluster.heal(c)
    wait_for(lambda: converged(cluster.members, writes), CONVERGE_TIMEOUT)
    _, data = contents(b)
    assert all(data["during/%s/%d" % (m.name, i)] == "w%d" % i for m in cluster.members for i in range(3))
    assert data["both"] in ("from-m1-2", "from-m2-2", "from-m3-2")  # one winner, the same on every member
    events = []
    while len(events) < 3:
        events += seen.get(timeout=CONVERGE_TIMEOUT).events
    watcher.cancel_watch(watch_id)
    watcher.close()
    assert [(e.key, e.value) for e in events] == [(b"during/m1/%d" % i, b"w%d" % i) for i in range(3)]
    assert events[0].mod_revision < events[1].mod_revision < events[2].mod_revision

    # b stopped while the others write; restarted, it replays its log and catches up.
    b.stop()
    for m in (a, c):
        put(m, "while-b-away/%s" % m.name, "x")
        writes += 1
    cluster.restart(b)
    wait_for(lambda: converged(cluster.members, writes), CONVERGE_TIMEOUT)
    assert contents(b)[1]["while-b-away/m3"] == "x"


def test_lock_and_election_refused(cluster):
    """Every method of both services, the server stream (Observe) too, and their JSON gateway routes."""
    member = cluster.members[0]
    ch = member.channel()
    for method in ("Lock/Lock", "Lock/Unlock", "Election/Campaign", "Election/Proclaim", "Election/Leader",
                   "Election/Observe", "Election/Resign"):
        service = "v3lockpb" if method.startswith("Lock/") else "v3electionpb"
        stub = ch.unary_stream if method == "Election/Observe" else ch.unary_unary
        call = stub("/%s.%s" % (service, method), request_serializer=lambda x: x, response_deserializer=lambda x: x)
        with pytest.raises(grpc.RpcError) as e:
            list(call(b"", timeout=2)) if method == "Election/Observe" else call(b"", timeout=2)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION, method
        assert "Lock and Election are not served in causal mode" in e.value.details(), method
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for route in ("lock/lock", "lock/unlock", "election/campaign", "election/proclaim", "election/leader",
                  "election/observe", "election/resign"):
        req = urllib.request.Request("http://%s/v3/%s" % (member.endpoint, route), data=b'{"name": "bg=="}',
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            no_proxy.open(req, timeout=5)
        body = json.loads(e.value.read())
        assert e.value.code == 412 and "not served in causal mode" in str(body), (route, e.value.code, body)


def test_data_dir_served_only_in_its_mode():
    with lkvtest.Factory() as f:
        raft = f.start()
        raft.kv().Put(etcdrpc.PutRequest(key=b"k", value=b"v"), timeout=PUT_TIMEOUT)
        raft.stop()
        raft.args = ["--consistency=causal"]
        with pytest.raises(lkvtest.ServerError, match="holds a Raft log: the data dir was written in Raft mode"):
            raft.start()
        causal = f.start(args=["--consistency=causal"])
        put(causal, "k", "v")
        causal.stop()
        causal.args = []
        with pytest.raises(lkvtest.ServerError, match="was written in causal mode: start it with --consistency=causal"):
            causal.start()
        causal.args = ["--consistency=causal", "--experimental-corrupt-check-time=1m"]
        with pytest.raises(lkvtest.ServerError, match="--experimental-corrupt-check-time is not supported"):
            causal.start()
