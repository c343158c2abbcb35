"""Go clientv3 (etcd 3.4) replaying kube-apiserver's access pattern (tests/go/kubeclient): guarded
create/update/delete txns, paginated lists pinned to one revision, count-only/keys-only, the compact_rev_key
compaction protocol, ErrCompacted/ErrFutureRev/ErrLeaseNotFound by identity, Status semver. The program is
run against etcd too, to prove that the program itself is right.
"""
import subprocess

import pytest

import lkvtest


@pytest.fixture(scope="session")
def kubeclient():
    """Builds tests/go/kubeclient once per session."""
    return lkvtest.go_build("kubeclient")


def run_kubeclient(binary, srv, prefix):
    res = subprocess.run([binary, "-endpoint", srv.endpoint, "-prefix", prefix],
                         capture_output=True, text=True, timeout=180, env=lkvtest.child_env())
    assert res.returncode == 0 and "kubeclient PASS" in res.stdout, \
        "kubeclient against %s failed (rc %d)\nstdout: %s\nstderr: %s" % (
            srv.kind, res.returncode, res.stdout, res.stderr[-6000:])


def test_kubeclient_against_etcd(kubeclient, etcd):
    run_kubeclient(kubeclient, etcd, "/registry/")


def test_kubeclient_against_ledgerkv(kubeclient, ledgerkv):
    run_kubeclient(kubeclient, ledgerkv, "/registry/")
    # a second pass on the now non-empty store, under another prefix
    run_kubeclient(kubeclient, ledgerkv, "/registry-again/")
