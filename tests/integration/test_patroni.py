"""Patroni (Debian's patroni 3.0, PostgreSQL 15) with ledgerkv as its DCS through etcd3's JSON gateway.

One PostgreSQL is bootstrapped by Patroni on ledgerkv (Patroni's `etcd3:` settings: /version, then the
/v3/ routes: lease grant and keep-alive, txns, ranges, a watch); `patronictl list` shows it as the
leader, the leader key /service/<scope>/leader holds its name in ledgerkv, and after ledgerkv restarts the
cluster is still healthy: the same leader on the same timeline, PostgreSQL still a primary. With two members:
a replica joins, a switchover, a crashed primary fails over and rejoins as a replica. Skipped when
the packages are not installed (scripts/deps.sh --test installs them). Whether the rejoin needed
pg_rewind is not checked (use_pg_rewind is on; a primary killed before it wrote past the fork needs none).
"""
import base64
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import lkvtest
from test_gateway import post

PG_BIN = "/usr/lib/postgresql/15/bin"
PATRONI = shutil.which("patroni")
PATRONICTL = shutil.which("patronictl")
pytestmark = pytest.mark.skipif(
    PATRONI is None or PATRONICTL is None or not os.path.exists(os.path.join(PG_BIN, "initdb")),
    reason="Debian's patroni and postgresql-15 are not installed (scripts/deps.sh --test installs them)")

SCOPE = "lkvtest"


def config(workdir, lkv_port, name="pg1"):
    api, pg = lkvtest.free_port(), lkvtest.free_port()
    return """scope: %(scope)s
namespace: /service/
name: %(name)s
restapi:
  listen: 127.0.0.1:%(api)d
  connect_address: 127.0.0.1:%(api)d
etcd3:
  hosts: 127.0.0.1:%(lkv)d
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 1
    retry_timeout: 5
  initdb:
  - encoding: UTF8
postgresql:
  listen: 127.0.0.1:%(pg)d
  connect_address: 127.0.0.1:%(pg)d
  data_dir: %(dir)s/pgdata
  bin_dir: %(bin)s
  pgpass: %(dir)s/pgpass
  use_pg_rewind: true
  authentication:
    superuser: {username: postgres, password: pw}
    replication: {username: replicator, password: rpw}
  parameters:
    unix_socket_directories: %(dir)s
  pg_hba:
  - host all all 127.0.0.1/32 md5
  - host replication replicator 127.0.0.1/32 md5
""" % {"scope": SCOPE, "api": api, "pg": pg, "lkv": lkv_port, "dir": workdir, "bin": PG_BIN,
          "name": name}, pg


def as_postgres():
    """PostgreSQL refuses to run as root: Patroni runs as Debian's postgres user then."""
    return ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups"] if os.getuid() == 0 else []


def members(cfg):
    out = subprocess.run([PATRONICTL, "-c", cfg, "list", "-f", "json"], capture_output=True, text=True,
                         timeout=20)
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []


def wait_leader(cfg, timeout):
    deadline = time.monotonic() + timeout
    while True:
        m = members(cfg)
        if any(x.get("Role") == "Leader" and x.get("State") == "running" and "TL" in x for x in m) or \
                time.monotonic() > deadline:
            return m
        time.sleep(0.5)


def leader_key(srv):
    status, _, body = post(srv, "/v3/kv/range",
                           {"key": base64.b64encode(("/service/%s/leader" % SCOPE).encode()).decode()})
    assert status == 200, body
    kvs = json.loads(body).get("kvs", [])
    return base64.b64decode(kvs[0]["value"]).decode() if kvs else None


def primary(pg_port, workdir):
    out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-Atc",
                          "select pg_is_in_recovery()"], capture_output=True, text=True, timeout=10,
                         env=dict(os.environ, PGPASSWORD="pw", PGCONNECT_TIMEOUT="5"))
    return out.stdout.strip() == "f"


