"""Leases against the real server: etcdctl lease grant/revoke/keep-alive/timetolive --keys/list and put --lease,
etcd's answers for unknown leases (revoke NotFound, time-to-live TTL -1, keep-alive TTL 0), expiry deleting the
attached keys in one revision, a keep-alive stream holding a lease past its TTL, python3-etcd3's lease and lock
helpers, and leases surviving a restart with their TTL started afresh.
"""
import re
import subprocess
import time

import etcd3
import grpc
import pytest
from etcd3 import etcdrpc

import lkvtest
from lkvtest import etcdctl


def lease_id(out):
    m = re.search(r"lease ([0-9a-f]+) granted with TTL\((\d+)s\)", out)
    assert m, out
    return m.group(1), int(m.group(2))


def header_rev(srv, key):
    return srv.kv().Range(etcdrpc.RangeRequest(key=key), timeout=10).header.revision


def wait_gone(srv, key, timeout=10.0):
    """Waits until key no longer exists; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if srv.kv().Range(etcdrpc.RangeRequest(key=key), timeout=10).count == 0:
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError("%r still exists after %.0fs" % (key, timeout))


def test_etcdctl_lease_lifecycle(ledgerkv):
    hexid, ttl = lease_id(etcdctl(ledgerkv, "lease", "grant", "30").stdout)
    assert ttl == 30
    assert hexid in etcdctl(ledgerkv, "lease", "list").stdout
    etcdctl(ledgerkv, "put", "--lease=" + hexid, "ctl/b", "2")
    etcdctl(ledgerkv, "put", "--lease=" + hexid, "ctl/a", "1")
    out = etcdctl(ledgerkv, "lease", "timetolive", "--keys", hexid).stdout
    m = re.search(r"granted with TTL\(30s\), remaining\((\d+)s\), attached keys\(\[(.*)\]\)", out)
    assert m, out
    assert 27 <= int(m.group(1)) <= 30
    assert sorted(m.group(2).split()) == ["ctl/a", "ctl/b"]  # etcd's order is its map's
    out = etcdctl(ledgerkv, "lease", "keep-alive", "--once", hexid).stdout
    assert "keepalived with TTL(30)" in out
    rev = header_rev(ledgerkv, b"ctl/a")
    out = etcdctl(ledgerkv, "lease", "revoke", hexid).stdout
    assert "revoked" in out
    # both keys went in one revision
    assert header_rev(ledgerkv, b"ctl/a") == rev + 1
    assert etcdctl(ledgerkv, "get", "--prefix", "ctl/").stdout == ""
    assert hexid not in etcdctl(ledgerkv, "lease", "list").stdout


def test_etcdctl_unknown_lease(ledgerkv):
    res = etcdctl(ledgerkv, "lease", "revoke", "1234abcd", check=False)
    assert res.returncode != 0 and "etcdserver: requested lease not found" in res.stderr
    out = etcdctl(ledgerkv, "lease", "timetolive", "1234abcd").stdout
    assert "already expired" in out  # TTL -1
    res = etcdctl(ledgerkv, "lease", "keep-alive", "--once", "1234abcd", check=False)
    assert res.returncode != 0 and "requested lease not found" in res.stderr  # TTL 0 → clientv3's error
    res = etcdctl(ledgerkv, "put", "--lease=1234abcd", "ctl/x", "v", check=False)
    assert res.returncode != 0 and "etcdserver: requested lease not found" in res.stderr
    res = etcdctl(ledgerkv, "lease", "grant", "9000000001", check=False)
    assert res.returncode != 0 and "etcdserver: too large lease TTL" in res.stderr


def test_min_ttl_and_raw_errors(ledgerkv):
    stub = etcdrpc.LeaseStub(ledgerkv.channel())
    r = stub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=1, ID=0x5eed), timeout=10)
    assert (r.ID, r.TTL) == (0x5eed, 2)  # etcd's minimum TTL with its default election timeout
    with pytest.raises(grpc.RpcError) as e:
        stub.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=5, ID=0x5eed), timeout=10)
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert e.value.details() == "etcdserver: lease already exists"
    r = stub.LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=0x5eee), timeout=10)
    assert (r.ID, r.TTL, r.grantedTTL) == (0x5eee, -1, 0)
    reqs = [etcdrpc.LeaseKeepAliveRequest(ID=0x5eed), etcdrpc.LeaseKeepAliveRequest(ID=0x5eee)]
    resps = list(stub.LeaseKeepAlive(iter(reqs), timeout=10))
    assert [(x.ID, x.TTL) for x in resps] == [(0x5eed, 2), (0x5eee, 0)]
    stub.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=0x5eed), timeout=10)
    with pytest.raises(grpc.RpcError) as e:
        stub.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=0x5eed), timeout=10)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_expiry_deletes_keys_in_one_revision(ledgerkv):
    hexid, _ = lease_id(etcdctl(ledgerkv, "lease", "grant", "2").stdout)
    etcdctl(ledgerkv, "put", "--lease=" + hexid, "exp/1", "a")
    etcdctl(ledgerkv, "put", "--lease=" + hexid, "exp/2", "b")
    etcdctl(ledgerkv, "put", "exp/keep", "c")
    rev = header_rev(ledgerkv, b"exp/1")
    took = wait_gone(ledgerkv, b"exp/1")
    assert took < 4.0
    assert ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"exp/2"), timeout=10).count == 0
    assert ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"exp/keep"), timeout=10).count == 1
    assert header_rev(ledgerkv, b"exp/1") == rev + 1
    # the deletion is history: the keys are readable at the revision before it
    old = ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"exp/", range_end=b"exp0", revision=rev),
                              timeout=10)
    assert [kv.key for kv in old.kvs] == [b"exp/1", b"exp/2", b"exp/keep"]
    assert old.kvs[0].lease == int(hexid, 16)
    assert "already expired" in etcdctl(ledgerkv, "lease", "timetolive", hexid).stdout


def test_keep_alive_stream_holds_lease(ledgerkv):
    hexid, _ = lease_id(etcdctl(ledgerkv, "lease", "grant", "2").stdout)
    etcdctl(ledgerkv, "put", "--lease=" + hexid, "ka/k", "v")
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + ledgerkv.endpoint, "lease", "keep-alive", hexid]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lkvtest.child_env({"ETCDCTL_API": "3"}))
    try:
        time.sleep(4.5)  # more than twice the TTL
        assert ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"ka/k"), timeout=10).count == 1
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "keepalived with TTL(2)" in out
    wait_gone(ledgerkv, b"ka/k")


@pytest.fixture(scope="module")
def client(ledgerkv):
    c = etcd3.client(host="127.0.0.1", port=ledgerkv.port, timeout=20, grpc_options=lkvtest.GRPC_OPTIONS)
    yield c
    c.close()


def test_python_etcd3_lease(client):
    lease = client.lease(20)
    assert lease.ttl == 20 and lease.id > 0
    client.put("pyl/a", "1", lease=lease)
    client.put("pyl/b", "2", lease=lease.id)
    assert lease.granted_ttl == 20
    assert 17 <= lease.remaining_ttl <= 20
    assert sorted(lease.keys) == [b"pyl/a", b"pyl/b"]
    resp = lease.refresh()
    assert resp[0].TTL == 20 and resp[0].ID == lease.id
    _, meta = client.get("pyl/a")
    assert meta.lease_id == lease.id
    lease.revoke()
    assert client.get("pyl/a") == (None, None)
    assert lease.remaining_ttl == -1
    own = client.lease(5, lease_id=4242)
    assert own.id == 4242
    own.revoke()


def test_python_etcd3_lock(client):
    lock = client.lock("pylock", ttl=10)
    assert lock.acquire(timeout=5)
    assert lock.is_acquired()
    assert client.get("/locks/pylock")[0] is not None
    lock.refresh()
    lock.release()
    assert not lock.is_acquired()
    assert client.get("/locks/pylock") == (None, None)


def test_leases_survive_restart(server_factory):
    srv = server_factory.start()
    hexid, _ = lease_id(etcdctl(srv, "lease", "grant", "60").stdout)
    short, _ = lease_id(etcdctl(srv, "lease", "grant", "3").stdout)
    etcdctl(srv, "put", "--lease=" + hexid, "rs/long", "v")
    etcdctl(srv, "put", "--lease=" + short, "rs/short", "v")
    time.sleep(1.5)
    srv.stop()
    time.sleep(2.0)  # past the short lease's expiry while down: the TTL restarts in full at start-up
    srv.start()
    out = etcdctl(srv, "lease", "timetolive", "--keys", short).stdout
    m = re.search(r"granted with TTL\(3s\), remaining\((\d+)s\), attached keys\(\[rs/short\]\)", out)
    assert m and int(m.group(1)) >= 2, out
    out = etcdctl(srv, "lease", "timetolive", "--keys", hexid).stdout
    m = re.search(r"granted with TTL\(60s\), remaining\((\d+)s\), attached keys\(\[rs/long\]\)", out)
    assert m and int(m.group(1)) >= 58, out
    listed = etcdctl(srv, "lease", "list").stdout
    assert hexid in listed and short in listed
    wait_gone(srv, b"rs/short")
    assert srv.kv().Range(etcdrpc.RangeRequest(key=b"rs/long"), timeout=10).count == 1
    # a crash keeps them too
    srv.kill()
    srv.start()
    assert "attached keys([rs/long])" in etcdctl(srv, "lease", "timetolive", "--keys", hexid).stdout
    etcdctl(srv, "lease", "revoke", hexid)
    assert srv.kv().Range(etcdrpc.RangeRequest(key=b"rs/long"), timeout=10).count == 0
