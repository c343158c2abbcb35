"""etcd's alert rules evaluated by Prometheus' promtool over ledgerkv's real scrapes (issue 15 item 7).

The rules are the etcd mixin's that Debian's etcd-server ships (/usr/share/doc/etcd-server/etcd-mixin),
rendered with jsonnet as its README says; the mixin's own unit test (test.yaml) passes on them first. Then a
3-member ledgerkv cluster whose peer links each add 100 ms (peer_proxy's delay) is scraped, every member, once
per round, while Puts go to the first member; each round is one minute of the rules' time, and the scrapes
become `promtool test rules` input series (job="etcd", instance=<member>, `up` 1 or 0 as the scrape
answered). After 14 rounds exactly etcdMemberCommunicationSlow (every member, every `To`) and
etcdGRPCRequestsSlow (Put, on the first member) fire, nothing else: no leader, fsync, commit, proposal or
gRPC failure alert on healthy values. Then two members stop: after 6 more rounds exactly etcdNoLeader (the
first member), etcdMembersDown and etcdInsufficientMembers fire. A metric under another name, in another
unit or without etcd's labels would change what fires.
"""
import gzip
import os
import shutil
import subprocess
import time

import pytest
from etcd3 import etcdrpc

import lkvtest
from cluster import started
from peer_proxy import ProxiedCluster
from test_metrics import get, metrics_url

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="scrapes a ledgerkv cluster")

MIXIN_DIR = "/usr/share/doc/etcd-server/etcd-mixin"
DELAY_MS = 100  # each way on every peer link: round trips of 200 ms and more, over the alerts' 150 ms
HEALTHY_ROUNDS, LEADERLESS_ROUNDS = 14, 6


class SlowLinksCluster(ProxiedCluster):
    """Members with metrics URLs and --metrics extensive (the handling-time histogram), slow peer links."""

    def __init__(self, **kwargs):
        super().__init__(delay_ms=DELAY_MS, heartbeat_ms=100, election_ms=1500, **kwargs)
        self.metrics_ports = {}

    def flags(self, member):
        port = self.metrics_ports.setdefault(member.name, lkvtest.free_port())
        return super().flags(member) + ["--listen-metrics-urls", metrics_url(port), "--metrics", "extensive"]


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    for tool in ("promtool", "jsonnet"):
        if not shutil.which(tool):
            pytest.skip("%s (Debian's %s) is not installed" % (tool, "prometheus" if tool == "promtool" else tool))
    if not os.path.exists(os.path.join(MIXIN_DIR, "mixin.libsonnet.gz")):
        pytest.skip("the etcd mixin (Debian's etcd-server) is not installed")
    d = tmp_path_factory.mktemp("mixin")
    with gzip.open(os.path.join(MIXIN_DIR, "mixin.libsonnet.gz"), "rb") as f:
        (d / "mixin.libsonnet").write_bytes(f.read())
    rendered = subprocess.run(["jsonnet", "-J", str(d), "-e", '(import "mixin.libsonnet").prometheusAlerts'],
                              capture_output=True, text=True, timeout=60, check=True).stdout
    (d / "mixin.yaml").write_text(rendered)  # JSON is YAML
    shutil.copy(os.path.join(MIXIN_DIR, "test.yaml"), d / "test.yaml")
    run = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=d, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr
    return d


def metric_names(rules_dir):
    """The metric names the rules read (label matchers' values and functions aside)."""
    import re
    text = (rules_dir / "mixin.yaml").read_text()
    return set(re.findall(r"\b((?:etcd|grpc)_[a-z_]+|up)\{", text))


def scrape_text(port):
    """The samples of one scrape as [(name, '{labels}' or '', value text)]; None when it did not answer."""
    try:
        status, _, body = get(port, "/metrics")
    except OSError:
        return None
    assert status == 200
    out = []
    for line in body.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name, _, labels = series.partition("{")
            out.append((name, labels[:-1] if labels else "", value))
    return out


