"""Backpressure, keepalive and deadlines on the client port (issue 13 item 4), with real clients: a raw HTTP/2
client that sends 1,000 Ranges of a 1 MB value and never reads (the server's memory stays bounded, another
client is served meanwhile, a request whose deadline passes while it waits is not executed), server
keepalive reaping a connection that stopped answering, etcdctl's keepalive never sent GOAWAY, and a client
deadline shorter than the call.
"""
import os
import socket
import subprocess
import threading
import time

import etcd3
import grpc
import h2.errors
import h2.settings
import pytest

import lkvtest
from etcd3 import etcdrpc
from test_bad_input import H2Client, grpc_frame, outcome

VALUE = os.urandom(1 << 20)
N_RANGES = 1000


def rss_kib(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def srv():
    with lkvtest.Factory() as f:
        yield f.start("ledgerkv")


@pytest.fixture(scope="module")
def eager():
    """Server keepalive every 300 ms of silence, 700 ms to answer (an idle python-grpc channel does not
    answer pings: nothing polls its socket between calls; etcd closes it the same way), and at most 3
    streams at once per connection."""
    with lkvtest.Factory() as f:
        yield f.start("ledgerkv", args=["--grpc-keepalive-interval=300ms", "--grpc-keepalive-timeout=700ms",
                                        "--max-concurrent-streams=3"])


def client(srv):
    return etcd3.client(host="127.0.0.1", port=srv.port, grpc_options=lkvtest.GRPC_OPTIONS)


def test_never_reading_client_is_bounded(srv):
    c = client(srv)
    c.put("bp/big", VALUE)
    # warm-up: the value's pages and one reply's buffers are in the baseline
    assert c.get("bp/big")[0] == VALUE
    before = rss_kib(srv)

    stalled = H2Client(srv.port)
    body = grpc_frame(etcdrpc.RangeRequest(key=b"bp/big").SerializeToString())
    sids = []
    for _ in range(N_RANGES):
        sid = stalled.open("/etcdserverpb.KV/Range")
        stalled.send(sid, body, end=True)
        sids.append(sid)
    # a Put that waits behind them with a deadline it cannot meet: answered DEADLINE_EXCEEDED, never run
    late = stalled.open("/etcdserverpb.KV/Put", headers=[("grpc-timeout", "200m")])
    stalled.send(late, grpc_frame(etcdrpc.PutRequest(key=b"bp/late", value=b"x").SerializeToString()), end=True)

    # another client is served meanwhile, on its own connection
    t0 = time.monotonic()
    assert c.get("bp/big")[0] == VALUE
    assert time.monotonic() - t0 < 5
    time.sleep(1.0)
    grown = rss_kib(srv) - before
    # unbounded, the replies would hold ~1 GB; the connection's bound is 16 MiB
    assert grown < 96 * 1024, "RSS grew by %d KiB" % grown
    assert c.get("bp/late") == (None, None)

    st = stalled.wait(late)
    assert outcome(st)[1:] == ("4", "context deadline exceeded")
    # once the client reads, the held Ranges run: the first replies arrive whole
    first = sids[:20]
    for sid in first:
        st = stalled.wait(sid, timeout=20)
        assert outcome(st)[1] == "0"
        resp = etcdrpc.RangeResponse.FromString(st["data"][5:])
        assert resp.kvs[0].value == VALUE
    stalled.close()
    assert c.get("bp/late") == (None, None)
    c.close()


def advertised_streams(c):
    """The server's SETTINGS_MAX_CONCURRENT_STREAMS, once its SETTINGS frame has been read."""
    first = c.conn.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
    for _ in range(10):
        c.pump()
        value = c.conn.remote_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
        if value != first:
            return value
    return first


def test_max_concurrent_streams(srv, eager):
    c = H2Client(eager.port)
    sids = [c.open("/etcdserverpb.KV/Range") for _ in range(4)]  # before the server's SETTINGS are read
    assert advertised_streams(c) == 3
    body = grpc_frame(etcdrpc.RangeRequest(key=b"bp/none").SerializeToString())
    for sid in sids[:3]:
        c.send(sid, body, end=True)
        assert outcome(c.wait(sid))[1] == "0"
    assert c.wait(sids[3])["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM  # as grpc-go refuses it
    c.close()
    c = H2Client(srv.port)  # etcd's default, advertised as grpc-go does
    assert advertised_streams(c) == 4294967295
    c.close()


def test_keepalive_reaps_a_silent_connection(eager):
    sock = socket.create_connection(("127.0.0.1", eager.port), timeout=10)
    # a client that sends its preface and empty SETTINGS, then nothing at all
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    t0 = time.monotonic()
    got = b""
    while True:
        chunk = sock.recv(65536)  # reads what arrives (SETTINGS, the server's PINGs) but never answers
        if not chunk:
            break
        got += chunk
    elapsed = time.monotonic() - t0
    sock.close()
    assert 0.9 < elapsed < 5, elapsed  # 300 ms idle + 700 ms unanswered
    assert b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" in got  # a PING frame came first
    eager.wait_log("closing the client connection from 127.0.0.1: no answer to the keepalive ping within 700 ms")


def test_etcdctl_keepalive_not_sent_goaway(eager):
    """etcdctl pings every --keepalive-time (grpc-go raises it to 10 s) only while it has streams; etcd's
    --grpc-keepalive-min-time (5 s) lets it: a watch lives across its pings and the server's (it answers
    those: it is not reaped)."""
    cmd = [lkvtest.ETCDCTL_BIN, "--endpoints=" + eager.endpoint, "--keepalive-time=2s", "--keepalive-timeout=2s",
           "watch", "bp/w"]
    watch = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=lkvtest.child_env({"ETCDCTL_API": "3"}))
    try:
        time.sleep(11.5)  # one client keepalive ping (at 10 s) and dozens of the server's
        lkvtest.etcdctl(eager, "put", "bp/w", "after-pings")
        out = ""
        deadline = time.monotonic() + 10
        while "after-pings" not in out and time.monotonic() < deadline:
            line = watch.stdout.readline()
            if not line:
                break
            out += line
        assert "after-pings" in out, out + watch.stderr.read() if watch.poll() is not None else out
        assert watch.poll() is None
        assert "too many pings" not in eager.log_text()
    finally:
        watch.kill()
        watch.wait()


def pinging_watch_ends(server):
    """A gRPC (C-core) client that pings every second with a Watch open: how its call ends, and when."""
    opts = lkvtest.GRPC_OPTIONS + [("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 5000),
                                   ("grpc.http2.max_pings_without_data", 0)]
    with grpc.insecure_channel(server.endpoint, options=opts) as ch:
        create = etcdrpc.WatchRequest(create_request=etcdrpc.WatchCreateRequest(key=b"bp/pinged"))
        stop = threading.Event()

        def requests():
            yield create
            stop.wait(20)

        t0 = time.monotonic()
        try:
            for _ in etcdrpc.WatchStub(ch).Watch(requests(), timeout=15):
                pass
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        finally:
            stop.set()
        return code, time.monotonic() - t0


def test_client_pinging_too_often(srv, etcd):
    """etcd's --grpc-keepalive-min-time (5 s): the fourth ping within it gets GOAWAY ENHANCE_YOUR_CALM
    "too_many_pings" (the C-core client logs it and backs off) and the connection is closed: after about
    3 s, the same with etcd 3.4."""
    for server in (srv, etcd):
        code, elapsed = pinging_watch_ends(server)
        assert code == grpc.StatusCode.UNAVAILABLE, (server.kind, code)
        assert 2.5 < elapsed < 6, (server.kind, elapsed)
    srv.wait_log("closing a client connection: too many pings (more often than every 5000 ms)")


def test_deadlines(srv):
    # the server's side: a deadline that has passed by the time the request runs (1 ns after its headers)
    c = H2Client(srv.port)
    put = grpc_frame(etcdrpc.PutRequest(key=b"bp/expired", value=b"x").SerializeToString())
    sid = c.open("/etcdserverpb.KV/Put", headers=[("grpc-timeout", "1n")])
    c.send(sid, put, end=True)
    assert outcome(c.wait(sid))[1:] == ("4", "context deadline exceeded")
    assert lkvtest.etcdctl(srv, "get", "bp/expired").stdout == ""  # not executed
    sid = c.open("/etcdserverpb.KV/Put", headers=[("grpc-timeout", "5S")])
    c.send(sid, grpc_frame(etcdrpc.PutRequest(key=b"bp/in-time", value=b"x").SerializeToString()), end=True)
    assert outcome(c.wait(sid))[1] == "0"
    c.close()
    # etcdctl's: its context expires first and it reports grpc-go's words
    res = lkvtest.etcdctl(srv, "--command-timeout=1ns", "put", "bp/quick", "v", check=False)
    assert res.returncode != 0
    assert "context deadline exceeded" in res.stderr, res.stderr
    assert lkvtest.etcdctl(srv, "get", "bp/quick").stdout == ""
