"""etcdctl (API v3) against the server: put/get with every range option etcdctl 3.4 has, del, txn via stdin,
compaction, endpoint status/health, member list, and the exact error text etcd prints for bad requests.
Also the --max-txn-ops and --quota-backend-bytes flags. (etcdctl 3.4 has no --count-only; count semantics
are checked through -w json here and in the other suites.)
"""
import base64
import json

import grpc
import pytest

import lkvtest
from etcd3 import etcdrpc
from lkvtest import etcdctl


def b64(s):
    return base64.b64encode(s.encode()).decode()


def unb64(s):
    return base64.b64decode(s).decode()


def get_json(srv, *args):
    return json.loads(etcdctl(srv, "get", *args, "-w", "json").stdout)


def error_line(res):
    """The 'Error: ...' line etcdctl prints on failure (clientv3 also logs JSON warnings)."""
    assert res.returncode != 0, "expected failure, got stdout %r" % res.stdout
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert lines, "no Error: line in stderr %r" % res.stderr
    return lines[-1]


def put_all(srv, pairs):
    for k, v in pairs:
        assert etcdctl(srv, "put", k, v).stdout == "OK\n"


def test_put_get_simple(ledgerkv):
    assert etcdctl(ledgerkv, "put", "simple/k", "hello world").stdout == "OK\n"
    assert etcdctl(ledgerkv, "get", "simple/k").stdout == "simple/k\nhello world\n"
    assert etcdctl(ledgerkv, "get", "simple/missing").stdout == ""
    assert etcdctl(ledgerkv, "get", "simple/k", "--print-value-only").stdout == "hello world\n"


def test_put_prev_kv_and_ignore_value(ledgerkv):
    etcdctl(ledgerkv, "put", "pkv/k", "old")
    assert etcdctl(ledgerkv, "put", "--prev-kv", "pkv/k", "new").stdout == "OK\npkv/k\nold\n"
    assert etcdctl(ledgerkv, "put", "--ignore-value", "pkv/k").stdout == "OK\n"
    kv = get_json(ledgerkv, "pkv/k")["kvs"][0]
    assert unb64(kv["value"]) == "new" and kv["version"] == 3
    err = error_line(etcdctl(ledgerkv, "put", "--ignore-value", "pkv/missing", check=False))
    assert err == "Error: etcdserver: key not found"


def test_serializable_get(ledgerkv):
    etcdctl(ledgerkv, "put", "ser/k", "v")
    assert etcdctl(ledgerkv, "get", "--consistency=s", "ser/k", "--print-value-only").stdout == "v\n"


def test_get_json_metadata(ledgerkv):
    etcdctl(ledgerkv, "put", "meta/k", "v1")
    first = get_json(ledgerkv, "meta/k")
    etcdctl(ledgerkv, "put", "meta/k", "v2")
    second = get_json(ledgerkv, "meta/k")
    kv1, kv2 = first["kvs"][0], second["kvs"][0]
    assert unb64(kv1["key"]) == "meta/k" and unb64(kv2["value"]) == "v2"
    assert kv1["create_revision"] == kv1["mod_revision"] == first["header"]["revision"]
    assert kv1["version"] == 1 and kv2["version"] == 2
    assert kv2["create_revision"] == kv1["create_revision"]
    assert kv2["mod_revision"] == second["header"]["revision"] == first["header"]["revision"] + 1
    assert first["count"] == 1 and "more" not in first


def test_get_prefix_limit_count(ledgerkv):
    put_all(ledgerkv, [("pfx/a", "1"), ("pfx/b", "2"), ("pfx/c", "3"), ("pfy", "x")])
    out = etcdctl(ledgerkv, "get", "--prefix", "pfx/").stdout
    assert out == "pfx/a\n1\npfx/b\n2\npfx/c\n3\n"
    out = etcdctl(ledgerkv, "get", "--prefix", "pfx/", "--limit", "2").stdout
    assert out == "pfx/a\n1\npfx/b\n2\n"
    page = get_json(ledgerkv, "--prefix", "pfx/", "--limit", "2")
    assert [unb64(kv["key"]) for kv in page["kvs"]] == ["pfx/a", "pfx/b"]
    assert page["count"] == 3 and page["more"] is True
    whole = get_json(ledgerkv, "--prefix", "pfx/", "--limit", "3")
    assert whole["count"] == 3 and "more" not in whole
    # explicit [key, range_end)
    assert etcdctl(ledgerkv, "get", "pfx/a", "pfx/c", "--keys-only").stdout == "pfx/a\n\npfx/b\n\n"


