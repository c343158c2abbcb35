"""Auth in causal mode (issue 16, docs/causal.md §16): auth changes are events, checked on each member's own
copy of the auth state.

- Users, roles, grants and AuthEnable made on one member reach the others: a user with a prefix grant
  authenticates on another member (its token is that member's) and is allowed there on the prefix, refused
  elsewhere with etcd's "etcdserver: permission denied"; a revoke made on the first member reaches the others.
- A member restarted keeps its auth state, and a revoke made while it was stopped reaches it afterwards.
- Grants of one role made concurrently on both sides of a partition merge conservatively: after the heal
  neither holds on any member (a grant holds only if every concurrent version has it); a later grant, made
  on a member that saw both, holds everywhere.
- Clients cannot write the auth records' reserved keyspace.

ledgerkv only: etcd has no causal mode.
"""
import time

import pytest

import lkvtest
from cluster import started
from etcd3 import etcdrpc
from test_causal import CONVERGE_TIMEOUT, CausalCluster

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

DENIED = "etcdserver: permission denied"


class AuthCluster(CausalCluster):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra_flags.append("--bcrypt-cost=4")  # the lowest: this test makes many tokens


@pytest.fixture
def cluster():
    yield from started(cls=AuthCluster)


def ctl(member, *args, user=None):
    """etcdctl on member (as user "name:password" when given): (exit code, stdout, stderr)."""
    res = lkvtest.etcdctl(member, *((["--user", user] if user else []) + list(args)), check=False)
    return res.returncode, res.stdout, res.stderr


def put_as(member, user, key):
    return ctl(member, "put", key, "v", user=user)


def eventually(what, fn, timeout=CONVERGE_TIMEOUT):
    """Polls fn until it returns true (a member applies peers' events in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        last = fn()
        if last:
            return
        if time.monotonic() > deadline:
            raise AssertionError("not within %.0f s: %s" % (timeout, what))
        time.sleep(0.1)


def allowed(member, user, key):
    code, out, _ = put_as(member, user, key)
    return code == 0 and out.strip() == "OK"


def denied(member, user, key):
    code, _, err = put_as(member, user, key)
    return code != 0 and DENIED in err


def test_auth_replicates_and_merges_conservatively(cluster):
    a, b, c = cluster.members
    root, app = "root:rootpw", "app:apppw"
    for step in (["user", "add", "root", "--new-user-password=rootpw"],
                 ["role", "add", "app-rw"],
                 ["role", "grant-permission", "app-rw", "readwrite", "--prefix", "/app/"],
                 ["user", "add", "app", "--new-user-password=apppw"],
                 ["user", "grant-role", "app", "app-rw"],
                 ["auth", "enable"]):
        code, out, err = ctl(a, *step)
        assert code == 0, (step, out, err)

    # B and C learn every change: the user authenticates there and is checked there.
    for m in (b, c):
        # auth on there (refused outside the prefix) and the grant there
        eventually("%s enforces app's grant" % m.name,
                   lambda: denied(m, app, "/other") and allowed(m, app, "/app/x"))
        code, _, err = ctl(m, "put", "/app/y", "v")  # no user at all, with auth on
        assert code != 0 and "etcdserver: user name is empty" in err, err
        assert ctl(m, "get", "/app/x", user=app)[1] == "/app/x\nv\n"

    # A revoke on A reaches B.
    assert ctl(a, "role", "revoke-permission", "app-rw", "/app/", "--prefix", user=root)[0] == 0
    eventually("B refuses app on /app/ after the revoke", lambda: denied(b, app, "/app/z"))

    # Concurrent grants of one role on both sides of a partition: neither survives the merge.
    cluster.cut_off(c)
    assert ctl(a, "role", "grant-permission", "app-rw", "readwrite", "--prefix", "/p/", user=root)[0] == 0
    assert ctl(c, "role", "grant-permission", "app-rw", "readwrite", "--prefix", "/q/", user=root)[0] == 0
    assert allowed(a, app, "/p/1") and denied(a, app, "/q/1"), "each side has its own grant meanwhile"
    assert allowed(c, app, "/q/1") and denied(c, app, "/p/1")
    cluster.heal(c)

    def merged(m):
        out = ctl(m, "role", "get", "app-rw", user=root)[1]
        return "/p/" not in out and "/q/" not in out

    for m in (a, b, c):
        eventually("%s holds neither concurrent grant" % m.name, lambda: merged(m))
        assert denied(m, app, "/p/2") and denied(m, app, "/q/2")

    # A grant made on a member that saw both versions supersedes them: it holds everywhere.
    assert ctl(b, "role", "grant-permission", "app-rw", "readwrite", "--prefix", "/p/", user=root)[0] == 0
    for m in (a, b, c):
        eventually("%s allows app on /p/ again" % m.name, lambda: allowed(m, app, "/p/3"))

    # C stopped while A revokes the grant; restarted, C has the auth state it had and then the revoke.
    c.stop()
    assert ctl(a, "role", "revoke-permission", "app-rw", "/p/", "--prefix", user=root)[0] == 0
    cluster.restart(c)
    assert denied(c, app, "/other") and denied(c, app, "/app/1"), "auth still on, the revoke kept"
    eventually("C refuses app on /p/ after the restart", lambda: denied(c, app, "/p/4"))


def test_reserved_keyspace_refused(cluster):
    a = cluster.members[0]
    reserved = b"\0\0ledgerkv-auth\0uroot"
    with pytest.raises(Exception) as e:
        a.kv().Put(etcdrpc.PutRequest(key=reserved, value=b"x"), timeout=5)
    assert "permission denied" in str(e.value)
    # a range covering it shows nothing of the auth records
    a.kv().Put(etcdrpc.PutRequest(key=b"k", value=b"v"), timeout=5)
    ctl(a, "user", "add", "root", "--new-user-password=pw")
    resp = a.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=5)
    assert [kv.key for kv in resp.kvs] == [b"k"]
