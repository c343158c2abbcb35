"""Watches in a three-member cluster (issue 12 item 10): a watch on a follower sees the same revisions and
events as one on the leader; streams that require a leader (clientv3's WithRequireLeader: gRPC metadata
"hasleader: true") are ended with "etcdserver: no leader" on a member that lost its leader, as etcd's monitor
does, while other streams stay open; new such streams and unary requests are refused at once.

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests) and against ledgerkv otherwise.
"""
import queue
import threading
import time

import grpc
import pytest
from etcd3 import etcdrpc

from cluster import started
from recorder import prefix_end

REQUIRE_LEADER = (("hasleader", "true"),)
NO_LEADER = "etcdserver: no leader"


@pytest.fixture(scope="module")
def cluster():
    yield from started()


class Stream:
    """A bidirectional stream (Watch or LeaseKeepAlive) fed from a queue, read by a thread that records the
    responses, and the error and time it ended with."""

    def __init__(self, method, first, metadata=None):
        self.requests = queue.Queue()
        self.requests.put(first)
        self.responses, self.error, self.ended_at = [], None, None
        self.cond = threading.Condition()
        self.call = method(iter(self.requests.get, None), metadata=metadata)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for resp in self.call:
                with self.cond:
                    self.responses.append(resp)
                    self.cond.notify_all()
        except grpc.RpcError as e:
            self.error = e
        with self.cond:
            self.ended_at = time.monotonic()
            self.cond.notify_all()

    def wait(self, pred, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: pred(self), timeout)

    def close(self):
        self.requests.put(None)
        self.call.cancel()
        self.thread.join(timeout=5)


def watch(member, prefix, metadata=None):
    create = etcdrpc.WatchCreateRequest(key=prefix, range_end=prefix_end(prefix))
    return Stream(etcdrpc.WatchStub(member.channel()).Watch, etcdrpc.WatchRequest(create_request=create), metadata)


def events(stream):
    return [(ev.type, ev.kv.key, ev.kv.value, ev.kv.mod_revision) for r in stream.responses for ev in r.events]


def test_watch_on_followers_sees_what_the_leader_sees(cluster):
    prefix = b"cluster-watch/same/"
    lead = cluster.wait_ready()
    streams = {m.name: watch(m, prefix) for m in cluster.members}
    try:
        for s in streams.values():
            assert s.wait(lambda s: s.responses, 10), "no created response"
        last = 0
        for i in range(12):  # writes through every member, deletes among them
            m = cluster.members[i % 3]
            key = prefix + b"k%d" % (i % 4)
            if i % 5 == 4:
                last = m.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=key), timeout=10).header.revision
            else:
                last = m.kv().Put(etcdrpc.PutRequest(key=key, value=b"v%d" % i), timeout=10).header.revision
        for name, s in streams.items():
            assert s.wait(lambda s: any(ev[3] >= last for ev in events(s)), 10), (name, events(s))
        want = events(streams[lead.name])
        assert len(want) >= 10 and want[-1][3] == last, want
        for name, s in streams.items():
            assert events(s) == want, name
            assert s.error is None, (name, s.error)
    finally:
        for s in streams.values():
            s.close()


def put_when_settled(cluster, key, timeout=10):
    """Puts key through the leader, retrying while an election is under way; returns the revision."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lead = cluster.wait_ready(timeout=timeout)
            return lead.kv().Put(etcdrpc.PutRequest(key=key, value=b"1"), timeout=5).header.revision
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_streams_requiring_a_leader_end_when_it_is_lost(cluster):
    lead = cluster.wait_ready()
    follower = cluster.followers()[0]
    prefix = b"cluster-watch/leader/"
    required = watch(follower, prefix, REQUIRE_LEADER)
    plain = watch(follower, prefix)
    lid = etcdrpc.LeaseStub(lead.channel()).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60, ID=0x1e5e), timeout=10).ID
    keepalive = Stream(etcdrpc.LeaseStub(follower.channel()).LeaseKeepAlive,
                       etcdrpc.LeaseKeepAliveRequest(ID=lid), REQUIRE_LEADER)
    others = [m for m in cluster.members if m is not follower]
    try:
        for s in (required, plain, keepalive):
            assert s.wait(lambda s: s.responses, 10), "no first response"
        t0 = time.monotonic()
        for m in others:
            cluster.pause(m)
        # etcd: the follower notices within an election or two, then its monitor cancels after 3 election
        # timeouts without a leader.
        limit = 8 * cluster.election_timeout + 1.0
        for s in (required, keepalive):
            assert s.wait(lambda s: s.ended_at is not None, limit), "still open %.1fs after the pause" % limit
            assert s.error.code() == grpc.StatusCode.UNAVAILABLE and s.error.details() == NO_LEADER, s.error
        took = max(required.ended_at, keepalive.ended_at) - t0
        print("streams requiring a leader ended %.2fs after the other members stopped (election %.1fs)" % (
            took, cluster.election_timeout))
        # Not at the first sign of trouble: etcd's monitor waits for 3 samples without a leader. (A ledgerkv
        # follower gives up on a silent leader after 2/5 of an election timeout, etcd's after one or two,
        # so the samples start earlier here: the bound is the samples' spacing, not etcd's total.)
        assert took >= cluster.election_timeout, "ended within one election timeout: %.2fs" % took
        assert plain.ended_at is None, plain.error
        # New requests that require a leader are refused at once.
        t1 = time.monotonic()
        late = watch(follower, prefix, REQUIRE_LEADER)
        assert late.wait(lambda s: s.ended_at is not None, 5)
        assert late.error.code() == grpc.StatusCode.UNAVAILABLE and late.error.details() == NO_LEADER
        with pytest.raises(grpc.RpcError) as err:
            follower.kv().Range(etcdrpc.RangeRequest(key=prefix, serializable=True), timeout=5,
                                metadata=REQUIRE_LEADER)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE and err.value.details() == NO_LEADER
        assert time.monotonic() - t1 < 2.0
        # Without the metadata a serializable read is still served.
        follower.kv().Range(etcdrpc.RangeRequest(key=prefix, serializable=True), timeout=5)
    finally:
        for m in others:
            cluster.resume(m)
    try:
        # The stream that did not require a leader still delivers (a write once the cluster has settled:
        # the resumed members may hold one more election).
        rev = put_when_settled(cluster, prefix + b"after")
        assert plain.wait(lambda s: any(ev[3] == rev for ev in events(s)), 10), events(plain)
    finally:
        for s in (required, plain, keepalive):
            s.close()
