"""Fixtures of the scale-out tests: a real Redis (shared, or private to a test) and channels."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import (
    RedisServer,
    redis_skip_reason,
    shared_redis_url,
    unique_prefix,
    with_prefix,
)


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


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and start again."""
    reason = redis_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with RedisServer() as server:
        yield server
