"""Ledger retention on a single node (docs/ledger.md, "Retention"): with --ledger-retention 50 and a
checkpoint every second, the records older than both the newest 50 and the checkpoint are dropped (their
disk blocks freed), yet the audit, and ledger_verify.py reading ledger.base and ledger.log as
docs/ledger.md describes them, print the same tree size and root as a copy of the data dir that kept the
whole history; receipts for recent revisions verify, a pruned one is refused with OUT_OF_RANGE and a
message that says so; receipts taken before the pruning still verify offline; a consistency proof from a
head signed before the pruning to a later one verifies; after kill -9 under load and a restart (the store
rebuilt from its checkpoint and the ledger after it) every acknowledged write is there and has a receipt,
and the audit passes.
"""
import json
import os
import shutil
import time

from etcd3 import etcdrpc

import ledger_verify as lv

from test_ledger import SIGN, assert_acked_present, audit, audit_pair, both_verify, cli, consistent, \
    fetch, load_then_kill, node_key

RETAIN = SIGN + ["--ledger-checkpoint-interval", "1s", "--ledger-retention", "50"]


def base_of(data_dir):
    """The base ledger.base records, or 0 without one."""
    b = lv.read_base(os.path.join(data_dir, "ledger", "ledger.base"))
    return b[0] if b else 0


def independent_pair(data_dir):
    """(tree size, root hex) from ledger.base and ledger.log, read as docs/ledger.md describes them."""
    ldir = os.path.join(data_dir, "ledger")
    size, _, frontier, offset = lv.read_base(os.path.join(ldir, "ledger.base")) or (0, 0, [], 24)
    leaves = [e["leaf"] for e in lv.read_log(os.path.join(ldir, "ledger.log"), start=offset)]
    return size + len(leaves), lv.root_after(size, frontier, leaves).hex()


def wait_base(data_dir, above, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if base_of(data_dir) > above:
            return base_of(data_dir)
        time.sleep(0.1)
    raise AssertionError("the ledger's base did not pass %d in %d s" % (above, timeout))


def put_many(srv, prefix, n):
    kv = srv.kv()
    return [kv.Put(etcdrpc.PutRequest(key=b"%s/%04d" % (prefix, i), value=b"v" * 200), timeout=10).header.revision
            for i in range(n)]


def test_retention_single_node(server_factory, tmp_path):
    srv = server_factory.start(args=SIGN + ["--ledger-retention", "all"])
    key = node_key(srv)
    revs = put_many(srv, b"early", 200)
    old_head = heads_after(srv, revs[-1])
    kept_receipt = fetch(srv, revs[5])  # a receipt a client took before the pruning
    srv.stop()
    full = str(tmp_path / "full")
    shutil.copytree(srv.data_dir, full)  # the same ledger, whole history

    srv.args = RETAIN
    srv.start()
    base = wait_base(srv.data_dir, 0)
    # At most the newest 50 records kept beyond what the checkpoint covers: 200 puts, base near 150.
    assert 140 <= base <= 150, base
    log = os.path.join(srv.data_dir, "ledger", "ledger.log")
    # The pruned records' space is given back (a hole punched) just after the new base is stored.
    deadline = time.monotonic() + 10
    while True:
        st = os.stat(log)
        if st.st_blocks * 512 < st.st_size // 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert st.st_blocks * 512 < st.st_size // 2, (st.st_blocks, st.st_size)

    # Recent revisions: receipts verify; pruned ones are refused with a clear error.
    for rev in revs[-10:]:
        assert both_verify(str(tmp_path), fetch(srv, rev), key)
    p = cli("receipt", "--endpoints", srv.endpoint, "--revision", revs[5], check=False)
    assert p.returncode != 0 and "OUT_OF_RANGE" in p.stderr and "pruned by the retention policy" in p.stderr, \
        p.stderr
    assert both_verify(str(tmp_path), kept_receipt, key)  # offline, against its own head
    srv.stop()

    audit_from_base(srv, full, old_head)
    restart_tree_goes_on(srv, old_head, key)

    # kill -9 under load, restart: acknowledged writes and their receipts survive, the base moves on.
    acked = load_then_kill(srv, 2, 1.5)
    srv.start()
    assert_acked_present(srv, acked)
    last = max(acked)
    assert both_verify(str(tmp_path), fetch(srv, last[0]), key, last[1], last[2])
    moved = wait_base(srv.data_dir, base)
    assert moved > base
    srv.stop()
    p = audit(srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr


def audit_from_base(srv, full, old_head):
    """The audit of the stopped srv, whose first 200 records were pruned, verifies from the base and prints
    the pair the full copy prints (200 records, old_head's root), as ledger_verify.py computes it from the
    files alone. Returns the audit's output."""
    p = audit(srv.data_dir)
    assert p.returncode == 0 and "history starts at the base" in p.stdout, p.stdout + p.stderr
    assert "history starts" not in audit(full).stdout
    assert audit_pair(srv.data_dir) == audit_pair(full) == (200, old_head["root"])
    assert independent_pair(srv.data_dir) == independent_pair(full) == (200, old_head["root"])
    return p.stdout


def restart_tree_goes_on(srv, old_head, key):
    """After a restart the tree goes on: a head signed before the pruning is consistent with one signed
    after 5 more puts."""
    srv.start()
    new_head = heads_after(srv, put_many(srv, b"late", 5)[-1])
    assert new_head["tree_size"] == 205 and consistent(srv, old_head, new_head, key)


def heads_after(srv, rev, timeout=10):
    """The first signed head covering revision rev."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = json.loads(cli("receipt", "--endpoints", srv.endpoint, "--head").stdout)
        if h["revision"] >= rev:
            return h
        time.sleep(0.05)
    raise AssertionError("no head covers revision %d" % rev)
