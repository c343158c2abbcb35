"""Operating a three-member cluster as etcd 3.4's operators do (issue 12 items 8 and 12).

- A rolling restart under load: a recorded concurrent workload (linearizable reads, puts, compare-and-set
  Txns) runs on every member through clients that move to another member after an error, while every member
  in turn (the leader included, in random order) is stopped with SIGTERM and started again. Clients may see
  only errors a client retries (UNAVAILABLE, DEADLINE_EXCEEDED); the history must be linearizable, no
  acknowledged write lost and every member must end with the same data. The longest write outage is printed.
- etcdctl 3.4's cluster commands: `member list -w json`, `endpoint status --cluster -w json`, `endpoint health
  --cluster`, `move-leader`, `check perf --load s` and a `member add` / `member remove` round trip read from
  etcdctl's text output.

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests) and against ledgerkv otherwise; it skips
while the ledgerkv binary refuses multi-member command lines.
"""
import json
import random
import re
import time
import types

import grpc
import pytest

import lkvtest
from cluster import started
from etcd3 import etcdrpc
from recorder import CHANNEL_OPTIONS, Client, Recorder
from test_cluster import WORKLOAD, verify

RETRIABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED"}
MEMBER_GONE_TIMEOUT = 15.0
CHECK_PERF_TIMEOUT = 150  # the "s" load runs for 60 s, then deletes its keys


class FailoverClient(Client):
    """A client with every member's endpoint that, like clientv3 given several endpoints, sends its next
    request to the next member after an error. `endpoints` is set on a subclass made for one cluster."""
    endpoints = ()

    def run(self):
        channels = [grpc.insecure_channel(ep, options=CHANNEL_OPTIONS) for ep in self.endpoints]
        self.stubs = [etcdrpc.KVStub(ch) for ch in channels]
        self.at = self.endpoints.index(self.endpoint)
        try:
            super().run()
        finally:
            for ch in channels:
                ch.close()

    def _on_current(self, op, *args):
        self.kv = self.stubs[self.at]
        try:
            return op(*args)
        except grpc.RpcError:
            self.at = (self.at + 1) % len(self.stubs)
            raise

    def read(self, key):
        return self._on_current(super().read, key)

    def write(self, key, value):
        return self._on_current(super().write, key, value)

    def cas(self, key, expected, new):
        return self._on_current(super().cas, key, expected, new)


def longest_write_outage(rec, start, end):
    """The longest time within [start, end] in which no write or successful CAS was acknowledged:
    (seconds, from)."""
    acks = sorted(op.ret for op in rec.acked_writes() if start <= op.ret <= end)
    edges = [start] + acks + [end]
    return max((b - a, a) for a, b in zip(edges, edges[1:]))


@pytest.fixture(scope="module")
def cluster():
    """One cluster for the module: the rolling restart leaves every member running, as the etcdctl tests
    need them."""
    yield from started()


def test_rolling_restart_under_load(cluster, record_property):
    client = type("FailoverClient", (FailoverClient,), {"endpoints": [m.endpoint for m in cluster.members]})
    seed = random.randrange(1 << 30)
    order = list(cluster.members)
    random.Random(seed).shuffle(order)
    lead = cluster.wait_ready()
    print("restart order (seed %d): %s; leader %s" % (seed, " ".join(m.name for m in order), lead.name))
    rec = Recorder(cluster.members, "ops/rolling/", client_class=client).start()
    took = {}
    try:
        time.sleep(WORKLOAD)
        t_first = time.monotonic()
        for m in order:
            t0 = time.monotonic()
            m.stop()  # raises unless it exits cleanly
            t1 = time.monotonic()
            cluster.restart(m)  # waits until it answers Status
            took[m.name] = (t1 - t0, time.monotonic() - t1)
        t_last = time.monotonic()
        time.sleep(WORKLOAD)
    finally:
        rec.stop()
    outage, at = longest_write_outage(rec, t_first, t_last)
    print("restarts: %s" % ", ".join("%s stopped in %.2f s, answered in %.2f s" % (name, *t)
                                     for name, t in took.items()))
    print("longest write outage during the rolling restart: %.3f s (from %.3f s after the first SIGTERM)"
          % (outage, at - t_first))
    record_property("rolling_restart_longest_write_outage_s", round(outage, 3))
    assert rec.acked_writes(since=t_last), "nothing written after the last restart: " + rec.summary()
    verify(cluster, rec)
    unexpected = {k: n for k, n in rec.errors.items() if k[0] not in RETRIABLE}
    assert not unexpected, "errors a client would not retry: %s" % unexpected


