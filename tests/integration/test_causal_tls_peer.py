"""Causal mode over TLS peers (issue 16, docs/causal.md §10 "Members' keys"): members with etcd's --peer-*
TLS flags and --peer-client-cert-auth replicate in causal mode; a member whose certificate another CA signed
never reaches the others' peer ports: none of its events arrives, it never says hello (the others list it by
id only) and it gets nothing from them, while they replicate with each other. Certificates: tlspki.py.

ledgerkv only: etcd has no causal mode.
"""
import time

import pytest

import lkvtest
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster, put
from test_tls_peer import TlsCluster, mtls
from tlspki import pki  # noqa: F401 (a fixture)

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")


class CausalTlsCluster(TlsCluster):
    """TlsCluster's members in causal mode: each names itself as leader (CausalCluster's readiness)."""

    def __init__(self, member_flags):
        super().__init__(member_flags, extra_flags=["--consistency=causal"])

    wait_ready = CausalCluster.wait_ready
    leader = CausalCluster.leader


def value(member, key):
    got = member.kv().Range(etcdrpc.RangeRequest(key=key.encode()), timeout=5)
    return got.kvs[0].value.decode() if got.kvs else None


def wait_value(member, key, want, timeout=CONVERGE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while value(member, key) != want:
        assert time.monotonic() < deadline, "%s: %s never became %r\n%s" % (member.name, key, want,
                                                                           member.log_tail())
        time.sleep(0.05)


def names(member):
    """{member id: name} as member lists them (a peer that never said hello has no name)."""
    resp = etcdrpc.ClusterStub(member.channel()).MemberList(etcdrpc.MemberListRequest(), timeout=5)
    return {m.ID: m.name for m in resp.members}


def test_causal_members_replicate_over_mutual_tls(pki):
    with CausalTlsCluster(lambda name: mtls(pki)) as c:
        c.start()
        c.wait_ready()
        for m in c.members:
            put(m, "from/" + m.name, m.name)
        for m in c.members:
            for w in c.members:
                wait_value(m, "from/" + w.name, w.name)


def test_member_without_a_valid_certificate_gets_nothing_across(pki):
    with CausalTlsCluster(lambda name: mtls(pki, "memberforeign" if name == "m3" else "member")) as c:
        c.start_all()
        m1, m2, m3 = c.members
        for m in c.members:
            m.wait_started()
        put(m3, "from/m3", "m3")
        # the others refuse m3's handshakes (and m3 theirs): what m3 sends never gets past TLS
        assert m1.wait_log("unable to get local issuer certificate", timeout=15) or \
            m1.wait_log("alert unknown ca", timeout=1), m1.log_tail()
        assert m3.wait_log("ledgerkv: tls:", timeout=15), m3.log_tail()
        # m1 and m2 replicate with each other all along (a write after m3's arrives), m3's never does
        put(m1, "from/m1", "m1")
        wait_value(m2, "from/m1", "m1")
        m3_id = m3.status().header.member_id
        for m in (m1, m2):
            # both heard each other's hello (the other's name known), never m3's
            listed = names(m)
            other = m2 if m is m1 else m1
            assert listed[other.status().header.member_id] == other.name
            assert listed[m3_id] == "", listed
            assert value(m, "from/m3") is None
        assert value(m3, "from/m1") is None
        assert set(names(m3).values()) == {"m3", ""}, "m3 heard no hello either"
