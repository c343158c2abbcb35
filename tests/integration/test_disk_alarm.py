"""One disk alarm for the store, the Raft log and the ledger (issue 12 item 5): when the data dir's file
system has less free than --disk-reserve-bytes, writes the quota counts are refused with etcd's NOSPACE
answer and the NOSPACE alarm is raised through the log, exactly as when the store reaches its quota; reads
and deletes go on, and `alarm disarm` once space is back lets writes in again. A reserve above the free
space stands for a full disk (filling a real one would disturb everything else on the machine). The
metrics report what each part takes and the free space."""
import json
import shutil
import urllib.request

import grpc
import pytest
from etcd3 import etcdrpc

import lkvtest

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="etcd has no disk reserve")

NOSPACE = (grpc.StatusCode.RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")


def put(srv, key, value=b"v"):
    """None, or (code, details) of the refusal."""
    try:
        srv.kv().Put(etcdrpc.PutRequest(key=key, value=value), timeout=10)
        return None
    except grpc.RpcError as e:
        return e.code(), e.details()


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        body = r.read().decode()
    return {name: float(v) for name, v in (l.rsplit(" ", 1) for l in body.splitlines() if l and l[0] != "#")}


def test_low_disk_raises_nospace_and_disarm_recovers():
    free = shutil.disk_usage("/tmp").free
    mport = lkvtest.free_port()
    with lkvtest.Factory() as f:
        # Below the reserve from the start: the first write is refused.
        srv = f.start(args=["--disk-reserve-bytes", str(free + (1 << 40)),
                            "--listen-metrics-urls", "http://127.0.0.1:%d" % mport])
        assert put(srv, b"disk/a") == NOSPACE
        member = json.loads(lkvtest.etcdctl(srv, "endpoint", "status", "-w", "json").stdout)[0]["Status"]["leader"]
        assert lkvtest.etcdctl(srv, "alarm", "list").stdout == "memberID:%d alarm:NOSPACE \n" % member
        assert put(srv, b"disk/b") == NOSPACE
        assert lkvtest.etcdctl(srv, "get", "disk/a").stdout == ""  # reads are served
        assert lkvtest.etcdctl(srv, "del", "disk/a").stdout == "0\n"  # deletes are not counted
        m = scrape(mport)
        for part in ("store", "raft_log", "ledger"):
            assert m['ledgerkv_disk_bytes{part="%s"}' % part] > 0, part
        assert 0 < m["ledgerkv_disk_free_bytes"] < free + (1 << 40)
        # Space back (no reserve): the alarm stays until disarmed, as etcd's NOSPACE does.
        srv.stop()
        srv.args = ["--disk-reserve-bytes", "0"]
        srv.start()
        assert put(srv, b"disk/c") == NOSPACE
        lkvtest.etcdctl(srv, "alarm", "disarm")
        assert lkvtest.etcdctl(srv, "alarm", "list").stdout == ""
        assert put(srv, b"disk/c") is None
        assert lkvtest.etcdctl(srv, "get", "disk/c", "--print-value-only").stdout == "v\n"
