"""The verifiable ledger end to end: receipts for Put, DeleteRange, Txn, compaction, lease grant and
revocation (client and expiry) verify with `ledgerkv verify-receipt` and with ledger_verify.py, an
independent verifier written from docs/ledger.md; a modified request, response, proof, signature or key
fails both; consistency proofs between random pairs of signed heads verify; a forked ledger is caught;
`ledgerkv audit` passes on a stopped data dir, prints the tree size and root it verified (recomputed here
from the files alone: the log holds no signed head, every head in ledger.heads signs a prefix of it), and
fails on flipped bytes of the ledger, its heads or the store; two data dirs with the same entries and
different keys (members of a quiesced cluster) print the same tree size and root;
after kill -9 under load and a restart the audit passes and every acknowledged write has a receipt; a
ledger one batch ahead of the store (a crash between the two syncs) is replayed at start; a store torn by
a machine restart is rebuilt from the ledger; --ledger=false.
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import threading
import time

import grpc
import pytest

import ledger_verify as lv
import lkvtest
from etcd3 import etcdrpc

SIGN = ["--ledger-sign-interval", "20ms"]


def cli(*args, check=True):
    p = subprocess.run([lkvtest.ledgerkv_bin()] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=120, env=lkvtest.child_env())
    if check:
        assert p.returncode == 0, "ledgerkv %s: %s%s" % (" ".join(map(str, args)), p.stdout, p.stderr)
    return p


def raw(srv, method, req):
    """Calls method with req's bytes; returns (request bytes, response bytes) exactly as on the wire."""
    body = req.SerializeToString()
    return body, srv.channel().unary_unary(method)(body, timeout=10)


def node_key(srv):
    return cli("ledger-key", "--data-dir", srv.data_dir).stdout.split()[0]


def fetch(srv, revision, claims=None):
    args = ["receipt", "--endpoints", srv.endpoint, "--revision", revision]
    if claims is not None:
        args += ["--claims", claims.hex()]
    return json.loads(cli(*args).stdout)


def py_verify(r, key_hex, req=None, resp=None):
    """The independent check: signature, leaf, inclusion proof and (optionally) claims."""
    h = r["head"]
    sth = {"tree_size": h["tree_size"], "root": bytes.fromhex(h["root"]), "revision": h["revision"],
           "timestamp_ms": h["timestamp_ms"], "signature": bytes.fromhex(h["signature"])}
    if bytes.fromhex(h["public_key"]) != bytes.fromhex(key_hex) or not lv.verify_sth(sth, bytes.fromhex(key_hex)):
        return False
    claims = bytes.fromhex(r["claims_digest"])
    if req is not None and lv.claims_digest(req, resp) != claims:
        return False
    leaf = lv.leaf_hash(r["kind"], r["revision"], bytes.fromhex(r["write_set_digest"]), claims)
    return lv.verify_inclusion(r["leaf_index"], h["tree_size"], leaf, [bytes.fromhex(p) for p in r["proof"]],
                               sth["root"])


def cli_verify(tmp, r, key_hex, req=None, resp=None):
    path = os.path.join(tmp, "receipt.json")
    with open(path, "w") as f:
        json.dump(r, f)
    args = ["verify-receipt", "--key", key_hex, path]
    if req is not None:
        with open(path + ".req", "wb") as f:
            f.write(req)
        with open(path + ".resp", "wb") as f:
            f.write(resp)
        args += ["--request-file", path + ".req", "--response-file", path + ".resp"]
    return cli(*args, check=False).returncode == 0


def both_verify(tmp, r, key, req=None, resp=None):
    a, b = py_verify(r, key, req, resp), cli_verify(tmp, r, key, req, resp)
    assert a == b, "the two verifiers disagree (python %s, ledgerkv %s) on %s" % (a, b, r)
    return a


def flip_hex(s, i=0):
    return s[:i] + ("0" if s[i] != "0" else "1") + s[i + 1:]


