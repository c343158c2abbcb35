"""Go clientv3 (etcd 3.4) replaying kube-apiserver's access pattern (tests/go/kubeclient): guarded
create/update/delete txns, paginated lists pinned to one revision, count-only/keys-only, the compact_rev_key
compaction protocol, ErrCompacted/ErrFutureRev/ErrLeaseNotFound by identity, Status semver. The program is
run against etcd too, to prove that the program itself is right.
"""
import fcntl
import os
import subprocess

import pytest

import lkvtest

SRC = os.path.join(lkvtest.REPO, "tests", "go", "kubeclient")


@pytest.fixture(scope="session")
def kubeclient():
    """Builds tests/go/kubeclient once per session (GOPATH mode, cache under the build dir)."""
    out_dir = lkvtest.build_dir()
    binary = os.path.join(out_dir, "kubeclient")
    env = lkvtest.child_env({
        "GO111MODULE": "off",
        "GOPATH": "%s:/usr/share/gocode" % os.path.join(out_dir, "gopath"),
        "GOCACHE": os.path.join(out_dir, "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    })
    with open(os.path.join(out_dir, "kubeclient.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # ctest -j may run two sessions at once
        res = subprocess.run(["go", "build", "-o", binary, "."], cwd=SRC, env=env,
                             capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, "go build failed:\n%s%s" % (res.stdout, res.stderr)
    return binary


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
