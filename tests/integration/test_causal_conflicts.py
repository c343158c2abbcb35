"""The Conflicts service of causal mode (ledgerkvpb.Conflicts, docs/causal.md §13) with three real members
whose peer traffic passes through peer_proxy's proxies (test_causal.py's cluster).

- A key written on both sides of a partition: after the heal every member lists the same two siblings with
  the same winner and context; Range shows that winner everywhere.
- WatchConflicts on one member starts with the conflicts in range (none), sees the conflict appear and, after
  the resolve, disappear.
- ReplicationStatus: every member's vector covers the winner once all have it; `ledgerkv causal-status`
  prints the vectors and which cover a write.
- Resolve with a context naming one sibling supersedes exactly that one (the other stays, beside the resolve,
  on every member); a resolve with the full context leaves one sibling, the resolved value, everywhere.
- A member stops cleanly with a WatchConflicts stream open.
- Refusals: a context that leaves out a sibling the serving member wrote, a context naming a write the member
  has not applied, a malformed context; under the NOSPACE alarm a resolve to a value is refused as a Put
  (a resolve by deletion goes through); Raft mode answers FAILED_PRECONDITION.

The Python stubs come from src/proto/ledgerkv.proto through protoc at import (as clients would build them).
ledgerkv only: etcd has no causal mode.
"""
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading

import grpc
import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster, put

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "proto")
_STUBS = tempfile.mkdtemp(prefix="lkv-conflicts-pb-")
subprocess.run(["protoc", "-I" + PROTO_DIR, "--python_out=" + _STUBS, "ledgerkv.proto"], check=True)
sys.path.insert(0, _STUBS)
import ledgerkv_pb2 as pb  # noqa: E402

SERVICE = "/ledgerkvpb.Conflicts/"


def call(member, method, request, resp_cls, timeout=5):
    stub = member.channel().unary_unary(SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=resp_cls.FromString)
    return stub(request, timeout=timeout)


def siblings(member, key):
    return call(member, "Siblings", pb.SiblingsRequest(key=key.encode()), pb.SiblingsResponse)


def resolve(member, key, context, value):
    return call(member, "Resolve", pb.ResolveRequest(key=key.encode(), context=context, value=value.encode()),
                pb.ResolveResponse)


def status(member, **kwargs):
    return call(member, "ReplicationStatus", pb.ReplicationStatusRequest(**kwargs), pb.ReplicationStatusResponse)


def view(resp):
    """A Siblings answer as comparable data: ((origin, seq, value, winner), ...) in the answer's order."""
    return tuple((s.event.origin, s.event.seq, s.value.decode(), s.winner) for s in resp.siblings)


def same_siblings(members, key, count):
    """every member lists the same `count` siblings of key, with the same context"""
    answers = [siblings(m, key) for m in members]
    first = answers[0]
    if len(first.siblings) != count or any(
            (view(a), a.context) != (view(first), first.context) for a in answers):
        return None
    return first


def context_of(*ids):
    """A context naming (origin, seq) events, in docs/causal.md §13's encoding."""
    ids = sorted(ids)
    return b"\x01" + b"".join(struct.pack("<QQ", o, s) for o, s in ids) if ids else b""


def member_id(member):
    return etcdrpc.MaintenanceStub(member.channel()).Status(etcdrpc.StatusRequest(), timeout=5).header.member_id


def range_value(member, key):
    kvs = member.kv().Range(etcdrpc.RangeRequest(key=key.encode()), timeout=2).kvs
    return kvs[0].value.decode() if kvs else None


class ConflictWatch:
    """WatchConflicts on a prefix, its responses gathered by a thread."""

    def __init__(self, member, prefix):
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        stub = member.channel().unary_stream(SERVICE + "WatchConflicts",
                                             request_serializer=lambda m: m.SerializeToString(),
                                             response_deserializer=pb.WatchConflictsResponse.FromString)
        self.stream = stub(pb.WatchConflictsRequest(key=prefix.encode(), range_end=end.encode()))
        self.got = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for resp in self.stream:
                self.got.put(resp)
        except grpc.RpcError:
            pass

    def next_event(self, timeout=CONVERGE_TIMEOUT):
        resp = self.got.get(timeout=timeout)
        assert len(resp.events) == 1, resp
        return resp.events[0]

    def close(self):
        self.stream.cancel()
        self.thread.join(5)


@pytest.fixture
def cluster():
    yield from started(cls=CausalCluster)


def expect_refusal(fn, code, words):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    assert e.value.code() == code and words in e.value.details(), e.value