def test_receipts_for_every_write_type(server_factory, tmp_path):
    srv = server_factory.start(args=SIGN)
    key = node_key(srv)
    ops = []  # (expected kind, revision, request bytes, response bytes)

    def do(kind, method, req, resp_type):
        q, s = raw(srv, method, req)
        ops.append((kind, resp_type.FromString(s).header.revision, q, s))

    do(lv.REVISION, "/etcdserverpb.KV/Put", etcdrpc.PutRequest(key=b"lg/a", value=b"1"), etcdrpc.PutResponse)
    do(lv.REVISION, "/etcdserverpb.KV/Put", etcdrpc.PutRequest(key=b"lg/b", value=b"2", prev_kv=True),
       etcdrpc.PutResponse)
    do(lv.REVISION, "/etcdserverpb.KV/DeleteRange", etcdrpc.DeleteRangeRequest(key=b"lg/a"),
       etcdrpc.DeleteRangeResponse)
    do(lv.REVISION, "/etcdserverpb.KV/Txn", etcdrpc.TxnRequest(
        compare=[etcdrpc.Compare(key=b"lg/b", target=etcdrpc.Compare.VERSION, result=etcdrpc.Compare.EQUAL,
                                 version=1)],
        success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"lg/c", value=b"3")),
                 etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=b"lg/b"))]),
       etcdrpc.TxnResponse)
    do(lv.LEASE_GRANT, "/etcdserverpb.Lease/LeaseGrant", etcdrpc.LeaseGrantRequest(TTL=600, ID=4242),
       etcdrpc.LeaseGrantResponse)
    # The server picks the id and raises the TTL: the Raft log carries the request every member applies,
    # with them filled in, and the claims cover that request, which the client rebuilds from the response.
    do(lv.LEASE_GRANT, "/etcdserverpb.Lease/LeaseGrant", etcdrpc.LeaseGrantRequest(TTL=1, ID=0),
       etcdrpc.LeaseGrantResponse)
    granted = etcdrpc.LeaseGrantResponse.FromString(ops[-1][3])
    ops[-1] = ops[-1][:2] + (etcdrpc.LeaseGrantRequest(TTL=granted.TTL, ID=granted.ID).SerializeToString(),
                             ops[-1][3])
    do(lv.REVISION, "/etcdserverpb.KV/Put", etcdrpc.PutRequest(key=b"lg/l", value=b"x", lease=4242),
       etcdrpc.PutResponse)
    do(lv.LEASE_REVOKE, "/etcdserverpb.Lease/LeaseRevoke", etcdrpc.LeaseRevokeRequest(ID=4242),
       etcdrpc.LeaseRevokeResponse)
    do(lv.COMPACTION, "/etcdserverpb.KV/Compact", etcdrpc.CompactionRequest(revision=ops[1][1]),
       etcdrpc.CompactionResponse)

    tmp = str(tmp_path)
    for kind, rev, q, s in ops:
        claims = lv.claims_digest(q, s)
        r = fetch(srv, rev, claims)
        assert r["kind"] == kind and r["revision"] == rev
        assert r["claims_digest"] == claims.hex()
        assert both_verify(tmp, r, key, q, s), r
        if kind in (lv.REVISION, lv.LEASE_REVOKE):
            assert fetch(srv, rev)["leaf_index"] == r["leaf_index"]  # the entry that produced rev
        # A proxy's edit of the request or the response, or a tampered receipt, fails both verifiers.
        bad_q = bytearray(q)
        bad_q[-1] ^= 1
        assert not both_verify(tmp, r, key, bytes(bad_q), s)
        assert not both_verify(tmp, r, key, q, s + b"\x00")
        assert not both_verify(tmp, dict(r, revision=r["revision"] + 1), key)
        assert not both_verify(tmp, dict(r, write_set_digest=flip_hex(r["write_set_digest"])), key)
        if r["proof"]:
            assert not both_verify(tmp, dict(r, proof=[flip_hex(r["proof"][0], 5)] + r["proof"][1:]), key)
        assert not both_verify(tmp, dict(r, head=dict(r["head"], signature=flip_hex(r["head"]["signature"], 7))),
                               key)
        assert not both_verify(tmp, dict(r, head=dict(r["head"], tree_size=r["head"]["tree_size"] + 1)), key)
        assert not both_verify(tmp, r, "00" * 32)

    # Compaction is an entry of its own: the data it removed is still in the ledger and the audit.
    p = cli("receipt", "--endpoints", srv.endpoint, "--revision", 10 ** 6, check=False)
    assert p.returncode == 1 and "future revision" in p.stderr


