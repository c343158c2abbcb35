"""`ledgerkv audit` on causal members' data dirs that hold leases (docs/ledger.md "Causal mode", docs/causal.md
§5, §14): a grant, or a revoke that deleted no key, is part of its event's CAUSAL_EVENT record, not a
LEASE_GRANT / LEASE_REVOKE record of its own, and a remote member's leases exist on every member. The audit
rebuilds each member's lease table from its events, and compares it with the store's.

- Three members: leases granted on two of them, keys attached on the owner and on another member, one lease
  revoked with its keys, one revoked with none, one expired by its owner with its key: every stopped member's
  audit passes (before the fix: "the store's leases differ from the ledger's" on every member).
- A lease's TTL changed in a copy of a member's store fails its audit.
- A member that owns a lease with keys (one attached by another member) removed: its leases end with the
  removal on the members still in (docs/causal.md §15a), and their audits pass.

ledgerkv only: etcd has no causal mode.
"""
import os
import shutil
import struct

import pytest

import lkvtest
from cluster import wait_for
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, PUT_TIMEOUT, cluster  # noqa: F401 (cluster: the fixture)
from test_causal_lease import grant, lease, leased, put, tag
from test_ledger import audit

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")


def leases(member):
    return sorted(s.ID for s in lease(member).LeaseLeases(etcdrpc.LeaseLeasesRequest(), timeout=5).leases)


def test_audit_rebuilds_causal_leases(cluster, tmp_path):
    a, b, c = cluster.members
    keep = grant(a, 600)
    gone = grant(a, 600)
    empty = grant(a, 600)
    short = grant(b, 2)
    put(a, "l/keep-a", "1", keep)
    put(a, "l/gone-a", "2", gone)
    put(b, "l/short-b", "3", short)
    wait_for(lambda: put(c, "l/keep-c", "4", keep), CONVERGE_TIMEOUT)  # once c applied a's grant
    wait_for(lambda: put(b, "l/gone-b", "5", gone), CONVERGE_TIMEOUT)
    lease(a).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=gone), timeout=PUT_TIMEOUT)
    lease(a).LeaseRevoke(etcdrpc.LeaseRevokeRequest(ID=empty), timeout=PUT_TIMEOUT)
    want = {"l/keep-a": keep, "l/keep-c": keep}
    wait_for(lambda: all(leased(m, "l/")[1] == want and leases(m) == [keep] for m in cluster.members),
             CONVERGE_TIMEOUT)  # short expired on b, with its key, everywhere
    wait_for(lambda: len({leased(m, "l/")[0] for m in cluster.members}) == 1, CONVERGE_TIMEOUT)
    for m in cluster.members:
        m.stop()
    for m in cluster.members:
        p = audit(m.data_dir)
        assert p.returncode == 0 and "audit OK" in p.stdout, p.stdout + p.stderr

    # keep's TTL changed in a copy of c's store (every copy LMDB keeps of the lease's record): the audit fails.
    copy = str(tmp_path / "tampered")
    shutil.copytree(c.data_dir, copy)
    record = struct.pack(">qq", keep, 600)
    with open(os.path.join(copy, "member", "db", "data.mdb"), "r+b") as f:
        data = bytearray(f.read())
        at = data.find(record)
        assert at >= 0
        while at >= 0:
            data[at + 15] ^= 1
            at = data.find(record, at + 1)
        f.seek(0)
        f.write(data)
    p = audit(copy)
    assert p.returncode == 1 and "the store's leases differ from the ledger's" in p.stderr, p.stdout + p.stderr


def test_audit_after_a_removal_ends_leases(cluster):
    a, b, c = cluster.members
    for m in cluster.members:
        m.status()  # learns m.id
    lid, own = grant(c, 60), grant(a, 60)
    put(c, "r/c", "1", lid)
    wait_for(lambda: put(b, "r/b", "2", lid), CONVERGE_TIMEOUT)  # once b applied c's grant
    put(a, "r/a", "3", own)
    want = {"r/c": lid, "r/b": lid, "r/a": own}
    wait_for(lambda: all(leased(m, "r/")[1] == want for m in cluster.members), CONVERGE_TIMEOUT)
    cluster.cut_off(c)
    lkvtest.etcdctl(a, "member", "remove", "%x" % c.id)
    wait_for(lambda: all(leased(m, "r/")[1] == {"r/a": own} and leases(m) == [own] for m in (a, b)),
             CONVERGE_TIMEOUT)
    assert not [i for i in leases(b) if i >> 48 == tag(c)]
    for m in (a, b):
        m.stop()
        p = audit(m.data_dir)
        assert p.returncode == 0 and "audit OK" in p.stdout, p.stdout + p.stderr
