"""etcdctl lock and elect (clientv3/concurrency: a session lease kept alive, txns on lease-bound keys, and
watches on the predecessor's key): a contended lock waits for its holder, an election is observed and passes
to the next candidate when the leader's session ends. These need Watch as well as Lease.
"""
import re
import signal
import subprocess
import time

import grpc
import pytest
from etcd3 import etcdrpc

import lkvtest
from lkvtest import etcdctl


@pytest.fixture(scope="module")
def srv(ledgerkv):
    """The server, once it is known to serve Watch (lock and elect block on watches)."""
    stub = etcdrpc.WatchStub(ledgerkv.channel())
    create = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"probe"))
    try:
        next(iter(stub.Watch(iter([create]), timeout=5)))
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("Watch is not served yet")
        raise
    return ledgerkv


def spawn(srv, *args):
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + srv.endpoint] + list(args)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lkvtest.child_env({"ETCDCTL_API": "3"}))


def wait_key(srv, prefix, count=1, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(etcdctl(srv, "get", "--prefix", "--keys-only", prefix).stdout.split()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError("no key under %s after %.0fs" % (prefix, timeout))


def test_lock_waits_for_holder(srv):
    holder = spawn(srv, "lock", "lk", "sleep", "2")
    try:
        wait_key(srv, "lk/")
        start = time.monotonic()
        out = etcdctl(srv, "lock", "lk", "echo", "second", timeout=30).stdout
        waited = time.monotonic() - start
    finally:
        holder.wait(timeout=30)
    assert out.strip().endswith("second")
    assert holder.returncode == 0
    assert waited >= 1.0, "the second locker did not wait (%.2fs)" % waited
    assert etcdctl(srv, "get", "--prefix", "lk/").stdout == ""  # released: the session's key is gone


def observe(srv, name, seconds=2.0):
    """What `etcdctl elect -l name` prints within seconds (it observes until killed)."""
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + srv.endpoint, "elect", "-l", name]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=seconds,
                             env=lkvtest.child_env({"ETCDCTL_API": "3"}))
        out = res.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or b""
    return out.decode()


def test_elect_and_observe(srv):
    alice = spawn(srv, "elect", "el", "alice")
    bob = None
    try:
        wait_key(srv, "el/")
        assert "alice" in observe(srv, "el")
        bob = spawn(srv, "elect", "el", "bob")
        wait_key(srv, "el/", count=2)
        assert "bob" not in observe(srv, "el", 1.0)  # bob waits behind alice
        alice.send_signal(signal.SIGINT)  # etcdctl resigns and closes its session
        alice.wait(timeout=10)
        assert re.search(r"\bbob\b", observe(srv, "el"))
    finally:
        for p in (alice, bob):
            if p and p.poll() is None:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=10)
    assert etcdctl(srv, "get", "--prefix", "el/").stdout == ""
