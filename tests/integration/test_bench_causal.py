"""Smoke run of bench/causal (docs/benchmarks-causal.md) so the script does not rot: one short round on a
causal and a Raft cluster of ledgerkv, peer links delayed; the report and the JSON must carry numbers that
make sense (no performance thresholds: the machine is shared).
"""
import json
import os
import re
import subprocess

import pytest

import lkvtest

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="bench/causal runs ledgerkv clusters")

SCRIPT = os.path.join(lkvtest.REPO, "bench", "causal")


def test_quick_run_reports_numbers(tmp_path):
    out = tmp_path / "results.json"
    cmd = [SCRIPT, "--quick", "--rounds", "1", "--duration", "0.7", "--rate", "200", "--kinds", "causal,raft",
           "--no-quiet-wait", "--ledgerkv", lkvtest.ledgerkv_bin(), "--work-dir", str(tmp_path),
           "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=lkvtest.child_env())
    assert res.returncode == 0, res.stderr[-3000:]
    rows = {line.split("|")[1].strip(): line for line in res.stdout.splitlines() if line.startswith("| ledgerkv")}
    assert len(rows) == 2, res.stdout  # one row per kind in each of the two tables: the later one wins
    for line in rows.values():
        assert re.search(r"\| \d+% \|", line), line  # served fraction of the partition run
    data = json.loads(out.read_text())
    for kind in ("causal", "raft"):
        (rnd,) = data["results"][kind]
        assert rnd["put"]["ok"] > 0 and rnd["put"]["latency_ms"]["p50"] > 0
        assert rnd["put"]["peer_bytes"] > 0 and rnd["put"]["proxy_bytes"] > 0
        assert rnd["heal"]["seconds"] is not None, "the members never agreed after the heal"
    # Causal mode serves the cut-off member's writes; the minority side of a Raft cluster cannot commit any.
    causal, raft = data["results"]["causal"][0]["partition"], data["results"]["raft"][0]["partition"]
    assert causal["minority"]["ok"] > 0 and causal["minority"]["errors"] == 0
    assert raft["minority"]["ok"] == 0
    # The added delay is there: a Raft write waits for a round trip through the proxies (2 x 10 ms).
    assert data["results"]["raft"][0]["put"]["latency_ms"]["p50"] >= 20
