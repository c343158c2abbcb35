"""Go clientv3 (etcd 3.4) leases (tests/go/leaseclient): grant/put-with-lease/TimeToLive with keys/Leases/
KeepAliveOnce/Revoke, a KeepAlive stream holding a lease past its TTL, expiry deleting the keys, a
concurrency.Session, and ErrLeaseNotFound/ErrLeaseExist/ErrLeaseTTLTooLarge by identity. Run against etcd
too, to prove that the program itself is right.
"""
import fcntl
import os
import subprocess

import pytest

import lkvtest

SRC = os.path.join(lkvtest.REPO, "tests", "go", "leaseclient")


@pytest.fixture(scope="session")
def leaseclient():
    """Builds tests/go/leaseclient once per session (GOPATH mode, cache under the build dir)."""
    out_dir = lkvtest.build_dir()
    binary = os.path.join(out_dir, "leaseclient")
    env = lkvtest.child_env({
        "GO111MODULE": "off",
        "GOPATH": "%s:/usr/share/gocode" % os.path.join(out_dir, "gopath"),
        "GOCACHE": os.path.join(out_dir, "gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    })
    with open(os.path.join(out_dir, "leaseclient.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # ctest -j may run two sessions at once
        res = subprocess.run(["go", "build", "-o", binary, "."], cwd=SRC, env=env,
                             capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, "go build failed:\n%s%s" % (res.stdout, res.stderr)
    return binary


def run_leaseclient(binary, srv):
    res = subprocess.run([binary, "-endpoint", srv.endpoint, "-prefix", "/leases/"],
                         capture_output=True, text=True, timeout=180, env=lkvtest.child_env())
    assert res.returncode == 0 and "leaseclient PASS" in res.stdout, \
        "leaseclient against %s failed (rc %d)\nstdout: %s\nstderr: %s" % (
            srv.kind, res.returncode, res.stdout, res.stderr[-6000:])


def test_leaseclient_against_etcd(leaseclient, etcd):
    run_leaseclient(leaseclient, etcd)


def test_leaseclient_against_ledgerkv(leaseclient, ledgerkv):
    run_leaseclient(leaseclient, ledgerkv)
