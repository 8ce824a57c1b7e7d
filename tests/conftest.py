"""Settings and fixtures shared by the whole test tree."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.support.mongo import MONGODB_URI_ENV, SecantusServer, set_base_uri, used_databases
from tests.support.redis_server import RedisServer, redis_skip_reason

# tests/typing holds files that exist to be type-checked by mypy, never run.
collect_ignore = ["typing"]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, a supervisor) stops the run as Ctrl+C does, so that fixtures
    still stop the servers, Redis and MongoDB-wire processes they started."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and start again."""
    reason = redis_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[str]:
    """A MongoDB-wire server for the session: its base URI (``mongodb://host:port/?...``).

    A real server when ``TASKSTREAM_TEST_MONGODB_URI`` names one (the test
    databases are dropped afterwards), else a ``secantus`` process started
    here on an in-memory storage and stopped by its PID at the end.
    """
    given = os.environ.get(MONGODB_URI_ENV)
    if given:
        set_base_uri(given)
        yield given
        set_base_uri(None)
        _drop_databases(given, used_databases())
        return
    with SecantusServer() as server:
        set_base_uri(server.base_uri)
        yield server.base_uri
        set_base_uri(None)


def _drop_databases(uri: str, names: set[str]) -> None:
    import pymongo  # noqa: PLC0415 - only when a real server was used

    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        for name in names:
            client.drop_database(name)
