"""Integration-test harness: free loopback ports, ledgerkv/etcd server processes, gRPC stubs, etcdctl.

The same tests run against ledgerkv (LEDGERKV_BIN) or, with LEDGERKV_TARGET=etcd, against Debian's etcd,
which is how the suites themselves are validated. Every process is started under `setpriv --pdeathsig KILL`
(it dies with the test run), gets a lifetime limit, and is killed at interpreter exit if still running.
"""
import atexit
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import grpc

from etcd3 import etcdrpc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ETCD_BIN = os.environ.get("LEDGERKV_ETCD_BIN", "/usr/bin/etcd")
ETCDCTL_BIN = os.environ.get("LEDGERKV_ETCDCTL_BIN", "/usr/bin/etcdctl")
# "ledgerkv" (default) or "etcd": which server the `ledgerkv` fixture starts.
TARGET = os.environ.get("LEDGERKV_TARGET", "ledgerkv")
READY_TIMEOUT = 60.0  # sanitizer builds start slowly
STOP_TIMEOUT = 20.0  # sanitizer leak checks run at exit
MAX_LIFETIME = 900.0  # no server outlives a stuck test by more than this
GRPC_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
]

_live = set()
_live_lock = threading.Lock()


def _kill_all_at_exit():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


atexit.register(_kill_all_at_exit)


def peer_flags(name="default"):
    """Peer flags for a one-member server on a free port (every node listens on one, like etcd; the default
    2380 may be taken by another test's server)."""
    peer = "http://127.0.0.1:%d" % free_port()
    return ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster",
            "%s=%s" % (name, peer)]


def ledgerkv_bin():
    """Path of the server under test: LEDGERKV_BIN, else the default build directory's binary."""
    path = os.environ.get("LEDGERKV_BIN") or os.path.join(REPO, "build", "ledgerkv")
    if not os.access(path, os.X_OK):
        raise RuntimeError("ledgerkv binary not found at %s (set LEDGERKV_BIN)" % path)
    return path


def build_dir():
    """CMake build directory for test artefacts (LEDGERKV_BUILD_DIR, else <repo>/build-tests)."""
    path = os.environ.get("LEDGERKV_BUILD_DIR") or os.path.join(REPO, "build-tests")
    os.makedirs(path, exist_ok=True)
    return path


