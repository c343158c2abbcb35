"""The ledger per member in causal mode (issue 16 item 7, docs/causal.md "Ledger in causal mode"): three
members, writes on two of them, receipts from the third.

- A receipt the third member gives for the revision at which Range served a key proves, offline, both what it
  served (the record's changes put that key and value at that revision, under a head signed by its ledger
  key) and who wrote it (the origin's Ed25519 signature over the event, with the event key GetMemberKeys
  lists): checked by `ledgerkv verify-receipt` and by ledger_verify.py's independent code. A tampered write
  set, another origin key or another value fail.
- `ledgerkv audit` passes on every stopped member's data dir, and fails once a stored value is changed.
- A store older than its ledger and event log (what a crash between the ledger's append and the store's
  commit leaves, here over several batches and a compaction) is brought up to them at the next start, the
  ledger neither skipping nor duplicating a record (the audit's tree size and root are unchanged); kill -9 under load
  leaves a data dir whose audit passes and which holds every acknowledged write.

ledgerkv only: etcd has no causal mode.
"""
import json
import os
import shutil
import struct
import threading

import grpc
import nacl.exceptions
import nacl.signing
import pytest

import ledger_verify as lv
import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster, contents, converged, put
from test_ledger import audit, audit_pair, cli

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

class SignedCausalCluster(CausalCluster):
    def flags(self, member):
        return super().flags(member) + ["--ledger-sign-interval", "20ms"]


@pytest.fixture
def cluster():
    yield from started(cls=SignedCausalCluster)


def member_keys(member):
    return json.loads(cli("receipt", "--endpoints", member.endpoint, "--member-keys").stdout)


def receipt(member, revision):
    return json.loads(cli("receipt", "--endpoints", member.endpoint, "--revision", revision).stdout)


def served(member, key):
    resp = member.kv().Range(etcdrpc.RangeRequest(key=key.encode()), timeout=2)
    assert len(resp.kvs) == 1
    return resp.kvs[0].mod_revision, resp.kvs[0].value.decode()


def py_check(r, ledger_key_hex, origin_key_hex, key, value):
    """The independent check of a causal receipt: head signature, leaf and inclusion, the body against the
    leaf, the origin's signature (docs/causal.md §1: event = body ‖ Ed25519 signature; origin at byte 8), the
    key-value. Returns the origin's member id, or None when anything fails."""
    h = r["head"]
    sth = {"tree_size": h["tree_size"], "root": bytes.fromhex(h["root"]), "revision": h["revision"],
           "timestamp_ms": h["timestamp_ms"], "signature": bytes.fromhex(h["signature"])}
    if h["public_key"] != ledger_key_hex or not lv.verify_sth(sth, bytes.fromhex(ledger_key_hex)):
        return None
    if r["kind"] != lv.CAUSAL_EVENT:
        return None
    # The entry the leaf commits to: its header from the receipt, its body disclosed (docs/ledger.md §3, §4).
    try:
        e = lv.parse_entry(struct.pack(">Bq", r["kind"], r["revision"]) + bytes.fromhex(r["claims_digest"]) +
                           bytes.fromhex(r["write_set"]))
    except (ValueError, struct.error):
        return None
    if e["ws_digest"].hex() != r["write_set_digest"]:
        return None
    if not lv.verify_inclusion(r["leaf_index"], h["tree_size"], e["leaf"], [bytes.fromhex(p) for p in r["proof"]],
                               sth["root"]):
        return None
    event, ops = e["event"], {op[1]: op[2] for op in e["ops"] if op[0] == "put"}
    try:
        nacl.signing.VerifyKey(bytes.fromhex(origin_key_hex)).verify(event[:-64], event[-64:])
    except nacl.exceptions.BadSignatureError:
        return None
    if event[:8] != b"lkvcevt1" or ops.get(key.encode()) != value.encode():
        return None
    return struct.unpack("<Q", event[8:16])[0]


def verify_cli(tmp_path, r, *args):
    path = str(tmp_path / "receipt.json")
    with open(path, "w") as f:
        json.dump(r, f)
    return cli("verify-receipt", path, *args, check=False)


def test_receipts_audit_and_restarts(cluster, tmp_path):
    a, b, c = cluster.members
    put(a, "from/a", "va")
    put(b, "from/b", "vb")
    put(a, "from/a2", "va2")
    wait_for(lambda: converged(cluster.members, 3), CONVERGE_TIMEOUT)

    keys = member_keys(c)
    ids = {m["name"]: int(m["id"], 16) for m in keys["members"]}
    # Every member's ledger key (heads) and event key (events) are listed, once the hellos have come.
    wait_for(lambda: all(m["public_key"] and m.get("event_public_key") for m in member_keys(c)["members"]),
             CONVERGE_TIMEOUT)
    keys = {m["name"]: m for m in member_keys(c)["members"]}
    c_key = keys[c.name]["public_key"]
    for name, key, value in (("m1", "from/a", "va"), ("m2", "from/b", "vb"), ("m1", "from/a2", "va2")):
        rev, got = served(c, key)
        assert got == value
        r = receipt(c, rev)
        assert r["kind"] == lv.CAUSAL_EVENT and r["revision"] == rev
        origin_key = keys[name]["event_public_key"]
        assert py_check(r, c_key, origin_key, key, value) == ids[name]
        p = verify_cli(tmp_path, r, "--endpoints", c.endpoint, "--kv", "%s=%s" % (key, value))
        assert p.returncode == 0 and ("of member %x" % ids[name]) in p.stdout, p.stdout + p.stderr
        p = verify_cli(tmp_path, r, "--key", c_key, "--origin-key", origin_key, "--kv", "%s=%s" % (key, value))
        assert p.returncode == 0, p.stderr
        # Another value, another origin, a changed write set: each fails, in both verifiers.
        assert verify_cli(tmp_path, r, "--endpoints", c.endpoint, "--kv", "%s=x" % key).returncode == 1
        other = keys["m3"]["event_public_key"]
        assert verify_cli(tmp_path, r, "--key", c_key, "--origin-key", other).returncode == 1
        assert py_check(r, c_key, other, key, value) is None
        body = bytearray.fromhex(r["write_set"])
        body[-1] ^= 1
        bad = dict(r, write_set=body.hex())
        assert verify_cli(tmp_path, bad, "--endpoints", c.endpoint).returncode == 1
        assert py_check(bad, c_key, origin_key, key, value) is None

    # The store older than its ledger: saved while c is stopped, written on (local and remote events), put back.
    c.stop()
    saved = str(tmp_path / "old-db")
    shutil.copytree(os.path.join(c.data_dir, "member", "db"), saved)
    cluster.restart(c)
    put(c, "after/c", "vc")
    c.kv().Compact(etcdrpc.CompactionRequest(revision=3), timeout=5)  # a COMPACTION record between events
    put(a, "after/a", "va")
    wait_for(lambda: converged(cluster.members, 5), CONVERGE_TIMEOUT)
    for m in cluster.members:
        m.stop()
    pairs = [audit_pair(m.data_dir) for m in cluster.members]
    # One record per event (and c's compaction); the trees differ (local orders).
    assert [size for size, _ in pairs] == [5, 5, 6]
    for m, (size, root) in zip(cluster.members, pairs):  # the independent reader agrees, event by event
        entries = lv.read_log(os.path.join(m.data_dir, "ledger", "ledger.log"), want_version=2)
        assert bytes.fromhex(root) == lv.mth([e["leaf"] for e in entries])
        events = [e for e in entries if e["kind"] == lv.CAUSAL_EVENT]
        assert [e["revision"] for e in events] == [2, 3, 4, 5, 6]
    assert [e["kind"] for e in entries] == [lv.CAUSAL_EVENT] * 4 + [lv.COMPACTION, lv.CAUSAL_EVENT]
    before = pairs[2]
    shutil.rmtree(os.path.join(c.data_dir, "member", "db"))
    shutil.copytree(saved, os.path.join(c.data_dir, "member", "db"))
    cluster.restart(c)
    assert served(c, "after/a") == (6, "va") and contents(c)[0] == 6
    with pytest.raises(grpc.RpcError, match="compacted"):  # the compaction, applied from its record
        c.kv().Range(etcdrpc.RangeRequest(key=b"from/a", revision=2), timeout=2)
    c.stop()
    assert audit_pair(c.data_dir) == before
    p = audit(c.data_dir)
    assert "causal mode: 5 events' origin signatures verified" in p.stdout, p.stdout

    # Another key recorded for a peer: its events' signatures no longer verify.
    copy = str(tmp_path / "other-key")
    shutil.copytree(c.data_dir, copy)
    with open(os.path.join(copy, "member", "causal", "peers"), "r+b") as f:
        f.seek(8)
        f.write(bytes.fromhex(keys["m3"]["event_public_key"]))
    p = audit(copy)
    assert p.returncode == 1 and "the origin's signature over its event does not verify" in p.stderr, p.stderr

    # A value changed in the store fails the audit.
    copy = str(tmp_path / "tampered")
    shutil.copytree(c.data_dir, copy)
    with open(os.path.join(copy, "member", "db", "data.mdb"), "r+b") as f:
        data = bytearray(f.read())
        at = data.find(b"va2")
        assert at >= 0
        while at >= 0:
            data[at + 2] ^= 1
            at = data.find(b"va2", at + 1)
        f.seek(0)
        f.write(data)
    p = audit(copy)
    assert p.returncode == 1 and "audit FAILED" in p.stderr, p.stdout + p.stderr


