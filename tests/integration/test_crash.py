"""Crash and restart: concurrent writers (single puts and 3-key txns) recording every acknowledged write,
kill -9 mid-load, restart on the same data dir, repeated; every acknowledged write must be there with its
value and revision, txns all-or-nothing, the revision never goes back. Also: "ready to serve" on stderr,
clean SIGTERM stop, an acknowledged compaction surviving kill -9, kill -9 while a compaction's removal of
history runs (under concurrent writers), and a compare-and-swap counter under contention (no lost or
doubled update, read-your-writes across connections) before and across kill -9.
"""
import random
import threading
import time

import grpc
import pytest

import lkvtest
from etcd3 import etcdrpc

WRITERS = 4
ROUNDS = 3
RPC_TIMEOUT = 5


class Writer(threading.Thread):
    """Writes unique keys until an RPC fails or stop is set; records acknowledged writes.

    Odd writers use a Txn putting three keys at once, to check that a txn is all-or-nothing.
    """

    def __init__(self, srv, tag, stop):
        super().__init__(daemon=True)
        self.endpoint, self.tag, self.stop = srv.endpoint, tag, stop
        self.txn = tag.endswith(("1", "3"))
        self.acked = []  # (keys, value, header revision)
        self.attempted = set()
        self.failed = None

    def run(self):
        ch = grpc.insecure_channel(self.endpoint, options=lkvtest.GRPC_OPTIONS)
        kv = etcdrpc.KVStub(ch)
        try:
            i = 0
            while not self.stop.is_set():
                base = "crash/%s/%06d" % (self.tag, i)
                keys = [base + "/%d" % j for j in range(3)] if self.txn else [base]
                value = ("value-of-" + base).encode()
                self.attempted.update(k.encode() for k in keys)
                try:
                    if self.txn:
                        resp = kv.Txn(etcdrpc.TxnRequest(success=[
                            etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=k.encode(), value=value))
                            for k in keys]), timeout=RPC_TIMEOUT)
                    else:
                        resp = kv.Put(etcdrpc.PutRequest(key=keys[0].encode(), value=value),
                                      timeout=RPC_TIMEOUT)
                except grpc.RpcError as e:
                    self.failed = e.code()
                    return
                self.acked.append(([k.encode() for k in keys], value, resp.header.revision))
                i += 1
        finally:
            ch.close()


def all_keys(srv, prefix=b"crash/"):
    resp = srv.kv().Range(etcdrpc.RangeRequest(key=prefix, range_end=prefix[:-1] + b"0"),
                          timeout=20)
    return {kv.key: kv for kv in resp.kvs}, resp.header.revision


def verify(srv, writers_so_far, max_acked_rev):
    kvs, rev = all_keys(srv)
    assert rev >= max_acked_rev, "revision went back: %d < acknowledged %d" % (rev, max_acked_rev)
    attempted = set()
    for w in writers_so_far:
        attempted |= w.attempted
        for keys, value, arev in w.acked:
            for k in keys:
                assert k in kvs, "acknowledged key %r (rev %d) lost" % (k, arev)
                assert kvs[k].value == value and kvs[k].mod_revision == arev, (k, kvs[k], arev)
    phantom = set(kvs) - attempted
    assert not phantom, "keys nobody wrote: %r" % sorted(phantom)[:5]
    groups = {}
    for k in kvs:
        parts = k.rsplit(b"/", 1)
        if parts[1] in (b"0", b"1", b"2") and len(parts[0].split(b"/")) == 3:
            groups.setdefault(parts[0], []).append(kvs[k].mod_revision)
    for base, revs in groups.items():
        assert len(revs) == 3 and len(set(revs)) == 1, "txn %r applied partially: %r" % (base, revs)
    return len(kvs)


def test_kill9_mid_load(server_factory):
    srv = server_factory.start()
    rnd = random.Random(7)
    writers_so_far, max_rev = [], 0
    for rnd_no in range(ROUNDS):
        stop = threading.Event()
        writers = [Writer(srv, "r%dw%d" % (rnd_no, t), stop) for t in range(WRITERS)]
        for w in writers:
            w.start()
        time.sleep(rnd.uniform(0.8, 2.0))
        srv.kill()  # SIGKILL while the writers are still writing
        time.sleep(0.3)  # a writer between two requests meets the dead server too (its next one fails)
        stop.set()
        for w in writers:
            w.join(timeout=30)
            assert not w.is_alive(), "writer hung after the kill"
        acked = sum(len(w.acked) for w in writers)
        assert acked >= 10, "only %d writes acknowledged before the kill" % acked
        assert any(w.failed for w in writers), "no writer was cut off: the kill was not mid-load"
        writers_so_far += writers
        max_rev = max([max_rev] + [a[2] for w in writers for a in w.acked])
        srv.start()
        present = verify(srv, writers_so_far, max_rev)
        assert present >= sum(len(a[0]) for w in writers_so_far for a in w.acked)
    # writes continue after the last recovery with fresh revisions
    resp = srv.kv().Put(etcdrpc.PutRequest(key=b"crash-after", value=b"x"), timeout=10)
    assert resp.header.revision > max_rev


