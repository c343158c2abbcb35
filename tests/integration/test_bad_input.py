"""Bad input over raw HTTP/2 (python3-h2) and raw sockets: malformed protobuf, truncated/empty/compressed
gRPC frames, requests over --max-request-bytes (small limit), wrong content-type, unknown method/service,
HTTP/1.1, garbage bytes, clients that vanish mid-request or reset streams, idle connections, HTTP/2
protocol errors and floods, clients that stop reading. After every test the server must still answer
etcdctl and python-etcd3, and every earlier acknowledged write must be there.
"""
import os
import re
import socket
import struct
import time

import etcd3
import grpc
import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hpack
import pytest

import lkvtest
from etcd3 import etcdrpc

MAX_REQUEST_BYTES = 10000
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
IO_TIMEOUT = 5.0


def grpc_frame(msg, compressed=0):
    return struct.pack(">BI", compressed, len(msg)) + msg


class H2Client:
    """Minimal HTTP/2 client speaking gRPC's wire format, with flow control, for hand-made requests."""

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.streams = {}
        self.goaway = None
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def open(self, path, content_type="application/grpc", headers=()):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [
            (":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1:%d" % self.port), ("content-type", content_type),
            ("te", "trailers")] + list(headers))
        self.streams[sid] = {"headers": {}, "data": b"", "trailers": {}, "reset": None, "ended": False}
        self.flush()
        return sid

    def send(self, sid, data, end=False):
        """Send body bytes as flow control allows; stops early if the server ends the stream."""
        st = self.streams[sid]
        while data and not st["ended"]:
            n = min(len(data), self.conn.local_flow_control_window(sid),
                    self.conn.max_outbound_frame_size)
            if n == 0:
                self.pump()
                continue
            self.conn.send_data(sid, data[:n])
            data = data[n:]
            self.flush()
        if end and not st["ended"]:
            self.conn.end_stream(sid)
            self.flush()

    def pump(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        for ev in self.conn.receive_data(data):
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st["headers"].update(ev.headers)
            elif isinstance(ev, h2.events.DataReceived):
                st["data"] += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                st["trailers"].update(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                st["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                st["reset"], st["ended"] = ev.error_code, True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = ev.error_code
        self.flush()

    def wait(self, sid, timeout=IO_TIMEOUT):
        st = self.streams[sid]
        deadline = time.monotonic() + timeout
        while not st["ended"] and self.goaway is None:
            assert time.monotonic() < deadline, "no answer on stream %d within %.0fs" % (sid, timeout)
            self.pump()
        return st

    def call(self, path, body, content_type="application/grpc"):
        sid = self.open(path, content_type)
        self.send(sid, body, end=True)
        return self.wait(sid)

    def close(self):
        self.sock.close()


def outcome(st):
    """(http status, grpc-status, grpc-message) from a trailers-only or a normal response."""
    h = dict(st["headers"])
    h.update(st["trailers"])
    return h.get(":status"), h.get("grpc-status"), h.get("grpc-message")


def range_body(key=b"bad/marker"):
    return grpc_frame(etcdrpc.RangeRequest(key=key).SerializeToString())


def raw_exchange(port, payload, until=None, timeout=IO_TIMEOUT):
    """Send raw bytes; return what came back before EOF/reset/timeout (or once `until` was received),
    and how the exchange ended."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(payload)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            except socket.timeout:
                return got, "timeout"
            if not chunk:
                return got, "eof"
            got += chunk
            if until is not None and until in got:
                return got, "answered"
        return got, "timeout"
    finally:
        s.close()


@pytest.fixture(scope="module")
def srv():
    with lkvtest.Factory() as fac:
        yield fac.start(args=["--max-request-bytes", str(MAX_REQUEST_BYTES)])


@pytest.fixture(scope="module")
def acked():
    """Keys acknowledged so far in this module, with their values."""
    return {}


@pytest.fixture(autouse=True)
def still_serving(request, srv, acked):
    """Before: one acknowledged write. After: server answers etcdctl and python, all acked writes exist."""
    key = "bad/ack/" + request.node.name
    lkvtest.etcdctl(srv, "put", key, "before")
    acked[key] = b"before"
    yield
    assert srv.alive(), "server died\n" + srv.log_tail()
    client = etcd3.client(host="127.0.0.1", port=srv.port, timeout=10,
                          grpc_options=lkvtest.GRPC_OPTIONS)
    try:
        client.put(key, "after")
        acked[key] = b"after"
        got = {m.key.decode(): v for v, m in client.get_prefix("bad/ack/")}
        assert got == acked
    finally:
        client.close()
    assert lkvtest.etcdctl(srv, "get", key, "--print-value-only").stdout == "after\n"


def test_valid_raw_request_works(srv):
    c = H2Client(srv.port)
    try:
        st = c.call("/etcdserverpb.KV/Range", range_body(b"bad/ack/test_valid_raw_request_works"))
    finally:
        c.close()
    assert outcome(st)[:2] == ("200", "0") and outcome(st)[2] in (None, ""), outcome(st)
    assert st["headers"]["content-type"].startswith("application/grpc")
    assert st["data"][0] == 0 and struct.unpack(">I", st["data"][1:5])[0] == len(st["data"]) - 5
    resp = etcdrpc.RangeResponse.FromString(st["data"][5:])
    assert resp.kvs[0].value == b"before"


@pytest.mark.parametrize("method", ["Put", "Range", "Txn", "DeleteRange"])
@pytest.mark.parametrize("garbage", [b"\x0a\xff\xff\xff\xff\x0f", b"\xff\xff\xff\xff", b"\x0a\x05ab"],
                         ids=["huge-length", "bad-tag", "short-field"])
def test_malformed_protobuf(srv, method, garbage):
    c = H2Client(srv.port)
    try:
        st = c.call("/etcdserverpb.KV/" + method, grpc_frame(garbage))
    finally:
        c.close()
    status, code, _ = outcome(st)
    assert status == "200" and code == "13", outcome(st)  # INTERNAL, as grpc-go answers


@pytest.mark.parametrize("body", [
    struct.pack(">BI", 0, 100) + b"\x0a\x01k",  # length prefix promises more than is sent
    b"\x00\x00",  # truncated 5-byte prefix
    b"",  # no message at all
    grpc_frame(etcdrpc.RangeRequest(key=b"k").SerializeToString(), compressed=1),  # no grpc-encoding
], ids=["short-body", "short-prefix", "empty", "compressed-flag"])
def test_bad_grpc_framing(srv, body):
    c = H2Client(srv.port)
    try:
        st = c.call("/etcdserverpb.KV/Range", body)
    finally:
        c.close()
    status, code, _ = outcome(st)
    assert st["reset"] is not None or (status == "200" and code not in (None, "0")), outcome(st)


@pytest.mark.parametrize("method,request_bytes", [
    ("Put", etcdrpc.PutRequest(key=b"bad/big", value=b"x" * (2 * MAX_REQUEST_BYTES))),
    ("Txn", etcdrpc.TxnRequest(success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(
        key=b"bad/big", value=b"y" * (2 * MAX_REQUEST_BYTES)))])),
])
def test_request_too_large(srv, method, request_bytes):
    c = H2Client(srv.port)
    try:
        st = c.call("/etcdserverpb.KV/" + method, grpc_frame(request_bytes.SerializeToString()))
    finally:
        c.close()
    assert outcome(st) == ("200", "3", "etcdserver: request is too large")
    assert lkvtest.etcdctl(srv, "get", "bad/big").stdout == ""


def test_request_far_too_large_via_grpc(srv):
    """Far beyond the limit (etcd: beyond its gRPC receive limit of limit + 512 KiB)."""
    with pytest.raises(grpc.RpcError) as ei:
        srv.kv().Put(etcdrpc.PutRequest(key=b"bad/huge", value=b"z" * (2 << 20)), timeout=20)
    assert ei.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, (ei.value.code(), ei.value.details())
    assert re.fullmatch(r"grpc: received message larger than max \(\d+ vs\. %d\)" % (MAX_REQUEST_BYTES + (512 << 10)),
                        ei.value.details()), ei.value.details()
    assert lkvtest.etcdctl(srv, "get", "bad/huge").stdout == ""


def test_just_under_limit_is_accepted(srv):
    value = b"u" * (MAX_REQUEST_BYTES - 200)
    srv.kv().Put(etcdrpc.PutRequest(key=b"bad/ack/under-limit", value=value), timeout=10)
    got = srv.kv().Range(etcdrpc.RangeRequest(key=b"bad/ack/under-limit"), timeout=10)
    assert got.kvs[0].value == value
    srv.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=b"bad/ack/under-limit"), timeout=10)


def test_wrong_content_type(srv):
    c = H2Client(srv.port)
    try:
        st = c.call("/etcdserverpb.KV/Range", range_body(), content_type="text/plain")
    finally:
        c.close()
    if srv.kind == "etcd":
        # etcd's cmux hands non-gRPC cleartext HTTP/2 streams to grpc-go, which resets them
        assert st["reset"] is not None or outcome(st)[0] == "415", st
    else:
        # ledgerkv serves HTTP/2 that is not gRPC as etcd does over TLS: the gateway's mux, where a gRPC
        # path is no route (test_gateway_h2.py); never a gRPC call
        assert outcome(st)[:2] == ("404", None), st
        assert st["data"] == b"404 page not found\n", st


UNKNOWN_PATHS = [
    ("/etcdserverpb.KV/Nope", "unknown method Nope for service etcdserverpb.KV"),
    ("/foo.Bar/Baz", "unknown service foo.Bar"),
]


def call_path(srv, path):
    c = H2Client(srv.port)
    try:
        return outcome(c.call(path, range_body()))
    finally:
        c.close()


@pytest.mark.parametrize("path", [p for p, _ in UNKNOWN_PATHS] + ["/etcdserverpb.Lease/Nope"])
def test_unknown_method(srv, path):
    status, code, _ = call_path(srv, path)
    assert (status, code) == ("200", "12")


@pytest.mark.parametrize("path,message", UNKNOWN_PATHS)
def test_unknown_method_message(srv, path, message):
    """grpc-go's exact grpc-message for an unknown method or service."""
    assert call_path(srv, path)[2] == message


@pytest.mark.parametrize("payload", [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"POST /etcdserverpb.KV/Range HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc\r\n"
    b"Content-Length: 5\r\n\r\n\x00\x00\x00\x00\x00",
], ids=["get", "post-grpc"])
def test_http11_request(srv, payload):
    got, how = raw_exchange(srv.port, payload, until=b"\r\n\r\n")
    # answered (an HTTP/1.1 error, or an HTTP/2 GOAWAY) or closed; never left hanging silently
    assert how in ("answered", "eof", "reset"), (got, how)
    if got.startswith(b"HTTP/"):
        assert got.split(b" ")[1][:1] in (b"4", b"5"), got[:100]


@pytest.mark.parametrize("prefix", [b"", PREFACE], ids=["raw", "after-preface"])
def test_garbage_bytes(srv, prefix):
    garbage = os.urandom(64 * 1024)
    got, how = raw_exchange(srv.port, prefix + garbage)
    assert how in ("eof", "reset"), "connection still open after garbage: %r %s" % (got[:64], how)


def test_disconnect_mid_request(srv):
    for cut in (1, 3, 9, 30):  # inside the preface, the first frame header, the headers, the body
        c = H2Client(srv.port)
        sid = c.open("/etcdserverpb.KV/Put")
        body = grpc_frame(etcdrpc.PutRequest(key=b"bad/cut", value=b"v" * 100).SerializeToString())
        c.send(sid, body[:50])
        c.sock.close()
        raw = PREFACE + b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64"
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT)
        s.sendall(raw[:cut])
        s.close()
    # a large body abandoned while the server waits for the rest
    c = H2Client(srv.port)
    sid = c.open("/etcdserverpb.KV/Put")
    c.send(sid, struct.pack(">BI", 0, 9000) + b"\x0a" * 4000)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
    c.sock.close()
    assert lkvtest.etcdctl(srv, "get", "bad/cut").stdout == ""


def test_disconnect_before_response(srv):
    """Requests whose client is gone when the (large) answer is ready: no SIGPIPE, no crash."""
    srv.kv().Put(etcdrpc.PutRequest(key=b"bad/bigvalue", value=b"b" * 9000), timeout=10)
    for i in range(30):
        c = H2Client(srv.port)
        for _ in range(5):
            sid = c.open("/etcdserverpb.KV/Range")
            c.send(sid, range_body(b"bad/bigvalue"), end=True)
        if i % 2:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
    srv.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=b"bad/bigvalue"), timeout=10)


