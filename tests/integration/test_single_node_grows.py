"""A single node is a one-member Raft cluster (as etcd): it leads as soon as it serves, `member add` grows
it, and the newcomer, started with --initial-cluster-state existing, gets the data (a snapshot: a sole voter
keeps no log in memory) and takes writes. Runs against etcd with LEDGERKV_TARGET=etcd too."""
import time

import grpc

import lkvtest
from cluster import wait_for
from etcd3 import etcdrpc

TIMEOUT = 5.0


def test_member_add_grows_a_single_node(server_factory, tmp_path):
    single = server_factory.start()
    kv = single.kv()
    for i in range(300):
        kv.Put(etcdrpc.PutRequest(key=b"before/%03d" % i, value=b"v"), timeout=TIMEOUT)
    st = etcdrpc.MaintenanceStub(single.channel()).Status(etcdrpc.StatusRequest(), timeout=TIMEOUT)
    assert st.leader == st.header.member_id and st.raftTerm >= 1
    peer_port = lkvtest.free_port()
    peer = "http://127.0.0.1:%d" % peer_port
    deadline = time.monotonic() + 15
    while True:
        try:
            resp = etcdrpc.ClusterStub(single.channel()).MemberAdd(
                etcdrpc.MemberAddRequest(peerURLs=[peer]), timeout=TIMEOUT)
            break
        except grpc.RpcError as e:  # etcd refuses membership changes for its first seconds
            if e.details() != "etcdserver: unhealthy cluster" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert len(resp.members) == 2
    first = "%s=http://127.0.0.1:%d" % (single.name, single.peer_port)
    second = lkvtest.Server(single.kind, str(tmp_path / "second"), name="second", args=[
        "--initial-cluster-state", "existing"])
    second.peer_port = peer_port
    second.initial_cluster = "%s,second=%s" % (first, peer)
    try:
        second.start()

        def serves_history():
            """the new member to serve what the single node had"""
            r = second.kv().Range(etcdrpc.RangeRequest(key=b"before/", range_end=b"before0", serializable=True),
                                  timeout=TIMEOUT)
            return r.count == 300
        wait_for(serves_history, timeout=30)
        second.kv().Put(etcdrpc.PutRequest(key=b"after", value=b"2"), timeout=TIMEOUT)
        assert kv.Range(etcdrpc.RangeRequest(key=b"after"), timeout=TIMEOUT).kvs[0].value == b"2"

        def both_listed():
            """both members listed by name (a member publishes its name once it runs)"""
            members = etcdrpc.ClusterStub(second.channel()).MemberList(etcdrpc.MemberListRequest(),
                                                                       timeout=TIMEOUT)
            return sorted(m.name for m in members.members) == sorted([single.name, "second"])
        wait_for(both_listed)
    finally:
        second.stop()
