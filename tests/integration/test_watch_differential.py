"""Differential Watch test: the same watchers (single key, prefix, range, from-key, every key; prev_kv, NOPUT,
NODELETE; from now and from past revisions; client-chosen and automatic ids; refused duplicates and empty
ranges; a compacted start) are opened on one raw gRPC stream per server, on a fresh etcd and a fresh server
under test, and the same randomised writes (puts, deletes, range deletes, multi-key txns, compactions) are
sent to both. Every watcher's sequence of created/canceled answers and events must match exactly (events are
compared flattened: etcd sends one response per revision, ledgerkv may group revisions).
Seeds: LKV_WATCH_DIFF_SEEDS="1,2"; operations per seed: LKV_WATCH_DIFF_OPS.
"""
import os
import queue
import random
import threading
import time

import grpc
import pytest

import lkvtest
from etcd3 import etcdrpc

SEEDS = [int(s) for s in os.environ.get("LKV_WATCH_DIFF_SEEDS", "7,8,9").split(",")]
OPS = int(os.environ.get("LKV_WATCH_DIFF_OPS", "250"))
KEYS = [b"d/k%d" % i for i in range(8)] + [b"d/z", b"e"]
WCR = etcdrpc.WatchCreateRequest


class Stream:
    """One Watch call: requests go in through a queue, responses are collected by a thread."""

    def __init__(self, srv):
        self.q = queue.Queue()
        self.resps = []
        self.cv = threading.Condition()
        self.call = etcdrpc.WatchStub(srv.channel()).Watch(iter(self.q.get, None))
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            for r in self.call:
                with self.cv:
                    self.resps.append(r)
                    self.cv.notify_all()
        except grpc.RpcError:
            pass

    def request(self, **kw):
        """Sends one WatchRequest and waits for the answer to a create or cancel."""
        with self.cv:
            n = len(self.resps)
        self.q.put(etcdrpc.WatchRequest(**kw))
        with self.cv:
            ok = self.cv.wait_for(lambda: any(r.created or r.canceled for r in self.resps[n:]), timeout=20)
        assert ok, "no answer to %r" % kw

    def close(self):
        self.q.put(None)
        self.call.cancel()
        self.t.join(timeout=10)


def transcript(resps):
    """Per watch id: its created/canceled answers and its events, in order (progress responses left out)."""
    out = {}
    for r in resps:
        items = out.setdefault(r.watch_id, [])
        if r.created or r.canceled:
            items.append(("ctl", r.created, r.canceled, r.compact_revision, r.cancel_reason,
                          r.header.revision))
        for ev in r.events:
            items.append(("ev", ev.SerializeToString()))
    return out


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def create_request(watch_id=0, **kw):
    """A WatchCreateRequest; python3-etcd3's protos predate watch_id (field 7), so it is added as raw bytes,
    which protobuf keeps as an unknown field and sends on."""
    c = WCR(**kw)
    if watch_id:
        c.MergeFromString(b"\x38" + varint(watch_id))
    return c


