"""Corruption checks across members (issue 14 item 4): etcd 3.4's --experimental-initial-corrupt-check and
--experimental-corrupt-check-time. A three-member cluster, one follower's store altered offline (the bytes
of one value rewritten in place in its backend file: neither LMDB nor bbolt checksums its pages):

- restarted with the initial check, the follower compares its HashKV with its peers' and refuses to start
  with etcd's "found data inconsistency with peers";
- restarted without it, the leader's periodic check finds the follower's hash different at the same
  revision and raises CORRUPT for member 0: `etcdctl alarm list` shows it, and writes are refused with etcd's
  "etcdserver: corrupt cluster" (DataLoss) while reads still answer.

The same periodic check finds the altered follower in a cluster whose members talk over mutual TLS and
advertise only https:// client URLs (both servers ask their peers over the peer port).

ledgerkv also compares the ledger roots: a follower whose ledger history was rewritten (one entry's claims
digest changed with its frame's leaf hash, the derived files and the heads dropped: it opens, and signs
heads over the rewritten tree) but whose store is intact agrees on HashKV, yet the initial check refuses it
and the leader's periodic check raises CORRUPT.

Runs against etcd with LEDGERKV_TARGET=etcd (to validate the test) and against ledgerkv otherwise.
"""
import os
import struct

import grpc
import pytest

import ledger_verify
import lkvtest
from etcd3 import etcdrpc
from cluster import Cluster, wait_for
from test_tls_peer import TlsCluster, mtls
from tlspki import pki  # noqa: F401 (a fixture)

ORIGINAL = b"corrupt-check-value-AAAAAAAA"
ALTERED = b"corrupt-check-value-BBBBBBBB"


class CheckedCluster(Cluster):
    """A Cluster whose members may carry flags of their own (member.extra)."""

    def flags(self, member):
        return super().flags(member) + list(getattr(member, "extra", ()))


@pytest.fixture
def cluster():
    # A small --snapshot-count: etcd 3.4's initial check asks the members its last snapshot lists, and
    # asks no one before it has one.
    c = CheckedCluster(size=3, extra_flags=["--experimental-corrupt-check-time", "1s", "--snapshot-count", "10"])
    try:
        c.start()
        yield c
    finally:
        c.close()


def alter_store(member):
    """Rewrites every copy of ORIGINAL in the member's backend file (stopped) as ALTERED; returns the count."""
    # ledgerkv's LMDB store, etcd's bbolt file; the Raft log and the ledger are left as they were.
    path = os.path.join(member.data_dir, "member", "snap", "db") if member.kind == "etcd" else \
        os.path.join(member.data_dir, "member", "db", "data.mdb")
    with open(path, "r+b") as f:
        data = f.read()
        count = data.count(ORIGINAL)
        f.seek(0)
        f.write(data.replace(ORIGINAL, ALTERED))
    return count


def alter_ledger(member):
    """Rewrites the claims digest of the member's (stopped) first REVISION entry, with its frame's leaf hash
    (docs/ledger.md §4, §6), so that the log still verifies; drops the files derived from the log and the
    signed heads (which no longer match), so the member opens it and signs the rewritten tree."""
    d = os.path.join(member.data_dir, "ledger")
    path = os.path.join(d, "ledger.log")
    data = bytearray(open(path, "rb").read())
    p = 24
    while data[p + 44] != ledger_verify.REVISION:
        p += 44 + struct.unpack_from(">I", data, p + 8)[0]
    n = struct.unpack_from(">I", data, p + 8)[0]
    entry = data[p + 44:p + 44 + n]
    kind, rev = struct.unpack_from(">Bq", entry, 0)
    claims = ledger_verify.sha(b"rewritten")
    data[p + 44 + 9:p + 44 + 41] = claims
    data[p + 12:p + 44] = ledger_verify.leaf_hash(kind, rev, ledger_verify.sha(bytes(entry[41:])), claims)
    open(path, "wb").write(bytes(data))
    for name in ("ledger.idx", "ledger.nodes"):
        os.unlink(os.path.join(d, name))
    with open(os.path.join(d, "ledger.heads"), "r+b") as f:
        f.truncate(16)  # the header alone


def alarms(member):
    return lkvtest.etcdctl(member, "alarm", "list").stdout


