"""systemd readiness (issue 15 item 6) without systemd: a unix datagram socket stands for it.

ledgerkv started with NOTIFY_SOCKET (a path, or an abstract '@' name) sends READY=1 once it serves (a gRPC
Status answers at that moment), a STATUS line naming its leader, WATCHDOG=1 pings when WATCHDOG_USEC asks
for them, and on SIGTERM STOPPING=1 before a clean exit (status 0). A member of a new 3-member cluster
started alone is ready too (it serves; STATUS says it waits for a leader), so that starting the members one
after another does not block. contrib/systemd/ledgerkv.service passes systemd-analyze verify.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from etcd3 import etcdrpc

import lkvtest

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "contrib", "systemd", "ledgerkv.service")


class Notified:
    """A ledgerkv process started with NOTIFY_SOCKET bound here, and the datagrams it sent."""

    def __init__(self, srv, abstract=False, extra_env=None, args=()):
        self.dir = tempfile.mkdtemp(prefix="lkv-notify-")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "@lkv-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name[1:])
        else:
            name = os.path.join(self.dir, "notify")
            self.sock.bind(name)
        env = lkvtest.child_env(dict({"NOTIFY_SOCKET": name}, **(extra_env or {})))
        self.srv = srv
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(srv.command() + list(args), stdout=self.log, stderr=self.log, env=env)
        self.messages = []

    def wait_for(self, text, timeout=15.0):
        """Datagrams until one holds the line `text`; returns that datagram."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                break
            self.messages.append(msg)
            if text in msg.split("\n"):
                return msg
        raise AssertionError("no %r in %r\n%s" % (text, self.messages, open(self.log.name).read()[-2000:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.sock.close()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def status(srv):
    return etcdrpc.MaintenanceStub(srv.channel()).Status(etcdrpc.StatusRequest(), timeout=5)


@pytest.mark.parametrize("abstract", [False, True])
def test_ready_status_stopping(tmp_path, abstract):
    srv = lkvtest.Server("ledgerkv", str(tmp_path))
    n = Notified(srv, abstract=abstract)
    try:
        assert n.wait_for("READY=1") == "READY=1"
        member = status(srv).header.member_id  # it serves at once
        n.wait_for("STATUS=serving client requests; leader %x" % member)
        n.proc.send_signal(signal.SIGTERM)
        assert n.wait_for("STOPPING=1") == "STOPPING=1\nSTATUS=shutting down"
        assert n.proc.wait(timeout=30) == 0
        assert b"ledgerkv: stopped" in open(n.log.name, "rb").read()
    finally:
        n.close()


def test_watchdog(tmp_path):
    srv = lkvtest.Server("ledgerkv", str(tmp_path))
    n = Notified(srv, extra_env={"WATCHDOG_USEC": "3000000"})
    try:
        n.wait_for("READY=1")
        n.wait_for("WATCHDOG=1", timeout=5)
        n.wait_for("WATCHDOG=1", timeout=5)
    finally:
        n.close()
    other = lkvtest.Server("ledgerkv", str(tmp_path / "other"))
    n = Notified(other, extra_env={"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"})  # another process's
    try:
        n.wait_for("READY=1")
        with pytest.raises(AssertionError):
            n.wait_for("WATCHDOG=1", timeout=2.5)
    finally:
        n.close()


def test_member_of_a_new_cluster_is_ready_alone(tmp_path):
    """The first member of a new 3-member cluster does not wait for the others to signal readiness."""
    ports = [lkvtest.free_port() for _ in range(3)]
    cluster = ",".join("m%d=http://127.0.0.1:%d" % (i, p) for i, p in enumerate(ports))
    srv = lkvtest.Server("ledgerkv", str(tmp_path), name="m0")
    srv.peer_port = ports[0]
    srv.initial_cluster = cluster
    n = Notified(srv, args=["--initial-cluster-state", "new"])
    try:
        n.wait_for("READY=1")
        n.wait_for("STATUS=serving client requests; no leader yet (waiting for the cluster's members)")
        assert status(srv).header.member_id != 0  # serves (what needs no quorum)
        n.proc.send_signal(signal.SIGTERM)
        n.wait_for("STOPPING=1")
        assert n.proc.wait(timeout=30) == 0
    finally:
        n.close()


def test_unit_file_verifies(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    with open(UNIT) as f:
        text = f.read()
    assert "Type=notify" in text and "ExecStart=/usr/bin/ledgerkv" in text
    unit = tmp_path / "ledgerkv.service"  # the binary under test where the package installs it
    unit.write_text(text.replace("ExecStart=/usr/bin/ledgerkv", "ExecStart=" + lkvtest.ledgerkv_bin()))
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr
