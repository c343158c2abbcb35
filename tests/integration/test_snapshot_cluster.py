"""A cluster restored from one snapshot (issue 14 item 2's cluster flags): each member restored with its own
--name and the whole --initial-cluster, as with etcdctl, then started together: one cluster with etcd's ids
for those flags, the same data and history on every member, the next write at the next revision, and the
same ledger (audit's tree size and root) everywhere."""
import json
import os
import subprocess

import pytest

import cluster as clusters
import lkvtest
import test_snapshot_compacted as sc
import test_snapshot_restore as sr
from etcd3 import etcdrpc

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="restores into ledgerkv")


def etcd_ids(path, c, tmp_path):
    """The cluster id and member ids etcdctl's own restore computes for the same flags (from its log)."""
    initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in c.members)
    res = subprocess.run([lkvtest.ETCDCTL_BIN, "snapshot", "restore", path, "--name", "m1", "--initial-cluster",
                          initial, "--initial-cluster-token", c.token, "--initial-advertise-peer-urls",
                          c.members[0].peer_url, "--data-dir", str(tmp_path / "etcd-m1")],
                         capture_output=True, text=True, timeout=60, env=lkvtest.child_env({"ETCDCTL_API": "3"}))
    assert res.returncode == 0, res.stderr
    ids, cluster_id = set(), None
    for line in (res.stderr + res.stdout).splitlines():
        if '"added member"' in line:
            rec = json.loads(line)
            ids.add(int(rec["added-peer-id"], 16))
            cluster_id = int(rec["cluster-id"], 16)
    assert len(ids) == 3, res.stderr
    return cluster_id, ids


def test_restore_three_members_together(server_factory, tmp_path):
    src = server_factory.start("etcd")
    compact, last = sc.compacted_workload(src, physical=False)
    want, want_compact = sr.everything(src), sr.everything(src, compact)
    path = str(tmp_path / "cluster.db")
    lkvtest.etcdctl(src, "snapshot", "save", path, timeout=60)
    with clusters.Cluster(size=3, kind="ledgerkv") as c:
        c._new_members()
        initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in c.members)
        for m in c.members:
            res = sr.restore(path, "--data-dir", m.data_dir, "--name", m.name, "--initial-cluster", initial,
                             "--initial-cluster-token", c.token, "--initial-advertise-peer-urls", m.peer_url)
            assert res.returncode == 0, res.stderr
        for m in c.members:
            m.start(wait=False)
        for m in c.members:
            m.wait_started()
        c.wait_ready()
        cluster_id, ids = etcd_ids(path, c, tmp_path)
        members = etcdrpc.ClusterStub(c.members[0].channel()).MemberList(etcdrpc.MemberListRequest(), timeout=10)
        assert members.header.cluster_id == cluster_id
        assert {m.ID for m in members.members} == ids
        for m in c.members:
            assert sr.everything(m) == want
            assert sr.everything(m, compact) == want_compact
            assert sc.range_error(m, compact - 1) == sc.range_error(src, compact - 1)
        put = c.members[1].kv().Put(etcdrpc.PutRequest(key=b"/r/next", value=b"n"), timeout=10)
        assert put.header.revision == last + 1
        want = sorted(want + [(b"/r/next", b"n", last + 1, last + 1, 1, 0)])
        for m in c.members:
            clusters.wait_for(lambda: sr.everything(m) == want, timeout=15)
        for m in c.members:
            m.stop()
        roots = [sc.audit(m.data_dir).splitlines()[-1] for m in c.members]
        assert roots[0].startswith("tree size ") and roots.count(roots[0]) == 3, roots
        # A member's backup carries every member's public key, and restores as a node of its own.
        backup = str(tmp_path / "m1.lkvb")
        saved = subprocess.run([lkvtest.ledgerkv_bin(), "backup", "save", "--data-dir", c.members[0].data_dir, backup],
                               capture_output=True, text=True, timeout=60, env=lkvtest.child_env())
        assert saved.returncode == 0 and "3 public keys" in saved.stdout, saved.stderr
        single = lkvtest.Server("ledgerkv", sr.fac_dir(server_factory))
        server_factory.servers.append(single)
        res = subprocess.run([lkvtest.ledgerkv_bin(), "backup", "restore", backup, "--data-dir", single.data_dir,
                              "--name", single.name, "--initial-cluster",
                              "%s=http://127.0.0.1:%d" % (single.name, single.peer_port), "--initial-cluster-token",
                              "lkv-test-%d" % single.port], capture_output=True, text=True, timeout=60,
                             env=lkvtest.child_env())
        assert res.returncode == 0 and len(res.stdout.splitlines()) == 4, res.stdout + res.stderr
        single.start()
        assert sr.everything(single) == want
        assert single.kv().Put(etcdrpc.PutRequest(key=b"/r/after", value=b"a"), timeout=10).header.revision == last + 2


def test_restored_member_started_as_another(server_factory, tmp_path):
    """A data dir restored for one member of one cluster refuses to start with flags naming another."""
    src = server_factory.start("etcd")
    src.kv().Put(etcdrpc.PutRequest(key=b"a", value=b"1"), timeout=10)
    path = str(tmp_path / "one.db")
    lkvtest.etcdctl(src, "snapshot", "save", path, timeout=60)
    srv = lkvtest.Server("ledgerkv", sr.fac_dir(server_factory))
    server_factory.servers.append(srv)
    res = sr.restore(path, "--data-dir", srv.data_dir, "--name", srv.name, "--initial-cluster",
                     "%s=http://127.0.0.1:%d" % (srv.name, srv.peer_port), "--initial-cluster-token", "another")
    assert res.returncode == 0, res.stderr
    with pytest.raises(lkvtest.ServerError):
        srv.start(timeout=10)
    assert "the data dir was restored for member" in srv.log_text()
    assert os.path.isdir(srv.data_dir)
