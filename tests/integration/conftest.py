"""pytest fixtures: the server under test (`ledgerkv`), Debian's etcd (`etcd`) and a per-test factory.

`ledgerkv` starts LEDGERKV_BIN (or etcd when LEDGERKV_TARGET=etcd, to validate the suites themselves);
every server is stopped with SIGTERM at teardown and must exit cleanly.
"""
import os

import pytest

import lkvtest


@pytest.fixture(scope="module")
def ledgerkv():
    """The server under test, shared by one test module (tests use their own key prefixes)."""
    with lkvtest.Factory() as fac:
        yield fac.start()


@pytest.fixture(scope="module")
def etcd():
    """Debian's etcd, the reference for differential tests."""
    with lkvtest.Factory() as fac:
        yield fac.start("etcd")


@pytest.fixture
def server_factory():
    """Per-test factory: server_factory.start(kind=None, args=()) -> running lkvtest.Server."""
    with lkvtest.Factory() as fac:
        yield fac


def pytest_report_header(config):
    if lkvtest.TARGET == "etcd":
        return "lkvtest target: etcd (%s)" % lkvtest.ETCD_BIN
    return "lkvtest target: ledgerkv (%s)" % os.environ.get("LEDGERKV_BIN", "<default build>")
