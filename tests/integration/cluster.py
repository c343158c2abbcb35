"""Multi-member clusters for the integration tests: N members on free loopback ports, started with etcd's own
cluster flags (the same command line for etcd and ledgerkv), their leader, and faults: kill -9, SIGSTOP/SIGCONT,
restart on the same data dir.

Built on lkvtest.Server (process start under setpriv --pdeathsig, lifetime limit, logs, clean SIGTERM stop);
LEDGERKV_TARGET picks the server as in lkvtest. Member ids are learnt from Maintenance.Status, never assumed.
"""
import os
import shutil
import signal
import tempfile
import time

import grpc

import lkvtest
from etcd3 import etcdrpc

HEARTBEAT_MS = 50
ELECTION_MS = 500
STATUS_TIMEOUT = 1.0
class Member(lkvtest.Server):
    """One cluster member: an lkvtest.Server whose command line carries the whole cluster's flags."""

    def __init__(self, kind, workdir, name, cluster):
        super().__init__(kind, workdir, name=name)
        self.cluster = cluster
        self.id = None  # header.member_id, learnt from Status
        self.state = "new"  # --initial-cluster-state: "existing" for a member added at run time
        self.paused = False
        self._defer_wait = False

    def start(self, timeout=lkvtest.READY_TIMEOUT, wait=True):
        """lkvtest.Server.start; with wait=False it returns once the process runs (a member of a new cluster
        answers only once a quorum runs): call wait_started() then. Call from a thread that outlives the
        process: --pdeathsig fires when the thread that started it ends."""
        self._defer_wait = not wait
        try:
            super().start(timeout)
        finally:
            self._defer_wait = False

    def _wait_ready(self, timeout):
        if not self._defer_wait:
            super()._wait_ready(timeout)

    def wait_started(self, timeout=lkvtest.READY_TIMEOUT):
        """Waits until a member started with wait=False answers Status; kills it and raises
        lkvtest.ServerError if it exits or times out first."""
        try:
            super()._wait_ready(timeout)
        except Exception:
            self.kill()
            raise

    @property
    def peer_url(self):
        return "http://127.0.0.1:%d" % self.peer_port

    def command(self):
        binary = lkvtest.ledgerkv_bin() if self.kind == "ledgerkv" else lkvtest.ETCD_BIN
        return [binary] + self.cluster.flags(self)

    def status(self, timeout=STATUS_TIMEOUT):
        """Maintenance.Status of this member (raises grpc.RpcError)."""
        resp = etcdrpc.MaintenanceStub(self.channel()).Status(etcdrpc.StatusRequest(), timeout=timeout)
        self.id = resp.header.member_id
        return resp

    def last_start_log(self):
        """The log written since the last start (the log file keeps every start)."""
        text = self.log_text()
        return text[text.rfind("=== start "):]


def started(size=3, cls=None, **kwargs):
    """For a pytest fixture (`yield from cluster.started()`): a started Cluster (or cls, a subclass such as
    peer_proxy.ProxiedCluster), closed afterwards; a cluster that does not start fails the test."""
    c = (cls or Cluster)(size=size, **kwargs)
    try:
        c.start()
    except BaseException:
        c.close()
        raise
    yield c
    c.close()


