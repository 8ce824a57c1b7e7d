"""Fixtures that parametrise the conformance suites over every registered adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Protocol

import pytest

from taskstream_core import Broker, Store

from .adapters import BROKER_ADAPTERS, STORE_ADAPTERS, BrokerAdapter, StoreAdapter


class StoreFactory(Protocol):
    """Opens a store of the adapter under test; closed again at teardown."""

    def __call__(
        self, *, event_retention: int = ..., place: Path | None = ...
    ) -> Awaitable[Store]: ...


class BrokerFactory(Protocol):
    """Starts a broker of the adapter under test; stopped again at teardown."""

    def __call__(self) -> Awaitable[Broker]: ...


@pytest.fixture(params=sorted(STORE_ADAPTERS))
def store_adapter(request: pytest.FixtureRequest) -> StoreAdapter:
    """One registered store adapter per test run."""
    adapter = STORE_ADAPTERS[request.param]
    reason = adapter.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    if adapter.fixture is not None:
        request.getfixturevalue(adapter.fixture)
    return adapter


@pytest.fixture
async def make_store(store_adapter: StoreAdapter, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A factory of opened stores of the adapter under test."""
    opened: list[Store] = []

    async def make(*, event_retention: int = 10_000, place: Path | None = None) -> Store:
        store = store_adapter.make(place or tmp_path, event_retention)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in reversed(opened):
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> Store:
    """A fresh, open, empty store of the adapter under test."""
    return await make_store()


@pytest.fixture(params=sorted(BROKER_ADAPTERS))
def broker_adapter(request: pytest.FixtureRequest) -> BrokerAdapter:
    """One registered broker adapter per test run."""
    adapter = BROKER_ADAPTERS[request.param]
    reason = adapter.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return adapter


@pytest.fixture
async def make_broker(broker_adapter: BrokerAdapter) -> AsyncIterator[BrokerFactory]:
    """A factory of started brokers of the adapter under test."""
    started: list[Broker] = []

    async def make() -> Broker:
        broker = broker_adapter.make()
        await broker.start()
        started.append(broker)
        return broker

    yield make
    for broker in reversed(started):
        await broker.stop()


@pytest.fixture
async def broker(make_broker: BrokerFactory) -> Broker:
    """A fresh, started broker of the adapter under test."""
    return await make_broker()
