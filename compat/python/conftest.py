"""Shared settings of the Python cases, and the hook that records each case's outcome.

Environment (set by scripts/compat.sh):
  TESSERA_HOST, TESSERA_PORT   where clients connect (the gateway, or the wire-log proxy in front of it)
  TESSERA_UNSHARDED            an unsharded keyspace (commerce)
  TESSERA_SHARDED              a sharded keyspace with the suite's tables in its VSchema (customer)
  COMPAT_RESULTS               JSON lines file that gets one record per case (optional)
"""

import json
import os
import time

import pytest

HOST = os.environ.get("TESSERA_HOST", "127.0.0.1")
PORT = int(os.environ.get("TESSERA_PORT", "15306"))
UNSHARDED = os.environ.get("TESSERA_UNSHARDED", "commerce")
SHARDED = os.environ.get("TESSERA_SHARDED", "customer")
USER = os.environ.get("TESSERA_USER", "root")
PASSWORD = os.environ.get("TESSERA_PASSWORD", "")


def first_error_line(excinfo):
    exc = excinfo.value
    name = type(exc).__name__
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return ("%s: %s" % (name, line))[:400]


_starts = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _starts[item.nodeid] = time.time()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    path = os.environ.get("COMPAT_RESULTS")
    if not path:
        return
    # one record per case: its failure wherever it happened, else its pass after the call
    failed = report.failed
    if not (failed or (report.when == "call") or report.skipped):
        return
    if item.stash.get(_recorded, False):
        return
    if report.when == "setup" and not failed and not report.skipped:
        return
    item.stash[_recorded] = True
    client = getattr(item.module, "CLIENT", item.module.__name__)
    status = "PASS" if report.passed else ("SKIP" if report.skipped else "FAIL")
    error = ""
    if call.excinfo is not None and status != "PASS":
        error = first_error_line(call.excinfo)
    rec = {
        "client": client,
        "case": item.name,
        "status": status,
        "error": error,
        "start": _starts.get(item.nodeid, time.time()),
        "end": time.time(),
        "detail": str(report.longrepr)[-6000:] if failed else "",
    }
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")


_recorded = pytest.StashKey[bool]()
