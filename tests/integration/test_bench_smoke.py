"""Smoke runs of `ledgerkv bench` (seconds, no performance thresholds): against ledgerkv, every workload
against Debian's etcd (the tool must work with any etcd-API server), the JSON report's shape, usage errors,
and the ledger workloads (receipt, verify) against ledgerkv with and without its ledger.
"""
import json
import subprocess

import pytest

import lkvtest
from etcd3 import etcdrpc

LATENCY_KEYS = {"min", "mean", "p50", "p90", "p99", "p99.9", "max"}


def bench(server_endpoint, *args, check_rc=None):
    """Run `ledgerkv bench ARGS --endpoints EP --no-progress`; returns the CompletedProcess."""
    cmd = [lkvtest.ledgerkv_bin(), "bench"] + [str(a) for a in args] + [
        "--endpoints", server_endpoint, "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=lkvtest.child_env())
    if check_rc is not None and res.returncode != check_rc:
        raise AssertionError("%s exited %d (wanted %d)\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), res.returncode, check_rc, res.stdout, res.stderr))
    return res


def bench_json(server_endpoint, *args, check_rc=0):
    res = bench(server_endpoint, *args, "--json", check_rc=check_rc)
    lines = res.stdout.splitlines()
    assert len(lines) == 1, "expected one JSON line, got %r" % res.stdout
    return json.loads(lines[0])


def assert_well_formed(rep, workload):
    assert rep["workload"] == workload
    assert set(rep["latency_ms"]) == LATENCY_KEYS
    lat = rep["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    pcts = rep["percentiles_ms"]
    assert [p for p, _ in pcts][0] == 0 and pcts[-1][0] == 100
    assert all(a[1] <= b[1] for a, b in zip(pcts, pcts[1:])), "percentiles must not decrease"
    assert rep["ops_per_s"] > 0 and rep["elapsed_s"] > 0


def test_put_json_counts_200_successes(ledgerkv):
    rep = bench_json(ledgerkv.endpoint, "put", "--total", 200, "--clients", 4,
                     "--key-space", 50, "--sequential-keys", "--val-size", 32)
    assert_well_formed(rep, "put")
    assert rep["ok"] == 200 and rep["sent"] == 200 and rep["errors"] == 0
    assert rep["errors_by_status"] == {} and rep["aborted"] is None
    # The writes really happened: sequential keys 00000000..00000049, 32-byte values.
    resp = ledgerkv.kv().Range(etcdrpc.RangeRequest(key=b"00000000", range_end=b"00000050"), timeout=10)
    assert resp.count == 50
    assert all(len(kv.value) == 32 for kv in resp.kvs)


def test_text_report(ledgerkv):
    res = bench(ledgerkv.endpoint, "range", "--total", 100, "--consistency", "s", "--key-space", 50,
                check_rc=0)
    assert "workload range (serializable) against %s" % ledgerkv.endpoint in res.stdout
    assert "100 requests ok, 0 failed" in res.stdout
    assert "requests/s:" in res.stdout and "p99.9" in res.stdout


@pytest.mark.parametrize("workload,args,per_request", [
    ("put", [], 1),
    ("range", ["--consistency", "l"], 1),
    ("range", ["--consistency", "s"], 1),
    ("range", ["--range-keys", 10, "--key-space", 100], 1),
    ("txn-put", ["--txn-ops", 3], 1),
    ("txn-mixed", ["--rw-ratio", 2], 1),
    ("watch", ["--watchers", 3], 3),
    ("lease-keepalive", [], 1),
])
def test_every_workload_against_etcd(etcd, workload, args, per_request):
    rep = bench_json(etcd.endpoint, workload, "--total", 150, "--clients", 3, "--conns", 2, "--threads", 2,
                     *args)
    assert_well_formed(rep, workload)
    assert rep["errors"] == 0, rep["first_errors"]
    assert rep["ok"] == 150 * per_request
    if workload == "txn-mixed":
        assert rep["reads"] + rep["writes"] == 150
    if workload == "watch":
        assert rep["puts_ok"] == 150 and rep["unit"] == "events"


def test_open_loop_against_etcd(etcd):
    rep = bench_json(etcd.endpoint, "put", "--total", 200, "--rate", 1000, "--clients", 8)
    assert rep["ok"] == 200 and rep["rate"] == 1000
    assert rep["elapsed_s"] >= 0.19  # 200 requests offered at 1000/s


def test_receipt_against_ledgerkv(ledgerkv):
    bench_json(ledgerkv.endpoint, "put", "--total", 100, "--clients", 4, "--key-space", 100)
    rep = bench_json(ledgerkv.endpoint, "receipt", "--total", 300, "--clients", 4, "--conns", 2,
                     "--threads", 2)
    assert_well_formed(rep, "receipt")
    assert rep["ok"] == 300 and rep["errors"] == 0, rep["first_errors"]
    assert rep["unit"] == "receipts"
    assert rep["revision"] >= 101  # the 100 puts are covered by a signed head before the load starts


def test_receipt_open_loop_on_empty_store(server_factory):
    # An empty store has nothing to have a receipt for: the setup writes one key first.
    srv = server_factory.start()
    rep = bench_json(srv.endpoint, "receipt", "--total", 50, "--rate", 500, "--clients", 2)
    assert rep["ok"] == 50 and rep["errors"] == 0, rep["first_errors"]
    assert rep["revision"] == 2


def test_verify_against_ledgerkv(ledgerkv):
    bench_json(ledgerkv.endpoint, "put", "--total", 100, "--clients", 4, "--key-space", 100)
    rep = bench_json(ledgerkv.endpoint, "verify", "--key-space", 40, "--total", 2000, "--threads", 2,
                     "--conns", 2, "--clients", 4)
    assert_well_formed(rep, "verify")
    assert rep["ok"] == 2000 and rep["sent"] == 2000 and rep["errors"] == 0, rep["first_errors"]
    assert rep["receipts"] == 40 and rep["unit"] == "verifications"
    assert rep["verification"] == "leaf hash, inclusion proof, Ed25519 signature"
    assert len(rep["thread_ops_per_s"]) == 2 and all(r > 0 for r in rep["thread_ops_per_s"])
    text = bench(ledgerkv.endpoint, "verify", "--key-space", 10, "--total", 100, check_rc=0).stdout
    assert "one verification = leaf hash, inclusion proof, Ed25519 signature" in text
    assert "verifications/s per thread" in text


@pytest.mark.parametrize("workload", ["receipt", "verify"])
def test_ledger_workloads_without_ledger(server_factory, workload):
    srv = server_factory.start(args=["--ledger=false"])
    rep = bench_json(srv.endpoint, workload, "--total", 10, check_rc=1)
    assert rep["ok"] == 0 and rep["errors"] == 1
    assert rep["errors_by_status"] == {"UNIMPLEMENTED": 1}
    assert rep["aborted"].startswith("GetSignedTreeHead: UNIMPLEMENTED")


def test_receipt_against_etcd(etcd):
    # etcd has no Ledger service: the setup reaches GetSignedTreeHead and reports etcd's answer.
    rep = bench_json(etcd.endpoint, "receipt", "--total", 10, check_rc=1)
    assert rep["ok"] == 0 and rep["errors_by_status"] == {"UNIMPLEMENTED": 1}
    assert rep["aborted"].startswith("GetSignedTreeHead: UNIMPLEMENTED")


def test_usage_error(ledgerkv):
    res = bench(ledgerkv.endpoint, "put", "--conns", "zero", check_rc=2)
    assert "--conns" in res.stderr and res.stdout == ""


def test_unreachable_endpoint_is_reported():
    ep = "127.0.0.1:%d" % lkvtest.free_port()
    rep = bench_json(ep, "put", "--total", 10, check_rc=1)
    assert rep["ok"] == 0
    assert rep["aborted"] and ep in rep["aborted"]
