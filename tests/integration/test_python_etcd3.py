"""python3-etcd3 client against the server: put/get/get_prefix/get_range/delete/delete_prefix, transactions
with version/create/mod/value compares, replace(), status(), members, compaction (and the errors it raises),
long keys (1 KiB, 100 KiB) and a 1 MiB value.
"""
import etcd3
import grpc
from etcd3 import etcdrpc
import pytest

import lkvtest


@pytest.fixture(scope="module")
def client(ledgerkv):
    c = etcd3.client(host="127.0.0.1", port=ledgerkv.port, timeout=20,
                     grpc_options=lkvtest.GRPC_OPTIONS)
    yield c
    c.close()


def fresh_client(srv):
    return etcd3.client(host="127.0.0.1", port=srv.port, timeout=20, grpc_options=lkvtest.GRPC_OPTIONS)


def test_put_get(client):
    client.put("py/k", "v1")
    value, meta = client.get("py/k")
    assert value == b"v1"
    assert meta.key == b"py/k" and meta.version == 1
    assert meta.create_revision == meta.mod_revision == meta.response_header.revision
    client.put("py/k", b"v2\x00bin")
    value, meta2 = client.get("py/k")
    assert value == b"v2\x00bin" and meta2.version == 2
    assert meta2.create_revision == meta.create_revision
    assert meta2.mod_revision == meta.mod_revision + 1
    assert client.get("py/missing") == (None, None)


def test_put_prev_kv(client):
    client.put("pyprev/k", "old")
    resp = client.put("pyprev/k", "new", prev_kv=True)
    assert resp.prev_kv.key == b"pyprev/k" and resp.prev_kv.value == b"old"
    resp = client.put("pyprev/fresh", "x", prev_kv=True)
    assert not resp.HasField("prev_kv")


def test_get_prefix_and_range(client):
    for k in ("a", "b", "c", "d"):
        client.put("pyr/" + k, k.upper())
    client.put("pyr0", "outside")
    got = [(m.key, v) for v, m in client.get_prefix("pyr/")]
    assert got == [(b"pyr/a", b"A"), (b"pyr/b", b"B"), (b"pyr/c", b"C"), (b"pyr/d", b"D")]
    got = [m.key for _, m in client.get_range("pyr/b", "pyr/d")]
    assert got == [b"pyr/b", b"pyr/c"]
    got = [m.key for _, m in client.get_prefix("pyr/", sort_order="descend", sort_target="key")]
    assert got == [b"pyr/d", b"pyr/c", b"pyr/b", b"pyr/a"]
    # python-etcd3 0.12 accepts but drops limit/revision/count_only: send those through its stub
    resp = client.kvstub.Range(etcdrpc.RangeRequest(key=b"pyr/", range_end=b"pyr0", limit=2), 20)
    assert len(resp.kvs) == 2 and resp.count == 4 and resp.more
    resp = client.kvstub.Range(etcdrpc.RangeRequest(key=b"pyr/", range_end=b"pyr0", count_only=True),
                               20)
    assert resp.count == 4 and len(resp.kvs) == 0
    resp = client.get_prefix_response("pyr/", keys_only=True)
    assert [kv.value for kv in resp.kvs] == [b""] * 4 and resp.count == 4


def test_delete(client):
    client.put("pydel/a", "1")
    assert client.delete("pydel/a") is True
    assert client.delete("pydel/a") is False
    client.put("pydel/b", "2")
    resp = client.delete("pydel/b", prev_kv=True, return_response=True)
    assert resp.deleted == 1 and resp.prev_kvs[0].value == b"2"


def test_delete_prefix(client):
    for i in range(5):
        client.put("pydp/%d" % i, str(i))
    client.put("pydp", "parent stays")
    resp = client.delete_prefix("pydp/")
    assert resp.deleted == 5
    assert list(client.get_prefix("pydp/")) == []
    assert client.get("pydp")[0] == b"parent stays"


