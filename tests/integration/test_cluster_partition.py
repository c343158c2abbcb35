"""Network partitions in a three-member cluster (issue 12 item 14): a member's peer traffic is held by the
proxies of peer_proxy.ProxiedCluster (no root needed) while a recorded concurrent workload runs on every member
(linearizable reads, unique puts, compare-and-set Txns).

- The leader cut off: the majority elects a new leader and takes writes; the old leader steps down and
  acknowledges no write or CAS sent to it after the cut; after the heal it serves again.
- A follower cut off: the others keep serving, the follower acknowledges nothing, then catches up.
- The leader muted (only what it sends is held): the others elect a new leader and take writes.
- Reads on a minority member: a linearizable read fails (or times out) rather than return a value older than
  a write the majority acknowledged after the cut; a serializable read returns the member's old data.

After each run the history must be linearizable, no acknowledged write lost, every member must hold the same
data and, for ledgerkv, every member's stopped data dir must audit to the same ledger (`ledgerkv audit`: the
same `tree size N root HEX`). Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests).
"""
import collections
import re
import subprocess
import threading
import time

import grpc
import pytest

import lkvtest
from cluster import started
from etcd3 import etcdrpc
from linearizability import READ, WRITE, Op, check
from peer_proxy import ProxiedCluster
from recorder import Recorder, range_prefix
from test_cluster import WORKLOAD, converged, verify

FAULT_TIMEOUT = 10.0  # for a new leader, a first write, a step-down, a rejoin
READ_TIMEOUT = 1.0  # gRPC deadline of the minority reads
EARLY_READ_TIMEOUT = 3.0  # a read sent as the leader is cut off: past the majority's election and write
QUIET_TIMEOUT = 10.0
AUDIT_LINE = re.compile(r"tree size (\d+) root ([0-9a-f]{64})")


@pytest.fixture
def cluster():
    yield from started(cls=ProxiedCluster)


def leader_among(members, timeout=FAULT_TIMEOUT):
    """Waits until every one of members names the same leader, one of them; returns it (asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {}
        for m in members:
            try:
                seen[m.name] = m.status().leader
            except grpc.RpcError as e:
                seen[m.name] = e.code().name
        ids = set(seen.values())
        lead = next((m for m in members if len(ids) == 1 and m.id == next(iter(ids))), None)
        if lead is not None:
            return lead
        assert time.monotonic() < deadline, "no common leader among %s after %.0fs: %s" % (
            [m.name for m in members], timeout, seen)
        time.sleep(0.05)


def wait_step_down(member, timeout=FAULT_TIMEOUT):
    """Seconds until member's Status no longer names itself leader (asserts within timeout)."""
    t0 = time.monotonic()
    while member.status().leader == member.id:
        assert time.monotonic() - t0 < timeout, "%s still claims to lead %.0fs after it was cut off" % (
            member.name, timeout)
        time.sleep(0.05)
    return time.monotonic() - t0


def clients_on(rec, member):
    return {c.cid for c in rec.clients if c.endpoint == member.endpoint}


def answered_between(rec, cids, t0, t1):
    """Writes and CAS (any outcome) of clients cids invoked at or after t0 and answered before t1."""
    return [op for op in rec.snapshot() if op.kind != READ and op.client in cids and not op.unknown
            and op.call >= t0 and op.ret < t1]


def wait_write_by(rec, cids, since, timeout=FAULT_TIMEOUT):
    """Waits for an acknowledged write of one of clients cids invoked after since (asserts)."""
    deadline = time.monotonic() + timeout
    while not [op for op in rec.acked_writes(since=since) if op.client in cids]:
        assert time.monotonic() < deadline, "clients %s had no write acknowledged within %.0fs: %s" % (
            sorted(cids), timeout, rec.summary())
        time.sleep(0.05)


def audit(member):
    """(tree size, root) of `ledgerkv audit` on the stopped member's data dir (asserts it passes)."""
    p = subprocess.run([lkvtest.ledgerkv_bin(), "audit", "--data-dir", member.data_dir], capture_output=True,
                       text=True, timeout=120, env=lkvtest.child_env())
    assert p.returncode == 0, "audit of %s failed: %s%s" % (member.name, p.stdout, p.stderr)
    m = AUDIT_LINE.fullmatch(p.stdout.strip().splitlines()[-1])
    assert m, p.stdout
    return int(m.group(1)), m.group(2)