def test_sigterm_clean_stop_and_restart(server_factory):
    srv = server_factory.start()
    assert srv.wait_log("ready to serve"), srv.log_tail()
    revs = []
    for i in range(20):
        revs.append(srv.kv().Put(etcdrpc.PutRequest(key=b"term/%02d" % i, value=b"%d" % i),
                                 timeout=10).header.revision)
    srv.stop()  # asserts a clean exit
    srv.start()
    kvs, rev = all_keys(srv, b"term/")
    assert rev == revs[-1]
    assert [(kv.key, kv.value, kv.mod_revision) for kv in kvs.values()] == \
        [(b"term/%02d" % i, b"%d" % i, revs[i]) for i in range(20)]
    assert srv.wait_log("ready to serve", count=2), srv.log_tail()


def test_acknowledged_compaction_survives_kill9(server_factory):
    srv = server_factory.start()
    revs = [srv.kv().Put(etcdrpc.PutRequest(key=b"cmp/k", value=b"%d" % i), timeout=10).header.revision
            for i in range(10)]
    srv.kv().Compact(etcdrpc.CompactionRequest(revision=revs[5]), timeout=10)
    srv.kill()
    srv.start()
    with pytest.raises(grpc.RpcError) as ei:
        srv.kv().Range(etcdrpc.RangeRequest(key=b"cmp/k", revision=revs[4]), timeout=10)
    assert (ei.value.code(), ei.value.details()) == \
        (grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")
    got = srv.kv().Range(etcdrpc.RangeRequest(key=b"cmp/k", revision=revs[5]), timeout=10)
    assert got.kvs[0].value == b"5"
    assert srv.kv().Range(etcdrpc.RangeRequest(key=b"cmp/k"), timeout=10).kvs[0].value == b"9"


HIST_KEYS, HIST_ROUNDS, HIST_TXN = 400, 150, 100  # 60000 key revisions, 600 txns


def hist_state(srv, rev):
    resp = srv.kv().Range(etcdrpc.RangeRequest(key=b"hist/", range_end=b"hist0", revision=rev), timeout=20)
    return [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in resp.kvs]


def test_kill9_during_compaction_removal(server_factory):
    """A compaction sets its revision at once and removes the history below it in steps afterwards: kill -9
    twice while that removal runs beside concurrent writers, then let it finish. Every acknowledged write is
    there, the compaction holds, and the history kept, the state at the compact revision and HashKV are
    those of a server that compacted the same history without a crash."""
    srv, ref = server_factory.start(), server_factory.start()
    revs = {}

    def fill(s):  # both servers at once, the same requests: the same revisions
        revs[s] = []
        for r in range(HIST_ROUNDS):
            for i in range(0, HIST_KEYS, HIST_TXN):
                req = etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(
                    key=b"hist/%04d" % k, value=b"%d-%d" % (k, r))) for k in range(i, i + HIST_TXN)])
                rev = s.kv().Txn(req, timeout=RPC_TIMEOUT).header.revision
            revs[s].append(rev)

    fillers = [threading.Thread(target=fill, args=(s,)) for s in (srv, ref)]
    for t in fillers:
        t.start()
    for t in fillers:
        t.join()
    assert revs[srv] == revs[ref] and len(revs[srv]) == HIST_ROUNDS
    revs = revs[srv]
    compact, last = revs[99], revs[-1]
    start = time.monotonic()
    ref.kv().Compact(etcdrpc.CompactionRequest(revision=compact, physical=True), timeout=60)
    took = time.monotonic() - start  # as long as the removal takes alone on this machine and build

    writers = []
    for round_ in range(2):
        stop = threading.Event()
        ws = [Writer(srv, "cmp%d-%d" % (round_, i), stop) for i in range(2)]
        writers += ws
        for w in ws:
            w.start()
        if round_ == 0:
            srv.kv().Compact(etcdrpc.CompactionRequest(revision=compact), timeout=RPC_TIMEOUT)
        time.sleep(0.3 * took)
        srv.kill()
        stop.set()
        for w in ws:
            w.join()
        if round_ == 0:  # the first kill hit the removal (writers slow it, they do not speed it up)
            assert "finished scheduled compaction" not in srv.log_text(), took
        srv.start()
    assert srv.wait_log("finished scheduled compaction", timeout=60), srv.log_tail()

    verify(srv, writers, max((a[2] for w in writers for a in w.acked), default=0))
    assert sum(len(w.acked) for w in writers) > 0
    with pytest.raises(grpc.RpcError) as ei:
        hist_state(srv, compact - 1)
    assert ei.value.details() == "etcdserver: mvcc: required revision has been compacted"
    for rev in (compact, revs[120], last):
        assert hist_state(srv, rev) == hist_state(ref, rev), rev
    assert [v for (_, v, _, _, _) in hist_state(srv, compact)] == [b"%d-99" % k for k in range(HIST_KEYS)]
    hashes = [etcdrpc.MaintenanceStub(s.channel()).HashKV(etcdrpc.HashKVRequest(revision=last), timeout=20)
              for s in (srv, ref)]
    assert [(h.hash, h.compact_revision) for h in hashes] == [(hashes[1].hash, compact)] * 2