class Pair:
    def __init__(self, ref, sut):
        self.srvs = (ref, sut)
        self.streams = [Stream(s) for s in self.srvs]
        self.replayed_at = 0.0  # monotonic time by which etcd has replayed to every watcher created

    def watch(self, **kw):
        for st in self.streams:
            st.request(create_request=create_request(**kw))

    def cancel(self, wid):
        for st in self.streams:
            st.request(cancel_request=etcdrpc.WatchCancelRequest(watch_id=wid))

    def write(self, method, req):
        revs = [getattr(s.kv(), method)(req, timeout=10).header.revision for s in self.srvs]
        assert revs[0] == revs[1], "revisions diverged on %s: %r" % (method, revs)
        return revs[0]

    def settle(self, timeout=30):
        """Waits until both transcripts agree (the server under test may lag a moment), then compares."""
        deadline = time.monotonic() + timeout
        while True:
            with self.streams[0].cv, self.streams[1].cv:
                t = [transcript(list(st.resps)) for st in self.streams]
            if t[0] == t[1] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for wid in sorted(set(t[0]) | set(t[1])):
            a, b = t[0].get(wid, []), t[1].get(wid, [])
            if a != b:
                i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                pytest.fail("watch %d differs at item %d of %d/%d:\n etcd: %r\n  sut: %r"
                            % (wid, i, len(a), len(b), a[i:i + 2], b[i:i + 2]))
        return t[0]

    def replaying(self):
        """Called after a watcher that starts in the past was created. etcd replays history to such
        watchers in a loop every 100 ms, and cancels one that a later compaction overtakes before that
        (reporting that compaction): the next compaction waits until it has replayed (writes need not,
        events are compared flattened)."""
        self.replayed_at = time.monotonic() + 0.3

    def compact(self, revision):
        time.sleep(max(0.0, self.replayed_at - time.monotonic()))
        return self.write("Compact", etcdrpc.CompactionRequest(revision=revision))

    def close(self):
        for st in self.streams:
            st.close()


def random_write(p, r):
    k = r.choice(KEYS)
    op = r.random()
    if op < 0.5:
        return p.write("Put", etcdrpc.PutRequest(key=k, value=b"v%d" % r.randrange(1000)))
    if op < 0.65:
        return p.write("DeleteRange", etcdrpc.DeleteRangeRequest(key=k))
    if op < 0.75:
        end = r.choice(KEYS)
        return p.write("DeleteRange", etcdrpc.DeleteRangeRequest(key=min(k, end), range_end=max(k, end)))
    ks = r.sample(KEYS, 3)  # several events in one revision
    return p.write("Txn", etcdrpc.TxnRequest(success=[
        etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=x, value=b"t")) for x in ks]))


def run_seed(seed, ref, sut):
    r = random.Random(seed)
    p = Pair(ref, sut)
    try:
        p.watch(key=b"\0", range_end=b"\0", prev_kv=True)  # every key, auto id 0
        p.watch(key=b"d/", range_end=b"d0", watch_id=100)
        p.watch(key=b"d/k3", watch_id=101, prev_kv=True)
        p.watch(key=b"d/k5", range_end=b"\0", filters=[WCR.NOPUT])
        p.watch(key=b"d/k2", range_end=b"d/k6", filters=[WCR.NODELETE], prev_kv=True)
        p.watch(key=b"d/k3", watch_id=101)  # duplicate id: refused
        p.watch(key=b"d/k6", range_end=b"d/k2")  # empty range: refused
        rev, compacted, later = 1, 0, 200
        for i in range(OPS):
            x = r.random()
            if x < 0.06:  # a watcher replaying history
                start = r.randrange(compacted + 1, rev + 2) if compacted < rev else 0
                p.watch(key=r.choice([b"d/", b"d/k1", b"e"]), range_end=r.choice([b"", b"d0", b"\0"]),
                        start_revision=start, watch_id=later, prev_kv=r.random() < 0.5)
                later += 1
                p.replaying()
            elif x < 0.08 and rev > compacted + 5:
                compacted = r.randrange(compacted + 1, rev)
                p.compact(compacted)
            elif x < 0.09 and compacted > 1:  # starts below the compaction: canceled with its revision
                p.watch(key=b"d/", range_end=b"d0", start_revision=compacted - 1, watch_id=later)
                later += 1
                p.replaying()
            else:
                rev = random_write(p, r)
        p.settle()
        for wid in (0, 100, 101):
            p.cancel(wid)
        t = p.settle()
        assert sum(1 for it in t[0] if it[0] == "ev") > OPS // 3, "too few events to mean anything"
    finally:
        p.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_watch_differential(seed, server_factory):
    ref = server_factory.start("etcd")
    sut = server_factory.start()
    run_seed(seed, ref, sut)