def same_ledger(cluster):
    """Waits until every member reports the same commit index and revision, stops the members (followers
    first: no leadership change after the data was compared) and, for ledgerkv, asserts that every data dir
    audits to the same tree size and root."""
    deadline = time.monotonic() + QUIET_TIMEOUT
    last = None
    while True:
        now = {m.name: (s.raftIndex, s.header.revision) for m, s in
               ((m, m.status()) for m in cluster.members)}
        if len(set(now.values())) == 1 and now == last:
            break
        assert time.monotonic() < deadline, "members did not settle on one index and revision: %s" % now
        last = now
        time.sleep(0.2)
    lead = cluster.wait_ready()
    for m in cluster.members:
        if m is not lead:
            m.stop()
    # A leader stopping hands over to a follower first; with none left it would wait for a transferee until
    # the request timeout (ledgerkv does): stop it once CheckQuorum has made it step down.
    end = time.monotonic() + 4 * cluster.election_timeout
    while lead.status().leader == lead.id and time.monotonic() < end:
        time.sleep(0.05)
    lead.stop()
    if cluster.kind != "ledgerkv":
        return
    trees = {m.name: audit(m) for m in cluster.members}
    print("ledgers:", trees)
    assert len(set(trees.values())) == 1, "members' ledgers differ after the partition healed: %s" % trees


def partitioned_run(cluster, prefix, pick, fault, during):
    """A recorded workload on every member: WORKLOAD seconds, then fault(member) (cut_off or mute) on the
    member pick() returns, during(rec, member, rest, t_cut) while it lasts, then the heal, after which the
    member must serve its clients again. Returns (recorder, member, rest, t_cut, t_heal).

    Until it has, the others' clients are held: it answers a request once it has applied everything the
    others took while it was cut off, and with the machine's CPUs full (sanitizers, a loaded CI host) it
    applies no faster than they go on taking writes, so its backlog (seconds of their work) would outlast
    every client deadline for as long as they kept writing."""
    rec = Recorder(cluster.members, prefix).start()
    try:
        time.sleep(WORKLOAD)
        target = pick()
        rest = [m for m in cluster.members if m is not target]
        fault(target)
        t_cut = time.monotonic()
        during(rec, target, rest, t_cut)
        cluster.heal(target)
        t_heal = time.monotonic()
        mine = clients_on(rec, target)
        rec.hold({c.cid for c in rec.clients} - mine)
        cluster.wait_ready(timeout=FAULT_TIMEOUT)
        wait_write_by(rec, mine, t_heal)  # it serves its clients again
        rec.release()
        time.sleep(WORKLOAD / 2)
    finally:
        rec.stop()
    return rec, target, rest, t_cut, t_heal


def check_isolated(rec, target, rest, t_cut, t_heal, min_majority_writes):
    """A member cut off answered no write or CAS sent to it after the cut; the others acknowledged writes."""
    answered = answered_between(rec, clients_on(rec, target), t_cut, t_heal)
    assert not answered, "cut-off %s answered writes sent after the cut:\n%s" % (
        target.name, "\n".join(map(str, answered)))
    majority = set().union(*(clients_on(rec, m) for m in rest))
    during = [op for op in rec.acked_writes(since=t_cut) if op.client in majority and op.ret < t_heal]
    assert len(during) >= min_majority_writes, "the others took %d writes while %s was cut off: %s" % (
        len(during), target.name, rec.summary())


def test_leader_cut_off_during_workload(cluster):
    def during(rec, old, rest, t_cut):
        new = leader_among(rest)
        took = rec.wait_write_after(t_cut, timeout=FAULT_TIMEOUT)
        assert took is not None, "the majority took no write within %.0fs of the cut: %s" % (
            FAULT_TIMEOUT, rec.summary())
        down = wait_step_down(old)
        print("leader %s cut off: %s leads, first write %.3f s after the cut, %s stepped down after %.3f s" % (
            old.name, new.name, took, old.name, down))
        time.sleep(WORKLOAD)

    rec, old, rest, t_cut, t_heal = partitioned_run(cluster, "partition/leader/", cluster.wait_ready,
                                                    cluster.cut_off, during)
    check_isolated(rec, old, rest, t_cut, t_heal, 1)
    verify(cluster, rec)
    same_ledger(cluster)


def test_follower_cut_off_during_workload(cluster):
    def during(rec, follower, rest, t_cut):
        time.sleep(3 * cluster.election_timeout)  # longer than a client's deadline and an election timeout
        leader_among(rest)

    rec, follower, rest, t_cut, t_heal = partitioned_run(cluster, "partition/follower/",
                                                         lambda: cluster.followers()[0], cluster.cut_off, during)
    check_isolated(rec, follower, rest, t_cut, t_heal, 5)
    verify(cluster, rec)
    same_ledger(cluster)