# etcdctl's cluster commands ---------------------------------------------------------------------------------
def everyone(cluster):
    """An etcdctl target (for lkvtest.etcdctl) naming every member's endpoint."""
    return types.SimpleNamespace(endpoint=",".join(m.endpoint for m in cluster.members))


def ids(cluster):
    """{member name: member id} from each member's Status."""
    return {m.name: m.status().header.member_id for m in cluster.members}


def test_etcdctl_member_list_json(cluster):
    want = ids(cluster)
    out = json.loads(lkvtest.etcdctl(cluster.members[0], "member", "list", "-w", "json").stdout)
    assert out["header"]["cluster_id"] == cluster.members[0].status().header.cluster_id != 0
    got = {m["name"]: (m["ID"], m["peerURLs"], m["clientURLs"], m.get("isLearner", False))
           for m in out["members"]}
    assert got == {m.name: (want[m.name], [m.peer_url], [m.url], False) for m in cluster.members}


def test_etcdctl_endpoint_status_cluster_json(cluster):
    cluster.wait_ready()
    want = ids(cluster)
    out = json.loads(lkvtest.etcdctl(cluster.members[1], "endpoint", "status", "--cluster", "-w", "json").stdout)
    assert sorted(e["Endpoint"] for e in out) == sorted(m.url for m in cluster.members), out
    by_url = {e["Endpoint"]: e["Status"] for e in out}
    for m in cluster.members:
        assert by_url[m.url]["header"]["member_id"] == want[m.name], (m.name, by_url[m.url])
    leaders = {st["leader"] for st in by_url.values()}
    assert len(leaders) == 1 and leaders.pop() in want.values(), out
    assert sum(st["header"]["member_id"] == st["leader"] for st in by_url.values()) == 1, out
    assert len({st["raftTerm"] for st in by_url.values()}) == 1, out
    assert all(st["raftIndex"] > 0 and st["version"] for st in by_url.values()), out


def test_etcdctl_endpoint_health_cluster(cluster):
    res = lkvtest.etcdctl(cluster.members[2], "endpoint", "health", "--cluster")
    healthy = re.findall(r"^(\S+) is healthy: successfully committed proposal: took = ", res.stderr, re.M)
    assert sorted(healthy) == sorted(m.url for m in cluster.members), res.stderr
    assert "unhealthy" not in res.stderr + res.stdout


def test_etcdctl_move_leader(cluster):
    lead = cluster.wait_ready()
    target = cluster.followers()[0]
    res = lkvtest.etcdctl(everyone(cluster), "move-leader", "%x" % target.id)
    assert res.stdout == "Leadership transferred from %x to %x\n" % (lead.id, target.id), res.stdout
    assert cluster.wait_ready() is target
    assert target.status().leader == target.id


def test_etcdctl_check_perf(cluster):
    """`check perf --load s`: 60 s of 150 puts/s from 50 clients, then PASS/FAIL lines. The puts carry no
    timeout, so any error is the server's. Release builds only: it judges throughput and latency, which an
    ASan build does not represent, and it takes 60 s of the suite's time."""
    if lkvtest.sanitized():
        pytest.skip("check perf measures speed, which a sanitizer build does not have")
    res = lkvtest.etcdctl(everyone(cluster), "check", "perf", "--load", "s", check=False,
                          timeout=CHECK_PERF_TIMEOUT)
    # its verdicts, without the progress bar (which shares lines with them)
    verdicts = re.findall(r"(?:PASS|FAIL|Slowest request took too long|Stddev too high)[^\r\n]*", res.stdout)
    print("\n".join(verdicts))
    assert res.returncode == 0 and len(verdicts) == 4 and all(v.startswith("PASS") for v in verdicts), \
        "check perf failed (%d):\n%s\n%s" % (res.returncode, "\n".join(verdicts), res.stderr)
    left = json.loads(lkvtest.etcdctl(cluster.members[0], "get", "--prefix", "/etcdctl-check-perf/",
                                      "--keys-only", "-w", "json").stdout)
    assert not left.get("kvs") and left.get("count", 0) == 0, "check perf left keys behind"


