"""Fixtures of the fuzz suite: one real server per test module, its users, and a liveness check.

Each module starts one ``taskstream-server`` process on a SQLite store of
its own and registers an admin and two workers once. Every case of every
target in the module talks to that one process, so a case that broke it (a
crash, a hang, a corrupted store) fails the cases after it too; and when the
module is done, :func:`site` checks the process is still alive and still
serves a normal request before stopping it.

The session ends with a table of the cases each target ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import TEST_INVITE_CODE, ServerProcess, SocketDriver, register_sync

from .budget import CASES, TALLY
from .served import PASSWORD, Site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data: Path = tmp_path_factory.mktemp("fuzz")
    with ServerProcess(store_url=f"sqlite:///{data}/fuzz.db") as server, requests.Session() as http:
        url = server.base_url
        admin = register_sync(
            url, "fuzz-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
        )
        worker = register_sync(url, "fuzz-worker", PASSWORD)
        worker2 = register_sync(url, "fuzz-worker-2", PASSWORD)
        partial = Site(server, http, admin, worker, worker2, "", "")
        closed = partial.new_scan("closed")
        reply = http.post(url + f"/api/scans/{closed}/close", headers=partial.auth(admin))
        assert reply.status_code == 200, reply.text
        site = Site(server, http, admin, worker, worker2, partial.new_scan("open"), closed)
        yield site
        site.assert_alive()
        errors = [r for r in server.log_records() if r.get("level") in ("error", "critical")]
        assert not errors, f"the server logged errors: {errors[:3]}"


@pytest.fixture(scope="module")
def sockets(site: Site) -> Iterator[SocketDriver]:
    driver = SocketDriver(site.server.base_url)
    yield driver
    driver.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLY:
        return
    terminalreporter.section(f"fuzz targets (TASKSTREAM_FUZZ_CASES={CASES})")
    terminalreporter.line("| target | cases | time (s) |")
    terminalreporter.line("|---|---:|---:|")
    for target, tally in sorted(TALLY.items()):
        terminalreporter.line(f"| {target} | {tally.cases} | {tally.seconds:.1f} |")
