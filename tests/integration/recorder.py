"""A recorded concurrent workload for linearizability checks: client threads, each on its own member, issue
random reads (linearizable Range), puts of unique values and compare-and-set Txns over a few keys and record
every operation (invocation, completion, outcome) as a linearizability.Op.

A write or CAS that fails with an error may still have taken effect: it is recorded with an unknown outcome.
The one exception is a request the channel never sent (no connection to the member at all). Reads that fail
carry no information and are left out.
"""
import random
import threading
import time

import grpc

import lkvtest
from etcd3 import etcdrpc
from linearizability import CAS, READ, WRITE, Op

RPC_TIMEOUT = 1.0
ERROR_PAUSE = 0.1  # after an error, so that a dead member does not fill the history with failures
HOLD_POLL = 0.01  # seconds between checks while a client is held (Recorder.hold)
CHANNEL_OPTIONS = lkvtest.GRPC_OPTIONS + [
    # reconnect soon after a member restarts (gRPC's default backoff starts at 1 s and grows to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


def prefix_end(prefix):
    """The range_end that covers every key starting with prefix (bytes)."""
    return prefix[:-1] + bytes([prefix[-1] + 1])


def never_sent(err):
    """True if the RPC failed because no connection to the server existed: it cannot have taken effect."""
    return err.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect to all addresses" in (err.details() or "")


class Client(threading.Thread):
    """One client: a channel to one member, random operations until stopped. Subclasses may override
    read/write/cas (the deliberately broken clients of the tests do)."""

    def __init__(self, recorder, cid, endpoint, seed):
        super().__init__(daemon=True, name="client-%s" % cid)
        self.rec, self.cid, self.endpoint = recorder, cid, endpoint
        self.rng = random.Random(seed)
        self.seen = {}  # key -> the value this client last read or wrote (the next CAS expects it)
        self.count = 0
        self.error = None  # an unexpected exception that ended the thread
        self.kv = None

    # the operations; each raises grpc.RpcError on failure --------------------------------------------
    def read(self, key):
        resp = self.kv.Range(etcdrpc.RangeRequest(key=key.encode()), timeout=RPC_TIMEOUT)
        return resp.kvs[0].value.decode() if resp.kvs else None

    def write(self, key, value):
        self.kv.Put(etcdrpc.PutRequest(key=key.encode(), value=value.encode()), timeout=RPC_TIMEOUT)
        return True

    def cas(self, key, expected, new):
        if expected is None:  # the key must be absent: its version is 0
            cmp = etcdrpc.Compare(key=key.encode(), result=etcdrpc.Compare.EQUAL,
                                  target=etcdrpc.Compare.VERSION, version=0)
        else:
            cmp = etcdrpc.Compare(key=key.encode(), result=etcdrpc.Compare.EQUAL,
                                  target=etcdrpc.Compare.VALUE, value=expected.encode())
        put = etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=key.encode(), value=new.encode()))
        return self.kv.Txn(etcdrpc.TxnRequest(compare=[cmp], success=[put]), timeout=RPC_TIMEOUT).succeeded

    # the loop ---------------------------------------------------------------------------------------
    def one(self):
        if self.cid in self.rec.held:
            time.sleep(HOLD_POLL)
            return
        key = self.rng.choice(self.rec.keys)
        kind = self.rng.choices((READ, WRITE, CAS), weights=(4, 3, 3))[0]
        self.count += 1
        value = "%s-%d" % (self.cid, self.count)
        op = Op(kind, key, 0.0, None, client=self.cid)
        if kind == WRITE:
            op.value = value
        elif kind == CAS:
            op.value, op.expected = value, self.seen.get(key)
        op.call = time.monotonic()
        try:
            if kind == READ:
                op.output = self.read(key)
            elif kind == WRITE:
                op.output = self.write(key, value)
            else:
                op.output = self.cas(key, op.expected, value)
            op.ret = time.monotonic()
        except grpc.RpcError as e:
            self.rec.note_error(e)
            if kind != READ and not never_sent(e):
                self.rec.add(op)  # ret stays None: the outcome is unknown
            time.sleep(ERROR_PAUSE)
            return
        self.rec.add(op)
        if kind == READ:
            self.seen[key] = op.output
        elif kind == WRITE or op.output:
            self.seen[key] = value

    def run(self):
        ch = grpc.insecure_channel(self.endpoint, options=CHANNEL_OPTIONS)
        self.kv = etcdrpc.KVStub(ch)
        try:
            while not self.rec.stopping.is_set():
                self.one()
        except Exception as e:  # reported by Recorder.stop
            self.error = e
        finally:
            ch.close()