def test_get_from_key(server_factory):
    srv = server_factory.start()
    put_all(srv, [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
    assert etcdctl(srv, "get", "--from-key", "b", "--keys-only").stdout == "b\n\nc\n\nd\n\n"
    assert etcdctl(srv, "get", "--from-key", "", "--keys-only", "--limit", "2").stdout == "a\n\nb\n\n"
    page = get_json(srv, "--from-key", "c")
    assert page["count"] == 2 and [unb64(kv["value"]) for kv in page["kvs"]] == ["3", "4"]
    assert etcdctl(srv, "del", "--from-key", "c").stdout == "2\n"
    assert etcdctl(srv, "get", "--from-key", "", "--keys-only").stdout == "a\n\nb\n\n"


def test_get_keys_only_and_print_value_only(ledgerkv):
    put_all(ledgerkv, [("ko/a", "va"), ("ko/b", "vb")])
    assert etcdctl(ledgerkv, "get", "--prefix", "ko/", "--keys-only").stdout == "ko/a\n\nko/b\n\n"
    assert etcdctl(ledgerkv, "get", "--prefix", "ko/", "--print-value-only").stdout == "va\nvb\n"
    page = get_json(ledgerkv, "--prefix", "ko/", "--keys-only")
    assert [("value" in kv) for kv in page["kvs"]] == [False, False]
    assert page["count"] == 2


def test_get_rev(ledgerkv):
    etcdctl(ledgerkv, "put", "rev/k", "old")
    r_old = get_json(ledgerkv, "rev/k")["header"]["revision"]
    etcdctl(ledgerkv, "put", "rev/k", "new")
    etcdctl(ledgerkv, "put", "rev/other", "later")
    assert etcdctl(ledgerkv, "get", "rev/k", "--rev", r_old, "--print-value-only").stdout == "old\n"
    assert etcdctl(ledgerkv, "get", "rev/k", "--print-value-only").stdout == "new\n"
    hist = get_json(ledgerkv, "--prefix", "rev/", "--rev", r_old)
    assert [unb64(kv["key"]) for kv in hist["kvs"]] == ["rev/k"]
    # the header carries the current revision, not the requested one
    assert hist["header"]["revision"] == r_old + 2


@pytest.mark.parametrize("target,order,expected", [
    ("KEY", "DESCEND", ["s/c", "s/b", "s/a"]),
    ("VALUE", "ASCEND", ["s/c", "s/a", "s/b"]),
    ("VALUE", "DESCEND", ["s/b", "s/a", "s/c"]),
    ("CREATE", "DESCEND", ["s/a", "s/c", "s/b"]),
    ("MODIFY", "ASCEND", ["s/c", "s/a", "s/b"]),
    ("MODIFY", "DESCEND", ["s/b", "s/a", "s/c"]),
    ("VERSION", "DESCEND", ["s/b", "s/a", "s/c"]),
])
def test_get_sort(server_factory, target, order, expected):
    srv = server_factory.start()
    # creation order b, c, a; then c, a, b are modified (b twice), so versions are a=2 b=3 c=2
    put_all(srv, [("s/b", "2"), ("s/c", "3"), ("s/a", "1"),
                  ("s/c", "0"), ("s/a", "1"), ("s/b", "9"), ("s/b", "5")])
    out = etcdctl(srv, "get", "--prefix", "s/", "--keys-only", "--sort-by", target,
                  "--order", order).stdout
    assert out.split() == expected


def test_sort_with_limit_counts_all(ledgerkv):
    put_all(ledgerkv, [("sl/a", "3"), ("sl/b", "1"), ("sl/c", "2")])
    page = get_json(ledgerkv, "--prefix", "sl/", "--sort-by", "VALUE", "--order", "DESCEND",
                    "--limit", "1")
    assert [unb64(kv["key"]) for kv in page["kvs"]] == ["sl/a"]
    assert page["count"] == 3 and page["more"] is True


def test_del(ledgerkv):
    put_all(ledgerkv, [("del/a", "1"), ("del/b", "2"), ("del/c", "3"), ("delx", "keep")])
    assert etcdctl(ledgerkv, "del", "del/missing").stdout == "0\n"
    assert etcdctl(ledgerkv, "del", "--prev-kv", "del/a").stdout == "1\ndel/a\n1\n"
    assert etcdctl(ledgerkv, "del", "--prefix", "--prev-kv", "del/").stdout == \
        "2\ndel/b\n2\ndel/c\n3\n"
    assert etcdctl(ledgerkv, "get", "--prefix", "del").stdout == "delx\nkeep\n"
    assert etcdctl(ledgerkv, "del", "--prefix", "del/").stdout == "0\n"


TXN_PROMPTS = "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\n"


def test_txn_interactive_success_and_failure(ledgerkv):
    etcdctl(ledgerkv, "put", "txn/k", "v1")
    script = 'value("txn/k") = "v1"\nmod("txn/k") > "0"\n\nput txn/k v2\nget txn/k\n\nput txn/f x\n\n'
    res = etcdctl(ledgerkv, "txn", "-i", input=script)
    assert res.stdout == TXN_PROMPTS + "SUCCESS\n\nOK\n\ntxn/k\nv2\n"
    # same compare now fails: the failure branch runs
    res = etcdctl(ledgerkv, "txn", "-i", input=script)
    assert res.stdout == TXN_PROMPTS + "FAILURE\n\nOK\n"
    assert etcdctl(ledgerkv, "get", "txn/f", "--print-value-only").stdout == "x\n"
    assert etcdctl(ledgerkv, "get", "txn/k", "--print-value-only").stdout == "v2\n"


def test_txn_version_create_compares_and_del(ledgerkv):
    etcdctl(ledgerkv, "put", "txv/a", "1")
    rev_a = get_json(ledgerkv, "txv/a")["kvs"][0]["create_revision"]
    script = ('version("txv/a") = "1"\ncreate("txv/a") = "%d"\nversion("txv/none") = "0"\n\n'
              'del txv/a\nput txv/b 2\n\nget txv/a\n\n' % rev_a)
    res = etcdctl(ledgerkv, "txn", "-w", "json", input=script)
    out = json.loads(res.stdout)
    assert out["succeeded"] is True
    assert out["responses"][0]["Response"]["ResponseDeleteRange"]["deleted"] == 1
    # puts inside a txn carry the txn's revision
    assert out["responses"][1]["Response"]["ResponsePut"]["header"]["revision"] == \
        out["header"]["revision"]
    assert etcdctl(ledgerkv, "get", "--prefix", "txv/").stdout == "txv/b\n2\n"


def test_txn_read_only_does_not_bump_revision(ledgerkv):
    etcdctl(ledgerkv, "put", "txr/k", "v")
    before = get_json(ledgerkv, "txr/k")["header"]["revision"]
    out = json.loads(etcdctl(ledgerkv, "txn", "-w", "json",
                             input='value("txr/k") = "nope"\n\nput txr/k w\n\nget txr/k\n\n').stdout)
    assert "succeeded" not in out  # false is omitted by etcdctl's JSON printer
    rng = out["responses"][0]["Response"]["ResponseRange"]
    assert unb64(rng["kvs"][0]["value"]) == "v"
    assert out["header"]["revision"] == before


def test_compaction(server_factory):
    srv = server_factory.start()
    revs = []
    for i in range(5):
        etcdctl(srv, "put", "c/k", "v%d" % i)
        revs.append(get_json(srv, "c/k")["header"]["revision"])
    assert etcdctl(srv, "compaction", revs[2]).stdout == "compacted revision %d\n" % revs[2]
    # the compaction revision itself stays readable; older ones do not
    assert etcdctl(srv, "get", "c/k", "--rev", revs[2], "--print-value-only").stdout == "v2\n"
    err = error_line(etcdctl(srv, "get", "c/k", "--rev", revs[1], check=False))
    assert err == "Error: etcdserver: mvcc: required revision has been compacted"
    assert etcdctl(srv, "compaction", "--physical", revs[3]).stdout == \
        "compacted revision %d\n" % revs[3]
    err = error_line(etcdctl(srv, "compaction", revs[3], check=False))
    assert err == "Error: etcdserver: mvcc: required revision has been compacted"
    err = error_line(etcdctl(srv, "compaction", revs[-1] + 10, check=False))
    assert err == "Error: etcdserver: mvcc: required revision is a future revision"
    assert etcdctl(srv, "get", "c/k", "--print-value-only").stdout == "v4\n"


def test_future_revision_error(ledgerkv):
    etcdctl(ledgerkv, "put", "fut/k", "v")
    rev = get_json(ledgerkv, "fut/k")["header"]["revision"]
    err = error_line(etcdctl(ledgerkv, "get", "fut/k", "--rev", rev + 1000, check=False))
    assert err == "Error: etcdserver: mvcc: required revision is a future revision"


@pytest.mark.parametrize("args", [("put", "", "v"), ("get", ""), ("del", "")])
def test_empty_key_error(ledgerkv, args):
    err = error_line(etcdctl(ledgerkv, *args, check=False))
    assert err == "Error: etcdserver: key is not provided"


def test_unknown_lease_error(ledgerkv):
    err = error_line(etcdctl(ledgerkv, "put", "lease/k", "v", "--lease=1234abcd", check=False))
    assert err == "Error: etcdserver: requested lease not found"
    assert etcdctl(ledgerkv, "get", "lease/k").stdout == ""


def test_endpoint_status(ledgerkv):
    out = json.loads(etcdctl(ledgerkv, "endpoint", "status", "-w", "json").stdout)
    assert len(out) == 1 and out[0]["Endpoint"] == ledgerkv.endpoint
    st = out[0]["Status"]
    assert lkvtest.parse_semver(st["version"]) is not None, st["version"]
    assert lkvtest.parse_semver(st["version"]) >= (3, 4, 0)
    assert st["leader"] == st["header"]["member_id"] != 0
    assert st["header"]["revision"] >= 1
    assert st["dbSize"] > 0


def test_endpoint_health(ledgerkv):
    res = etcdctl(ledgerkv, "endpoint", "health")
    assert res.stderr.startswith(ledgerkv.endpoint + " is healthy"), res.stderr


def test_member_list(ledgerkv):
    out = json.loads(etcdctl(ledgerkv, "member", "list", "-w", "json").stdout)
    assert len(out["members"]) == 1
    m = out["members"][0]
    assert m["name"] == "node1"
    assert m["clientURLs"] == [ledgerkv.url]
    st = json.loads(etcdctl(ledgerkv, "endpoint", "status", "-w", "json").stdout)[0]["Status"]
    assert m["ID"] == st["header"]["member_id"] == out["header"]["member_id"]
    simple = etcdctl(ledgerkv, "member", "list").stdout.strip().split(", ")
    assert simple[0] == "%x" % m["ID"] and simple[1] == "started" and simple[2] == "node1"


def test_max_txn_ops_flag(server_factory):
    srv = server_factory.start(args=["--max-txn-ops", "3"])
    ok = etcdctl(srv, "txn", input="\nput mto/a 1\nput mto/b 2\nput mto/c 3\n\n\n")
    assert ok.stdout == "SUCCESS\n\nOK\n\nOK\n\nOK\n"
    err = error_line(etcdctl(srv, "txn", check=False,
                             input="\nput mto/a 1\nput mto/b 2\nput mto/c 3\nput mto/d 4\n\n\n"))
    assert err == "Error: etcdserver: too many operations in txn request"
    assert etcdctl(srv, "get", "mto/d").stdout == ""


def test_quota_backend_bytes(server_factory):
    """Past the quota etcd refuses writes with NOSPACE, raises the NOSPACE alarm and keeps refusing
    writes while it is raised; reads and deletes still work."""
    srv = server_factory.start(args=["--quota-backend-bytes", str(2 << 20)])
    for i in range(400):
        try:
            srv.kv().Put(etcdrpc.PutRequest(key=b"quota/%03d" % i, value=b"q" * (100 << 10)),
                         timeout=20)
        except grpc.RpcError as e:
            assert (e.code(), e.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                               "etcdserver: mvcc: database space exceeded")
            break
    else:
        pytest.fail("40 MiB written under a 2 MiB quota")
    assert i > 0
    member = json.loads(etcdctl(srv, "endpoint", "status", "-w", "json").stdout)[0]["Status"]["leader"]
    assert etcdctl(srv, "alarm", "list").stdout == "memberID:%d alarm:NOSPACE \n" % member
    err = error_line(etcdctl(srv, "put", "quota/small", "x", check=False))
    assert err == "Error: etcdserver: mvcc: database space exceeded"
    assert etcdctl(srv, "get", "quota/000", "--keys-only").stdout == "quota/000\n\n"
    assert etcdctl(srv, "del", "quota/000").stdout == "1\n"
