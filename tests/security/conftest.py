"""Fixtures for the security suite: one real server for the package, accounts, a wire recorder.

Every HTTP answer and Socket.IO message a test here receives is recorded, and
after each test the recorder is searched for password hashes (the scheme's
marker and the very hashes the store holds): "hashes never leave the store"
is then checked on all the traffic the suite makes, not on one chosen route.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.contract.helpers import PASSWORD, SocketFactory, Users
from tests.support import TEST_INVITE_CODE, Api, RecordingApi, ServerProcess, Wire, register_sync


@pytest.fixture(scope="package")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security") / "security.db"


@pytest.fixture(scope="package")
def server(store_path: Path) -> Iterator[ServerProcess]:
    """The server most security tests talk to, on a SQLite file the tests can read."""
    with ServerProcess(store_url=f"sqlite:///{store_path}", cwd=store_path.parent) as process:
        yield process


@pytest.fixture(scope="package")
def users(server: ServerProcess) -> Users:
    """Two admins and two workers (each registration costs a full PBKDF2 hash)."""
    url, code = server.base_url, TEST_INVITE_CODE
    return Users(
        admin=register_sync(url, "sec-admin", PASSWORD, role="admin", invite_code=code),
        admin2=register_sync(url, "sec-admin-2", PASSWORD, role="admin", invite_code=code),
        worker=register_sync(url, "sec-worker", PASSWORD),
        worker2=register_sync(url, "sec-worker-2", PASSWORD),
    )


@pytest.fixture(scope="package")
def wire() -> Wire:
    return Wire()


def stored_hashes(store_path: Path) -> list[str]:
    """The password hashes in the store, read from its file as an attacker with a copy would."""
    with sqlite3.connect(store_path) as db:
        return [row[0] for row in db.execute("SELECT password_hash FROM users")]


@pytest.fixture(autouse=True)
def no_hash_on_the_wire(wire: Wire, store_path: Path) -> Iterator[None]:
    """After each test: nothing the server sent it holds a password hash."""
    start = len(wire.seen)
    yield
    if not store_path.exists():
        return
    leaks = wire.search(["pbkdf2", *stored_hashes(store_path)], since=start)
    assert not leaks, f"a password hash left the server: {leaks[:3]}"


@pytest.fixture
async def api(server: ServerProcess, wire: Wire) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield RecordingApi(server.base_url, session, wire)


@pytest.fixture
async def sockets(server: ServerProcess, wire: Wire) -> AsyncIterator[SocketFactory]:
    factory = SocketFactory(server.base_url, wire)
    yield factory
    await factory.close_all()
