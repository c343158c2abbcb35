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


@pytest.fixture(scope="module")
def runs(leaseclient, etcd, ledgerkv):
    """leaseclient against etcd and against the server under test, started together (each run mostly waits
    for TTLs to pass): {"etcd": (server, process), "sut": (server, process)}."""
    procs = {}
    try:
        for name, srv in (("etcd", etcd), ("sut", ledgerkv)):
            procs[name] = (srv, subprocess.Popen([leaseclient, "-endpoint", srv.endpoint, "-prefix", "/leases/"],
                                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                 env=lkvtest.child_env()))
        yield procs
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def finished(run):
    srv, proc = run
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0 and "leaseclient PASS" in stdout, \
        "leaseclient against %s failed (rc %d)\nstdout: %s\nstderr: %s" % (
            srv.kind, proc.returncode, stdout, stderr[-6000:])


def test_leaseclient_against_etcd(runs):
    finished(runs["etcd"])


def test_leaseclient_against_ledgerkv(runs):
    finished(runs["sut"])