class Series:
    """Scrapes gathered into promtool input series, one value per round ('_' where a scrape lacked it)."""

    def __init__(self, wanted):
        self.wanted, self.values, self.rounds = wanted, {}, 0

    def add_round(self, scrapes):
        for instance, samples in scrapes.items():
            self._add('up{job="etcd",instance="%s"}' % instance, "0" if samples is None else "1")
            for name, labels, value in samples or []:
                if name not in self.wanted:
                    continue
                extra = 'job="etcd",instance="%s"' % instance
                self._add("%s{%s}" % (name, labels + "," + extra if labels else extra), value)
        self.rounds += 1

    def _add(self, key, value):
        self.values.setdefault(key, ["_"] * self.rounds).append(value)

    def yaml(self):
        lines = []
        for key, vals in sorted(self.values.items()):
            vals += ["_"] * (self.rounds - len(vals))
            lines.append("      - series: '%s'\n        values: '%s'" % (key, " ".join(vals)))
        return "\n".join(lines)


def firing_test(eval_minute, expected):
    """A promql_expr_test: at that minute the firing alerts are exactly `expected` (label dicts)."""
    out = ["      - expr: 'ALERTS{alertstate=\"firing\"}'", "        eval_time: %dm" % eval_minute,
           "        exp_samples:"]
    for labels in expected:
        body = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
        out.append("          - labels: 'ALERTS{alertstate=\"firing\",%s}'\n            value: 1" % body)
    if not expected:
        out[-1] = "        exp_samples: []"
    return "\n".join(out)


def test_etcd_alerts_on_ledgerkv_scrapes(rules):
    wanted = metric_names(rules)
    assert {"etcd_server_has_leader", "etcd_network_peer_round_trip_time_seconds",
            "grpc_server_handling_seconds"} <= {n.replace("_bucket", "") for n in wanted}, wanted
    gen = started(size=3, cls=SlowLinksCluster, kind="ledgerkv")
    c = next(gen)
    try:
        names = [m.name for m in c.members]
        ports = {m.name: c.metrics_ports[m.name] for m in c.members}
        ids = {m.name: "%x" % etcdrpc.MaintenanceStub(m.channel()).Status(etcdrpc.StatusRequest(),
                                                                              timeout=10).header.member_id
               for m in c.members}
        series = Series(wanted)
        kv = c.members[0].kv()
        for r in range(HEALTHY_ROUNDS):
            for i in range(2):
                kv.Put(etcdrpc.PutRequest(key=b"alerts/%d" % i, value=b"v%d" % r), timeout=10)
            time.sleep(0.3)
            series.add_round({n: scrape_text(ports[n]) for n in names})
        for m in c.members[1:]:
            m.stop()
        time.sleep(3)  # the first member sees its leader gone (election timeout 1.5 s)
        for r in range(LEADERLESS_ROUNDS):
            time.sleep(0.3)
            series.add_round({n: scrape_text(ports[n]) for n in names})
    finally:
        gen.close()

    slow_links = [{"alertname": "etcdMemberCommunicationSlow", "severity": "warning", "job": "etcd",
                   "instance": n, "To": ids[o]} for n in names for o in names if o != n]
    slow_puts = [{"alertname": "etcdGRPCRequestsSlow", "severity": "critical", "job": "etcd", "instance": names[0],
                  "grpc_service": "etcdserverpb.KV", "grpc_method": "Put"}]
    leaderless = [{"alertname": "etcdNoLeader", "severity": "critical", "job": "etcd", "instance": names[0]},
                  {"alertname": "etcdMembersDown", "severity": "critical", "job": "etcd"},
                  {"alertname": "etcdInsufficientMembers", "severity": "critical", "job": "etcd"}]
    last = HEALTHY_ROUNDS + LEADERLESS_ROUNDS - 1
    test = "\n".join([
        "rule_files:\n  - mixin.yaml\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:",
        series.yaml(), "    promql_expr_test:",
        firing_test(HEALTHY_ROUNDS - 1, slow_links + slow_puts),
        firing_test(last, leaderless)])
    (rules / "ledgerkv.yaml").write_text(test + "\n")
    run = subprocess.run(["promtool", "test", "rules", "ledgerkv.yaml"], cwd=rules, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
