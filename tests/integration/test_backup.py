"""`ledgerkv backup save` / `backup restore` (issue 14 item 3): a stopped member's store, ledger and members'
public keys in one checksummed file (never the private key unless asked); a member restored from it serves
the same data and users, and a receipt obtained before the backup still chains to the heads the restored
member signs (the same leaf in the same tree, a consistency proof from the old head to the new one)."""
import json
import os
import subprocess

import pytest

import ledger_verify as lv
import lkvtest
import test_ledger as tl
import test_snapshot_compacted as sc
import test_snapshot_restore as sr
from etcd3 import etcdrpc

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="ledgerkv's own backup")


def restored(fac, path, *extra):
    """A ledgerkv server whose data dir `ledgerkv backup restore` wrote with the server's cluster flags."""
    srv = lkvtest.Server("ledgerkv", sr.fac_dir(fac), args=tl.SIGN)
    res = tl.cli("backup", "restore", path, "--data-dir", srv.data_dir, "--name", srv.name, "--initial-cluster",
                 "%s=http://127.0.0.1:%d" % (srv.name, srv.peer_port), "--initial-cluster-token",
                 "lkv-test-%d" % srv.port, *extra)
    fac.servers.append(srv)
    srv.start()
    return srv, res.stdout


def test_backup_keeps_the_ledger(server_factory, tmp_path):
    src = server_factory.start("ledgerkv", args=tl.SIGN)
    sr.workload(src)
    kv = src.kv()
    rev = kv.Put(etcdrpc.PutRequest(key=b"/b/receipted", value=b"r"), timeout=10).header.revision
    tl.cli("receipt", "--endpoints", src.endpoint, "--head")  # waits for a head that covers it
    receipt = tl.fetch(src, rev)
    lkvtest.etcdctl(src, "user", "add", "alice:secret")
    want, users = sr.everything(src), lkvtest.etcdctl(src, "user", "list").stdout
    old_key = tl.node_key(src)
    path, with_key = str(tmp_path / "b.lkvb"), str(tmp_path / "k.lkvb")
    busy = tl.cli("backup", "save", "--data-dir", src.data_dir, path, check=False)
    assert busy.returncode == 1 and "in use by a running ledgerkv" in busy.stderr
    src.stop()
    out = tl.cli("backup", "save", "--data-dir", src.data_dir, path).stdout
    assert "1 public keys" in out
    tl.cli("backup", "save", "--data-dir", src.data_dir, "--include-private-key", with_key)
    seed = open(os.path.join(src.data_dir, "ledger", "node.key"), "rb").read()[16:48]
    assert seed not in open(path, "rb").read() and seed in open(with_key, "rb").read()

    srv, printed = restored(server_factory, path)
    assert old_key in printed  # the keys the backup carries are listed
    assert sr.everything(srv) == want
    assert lkvtest.etcdctl(srv, "user", "list").stdout == users
    new_key = tl.node_key(srv)
    assert new_key != old_key
    # The receipt from before the backup: still valid offline, its leaf is in the restored tree, and the
    # tree it was issued on is a prefix of the one the new key signs.
    assert tl.both_verify(str(tmp_path), receipt, old_key)
    again = tl.fetch(srv, rev)
    assert {k: again[k] for k in ("kind", "revision", "write_set_digest", "claims_digest", "leaf_index")} == \
        {k: receipt[k] for k in ("kind", "revision", "write_set_digest", "claims_digest", "leaf_index")}
    assert tl.both_verify(str(tmp_path), again, new_key)
    head = json.loads(tl.cli("receipt", "--endpoints", srv.endpoint, "--head").stdout)
    assert head["public_key"] == new_key and head["tree_size"] >= receipt["head"]["tree_size"]
    assert receipt["head"]["public_key"] == old_key
    assert consistent_across_keys(srv, receipt["head"], old_key, head, new_key)
    assert srv.kv().Put(etcdrpc.PutRequest(key=b"/b/next", value=b"n"), timeout=10).header.revision == rev + 1
    srv.stop()
    sc.audit(srv.data_dir)

    # With the private key the restored member goes on signing with the same key.
    kept, _ = restored(server_factory, with_key)
    assert sr.everything(kept) == want and tl.node_key(kept) == old_key