class Cluster:
    """N members of kind (default lkvtest.TARGET) in one temp dir; close() stops all and removes the dir."""

    def __init__(self, size=3, kind=None, heartbeat_ms=HEARTBEAT_MS, election_ms=ELECTION_MS, extra_flags=()):
        self.kind = kind or lkvtest.TARGET
        self.extra_flags = list(extra_flags)
        self.size = size
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.dir = tempfile.mkdtemp(prefix="lkvtest-cluster-%s-" % self.kind)
        self.token = "lkv-cluster-%s" % os.path.basename(self.dir)
        self.members = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def election_timeout(self):
        return self.election_ms / 1000.0

    def flags(self, member):
        """The command line of one member (without the binary): etcd's flags, identical for both servers."""
        initial = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)
        return ["--name", member.name, "--data-dir", member.data_dir,
                "--listen-client-urls", member.url, "--advertise-client-urls", member.url,
                "--listen-peer-urls", member.peer_url, "--initial-advertise-peer-urls", member.peer_url,
                "--initial-cluster", initial, "--initial-cluster-state", member.state,
                "--initial-cluster-token", self.token,
                "--heartbeat-interval", str(self.heartbeat_ms), "--election-timeout", str(self.election_ms)
                ] + self.extra_flags

    # start and stop ---------------------------------------------------------------------------------
    def start(self, timeout=lkvtest.READY_TIMEOUT):
        """Start every member at once (a member of a new cluster may wait for the others) and wait for a
        leader; returns the leader. Retries with new ports if one was taken meanwhile. Raises
        lkvtest.ServerError when it does not start."""
        for attempt in range(3):
            self._new_members()
            errors = []
            for m in self.members:  # started from this thread: see Member.start
                m.start(timeout, wait=False)
            for m in self.members:
                try:
                    m.wait_started(timeout)
                except lkvtest.ServerError as e:
                    errors.append("%s: %s" % (m.name, e))
            if not errors:
                return self.wait_ready(timeout)
            in_use = any("in use" in m.last_start_log().lower() for m in self.members)
            self._kill_all()
            if not in_use or attempt == 2:
                raise lkvtest.ServerError("cluster did not start:\n" + "\n".join(errors))

    def _new_members(self):
        self.members = []
        for i in range(self.size):
            name = "m%d" % (i + 1)
            workdir = tempfile.mkdtemp(prefix=name + "-", dir=self.dir)
            self.members.append(Member(self.kind, workdir, name, self))

    def _kill_all(self):
        for m in self.members:
            if m.paused:
                self.resume(m)
            m.kill()

    def close(self):
        """Stop every running member with SIGTERM, one after the other, the leader last, remove the temp dir;
        raises lkvtest.ServerError listing the members that did not stop cleanly.

        A leader stopping hands over to a follower it heard from lately. Members stopping together, or a
        leader stopped just after a follower, make it pick one that is going away, and ledgerkv then waits
        for it until the request timeout (about 6 s here). Stopped last, once its followers are gone, it
        stops when CheckQuorum makes it step down (about an election timeout)."""
        errors = []
        for m in self.members:
            if m.paused:
                self.resume(m)
        lead = self.leader() if self.running() else None
        for m in sorted(self.members, key=lambda m: m is lead):
            try:
                m.stop()
            except lkvtest.ServerError as e:
                errors.append("%s: %s" % (m.name, e))
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise lkvtest.ServerError("\n".join(errors))

    # leadership -------------------------------------------------------------------------------------
    def running(self):
        """The members whose process runs and is not paused."""
        return [m for m in self.members if m.alive() and not m.paused]

    def statuses(self, members=None):
        """{member: StatusResponse or the grpc.RpcError it raised} for the given (default: running) members."""
        out = {}
        for m in members if members is not None else self.running():
            try:
                out[m] = m.status()
            except grpc.RpcError as e:
                out[m] = e
        return out

    def leader(self):
        """The member every running member names as leader, or None (no leader, or they disagree)."""
        st = self.statuses()
        leaders = {s.leader if not isinstance(s, grpc.RpcError) else None for s in st.values()}
        if len(leaders) != 1:
            return None
        lid = leaders.pop()
        return next((m for m in st if m.id == lid and lid), None)

    def wait_ready(self, timeout=lkvtest.READY_TIMEOUT):
        """Waits until every running member answers Status and all name the same running leader; returns
        that leader. Raises lkvtest.ServerError on timeout, with the last statuses and log tails."""
        deadline = time.monotonic() + timeout
        while True:
            lead = self.leader()
            if lead is not None:
                return lead
            if time.monotonic() > deadline:
                st = self.statuses()
                raise lkvtest.ServerError("no common leader after %.0fs: %s\n%s" % (
                    timeout, {m.name: (s if isinstance(s, grpc.RpcError) else "id %x leader %x" % (
                        s.header.member_id, s.leader)) for m, s in st.items()},
                    "\n".join(m.log_tail(15) for m in self.members)))
            time.sleep(0.05)

    def followers(self):
        lead = self.wait_ready()
        return [m for m in self.members if m is not lead]

    # faults -----------------------------------------------------------------------------------------
    def kill(self, member):
        """kill -9 the member and reap it."""
        member.kill()

    def pause(self, member):
        """SIGSTOP the member's process (setpriv has exec'd the server, so the pid is the server's)."""
        os.kill(member.proc.pid, signal.SIGSTOP)
        member.paused = True

    def resume(self, member):
        """SIGCONT a paused member."""
        os.kill(member.proc.pid, signal.SIGCONT)
        member.paused = False

    def restart(self, member, timeout=lkvtest.READY_TIMEOUT):
        """Start a killed or stopped member again with the same data dir, ports and flags; waits until it
        answers Status. Call from a thread that outlives the process (see Member.start)."""
        member.start(timeout)

    def new_member(self, name):
        """A member to add at run time (etcdctl member add, then start it): its ports and data dir, with
        --initial-cluster-state existing; it is in the next members' --initial-cluster. Not started."""
        m = Member(self.kind, tempfile.mkdtemp(prefix=name + "-", dir=self.dir), name, self)
        m.state = "existing"
        self.members.append(m)
        return m

    def member(self, member_id):
        """The member whose Status reported member_id."""
        return next(m for m in self.members if m.id == member_id)


def wait_for(what, timeout=15.0):
    """Calls what() until it returns something true (gRPC errors count as not yet) and returns that; fails
    the test after timeout seconds, naming what by its docstring."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = what()
            if got:
                return got
        except grpc.RpcError:
            pass
        assert time.monotonic() < deadline, "timed out waiting for %s" % what.__doc__
        time.sleep(0.1)
