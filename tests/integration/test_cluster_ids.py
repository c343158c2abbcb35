"""Member and cluster ids: `ledgerkv member-id` against what Debian's etcd 3.4 prints for the same flags.

Each case starts one real etcd member on free loopback ports and reads the ids it reports: from every
"added member <id> [<peer urls>] to cluster <cid>" line of its log (all members of --initial-cluster, even
those never started), and, where the member can serve alone (a one-member cluster), from `etcdctl endpoint
status -w json` (header.cluster_id and member_id) too.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

import lkvtest

ADDED = re.compile(r"added member ([0-9a-f]+) \[([^\]]*)\] to cluster ([0-9a-f]+)")
STARTING = re.compile(r"starting member ([0-9a-f]+) in cluster ([0-9a-f]+)")


def ours(*args):
    """Runs `ledgerkv member-id args`; returns ({name: hex id}, cluster hex id)."""
    res = subprocess.run([lkvtest.ledgerkv_bin(), "member-id"] + list(args), capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    members, cluster = {}, None
    for line in res.stdout.splitlines():
        f = line.split(" ", 2)
        if f[0] == "member":
            members[f[2]] = f[1]
        elif f[0] == "cluster":
            cluster = f[1]
    assert cluster and members, res.stdout
    return members, cluster


class Etcd:
    """One etcd process with its own data dir and log; stopped (killed) by close()."""

    def __init__(self, flags, listen_peer):
        self.dir = tempfile.mkdtemp(prefix="lkvtest-ids-")
        self.port = lkvtest.free_port()
        self.endpoint = "127.0.0.1:%d" % self.port
        self.log = os.path.join(self.dir, "etcd.log")
        url = "http://" + self.endpoint
        cmd = [lkvtest.ETCD_BIN, "--data-dir", os.path.join(self.dir, "data"), "--listen-client-urls", url,
               "--advertise-client-urls", url, "--listen-peer-urls", listen_peer] + flags
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + cmd,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=lkvtest.child_env(), start_new_session=True)

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_added(self, n, timeout=30):
        """Waits until the log names n added members; returns ({hex id: [urls]}, {cluster ids})."""
        deadline = time.monotonic() + timeout
        while True:
            found = ADDED.findall(self.text())
            if len(found) >= n:
                return {m: u.split() for m, u, _ in found}, {c for _, _, c in found}
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("etcd did not report %d members\n%s" % (n, self.text()[-3000:]))
            time.sleep(0.05)

    def status(self, timeout=30):
        """etcdctl endpoint status -w json of this member: (member id, cluster id) in hex."""
        deadline = time.monotonic() + timeout
        while True:
            res = subprocess.run([lkvtest.ETCDCTL_BIN, "--endpoints=" + self.endpoint, "--dial-timeout=2s",
                                  "--command-timeout=5s", "endpoint", "status", "-w", "json"],
                                 capture_output=True, text=True, timeout=30,
                                 env=lkvtest.child_env({"ETCDCTL_API": "3"}))
            if res.returncode == 0:
                hdr = json.loads(res.stdout)[0]["Status"]["header"]
                return "%x" % hdr["member_id"], "%x" % hdr["cluster_id"]
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("etcd status failed: %s\n%s" % (res.stderr, self.text()[-3000:]))
            time.sleep(0.2)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def start_etcd():
    started = []

    def start(flags, listen_peer):
        e = Etcd(flags, listen_peer)
        started.append(e)
        return e

    yield start
    for e in started:
        e.close()


def peer():
    return "http://127.0.0.1:%d" % lkvtest.free_port()


def test_defaults(start_etcd):
    """No cluster flags: etcd's default member http://localhost:2380 (advertised only; it listens
    elsewhere, which a one-member cluster never dials)."""
    e = start_etcd([], peer())
    member, cluster = e.status()
    assert (member, cluster) == ("8e9e05c52164694d", "cdf818194e3a8c32")
    members, clusters = e.wait_added(1)
    assert set(members) == {member} and clusters == {cluster}
    assert ours() == ({"default": member}, cluster)


@pytest.mark.parametrize("token", [None, "lkv-ids-token"])
def test_one_member(start_etcd, token):
    """A one-member cluster with a 127.0.0.1 peer URL, with the default and a custom token."""
    p = peer()
    flags = ["--name", "a", "--initial-advertise-peer-urls", p, "--initial-cluster", "a=" + p]
    if token:
        flags += ["--initial-cluster-token", token]
    e = start_etcd(flags, p)
    member, cluster = e.status()
    args = ["--name", "a", "--initial-cluster", "a=" + p]
    if token:
        args += ["--initial-cluster-token", token]
    assert ours(*args) == ({"a": member}, cluster)


def test_two_peer_urls_any_order(start_etcd):
    """One member advertising two peer URLs: the id hashes them sorted, whatever order the flags give."""
    p1, p2 = peer(), peer()
    token = "lkv-two-urls"
    e = start_etcd(["--name", "a", "--initial-advertise-peer-urls", p2 + "," + p1,
                    "--initial-cluster", "a=%s,a=%s" % (p2, p1), "--initial-cluster-token", token], p1)
    member, cluster = e.status()
    for ic in ("a=%s,a=%s" % (p1, p2), "a=%s,a=%s" % (p2, p1)):
        assert ours("--name", "a", "--initial-cluster", ic, "--initial-cluster-token", token) == \
            ({"a": member}, cluster)


def test_three_members_one_started(start_etcd):
    """A three-member --initial-cluster with only one member started: etcd logs every member's id and
    the cluster id before it waits for a quorum (which never comes)."""
    pa, pb, pc = peer(), peer(), peer()
    ic = "c=%s,a=%s,b=%s" % (pc, pa, pb)
    token = "lkv-three"
    e = start_etcd(["--name", "b", "--initial-advertise-peer-urls", pb, "--initial-cluster", ic,
                    "--initial-cluster-token", token], pb)
    members, clusters = e.wait_added(3)
    assert len(clusters) == 1
    local = STARTING.search(e.text())
    assert local, e.text()[-3000:]
    mine, cluster = ours("--name", "b", "--initial-cluster", ic, "--initial-cluster-token", token)
    assert cluster == clusters.pop() == local.group(2)
    assert mine["b"] == local.group(1)
    assert {mine[n]: [u] for n, u in (("a", pa), ("b", pb), ("c", pc))} == members


def test_refusals_match_etcd():
    """Malformed --initial-cluster values: etcd's own message after "error setting up initial
    cluster: ", and a missing local name."""
    for ic, msg in [("a=http://127.0.0.1", 'URL address does not have the form "host:port": http://127.0.0.1'),
                    ("a=127.0.0.1:2380", 'parse "127.0.0.1:2380": first path segment in URL cannot contain colon'),
                    ("a=ftp://h:1", "URL scheme must be http, https, unix, or unixs: ftp://h:1"),
                    ("b=http://127.0.0.1:2380", 'couldn\'t find local name "a" in the initial cluster configuration')]:
        res = subprocess.run([lkvtest.ledgerkv_bin(), "member-id", "--name", "a", "--initial-cluster", ic],
                             capture_output=True, text=True, timeout=30)
        assert res.returncode == 1 and msg in res.stderr, (ic, res.stderr)
        d = tempfile.mkdtemp(prefix="lkvtest-ids-")
        try:
            etcd = subprocess.run([lkvtest.ETCD_BIN, "--name", "a", "--data-dir", os.path.join(d, "data"),
                                   "--initial-cluster", ic, "--listen-peer-urls", peer(),
                                   "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                                   "--listen-client-urls", "http://127.0.0.1:%d" % lkvtest.free_port(),
                                   "--advertise-client-urls", "http://127.0.0.1:2379"],
                                  capture_output=True, text=True, timeout=30, env=lkvtest.child_env())
        finally:
            shutil.rmtree(d, ignore_errors=True)
        assert etcd.returncode != 0 and msg in etcd.stderr, (ic, etcd.stderr[-2000:])