class CasIncrementer(threading.Thread):
    """Increments one counter with read + compare-and-swap Txn until stopped or cut off; after each
    acknowledged increment reads the counter on a second connection (read-your-writes)."""

    def __init__(self, srv, stop):
        super().__init__(daemon=True)
        self.endpoint, self.stop = srv.endpoint, stop
        self.acked = 0
        self.conflicts = 0
        self.stale_reads = []
        self.failed = None

    def run(self):
        ch, ch2 = (grpc.insecure_channel(self.endpoint, options=lkvtest.GRPC_OPTIONS) for _ in range(2))
        kv, reader = etcdrpc.KVStub(ch), etcdrpc.KVStub(ch2)
        try:
            while not self.stop.is_set():
                cur = kv.Range(etcdrpc.RangeRequest(key=b"cas/counter"), timeout=RPC_TIMEOUT)
                mod = cur.kvs[0].mod_revision if cur.kvs else 0
                val = int(cur.kvs[0].value) if cur.kvs else 0
                resp = kv.Txn(etcdrpc.TxnRequest(
                    compare=[etcdrpc.Compare(key=b"cas/counter", target=etcdrpc.Compare.MOD,
                                             result=etcdrpc.Compare.EQUAL, mod_revision=mod)],
                    success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(
                        key=b"cas/counter", value=b"%d" % (val + 1)))]), timeout=RPC_TIMEOUT)
                if not resp.succeeded:
                    self.conflicts += 1
                    continue
                self.acked += 1
                seen = reader.Range(etcdrpc.RangeRequest(key=b"cas/counter"), timeout=RPC_TIMEOUT)
                if seen.kvs[0].mod_revision < resp.header.revision:
                    self.stale_reads.append((resp.header.revision, seen.kvs[0].mod_revision))
        except grpc.RpcError as e:
            self.failed = e.code()
        finally:
            ch.close()
            ch2.close()


def counter(srv):
    resp = srv.kv().Range(etcdrpc.RangeRequest(key=b"cas/counter"), timeout=10)
    return int(resp.kvs[0].value) if resp.kvs else 0


def test_cas_counter_no_lost_updates(server_factory):
    """Concurrent CAS increments: none lost, none doubled, reads see acknowledged writes; then the same
    under kill -9, where at most the in-flight increments (one per thread) may land unacknowledged."""
    srv = server_factory.start()
    stop = threading.Event()
    threads = [CasIncrementer(srv, stop) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive() and t.failed is None, t.failed
    acked = sum(t.acked for t in threads)
    assert acked >= 10 and sum(t.conflicts for t in threads) > 0, "no contention was produced"
    assert counter(srv) == acked
    assert not [s for t in threads for s in t.stale_reads], "reads missed acknowledged writes"

    stop = threading.Event()
    threads = [CasIncrementer(srv, stop) for _ in range(WRITERS)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    acked2 = sum(t.acked for t in threads)
    assert acked2 > 0 and any(t.failed for t in threads)
    srv.start()
    assert acked + acked2 <= counter(srv) <= acked + acked2 + WRITERS
