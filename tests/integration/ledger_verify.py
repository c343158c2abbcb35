"""An independent reader and verifier of ledgerkv's ledger, written from docs/ledger.md alone.

Only hashlib, struct and PyNaCl: nothing of the C implementation is reused, so the tests that use it
check the server against the document, not against itself.
"""
import hashlib
import struct

import nacl.exceptions
import nacl.signing

REVISION, COMPACTION, LEASE_GRANT, LEASE_REVOKE, SIGNED_TREE_HEAD, STATE, CAUSAL_EVENT = 1, 2, 3, 4, 5, 6, 7
PUT, DELETE = 1, 2
STH_PREFIX = b"ledgerkv-sth-v1\n"


def sha(b):
    return hashlib.sha256(b).digest()


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7F
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def unstamp(response):
    """The response as every member's state machine made it: the header (field 1, first) without the
    answering member's member_id (2) and raft_term (4), which the ledger's claims do not cover."""
    if len(response) < 2 or response[0] != 0x0A:
        return response
    hlen, i = _varint(response, 1)
    hdr, rest, kept, j = response[i:i + hlen], response[i + hlen:], b"", 0
    while j < len(hdr):
        tag, k = _varint(hdr, j)
        _, k = _varint(hdr, k)
        if tag >> 3 not in (2, 4):
            kept += hdr[j:k]
        j = k
    return b"\x0a" + _put_varint(len(kept)) + kept + rest


def claims_digest(request, response):
    response = unstamp(response)
    return sha(struct.pack(">Q", len(request)) + request + struct.pack(">Q", len(response)) + response)


def leaf_hash(kind, revision, ws_digest, claims):
    return sha(b"\x00" + struct.pack(">Bq", kind, revision) + ws_digest + claims)


def node(left, right):
    return sha(b"\x01" + left + right)


def mth(leaves):
    """RFC 9162 Merkle tree hash over leaf hashes."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def parse_ops(body, n_ops, revoke):
    ops, p = [], 0
    for _ in range(n_ops):
        typ, klen = struct.unpack_from(">BI", body, p)
        p += 5
        key = body[p:p + klen]
        p += klen
        if len(key) != klen or klen == 0 or typ not in (PUT, DELETE) or (revoke and typ != DELETE):
            raise ValueError("bad op")
        if typ == PUT:
            create, version, lease, vlen = struct.unpack_from(">qqqI", body, p)
            p += 28
            value = body[p:p + vlen]
            if len(value) != vlen:
                raise ValueError("bad value")
            p += vlen
            ops.append(("put", key, value, create, version, lease))
        else:
            ops.append(("delete", key))
    if p != len(body):
        raise ValueError("trailing bytes in ops")
    return ops


def parse_state(body, revision):
    """A STATE body (docs/ledger.md §3): ([(lease_id, ttl)], [(key, value, create, mod, mod_sub, version,
    lease)]), every rule checked."""
    n_leases, n_keys = struct.unpack_from(">II", body, 0)
    p, leases, keys = 8, [], []
    for _ in range(n_leases):
        lease_id, ttl = struct.unpack_from(">qq", body, p)
        if lease_id == 0 or (leases and lease_id <= leases[-1][0]):
            raise ValueError("state leases out of order")
        leases.append((lease_id, ttl))
        p += 16
    for _ in range(n_keys):
        (klen,) = struct.unpack_from(">I", body, p)
        key = body[p + 4:p + 4 + klen]
        p += 4 + klen
        create, mod, sub, version, lease, vlen = struct.unpack_from(">qqqqqI", body, p)
        p += 44
        value = body[p:p + vlen]
        p += vlen
        if klen == 0 or len(key) != klen or len(value) != vlen or not 1 <= create <= mod <= revision \
                or sub < 0 or version < 1 or (keys and (mod, sub) <= (keys[-1][3], keys[-1][4])):
            raise ValueError("bad state key")
        keys.append((key, value, create, mod, sub, version, lease))
    if p != len(body):
        raise ValueError("trailing bytes in a state")
    return leases, keys


def parse_entry(buf):
    kind, revision = struct.unpack_from(">Bq", buf, 0)
    claims = buf[9:41]
    body = buf[41:]
    e = {"kind": kind, "revision": revision, "claims": claims, "body": body}
    if kind == REVISION:
        (n,) = struct.unpack_from(">I", body, 0)
        if n == 0:
            raise ValueError("revision without ops")
        e["ops"] = parse_ops(body[4:], n, False)
    elif kind == COMPACTION:
        if len(body) != 8:
            raise ValueError("bad compaction")
        (e["compact_revision"],) = struct.unpack(">q", body)
    elif kind == LEASE_GRANT:
        if len(body) != 16:
            raise ValueError("bad grant")
        e["lease_id"], e["ttl"] = struct.unpack(">qq", body)
    elif kind == LEASE_REVOKE:
        e["lease_id"], n = struct.unpack_from(">qI", body, 0)
        e["ops"] = parse_ops(body[12:], n, True)
    elif kind == SIGNED_TREE_HEAD:
        if len(body) != 8 + 32 + 8 + 8 + 32 + 64:
            raise ValueError("bad head")
        size, = struct.unpack_from(">Q", body, 0)
        root = body[8:40]
        rev, ts = struct.unpack_from(">qQ", body, 40)
        e["sth"] = {"tree_size": size, "root": root, "revision": rev, "timestamp_ms": ts,
                    "public_key": body[56:88], "signature": body[88:152]}
    elif kind == STATE:
        e["leases"], e["keys"] = parse_state(body, revision)
    elif kind == CAUSAL_EVENT:
        n, event_len = struct.unpack_from(">II", body, 0)
        e["event"] = body[8:8 + event_len]
        if event_len == 0 or len(e["event"]) != event_len:
            raise ValueError("bad causal event")
        e["ops"] = parse_ops(body[8 + event_len:], n, False)
    else:
        raise ValueError("unknown kind %d" % kind)
    e["ws_digest"] = sha(body)
    e["leaf"] = leaf_hash(kind, revision, e["ws_digest"], claims)
    return e


def read_base(path):
    """Reads a ledger.base (docs/ledger.md §16): returns (size, last_revision, frontier hashes largest
    first, offset of the first stored record), or None when the file does not exist."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return None
    if data[:8] != b"lkvlbase" or struct.unpack_from(">II", data, 8) != (1, 0):
        raise ValueError("not a ledger.base")
    offset, flen = struct.unpack_from(">QI", data, 16)
    f = data[28:28 + flen]
    if len(data) != 32 + flen or struct.unpack_from(">I", data, 28 + flen)[0] != crc32c(data[:28 + flen]):
        raise ValueError("ledger.base fails its checksum")
    version, size, last_revision, n = struct.unpack_from(">BQqB", f)
    if version != 1 or n != bin(size).count("1") or len(f) != 18 + 32 * n:
        raise ValueError("bad frontier")
    return size, last_revision, [f[18 + 32 * i:50 + 32 * i] for i in range(n)], offset