def test_lease_expiry_receipt(server_factory, tmp_path):
    srv = server_factory.start(args=SIGN)
    lease = srv.channel().unary_unary("/etcdserverpb.Lease/LeaseGrant")(
        etcdrpc.LeaseGrantRequest(TTL=1, ID=99).SerializeToString(), timeout=10)
    assert etcdrpc.LeaseGrantResponse.FromString(lease).ID == 99
    _, s = raw(srv, "/etcdserverpb.KV/Put", etcdrpc.PutRequest(key=b"exp/k", value=b"v", lease=99))
    rev = etcdrpc.PutResponse.FromString(s).header.revision
    kv = srv.kv()
    deadline = time.time() + 30
    while kv.Range(etcdrpc.RangeRequest(key=b"exp/k"), timeout=10).count and time.time() < deadline:
        time.sleep(0.2)
    r = fetch(srv, rev + 1)  # the revoke the lessor proposed deleted the key: revision rev + 1
    assert r["kind"] == lv.LEASE_REVOKE
    assert r["claims_digest"] == lv.claims_digest(b"", b"").hex()  # no client asked for it
    assert both_verify(str(tmp_path), r, node_key(srv))


def heads_over_time(srv, n):
    heads = []
    kv = srv.kv()
    for i in range(n):
        for j in range(random.randint(1, 4)):
            kv.Put(etcdrpc.PutRequest(key=b"cons/%d/%d" % (i, j), value=b"v"), timeout=10)
        time.sleep(0.05)
        h = json.loads(cli("receipt", "--endpoints", srv.endpoint, "--head").stdout)
        if not heads or heads[-1]["tree_size"] != h["tree_size"]:
            heads.append(h)
    return heads


def consistent(srv, old, new, key):
    for h in (old, new):
        sth = {"tree_size": h["tree_size"], "root": bytes.fromhex(h["root"]), "revision": h["revision"],
               "timestamp_ms": h["timestamp_ms"], "signature": bytes.fromhex(h["signature"])}
        if not lv.verify_sth(sth, bytes.fromhex(key)):
            return False
    p = json.loads(cli("receipt", "--endpoints", srv.endpoint, "--consistency",
                       "%d:%d" % (old["tree_size"], new["tree_size"])).stdout)
    return lv.verify_consistency(old["tree_size"], new["tree_size"], bytes.fromhex(old["root"]),
                                 bytes.fromhex(new["root"]), [bytes.fromhex(x) for x in p["proof"]])


def test_consistency_between_random_heads(server_factory):
    srv = server_factory.start(args=SIGN)
    key = node_key(srv)
    heads = heads_over_time(srv, 12)
    assert len(heads) >= 6
    rnd = random.Random(7)
    for _ in range(25):
        a, b = sorted(rnd.sample(range(len(heads)), 2))
        assert consistent(srv, heads[a], heads[b], key)
        wrong = dict(heads[a], root=flip_hex(heads[a]["root"], 3))
        p = json.loads(cli("receipt", "--endpoints", srv.endpoint, "--consistency",
                           "%d:%d" % (heads[a]["tree_size"], heads[b]["tree_size"])).stdout)
        assert not lv.verify_consistency(heads[a]["tree_size"], heads[b]["tree_size"], bytes.fromhex(wrong["root"]),
                                         bytes.fromhex(heads[b]["root"]), [bytes.fromhex(x) for x in p["proof"]])


