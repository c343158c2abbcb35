"""ledgerkv's own services on the JSON gateway: Conflicts (causal mode, docs/causal.md §13) and Ledger.

With curl, as a script would: on a 2-member causal cluster a key written on both sides of a partition is
listed by POST /v3/conflicts/siblings on both members (the same siblings and context, int64 as strings,
bytes in base64), a /v3/conflicts/watch stream (chunked {"result":...} lines) sees the conflict appear and
end, /v3/conflicts/replication-status says which members' vectors cover the winner,
/v3/conflicts/watch-position turns a revision into a vector and back, and /v3/conflicts/resolve with the
siblings' context leaves one value on both members; a malformed context is grpc-gateway's 400. Each answer
is also parsed back into its protobuf message with protobuf's own JSON parser. /v3/ledger/head, keys,
receipt and consistency answer as the Ledger gRPC service does (under /v3beta/ and /v3alpha/ too), the web
view's /ui/api/ledger/ is the same route; in Raft mode the conflicts routes are 412 (FAILED_PRECONDITION).
"""
import base64
import json
import subprocess
import threading
import queue

import pytest
from google.protobuf import json_format

import lkvtest
from cluster import started, wait_for
from test_causal import CONVERGE_TIMEOUT, CausalCluster, put
from test_causal_conflicts import member_id, pb

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="ledgerkv's own services")


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def curl(member, path, body, check=True):
    """(HTTP status, parsed JSON body) of curl's POST."""
    out = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                          "http://%s%s" % (member.endpoint, path), "-d", json.dumps(body)],
                         capture_output=True, text=True, timeout=20, check=True).stdout
    text, status = out.rsplit("\n", 1)
    if check:
        assert status == "200", (path, status, text)
    return int(status), json.loads(text) if text.startswith("{") else text


def as_pb(obj, cls):
    """The JSON parsed by protobuf's own JSON mapping (int64 strings, base64 bytes, proto field names)."""
    return json_format.ParseDict(obj, cls())


class CurlStream:
    """curl -N on a streaming route: each {"result":...} line, parsed, in a queue."""

    def __init__(self, member, path, body):
        self.proc = subprocess.Popen(["curl", "-sS", "-N", "-X", "POST", "http://%s%s" % (member.endpoint, path),
                                      "-d", json.dumps(body)], stdout=subprocess.PIPE, text=True)
        self.got = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.got.put(json.loads(line))

    def next(self, timeout=CONVERGE_TIMEOUT):
        return self.got.get(timeout=timeout)

    def close(self):
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def pair():
    yield from started(size=2, cls=CausalCluster)


def siblings(member, key):
    return curl(member, "/v3/conflicts/siblings", {"key": b64(key)})[1]


