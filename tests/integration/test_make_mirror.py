"""`etcdctl make-mirror` (issue 14 item 5) both ways between ledgerkv and etcd 3.4: the existing keys under a
prefix are copied, then puts and deletes made on the source afterwards follow, within a bounded time."""
import subprocess
import time

import pytest

import cluster as clusters
import lkvtest
from etcd3 import etcdrpc

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="mirrors between ledgerkv and etcd")


def keys(srv, prefix=b"/m/"):
    resp = srv.kv().Range(etcdrpc.RangeRequest(key=prefix, range_end=prefix[:-1] + b"0"), timeout=10)
    return {k.key: k.value for k in resp.kvs}


def mirror(source, dest):
    kv = source.kv()
    for i in range(50):
        kv.Put(etcdrpc.PutRequest(key=b"/m/k%02d" % i, value=b"v%d" % i), timeout=10)
    kv.Put(etcdrpc.PutRequest(key=b"/other", value=b"not mirrored"), timeout=10)
    proc = subprocess.Popen([lkvtest.ETCDCTL_BIN, "--endpoints=" + source.endpoint, "make-mirror", "--prefix=/m/",
                             dest.endpoint], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=lkvtest.child_env({"ETCDCTL_API": "3"}), start_new_session=True)
    try:
        clusters.wait_for(lambda: keys(dest) == keys(source), timeout=15)
        # Updates after the copy follow: overwrites, a delete, a new key, a txn.
        kv.Put(etcdrpc.PutRequest(key=b"/m/k01", value=b"changed"), timeout=10)
        kv.DeleteRange(etcdrpc.DeleteRangeRequest(key=b"/m/k02"), timeout=10)
        kv.Put(etcdrpc.PutRequest(key=b"/m/new", value=b"n"), timeout=10)
        puts = [etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=b"/m/t%d" % i, value=b"t")) for i in range(3)]
        kv.Txn(etcdrpc.TxnRequest(success=puts), timeout=10)
        started = time.monotonic()
        clusters.wait_for(lambda: keys(dest) == keys(source), timeout=15)
        assert time.monotonic() - started < 15
        got = keys(dest)
        assert got[b"/m/k01"] == b"changed" and b"/m/k02" not in got and got[b"/m/new"] == b"n"
        assert keys(dest, b"/other/") == {} and not dest.kv().Range(
            etcdrpc.RangeRequest(key=b"/other"), timeout=10).kvs
        assert proc.poll() is None, proc.stdout.read()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_mirror_ledgerkv_to_etcd(server_factory):
    mirror(server_factory.start("ledgerkv"), server_factory.start("etcd"))


def test_mirror_etcd_to_ledgerkv(server_factory):
    mirror(server_factory.start("etcd"), server_factory.start("ledgerkv"))