def test_fork_is_detected(server_factory):
    """Two copies of one data dir (same key) that diverge: a head of one has no consistency proof from the
    other's ledger, though both heads carry valid signatures."""
    a = server_factory.start(args=SIGN)
    key = node_key(a)
    heads_over_time(a, 2)
    a.stop()
    b = server_factory.start(args=SIGN)
    b.stop()
    shutil.rmtree(b.data_dir)
    shutil.copytree(a.data_dir, b.data_dir)
    a.start()
    b.start()
    a.kv().Put(etcdrpc.PutRequest(key=b"fork", value=b"a"), timeout=10)
    b.kv().Put(etcdrpc.PutRequest(key=b"fork", value=b"b"), timeout=10)
    time.sleep(0.2)
    head_a = heads_over_time(a, 1)[-1]
    head_b = heads_over_time(b, 1)[-1]
    while head_b["tree_size"] <= head_a["tree_size"]:  # b's ledger must reach beyond a's head
        head_b = heads_over_time(b, 1)[-1]
    assert head_a["root"] != json.loads(cli("receipt", "--endpoints", b.endpoint, "--head").stdout)["root"]
    assert not consistent(b, head_a, head_b, key)


def audit(data_dir):
    return cli("audit", "--data-dir", data_dir, check=False)


def audit_pair(data_dir):
    """Runs the audit; returns (tree size, root hex) from its last line."""
    p = cli("audit", "--data-dir", data_dir)
    m = re.fullmatch(r"tree size (\d+) root ([0-9a-f]{64})", p.stdout.strip().splitlines()[-1])
    assert m, p.stdout
    return int(m.group(1)), m.group(2)


def test_audit_and_tamper(server_factory, tmp_path):
    srv = server_factory.start(args=SIGN)
    kv = srv.kv()
    for i in range(200):
        kv.Put(etcdrpc.PutRequest(key=b"aud/%03d" % (i % 50), value=b"value-%05d" % i), timeout=10)
        if i % 40 == 39:
            kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"aud/010", range_end=b"aud/020"), timeout=10)
    kv.Compact(etcdrpc.CompactionRequest(revision=50), timeout=10)
    srv.stop()
    p = audit(srv.data_dir)
    assert p.returncode == 0 and "audit OK" in p.stdout, p.stderr
    # The last line names the tree the audit verified; recompute it from the files alone.
    size, root = audit_pair(srv.data_dir)
    entries = lv.read_log(os.path.join(srv.data_dir, "ledger", "ledger.log"), want_version=2)
    leaves = [e["leaf"] for e in entries]
    assert size == len(leaves) and bytes.fromhex(root) == lv.mth(leaves)
    # Signed heads are not leaves: they live in ledger.heads, each signing a prefix of the tree.
    assert all(e["kind"] != lv.SIGNED_TREE_HEAD for e in entries)
    heads = lv.read_heads(os.path.join(srv.data_dir, "ledger", "ledger.heads"))
    key = bytes.fromhex(node_key(srv))
    assert len(heads) >= 2 and heads[-1]["tree_size"] == len(leaves)  # the stop signs everything
    for a, b in zip(heads, heads[1:]):
        assert a["tree_size"] <= b["tree_size"]
    for h in heads:
        assert h["public_key"] == key and lv.verify_sth(h, key)
        assert h["root"] == lv.mth(leaves[:h["tree_size"]])
        assert h["revision"] == (entries[h["tree_size"] - 1]["revision"] if h["tree_size"] else 0)

    # Flipped bits anywhere in the log (1 to 3 of them) or in the heads (one) fail the audit.
    for name, seed, trials, most in (("ledger.log", 11, 8, 3), ("ledger.heads", 5, 4, 1)):
        path = os.path.join("ledger", name)
        size = os.path.getsize(os.path.join(srv.data_dir, path))
        rnd = random.Random(seed)
        for trial in range(trials):
            copy = str(tmp_path / ("%s-%d" % (name, trial)))
            shutil.copytree(srv.data_dir, copy)
            with open(os.path.join(copy, path), "r+b") as f:
                for off in rnd.sample(range(size), rnd.randint(1, most)):
                    f.seek(off)
                    b = f.read(1)
                    f.seek(off)
                    f.write(bytes([b[0] ^ (1 << rnd.randrange(8))]))
            p = audit(copy)
            assert p.returncode == 1 and "audit FAILED" in p.stderr, (name, trial, p.stdout, p.stderr)

    # The store: a live value changed in place (a random byte of the file may fall on a free page,
    # which changes nothing a reader can see; the stored values are what must not change unnoticed).
    db = os.path.join("member", "db", "data.mdb")
    for trial, needle in enumerate([b"value-00199", b"value-00150", b"aud/049"]):
        copy = str(tmp_path / ("store-%d" % trial))
        shutil.copytree(srv.data_dir, copy)
        with open(os.path.join(copy, db), "r+b") as f:
            data = bytearray(f.read())
            at = data.find(needle)
            assert at >= 0
            while at >= 0:  # copy-on-write leaves stale copies in free pages: change every one
                data[at + len(needle) - 1] ^= 0x01
                at = data.find(needle, at + 1)
            f.seek(0)
            f.write(data)
        p = audit(copy)
        assert p.returncode == 1 and "audit FAILED" in p.stderr, (needle, p.stdout, p.stderr)


