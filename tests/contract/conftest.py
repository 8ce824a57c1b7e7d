"""Fixtures for the contract suite: one real server per session, a few users, clients.

Registering costs a PBKDF2 hash (about a quarter of a second), so the
session registers two admins and two workers once and tests share them;
a test that needs a pristine user registers its own with
:func:`unique_name`. Every test works in scans it creates, so tests do not
see each other's tasks.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    Api,
    LiveSocket,
    ServerProcess,
    register_sync,
)

PASSWORD = "correct horse battery"


def unique_name(prefix: str = "u") -> str:
    """A username no other test uses (3–32 characters of the allowed set)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class Users:
    admin: Account
    admin2: Account
    worker: Account
    worker2: Account


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The server every contract test talks to, on a SQLite store of its own."""
    data: Path = tmp_path_factory.mktemp("contract-store")
    with ServerProcess(store_url=f"sqlite:///{data}/contract.db") as process:
        yield process


@pytest.fixture(scope="session")
def users(server: ServerProcess) -> Users:
    url = server.base_url
    return Users(
        admin=register_sync(url, "admin-one", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE),
        admin2=register_sync(
            url, "admin-two", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
        ),
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
    reply = await api.post("/api/scans", {"name": "a scan"}, token=users.admin.token)
    assert reply.status == 201, reply.text
    return str(reply.body["scan"]["id"])


@pytest.fixture
async def sockets(server: ServerProcess) -> AsyncIterator[SocketFactory]:
    factory = SocketFactory(server.base_url)
    yield factory
    await factory.close_all()


class SocketFactory:
    """Opens Socket.IO connections for a test and closes them all after it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opened: list[LiveSocket] = []

    def new(self, token: str | None) -> LiveSocket:
        socket = LiveSocket(self.base_url, token)
        self.opened.append(socket)
        return socket

    async def connect(self, account: Account) -> LiveSocket:
        return await self.new(account.token).connect()

    async def joined(self, account: Account, scan: str) -> LiveSocket:
        """A socket for ``account`` that has joined ``scan`` (the join ack must be ok)."""
        socket = await self.connect(account)
        ack = await socket.call("scan:join", {"scan_id": scan})
        assert ack["ok"] is True, ack
        return socket

    async def close_all(self) -> None:
        for socket in self.opened:
            await socket.close()
