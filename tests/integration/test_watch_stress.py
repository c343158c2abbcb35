"""Watch stress, sized for 2 cores (tests/go/watchstress): 10,000 watchers on one stream plus 1,000 streams
while 16 writers put small values to their keys and ~100 MB of large values that only a stalled client (a
stream that stops reading) watches. Every live watcher must get exactly its events, in order, while the
stalled client is still stalled; then the stalled client must get every event in order. The server's
anonymous memory must stay under a ceiling well below what buffering the stalled stream would take.
"""
import os
import subprocess
import threading
import time

import pytest

import lkvtest

BIG_BYTES = 1500 * 64 * 1024  # what the stalled client is sent
CEILING = 64 << 20  # growth of the server's anonymous memory allowed over the run

# Sanitizer builds keep freed memory in a quarantine (256 MB by default): keep it small so that the
# ceiling measures what the server holds, not what ASan delays reusing.
os.environ["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=8"]))


def rss_anon(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no RssAnon for %d" % pid)


class Sampler:
    """Samples a process's anonymous memory every 20 ms and keeps the maximum."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = rss_anon(pid)
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, rss_anon(self.pid))

    def stop(self):
        self.done.set()
        self.t.join()
        return self.peak


def test_watch_stress(server_factory):
    binary = lkvtest.go_build("watchstress")
    srv = server_factory.start()
    base = rss_anon(srv.proc.pid)
    sampler = Sampler(srv.proc.pid)
    started = time.monotonic()
    res = subprocess.run([binary, "-endpoint", srv.endpoint], capture_output=True, text=True, timeout=300,
                         env=lkvtest.child_env())
    peak = sampler.stop()
    assert res.returncode == 0 and "watchstress PASS" in res.stdout, \
        "watchstress failed (rc %d)\nstdout: %s\nstderr: %s" % (res.returncode, res.stdout, res.stderr[-6000:])
    assert peak - base < CEILING, "server memory grew by %d MB (from %d MB), ceiling %d MB" % (
        (peak - base) >> 20, base >> 20, CEILING >> 20)
    assert CEILING < BIG_BYTES  # the ceiling is below what an unbounded stalled stream would hold
    print("watch stress: %.1fs, server anon memory %d -> %d MB"
          % (time.monotonic() - started, base >> 20, peak >> 20))