def test_same_tree_other_key_same_audit_pair(server_factory):
    """What a quiesced cluster looks like to the audit: two data dirs with the same entries, each with its
    own key and its own heads (heads are not leaves), print the same tree size and root; each one's heads
    verify with its own key only."""
    a = server_factory.start(args=SIGN)
    for i in range(30):
        a.kv().Put(etcdrpc.PutRequest(key=b"same/%d" % i, value=b"v%d" % i), timeout=10)
    a.stop()
    b = server_factory.start(args=SIGN)
    b.stop()
    shutil.rmtree(b.data_dir)
    shutil.copytree(a.data_dir, b.data_dir)
    for name in ("node.key", "ledger.heads"):  # another member: its own key, its own heads
        os.remove(os.path.join(b.data_dir, "ledger", name))
    b.start()
    b.stop()
    key_a, key_b = node_key(a), node_key(b)
    assert key_a != key_b
    pair = audit_pair(a.data_dir)
    assert pair[0] >= 30 and audit_pair(b.data_dir) == pair
    heads_b = lv.read_heads(os.path.join(b.data_dir, "ledger", "ledger.heads"))
    assert heads_b and heads_b[-1]["tree_size"] == pair[0] and heads_b[-1]["root"].hex() == pair[1]
    p = cli("audit", "--data-dir", b.data_dir, "--key", key_a, check=False)
    assert p.returncode == 1 and "ledger.heads record 0" in p.stderr and "trusted key" in p.stderr, p.stderr


class Writer(threading.Thread):
    """Puts unique keys until an RPC fails; records (revision, request, response) of acknowledged ones."""

    def __init__(self, srv, tag):
        super().__init__(daemon=True)
        self.endpoint, self.tag, self.acked = srv.endpoint, tag.encode(), []

    def run(self):
        ch = grpc.insecure_channel(self.endpoint, options=lkvtest.GRPC_OPTIONS)
        put = ch.unary_unary("/etcdserverpb.KV/Put")
        try:
            for i in range(10 ** 6):
                q = etcdrpc.PutRequest(key=b"load/%s/%06d" % (self.tag, i), value=b"v%d" % i).SerializeToString()
                try:
                    s = put(q, timeout=5)
                except grpc.RpcError:
                    return
                self.acked.append((etcdrpc.PutResponse.FromString(s).header.revision, q, s))
        finally:
            ch.close()


def load_then_kill(srv, n_writers, seconds):
    """Puts from n_writers threads for `seconds`, then kill -9; returns the acknowledged (revision,
    request, response) triples."""
    writers = [Writer(srv, "w%d" % i) for i in range(n_writers)]
    for w in writers:
        w.start()
    time.sleep(seconds)
    srv.kill()
    for w in writers:
        w.join(timeout=30)
    acked = [a for w in writers for a in w.acked]
    assert len(acked) >= 20
    return acked