def test_initial_and_periodic_checks(cluster):
    lead = cluster.wait_ready()
    kv = etcdrpc.KVStub(lead.channel())
    kv.Put(etcdrpc.PutRequest(key=b"k", value=ORIGINAL), timeout=5)
    for i in range(20):
        kv.Put(etcdrpc.PutRequest(key=b"other", value=b"v%d" % i), timeout=5)
    f = cluster.followers()[0]
    # The values (none while the follower lags: not yet, rather than an IndexError that ends the wait).
    wait_for(lambda: [x.value for x in etcdrpc.KVStub(f.channel()).Range(
        etcdrpc.RangeRequest(key=b"other", serializable=True), timeout=2).kvs] == [b"v19"])
    # Consistent members: the periodic checks pass and raise nothing. ledgerkv's leader also compares each
    # follower's latest signed tree head with its own tree's root at that size.
    lead.wait_log("finished peer corruption check", count=2)
    if lead.kind == "ledgerkv":
        lead.wait_log("ledger roots compared: 2")
    assert alarms(lead) == ""

    f.stop()
    assert alter_store(f) >= 1

    f.extra = ["--experimental-initial-corrupt-check"]
    with pytest.raises(lkvtest.ServerError):
        cluster.restart(f, timeout=20)
    log = f.last_start_log()
    assert "found data inconsistency with peers" in log
    assert "Sanitizer" not in log  # the refusal's way out frees what the start built (ASan build)
    assert alarms(lead) == ""  # refused before it served or took part

    f.extra = []
    cluster.restart(f)
    wait_for(lambda: "alarm:CORRUPT" in alarms(lead), timeout=15)
    assert alarms(f) == "alarm:CORRUPT \n"  # member 0: etcdctl prints no memberID

    # etcd's corrupt applier: writes refused, reads served.
    with pytest.raises(grpc.RpcError) as e:
        kv.Put(etcdrpc.PutRequest(key=b"k2", value=b"v"), timeout=5)
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.DATA_LOSS, "etcdserver: corrupt cluster")
    assert kv.Range(etcdrpc.RangeRequest(key=b"other"), timeout=5).kvs[0].value == b"v19"

    # docs/cluster.md's recovery: the member with the altered store out of the cluster, then the alarm
    # disarmed; the leader's checks find no one else to disagree with, and writes are taken again.
    f.stop()
    lkvtest.etcdctl(lead, "alarm", "disarm")
    assert alarms(lead) == ""
    kv.Put(etcdrpc.PutRequest(key=b"k2", value=b"v"), timeout=5)


def test_ledger_roots_compared(cluster):
    """A follower with a rewritten ledger and an intact store: refused by the initial check, found by the
    leader's periodic one (CORRUPT) once it has signed a head over its tree."""
    lead = cluster.wait_ready()
    if lead.kind != "ledgerkv":
        pytest.skip("etcd has no ledger")
    kv = etcdrpc.KVStub(lead.channel())
    for i in range(20):
        kv.Put(etcdrpc.PutRequest(key=b"other", value=b"v%d" % i), timeout=5)
    f = cluster.followers()[0]
    wait_for(lambda: [x.value for x in etcdrpc.KVStub(f.channel()).Range(
        etcdrpc.RangeRequest(key=b"other", serializable=True), timeout=2).kvs] == [b"v19"])
    lead.wait_log("ledger roots compared: 2")
    f.stop()
    alter_ledger(f)

    f.extra = ["--experimental-initial-corrupt-check"]
    with pytest.raises(lkvtest.ServerError):
        cluster.restart(f, timeout=20)
    log = f.last_start_log()
    assert "found data inconsistency with peers" in log and "differs from this member's" in log, log[-3000:]
    assert "'s hash " not in log  # HashKV agreed: the store is intact
    assert "Sanitizer" not in log
    assert alarms(lead) == ""

    f.extra = []
    cluster.restart(f)
    kv.Put(etcdrpc.PutRequest(key=b"after", value=b"1"), timeout=5)  # the follower signs a head over it
    wait_for(lambda: "alarm:CORRUPT" in alarms(lead), timeout=15)
    assert "differs from this member's" in lead.log_text()
    with pytest.raises(grpc.RpcError) as e:
        kv.Put(etcdrpc.PutRequest(key=b"k2", value=b"v"), timeout=5)
    assert (e.value.code(), e.value.details()) == (grpc.StatusCode.DATA_LOSS, "etcdserver: corrupt cluster")


class TlsCheckedCluster(TlsCluster):
    """Members over mutual TLS whose only advertised client URL is https:// (the tests' own calls use a
    cleartext listener beside it)."""

    def __init__(self, pki, **kwargs):
        super().__init__(lambda name: mtls(pki), **kwargs)
        self.pki = pki

    def flags(self, member):
        f = super().flags(member)
        if not hasattr(member, "https_port"):
            member.https_port = lkvtest.free_port()
        https = "https://127.0.0.1:%d" % member.https_port
        f[f.index("--listen-client-urls") + 1] += "," + https
        f[f.index("--advertise-client-urls") + 1] = https
        return f + ["--cert-file", self.pki.path("server.pem"), "--key-file", self.pki.path("server.key")]


def test_periodic_check_over_tls_peers(pki):
    c = TlsCheckedCluster(pki, extra_flags=["--experimental-corrupt-check-time", "1s"])
    try:
        lead = c.start()
        kv = etcdrpc.KVStub(lead.channel())
        kv.Put(etcdrpc.PutRequest(key=b"k", value=ORIGINAL), timeout=5)
        f = c.followers()[0]
        wait_for(lambda: [x.value for x in etcdrpc.KVStub(f.channel()).Range(
            etcdrpc.RangeRequest(key=b"k", serializable=True), timeout=2).kvs] == [ORIGINAL])
        if lead.kind == "ledgerkv":  # both followers answered, over the peer port
            lead.wait_log("number of peers checked: 2")
        f.stop()
        assert alter_store(f) >= 1
        c.restart(f)
        wait_for(lambda: "alarm:CORRUPT" in alarms(lead), timeout=15)
    finally:
        c.close()
