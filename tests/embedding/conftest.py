"""The contract suite's fixtures, pointed at the aiohttp example instead of the reference server.

``server`` here starts ``examples/aiohttp_app/app.py`` as a real process (the way
``ServerProcess`` starts ``taskstream-server``, on a SQLite store of its own); the
fixtures the contract tests take (``users``, ``api``, ``scan_id``) are the contract
suite's own, imported, so the tests in this folder run unchanged against it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.conftest import api, scan_id, users
from tests.support import ServerProcess

__all__ = ["EXAMPLE", "ExampleProcess", "api", "scan_id", "server", "users"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "aiohttp_app" / "app.py"


class ExampleProcess(ServerProcess):
    """The aiohttp example as a child process: same lifecycle, health check and output capture."""

    @property
    def command(self) -> list[str]:
        store = ["--store", self.store_url] if self.store_url is not None else []
        return [sys.executable, str(EXAMPLE), "--host", self.host, "--port", str(self.port), *store]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The aiohttp example every test in this folder talks to, on a SQLite store of its own."""
    data: Path = tmp_path_factory.mktemp("embedding")
    with ExampleProcess(store_url=f"sqlite:///{data}/aiohttp.db") as process:
        yield process
