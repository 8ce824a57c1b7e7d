"""Fixtures of the scale-out tests: a real Redis (shared, or private to a test) and channels."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import LiveSocket, ServerProcess
from tests.support.redis_server import (
    redis_skip_reason,
    shared_redis_url,
    unique_prefix,
    with_prefix,
)

from .cluster import Cluster


@pytest.fixture
def redis_base_url() -> str:
    """The session's Redis, ``redis://host:port/0`` (skipped with the reason if there is none)."""
    reason = redis_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return shared_redis_url()


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """The session's Redis with a channel prefix of this test's own."""
    return with_prefix(redis_base_url, unique_prefix())


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Servers A and B on one SQLite file and one Redis channel prefix, shared by the tests
    that need two processes (each works in users and scans of its own)."""
    reason = redis_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    url = with_prefix(shared_redis_url(), unique_prefix())
    with Cluster(tmp_path_factory.mktemp("two-servers"), url) as both:
        yield both
        assert both.stop() == [0, 0], "SIGTERM: every process exits 0"


@pytest.fixture(scope="session")
def a(cluster: Cluster) -> ServerProcess:
    """Server process A."""
    return cluster.servers[0]


@pytest.fixture(scope="session")
def b(cluster: Cluster) -> ServerProcess:
    """Server process B."""
    return cluster.servers[1]


@pytest.fixture
async def opened() -> AsyncIterator[list[LiveSocket]]:
    """Sockets a test opens; closed after it."""
    sockets: list[LiveSocket] = []
    yield sockets
    for socket in sockets:
        await socket.close()
