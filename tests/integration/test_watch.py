"""Watch with real clients: etcdctl `watch` (prefix, --prev-kv, --rev, from now, interactive -i),
python3-etcd3 (watch/watch_prefix iterators, callbacks, cancel, compaction error), and a Go clientv3
program replaying kube-apiserver's watch (tests/go/kubewatch: prefix from rev+1 with prev_kv, progress
notifications, RequestProgress, watchers sharing a stream, ErrCompacted, fragments), run against etcd too so
that the program itself is known to be right.
"""
import queue
import subprocess
import threading
import time

import etcd3
from etcd3 import events as etcd3_events
from etcd3 import exceptions as etcd3_exceptions
from etcd3 import etcdrpc
import pytest

import lkvtest
from lkvtest import etcdctl

# python3-etcd3's watch thread re-opens its stream after client.close() and dies on the closed channel.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

PROGRESS = "300ms"
SERVER_ARGS = ["--experimental-watch-progress-notify-interval", PROGRESS, "--max-request-bytes", "1048576"]


def rev_of(srv):
    return srv.kv().Range(etcdrpc.RangeRequest(key=b"\0"), timeout=10).header.revision


class LineReader:
    """Reads a child's stdout on a thread so that tests can wait for lines with a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        for line in self.proc.stdout:
            self.q.put(line.rstrip("\n"))

    def lines(self, n, timeout=20):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.q.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("got %d of %d lines: %r\nstderr: %s"
                                     % (len(out), n, out, self.proc.stderr.read() if self.proc.poll() else ""))
        return out


def spawn_etcdctl(srv, *args, stdin=False):
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + srv.endpoint, "--dial-timeout=5s"] + list(args)
    return subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=lkvtest.child_env({"ETCDCTL_API": "3"}))


def stop(proc):
    proc.kill()
    proc.wait(timeout=10)


# ---- etcdctl ----------------------------------------------------------------------------------------

def test_etcdctl_watch_rev_prefix_prev_kv(ledgerkv):
    start = rev_of(ledgerkv) + 1
    etcdctl(ledgerkv, "put", "ew/a", "1")
    etcdctl(ledgerkv, "put", "ew/b", "2")
    etcdctl(ledgerkv, "put", "ew/a", "3")
    etcdctl(ledgerkv, "del", "ew/b")
    etcdctl(ledgerkv, "put", "other", "x")
    p = spawn_etcdctl(ledgerkv, "watch", "--prefix", "ew/", "--prev-kv", "--rev=%d" % start)
    try:
        got = LineReader(p).lines(16)
    finally:
        stop(p)
    assert got == ["PUT", "ew/a", "1",
                   "PUT", "ew/b", "2",
                   "PUT", "ew/a", "1", "ew/a", "3",  # prev_kv printed before the new pair
                   "DELETE", "ew/b", "2", "ew/b", ""]


def test_etcdctl_watch_from_now(ledgerkv):
    p = spawn_etcdctl(ledgerkv, "watch", "en/k")
    try:
        r = LineReader(p)
        # etcdctl prints nothing when the watch is created: write until the first event shows
        for _ in range(200):
            etcdctl(ledgerkv, "put", "en/k", "probe")
            if not r.q.empty():
                break
            time.sleep(0.05)
        etcdctl(ledgerkv, "put", "en/k", "v1")
        etcdctl(ledgerkv, "del", "en/k")
        want = ["PUT", "en/k", "v1", "DELETE", "en/k", ""]
        got = r.lines(6)
        while got[-6:] != want:  # the probes come first, each as PUT/en/k/probe
            assert got[:3] == ["PUT", "en/k", "probe"], got
            got = got[3:] + r.lines(3)
    finally:
        stop(p)


def test_etcdctl_watch_interactive(ledgerkv):
    start = rev_of(ledgerkv) + 1
    etcdctl(ledgerkv, "put", "ei/one", "1")
    etcdctl(ledgerkv, "put", "ei/two", "2")
    p = spawn_etcdctl(ledgerkv, "watch", "-i", stdin=True)
    try:
        r = LineReader(p)
        p.stdin.write("watch --rev=%d ei/one\n" % start)
        p.stdin.write("watch --rev=%d --prefix ei/\n" % start)
        p.stdin.flush()
        # two watchers on one stream; etcdctl prints each one's events from its own goroutine, so their
        # lines may interleave: compare them as multisets
        assert sorted(r.lines(9)) == sorted(["PUT", "ei/one", "1"] * 2 + ["PUT", "ei/two", "2"])
        etcdctl(ledgerkv, "put", "ei/one", "3")
        assert sorted(r.lines(6)) == sorted(["PUT", "ei/one", "3"] * 2)
    finally:
        stop(p)


# ---- python3-etcd3 --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(ledgerkv):
    c = etcd3.client(host="127.0.0.1", port=ledgerkv.port, timeout=20, grpc_options=lkvtest.GRPC_OPTIONS)
    yield c
    c.close()


def take(iterator, n):
    out = []
    for ev in iterator:
        out.append(ev)
        if len(out) == n:
            break
    return out


def test_python_watch_iterators(client):
    start = client.put("py/w/a", "1").header.revision
    client.put("py/w/b", "2")
    client.delete("py/w/a")
    it, cancel = client.watch_prefix("py/w/", start_revision=start, prev_kv=True)
    evs = take(it, 3)
    cancel()
    assert [type(e) for e in evs] == [etcd3_events.PutEvent, etcd3_events.PutEvent, etcd3_events.DeleteEvent]
    assert [(e.key, e.value) for e in evs[:2]] == [(b"py/w/a", b"1"), (b"py/w/b", b"2")]
    assert evs[2].key == b"py/w/a" and evs[2].prev_value == b"1"
    assert evs[0].mod_revision == start and evs[2].mod_revision == start + 2

    it, cancel = client.watch("py/w/b", start_revision=start)
    ev = take(it, 1)[0]
    cancel()
    assert (ev.key, ev.value, ev.version) == (b"py/w/b", b"2", 1)


def test_python_watch_callback_cancel(client):
    # (python3-etcd3 0.12 cannot send filters: it assigns to a repeated protobuf field; the differential
    # test covers them)
    got = queue.Queue()
    wid = client.add_watch_prefix_callback("py/cb/", got.put)
    client.put("py/cb/x", "1")
    client.delete("py/cb/x")
    vals = [got.get(timeout=10).events for _ in range(2)]
    assert [[(type(e), e.key) for e in evs] for evs in vals] == \
        [[(etcd3_events.PutEvent, b"py/cb/x")], [(etcd3_events.DeleteEvent, b"py/cb/x")]]
    client.cancel_watch(wid)
    client.put("py/cb/x", "3")
    time.sleep(0.5)
    assert got.empty()


def test_python_watch_compacted(server_factory):
    srv = server_factory.start()
    c = etcd3.client(host="127.0.0.1", port=srv.port, timeout=20)
    try:
        first = c.put("pc/k", "1").header.revision
        last = c.put("pc/k", "2").header.revision
        c.compact(last)
        it, cancel = c.watch("pc/k", start_revision=first)
        with pytest.raises(etcd3_exceptions.RevisionCompactedError) as e:
            take(it, 1)
        assert e.value.compacted_revision == last
        cancel()
    finally:
        c.close()


# ---- Go clientv3 (kube-apiserver's pattern) -------------------------------------------------------

@pytest.fixture(scope="session")
def kubewatch():
    return lkvtest.go_build("kubewatch")


def run_kubewatch(binary, srv, prefix):
    res = subprocess.run([binary, "-endpoint", srv.endpoint, "-prefix", prefix, "-progress", PROGRESS],
                         capture_output=True, text=True, timeout=180, env=lkvtest.child_env())
    assert res.returncode == 0 and "kubewatch PASS" in res.stdout, \
        "kubewatch against %s failed (rc %d)\nstdout: %s\nstderr: %s" % (
            srv.kind, res.returncode, res.stdout, res.stderr[-6000:])


def test_kubewatch_against_etcd(kubewatch, server_factory):
    run_kubewatch(kubewatch, server_factory.start("etcd", args=SERVER_ARGS), "/registry/")


def test_kubewatch_against_ledgerkv(kubewatch, server_factory):
    srv = server_factory.start(args=SERVER_ARGS)
    run_kubewatch(kubewatch, srv, "/registry/")
    run_kubewatch(kubewatch, srv, "/registry-again/")