def test_conflict_listed_watched_resolved(cluster):
    a, b, c = cluster.members
    ids = {m.name: member_id(m) for m in cluster.members}
    watch = ConflictWatch(a, "conf/")
    ConflictWatch(c, "conf/")  # left open: the members must stop cleanly with it
    first = watch.got.get(timeout=CONVERGE_TIMEOUT)
    assert list(first.events) == [] and first.member_id == ids["m1"]  # nothing in conflict yet

    # One key written on both sides of a partition: two siblings everywhere after the heal.
    cluster.cut_off(c)
    put(a, "conf/k", "left")
    put(c, "conf/k", "right")
    cluster.heal(c)
    both = wait_for(lambda: same_siblings(cluster.members, "conf/k", 2), CONVERGE_TIMEOUT)
    origins = {s.event.origin: s for s in both.siblings}
    assert set(origins) == {ids["m1"], ids["m3"]}
    assert origins[ids["m1"]].value == b"left" and origins[ids["m3"]].value == b"right"
    winner = both.siblings[0]
    assert winner.winner and not both.siblings[1].winner
    assert all(range_value(m, "conf/k") == winner.value.decode() for m in cluster.members)
    ev = watch.next_event()
    assert ev.key == b"conf/k" and ev.conflicted and ev.context == both.context

    # Every member's vector covers the winner once all have it (heard through anti-entropy).
    covered = wait_for(lambda: all(v.covers for v in status(b, key=b"conf/k").members) and status(b, key=b"conf/k"),
                       CONVERGE_TIMEOUT)
    assert covered.event.origin == winner.event.origin and covered.event.seq == winner.event.seq
    assert [v.member_id for v in covered.members][0] == ids["m2"] and len(covered.members) == 3

    # Refused: a context leaving out c's own sibling (on c), one naming a write not applied, a malformed one.
    expect_refusal(lambda: resolve(c, "conf/k", context_of(), "x"), grpc.StatusCode.FAILED_PRECONDITION,
                   "does not name")
    expect_refusal(lambda: resolve(b, "conf/k", context_of((ids["m1"], 10 ** 6)), "x"),
                   grpc.StatusCode.FAILED_PRECONDITION, "has not applied")
    expect_refusal(lambda: resolve(b, "conf/k", b"\x07junk", "x"), grpc.StatusCode.INVALID_ARGUMENT,
                   "malformed context")

    # A resolve naming only a's sibling supersedes exactly it: c's stays, beside the resolve, everywhere.
    left = origins[ids["m1"]].event
    partial = resolve(b, "conf/k", context_of((left.origin, left.seq)), "partial")
    assert partial.event.origin == ids["m2"] and partial.member_id == ids["m2"]
    now = wait_for(lambda: same_siblings(cluster.members, "conf/k", 2), CONVERGE_TIMEOUT)
    assert {(s.event.origin, s.event.seq) for s in now.siblings} == {
        (ids["m3"], origins[ids["m3"]].event.seq), (ids["m2"], partial.event.seq)}
    ev = watch.next_event()
    assert ev.conflicted and ev.context == now.context

    # The full context: one sibling, the resolved value, on every member; the watch sees the conflict end.
    full = resolve(b, "conf/k", now.context, "resolved")
    done = wait_for(lambda: same_siblings(cluster.members, "conf/k", 1), CONVERGE_TIMEOUT)
    assert view(done) == ((ids["m2"], full.event.seq, "resolved", True),)
    assert all(range_value(m, "conf/k") == "resolved" for m in cluster.members)
    ev = watch.next_event()
    assert ev.key == b"conf/k" and not ev.conflicted and [s.value for s in ev.siblings] == [b"resolved"]
    wait_for(lambda: all(v.covers for v in status(a, event=full.event).members), CONVERGE_TIMEOUT)
    watch.close()

    # The operator's view: `ledgerkv causal-status` prints the same (vectors only grow).
    out = subprocess.run([lkvtest.ledgerkv_bin(), "causal-status", "--endpoints", a.endpoint, "--event",
                          "%x:%d" % (full.event.origin, full.event.seq)], capture_output=True, text=True,
                         timeout=10, check=True).stdout
    seen = json.loads(out)
    assert seen["member_id"] == "%x" % ids["m1"] and seen["event"] == {"origin": "%x" % ids["m2"],
                                                                      "seq": full.event.seq}
    assert [m["id"] for m in seen["members"]][0] == "%x" % ids["m1"]
    assert all(m["covers"] and m["vector"]["%x" % ids["m2"]] >= full.event.seq for m in seen["members"])


def test_refused_in_raft_mode():
    with lkvtest.Factory() as f:
        srv = f.start()
        for method, req, resp in (("Siblings", pb.SiblingsRequest(key=b"k"), pb.SiblingsResponse),
                                  ("ReplicationStatus", pb.ReplicationStatusRequest(), pb.ReplicationStatusResponse)):
            expect_refusal(lambda: call(srv, method, req, resp), grpc.StatusCode.FAILED_PRECONDITION,
                           "causal mode only")


def test_resolve_refused_like_a_put_under_nospace():
    with lkvtest.Factory() as f:
        srv = f.start(args=["--consistency=causal"])
        put(srv, "k", "v")
        ctx = siblings(srv, "k").context
        maint = etcdrpc.MaintenanceStub(srv.channel())
        maint.Alarm(etcdrpc.AlarmRequest(action=etcdrpc.AlarmRequest.ACTIVATE, memberID=member_id(srv),
                                         alarm=etcdrpc.NOSPACE), timeout=5)
        expect_refusal(lambda: resolve(srv, "k", ctx, "x"), grpc.StatusCode.RESOURCE_EXHAUSTED,
                       "database space exceeded")
        gone = call(srv, "Resolve", pb.ResolveRequest(key=b"k", context=ctx, tombstone=True), pb.ResolveResponse)
        assert gone.revision == 3 and range_value(srv, "k") is None
        # The resolve's tombstone, or nothing: a one-member cluster's sole tombstone is stable at once and the
        # next anti-entropy tick (100 ms) purges it (docs/causal.md §7), so a loaded machine may ask after it.
        assert [s.tombstone for s in siblings(srv, "k").siblings] in ([True], [])