def sanitized():
    """True when the build dir is an ASan/UBSan build (LKV_SANITIZE in its CMake cache)."""
    try:
        with open(os.path.join(build_dir(), "CMakeCache.txt")) as f:
            return any(line.strip() == "LKV_SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


# Ports handed out by free_port: below the kernel's ephemeral range (32768 on), so that no outgoing
# connection holds one, and in turn through a counter shared by every test process (a file under flock):
# CI runs two test files at a time, and ports the kernel picks at random could coincide.
PORT_RANGE = (20000, 32000)
PORT_COUNTER = os.path.join(tempfile.gettempdir(), "lkvtest-next-port")


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port():
    """A loopback TCP port that was free a moment ago and that no other test process was given lately."""
    lo, hi = PORT_RANGE
    with open(PORT_COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        port = int(text) if text.isdigit() and lo <= int(text) < hi else lo
        for _ in range(hi - lo):
            candidate, port = port, (port + 1 if port + 1 < hi else lo)
            if _bindable(candidate):
                break
        else:
            raise AssertionError("no free port in %d..%d" % PORT_RANGE)
        f.seek(0)
        f.truncate()
        f.write(str(port))
    return candidate


def child_env(extra=None):
    """Environment for child processes: no proxies (everything is loopback)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    if extra:
        env.update(extra)
    return env


class ServerError(Exception):
    pass


class Server:
    """One server process ("ledgerkv" or "etcd") on 127.0.0.1 with its data dir and log file.

    Ports stay fixed across stop()/kill() and start(): a restarted etcd needs its recorded peer URL.
    """

    def __init__(self, kind, workdir, name="node1", args=()):
        assert kind in ("ledgerkv", "etcd")
        self.kind = kind
        self.name = name
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.log_path = os.path.join(workdir, "server.log")
        self.args = list(args)
        self.port = free_port()
        self.peer_port = free_port()
        self.initial_cluster = None  # default: this server alone at its peer port
        self.proc = None
        self._timer = None
        self._channel = None
        self._running = False
        self.starts = 0

    @property
    def endpoint(self):
        return "127.0.0.1:%d" % self.port

    @property
    def url(self):
        return "http://" + self.endpoint

    def command(self):
        # Both listen on a peer port (a one-member cluster can grow): a free one, not the default 2380.
        peer = "http://127.0.0.1:%d" % self.peer_port
        common = ["--name", self.name, "--data-dir", self.data_dir,
                  "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                  "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                  "--initial-cluster", self.initial_cluster or "%s=%s" % (self.name, peer),
                  "--initial-cluster-token", "lkv-test-%d" % self.port]
        return [ledgerkv_bin() if self.kind == "ledgerkv" else ETCD_BIN] + common + self.args

    def start(self, timeout=READY_TIMEOUT):
        """Start the process and wait until it answers Maintenance.Status; raises ServerError."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        os.makedirs(self.workdir, exist_ok=True)
        log = open(self.log_path, "ab")
        log.write(b"=== start %d: %s\n" % (self.starts, " ".join(self.command()).encode()))
        log.flush()
        self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + self.command(),
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=child_env(), start_new_session=True)
        log.close()
        self.starts += 1
        self._running = True
        with _live_lock:
            _live.add(self.proc)
        self._timer = threading.Timer(MAX_LIFETIME, self._expire, args=(self.proc,))
        self._timer.daemon = True
        self._timer.start()
        try:
            self._wait_ready(timeout)
        except Exception:
            self.kill()
            raise

    def _expire(self, proc):
        if proc.poll() is None:
            proc.kill()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("%s exited with %s before it was ready\n%s"
                                  % (self.kind, self.proc.returncode, self.log_tail()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                ch = grpc.insecure_channel(self.endpoint, options=GRPC_OPTIONS)
                try:
                    etcdrpc.MaintenanceStub(ch).Status(etcdrpc.StatusRequest(), timeout=2)
                finally:
                    ch.close()
                return
            except (OSError, grpc.RpcError) as e:
                last = e
                time.sleep(0.05)
        raise ServerError("%s not ready after %.0fs (last error: %r)\n%s"
                          % (self.kind, timeout, last, self.log_tail()))

    def _forget(self):
        if self._timer:
            self._timer.cancel()
            self._timer = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        self._running = False
        with _live_lock:
            _live.discard(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL the process (crash simulation) and reap it."""
        if not self._running:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)
        self._forget()

    def stop(self):
        """SIGTERM and wait; raises ServerError unless the process stopped cleanly.

        ledgerkv must exit 0; etcd re-raises the signal after its cleanup, so -SIGTERM is clean for it.
        """
        if not self._running:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self._forget()
            raise ServerError("%s did not stop within %.0fs of SIGTERM\n%s"
                              % (self.kind, STOP_TIMEOUT, self.log_tail()))
        self._forget()
        clean = (0,) if self.kind == "ledgerkv" else (0, -signal.SIGTERM)
        if rc not in clean:
            raise ServerError("%s exited with status %s (at or before SIGTERM)\n%s"
                              % (self.kind, rc, self.log_tail()))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_log(self, text, count=1, timeout=10.0):
        """True once `text` occurs `count` times in the log (checked until timeout)."""
        deadline = time.monotonic() + timeout
        while self.log_text().count(text) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def log_tail(self, lines=40):
        return "---- %s log tail (%s) ----\n%s" % (
            self.kind, self.log_path, "\n".join(self.log_text().splitlines()[-lines:]))

    # gRPC access -------------------------------------------------------------------------------
    def channel(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.endpoint, options=GRPC_OPTIONS)
        return self._channel

    def kv(self):
        return etcdrpc.KVStub(self.channel())


class Factory:
    """Starts servers (each in its own temp dir) and stops all of them, cleanly, in close()."""

    def __init__(self):
        self.servers = []
        self.dirs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self, kind=None, args=()):
        """Start a server of kind (default: TARGET) with extra args; returns the running Server."""
        kind = kind or TARGET
        attempts = 0
        while True:
            workdir = tempfile.mkdtemp(prefix="lkvtest-%s-" % kind)
            self.dirs.append(workdir)
            srv = Server(kind, workdir, args=args)
            self.servers.append(srv)
            try:
                srv.start()
                return srv
            except ServerError:
                attempts += 1
                # another process may have taken a port between free_port() and bind()
                if attempts == 3 or "in use" not in srv.log_text().lower():
                    raise

    def close(self):
        """Stop every server; raises ServerError listing those that did not stop cleanly."""
        errors = []
        for srv in self.servers:
            try:
                srv.stop()
            except ServerError as e:
                errors.append(str(e))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        if errors:
            raise ServerError("\n".join(errors))


def etcdctl(server, *args, input=None, check=True, timeout=30, env=None):
    """Run etcdctl (API v3) against server; returns CompletedProcess with str stdout/stderr.

    With check, a non-zero exit raises AssertionError showing both streams.
    """
    cmd = [ETCDCTL_BIN, "--endpoints=" + server.endpoint, "--dial-timeout=5s",
           "--command-timeout=20s"] + [str(a) for a in args]
    res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                         env=child_env(dict({"ETCDCTL_API": "3"}, **(env or {}))))
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d)\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), res.returncode, res.stdout, res.stderr))
    return res


def go_build(program, src=None):
    """Builds tests/go/<program> (or the Go program in src) in GOPATH mode against Debian's Go packages into
    the build dir and returns the binary's path; a lock serialises builds of concurrent test sessions. The
    compile cache (.gocache at the repository's root) is shared by the release and ASan runs: compiling
    clientv3's dependencies once instead of once per build saves most of a minute of CI."""
    out_dir = build_dir()
    binary = os.path.join(out_dir, program)
    env = child_env({
        "GO111MODULE": "off",
        "GOPATH": "%s:/usr/share/gocode" % os.path.join(out_dir, "gopath"),
        "GOCACHE": os.path.join(REPO, ".gocache"),
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
    })
    with open(os.path.join(out_dir, program + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = subprocess.run(["go", "build", "-o", binary, "."], cwd=src or os.path.join(REPO, "tests", "go", program),
                             env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, "go build of %s failed:\n%s%s" % (program, res.stdout, res.stderr)
    return binary


def parse_semver(text):
    """(major, minor, patch) of a semantic version string, or None if it is not one."""
    m = re.fullmatch(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                     r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?", text)
    return tuple(int(x) for x in m.groups()) if m else None
