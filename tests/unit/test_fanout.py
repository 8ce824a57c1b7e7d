"""The fan-out when its broker's stream breaks (the conformance suite covers the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taskstream_core import Principal, Resync, Role, ScanEvent, ViewerLagged
from taskstream_core._fanout import Fanout
from taskstream_core.brokers.memory import MemoryBroker
from tests.conformance.factories import scan_event

ADMIN = Principal("admin-1", "root", Role.ADMIN)


class BreaksOnce(MemoryBroker):
    """A memory broker whose first stream fails at its first event."""

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.reopened = asyncio.Event()

    async def events(self) -> AsyncIterator[ScanEvent | Resync]:
        self.opened += 1
        if self.opened == 1:
            await self._queue.get()
            raise ConnectionError("the transport broke")
        self.reopened.set()
        async for item in super().events():
            yield item


async def nothing_stored(scan_id: str, seq: int) -> list[ScanEvent] | None:
    return []


async def test_a_broken_stream_sends_viewers_to_resume_and_is_read_again() -> None:
    broker = BreaksOnce()
    await broker.start()
    fanout = Fanout(broker, nothing_stored, reorder_window=0.01)
    fanout.start()
    try:
        before = fanout.viewer(ADMIN)
        before.begin("s")
        before.release("s", 0)
        await broker.publish(scan_event("s", 1))  # lost with the broken stream
        async with asyncio.timeout(2):
            with pytest.raises(ViewerLagged):  # sent away to resume what was lost
                await before.next()
            after = fanout.viewer(ADMIN)
            after.begin("s")
            after.release("s", 1)
            await broker.reopened.wait()
            await broker.publish(scan_event("s", 2))
            assert (await after.next()).seq == 2
    finally:
        await broker.stop()
        await fanout.stop()


async def test_a_push_sink_that_raises_costs_only_its_own_viewer() -> None:
    broker = MemoryBroker()
    await broker.start()
    fanout = Fanout(broker, nothing_stored)
    fanout.start()
    try:
        broken, fine = fanout.viewer(ADMIN), fanout.viewer(ADMIN)
        for viewer in (broken, fine):
            viewer.begin("s")
            viewer.release("s", 0)

        def sink(event: ScanEvent) -> int:
            raise RuntimeError("the transport's bug")

        broken.push_to(sink, lambda: None)
        await broker.publish(scan_event("s", 1))
        async with asyncio.timeout(2):
            assert (await fine.next()).seq == 1
        assert broken.lagged
    finally:
        await broker.stop()
        await fanout.stop()
