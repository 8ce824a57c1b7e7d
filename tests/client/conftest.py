"""Fixtures of the Python client's tests: a real server process, and clients signed in to it.

Each test gets its own server on a SQLite file in a temporary folder, so
stopping and restarting it disturbs no other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from taskstream_core.client import TaskStreamClient
from tests.client.helpers import PASSWORD, unique_name
from tests.support import TEST_INVITE_CODE, ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The reference server, started for this test alone."""
    with ServerProcess(store_url=f"sqlite:///{tmp_path}/client.db") as process:
        yield process


@pytest.fixture
async def admin(server: ServerProcess) -> AsyncIterator[TaskStreamClient]:
    """A connected client of a newly registered admin."""
    client = await TaskStreamClient.register(
        server.base_url, unique_name("admin"), PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    async with client:
        yield client


@pytest.fixture
async def worker(server: ServerProcess) -> AsyncIterator[TaskStreamClient]:
    """A connected client of a newly registered worker."""
    client = await TaskStreamClient.register(server.base_url, unique_name("worker"), PASSWORD)
    async with client:
        yield client
