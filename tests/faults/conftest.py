"""Fault tests: real `viper` processes, a real redis-server, real signals, the tiny model.

Every test here is bounded twice: each wait has its own timeout, and the whole test is stopped by
SIGALRM after `FAULT_TEST_LIMIT_S` (then every process it started is stopped all the same).
"""

from __future__ import annotations

import signal

import pytest

from tests.faults.procs import Processes, remove, short_dir

FAULT_TEST_LIMIT_S = 150


class FaultTestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def hard_limit():
    def expire(signum, frame):
        raise FaultTestTimeout(f"the test ran past its hard limit of {FAULT_TEST_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(FAULT_TEST_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def data_dir():
    path = short_dir()
    yield path
    remove(path)


@pytest.fixture
def processes(tmp_path, request):
    procs = Processes(tmp_path)
    yield procs
    failed = getattr(request.node, "rep_call", None)
    procs.close()
    if failed is not None and failed.failed:
        print(procs.logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report
