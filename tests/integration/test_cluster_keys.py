"""Members' ledger keys in the membership (issue 12, item 5): every member of a three-member cluster lists
the same keys (Ledger.GetMemberKeys, `ledgerkv receipt --member-keys`), each the key in that member's own
node.key; a receipt fetched from each member is signed with the key the membership lists for that member,
and `ledgerkv verify-receipt --endpoints` accepts it while refusing a receipt whose key the cluster did not
record (a single node's, which lists its own key). A member whose node.key is replaced publishes its new
key when it starts again, and every member lists it. MemberList is unchanged (its fields are etcd's).
"""
import json
import os
import time

import pytest

import lkvtest
from cluster import started
from etcd3 import etcdrpc
from test_ledger import cli


@pytest.fixture
def cluster():
    if lkvtest.TARGET != "ledgerkv":
        pytest.skip("ledgerkv's own Ledger service")
    yield from started(size=3)


def own_key(member):
    return cli("ledger-key", "--data-dir", member.data_dir).stdout.split()[0]


def member_keys(member):
    """{member id: (name, key hex)} as this member's membership lists them, and who answered."""
    out = json.loads(cli("receipt", "--endpoints", member.endpoint, "--member-keys").stdout)
    return int(out["member_id"], 16), {int(m["id"], 16): (m["name"], m["public_key"]) for m in out["members"]}


def wait_keys(cluster, want, timeout=15.0):
    """Waits until every running member lists exactly want ({id: (name, key)}); returns the last lists."""
    deadline = time.monotonic() + timeout
    while True:
        lists = {m.name: member_keys(m)[1] for m in cluster.running()}
        if all(got == want for got in lists.values()) or time.monotonic() > deadline:
            return lists
        time.sleep(0.1)


def put(member, key, value):
    return etcdrpc.KVStub(member.channel()).Put(etcdrpc.PutRequest(key=key, value=value), timeout=10)


def receipt(member, revision):
    """The member's receipt for revision, once the member has applied it (a write acknowledged by another
    member reaches a follower a moment later: until then it answers "future revision", as etcd would)."""
    deadline = time.monotonic() + 10
    while True:
        p = cli("receipt", "--endpoints", member.endpoint, "--revision", revision, check=False)
        if p.returncode == 0 or "future revision" not in p.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert p.returncode == 0, "receipt --revision %s on %s: %s%s" % (revision, member.name, p.stdout, p.stderr)
    return json.loads(p.stdout)


def verify_against(tmp_path, member, r):
    path = os.path.join(str(tmp_path), "receipt-%s.json" % member.name)
    with open(path, "w") as f:
        json.dump(r, f)
    return cli("verify-receipt", "--endpoints", member.endpoint, path, check=False)


def test_receipts_chain_back_to_the_membership(cluster, tmp_path):
    for m in cluster.members:
        m.status()  # learns m.id
    want = {m.id: (m.name, own_key(m)) for m in cluster.members}
    assert len({k for _, k in want.values()}) == 3  # three members, three keys
    lists = wait_keys(cluster, want)
    assert all(got == want for got in lists.values()), lists
    for m in cluster.members:
        assert member_keys(m)[0] == m.id
    # MemberList still shows etcd's fields only, the same as before.
    ml = etcdrpc.ClusterStub(cluster.members[0].channel()).MemberList(etcdrpc.MemberListRequest(), timeout=10)
    assert {x.ID: x.name for x in ml.members} == {i: n for i, (n, _) in want.items()}
    assert all(x.clientURLs and x.peerURLs for x in ml.members)

    rev = put(cluster.members[0], b"k", b"v").header.revision
    for m in cluster.members:
        r = receipt(m, rev)
        assert r["head"]["public_key"] == want[m.id][1], (m.name, r["head"]["public_key"], want)
        for asked in cluster.members:  # any member's membership vouches for any member's receipt
            p = verify_against(tmp_path, asked, r)
            assert p.returncode == 0 and "signed by member %s (%x)" % (m.name, m.id) in p.stdout, p.stdout + p.stderr
    # A receipt signed with a key the cluster never recorded is refused, even though it is self-consistent.
    single = lkvtest.Server(lkvtest.TARGET, str(tmp_path / "single"))
    single.start()
    try:
        srev = put(single, b"k", b"v").header.revision
        foreign = receipt(single, srev)
        single_id, single_keys = member_keys(single)  # a single node lists itself, with its key
        assert single_keys == {single_id: ("node1", own_key(single))}
        assert foreign["head"]["public_key"] == own_key(single)
    finally:
        single.stop()
    p = verify_against(tmp_path, cluster.members[1], foreign)
    assert p.returncode == 1 and "records no member with the key " + foreign["head"]["public_key"] in p.stderr, \
        p.stdout + p.stderr


def test_replaced_key_is_published_again(cluster):
    for m in cluster.members:
        m.status()
    want = {m.id: (m.name, own_key(m)) for m in cluster.members}
    assert all(got == want for got in wait_keys(cluster, want).values())
    m = cluster.members[2]
    m.stop()
    os.remove(os.path.join(m.data_dir, "ledger", "node.key"))
    cluster.restart(m)
    new_key = own_key(m)
    assert new_key != want[m.id][1]
    want[m.id] = (m.name, new_key)
    lists = wait_keys(cluster, want)
    assert all(got == want for got in lists.values()), lists
    rev = put(cluster.members[0], b"k2", b"v").header.revision
    assert receipt(m, rev)["head"]["public_key"] == new_key
