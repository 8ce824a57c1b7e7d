"""The registry of store and broker adapters the conformance suites run against.

One entry per adapter says how to make a fresh one; every conformance test
runs once per entry. A new adapter (Redis, ...) joins the suites by adding
one entry here, as MongoDB did: ``mongodb`` uses the session's
``mongo_server`` (secantus, which advertises a single-node replica set as
the store requires, or the real server ``TASKSTREAM_TEST_MONGODB_URI``
names), a database per test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from taskstream_core import Broker, Store
from taskstream_core.brokers.memory import MemoryBroker
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.stores.mongodb import MongoStore
from taskstream_core.stores.sqlite import SQLiteStore
from tests.support.mongo import mongo_url
from tests.support.redis_server import redis_skip_reason, shared_redis_url, unique_prefix

__all__ = ["BROKER_ADAPTERS", "STORE_ADAPTERS", "BrokerAdapter", "StoreAdapter"]


@dataclass(frozen=True)
class StoreAdapter:
    """How to make a fresh store of one kind, and what it can do."""

    #: ``(place, event_retention) -> store``, not yet opened. ``place`` is a
    #: directory of the test's own; calling again with the same place names the
    #: same data (for reopening a persistent store).
    make: Callable[[Path, int], Store]
    #: The ``open_store`` URL of the data at ``place`` (a subprocess opens it).
    url: Callable[[Path], str]
    #: Whether data outlives ``close()`` and the process that wrote it.
    persistent: bool
    #: Why this adapter cannot run here (a server is missing), or None.
    skip_reason: Callable[[], str | None] = lambda: None
    #: A fixture the adapter needs first (one that starts its server), or None.
    fixture: str | None = None


def _sqlite_path(place: Path) -> Path:
    return place / "taskstream.db"


STORE_ADAPTERS: dict[str, StoreAdapter] = {
    "memory": StoreAdapter(
        make=lambda place, retention: MemoryStore(event_retention=retention),
        url=lambda place: "memory://",
        persistent=False,
    ),
    "sqlite": StoreAdapter(
        make=lambda place, retention: SQLiteStore(_sqlite_path(place), event_retention=retention),
        url=lambda place: f"sqlite:///{_sqlite_path(place).resolve()}",
        persistent=True,
    ),
    "mongodb": StoreAdapter(
        make=lambda place, retention: MongoStore(mongo_url(place), event_retention=retention),
        url=mongo_url,
        persistent=True,
        fixture="mongo_server",
    ),
}


@dataclass(frozen=True)
class BrokerAdapter:
    """How to make a fresh broker of one kind."""

    #: ``() -> broker``, not yet started; brokers made by one call of ``peers`` share their
    #: events (as the processes of one deployment do).
    make: Callable[[], Broker]
    #: ``() -> make``: a maker of brokers that carry events between each other (processes of
    #: one deployment); None for a broker of one process only.
    peers: Callable[[], Callable[[], Broker]] | None
    #: Why this adapter cannot run here (a server is missing), or None.
    skip_reason: Callable[[], str | None] = lambda: None


def _redis_peers() -> Callable[[], Broker]:
    prefix = unique_prefix()
    return lambda: RedisBroker(shared_redis_url(), prefix=prefix)


BROKER_ADAPTERS: dict[str, BrokerAdapter] = {
    # One process has nothing to share with another: a memory broker has no peers.
    "memory": BrokerAdapter(make=MemoryBroker, peers=None),
    # A real Redis (the session's private redis-server); each deployment on a channel of its own.
    "redis": BrokerAdapter(
        make=lambda: RedisBroker(shared_redis_url(), prefix=unique_prefix()),
        peers=_redis_peers,
        skip_reason=redis_skip_reason,
    ),
}