def test_rst_stream(srv):
    c = H2Client(srv.port)
    try:
        # reset mid-body, then reset right after a complete request
        sid = c.open("/etcdserverpb.KV/Put")
        c.send(sid, grpc_frame(etcdrpc.PutRequest(key=b"bad/rst", value=b"1").SerializeToString())[:6])
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        sid = c.open("/etcdserverpb.KV/Range")
        c.send(sid, range_body(), end=True)
        c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        c.flush()
        # the connection stays usable
        st = c.call("/etcdserverpb.KV/Range", range_body(b"bad/ack/test_rst_stream"))
        assert outcome(st)[:2] == ("200", "0"), outcome(st)
        assert etcdrpc.RangeResponse.FromString(st["data"][5:]).kvs[0].value == b"before"
    finally:
        c.close()
    assert lkvtest.etcdctl(srv, "get", "bad/rst").stdout == ""


def test_idle_connections_do_not_block(srv):
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=IO_TIMEOUT) for _ in range(20)]
    try:
        for i, s in enumerate(idle):
            if i % 2:
                s.sendall(PREFACE)  # preface, then nothing
        start = time.monotonic()
        assert lkvtest.etcdctl(srv, "put", "bad/ack/idle", "x").stdout == "OK\n"
        assert time.monotonic() - start < 10
    finally:
        for s in idle:
            s.close()
    lkvtest.etcdctl(srv, "del", "bad/ack/idle")


