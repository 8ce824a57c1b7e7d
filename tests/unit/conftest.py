"""Fixtures of the unit tests: a started TaskStream on the memory store, and its users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from taskstream_core import Principal, TaskStream
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import ManualClock, RecordingBroker, make_app, sign_up


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def memory_store() -> MemoryStore:
    """The store under the ``app`` fixture, for tests that look beneath the service."""
    return MemoryStore()


@pytest.fixture
def recording_broker() -> RecordingBroker:
    """The broker under the ``app`` fixture: it remembers every published event."""
    return RecordingBroker()


@pytest.fixture
async def app(
    memory_store: MemoryStore, recording_broker: RecordingBroker, clock: ManualClock
) -> AsyncIterator[TaskStream]:
    """A started TaskStream with cheap password hashing and a manual clock."""
    async with make_app(store=memory_store, broker=recording_broker, clock=clock) as started:
        yield started


@pytest.fixture
async def admin(app: TaskStream) -> Principal:
    """A signed-up admin."""
    return await sign_up(app, "root", "admin")


@pytest.fixture
async def other_admin(app: TaskStream) -> Principal:
    """A second signed-up admin."""
    return await sign_up(app, "second-admin", "admin")


@pytest.fixture
async def alice(app: TaskStream) -> Principal:
    """A signed-up worker."""
    return await sign_up(app, "alice")


@pytest.fixture
async def bob(app: TaskStream) -> Principal:
    """Another signed-up worker."""
    return await sign_up(app, "bob")
