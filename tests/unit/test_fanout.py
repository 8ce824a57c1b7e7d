"""The fan-out when its broker's stream breaks, and its order of claim announcements (the
conformance suite covers the rest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from taskstream_core import Principal, Resync, Role, ScanEvent, ViewerLagged, _fanout
from taskstream_core._fanout import Fanout
from taskstream_core._viewer import Viewer
from taskstream_core.brokers.memory import MemoryBroker
from taskstream_core.models import Claim, EventType, utc_now
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


def claimed(task_id: str, version: int, *, held: bool = True) -> ScanEvent:
    """A ``task:claimed`` of scan ``s`` with the registry's ``version`` (held by ada, or ended)."""
    claim = Claim(task_id, "s", "ada-1", "ada", utc_now() + timedelta(seconds=30))
    return ScanEvent(
        EventType.TASK_CLAIMED,
        "s",
        0,
        task_id=task_id,
        claim=claim if held else None,
        claim_version=version,
    )


async def received(viewer: Viewer, n: int) -> list[tuple[str | None, int, bool]]:
    """The next ``n`` notices of ``viewer``: task, version, whether a claim stands."""
    got = []
    async with asyncio.timeout(2):
        for _ in range(n):
            event = await viewer.next()
            got.append((event.task_id, event.claim_version, event.claim is not None))
    return got


@pytest.fixture
async def fanout() -> AsyncIterator[Fanout]:
    """A started fan-out on a started memory broker."""
    broker = MemoryBroker()
    await broker.start()
    made = Fanout(broker, nothing_stored)
    made.start()
    yield made
    await broker.stop()
    await made.stop()


def joined(fanout: Fanout, claim_version: int = 0) -> Viewer:
    viewer = fanout.viewer(ADMIN)
    viewer.begin("s")
    viewer.release("s", 0, claim_version)
    return viewer


async def test_a_claim_announcement_older_than_one_delivered_is_dropped(fanout: Fanout) -> None:
    """Per task: a version at or below the last delivered is dropped; other tasks, and
    announcements without a version, pass."""
    viewer = joined(fanout)
    for event in (
        claimed("t1", 5, held=False),
        claimed("t1", 4),  # overtaken: the claim ended since
        claimed("t1", 5, held=False),  # the same change again
        claimed("t2", 3),  # another task: its own order
        claimed("t1", 0),  # no version (a process of an earlier release): passes
        claimed("t1", 6),
    ):
        await fanout.publish(event)
    assert await received(viewer, 4) == [
        ("t1", 5, False),
        ("t2", 3, True),
        ("t1", 0, True),
        ("t1", 6, True),
    ]


async def test_the_claim_versions_go_with_the_scans_gate(fanout: Fanout) -> None:
    """Once the scan's last viewer leaves, its tasks' versions are forgotten."""
    first = joined(fanout)
    await fanout.publish(claimed("t1", 5, held=False))
    assert await received(first, 1) == [("t1", 5, False)]
    first.leave("s")
    assert fanout.scan_count == 0
    second = joined(fanout)
    await fanout.publish(claimed("t1", 4))
    assert await received(second, 1) == [("t1", 4, True)]


async def test_a_tasks_claim_version_is_forgotten_a_while_after_its_last_announcement(
    fanout: Fanout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLAIM_VERSION_SECONDS after a task's last announcement its version is forgotten, and
    removed from the gate: the gate of a scan viewed for long stays small."""
    monkeypatch.setattr(_fanout, "CLAIM_VERSION_SECONDS", 0.05)
    viewer = joined(fanout)
    for n in range(20):
        await fanout.publish(claimed(f"t{n}", 10 + n, held=False))
    assert len(await received(viewer, 20)) == 20
    await asyncio.sleep(0.1)
    await fanout.publish(claimed("t0", 1))
    assert await received(viewer, 1) == [("t0", 1, True)]
    assert len(fanout._gates["s"].claims) == 1


async def test_a_joining_viewer_drops_the_claims_its_answer_holds(fanout: Fanout) -> None:
    """Announcements up to the version the answer's claims were read after are dropped, held
    ones included; later ones pass, and the other viewers get them all."""
    other = joined(fanout)
    viewer = fanout.viewer(ADMIN)
    viewer.begin("s")
    await fanout.publish(claimed("t1", 3))  # held for the joining viewer
    assert await received(other, 1) == [("t1", 3, True)]
    viewer.release("s", 0, claim_version=4)
    await fanout.publish(claimed("t2", 4))
    await fanout.publish(claimed("t2", 5, held=False))
    assert await received(viewer, 1) == [("t2", 5, False)]
    assert await received(other, 2) == [("t2", 4, True), ("t2", 5, False)]