def test_many_streams_one_connection(srv):
    c = H2Client(srv.port)
    try:
        c.pump()  # learn the server's SETTINGS
        n = min(50, c.conn.remote_settings.max_concurrent_streams)
        sids = []
        for _ in range(n):
            sid = c.open("/etcdserverpb.KV/Range")
            c.send(sid, range_body(b"bad/ack/test_many_streams_one_connection"), end=True)
            sids.append(sid)
        for sid in sids:
            st = c.wait(sid)
            assert outcome(st)[:2] == ("200", "0"), outcome(st)
            assert etcdrpc.RangeResponse.FromString(st["data"][5:]).kvs[0].value == b"before"
    finally:
        c.close()
    assert n >= 10


def h2_frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def request_headers(method=b"POST"):
    return hpack.Encoder().encode([
        (b":method", method), (b":scheme", b"http"), (b":path", b"/etcdserverpb.KV/Range"),
        (b":authority", b"127.0.0.1"), (b"content-type", b"application/grpc"), (b"te", b"trailers")])


HEADERS, DATA, RST, SETTINGS, PING, CONTINUATION, WINDOW_UPDATE = 1, 0, 3, 4, 6, 9, 8
END_STREAM, END_HEADERS, PADDED = 0x1, 0x4, 0x8
CONNECTION_ERRORS = {  # RFC 7540 connection errors: the server must GOAWAY and close
    "even-stream-id": h2_frame(HEADERS, END_HEADERS, 2, request_headers()),
    "data-on-stream-0": h2_frame(DATA, 0, 0, b"abc"),
    "stream-id-reused": (h2_frame(HEADERS, END_HEADERS, 1, request_headers())
                         + h2_frame(DATA, END_STREAM, 1, range_body())
                         + h2_frame(HEADERS, END_HEADERS, 1, request_headers())),
    "bad-initial-window": h2_frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 0x80000000)),
    "bad-padding": h2_frame(DATA, PADDED, 1, b"\xff" + b"a"),
}
FLOODS = {  # abuse that must not take the server down or stall it
    "continuation-flood": h2_frame(HEADERS, 0, 1, request_headers())
    + b"".join(h2_frame(CONTINUATION, 0, 1, b"\x00" * 16000) for _ in range(200)),
    "rapid-reset": b"".join(h2_frame(HEADERS, END_HEADERS, sid, request_headers())
                            + h2_frame(RST, 0, sid, struct.pack(">I", 8)) for sid in range(1, 4001, 2)),
    "ping-flood": b"".join(h2_frame(PING, 0, 0, b"12345678") for _ in range(5000)),
    "window-overflow": b"".join(h2_frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7fffffff))
                                for _ in range(2)),
    "get-method": h2_frame(HEADERS, END_HEADERS, 1, request_headers(b"GET"))
    + h2_frame(DATA, END_STREAM, 1, range_body()),
    "unknown-frame-type": h2_frame(0x42, 0, 0, b"xyz"),
}