def wait_healthy_add(member, *args, timeout=15.0):
    """etcdctl member add, retried while etcd answers "unhealthy cluster" (its first 5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        res = lkvtest.etcdctl(member, "member", "add", *args, check=False)
        if res.returncode == 0 or "unhealthy cluster" not in res.stderr or time.monotonic() > deadline:
            return res
        time.sleep(0.2)


def member_list_text(member):
    """etcdctl member list's table: {id: (started, name, peer URLs, client URLs, learner)}."""
    rows = {}
    for line in lkvtest.etcdctl(member, "member", "list").stdout.splitlines():
        mid, started_, name, peers, clients, learner = [f.strip() for f in line.split(",")]
        rows[int(mid, 16)] = (started_, name, peers, clients, learner)
    return rows


def test_etcdctl_member_add_remove_round_trip(cluster):
    lead = cluster.wait_ready()
    cluster_id = lead.status().header.cluster_id
    before = {m.name: m.peer_url for m in cluster.members}
    d = cluster.new_member("m4")
    res = wait_healthy_add(lead, "m4", "--peer-urls", d.peer_url)
    assert res.returncode == 0, res.stderr
    m = re.match(r"Member ([ 0-9a-f]{16}) added to cluster ([ 0-9a-f]{16})\n\n", res.stdout)  # %16x
    assert m, res.stdout
    new_id = int(m.group(1), 16)
    assert int(m.group(2), 16) == cluster_id
    env = dict(re.findall(r'^(ETCD_\w+)="([^"]*)"$', res.stdout, re.M))
    assert env.pop("ETCD_NAME") == "m4" and env.pop("ETCD_INITIAL_ADVERTISE_PEER_URLS") == d.peer_url
    assert env.pop("ETCD_INITIAL_CLUSTER_STATE") == "existing"
    assert sorted(env.pop("ETCD_INITIAL_CLUSTER").split(",")) == sorted(
        "%s=%s" % kv for kv in dict(before, m4=d.peer_url).items())
    assert not env, env
    assert member_list_text(lead)[new_id] == ("unstarted", "", d.peer_url, "", "false")

    d.start()  # with those values as flags: --name, --initial-cluster, --initial-cluster-state existing
    assert d.status().header.member_id == new_id
    deadline = time.monotonic() + MEMBER_GONE_TIMEOUT
    while member_list_text(lead)[new_id] != ("started", "m4", d.peer_url, d.url, "false"):
        assert time.monotonic() < deadline, member_list_text(lead)
        time.sleep(0.1)

    lead = cluster.wait_ready()
    res = lkvtest.etcdctl(lead, "member", "remove", "%x" % new_id)
    assert res.stdout == "Member %16x removed from cluster %16x\n" % (new_id, cluster_id), res.stdout
    deadline = time.monotonic() + MEMBER_GONE_TIMEOUT
    while d.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not d.alive(), "a removed member stops"
    d.kill()  # reap it
    cluster.members.remove(d)
    assert set(member_list_text(cluster.wait_ready())) == set(ids(cluster).values())


@pytest.fixture
def own_cluster():
    yield from started()


def test_leader_stopped_after_a_follower_hands_over_to_the_live_one(own_cluster):
    """A rolling restart stops members one after another: a leader stopped right after a follower must
    hand over to the follower still connected (as etcd does), not to the one just stopped, which would hold
    its stop for a whole request timeout."""
    c = own_cluster
    lead = c.wait_ready()
    gone = c.followers()[0]
    gone.stop()
    began = time.monotonic()
    lead.stop()
    took = time.monotonic() - began
    print("leader stopped %.2f s after SIGTERM, a follower stopped just before" % took)
    assert took < 3 * c.election_timeout, took