def test_leader_muted_during_workload(cluster):
    """One way: what the leader sends is held, what it is sent arrives."""
    def during(rec, old, rest, t_cut):
        new = leader_among(rest)
        wait_write_by(rec, set().union(*(clients_on(rec, m) for m in rest)), t_cut)
        # It hears the new leader (a higher term) but cannot answer: it follows.
        deadline = time.monotonic() + FAULT_TIMEOUT
        while old.status().leader != new.id:
            assert time.monotonic() < deadline, "muted %s does not follow %s" % (old.name, new.name)
            time.sleep(0.05)
        print("leader %s muted: %s leads, %s follows it" % (old.name, new.name, old.name))
        time.sleep(WORKLOAD)

    rec, _, _, _, _ = partitioned_run(cluster, "partition/muted/", cluster.wait_ready, cluster.mute, during)
    verify(cluster, rec)
    same_ledger(cluster)


def put(member, key, value):
    member.kv().Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()), timeout=5)


def read(member, key, serializable, timeout=READ_TIMEOUT):
    resp = member.kv().Range(etcdrpc.RangeRequest(key=key.encode(), serializable=serializable), timeout=timeout)
    return resp.kvs[0].value.decode() if resp.kvs else None


def minority_reads(minority, key, newest, duration):
    """Linearizable reads on the cut-off member for duration seconds, all invoked after the majority
    acknowledged newest: each must fail, or return newest. Returns {gRPC code name or "ok": count}."""
    codes = collections.Counter()
    end = time.monotonic() + duration
    while time.monotonic() < end:
        try:
            got = read(minority, key, serializable=False)
        except grpc.RpcError as e:
            codes[e.code().name] += 1
            time.sleep(0.05)  # a member that refuses at once is asked again, not flooded
            continue
        assert got == newest, "a linearizable read on cut-off %s returned %r after the majority acknowledged " \
            "%r" % (minority.name, got, newest)
        codes["ok"] += 1
    return dict(codes)


def test_reads_on_a_cut_off_member(cluster):
    key = "partition/reads/k"
    lead = cluster.wait_ready()
    follower = cluster.followers()[0]
    put(lead, key, "v1")
    assert read(follower, key, serializable=False) == "v1"

    # A follower on its own: the leader takes v2, the follower still has v1 and must not say so when asked
    # for a linearizable read.
    cluster.cut_off(follower)
    put(lead, key, "v2")
    assert read(follower, key, serializable=True) == "v1", "the cut-off follower got the write: no partition"
    codes = minority_reads(follower, key, "v2", 3 * cluster.election_timeout)
    print("linearizable reads on the cut-off follower:", codes)
    cluster.heal(follower)
    cluster.wait_ready(timeout=FAULT_TIMEOUT)
    converged(cluster, key)
    assert read(follower, key, serializable=False) == "v2"

    # The leader on its own: a read sent to it at once (it may still believe it leads), with a deadline past
    # the majority's election and its write of v3, must not answer v2b after v3 was acknowledged (the
    # history of the two must be linearizable); every read sent after v3 was acknowledged must fail.
    old = cluster.wait_ready()
    rest = [m for m in cluster.members if m is not old]
    history = []

    def timed(op, fn):
        op.call = time.monotonic()
        try:
            op.output = fn()
            op.ret = time.monotonic()
        except grpc.RpcError:
            if op.kind == READ:
                return
        history.append(op)

    timed(Op(WRITE, key, 0, None, value="v2b", client="before"), lambda: put(old, key, "v2b") or True)
    cluster.cut_off(old)
    early_read = Op(READ, key, 0, None, client="early")
    early = threading.Thread(target=timed, args=(
        early_read, lambda: read(old, key, serializable=False, timeout=EARLY_READ_TIMEOUT)))
    early.start()
    new = leader_among(rest)
    v3 = Op(WRITE, key, 0, None, value="v3", client="majority")
    timed(v3, lambda: put(new, key, "v3") or True)
    assert not v3.unknown, "the majority did not take v3"
    assert read(old, key, serializable=True) == "v2b", "the cut-off leader got the write: no partition"
    codes = minority_reads(old, key, "v3", 3 * cluster.election_timeout)
    print("linearizable reads on the cut-off leader:", codes)
    early.join()
    print("history:", *history, sep="\n  ")
    res = check(history, initial="v2")
    assert res.ok, "reads on the cut-off leader: %s\n%s" % (res.explanation, "\n".join(map(str, history)))
    cluster.heal(old)
    cluster.wait_ready(timeout=FAULT_TIMEOUT)
    assert read(old, key, serializable=False) == "v3"
    rows = converged(cluster, key)
    assert [(k, v) for k, v, _, _, _ in rows] == [(key.encode(), b"v3")]
    same_ledger(cluster)
