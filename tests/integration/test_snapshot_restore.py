"""`ledgerkv snapshot restore` (issue 14 item 2): etcd 3.4's and ledgerkv's snapshots restored into a new
ledgerkv data dir that serves the same keys, revisions, versions, values and leases, continues from the
snapshot's revision and passes `ledgerkv audit`; damaged, foreign and unsupported snapshots refused."""
import os
import subprocess
import time

import pytest

import cluster as clusters
import lkvtest
from etcd3 import etcdrpc

LEASE_ID = 0x7e57
GONE_LEASE = 0x7e58


def workload(srv):
    """Overwrites, a range delete, a txn of several writes, a lease that stays with a key, a lease revoked
    with its key. No compaction (test_snapshot_compacted.py restores compacted snapshots)."""
    kv = srv.kv()
    lease = etcdrpc.LeaseStub(srv.channel())
    for i in range(60):
        kv.Put(etcdrpc.PutRequest(key=b"/r/k%02d" % (i % 20), value=b"v%d" % i), timeout=10)
    kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"/r/k05", range_end=b"/r/k08"), timeout=10)
    puts = [etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"/r/t%d" % i, value=b"t")) for i in range(3)]
    kv.Txn(etcdrpc.TxnRequest(success=puts), timeout=10)
    lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=300, ID=LEASE_ID), timeout=10)
    lease.LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=200, ID=GONE_LEASE), timeout=10)
    kv.Put(etcdrpc.PutRequest(key=b"/r/leased", value=b"l", lease=LEASE_ID), timeout=10)
    kv.Put(etcdrpc.PutRequest(key=b"/r/gone", value=b"g", lease=GONE_LEASE), timeout=10)
    lease.LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=GONE_LEASE), timeout=10)
    return kv.Put(etcdrpc.PutRequest(key=b"/r/last", value=b"z"), timeout=10).header.revision


def everything(srv, rev=0):
    resp = srv.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0", revision=rev), timeout=10)
    return [(k.key, k.value, k.create_revision, k.mod_revision, k.version, k.lease) for k in resp.kvs]


def restore(path, *args):
    return subprocess.run([lkvtest.ledgerkv_bin(), "snapshot", "restore", path] + list(args),
                          capture_output=True, text=True, timeout=60, env=lkvtest.child_env())


def refused_by(command, tmp_path, body, *args):
    """`ledgerkv <command> FILE --data-dir D args` on a file holding body: refused, nothing half-written left
    behind; returns its stderr."""
    p = str(tmp_path / "in.file")
    with open(p, "wb") as f:
        f.write(body)
    target = str(tmp_path / "target")
    res = subprocess.run([lkvtest.ledgerkv_bin()] + command + [p, "--data-dir", target] + list(args),
                         capture_output=True, text=True, timeout=60, env=lkvtest.child_env())
    assert res.returncode != 0
    assert not os.path.exists(target)
    return res.stderr


def restored_server(fac, path, *extra):
    """A ledgerkv server whose data dir `ledgerkv snapshot restore` wrote with the server's cluster flags."""
    srv = lkvtest.Server("ledgerkv", fac_dir(fac))
    peer = "http://127.0.0.1:%d" % srv.peer_port
    res = restore(path, "--data-dir", srv.data_dir, "--name", srv.name, "--initial-cluster",
                  "%s=%s" % (srv.name, peer), "--initial-advertise-peer-urls", peer,
                  "--initial-cluster-token", "lkv-test-%d" % srv.port, *extra)
    assert res.returncode == 0, res.stderr
    fac.servers.append(srv)
    srv.start()
    return srv


def fac_dir(fac):
    import tempfile
    d = tempfile.mkdtemp(prefix="lkvtest-restore-")
    fac.dirs.append(d)
    return d