def test_transaction_compares(client):
    t = client.transactions
    client.put("pytx/k", "v")
    _, meta = client.get("pytx/k")
    ok, resps = client.transaction(
        compare=[t.value("pytx/k") == "v", t.version("pytx/k") == 1,
                 t.create("pytx/k") == meta.create_revision, t.mod("pytx/k") == meta.mod_revision,
                 t.version("pytx/absent") == 0, t.mod("pytx/k") > 0, t.value("pytx/k") < "w",
                 t.create("pytx/k") != 0],
        success=[t.put("pytx/k", "v2"), t.get("pytx/k"), t.put("pytx/other", "o")],
        failure=[t.put("pytx/failed", "x")])
    assert ok is True
    assert resps[1][0][0] == b"v2"
    assert client.get("pytx/failed") == (None, None)
    # every compare kind failing on its own selects the failure branch
    for cmp in (t.value("pytx/k") == "v", t.version("pytx/k") == 1,
                t.create("pytx/k") != meta.create_revision, t.mod("pytx/k") == meta.mod_revision,
                t.value("pytx/absent") == "", t.version("pytx/k") > 5):
        ok, resps = client.transaction(compare=[cmp], success=[t.put("pytx/k", "bad")],
                                       failure=[t.get("pytx/k")])
        assert ok is False, cmp
        assert resps[0][0][0] == b"v2"
    assert client.get("pytx/k")[0] == b"v2"


def test_transaction_delete_and_nested(client):
    t = client.transactions
    client.put("pytn/a", "1")
    client.put("pytn/b", "2")
    ok, resps = client.transaction(
        compare=[t.version("pytn/a") > 0],
        success=[t.delete("pytn/a", prev_kv=True),
                 t.txn(compare=[t.value("pytn/b") == "2"], success=[t.put("pytn/c", "3")],
                       failure=[])],
        failure=[])
    assert ok is True
    assert resps[0].response_delete_range.deleted == 1
    assert resps[0].response_delete_range.prev_kvs[0].key == b"pytn/a"
    assert resps[1].response_txn.succeeded is True
    assert [m.key for _, m in client.get_prefix("pytn/")] == [b"pytn/b", b"pytn/c"]


def test_replace(client):
    client.put("pyrep/k", "one")
    assert client.replace("pyrep/k", "one", "two") is True
    assert client.replace("pyrep/k", "one", "three") is False
    assert client.get("pyrep/k")[0] == b"two"


def test_status_and_members(ledgerkv, client):
    st = client.status()
    assert lkvtest.parse_semver(st.version) is not None, st.version
    assert st.leader is not None, "status leader id matches no member"
    members = list(client.members)
    assert len(members) == 1
    assert members[0].id == st.leader.id
    assert members[0].name == "node1"
    assert list(members[0].client_urls) == [ledgerkv.url]
    assert st.db_size > 0


def test_compaction(server_factory):
    srv = server_factory.start()
    c = fresh_client(srv)
    try:
        revs = []
        for i in range(4):
            c.put("pyc/k", str(i))
            revs.append(c.get("pyc/k")[1].mod_revision)
        c.compact(revs[2])
        assert c.get_response("pyc/k").kvs[0].value == b"3"
        with pytest.raises(grpc.RpcError) as ei:
            c.kvstub.Range(etcdrpc.RangeRequest(key=b"pyc/k", revision=revs[1]), 20)
        assert ei.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert ei.value.details() == "etcdserver: mvcc: required revision has been compacted"
        assert c.kvstub.Range(etcdrpc.RangeRequest(key=b"pyc/k", revision=revs[2]),
                              20).kvs[0].value == b"2"
        c.compact(revs[3], physical=True)
        with pytest.raises(grpc.RpcError) as ei:
            c.compact(revs[3])
        assert ei.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert ei.value.details() == "etcdserver: mvcc: required revision has been compacted"
        with pytest.raises(grpc.RpcError) as ei:
            c.compact(revs[3] + 100)
        assert ei.value.code() == grpc.StatusCode.OUT_OF_RANGE
        assert ei.value.details() == "etcdserver: mvcc: required revision is a future revision"
    finally:
        c.close()


def test_unknown_lease(client):
    with pytest.raises(grpc.RpcError) as ei:
        client.put("pylease/k", "v", lease=0x1234)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND
    assert ei.value.details() == "etcdserver: requested lease not found"


@pytest.mark.parametrize("size", [1024, 100 * 1024])
def test_long_keys(client, size):
    key = ("pylong/%d/" % size) + "k" * size
    client.put(key, "v")
    value, meta = client.get(key)
    assert value == b"v" and meta.key == key.encode()
    keys = [m.key for _, m in client.get_prefix("pylong/%d/" % size, keys_only=True)]
    assert keys == [key.encode()]
    assert client.delete(key) is True


def test_large_value(client):
    value = bytes(range(256)) * 4096  # 1 MiB
    client.put("pybig/v", value)
    got, meta = client.get("pybig/v")
    assert got == value and meta.version == 1
    client.put("pybig/v", value[::-1])
    assert client.get("pybig/v")[0] == value[::-1]