def consistent_across_keys(srv, old, old_key, new, new_key):
    """tl.consistent with each head checked against the key that signed it."""
    for h, key in ((old, old_key), (new, new_key)):
        sth = {"tree_size": h["tree_size"], "root": bytes.fromhex(h["root"]), "revision": h["revision"],
               "timestamp_ms": h["timestamp_ms"], "signature": bytes.fromhex(h["signature"])}
        if not lv.verify_sth(sth, bytes.fromhex(key)):
            return False
    p = json.loads(tl.cli("receipt", "--endpoints", srv.endpoint, "--consistency",
                          "%d:%d" % (old["tree_size"], new["tree_size"])).stdout)
    return lv.verify_consistency(old["tree_size"], new["tree_size"], bytes.fromhex(old["root"]),
                                 bytes.fromhex(new["root"]), [bytes.fromhex(x) for x in p["proof"]])


def read_backup(path):
    """{name: (kind, content)} of a backup file, read as docs/backup.md describes it (SHA-256 checked)."""
    import hashlib
    import struct
    data = open(path, "rb").read()
    assert data[:8] == b"lkvbckup" and struct.unpack_from(">I", data, 8)[0] == 1
    assert hashlib.sha256(data[:-32]).digest() == data[-32:]
    p, out = 16, {}
    while True:
        kind, nl = struct.unpack_from(">BH", data, p)
        name = data[p + 3:p + 3 + nl].decode()
        (length,) = struct.unpack_from(">Q", data, p + 3 + nl)
        p += 11 + nl
        if kind == 0:
            assert p == len(data) - 32
            return out
        out[name] = (kind, data[p:p + length])
        p += length


def test_backup_refusals(server_factory, tmp_path):
    src = server_factory.start("ledgerkv")
    src.kv().Put(etcdrpc.PutRequest(key=b"a", value=b"1"), timeout=10)
    src.stop()
    path = str(tmp_path / "b.lkvb")
    tl.cli("backup", "save", "--data-dir", src.data_dir, path)
    data = open(path, "rb").read()

    def refused(body, *args):
        return sr.refused_by(["backup", "restore"], tmp_path, body, *args)

    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 1
    assert "backup file damaged: its SHA-256 does not match" in refused(bytes(damaged))
    assert "backup file damaged" in refused(data[:-100])
    assert "not a ledgerkv backup" in refused(b"x" * 100)
    assert "couldn't find local name \"nobody\"" in refused(data, "--name", "nobody")
    missing = subprocess.run([lkvtest.ledgerkv_bin(), "backup", "save", "--data-dir", str(tmp_path / "none"),
                              str(tmp_path / "x.lkvb")], capture_output=True, text=True, timeout=30,
                             env=lkvtest.child_env())
    assert missing.returncode == 1 and not os.path.exists(str(tmp_path / "x.lkvb"))


def test_backup_of_a_pruned_ledger(server_factory, tmp_path):
    """A ledger whose retention punched its old records out travels without its holes and is restored with
    the same tree (the audit's size and root) and base."""
    import test_ledger_retention as tr
    src = server_factory.start("ledgerkv", args=tr.RETAIN)
    tr.put_many(src, b"early", 200)
    base = tr.wait_base(src.data_dir, 0)
    want = sr.everything(src)
    src.stop()
    pair = sc.audit(src.data_dir).splitlines()[-1]
    path = str(tmp_path / "pruned.lkvb")
    tl.cli("backup", "save", "--data-dir", src.data_dir, path)
    sections = read_backup(path)
    assert sections["ledger/ledger.log"][0] == 3  # SPARSE: the punched records do not travel
    assert sections["member/db/data.mdb"][0] == 1 and sections["keys"][0] == 2
    srv, _ = restored(server_factory, path)
    assert sr.everything(srv) == want
    srv.stop()
    assert tr.base_of(srv.data_dir) == tr.base_of(src.data_dir) >= base
    assert sc.audit(srv.data_dir).splitlines()[-1] == pair
