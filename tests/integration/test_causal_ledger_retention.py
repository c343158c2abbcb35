"""Ledger retention in causal mode (docs/ledger.md §16, docs/causal.md §14): one causal member with
--ledger-retention 50 and a store checkpoint every second drops the records older than both the newest 50
and the checkpoint, as a single node in Raft mode does, with the same guarantees: the audit verifies from
the base (every remaining event's origin signature too) and prints the tree of a copy that kept the whole
history; recent receipts verify, a pruned one is refused with OUT_OF_RANGE and the retention's message, one
taken before the pruning still verifies offline, and a head signed before it is consistent with a later
one; after kill -9 under load every acknowledged write is served with its receipt; after a machine restart
(the store's unflushed commits lost) the store is rebuilt from its checkpoint (its records are no longer
there to rebuild it from the start) and every acknowledged write is there again.

ledgerkv only: etcd has no causal mode.
"""
import shutil
import struct

import pytest

import ledger_verify as lv
import lkvtest
from etcd3 import etcdrpc
from test_causal_ledger import member_keys, py_check, verify_cli
from test_ledger import SIGN, assert_acked_present, audit, cli, fetch, load_then_crash_machine, load_then_kill, \
    node_key
from test_ledger_retention import audit_from_base, heads_after, put_many, restart_tree_goes_on, wait_base

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

CAUSAL = SIGN + ["--consistency=causal"]
RETAIN = CAUSAL + ["--ledger-checkpoint-interval", "1s", "--ledger-retention", "50"]


def both_verify(tmp_path, r, keys, kv, req=None, resp=None):
    """A causal receipt checked by `ledgerkv verify-receipt` and by the independent check (the ledger key's
    head, the origin's signature, the key-value put, the claims of the client's request and response when
    given); both must agree."""
    ledger_key, origin_key = keys
    args = ["--key", ledger_key, "--origin-key", origin_key, "--kv", "%s=%s" % kv]
    if req is not None:
        for suffix, data in ((".req", req), (".resp", resp)):
            with open(str(tmp_path / ("receipt" + suffix)), "wb") as f:
                f.write(data)
        args += ["--request-file", str(tmp_path / "receipt.req"), "--response-file", str(tmp_path / "receipt.resp")]
    by_cli = verify_cli(tmp_path, r, *args).returncode == 0
    # A member's own event: the claims cover the response as it was sent, member_id included (causal.md §14).
    by_py = py_check(r, ledger_key, origin_key, *kv) is not None and (req is None or lv.sha(
        struct.pack(">Q", len(req)) + req + struct.pack(">Q", len(resp)) + resp).hex() == r["claims_digest"])
    assert by_cli == by_py, "the two verifiers disagree (python %s, ledgerkv %s) on %s" % (by_py, by_cli, r)
    return by_py


def acked_kv(put_request):
    q = etcdrpc.PutRequest.FromString(put_request)
    return q.key.decode(), q.value.decode()


def test_causal_retention(server_factory, tmp_path):
    srv = server_factory.start(args=CAUSAL + ["--ledger-retention", "all"])
    keys = node_key(srv), member_keys(srv)["members"][0]["event_public_key"]
    key = keys[0]
    revs = put_many(srv, b"early", 200)
    old_head = heads_after(srv, revs[-1])
    kept_receipt = fetch(srv, revs[5])
    srv.stop()
    full = str(tmp_path / "full")
    shutil.copytree(srv.data_dir, full)

    srv.args = RETAIN
    srv.start()
    base = wait_base(srv.data_dir, 0)
    assert 140 <= base <= 150, base
    for i in range(190, 200):
        assert both_verify(tmp_path, fetch(srv, revs[i]), keys, ("early/%04d" % i, "v" * 200))
    p = cli("receipt", "--endpoints", srv.endpoint, "--revision", revs[5], check=False)
    assert p.returncode != 0 and "OUT_OF_RANGE" in p.stderr and "pruned by the retention policy" in p.stderr, \
        p.stderr
    assert both_verify(tmp_path, kept_receipt, keys, ("early/0005", "v" * 200))
    srv.stop()

    out = audit_from_base(srv, full, old_head)
    assert "causal mode: %d events' origin signatures verified" % (200 - base) in out, out
    restart_tree_goes_on(srv, old_head, key)

    acked = load_then_kill(srv, 2, 1.5)
    srv.start()
    assert_acked_present(srv, acked)
    last = max(acked)
    assert both_verify(tmp_path, fetch(srv, last[0]), keys, acked_kv(last[1]), last[1], last[2])
    wait_base(srv.data_dir, base)  # the base moves on

    acked, _ = load_then_crash_machine(srv, 1.0)
    srv.start()
    assert srv.wait_log("not flushed before the machine restarted: it starts from its checkpoint at event"), \
        srv.log_tail()
    assert_acked_present(srv, acked)
    last = max(acked)
    assert both_verify(tmp_path, fetch(srv, last[0]), keys, acked_kv(last[1]), last[1], last[2])
    srv.stop()
    p = audit(srv.data_dir)
    assert p.returncode == 0 and "causal mode:" in p.stdout, p.stdout + p.stderr
