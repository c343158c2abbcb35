"""Causal mode against etcd, one member at a time (issue 16 item 2, docs/causal.md §3: every applied event,
local or remote, takes the member's next revision, so Range, Watch, Txn and Compact behave on each member
exactly as etcd's).

Three ledgerkv members with --consistency=causal and a fresh etcd get the randomised workloads of
test_differential (KV: puts, deletes, ranges with every option at past, compacted and future revisions, txns
with compares and nested txns, compactions, expected errors) and test_watch_differential (the same watchers
on one member and on etcd). Each write goes to a member picked at random and returns once every member has
applied it, so no two writes are concurrent: each member applies the same events in the same order, and
each member's answers, state at past revisions and watch events (those another member's writes made through
the replication, in particular) must equal etcd's, field by field. A Range goes to a random member, a
Compact to every member (compaction is each member's own). The KV run kills one member (kill -9) half way,
compares its state after its restart and goes on.

ledgerkv only: etcd has no causal mode.
"""
import random
import time

import grpc
import pytest

import lkvtest
import test_differential as kvdiff
import test_watch_differential as watchdiff
from cluster import started
from etcd3 import etcdrpc
from test_causal import CausalCluster

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

SEEDS = [11, 12]
APPLIED_TIMEOUT = 10.0  # a write reaches the other members by its push, well within this


@pytest.fixture
def cluster():
    yield from started(cls=CausalCluster)


def revision(member):
    return member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0", count_only=True),
                             timeout=kvdiff.RPC_TIMEOUT).header.revision


class EveryMember:
    """Looks like one server to the differential tests: its KV calls go to the members as described above;
    its watch channel is the first member's."""

    kind = "ledgerkv causal"

    def __init__(self, members, seed):
        self.members = members
        self.r = random.Random(seed)

    def channel(self):
        return self.members[0].channel()

    def kv(self):
        return self

    def all_applied(self):
        """Waits until every member is at one revision (the last write's, or none moved)."""
        deadline = time.monotonic() + APPLIED_TIMEOUT
        while True:
            revs = [revision(m) for m in self.members]
            if len(set(revs)) == 1:
                return
            assert time.monotonic() < deadline, "members stayed at revisions %r" % revs
            time.sleep(0.005)

    def write(self, method, req, timeout):
        try:
            return getattr(self.r.choice(self.members).kv(), method)(req, timeout=timeout)
        finally:
            self.all_applied()

    def Put(self, req, timeout):
        return self.write("Put", req, timeout)

    def DeleteRange(self, req, timeout):
        return self.write("DeleteRange", req, timeout)

    def Txn(self, req, timeout):
        return self.write("Txn", req, timeout)

    def Range(self, req, timeout):
        return self.r.choice(self.members).kv().Range(req, timeout=timeout)

    def Compact(self, req, timeout):
        """Every member compacts its own history; they must all answer the same."""
        outcomes = []
        for m in self.members:
            try:
                outcomes.append(("ok", kvdiff.scrub(m.kv().Compact(req, timeout=timeout))))
            except grpc.RpcError as e:
                outcomes.append(("error", e))
        kinds = {(o[0], (o[1].code(), o[1].details()) if o[0] == "error" else o[1].SerializeToString())
                 for o in outcomes}
        assert len(kinds) == 1, "members answered Compact %s differently: %r" % (kvdiff.one_line(req), outcomes)
        if outcomes[0][0] == "error":
            raise outcomes[0][1]
        return outcomes[0][1]


@pytest.mark.parametrize("seed", SEEDS)
def test_kv_like_etcd_on_each_member(cluster, server_factory, seed):
    ref = server_factory.start("etcd")
    sut = EveryMember(cluster.members, seed)
    g = kvdiff.Gen(seed)
    deadline = time.monotonic() + 2 * kvdiff.SEED_BUDGET_S
    done, mismatches = kvdiff.run_ops(g, ref, sut, 0, kvdiff.OPS // 2, deadline)
    assert not mismatches, kvdiff.report(mismatches)
    assert done >= 100, "only %d operations ran within the budget" % done
    assert g.rev > 40, "workload wrote too little (revision %d)" % g.rev
    mismatches = kvdiff.state_check(g, ref, sut, "after the workload")
    assert not mismatches, kvdiff.report(mismatches)
    victim = sut.r.choice(cluster.members)
    cluster.kill(victim)
    cluster.restart(victim)
    sut.all_applied()
    mismatches = kvdiff.state_check(g, ref, sut, "after %s's restart (kill -9)" % victim.name)
    assert not mismatches, kvdiff.report(mismatches)
    more, mismatches = kvdiff.run_ops(g, ref, sut, done, kvdiff.OPS // 4, deadline + kvdiff.SEED_BUDGET_S)
    assert not mismatches, kvdiff.report(mismatches)
    assert more > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_watch_like_etcd_on_one_member(cluster, server_factory, seed):
    ref = server_factory.start("etcd")
    watchdiff.run_seed(seed, ref, EveryMember(cluster.members, seed))
