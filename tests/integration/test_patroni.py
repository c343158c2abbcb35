"""Patroni (Debian's patroni 3.0, PostgreSQL 15) with ledgerkv as its DCS through etcd3's JSON gateway.

One PostgreSQL is bootstrapped by Patroni on ledgerkv (Patroni's `etcd3:` settings: /version, then the
/v3/ routes: lease grant and keep-alive, txns, ranges, a watch); `patronictl list` shows it as the
leader, the leader key /service/<scope>/leader holds its name in ledgerkv, and after ledgerkv restarts the
cluster is still healthy: the same leader on the same timeline, PostgreSQL still a primary. Skipped when
the packages are not installed (scripts/deps.sh --test installs them). The failover, replica and
pg_rewind parts of issue 15 item 5 are not covered yet.
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


def config(workdir, lkv_port):
    api, pg = lkvtest.free_port(), lkvtest.free_port()
    return """scope: %(scope)s
namespace: /service/
name: pg1
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
  authentication:
    superuser: {username: postgres, password: pw}
    replication: {username: replicator, password: rpw}
  parameters:
    unix_socket_directories: %(dir)s
  pg_hba:
  - host all all 127.0.0.1/32 md5
  - host replication replicator 127.0.0.1/32 md5
""" % {"scope": SCOPE, "api": api, "pg": pg, "lkv": lkv_port, "dir": workdir, "bin": PG_BIN}, pg


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


def test_patroni_on_ledgerkv():
    workdir = tempfile.mkdtemp(prefix="lkvtest-patroni-")
    if os.getuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(workdir, pw.pw_uid, pw.pw_gid)
    with lkvtest.Factory() as f:
        srv = f.start("ledgerkv")
        text, pg_port = config(workdir, srv.port)
        cfg = os.path.join(workdir, "patroni.yml")
        with open(cfg, "w") as fh:
            fh.write(text)
        os.chmod(cfg, 0o644)
        log = open(os.path.join(workdir, "patroni.log"), "wb")
        proc = subprocess.Popen(as_postgres() + [PATRONI, cfg], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
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
            proc.send_signal(signal.SIGTERM)  # Patroni stops PostgreSQL and leaves
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
            with open(os.path.join(workdir, "patroni.log"), "rb") as fh:
                print(fh.read().decode(errors="replace")[-4000:])
    shutil.rmtree(workdir, ignore_errors=True)