class Member:
    """One Patroni (and its PostgreSQL) in a directory of its own, run as postgres when we are root."""

    def __init__(self, base, lkv_port, name):
        self.name = name
        self.dir = os.path.join(base, name)
        os.mkdir(self.dir)
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        text, self.pg_port = config(self.dir, lkv_port, name)
        self.cfg = os.path.join(self.dir, "patroni.yml")
        with open(self.cfg, "w") as fh:
            fh.write(text)
        os.chmod(self.cfg, 0o644)
        self.log_path = os.path.join(self.dir, "patroni.log")
        self.proc = None
        self.start()

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(as_postgres() + [PATRONI, self.cfg], stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def crash(self):
        """Patroni and its PostgreSQL killed at once: a crashed primary."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # Patroni stops PostgreSQL and leaves
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.crash()
        # a PostgreSQL left behind by a crash, still in its own session
        subprocess.run(as_postgres() + [os.path.join(PG_BIN, "pg_ctl"), "-D", os.path.join(self.dir, "pgdata"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=20)

    def log(self):
        with open(self.log_path, "rb") as fh:
            return fh.read().decode(errors="replace")


def wait_for(cfg, check, timeout):
    """Polls patronictl list until check(members) holds; returns the last list."""
    deadline = time.monotonic() + timeout
    while True:
        m = members(cfg)
        if check(m) or time.monotonic() > deadline:
            return m
        time.sleep(0.5)


def roles(m):
    return sorted((x["Member"], x["Role"], x["State"]) for x in m)


def test_patroni_on_ledgerkv():
    workdir = tempfile.mkdtemp(prefix="lkvtest-patroni-")
    os.chmod(workdir, 0o755)  # the members' directories inside belong to postgres
    with lkvtest.Factory() as f:
        srv = f.start("ledgerkv")
        pg1 = Member(workdir, srv.port, "pg1")
        cfg, pg_port, proc = pg1.cfg, pg1.pg_port, pg1.proc
        try:
            m = wait_leader(cfg, 40)
            assert [(x["Member"], x["Role"], x["State"]) for x in m] == [("pg1", "Leader", "running")], m
            timeline = m[0].get("TL")
            assert timeline is not None, m
            assert leader_key(srv) == "pg1"
            assert primary(pg_port, workdir)

            srv.stop()  # Patroni's leader key lives in a lease of ttl 10: a short outage keeps it
            srv.start()
            time.sleep(3)  # a few of Patroni's loops (loop_wait 1) on the restarted server
            m = wait_leader(cfg, 15)
            assert [(x["Member"], x["Role"], x["State"], x.get("TL")) for x in m] == \
                [("pg1", "Leader", "running", timeline)], m
            assert leader_key(srv) == "pg1"
            assert primary(pg_port, workdir)
            assert proc.poll() is None
        finally:
            pg1.stop()
            print(pg1.log()[-4000:])
    shutil.rmtree(workdir, ignore_errors=True)


def test_replica_switchover_failover():
    workdir = tempfile.mkdtemp(prefix="lkvtest-patroni-")
    os.chmod(workdir, 0o755)  # the members' directories inside belong to postgres
    with lkvtest.Factory() as f:
        srv = f.start("ledgerkv")
        pg1 = Member(workdir, srv.port, "pg1")
        pg2 = None
        try:
            assert ("pg1", "Leader", "running") in roles(wait_leader(pg1.cfg, 40))
            pg2 = Member(workdir, srv.port, "pg2")  # a replica joins (pg_basebackup from the leader)
            want = [("pg1", "Leader", "running"), ("pg2", "Replica", "running")]
            assert roles(wait_for(pg1.cfg, lambda m: roles(m) == want, 30)) == want

            out = subprocess.run([PATRONICTL, "-c", pg1.cfg, "switchover", "--leader", "pg1", "--candidate",
                                  "pg2", "--force"], capture_output=True, text=True, timeout=40)
            assert out.returncode == 0, out.stdout + out.stderr
            want = [("pg1", "Replica", "running"), ("pg2", "Leader", "running")]
            assert roles(wait_for(pg1.cfg, lambda m: roles(m) == want, 30)) == want
            assert leader_key(srv) == "pg2"

            pg2.crash()  # the primary crashes: pg1 takes the leader key once its lease expires (ttl 10)
            m = wait_for(pg1.cfg, lambda m: ("pg1", "Leader", "running") in roles(m), 30)
            assert ("pg1", "Leader", "running") in roles(m), m
            assert leader_key(srv) == "pg1"
            pg2.stop()  # its PostgreSQL, left running without Patroni
            pg2.start()  # rejoins as a replica, rewound to the new timeline
            want = [("pg1", "Leader", "running"), ("pg2", "Replica", "running")]
            assert roles(wait_for(pg1.cfg, lambda m: roles(m) == want, 40)) == want
        finally:
            for m in (pg2, pg1):
                if m:
                    m.stop()
                    print(m.log()[-3000:])
    shutil.rmtree(workdir, ignore_errors=True)