def test_conflicts_over_the_gateway(pair):
    a, b = pair.members
    ids = {m.name: member_id(m) for m in pair.members}
    watch = CurlStream(a, "/v3/conflicts/watch", {"key": b64("gwc/"), "range_end": b64("gwc0")})
    try:
        first = watch.next()["result"]
        assert first == {"member_id": str(ids["m1"]), "revision": first["revision"]}, first  # no conflict

        pair.cut_off(b)
        put(a, "gwc/k", "left")
        put(b, "gwc/k", "right")
        pair.heal(b)

        def listed_alike():
            answers = [siblings(m, "gwc/k") for m in pair.members]
            if any(len(x.get("siblings", [])) != 2 for x in answers):
                return None
            alike = [([{k: v for k, v in s.items() if k != "revision"} for s in x["siblings"]], x["context"])
                     for x in answers]  # a sibling's revision is the answering member's
            if alike[0] != alike[1]:
                return None
            return answers
        answers = wait_for(listed_alike, CONVERGE_TIMEOUT)
        assert answers, [siblings(m, "gwc/k") for m in pair.members]
        got = answers[0]
        assert got["member_id"] == str(ids["m1"]) and isinstance(got["revision"], str)
        winner, other = got["siblings"]
        assert winner["winner"] is True and "winner" not in other  # false is left out, as grpc-gateway does
        assert {base64.b64decode(s["value"]) for s in got["siblings"]} == {b"left", b"right"}
        assert {s["event"]["origin"] for s in got["siblings"]} == {str(ids["m1"]), str(ids["m2"])}
        assert isinstance(winner["hlc_wall_ms"], str) and isinstance(winner["event"]["seq"], str)
        # the same answer as the gRPC call's, through protobuf's own JSON mapping
        parsed = as_pb(got, pb.SiblingsResponse)
        assert [s.value for s in parsed.siblings] == [base64.b64decode(s["value"]) for s in got["siblings"]]
        assert parsed.context == base64.b64decode(got["context"])

        ev = watch.next()["result"]
        assert ev["member_id"] == str(ids["m1"]) and len(ev["events"]) == 1
        assert ev["events"][0]["key"] == b64("gwc/k") and ev["events"][0]["conflicted"] is True
        assert ev["events"][0]["context"] == got["context"]

        status = wait_for(lambda: (lambda s: all(m.get("covers") for m in s["members"]) and s)(
            curl(b, "/v3/conflicts/replication-status", {"key": b64("gwc/k")})[1]), CONVERGE_TIMEOUT)
        assert status and status["event"] == winner["event"], status
        assert [m["member_id"] for m in status["members"]] == [str(ids["m2"]), str(ids["m1"])]
        as_pb(status, pb.ReplicationStatusResponse)

        pos = curl(a, "/v3/conflicts/watch-position", {"revision": got["revision"]})[1]
        assert pos["member_id"] == str(ids["m1"]) and pos["vector"], pos
        there = curl(b, "/v3/conflicts/watch-position",
                     {"member_id": pos["member_id"], "revision": pos["revision"], "vector": pos["vector"]})[1]
        assert int(there["start_revision"]) >= 1 and there["member_id"] == str(ids["m2"]), there

        status_code, err = curl(b, "/v3/conflicts/resolve", {"key": b64("gwc/k"), "context": b64(b"\x07junk"),
                                                            "value": b64("x")}, check=False)
        assert status_code == 400 and err["code"] == 3 and "malformed context" in err["message"], err
        done = curl(b, "/v3/conflicts/resolve", {"key": b64("gwc/k"), "context": got["context"],
                                                 "value": b64("resolved")})[1]
        assert done["event"]["origin"] == str(ids["m2"]) and done["member_id"] == str(ids["m2"]), done
        one = wait_for(lambda: all(len(siblings(m, "gwc/k").get("siblings", [])) == 1 for m in pair.members),
                       CONVERGE_TIMEOUT)
        assert one
        assert base64.b64decode(siblings(a, "gwc/k")["siblings"][0]["value"]) == b"resolved"
        ended = watch.next()["result"]["events"][0]
        assert "conflicted" not in ended and [s["value"] for s in ended["siblings"]] == [b64("resolved")]
    finally:
        watch.close()


def ledger_grpc(srv, method, request, resp_cls):
    stub = srv.channel().unary_unary("/ledgerkvpb.Ledger/" + method, request_serializer=lambda m: m.SerializeToString(),
                                     response_deserializer=resp_cls.FromString)
    return stub(request, timeout=10)


def test_ledger_routes_and_raft_mode(tmp_path):
    with lkvtest.Factory() as f:
        srv = f.start(args=["--enable-web-view"])
        rev = None
        for i in range(3):
            rev = curl(srv, "/v3/kv/put", {"key": b64("gwl/%d" % i), "value": b64("v")})[1]["header"]["revision"]
        receipt = curl(srv, "/v3alpha/ledger/receipt", {"revision": rev})[1]
        grpc_receipt = ledger_grpc(srv, "GetReceipt", pb.ReceiptRequest(revision=int(rev)), pb.ReceiptResponse)
        got = as_pb(receipt, pb.ReceiptResponse)
        assert (got.kind, got.revision, got.leaf_index, got.write_set_digest, got.claims_digest) == (
            grpc_receipt.kind, grpc_receipt.revision, grpc_receipt.leaf_index, grpc_receipt.write_set_digest,
            grpc_receipt.claims_digest) and got.revision == int(rev) and got.proof
        head = curl(srv, "/v3/ledger/head", {})[1]
        size = int(as_pb(head, pb.SignedTreeHeadResponse).head.tree_size)
        assert size >= 3, head
        proof = curl(srv, "/v3beta/ledger/consistency", {"old_size": "1", "new_size": str(size)})[1]
        grpc_proof = ledger_grpc(srv, "GetConsistencyProof", pb.ConsistencyProofRequest(old_size=1, new_size=size),
                                 pb.ConsistencyProofResponse)
        assert as_pb(proof, pb.ConsistencyProofResponse) == grpc_proof
        keys = curl(srv, "/v3/ledger/keys", {})[1]
        assert as_pb(keys, pb.MemberKeysResponse) == ledger_grpc(srv, "GetMemberKeys", pb.MemberKeysRequest(),
                                                                  pb.MemberKeysResponse)
        assert curl(srv, "/ui/api/ledger/keys", {})[1] == keys  # the web view's path is the same route
        assert curl(srv, "/ui/api/kv/range", {}, check=False)[0] == 404  # and only the ledger's
        for path in ("/v3/conflicts/siblings", "/v3/conflicts/replication-status"):
            code, err = curl(srv, path, {"key": b64("k")}, check=False)
            assert code == 412 and err["code"] == 9 and "causal mode only" in err["message"], (path, err)
