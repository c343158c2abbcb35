"""A data dir written by etcd is refused with a pointer to the snapshot route, never served as an empty
store; ledgerkv's own data dirs (with and without the ledger) still start and keep their data."""
import os
import subprocess

import lkvtest


def run_ledgerkv(data_dir):
    url = "http://127.0.0.1:%d" % lkvtest.free_port()
    return subprocess.run(["setpriv", "--pdeathsig", "KILL", "--", lkvtest.ledgerkv_bin(), "--name", "x",
                           "--data-dir", data_dir, "--listen-client-urls", url, "--advertise-client-urls", url
                           ] + lkvtest.peer_flags("x"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                          env=lkvtest.child_env())


def test_etcd_data_dir_refused(server_factory):
    etcd = server_factory.start("etcd")
    lkvtest.etcdctl(etcd, "put", "/k", "v")
    etcd.stop()
    member = os.path.join(etcd.data_dir, "member")
    assert os.path.exists(os.path.join(member, "snap", "db"))
    assert any(n.endswith(".wal") for n in os.listdir(os.path.join(member, "wal")))
    before = sorted(os.listdir(member))

    res = run_ledgerkv(etcd.data_dir)
    assert res.returncode == 1, (res.returncode, res.stderr)
    assert "ledgerkv: %s holds an etcd data directory (member/snap/db, member/wal/" % etcd.data_dir \
        in res.stderr, res.stderr
    assert "etcdctl snapshot save" in res.stderr and "ledgerkv snapshot restore" in res.stderr
    assert "member/snap/db with --skip-hash-check" in res.stderr
    assert "ready to serve" not in res.stderr
    # Nothing of ledgerkv's was created beside etcd's files, and etcd can still start on them.
    assert sorted(os.listdir(member)) == before
    assert not os.path.exists(os.path.join(etcd.data_dir, "ledger"))
    etcd.start()
    assert "\nv\n" in "\n" + lkvtest.etcdctl(etcd, "get", "/k").stdout


def test_own_data_dirs_start(server_factory):
    for args in ([], ["--ledger=false"]):
        srv = server_factory.start("ledgerkv", args=args)
        lkvtest.etcdctl(srv, "put", "/own", "yes")
        srv.stop()
        srv.start()
        assert lkvtest.etcdctl(srv, "get", "/own", "--print-value-only").stdout.strip() == "yes"
