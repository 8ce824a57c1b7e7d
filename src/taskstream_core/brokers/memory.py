"""``memory://``: one process, no transport; what is published comes straight back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from .._broker import Resync
from ..models import ScanEvent

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """A :class:`~taskstream_core.Broker` for one process: each published event comes back.

    Example:
        ```python
        app = TaskStream(store, tokens, admin_invite_code=invite_code, broker=MemoryBroker())
        ```
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue()

    @classmethod
    def from_url(cls, url: str = "memory://") -> MemoryBroker:
        """Make a memory broker; what :func:`~taskstream_core.open_broker` calls for ``memory://``.

        Args:
            url: ``memory://``; it carries no options.

        Returns:
            A new broker, not yet started.
        """
        del url
        return cls()

    async def start(self) -> None:
        """Nothing to connect: a fresh stream begins."""
        self._queue = asyncio.Queue()

    async def stop(self) -> None:
        """End the stream of :meth:`events`."""
        self._queue.put_nowait(None)

    async def publish(self, event: ScanEvent) -> None:
        """Queue the event for :meth:`events`.

        Args:
            event: The event, already stored.
        """
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[ScanEvent | Resync]:
        """Stream what was published, in publication order, until :meth:`stop`.

        Yields:
            Each published event.
        """
        while (event := await self._queue.get()) is not None:
            yield event
