"""etcd's Auth service (issue 13 item 2): users, roles and permissions managed with etcdctl, every answer
(output, error text, exit status) compared with Debian's etcd 3.4 on the same sequence; AuthEnable and
AuthDisable as etcd's, and Authenticate answered "authentication is not enabled" as etcd answers it while
auth is off (python-etcd3 with a user and password; test_auth_enabled.py covers auth on); in a 3-member cluster the auth state replicates: every member's state machine
answers the same users and roles, also after a kill -9 and restart. An `etcdctl snapshot` of ledgerkv
restored into etcd 3.4 carries the users, roles and bcrypt hashes (at --bcrypt-cost): etcd then enables
auth and checks the passwords ledgerkv hashed.
"""
import os
import subprocess
import tempfile
import time

import etcd3
import grpc
import pytest

import cluster
import lkvtest
from test_snapshot import restore_and_start

# Each step: etcdctl's arguments (stdin after "<<"). Covers every Auth method but AuthEnable and
# Authenticate (test_enable_matches_etcd, test_auth_enabled.py), their success and error answers, --no-password users, and the key, range, prefix and
# from-key permission forms.
SEQUENCE = [
    ["user", "add", "root:rootpw"],
    ["user", "add", "bob", "--new-user-password=x"],
    ["user", "add", "nop", "--no-password"],
    ["user", "add", "bob", "--new-user-password=x"],
    ["user", "add", "", "--new-user-password=x"],
    ["role", "add", "r1"],
    ["role", "add", "r1"],
    ["role", "add", ""],
    ["role", "add", "r2"],
    ["role", "grant-permission", "r1", "readwrite", "a", "b"],
    ["role", "grant-permission", "r1", "read", "--prefix", "p/"],
    ["role", "grant-permission", "r1", "write", "--from-key", "z"],
    ["role", "grant-permission", "r1", "read", "k"],
    ["role", "grant-permission", "r1", "write", "k"],
    ["role", "grant-permission", "nope", "read", "k"],
    ["role", "get", "r1"],
    ["role", "get", "nope"],
    ["user", "grant-role", "bob", "r1"],
    ["user", "grant-role", "bob", "r1"],
    ["user", "grant-role", "bob", "r2"],
    ["user", "grant-role", "bob", "nope"],
    ["user", "grant-role", "ghost", "r1"],
    ["user", "get", "bob"],
    ["user", "get", "ghost"],
    ["user", "list"],
    ["role", "list"],
    ["user", "revoke-role", "bob", "nope"],
    ["user", "revoke-role", "bob", "r2"],
    ["role", "revoke-permission", "r1", "q"],
    ["role", "revoke-permission", "r1", "a", "b"],
    ["role", "revoke-permission", "r1", "z", "--from-key"],
    ["role", "get", "r1"],
    ["user", "passwd", "bob", "--interactive=false", "<<", "newpw\n"],
    ["user", "passwd", "ghost", "--interactive=false", "<<", "newpw\n"],
    ["role", "delete", "r1"],
    ["role", "delete", "r1"],
    ["user", "get", "bob"],
    ["user", "delete", "nop"],
    ["user", "delete", "nop"],
    ["auth", "disable"],
    ["--user", "bob:newpw", "get", "a"],
    ["user", "list"],
    ["role", "list"],
]


def run(srv, step):
    args, stdin = (step[:step.index("<<")], step[step.index("<<") + 1]) if "<<" in step else (step, None)
    res = lkvtest.etcdctl(srv, *args, input=stdin, check=False)
    # clientv3 logs its retries as JSON lines with times and ids; the answer is the rest
    err = "\n".join(l for l in res.stderr.splitlines() if not l.startswith('{"level"'))
    return res.returncode, res.stdout, err


@pytest.fixture(scope="module")
def pair():
    with lkvtest.Factory() as f:
        yield f.start(kind="ledgerkv"), f.start(kind="etcd")


def test_management_matches_etcd(pair):
    lkv, etcd = pair
    for step in SEQUENCE:
        assert run(lkv, step) == run(etcd, step), step