def root_after(size, frontier, leaves):
    """MTH of the tree of `size` leaves a frontier (hashes largest first) summarises, with the given leaf
    hashes appended: each new leaf merges with the subtrees of its own size on the right, as a binary
    counter carries; the root folds the subtrees from the right."""
    stack = list(zip([level for level in range(63, -1, -1) if size >> level & 1], frontier))
    for leaf in leaves:
        level, h = 0, leaf
        while stack and stack[-1][0] == level:
            h, level = node(stack.pop()[1], h), level + 1
        stack.append((level, h))
    if not stack:
        return sha(b"")
    acc = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        acc = node(h, acc)
    return acc


def read_log(path, want_version=None, start=24):
    """Returns the list of entries of a ledger.log, each with its verified leaf hash, from the frame at
    offset start (24: the first; a ledger with a base starts at the base's offset). A version-2 log
    holds no signed tree head; a version-1 log may. want_version, if given, must match the header."""
    data = open(path, "rb").read()
    version, zero = struct.unpack_from(">II", data, 8)
    if data[:8] != b"lkvledgr" or zero != 0 or version not in (1, 2):
        raise ValueError("not a ledger")
    if want_version is not None and version != want_version:
        raise ValueError("ledger version %d, not %d" % (version, want_version))
    salt = data[16:24]
    p, out = start, []
    while p < len(data):
        if data[p:p + 8] != salt:
            raise ValueError("bad salt at %d" % p)
        (n,) = struct.unpack_from(">I", data, p + 8)
        stored = data[p + 12:p + 44]
        e = parse_entry(data[p + 44:p + 44 + n])
        if e["leaf"] != stored:
            raise ValueError("leaf mismatch at %d" % p)
        if e["kind"] == SIGNED_TREE_HEAD and version != 1:
            raise ValueError("signed tree head inside a version-2 ledger at %d" % p)
        if e["kind"] == STATE and (p != 24 or start != 24):
            raise ValueError("a state record that is not the ledger's first at %d" % p)
        out.append(e)
        p += 44 + n
    return out


def crc32c(data):
    """CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), bit by bit."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


HEAD_RECORD = 156


def read_heads(path):
    """Returns the signed heads of a ledger.heads (docs/ledger.md §9), checksums verified, in order."""
    data = open(path, "rb").read()
    if data[:8] != b"lkvheads" or struct.unpack_from(">II", data, 8) != (1, 0):
        raise ValueError("not a heads file")
    if (len(data) - 16) % HEAD_RECORD:
        raise ValueError("partial head record at the end")
    out = []
    for p in range(16, len(data), HEAD_RECORD):
        rec = data[p:p + HEAD_RECORD]
        if struct.unpack_from(">I", rec, 152)[0] != crc32c(rec[:152]):
            raise ValueError("head record at %d fails its checksum" % p)
        size, = struct.unpack_from(">Q", rec, 0)
        rev, ts = struct.unpack_from(">qQ", rec, 40)
        out.append({"tree_size": size, "root": rec[8:40], "revision": rev, "timestamp_ms": ts,
                    "public_key": rec[56:88], "signature": rec[88:152]})
    return out


def sth_message(sth):
    return STH_PREFIX + struct.pack(">Q", sth["tree_size"]) + sth["root"] + struct.pack(
        ">qQ", sth["revision"], sth["timestamp_ms"])


def verify_sth(sth, public_key):
    try:
        nacl.signing.VerifyKey(public_key).verify(sth_message(sth), sth["signature"])
        return True
    except nacl.exceptions.BadSignatureError:
        return False


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old_root, new_root, path):
    """RFC 9162 §2.1.4.2."""
    if m == n:
        return not path and old_root == new_root
    if m == 0:
        return not path and old_root == sha(b"")
    if m > n or not path:
        return False
    path = list(path)
    if m & (m - 1) == 0:
        path.insert(0, old_root)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
