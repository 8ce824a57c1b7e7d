"""Several TaskStream "processes" of one deployment in a test: one store, peer brokers.

A memory broker serves one process only, so a memory deployment has exactly one;
a Redis deployment has as many as asked, each with a broker of its own on one
channel prefix, as the processes behind ``--redis-url`` have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from taskstream_core import (
    Broker,
    PasswordHasher,
    Principal,
    ScanEvent,
    Store,
    TaskStream,
    TokenIssuer,
    ViewerSession,
)
from taskstream_core.models import EventType
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import TEST_INVITE_CODE

from .adapters import BrokerAdapter

__all__ = ["Deployment", "Notices", "join_as"]


class Deployment:
    """Starts TaskStreams sharing one store and one broker deployment; stops them at the end."""

    def __init__(self, adapter: BrokerAdapter, **options: Any) -> None:
        self.adapter = adapter
        self.options = options
        self.store = MemoryStore()
        self.secret = b"k" * 32
        self._make: Callable[[], Broker] = adapter.peers() if adapter.peers else adapter.make
        self.apps: list[TaskStream] = []

    @property
    def shared(self) -> bool:
        """Whether it can run several processes (its broker carries events between them)."""
        return self.adapter.peers is not None

    async def start(
        self, broker: Broker | None = None, store: Store | None = None, **options: Any
    ) -> TaskStream:
        """One more process; a memory deployment has one only (the test skips otherwise)."""
        if self.apps and not self.shared:
            pytest.skip("an in-process broker serves one process only")
        app = TaskStream(
            store=store or self.store,
            tokens=TokenIssuer(self.secret),
            admin_invite_code=TEST_INVITE_CODE,
            broker=broker or self._make(),
            hasher=PasswordHasher.for_tests(),
            stats_interval=0.05,
            **{**self.options, **options},
        )
        await app.start()
        self.apps.append(app)
        return app

    async def stop(self) -> None:
        for app in reversed(self.apps):
            await app.stop()


class Notices:
    """The notices (``task:claimed``, ``scan:presence``) a viewer receives, as they come."""

    def __init__(self, viewer: ViewerSession) -> None:
        self.viewer = viewer
        self.got: list[tuple[float, ScanEvent]] = []
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for event in self.viewer:
            if event.type.is_notice:
                self.got.append((loop.time(), event))

    def of(self, kind: EventType) -> list[ScanEvent]:
        """The notices of one type received so far."""
        return [e for _, e in self.got if e.type is kind]

    async def wait_for(
        self, check: Callable[[ScanEvent], bool], within: float = 3.0, *, after: float = 0.0
    ) -> ScanEvent:
        """The first notice received at or after loop time ``after`` (already or still to
        come) that passes ``check``."""
        async with asyncio.timeout(within):
            while True:
                for at, event in self.got:
                    if at >= after and check(event):
                        return event
                await asyncio.sleep(0.01)

    def arrival(self, event: ScanEvent) -> float:
        """The loop time ``event`` was received at."""
        return next(t for t, e in self.got if e is event)

    def close(self) -> None:
        self.viewer.close()
        self._task.cancel()


async def join_as(app: TaskStream, who: Principal, scan_id: str) -> Notices:
    """A viewer of ``who`` joined to the scan, its notices recorded."""
    viewer = ViewerSession(app, who)
    await viewer.join(scan_id)
    return Notices(viewer)