def test_kill9_under_load_then_audit(server_factory, tmp_path):
    srv = server_factory.start(args=SIGN)
    key = node_key(srv)
    acked = load_then_kill(srv, 3, 1.5)
    srv.start()
    # Every acknowledged write is in the ledger with exactly its claims (read the file independently)...
    srv.kv().Put(etcdrpc.PutRequest(key=b"after", value=b"restart"), timeout=10)
    time.sleep(0.2)
    entries = lv.read_log(os.path.join(srv.data_dir, "ledger", "ledger.log"))
    by_rev = {e["revision"]: e for e in entries if e["kind"] == lv.REVISION}
    for rev, q, s in acked:
        assert rev in by_rev, "acknowledged revision %d has no ledger entry" % rev
        assert by_rev[rev]["claims"] == lv.claims_digest(q, s)
    # ...and has a receipt that verifies (a sample through the server and the CLI).
    rnd = random.Random(3)
    for rev, q, s in rnd.sample(acked, 10) + [max(acked)]:
        assert both_verify(str(tmp_path), fetch(srv, rev), key, q, s)
    srv.stop()
    p = audit(srv.data_dir)
    assert p.returncode == 0, p.stderr


def test_ledger_entry_the_log_never_had_halts(server_factory):
    """The Raft log is the write-ahead log: after a crash the ledger may hold entries the store did not
    commit, which the log applies again and which must come out identical, leaf by leaf. An entry appended
    by hand (encoded from docs/ledger.md alone) is not what the log produces: the member halts at the next
    write rather than diverge, and says why."""
    srv = server_factory.start(args=SIGN)
    _, s = raw(srv, "/etcdserverpb.KV/Put", etcdrpc.PutRequest(key=b"wal/a", value=b"1"))
    rev = etcdrpc.PutResponse.FromString(s).header.revision
    srv.stop()
    path = os.path.join(srv.data_dir, "ledger", "ledger.log")
    with open(path, "rb") as f:
        salt = f.read(24)[16:24]
    body = struct.pack(">IBI", 1, lv.PUT, 5) + b"wal/b" + struct.pack(">qqqI", rev + 1, 1, 0, 3) + b"two"
    claims = lv.claims_digest(b"", b"")
    entry = struct.pack(">Bq", lv.REVISION, rev + 1) + claims + body
    leaf = lv.leaf_hash(lv.REVISION, rev + 1, lv.sha(body), claims)
    with open(path, "ab") as f:
        f.write(salt + struct.pack(">I", len(entry)) + leaf + entry)
    srv.start()
    with pytest.raises(grpc.RpcError):
        srv.kv().Put(etcdrpc.PutRequest(key=b"wal/c", value=b"3"), timeout=10)
    assert srv.wait_log("halted")  # the refusal can reach the client before the line is written
    assert not srv.kv().Range(etcdrpc.RangeRequest(key=b"wal/", range_end=b"wal0", serializable=True),
                              timeout=10).count == 3


