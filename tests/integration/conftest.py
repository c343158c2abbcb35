"""pytest fixtures: the server under test (`ledgerkv`), Debian's etcd (`etcd`) and a per-test factory.

`ledgerkv` starts LEDGERKV_BIN (or etcd when LEDGERKV_TARGET=etcd, to validate the suites themselves);
every server is stopped with SIGTERM at teardown and must exit cleanly.
"""
import os
import shutil
import tempfile

import pytest

import lkvtest


def _workdir(tag):
    return tempfile.mkdtemp(prefix="lkvtest-%s-" % tag)


class Factory:
    """Starts servers for one test or module and stops all of them at the end."""

    def __init__(self):
        self.servers = []
        self.dirs = []

    def start(self, kind=None, args=()):
        kind = kind or lkvtest.TARGET
        workdir = _workdir(kind)
        self.dirs.append(workdir)
        srv = lkvtest.Server(kind, workdir, args=args)
        self.servers.append(srv)
        srv.start()
        return srv

    def close(self):
        errors = []
        for srv in self.servers:
            try:
                srv.stop()
            except lkvtest.ServerError as e:
                errors.append(str(e))
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def ledgerkv():
    """The server under test, shared by one test module (tests use their own key prefixes)."""
    fac = Factory()
    srv = fac.start()
    yield srv
    fac.close()


@pytest.fixture(scope="module")
def etcd():
    """Debian's etcd, the reference for differential tests."""
    fac = Factory()
    srv = fac.start("etcd")
    yield srv
    fac.close()


@pytest.fixture
def server_factory():
    """Per-test factory: server_factory.start(kind=None, args=()) -> running lkvtest.Server."""
    fac = Factory()
    yield fac
    fac.close()


def pytest_report_header(config):
    if lkvtest.TARGET == "etcd":
        return "lkvtest target: etcd (%s)" % lkvtest.ETCD_BIN
    return "lkvtest target: ledgerkv (%s)" % os.environ.get("LEDGERKV_BIN", "<default build>")
