"""Membership and leadership of a running three-member cluster, as etcd 3.4 does them: a member added with
MemberAdd joins with --initial-cluster-state existing, serves the cluster's data and is listed by every
member; removing it stops it with etcd's message; MemberAdd/Remove/Update/Promote refuse with etcd's errors;
MoveLeader moves leadership (and refuses as etcd does); a leader stopped with SIGTERM hands over first;
etcd's "unhealthy cluster" check (members connected for less than 5 s, or down) refuses MemberAdd and
MemberRemove; a learner refuses every request but Status and serializable reads, streams included.

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the tests) and against ledgerkv otherwise.
"""
import subprocess
import time

import grpc
import pytest

import lkvtest
from etcd3 import etcdrpc
from cluster import Cluster, wait_for

TIMEOUT = 5.0


def three_members():
    c = Cluster(size=3)
    try:
        c.start()
        c.wait_ready()
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def cluster():
    """One cluster for the tests that leave it as they found it (three voters, all running: a member they
    add is removed, a member they stop is started again), so that etcd's 5 s health interval after a start
    is waited for once, not by each test."""
    yield from three_members()


@pytest.fixture
def fresh_cluster():
    """A cluster of its own, for a test that leaves four voters."""
    yield from three_members()


def cluster_stub(member):
    return etcdrpc.ClusterStub(member.channel())


def member_list(member):
    resp = cluster_stub(member).MemberList(etcdrpc.MemberListRequest(), timeout=TIMEOUT)
    return {m.ID: m for m in resp.members}


def refused(call, code, message):
    with pytest.raises(grpc.RpcError) as e:
        call()
    assert (e.value.code(), e.value.details()) == (code, message)


def put(member, key, value):
    etcdrpc.KVStub(member.channel()).Put(etcdrpc.PutRequest(key=key, value=value), timeout=TIMEOUT)


def get(member, key, serializable=False):
    resp = etcdrpc.KVStub(member.channel()).Range(
        etcdrpc.RangeRequest(key=key, serializable=serializable), timeout=TIMEOUT)
    return resp.kvs[0].value if resp.kvs else None


def watch(member, *keys):
    """A Watch stream with a watch on each key (its request stream half-closes after the creates; the
    watches stay open)."""
    creates = [etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=k)) for k in keys]
    return etcdrpc.WatchStub(member.channel()).Watch(iter(creates), timeout=TIMEOUT)


def keepalive(member, *lease_ids):
    """The responses of a LeaseKeepAlive stream that sends a renewal of each lease and half-closes."""
    return list(etcdrpc.LeaseStub(member.channel()).LeaseKeepAlive(
        iter([etcdrpc.LeaseKeepAliveRequest(ID=i) for i in lease_ids]), timeout=TIMEOUT))


