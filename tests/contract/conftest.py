"""Fixtures for the contract suite: one real server per integration and store, users, clients.

Every test that talks to the shared ``server`` runs against each integration of the core
that serves the contract, started as a real process:

- ``sanic``: the reference server (``python -m taskstream_server``), on a SQLite store,
  on a MongoDB one (``--store mongodb://...`` on the session's secantus server, or the
  real server ``TASKSTREAM_TEST_MONGODB_URI`` names) and on the in-memory one;
- ``aiohttp``: the aiohttp example (``examples/aiohttp_app/app.py``), on SQLite.

A test about something only some integrations have (Socket.IO, which the aiohttp example
replaces with Server-Sent Events; the reference server's web pages, metrics and logs) says
so with ``@pytest.mark.integrations("sanic")``, on the test or as the module's
``pytestmark``; it then runs against those integrations' servers only. A test that hosts
an integration's app itself (to make its store fail) takes ``integration``, the name, and
is parametrized the same way. Tests that start a server of their own (the reference
server's command line, restarts) take neither and run once.

Registering costs a PBKDF2 hash (about a quarter of a second), so the session registers
two admins and two workers once per server and tests share them; a test that needs a
pristine user registers its own with ``unique_name``. Every test works in scans it
creates, so tests do not see each other's tasks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    AiohttpExampleProcess,
    Api,
    ServerProcess,
    register_sync,
)
from tests.support.mongo import mongo_url
from tests.support.sse import event_stream

from .helpers import PASSWORD, Join, SocketFactory, Users, new_scan


@dataclass(frozen=True, slots=True)
class Served:
    """One way the contract is served: an integration of the core on one store."""

    integration: str
    store: str

    def __str__(self) -> str:
        return f"{self.integration}-{self.store}"


#: Every server the contract tests run against, in the order they run.
SERVED: Final = (
    Served("sanic", "sqlite"),
    Served("sanic", "mongodb"),
    Served("sanic", "memory"),
    Served("aiohttp", "sqlite"),
)
#: The process that serves each integration, by the name an ``integrations`` marker gives.
PROCESSES: Final[Mapping[str, type[ServerProcess]]] = {
    "sanic": ServerProcess,
    "aiohttp": AiohttpExampleProcess,
}
INTEGRATIONS: Final = frozenset(PROCESSES)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integrations(*names): run only against these integrations' servers "
        f"(of {', '.join(sorted(INTEGRATIONS))}); unmarked tests run against every one",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrizes ``server`` (wherever a test needs it, directly or through another fixture)
    over the servers of the integrations the test's ``integrations`` marker names, or of all;
    a test that hosts an app itself takes ``integration`` instead: their names."""
    marker = metafunc.definition.get_closest_marker("integrations")
    wanted = set(marker.args) if marker is not None else INTEGRATIONS
    if not wanted or not wanted <= INTEGRATIONS:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: integrations() takes some of {sorted(INTEGRATIONS)}"
        )
    if "server" in metafunc.fixturenames:
        served = [s for s in SERVED if s.integration in wanted]
        metafunc.parametrize("server", served, ids=str, indirect=True, scope="session")
    elif "integration" in metafunc.fixturenames:
        metafunc.parametrize("integration", [name for name in PROCESSES if name in wanted])


@pytest.fixture(scope="session")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The server a contract test talks to: one integration on a store of its own."""
    served: Served = request.param
    data: Path = tmp_path_factory.mktemp(f"contract-{served}")
    if served.store == "mongodb":
        request.getfixturevalue("mongo_server")
        store_url = mongo_url(data)
    elif served.store == "memory":
        store_url = "memory://"
    else:
        store_url = f"sqlite:///{data}/contract.db"
    with PROCESSES[served.integration](store_url=store_url) as process:
        yield process


@pytest.fixture(scope="session")
def users(server: ServerProcess) -> Users:
    """Two admins and two workers, registered once per server."""
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
    """Socket.IO connections to the server, closed after the test."""
    if server.integration != "sanic":
        pytest.fail(
            f"{server.integration} serves no Socket.IO: mark the test integrations('sanic')",
            pytrace=False,
        )
    factory = SocketFactory(server.base_url)
    yield factory
    await factory.close_all()


@pytest.fixture
async def join(server: ServerProcess, api: Api) -> AsyncIterator[Join]:
    """Joins a scan over whichever live channel the server has: ``scan:join`` over Socket.IO
    (its ack, without ``ok``) on the reference server, the ``join`` event that opens the
    Server-Sent Events stream on the aiohttp example. Both carry the core's join answer."""
    factory = SocketFactory(server.base_url)

    async def over_socketio(account: Account, scan_id: str) -> dict[str, Any]:
        socket = await factory.connect(account)
        ack: dict[str, Any] = await socket.call("scan:join", {"scan_id": scan_id})
        assert ack.pop("ok") is True, ack
        return ack

    async def over_sse(account: Account, scan_id: str) -> dict[str, Any]:
        async with event_stream(api, account.token, scan_id) as stream:
            joined = await stream.next()
        assert joined.event == "join", joined
        answer: dict[str, Any] = joined.data
        return answer

    yield over_socketio if server.integration == "sanic" else over_sse
    await factory.close_all()
