"""--wal-dir (etcd's flag): the Raft log, the write-ahead log, in a directory of its own (a dedicated disk).
Acknowledged writes survive kill -9 with the log there, nothing is written to <data-dir>/member/wal, and a
restart that forgets --wal-dir is refused rather than served from a store whose log is missing. Against
etcd the same flags are accepted and keep the data (its messages differ, so only ledgerkv's is checked)."""
import os

import pytest
from etcd3 import etcdrpc

import lkvtest


def test_raft_log_in_its_own_directory():
    with lkvtest.Factory() as f:
        srv = f.start()
        wal = os.path.join(srv.workdir, "dedicated-wal")
        srv.stop()
        srv.args = ["--wal-dir", wal]
        # a fresh data dir for the run with --wal-dir
        srv.data_dir = os.path.join(srv.workdir, "data2")
        srv.start()
        for i in range(50):
            srv.kv().Put(etcdrpc.PutRequest(key=b"wal/%02d" % i, value=b"v%d" % i), timeout=10)
        srv.kill()
        srv.start()
        got = srv.kv().Range(etcdrpc.RangeRequest(key=b"wal/", range_end=b"wal0"), timeout=10)
        assert [kv.value for kv in got.kvs] == [b"v%d" % i for i in range(50)]
        assert os.listdir(wal), "nothing in --wal-dir"
        if lkvtest.TARGET == "ledgerkv":
            assert not os.path.exists(os.path.join(srv.data_dir, "member", "wal"))
            srv.stop()
            srv.args = []
            with pytest.raises(lkvtest.ServerError) as e:
                srv.start()
            assert "is empty but the store has applied entry" in str(e.value)
            srv.args = ["--wal-dir", wal]
            srv.start()
            assert srv.kv().Range(etcdrpc.RangeRequest(key=b"wal/49"), timeout=10).kvs[0].value == b"v49"