def check_restored(fac, source, tmp_path):
    last = workload(source)
    want_now, want_old = everything(source), everything(source, 30)
    path = str(tmp_path / ("%s.db" % source.kind))
    lkvtest.etcdctl(source, "snapshot", "save", path, timeout=60)
    srv = restored_server(fac, path)
    assert everything(srv) == want_now
    assert everything(srv, 30) == want_old  # the history is there, not only the latest state
    ttl = etcdrpc.LeaseStub(srv.channel()).LeaseTimeToLive(
        etcdrpc.LeaseTimeToLiveRequest(ID=LEASE_ID, keys=True), timeout=10)
    assert (ttl.grantedTTL, list(ttl.keys)) == (300, [b"/r/leased"])
    assert 0 < ttl.TTL <= 300
    gone = etcdrpc.LeaseStub(srv.channel()).LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=GONE_LEASE),
                                                            timeout=10)
    assert gone.TTL == -1
    assert srv.kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10).header.revision == last + 1
    srv.stop()
    res = subprocess.run([lkvtest.ledgerkv_bin(), "audit", "--data-dir", srv.data_dir], capture_output=True,
                         text=True, timeout=60, env=lkvtest.child_env())
    assert res.returncode == 0, res.stderr + res.stdout


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_from_etcd(server_factory, tmp_path):
    check_restored(server_factory, server_factory.start("etcd"), tmp_path)


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_from_ledgerkv(server_factory, tmp_path):
    check_restored(server_factory, server_factory.start("ledgerkv"), tmp_path)


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_etcd_backend_db(server_factory, tmp_path):
    """A stopped etcd's member/snap/db (no SHA-256 after it) with --skip-hash-check, refused without."""
    etcd = server_factory.start("etcd")
    last = workload(etcd)
    want = everything(etcd)
    etcd.stop()
    db = os.path.join(etcd.data_dir, "member", "snap", "db")
    res = restore(db, "--data-dir", str(tmp_path / "x"))
    assert res.returncode != 0 and "snapshot missing hash but --skip-hash-check=false" in res.stderr
    srv = restored_server(server_factory, db, "--skip-hash-check")
    assert everything(srv) == want
    assert srv.kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10).header.revision == last + 1


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_three_members(server_factory, tmp_path):
    """A cluster of three grown from a restored member with etcdctl member add: each newcomer must get the
    restored state (the next write gets the next revision on every member)."""
    src = server_factory.start("etcd")
    last = workload(src)
    want = everything(src)
    path = str(tmp_path / "three.db")
    lkvtest.etcdctl(src, "snapshot", "save", path, timeout=60)
    with clusters.Cluster(size=1, kind="ledgerkv") as c:
        c._new_members()
        first = c.members[0]
        res = restore(path, "--data-dir", first.data_dir, "--name", first.name, "--initial-cluster",
                      "%s=%s" % (first.name, first.peer_url), "--initial-cluster-token", c.token)
        assert res.returncode == 0, res.stderr
        first.start()
        for name in ("m2", "m3"):
            m = c.new_member(name)
            deadline = time.monotonic() + 15
            while True:  # etcd's rules: no member add in a member's first 5 s, nor before m2 is started
                res = lkvtest.etcdctl(first, "member", "add", name, "--peer-urls", m.peer_url, check=False)
                busy = "unhealthy cluster" in res.stderr or "not enough started members" in res.stderr
                if res.returncode == 0 or not busy or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert res.returncode == 0, res.stderr
            m.start()
        put = c.members[2].kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10)
        assert put.header.revision == last + 1
        want.append((b"/r/next", b"n", last + 1, last + 1, 1, 0))
        want.sort()
        for m in c.members:
            clusters.wait_for(lambda: everything(m) == want, timeout=20)


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_users_and_roles(server_factory, tmp_path):
    """Users and roles come over as etcd shows them; a snapshot with auth enabled restores with auth on:
    etcdctl gets etcd's answers with no user, a reader, root and a wrong password."""
    etcd = server_factory.start("etcd")
    ctl = lambda srv, *a, **kw: lkvtest.etcdctl(srv, *a, **kw).stdout
    ctl(etcd, "user", "add", "alice:secret")
    ctl(etcd, "role", "add", "reader")
    ctl(etcd, "role", "grant-permission", "reader", "read", "/r/", "--prefix=true")
    ctl(etcd, "user", "grant-role", "alice", "reader")
    etcd.kv().Put(etcdrpc.PutRequest(key=b"/r/a", value=b"1"), timeout=10)
    path = str(tmp_path / "auth.db")
    ctl(etcd, "snapshot", "save", path, timeout=60)
    srv = restored_server(server_factory, path)
    for args in (("user", "list"), ("role", "list"), ("user", "get", "alice"), ("role", "get", "reader")):
        assert ctl(srv, *args) == ctl(etcd, *args), args
    srv.stop()
    res = subprocess.run([lkvtest.ledgerkv_bin(), "audit", "--data-dir", srv.data_dir], capture_output=True,
                         text=True, timeout=60, env=lkvtest.child_env())
    assert res.returncode == 0, res.stderr + res.stdout

    ctl(etcd, "user", "add", "root:rootpw")
    ctl(etcd, "role", "add", "root")
    ctl(etcd, "user", "grant-role", "root", "root")
    ctl(etcd, "auth", "enable")
    enabled = str(tmp_path / "enabled.db")
    ctl(etcd, "--user", "root:rootpw", "snapshot", "save", enabled, timeout=60)
    on = restored_server(server_factory, enabled)
    # Auth stays on: the same answers as the etcd that saved the file, with and without a user.
    for user in ((), ("--user", "alice:secret"), ("--user", "root:rootpw"), ("--user", "alice:wrong")):
        for args in (("get", "/r/a"), ("put", "/r/a", "2"), ("user", "list")):
            got = lkvtest.etcdctl(on, *(user + args), check=False)
            want = lkvtest.etcdctl(etcd, *(user + args), check=False)
            assert (got.returncode, got.stdout) == (want.returncode, want.stdout), (user, args, got.stderr)
            assert want.stderr.splitlines()[-1:] == got.stderr.splitlines()[-1:], (user, args)


@pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")
def test_restore_refusals(server_factory, tmp_path):
    src = server_factory.start("etcd")
    kv = src.kv()
    kv.Put(etcdrpc.PutRequest(key=b"a", value=b"1"), timeout=10)
    path = str(tmp_path / "ok.db")
    lkvtest.etcdctl(src, "snapshot", "save", path, timeout=60)
    data = open(path, "rb").read()

    def refused(body, *args):
        return refused_by(["snapshot", "restore"], tmp_path, body, *args)

    assert "snapshot missing hash but --skip-hash-check=false" in refused(data[:-32])
    damaged = bytearray(data)
    damaged[4096 * 2 + 100] ^= 0xFF
    assert "expected sha256 [" in refused(bytes(damaged))
    # Without the hash check the bbolt reader says what is wrong.
    assert "truncated" in refused(data[:-32][:8192 + 4096], "--skip-hash-check")
    assert "not a bbolt file" in refused(b"x" * 8192, "--skip-hash-check")
    assert "--mark-compacted required if --bump-revision > 0" in refused(data, "--bump-revision", "10")
    assert "couldn't find local name \"nobody\"" in refused(data, "--name", "nobody")
    three = ",".join("m%d=http://127.0.0.1:%d" % (i, lkvtest.free_port()) for i in range(3))
    assert "couldn't find local name \"m9\"" in refused(data, "--name", "m9", "--initial-cluster", three)

    # The data dir must be absent or empty (etcd's message); an empty one is filled.
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    res = restore(path, "--data-dir", str(full))
    assert res.returncode != 0 and "data-dir \"%s\" exists" % full in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore(path, "--data-dir", str(empty)).returncode == 0

