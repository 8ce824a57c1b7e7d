"""``memory://``: one process, no transport; what is published comes straight back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..broker import Resync
from ..models import ScanEvent

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """Hands each published event to this process's own stream."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue()

    @classmethod
    def from_url(cls, url: str = "memory://") -> MemoryBroker:
        """A memory broker (the URL has nothing to configure)."""
        del url
        return cls()

    async def start(self) -> None:
        """Nothing to connect: a fresh stream begins."""
        self._queue = asyncio.Queue()

    async def stop(self) -> None:
        """End the stream of :meth:`events`."""
        self._queue.put_nowait(None)

    async def publish(self, event: ScanEvent) -> None:
        """Queue the event for :meth:`events`."""
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[ScanEvent | Resync]:
        """What was published, in publication order, until :meth:`stop`."""
        while (event := await self._queue.get()) is not None:
            yield event