@pytest.mark.parametrize("name", sorted(CONNECTION_ERRORS))
def test_http2_connection_errors(srv, name):
    got, how = raw_exchange(srv.port, PREFACE + h2_frame(SETTINGS, 0, 0, b"") + CONNECTION_ERRORS[name])
    assert how in ("eof", "reset"), "connection left open after %s (%s)" % (name, how)


@pytest.mark.parametrize("name", sorted(FLOODS))
def test_http2_floods(srv, name):
    def flood():
        try:
            raw_exchange(srv.port, PREFACE + h2_frame(SETTINGS, 0, 0, b"") + FLOODS[name], timeout=1.5)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may hang up on us mid-send
    flood()
    start = time.monotonic()
    assert lkvtest.etcdctl(srv, "get", "bad/ack/" + "test_http2_floods[%s]" % name,
                           "--print-value-only").stdout == "before\n"
    assert time.monotonic() - start < 5


def test_stalled_readers_do_not_block_others(srv):
    """Clients that never read (TCP backpressure) or grant no HTTP/2 window, with large answers pending."""
    srv.kv().Put(etcdrpc.PutRequest(key=b"bad/stall", value=b"s" * 9000), timeout=10)
    stalled = []
    try:
        c = H2Client(srv.port)
        c.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        c.flush()
        stalled.append(c)
        for i in range(4):
            c = H2Client(srv.port)
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stalled.append(c)
        for c in stalled:
            for _ in range(40):
                sid = c.open("/etcdserverpb.KV/Range")
                c.send(sid, range_body(b"bad/stall"), end=True)
        time.sleep(0.5)
        for i in range(5):
            start = time.monotonic()
            srv.kv().Put(etcdrpc.PutRequest(key=b"bad/ack/stall-%d" % i, value=b"x"), timeout=10)
            assert srv.kv().Range(etcdrpc.RangeRequest(key=b"bad/stall", keys_only=True),
                                  timeout=10).count == 1
            assert time.monotonic() - start < 2, "a stalled reader slowed others down"
            srv.kv().DeleteRange(etcdrpc.DeleteRangeRequest(key=b"bad/ack/stall-%d" % i), timeout=10)
    finally:
        for c in stalled:
            c.close()