def load_then_crash_machine(srv, seconds):
    """Puts under load for `seconds`, kill -9, then what a machine restart leaves: the marker
    member/db/unsynced (format in docs/storage.md) names another boot, and pages of the LMDB file were
    never written. Returns the acknowledged (revision, request, response) triples and the marker's ids."""
    acked = load_then_kill(srv, 2, seconds)
    marker = os.path.join(srv.data_dir, "member", "db", "unsynced")
    with open(marker) as f:
        _, cluster_hex, member_hex = f.read().split()
    with open(marker, "w") as f:
        f.write("%s %s %s\n" % ("00000000-0000-4000-8000-000000000000", cluster_hex, member_hex))
    data = os.path.join(srv.data_dir, "member", "db", "data.mdb")
    rnd = random.Random(5)
    with open(data, "r+b") as f:
        size = os.path.getsize(data)
        for _ in range(8):
            f.seek(rnd.randrange(0, size // 4096) * 4096)
            f.write(bytes(rnd.randrange(256) for _ in range(4096)))
    return acked, int(cluster_hex, 16)


def assert_acked_present(srv, acked):
    kv = srv.kv()
    for rev, q, _ in acked:
        key = etcdrpc.PutRequest.FromString(q).key
        got = kv.Range(etcdrpc.RangeRequest(key=key), timeout=10)
        assert got.kvs and got.kvs[0].mod_revision == rev, key


def test_machine_restart_rebuilds_store_from_raft_log(server_factory):
    """The store commits without flushing (the Raft log is its write-ahead log). After a simulated machine
    restart the store is discarded and rebuilt from the Raft log (no checkpoint was taken yet), each entry
    checked against the ledger, leaf by leaf: every acknowledged write, the lease, the compaction and the
    cluster identity come back, and the audit agrees. Starting without the ledger is refused: it would
    leave the ledger behind the store."""
    srv = server_factory.start(args=SIGN)
    lease = etcdrpc.LeaseStub(srv.channel()).LeaseGrant(etcdrpc.LeaseGrantRequest(TTL=600), timeout=10)
    srv.kv().Put(etcdrpc.PutRequest(key=b"leased", value=b"x", lease=lease.ID), timeout=10)
    cluster = srv.kv().Put(etcdrpc.PutRequest(key=b"old", value=b"1"), timeout=10).header.cluster_id
    compact_at = srv.kv().Put(etcdrpc.PutRequest(key=b"old", value=b"2"), timeout=10).header.revision
    srv.kv().Compact(etcdrpc.CompactionRequest(revision=compact_at), timeout=10)
    acked, _ = load_then_crash_machine(srv, 1.0)
    srv.args = SIGN + ["--ledger=false"]
    with pytest.raises(lkvtest.ServerError):
        srv.start(timeout=10)
    assert "--ledger=false would let the store go ahead of it" in srv.log_text()
    srv.args = SIGN
    srv.start()
    assert "not flushed before the machine restarted: it starts from its checkpoint at index 0" in \
        srv.log_text(), srv.log_tail()
    assert_acked_present(srv, acked)
    kv = srv.kv()
    got = kv.Range(etcdrpc.RangeRequest(key=b"leased"), timeout=10)
    assert got.kvs[0].lease == lease.ID and got.header.cluster_id == cluster
    with pytest.raises(grpc.RpcError) as e:
        kv.Range(etcdrpc.RangeRequest(key=b"old", revision=compact_at - 1), timeout=10)
    assert "compacted" in e.value.details()
    ttl = etcdrpc.LeaseStub(srv.channel()).LeaseTimeToLive(etcdrpc.LeaseTimeToLiveRequest(ID=lease.ID), timeout=10)
    assert ttl.TTL > 0
    srv.stop()
    assert not os.path.exists(os.path.join(srv.data_dir, "member", "db", "unsynced"))
    p = audit(srv.data_dir)
    assert p.returncode == 0, p.stderr


def test_machine_restart_rebuilds_from_checkpoint(server_factory):
    """With --ledger-checkpoint-interval the store is copied while it serves; a rebuild starts from the
    copy and replays only the ledger after it."""
    srv = server_factory.start(args=SIGN + ["--ledger-checkpoint-interval", "1s"])
    for i in range(50):
        srv.kv().Put(etcdrpc.PutRequest(key=b"early/%02d" % i, value=b"x"), timeout=10)
    checkpoint = os.path.join(srv.data_dir, "member", "db", "checkpoint.mdb")
    deadline = time.monotonic() + 15
    while not os.path.exists(checkpoint) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(checkpoint), "no checkpoint after 15 s"
    acked, _ = load_then_crash_machine(srv, 1.5)
    srv.args = SIGN
    srv.start()
    log = srv.log_text()
    assert re.search(r"not flushed before the machine restarted: it starts from its checkpoint at index [1-9]",
                     log), srv.log_tail()
    assert_acked_present(srv, acked)
    assert srv.kv().Range(etcdrpc.RangeRequest(key=b"early/", range_end=b"early0"), timeout=10).count == 50
    srv.stop()
    p = audit(srv.data_dir)
    assert p.returncode == 0, p.stderr


def test_ledger_off(server_factory):
    srv = server_factory.start(args=["--ledger=false"])
    srv.kv().Put(etcdrpc.PutRequest(key=b"off", value=b"1"), timeout=10)
    assert not os.path.exists(os.path.join(srv.data_dir, "ledger", "ledger.log"))
    p = cli("receipt", "--endpoints", srv.endpoint, "--revision", 2, check=False)
    assert p.returncode == 1 and "UNIMPLEMENTED" in p.stderr
    # A store written without the ledger cannot be vouched for by it: the server refuses to start.
    srv.stop()
    srv.args = SIGN
    with pytest.raises(lkvtest.ServerError):
        srv.start(timeout=10)
    assert "ahead of its ledger" in srv.log_text()
