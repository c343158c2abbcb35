"""The CPU budget inside a real cgroup with a CPU quota: `ledgerkv cpus` and the server's thread count follow
the quota, not the host's cores. Needs root and a writable cgroup cpu controller (v1 or v2); where the
machine does not allow it, the cgroup tests are skipped with the reason."""
import os
import re
import subprocess
import sys
import time
import types

import pytest

import lkvtest


def _cpu_mounts():
    """(version, mount point) of every cgroup hierarchy with the cpu controller, from mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            fstype, opts = rfields[0], rfields[-1].split(",")
            if fstype == "cgroup" and "cpu" in opts:
                found.append((1, fields[4]))
            elif fstype == "cgroup2":
                ctl = os.path.join(fields[4], "cgroup.controllers")
                if os.path.exists(ctl) and "cpu" in open(ctl).read().split():
                    found.append((2, fields[4]))
    return found


@pytest.fixture
def quota_cgroup():
    """A function making a child cgroup with the given quota in CPUs; removes them afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a cgroup with a CPU quota")
    mounts = _cpu_mounts()
    if not mounts:
        pytest.skip("no cgroup hierarchy with the cpu controller is mounted")
    version, mount = mounts[0]
    made = []

    def make(cpus):
        path = os.path.join(mount, "lkvtest-%d-%d" % (os.getpid(), len(made)))
        try:
            os.mkdir(path)
        except OSError as e:
            pytest.skip("cannot create a cgroup under %s: %s" % (mount, e))
        made.append(path)
        quota = int(cpus * 100000)
        if version == 1:
            with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                f.write("100000")
            with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                f.write(str(quota))
        else:
            with open(os.path.join(path, "cpu.max"), "w") as f:
                f.write("%d 100000" % quota)
        return path

    yield make
    for path in reversed(made):
        for _ in range(50):  # the processes in it must have exited before rmdir succeeds
            try:
                os.rmdir(path)
                break
            except OSError:
                time.sleep(0.1)


def _run_in(cgroup, argv, **kw):
    return subprocess.run(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup] + argv,
                          capture_output=True, text=True, timeout=60, **kw)


def test_cpus_prints_budget_first():
    out = subprocess.run([lkvtest.ledgerkv_bin(), "cpus"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert re.fullmatch(r"\d+", first), out.stdout
    assert 1 <= int(first) <= os.cpu_count()
    assert "affinity" in out.stdout


def test_bad_flags_are_refused():
    out = subprocess.run([lkvtest.ledgerkv_bin(), "--bogus"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "flag provided but not defined: --bogus" in out.stderr
    out = subprocess.run([lkvtest.ledgerkv_bin(), "--cpu-sample-interval", "0"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2
    assert "--cpu-sample-interval" in out.stderr


@pytest.mark.parametrize("quota,want", [(0.5, 1), (1.5, 2)])
def test_cpus_follows_quota(quota_cgroup, quota, want):
    cg = quota_cgroup(quota)
    out = _run_in(cg, [lkvtest.ledgerkv_bin(), "cpus"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert int(lines[0]) == min(want, len(os.sched_getaffinity(0))), out.stdout
    assert os.path.basename(cg) in out.stdout  # names the file the limit came from


def test_cpus_reports_exact_share_and_throttling(quota_cgroup):
    cg = quota_cgroup(0.1)
    # A busy loop in the cgroup for half a second runs out of a tenth of a CPU in every 100 ms period.
    spin = _run_in(cg, [sys.executable, "-c", "import time\nend = time.time() + 0.5\nwhile time.time() < end: pass"])
    assert spin.returncode == 0, spin.stderr
    out = _run_in(cg, [lkvtest.ledgerkv_bin(), "cpus"])
    assert out.returncode == 0, out.stderr
    assert "exact: 0.10" in out.stdout, out.stdout
    throttled = re.search(r"^throttled periods: (\d+)$", out.stdout, re.M)
    assert throttled and int(throttled.group(1)) >= 1, out.stdout


def test_cpus_without_quota_says_so():
    out = subprocess.run([lkvtest.ledgerkv_bin(), "cpus", "--root", "/nonexistent-root"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "throttled periods: no quota" in out.stdout, out.stdout


def test_server_sizes_threads_from_quota(quota_cgroup, tmp_path):
    cg = quota_cgroup(0.5)
    port = lkvtest.free_port()
    url = "http://127.0.0.1:%d" % port
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, "setpriv", "--pdeathsig", "KILL", "--",
             lkvtest.ledgerkv_bin(), "--data-dir", str(tmp_path / "data"), "--listen-client-urls", url
             ] + lkvtest.peer_flags(),
            stdout=out, stderr=out, env=lkvtest.child_env())
    try:
        deadline = time.monotonic() + 60
        while "ready to serve" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        text = log.read_text()
        assert "ready to serve" in text, text
        # One thread per CPU we may run on; the gate lets the budget's one run at once.
        assert "%d worker threads, 1 may run at once" % len(os.sched_getaffinity(0)) in text, text
        res = lkvtest.etcdctl(types.SimpleNamespace(endpoint="127.0.0.1:%d" % port), "put", "k", "v")
        assert res.stdout == "OK\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()