def retry_unhealthy(call, timeout=15.0):
    """etcd refuses membership changes for its first 5 s ("etcdserver: unhealthy cluster", until every member
    has been connected for its health interval); retries that answer only."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as e:
            if e.details() != "etcdserver: unhealthy cluster" or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_add_join_serve_remove(cluster):
    lead = cluster.wait_ready()
    follower = cluster.followers()[0]
    put(lead, b"before-join", b"1")
    d = cluster.new_member("m4")
    resp = retry_unhealthy(lambda: cluster_stub(follower).MemberAdd(
        etcdrpc.MemberAddRequest(peerURLs=[d.peer_url]), timeout=TIMEOUT))
    assert list(resp.member.peerURLs) == [d.peer_url]
    assert len(resp.members) == 4
    new_id = resp.member.ID
    d.start()
    d.status()
    assert d.id == new_id  # the joiner found the id MemberAdd gave it

    def joined():
        """the new member to serve the data written before it joined"""
        return get(d, b"before-join") == b"1"
    wait_for(joined)
    put(d, b"after-join", b"2")  # a write through the new member
    assert get(follower, b"after-join") == b"2"

    def everyone_lists_it():
        """every member to list the new member with its name and URLs"""
        for m in cluster.members:
            listed = member_list(m).get(new_id)
            if listed is None or listed.name != "m4" or list(listed.clientURLs) != [d.url]:
                return False
        return True
    wait_for(everyone_lists_it)

    lead = cluster.wait_ready()
    retry_unhealthy(lambda: cluster_stub(lead).MemberRemove(etcdrpc.MemberRemoveRequest(ID=new_id), timeout=TIMEOUT))
    deadline = time.monotonic() + 15
    while d.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not d.alive(), "a removed member stops"
    assert "the member has been permanently removed from the cluster" in d.log_text()
    d.kill()  # reap it
    cluster.members.remove(d)
    assert set(member_list(cluster.wait_ready())) == {m.id for m in cluster.members}
    put(cluster.wait_ready(), b"after-remove", b"3")


def etcdctl(member, *args):
    """etcdctl 3.4 against member (python-etcd3's protos predate learners)."""
    return subprocess.run([lkvtest.ETCDCTL_BIN, "--endpoints", member.url.replace("http://", "")] + list(args),
                          capture_output=True, text=True, env=lkvtest.child_env())


def test_unhealthy_cluster_refuses_membership_changes(cluster):
    """etcd's mayAddMember / mayRemoveMember: the member asked must have been connected to every voter for
    5 s to add one, and removing a live voter must leave a quorum of members connected that long; a member
    that is down may always be removed."""
    lead = cluster.wait_ready()
    live, down = cluster.followers()
    UN = grpc.StatusCode.UNAVAILABLE
    unhealthy = "etcdserver: unhealthy cluster"
    stub = cluster_stub(lead)

    def add():
        spare = "http://127.0.0.1:%d" % lkvtest.free_port()  # never started
        return stub.MemberAdd(etcdrpc.MemberAddRequest(peerURLs=[spare]), timeout=TIMEOUT).member.ID

    def remove(member_id):
        stub.MemberRemove(etcdrpc.MemberRemoveRequest(ID=member_id), timeout=TIMEOUT)

    remove(retry_unhealthy(add))  # healthy once 5 s old; a member never started is down: removable at once

    cluster.kill(down)
    time.sleep(1)  # for the leader to see the connection close (etcd's stream reader, our dialer's read)
    refused(lambda: remove(live.id), UN, unhealthy)  # would leave one of two members connected
    refused(add, UN, unhealthy)
    out = etcdctl(lead, "member", "add", "spare", "--learner", "--peer-urls",
                  "http://127.0.0.1:%d" % lkvtest.free_port())
    assert out.returncode != 0 and unhealthy in out.stderr  # learners too
    came_back = time.monotonic()
    cluster.restart(down)
    cluster.wait_ready()
    refused(add, UN, unhealthy)  # connected again, for less than 5 s
    spare_id = retry_unhealthy(add)
    assert time.monotonic() - came_back >= 5.0
    remove(spare_id)
    assert set(member_list(lead)) == {m.id for m in cluster.members}


def test_no_strict_reconfig_check_skips_the_health_check():
    """With --strict-reconfig-check=false a change is proposed without etcd's checks: a learner is added
    while a member is down (refused with "unhealthy cluster" otherwise, as the test above shows)."""
    with Cluster(size=3, extra_flags=["--strict-reconfig-check=false"]) as c:
        lead = c.start()
        down = c.followers()[0]
        c.kill(down)
        spare = "http://127.0.0.1:%d" % lkvtest.free_port()
        out = etcdctl(lead, "member", "add", "spare", "--learner", "--peer-urls", spare)
        assert out.returncode == 0, out.stderr
        learner_id = next(i for i, m in member_list(lead).items() if list(m.peerURLs) == [spare])
        assert etcdctl(lead, "member", "remove", "%x" % learner_id).returncode == 0
        c.restart(down)


def test_membership_errors(cluster):
    lead = cluster.wait_ready()
    # A learner that never starts: at most one, never in sync, removable. Added first: etcd refuses
    # changes while its cluster is younger than its health interval.
    spare = "http://127.0.0.1:%d" % lkvtest.free_port()
    deadline = time.monotonic() + 15
    while True:
        out = etcdctl(lead, "member", "add", "spare", "--learner", "--peer-urls", spare)
        if out.returncode == 0 or "unhealthy cluster" not in out.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out.returncode == 0, out.stderr
    learner_id = next(i for i, m in member_list(lead).items() if list(m.peerURLs) == [spare])
    spare2 = "http://127.0.0.1:%d" % lkvtest.free_port()
    out = etcdctl(lead, "member", "add", "spare2", "--learner", "--peer-urls", spare2)
    assert out.returncode != 0 and "etcdserver: too many learner members in cluster" in out.stderr
    for asked in (lead, cluster.followers()[0]):  # a follower forwards it to the leader
        out = etcdctl(asked, "member", "promote", "%x" % learner_id)
        assert out.returncode != 0
        assert "etcdserver: can only promote a learner member which is in sync with leader" in out.stderr
    out = etcdctl(lead, "member", "promote", "%x" % lead.id)
    assert out.returncode != 0 and "etcdserver: can only promote a learner member" in out.stderr
    assert etcdctl(lead, "member", "remove", "%x" % learner_id).returncode == 0
    assert learner_id not in member_list(lead)

    stub = cluster_stub(lead)
    FP, NF, IA = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT
    refused(lambda: stub.MemberAdd(etcdrpc.MemberAddRequest(peerURLs=["127.0.0.1:1"]), timeout=TIMEOUT), IA,
            "etcdserver: given member URLs are invalid")
    refused(lambda: stub.MemberAdd(etcdrpc.MemberAddRequest(peerURLs=[lead.peer_url]), timeout=TIMEOUT), FP,
            "etcdserver: Peer URLs already exists")
    refused(lambda: stub.MemberRemove(etcdrpc.MemberRemoveRequest(ID=12345), timeout=TIMEOUT), NF,
            "etcdserver: member not found")
    refused(lambda: stub.MemberRemove(etcdrpc.MemberRemoveRequest(ID=learner_id), timeout=TIMEOUT), NF,
            "etcdserver: member not found")  # removed members stay removed
    refused(lambda: stub.MemberUpdate(etcdrpc.MemberUpdateRequest(ID=12345, peerURLs=["http://127.0.0.1:9"]),
                                      timeout=TIMEOUT), NF, "etcdserver: member not found")
    other = cluster.followers()[0]
    refused(lambda: stub.MemberUpdate(etcdrpc.MemberUpdateRequest(ID=lead.id, peerURLs=[other.peer_url]),
                                      timeout=TIMEOUT), FP, "etcdserver: Peer URLs already exists")


def test_move_leader(cluster):
    lead = cluster.wait_ready()
    follower, other = cluster.followers()
    mstub = etcdrpc.MaintenanceStub
    FP = grpc.StatusCode.FAILED_PRECONDITION
    refused(lambda: mstub(follower.channel()).MoveLeader(etcdrpc.MoveLeaderRequest(targetID=other.id),
                                                         timeout=TIMEOUT), FP, "etcdserver: not leader")
    refused(lambda: mstub(lead.channel()).MoveLeader(etcdrpc.MoveLeaderRequest(targetID=4242), timeout=TIMEOUT),
            FP, "etcdserver: bad leader transferee")
    mstub(lead.channel()).MoveLeader(etcdrpc.MoveLeaderRequest(targetID=follower.id), timeout=TIMEOUT)
    assert cluster.wait_ready() is follower


def test_sigterm_on_leader_hands_over(cluster):
    lead = cluster.wait_ready()
    term = lead.status().raftTerm
    lead.stop()
    start = time.monotonic()
    new = cluster.wait_ready()
    took = time.monotonic() - start
    assert new is not lead
    # A hand-over, not an election after a timeout: one term later, well within an election timeout.
    assert new.status().raftTerm == term + 1
    assert took < cluster.election_timeout, took
    cluster.restart(lead)


def test_learner_serves_serializable_reads_then_is_promoted(fresh_cluster):
    cluster = fresh_cluster
    lead = cluster.wait_ready()
    put(lead, b"seen-by-learner", b"1")
    e = cluster.new_member("m4")
    deadline = time.monotonic() + 15
    while True:
        out = etcdctl(lead, "member", "add", "m4", "--learner", "--peer-urls", e.peer_url)
        if out.returncode == 0 or "unhealthy cluster" not in out.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out.returncode == 0, out.stderr
    e.start()

    def caught_up():
        """the learner to serve a serializable read of earlier data"""
        return get(e, b"seen-by-learner", serializable=True) == b"1"
    wait_for(caught_up)
    assert e.status().header.member_id == e.id
    UN = grpc.StatusCode.UNAVAILABLE
    refused(lambda: get(e, b"seen-by-learner"), UN, "etcdserver: rpc not supported for learner")
    refused(lambda: put(e, b"k", b"v"), UN, "etcdserver: rpc not supported for learner")
    refused(lambda: member_list(e), UN, "etcdserver: rpc not supported for learner")
    # Streams too (etcd's stream interceptor), ended with the same status.
    lease_id = etcdrpc.LeaseStub(lead.channel()).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=60), timeout=TIMEOUT).ID
    refused(lambda: list(watch(e, b"a", b"b")), UN, "etcdserver: rpc not supported for learner")
    refused(lambda: keepalive(e, lease_id, lease_id), UN, "etcdserver: rpc not supported for learner")

    voter_follower = next(m for m in cluster.followers() if m is not e)

    def promoted():
        """the caught-up learner to be promoted, asked of a follower (which forwards it to the leader)"""
        return etcdctl(voter_follower, "member", "promote", "%x" % e.id).returncode == 0
    wait_for(promoted)
    wait_for(lambda: get(e, b"seen-by-learner") == b"1")  # linearizable once a voter
    events = watch(e, b"by-promoted")
    try:
        assert next(events).created
        put(e, b"by-promoted", b"2")
        assert [(ev.kv.key, ev.kv.value) for ev in next(events).events] == [(b"by-promoted", b"2")]
    finally:
        events.cancel()
    assert [r.TTL > 0 for r in keepalive(e, lease_id)] == [True]
