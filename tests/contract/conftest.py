"""Fixtures for the contract suite: one real server per store per session, users, clients.

Every test that talks to the shared ``server`` runs twice: against a server on
SQLite (the embedded default) and against one on MongoDB (``--store
mongodb://...`` on the session's secantus server, or the real server
``TASKSTREAM_TEST_MONGODB_URI`` names).

Registering costs a PBKDF2 hash (about a quarter of a second), so the
session registers two admins and two workers once and tests share them; a
test that needs a pristine user registers its own with ``unique_name``.
Every test works in scans it creates, so tests do not see each other's tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import TEST_INVITE_CODE, Api, ServerProcess, register_sync
from tests.support.mongo import mongo_url

from .helpers import PASSWORD, SocketFactory, Users, new_scan


@pytest.fixture(scope="session", params=["sqlite", "mongodb"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The server every contract test talks to, on a SQLite or a MongoDB store of its own."""
    data: Path = tmp_path_factory.mktemp(f"contract-{request.param}")
    if request.param == "mongodb":
        request.getfixturevalue("mongo_server")
        store_url = mongo_url(data)
    else:
        store_url = f"sqlite:///{data}/contract.db"
    with ServerProcess(store_url=store_url) as process:
        yield process


@pytest.fixture(scope="session")
def users(server: ServerProcess) -> Users:
    """Two admins and two workers, registered once for the whole session."""
    url, code = server.base_url, TEST_INVITE_CODE
    return Users(
        admin=register_sync(url, "admin-one", PASSWORD, role="admin", invite_code=code),
        admin2=register_sync(url, "admin-two", PASSWORD, role="admin", invite_code=code),
        worker=register_sync(url, "worker-one", PASSWORD),
        worker2=register_sync(url, "worker-two", PASSWORD),
    )


@pytest.fixture
async def api(server: ServerProcess) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(server.base_url, session)


@pytest.fixture
async def scan_id(api: Api, users: Users) -> str:
    """A fresh open scan, created by the first admin."""
    return await new_scan(api, users.admin)


@pytest.fixture
async def sockets(server: ServerProcess) -> AsyncIterator[SocketFactory]:
    factory = SocketFactory(server.base_url)
    yield factory
    await factory.close_all()
