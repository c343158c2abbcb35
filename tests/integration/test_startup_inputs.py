"""etcd's start-up inputs, end to end: ETCD_* variables, a YAML --config-file, a one-member etcd 3.4 command
line, and refused flags. Each input is given to ledgerkv and, as the reference, to Debian's etcd 3.4: both must
serve on the configured port (checked with etcdctl), or both must refuse."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import lkvtest
from tlspki import pki  # noqa: F401 (a fixture)

KINDS = ["ledgerkv", "etcd"]


def binary(kind):
    return lkvtest.ledgerkv_bin() if kind == "ledgerkv" else lkvtest.ETCD_BIN


class Proc:
    """One server started with exactly the given arguments and extra environment."""

    def __init__(self, kind, args, env=None, port=None):
        self.port = port
        self.workdir = tempfile.mkdtemp(prefix="lkv-inputs-")
        self.log_path = os.path.join(self.workdir, "log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--", binary(kind)] + args,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=lkvtest.child_env(env), cwd=self.workdir,
                                         start_new_session=True)

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_serving(self, timeout=lkvtest.READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "exited with %s:\n%s" % (self.proc.returncode, self.log())
            res = lkvtest.etcdctl(self, "put", "inputs", "ok", check=False, timeout=15)
            if res.returncode == 0:
                got = lkvtest.etcdctl(self, "get", "inputs", "--print-value-only")
                assert got.stdout.strip() == "ok"
                return
            time.sleep(0.2)
        raise AssertionError("not serving on %s:\n%s" % (self.endpoint, self.log()))

    def wait_exit(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=lkvtest.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def procs():
    started = []

    def start(kind, args, env=None, port=None):
        p = Proc(kind, args, env, port)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def urls():
    c, p = lkvtest.free_port(), lkvtest.free_port()
    return c, p, "http://127.0.0.1:%d" % c, "http://127.0.0.1:%d" % p


@pytest.mark.parametrize("kind", KINDS)
def test_environment_variables(procs, kind):
    c, _, curl, purl = urls()
    env = {"ETCD_NAME": "envnode", "ETCD_DATA_DIR": "envdata", "ETCD_LISTEN_CLIENT_URLS": curl,
           "ETCD_ADVERTISE_CLIENT_URLS": curl, "ETCD_LISTEN_PEER_URLS": purl,
           "ETCD_INITIAL_ADVERTISE_PEER_URLS": purl, "ETCD_INITIAL_CLUSTER": "envnode=" + purl,
           "ETCD_MAX_WALS": "10", "ETCD_NOT_A_FLAG": "1"}
    p = procs(kind, [], env, c)
    p.wait_serving()
    assert os.path.isdir(os.path.join(p.workdir, "envdata"))
    log = p.log()
    assert "unrecognized environment variable ETCD_NOT_A_FLAG=1" in log
    if kind == "ledgerkv":
        assert "--max-wals=10 ignored: " in log


@pytest.mark.parametrize("kind", KINDS)
def test_env_shadowed_by_flag(procs, kind):
    p = procs(kind, ["--name", "x"], {"ETCD_NAME": "y"})
    assert p.wait_exit() != 0
    assert ('conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag '
            '(either unset environment variable or disable flag)') in p.log()


@pytest.mark.parametrize("kind", KINDS)
def test_config_file(procs, kind):
    c, _, curl, purl = urls()
    ignored = lkvtest.free_port()
    workdir = tempfile.mkdtemp(prefix="lkv-inputs-yaml-")
    try:
        path = os.path.join(workdir, "etcd.yaml")
        with open(path, "w") as f:
            f.write("name: filenode\n"
                    "data-dir: %s\n"
                    "listen-client-urls: %s\n"
                    "advertise-client-urls: %s\n"
                    "listen-peer-urls: %s\n"
                    "initial-advertise-peer-urls: %s\n"
                    "initial-cluster: filenode=%s\n"
                    "initial-cluster-state: new\n"
                    "initial-cluster-token: t1\n"
                    "heartbeat-interval: 100\n"
                    "election-timeout: 1000\n"
                    "max-txn-ops: 64\n"
                    "enable-v2: false\n"
                    "log-outputs: [stderr]\n"
                    "client-transport-security:\n"
                    "  client-cert-auth: false\n"
                    % (os.path.join(workdir, "data"), curl, curl, purl, purl, purl))
        # The flags and variables beside a config file are ignored, by etcd and by ledgerkv.
        p = procs(kind, ["--config-file", path, "--listen-client-urls", "http://127.0.0.1:%d" % ignored],
                  {"ETCD_MAX_TXN_OPS": "1"}, c)
        p.wait_serving()
        assert os.path.isdir(os.path.join(workdir, "data"))
        # max-txn-ops: 64 from the file, not 1 from the environment
        ops = " ".join("put k%d v" % i for i in range(10))
        lkvtest.etcdctl(p, "txn", input="\n\n%s\n\n" % ops.replace(" put", "\nput"))
        if kind == "ledgerkv":
            assert "command-line flags other than --config-file are ignored" in p.log()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.parametrize("kind", KINDS)
def test_single_member_etcd_command_line(procs, kind):
    c, _, curl, purl = urls()
    args = ["--name", "a", "--initial-advertise-peer-urls", purl, "--listen-peer-urls", purl,
            "--listen-client-urls", curl, "--advertise-client-urls", curl, "--initial-cluster", "a=" + purl,
            "--initial-cluster-token", "t", "--initial-cluster-state", "new", "--data-dir", "D"]
    p = procs(kind, args, None, c)
    p.wait_serving()


@pytest.mark.parametrize("kind", KINDS)
def test_local_name_missing_from_initial_cluster(procs, kind):
    c, _, curl, purl = urls()
    p = procs(kind, ["--name", "b", "--listen-client-urls", curl, "--advertise-client-urls", curl,
                     "--listen-peer-urls", purl, "--initial-cluster", "a=" + purl], None, c)
    assert p.wait_exit() != 0
    assert 'couldn\'t find local name "b" in the initial cluster configuration' in p.log()


@pytest.mark.parametrize("args,reason", [
    (["--auth-token", "jwt,pub-key=/k.pub,priv-key=/k,sign-method=RS256"],
     "--auth-token: cannot read a PEM key from the key file"),
    (["--auth-token", "jwt,pub-key=/k.pub,sign-method=RS1"], "--auth-token: auth: invalid auth signature method"),
    (["--name", "a", "--initial-cluster", "a=https://127.0.0.1:1,b=https://127.0.0.1:2",
      "--initial-advertise-peer-urls", "https://127.0.0.1:1", "--listen-peer-urls", "https://127.0.0.1:1"],
     "TLS key/cert (--peer-cert-file, --peer-key-file) must be provided for peer url https://127.0.0.1:1"),
    (["--initial-cluster-state", "existing"],
     "--initial-cluster-state=existing: --initial-cluster must also name members of the running cluster"),
    (["--enable-v2"], "--enable-v2: the v2 API is not implemented"),
])
def test_refused_flags_exit_with_reason(procs, args, reason):
    p = procs("ledgerkv", args)
    assert p.wait_exit() != 0
    assert reason in p.log()
    assert "ready to serve" not in p.log()


def test_help_lists_every_etcd_flag():
    """Every flag of the installed etcd's --help appears in ledgerkv --help, so the table cannot miss one."""
    ours = subprocess.run([lkvtest.ledgerkv_bin(), "--help"], capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run([lkvtest.ETCD_BIN, "--help"], capture_output=True, text=True).stdout
    flags = [line.split()[0] for line in theirs.splitlines() if line.startswith("  --")]
    assert len(flags) >= 80
    missing = [f for f in flags if f not in ours.split()]
    assert not missing, missing


def kubeadm_args(c, p, m, scheme, pki=None):
    """The flags of kubeadm's etcd static-pod manifest (v1.2x), on loopback ports."""
    args = ["--advertise-client-urls=%s://127.0.0.1:%d" % (scheme, c), "--data-dir=kdata",
            "--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s",
            "--initial-advertise-peer-urls=%s://127.0.0.1:%d" % (scheme, p),
            "--initial-cluster=node1=%s://127.0.0.1:%d" % (scheme, p),
            "--listen-client-urls=%s://127.0.0.1:%d" % (scheme, c),
            "--listen-metrics-urls=http://127.0.0.1:%d" % m,
            "--listen-peer-urls=%s://127.0.0.1:%d" % (scheme, p), "--name=node1", "--snapshot-count=10000"]
    if scheme == "https":  # kubeadm's files (/etc/kubernetes/pki/etcd/...) made by tlspki instead
        args += ["--cert-file=" + pki.path("server.pem"), "--client-cert-auth=true",
                 "--key-file=" + pki.path("server.key"), "--peer-cert-file=" + pki.path("member.pem"),
                 "--peer-client-cert-auth=true", "--peer-key-file=" + pki.path("member.key"),
                 "--peer-trusted-ca-file=" + pki.path("ca.pem"), "--trusted-ca-file=" + pki.path("ca.pem")]
    return args


@pytest.mark.parametrize("kind", KINDS)
def test_kubeadm_manifest_with_tls_serves(procs, pki, kind):
    """kubeadm's manifest as it is, mutual TLS on both ports: the server serves a client with a certificate
    of the cluster's CA (as kube-apiserver connects) and nobody without one."""
    c, p, m = lkvtest.free_port(), lkvtest.free_port(), lkvtest.free_port()
    proc = procs(kind, kubeadm_args(c, p, m, "https", pki), None, c)
    tls = {"ETCDCTL_CACERT": pki.path("ca.pem"), "ETCDCTL_CERT": pki.path("client.pem"),
           "ETCDCTL_KEY": pki.path("client.key")}
    deadline = time.monotonic() + lkvtest.READY_TIMEOUT
    while lkvtest.etcdctl(proc, "put", "inputs", "tls", check=False, env=tls).returncode != 0:
        assert time.monotonic() < deadline and proc.proc.poll() is None, proc.log()
        time.sleep(0.2)
    assert lkvtest.etcdctl(proc, "get", "inputs", "--print-value-only", env=tls).stdout.strip() == "tls"
    anonymous = {"ETCDCTL_CACERT": pki.path("ca.pem")}
    assert lkvtest.etcdctl(proc, "--command-timeout=3s", "get", "inputs", check=False, env=anonymous).returncode != 0


@pytest.mark.parametrize("kind", KINDS)
def test_kubeadm_flags_without_tls_start(procs, kind):
    """kubeadm's other flags never stop start-up: the manifest's command line with http URLs and no TLS files."""
    c, p, m = lkvtest.free_port(), lkvtest.free_port(), lkvtest.free_port()
    proc = procs(kind, kubeadm_args(c, p, m, "http"), None, c)
    proc.wait_serving()


@pytest.mark.parametrize("kind", KINDS)
def test_second_server_on_a_taken_port_stops(procs, kind):
    """A second server on the client or metrics port of a running one stops with "address already in use",
    as etcd does (ledgerkv's loops share a port through SO_REUSEPORT, which must not let another process of
    the same user join it and take part of its connections); the first keeps serving."""
    c, _, curl, purl = urls()
    m = lkvtest.free_port()
    murl = "http://127.0.0.1:%d" % m
    first = procs(kind, ["--name", "a", "--listen-client-urls", curl, "--advertise-client-urls", curl,
                         "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
                         "--initial-cluster", "a=" + purl, "--listen-metrics-urls", murl], None, c)
    first.wait_serving()
    for taken in (curl, murl):
        _, _, curl2, purl2 = urls()
        client = curl2 if taken == murl else taken
        second = procs(kind, ["--name", "b", "--listen-client-urls", client, "--advertise-client-urls", client,
                              "--listen-peer-urls", purl2, "--initial-advertise-peer-urls", purl2,
                              "--initial-cluster", "b=" + purl2] + (["--listen-metrics-urls", murl]
                                                                    if taken == murl else []))
        assert second.wait_exit() != 0, taken
        assert "address already in use" in second.log().lower(), second.log()
    first.wait_serving()
