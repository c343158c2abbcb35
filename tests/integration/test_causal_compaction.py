"""Causal mode's compaction of the event log (docs/causal.md §7) with three real members (test_causal.py's
cluster), --experimental-causal-log-events 100 and a store copy every second.

- Under a stream of writes the event log stays bounded on every member: its front is dropped (a base record),
  and what is left is a few hundred events, not the thousands written.
- A member restarted (kill -9 and a clean stop) comes back from the checkpoint in its store plus the log's
  tail with the same keys, values, create/mod revisions and versions, and goes on at the next revision.
- A member stopped while the others write holds their compaction back while it is not silent
  (--experimental-causal-silent-after, 1h by default here: nothing it lacks is stable): their logs keep every
  event it lacks; restarted, it catches up by events and agrees, and compaction resumes.
- A restart replays only the log's tail: its length does not grow with the history written.

Not tested here: a member left behind (silent) below the others' compacted prefix catching up by a snapshot
(test_causal_snapshot.py).

ledgerkv only: etcd has no causal mode.
"""
import os
import struct
import time

import pytest

import lkvtest
from cluster import started, wait_for
from etcd3 import etcdrpc
from test_causal import CausalCluster, put

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

LOG_EVENTS = 100
TIMEOUT = 30.0


class Compacting(CausalCluster):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.extra_flags += ["--experimental-causal-log-events", str(LOG_EVENTS), "--ledger-checkpoint-interval",
                             "1s"]


@pytest.fixture
def cluster():
    yield from started(cls=Compacting)


def event_log(member):
    """(base, events) of member's event log file (causal_log.h: len u32, crc u32, body; a first body
    "lkvcbase" + u64 is the base)."""
    with open(os.path.join(member.data_dir, "member", "causal", "events"), "rb") as f:
        data = f.read()
    at, base, events = 0, 0, 0
    while at + 8 <= len(data):
        (n,) = struct.unpack_from("<I", data, at)
        body = data[at + 8:at + 8 + n]
        if len(body) < n:
            break
        if at == 0 and n == 16 and body.startswith(b"lkvcbase"):
            (base,) = struct.unpack_from("<Q", body, 8)
        else:
            events += 1
        at += 8 + n
    return base, events


def kvs(member):
    """(revision, {key: (value, create, mod, version)}) of everything member holds."""
    resp = member.kv().Range(etcdrpc.RangeRequest(key=b"\0", range_end=b"\0"), timeout=5)
    return resp.header.revision, {kv.key: (kv.value, kv.create_revision, kv.mod_revision, kv.version)
                                  for kv in resp.kvs}


def write(members, n, start=0):
    for i in range(start, start + n):
        put(members[i % len(members)], "k%03d" % (i % 97), "v%d" % i)


def agreed(members, writes):
    """every member at revision 1 + writes with the same keys and values"""
    seen = [kvs(m) for m in members]
    values = [{k: v[0] for k, v in s[1].items()} for s in seen]
    return all(s[0] == writes + 1 for s in seen) and all(v == values[0] for v in values)


def test_log_bounded_and_restart_from_checkpoint(cluster):
    a, b, c = cluster.members
    writes = 1500
    write(cluster.members, writes)
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)

    def bounded():
        """every member's log has a base past the start and holds a few hundred events at most"""
        logs = [event_log(m) for m in cluster.members]
        return all(base > 0 and base + events == writes and events < 600 for base, events in logs)

    write(cluster.members, 30, writes)  # a few more rounds after the copies: every member compacts again
    writes += 30
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
    wait_for(bounded, TIMEOUT)

    before = kvs(c)
    cluster.kill(c)
    cluster.restart(c)
    assert kvs(c) == before  # the checkpoint and the log's tail give the same state, revisions included
    c.stop()
    cluster.restart(c)
    assert kvs(c) == before
    assert "causal checkpoint" not in c.log_text()  # restored without complaint
    put(c, "after", "restart")
    writes += 1
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
    rev, data = kvs(c)
    assert data[b"after"][2] == rev  # the next revision: none lost or repeated


def test_stopped_member_holds_compaction_back_then_catches_up(cluster):
    a, b, c = cluster.members
    writes = 300
    write(cluster.members, writes)
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
    c.stop()
    write([a, b], 600, writes)
    writes += 600
    wait_for(lambda: agreed([a, b], writes), TIMEOUT)
    time.sleep(2.5)  # store copies were taken meanwhile: the logs could have dropped their fronts
    for m in (a, b):
        base, events = event_log(m)
        assert base <= 300 and base + events == writes, (m.name, base, events)  # c lacks the rest
    cluster.restart(c)
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
    write(cluster.members, 30, writes)
    writes += 30
    wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
    wait_for(lambda: all(event_log(m)[0] > 300 for m in cluster.members), TIMEOUT)


def test_restart_replays_only_the_tail(cluster):
    a, b, c = cluster.members
    writes, replayed, took = 0, [], []
    for rnd in range(2):
        write(cluster.members, 1200, writes)
        writes += 1200
        write(cluster.members, 30, writes)
        writes += 30
        wait_for(lambda: agreed(cluster.members, writes), TIMEOUT)
        wait_for(lambda: event_log(c)[1] < 600 and event_log(c)[0] > 0, TIMEOUT)
        c.stop()
        replayed.append(event_log(c)[1])
        t0 = time.monotonic()
        cluster.restart(c)
        took.append(time.monotonic() - t0)
        assert kvs(c)[0] == writes + 1
    print("history %d then %d events: replayed %s at restart, restarts took %s s" % (1230, 2460, replayed,
                                                                                   ["%.2f" % t for t in took]))
    assert all(r < 600 for r in replayed)  # bounded by the compaction, not by the 2460 events written
