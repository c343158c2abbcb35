"""Every JSON gateway route of etcd's services, with curl, differentially against Debian's etcd 3.4.

One scenario runs on a fresh ledgerkv and a fresh etcd under each prefix: `/v3/`, `/v3beta/` (etcd 3.4
rewrites it) and `/v3alpha/` (ledgerkv serves it as `/v3/`; etcd 3.4 answers 404, so its answers come from
`/v3/` there). Each step is one curl POST; status, content type and the JSON (header ids and terms apart,
and the fields named per step that differ by nature: generated ids, tokens, sizes) must agree; streams
(watch, keepalive, snapshot, observe) are read as curl prints their chunks. The scenario covers KV, Lease
(with the kv/lease aliases), Watch, Cluster (a learner added, refused promotion, removed; a member updated),
Maintenance, Auth (users, roles, permissions, enable, authenticate, the token in Authorization, disable),
Lock and Election; a last check fails when gateway.c serves an etcd route the scenario does not call.
"""
import base64
import json
import os
import re
import subprocess

import pytest

import lkvtest

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "gateway", "gateway.c")
HEADER_ONLY_FIELDS = {"cluster_id", "member_id", "raft_term"}


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def normal(obj, masked):
    """The answer with header ids and the step's masked fields replaced by their presence. A member list
    (ids differ between the servers) becomes whether it is in id order, as etcd sorts it, and its members
    in an order of their other fields."""
    if isinstance(obj, dict) and isinstance(obj.get("members"), list) and "ID" in masked:
        ids = [int(m["ID"]) for m in obj["members"]]
        listed = sorted((normal(m, masked) for m in obj["members"]), key=lambda m: json.dumps(m, sort_keys=True))
        rest = normal({k: v for k, v in obj.items() if k != "members"}, masked)
        return dict(rest, members={"in_id_order": ids == sorted(ids), "members": listed})
    if isinstance(obj, dict):
        return {k: ("<x>" if k in HEADER_ONLY_FIELDS or k in masked else normal(v, masked)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [normal(v, masked) for v in obj]
    return obj


class Client:
    """curl against one server under one prefix; remembers what later steps need (ids, tokens)."""

    def __init__(self, srv, prefix):
        self.srv, self.prefix, self.token, self.saved = srv, prefix, None, {}

    def post(self, route, body, stream_seconds=None):
        """(status, content type, [parsed JSON objects]) of one curl POST (a stream: one object per line)."""
        args = ["curl", "-sS", "-X", "POST", "-w", "\n%{http_code} %{content_type}",
                "http://%s%s%s" % (self.srv.endpoint, self.prefix, route), "-d", json.dumps(body)]
        if self.token:
            args[1:1] = ["-H", "Authorization: " + self.token]
        if stream_seconds:
            args[1:1] = ["-N", "--max-time", str(stream_seconds)]
        out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
        if stream_seconds:  # curl stops at --max-time without its -w line
            return 200, None, [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        text, tail = out.rsplit("\n", 1)
        status, ctype = tail.split(" ", 1)
        return int(status), ctype, [json.loads(line) for line in text.splitlines() if line.strip()]


def scenario(c, port):
    """The steps: (route, answer). Each step's body may use what earlier answers saved in c.saved."""
    steps = []

    def step(route, body, masked=(), save=None, stream=None, view=None):
        status, ctype, objs = c.post(route, body, stream)
        if save and status == 200:
            save(objs[0])
        objs = [normal(o, set(masked)) for o in objs]
        steps.append((route, status, ctype, view(objs) if view else objs))

    # KV
    step("kv/put", {"key": b64("r/a"), "value": b64(b"\x00\xff")})
    step("kv/put", {"key": b64("r/b"), "value": b64("2"), "prev_kv": True})
    step("kv/range", {"key": b64("r/"), "range_end": b64("r0"), "sort_order": "DESCEND", "sort_target": "KEY"})
    step("kv/txn", {"compare": [{"key": b64("r/a"), "target": "VALUE", "value": b64(b"\x00\xff")}],
                    "success": [{"request_put": {"key": b64("r/c"), "value": b64("t")}}]})
    step("kv/deleterange", {"key": b64("r/c"), "prev_kv": True})
    step("kv/compaction", {"revision": "2", "physical": True})
    step("kv/range", {"key": b64("r/a"), "revision": "1"})  # compacted: 400 code 11
    # Watch: the created message and the first event of a put already made
    step("watch", {"create_request": {"key": b64("r/"), "range_end": b64("r0"), "start_revision": "3"}},
         stream=1.5)
    # Lease, with the kv/lease aliases
    step("lease/grant", {"TTL": 60, "ID": "7000"})
    step("lease/grant", {"TTL": 60, "ID": "7001"})
    step("lease/timetolive", {"ID": "7000", "keys": True}, masked={"TTL"})
    step("kv/lease/timetolive", {"ID": "7001"}, masked={"TTL"})
    step("lease/leases", {})
    step("kv/lease/leases", {})
    step("lease/keepalive", {"ID": "7000"})
    step("lease/revoke", {"ID": "7000"})
    step("kv/lease/revoke", {"ID": "7001"})
    step("lease/revoke", {"ID": "7001"})  # not found: 404 code 5
    # Cluster: a learner (it needs no quorum) added, updated, refused promotion, removed
    step("cluster/member/list", {}, masked={"ID", "name", "peerURLs", "clientURLs"},
         save=lambda o: c.saved.update(voter=o["members"][0]))
    step("cluster/member/add", {"peerURLs": ["http://127.0.0.1:%d" % port], "isLearner": True},
         masked={"ID", "name", "peerURLs", "clientURLs"}, save=lambda o: c.saved.update(learner=o["member"]["ID"]))
    # (the voter's own URLs again: etcd 3.4 makes an updated learner a voter in its records, a bug)
    voter = c.saved.get("voter", {})
    step("cluster/member/update", {"ID": voter.get("ID", "1"), "peerURLs": voter.get("peerURLs", [])},
         masked={"ID", "name", "peerURLs", "clientURLs"})
    step("cluster/member/promote", {"ID": c.saved.get("learner", "1")})
    step("cluster/member/remove", {"ID": c.saved.get("learner", "1")}, masked={"ID", "name", "peerURLs", "clientURLs"})
    step("cluster/member/remove", {"ID": "12345"})  # not found
    # Maintenance
    step("maintenance/status", {}, masked={"version", "dbSize", "dbSizeInUse", "leader", "raftIndex", "raftAppliedIndex"})
    # etcd 3.4 answers an alarm GET without a header (ledgerkv's has one): the alarms agree
    step("maintenance/alarm", {"action": "GET"}, view=lambda objs: [o.get("alarms") for o in objs])
    step("maintenance/hash", {}, masked={"hash"})
    step("maintenance/defragment", {})
    # the snapshots' sizes differ, so do their chunks: each has a blob, the last says nothing remains
    step("maintenance/snapshot", {}, masked={"blob", "remaining_bytes"},
         view=lambda objs: (all("blob" in o["result"] for o in objs), sorted(objs[-1]["result"])))
    step("maintenance/transfer-leadership", {"targetID": "12345"})  # not a member: refused
    # Lock and Election
    step("lease/grant", {"TTL": 60, "ID": "7002"})
    step("lock/lock", {"name": b64("r-lock"), "lease": "7002"}, masked={"key"},
         save=lambda o: c.saved.update(lock=o["key"]))
    step("lock/unlock", {"key": c.saved.get("lock", "")})
    step("election/campaign", {"name": b64("r-el"), "lease": "7002", "value": b64("one")}, masked={"key"},
         save=lambda o: c.saved.update(leader=o["leader"]))
    step("election/proclaim", {"leader": c.saved.get("leader", {}), "value": b64("two")})
    step("election/leader", {"name": b64("r-el")}, masked={"key"})
    step("election/observe", {"name": b64("r-el")}, masked={"key"}, stream=1.5)
    step("election/resign", {"leader": c.saved.get("leader", {})})
    step("election/leader", {"name": b64("r-el")})  # none: 500 code 2
    # Auth
    step("auth/user/add", {"name": "root", "password": "rootpw"})
    step("auth/user/grant", {"user": "root", "role": "root"})
    step("auth/role/add", {"name": "reader"})
    step("auth/role/grant", {"name": "reader", "perm": {"permType": "READ", "key": b64("r/"), "range_end": b64("r0")}})
    step("auth/role/get", {"role": "reader"})
    step("auth/role/list", {})
    step("auth/user/add", {"name": "u1", "password": "pw1"})
    step("auth/user/grant", {"user": "u1", "role": "reader"})
    step("auth/user/get", {"name": "u1"})
    step("auth/user/list", {})
    step("auth/user/changepw", {"name": "u1", "password": "pw2"})
    step("auth/enable", {})
    step("kv/range", {"key": b64("r/a")})  # no token: refused
    step("auth/authenticate", {"name": "u1", "password": "pw1"})  # the old password: refused
    step("auth/authenticate", {"name": "root", "password": "rootpw"}, masked={"token"},
         save=lambda o: setattr(c, "token", o["token"]))
    step("kv/range", {"key": b64("r/a")})
    step("auth/role/revoke", {"role": "reader", "key": b64("r/"), "range_end": b64("r0")})
    step("auth/user/revoke", {"name": "u1", "role": "reader"})
    step("auth/user/delete", {"name": "u1"})
    step("auth/role/delete", {"role": "reader"})
    step("auth/disable", {})
    return steps


PREFIXES = [("/v3/", "/v3/"), ("/v3beta/", "/v3beta/"), ("/v3alpha/", "/v3/")]


@pytest.mark.parametrize("ours,etcds", PREFIXES, ids=[p[0].strip("/") for p in PREFIXES])
def test_every_route_as_etcd(server_factory, ours, etcds):
    port = lkvtest.free_port()
    runs = []
    for kind, prefix in (("ledgerkv", ours), ("etcd", etcds)):
        runs.append(scenario(Client(server_factory.start(kind), prefix), port))
    assert len(runs[0]) == len(runs[1])
    for l, e in zip(*runs):
        assert l == e, "\nledgerkv: %s\netcd:     %s" % (l, e)


def test_scenario_calls_every_route():
    """The scenario above calls every etcd route gateway.c serves (a new route needs a step)."""
    with open(SRC) as f:
        served = set(re.findall(r'^\s+(?:ROUTE|STREAM|BIDI|AUTH|LOCK|ELECTION)\("([a-z/-]+)"', f.read(), re.M))
    with open(__file__) as f:
        called = set(re.findall(r'step\("([a-z/-]+)"', f.read()))
    assert len(served) > 40 and served <= called, sorted(served - called)