class Recorder:
    """clients Client threads spread over the members' endpoints, operating on keys prefix + "k0".. ."""

    def __init__(self, members, prefix, clients=6, keys=4, seed=1, client_class=Client):
        self.prefix = prefix
        self.keys = ["%sk%d" % (prefix, i) for i in range(keys)]
        self.history = []
        self.errors = {}  # (gRPC code name, details) -> count
        self.stopping = threading.Event()
        self.held = frozenset()  # ids of the clients that start no operation for now (hold/release)
        self._lock = threading.Lock()
        self.clients = [client_class(self, "c%d" % i, members[i % len(members)].endpoint, seed * 1000 + i)
                        for i in range(clients)]

    def add(self, op):
        with self._lock:
            self.history.append(op)

    def note_error(self, err):
        with self._lock:
            k = (err.code().name, (err.details() or "")[:80])
            self.errors[k] = self.errors.get(k, 0) + 1

    def hold(self, cids):
        """Clients cids start no new operation until release() (the ones in flight finish)."""
        self.held = frozenset(cids)

    def release(self):
        self.held = frozenset()

    def start(self):
        for c in self.clients:
            c.start()
        return self

    def stop(self):
        """Stops and joins the clients; raises the first unexpected client exception."""
        self.stopping.set()
        for c in self.clients:
            c.join(timeout=RPC_TIMEOUT * 5)
            assert not c.is_alive(), "client %s did not stop" % c.cid
        for c in self.clients:
            if c.error is not None:
                raise c.error

    def snapshot(self):
        with self._lock:
            return list(self.history)

    def acked_writes(self, since=None):
        """Writes and successful CAS acknowledged (and, with since, invoked at or after since)."""
        return [op for op in self.snapshot() if not op.unknown and (op.kind == WRITE or (op.kind == CAS and op.output))
                and (since is None or op.call >= since)]

    def wait_write_after(self, t, timeout):
        """Seconds from t until the first acknowledged write invoked after t completed, waiting up to
        timeout for one; None if there was none."""
        deadline = time.monotonic() + timeout
        while True:
            acked = self.acked_writes(since=t)
            if acked:
                return min(op.ret for op in acked) - t
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def final_reads(self, member, timeout=5.0):
        """Linearizable reads of every key through member, appended to the history; returns {key: value}."""
        kv = member.kv()
        final = {}
        for key in self.keys:
            op = Op(READ, key, time.monotonic(), None, client="final")
            resp = kv.Range(etcdrpc.RangeRequest(key=key.encode()), timeout=timeout)
            op.ret = time.monotonic()
            op.output = resp.kvs[0].value.decode() if resp.kvs else None
            self.add(op)
            final[key] = op.output
        return final

    def summary(self):
        h = self.snapshot()
        unknown = sum(1 for op in h if op.unknown)
        return "%d ops (%d reads, %d acknowledged writes, %d unknown outcomes); errors: %s" % (
            len(h), sum(1 for op in h if op.kind == READ), len(self.acked_writes()), unknown,
            ", ".join("%s %r x%d" % (c, d, n) for (c, d), n in sorted(self.errors.items())) or "none")


def range_prefix(member, prefix, serializable=True, timeout=5.0):
    """[(key, value, create_revision, mod_revision, version)] of every key under prefix on member."""
    p = prefix.encode()
    resp = member.kv().Range(etcdrpc.RangeRequest(key=p, range_end=prefix_end(p), serializable=serializable),
                             timeout=timeout)
    return [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version) for kv in resp.kvs]
