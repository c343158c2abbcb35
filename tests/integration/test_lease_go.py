"""Go clientv3 (etcd 3.4) leases (tests/go/leaseclient): grant/put-with-lease/TimeToLive with keys/Leases/
KeepAliveOnce/Revoke, a KeepAlive stream holding a lease past its TTL, expiry deleting the keys, a
concurrency.Session, and ErrLeaseNotFound/ErrLeaseExist/ErrLeaseTTLTooLarge by identity. Run against etcd
too, to prove that the program itself is right.
"""
import subprocess

import pytest

import lkvtest


@pytest.fixture(scope="session")
def leaseclient():
    """Builds tests/go/leaseclient once per session."""
    return lkvtest.go_build("leaseclient")


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