def test_enable_matches_etcd():
    with lkvtest.Factory() as f:
        lkv, etcd = f.start(kind="ledgerkv"), f.start(kind="etcd")
        steps = [["auth", "enable"],  # no root user
                 ["user", "add", "root:pw"],
                 ["auth", "enable"],  # etcdctl adds the root role and grants it, then enables
                 ["auth", "enable"],
                 ["user", "get", "root"],
                 ["--user", "root:pw", "user", "get", "root"],
                 ["--user", "root:pw", "auth", "disable"],
                 ["user", "get", "root"]]
        for step in steps:
            assert run(lkv, step) == run(etcd, step), step
        # Authenticate with auth off: etcd's answer, which clients take as "go on without a token"
        answers = []
        for srv in (lkv, etcd):
            with pytest.raises(grpc.RpcError) as e:
                etcd3.client(host="127.0.0.1", port=srv.port, user="root", password="pw", timeout=10)
            answers.append((e.value.code(), e.value.details()))
        assert answers[0] == answers[1] == (grpc.StatusCode.FAILED_PRECONDITION,
                                            "etcdserver: authentication is not enabled")


@pytest.fixture
def three():
    yield from cluster.started(size=3, kind="ledgerkv")


def test_auth_state_replicates(three):
    c = three
    a, b, d = c.members
    lkvtest.etcdctl(a, "user", "add", "carol", "--new-user-password=pw")
    lkvtest.etcdctl(b, "role", "add", "ops")
    lkvtest.etcdctl(d, "role", "grant-permission", "ops", "read", "--prefix", "logs/")
    lkvtest.etcdctl(a, "user", "grant-role", "carol", "ops")
    # each member answers from its own state machine (the requests go through the log, as etcd's)
    for m in c.members:
        assert lkvtest.etcdctl(m, "user", "get", "carol").stdout == "User: carol\nRoles: ops\n"
        assert "[logs/, logs0) (prefix logs/)" in lkvtest.etcdctl(m, "role", "get", "ops").stdout
    c.kill(d)  # kill -9: the state must be durable on d
    c.restart(d)
    c.wait_ready()
    assert lkvtest.etcdctl(d, "user", "list").stdout == "carol\n"
    assert lkvtest.etcdctl(d, "role", "list").stdout == "ops\n"
    lkvtest.etcdctl(d, "defrag")  # the copy keeps the auth state (it lives in the meta database)
    assert lkvtest.etcdctl(d, "user", "get", "carol").stdout == "User: carol\nRoles: ops\n"


def test_stop_while_hashing():
    """SIGTERM while a UserAdd's password is being hashed (cost 15: about a second) stops cleanly: the
    call is answered or dropped, the worker thread touches nothing freed (ASan build)."""
    with lkvtest.Factory() as f:
        lkv = f.start(kind="ledgerkv", args=["--bcrypt-cost", "15"])
        cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + lkv.endpoint, "user", "add", "slow",
               "--new-user-password=pw"]
        client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=lkvtest.child_env({"ETCDCTL_API": "3"}))
        time.sleep(0.3)
        lkv.stop()  # raises unless the exit is clean
        client.wait(timeout=30)


def test_snapshot_carries_auth_into_etcd():
    with lkvtest.Factory() as f:
        lkv = f.start(kind="ledgerkv", args=["--bcrypt-cost", "4"])
        for step in (["user", "add", "root:rootpw"], ["role", "add", "root"], ["user", "grant-role", "root", "root"],
                     ["user", "add", "bob", "--new-user-password=bobpw"], ["role", "add", "app"],
                     ["role", "grant-permission", "app", "readwrite", "--prefix", "app/"],
                     ["user", "grant-role", "bob", "app"]):
            lkvtest.etcdctl(lkv, *step)
        workdir = tempfile.mkdtemp(prefix="lkvtest-authsnap-")
        f.dirs.append(workdir)
        path = os.path.join(workdir, "lkv.db")
        lkvtest.etcdctl(lkv, "snapshot", "save", path, timeout=60)
        with open(path, "rb") as fh:
            data = fh.read()
        assert data.count(b"$2a$04$") == 2  # Go's bcrypt form at the cost asked for, root's and bob's
        etcd = restore_and_start(f, path)
        assert lkvtest.etcdctl(etcd, "user", "list").stdout == "bob\nroot\n"
        assert run(etcd, ["role", "get", "app"]) == run(lkv, ["role", "get", "app"])
        lkvtest.etcdctl(etcd, "auth", "enable")
        # etcd checks the hashes ledgerkv made
        lkvtest.etcdctl(etcd, "--user", "bob:bobpw", "put", "app/x", "1")
        code, _, err = run(etcd, ["--user", "bob:bobpw", "put", "other", "1"])
        assert code == 1 and "etcdserver: permission denied" in err
        code, _, err = run(etcd, ["--user", "bob:wrong", "get", "app/x"])
        assert code != 0 and "authentication failed, invalid user ID or password" in err
        assert lkvtest.etcdctl(etcd, "--user", "root:rootpw", "get", "app/x", "--print-value-only").stdout == "1\n"
