"""Causal mode: a member stops on a peer's "removed" refusal only when the refusal proves it is removed
(docs/causal.md §15a): the refusal carries the signed removal, and the refused member's core checks it.

Four members a, b, x, y (peer traffic through peer_proxy). x, cut off, removes y; y is then stopped; a
removes x (b takes it); a and b are cut off, x healed and y started again: y, which has not applied a's
removal of x, dials x, and x refuses it with x's removal of y. Only x holds that removal (the members still
in will refuse it: x is removed), so y must not stop: it keeps serving. Before this check y stopped at once
("the member has been permanently removed from the cluster"). Then a and b are healed: y takes a's removal
of x, x is refused by b with it and stops, and y's writes reach a.

ledgerkv only: etcd has no causal mode.
"""
import time

import pytest

import lkvtest
from cluster import started, wait_for
from test_causal import CausalCluster, put

pytestmark = pytest.mark.skipif(lkvtest.TARGET != "ledgerkv", reason="causal mode is ledgerkv's own")

TIMEOUT = 20.0
STOPPED = "ledgerkv: the member has been permanently removed from the cluster"  # its stop, not a peer log


@pytest.fixture
def cluster():
    yield from started(size=4, cls=CausalCluster)


def remove(by, member):
    lkvtest.etcdctl(by, "member", "remove", "%x" % member.id)


def listed(member):
    out = lkvtest.etcdctl(member, "member", "list", "-w", "simple").stdout
    return {line.split(",")[0].strip() for line in out.splitlines() if line.strip()}


def test_refusal_by_a_removed_remover_does_not_stop(cluster):
    a, b, x, y = cluster.members
    for m in cluster.members:
        m.status()  # learns m.id
    put(a, "k", "1")
    wait_for(lambda: all("k" in lkvtest.etcdctl(m, "get", "k", "--keys-only").stdout for m in cluster.members),
             TIMEOUT)
    cluster.cut_off(x)
    remove(x, y)  # nobody else gets it: the members still in will refuse it
    y.stop()
    remove(a, x)
    wait_for(lambda: "%x" % x.id not in listed(b), TIMEOUT)
    cluster.cut_off(a)
    cluster.cut_off(b)
    cluster.heal(x)
    y.start()
    # x refuses y's connection with x's removal of y; y checks it and goes on.
    wait_for(lambda: "refused it as removed; not stopping" in y.last_start_log(), TIMEOUT)
    time.sleep(1.0)  # several refusals (the dialer retries)
    assert y.alive(), "y stopped on a refusal by its removed remover"
    assert STOPPED not in y.last_start_log()
    put(y, "from-y", "1")  # it serves

    cluster.heal(a)
    cluster.heal(b)
    deadline = time.monotonic() + TIMEOUT
    while x.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not x.alive(), "the removed member stops once a member still in refuses it with its removal"
    assert STOPPED in x.last_start_log()
    assert y.alive()
    wait_for(lambda: "from-y" in lkvtest.etcdctl(a, "get", "from-y", "--keys-only").stdout, TIMEOUT)
    assert listed(a) == {"%x" % m.id for m in (a, b, y)}