def test_kill_under_load(cluster):
    a, b, _ = cluster.members
    acked, stop = [], threading.Event()

    def load(member, prefix):
        i = 0
        while not stop.is_set():
            try:
                put(member, "%s/%d" % (prefix, i), "v%d" % i)
            except Exception:
                return
            acked.append(("%s/%d" % (prefix, i), "v%d" % i))
            i += 1

    threads = [threading.Thread(target=load, args=(m, m.name)) for m in (a, b)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) > 60, CONVERGE_TIMEOUT)
    cluster.kill(a)
    stop.set()
    for t in threads:
        t.join()
    cluster.restart(a)
    wait_for(lambda: converged(cluster.members, contents(b)[0] - 1), CONVERGE_TIMEOUT)
    data = contents(a)[1]
    assert all(data.get(k) == v for k, v in acked)
    for m in cluster.members:
        m.stop()
        p = audit(m.data_dir)
        assert p.returncode == 0 and "audit OK" in p.stdout, p.stdout + p.stderr


def test_machine_restart_and_ledger_false(tmp_path):
    """One causal member: after a simulated machine restart (the store's unflushed commits lost: its file
    discarded) the store is rebuilt from the event log and the ledger's records, in their order (the
    compaction among them), each record made again compared with the ledger's; the audit passes on the same
    tree. A data dir written with --ledger=false is refused with the ledger afterwards."""
    causal = ["--consistency=causal", "--ledger-sign-interval", "20ms"]
    with lkvtest.Factory() as f:
        srv = f.start(args=causal)
        for i in range(5):
            put(srv, "k%d" % i, "v%d" % i)
        srv.kv().Compact(etcdrpc.CompactionRequest(revision=4), timeout=5)
        for i in range(5, 10):
            put(srv, "k%d" % i, "v%d" % i)
        srv.kill()
        marker = os.path.join(srv.data_dir, "member", "db", "unsynced")
        with open(marker) as fh:
            _, cluster_hex, member_hex = fh.read().split()
        with open(marker, "w") as fh:
            fh.write("00000000-0000-4000-8000-000000000000 %s %s\n" % (cluster_hex, member_hex))
        srv.start()
        _, data = contents(srv)
        assert data == {"k%d" % i: "v%d" % i for i in range(10)}
        with pytest.raises(grpc.RpcError, match="compacted"):
            srv.kv().Range(etcdrpc.RangeRequest(key=b"k0", revision=3), timeout=2)
        # the store was rebuilt: its compaction made again from the ledger's record (its removal of history
        # runs in the background and logs when it is done: waited for, not read once)
        assert srv.wait_log("finished scheduled compaction at 4", count=2), srv.log_tail()
        srv.stop()
        size, root = audit_pair(srv.data_dir)
        entries = lv.read_log(os.path.join(srv.data_dir, "ledger", "ledger.log"), want_version=2)
        assert size == 11 and bytes.fromhex(root) == lv.mth([e["leaf"] for e in entries])
        assert [e["kind"] for e in entries] == [lv.CAUSAL_EVENT] * 5 + [lv.COMPACTION] + [lv.CAUSAL_EVENT] * 5
        assert [e["revision"] for e in entries if e["kind"] == lv.CAUSAL_EVENT] == list(range(2, 12))

        plain = f.start(args=causal + ["--ledger=false"])
        put(plain, "k", "v")
        plain.stop()
        shutil.rmtree(os.path.join(plain.data_dir, "ledger"), ignore_errors=True)
        plain.args = causal
        with pytest.raises(lkvtest.ServerError, match="written with --ledger=false"):
            plain.start()
