"""The core's fan-out over every broker: rooms, seq order, gaps, joins cut at a seq, lag.

Each behaviour is checked once and runs against every broker adapter, the
fan-out reading what the broker carries as it does inside ``TaskStream``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import pytest

from taskstream_core import Broker, Principal, Role, ScanEvent, ViewerClosed, ViewerLagged
from taskstream_core._fanout import Fanout
from taskstream_core._viewer import Viewer
from taskstream_core.models import EventType

from .factories import fresh_id, scan_event, task_event

WINDOW = 0.05  # the reorder window of gap tests: short, so tests stay fast
TIMEOUT = 2.0  # how long a test waits for an event it expects

ADMIN = Principal("admin-1", "root", Role.ADMIN)
ALICE = Principal("alice", "alice", Role.WORKER)
BOB = Principal("bob", "bob", Role.WORKER)

Backfill = Callable[[str, int], Awaitable[list[ScanEvent] | None]]


async def nothing_stored(scan_id: str, seq: int) -> list[ScanEvent] | None:
    """A store that holds none of a gap."""
    return []


class FanoutFactory(Protocol):
    def __call__(
        self, *, window: float = ..., queue_size: int = ..., backfill: Backfill = ...
    ) -> Fanout: ...


@pytest.fixture
async def make_fanout(broker: Broker) -> AsyncIterator[FanoutFactory]:
    """Started fan-outs reading the broker under test; stopped at teardown."""
    made: list[Fanout] = []

    def make(
        *, window: float = 5.0, queue_size: int = 10_000, backfill: Backfill = nothing_stored
    ) -> Fanout:
        assert not made, "one reader per broker"
        fanout = Fanout(broker, backfill, reorder_window=window, queue_size=queue_size)
        fanout.start()
        made.append(fanout)
        return fanout

    yield make
    for fanout in made:
        await fanout.stop()


@pytest.fixture
async def fanout(make_fanout: FanoutFactory) -> Fanout:
    return make_fanout()


async def joined(fanout: Fanout, principal: Principal, *scans: str, seq: int = 0) -> Viewer:
    """A viewer of ``principal`` joined to ``scans``, its joins answered as of ``seq``."""
    viewer = fanout.viewer(principal)
    for scan in scans:
        viewer.begin(scan)
        await viewer.following(scan)
        viewer.release(scan, seq)
    return viewer


async def receive(viewer: Viewer, count: int = 1) -> list[ScanEvent]:
    async with asyncio.timeout(TIMEOUT):
        return [await viewer.next() for _ in range(count)]


async def settle(fanout: Fanout) -> None:
    """Return once everything published before has been delivered: a marker published after
    the events under test comes back only after them."""
    marker = fresh_id("marker")
    probe = await joined(fanout, ADMIN, marker)
    await fanout.publish(scan_event(marker, 1))
    await receive(probe)
    probe.close()


async def drained(viewer: Viewer) -> list[ScanEvent]:
    """What the viewer holds right now (it is then closed)."""
    viewer.close()
    events = []
    while True:
        try:
            events.append(await viewer.next())
        except ViewerClosed:
            return events


def stats_event(scan_id: str) -> ScanEvent:
    return ScanEvent(EventType.SCAN_STATS, scan_id, 0)


async def test_events_reach_the_viewers_who_may_see_them_only(fanout: Fanout) -> None:
    """Task events go to admins and their worker, scan events to all, stats to admins."""
    scan, other = fresh_id("scan"), fresh_id("scan")
    admin, alice, bob = [await joined(fanout, p, scan) for p in (ADMIN, ALICE, BOB)]
    other_admin, other_alice = (
        await joined(fanout, ADMIN, other),
        await joined(fanout, ALICE, other),
    )
    idle = fanout.viewer(ADMIN)

    by_alice = task_event(scan, 1, worker="alice")
    by_bob = task_event(scan, 2, worker="bob")
    closed = scan_event(scan, 3)
    stats = stats_event(scan)
    for event in (by_alice, by_bob, closed, stats):
        await fanout.publish(event)
    await settle(fanout)

    assert await drained(admin) == [by_alice, by_bob, closed, stats]
    assert await drained(alice) == [by_alice, closed]
    assert await drained(bob) == [by_bob, closed]
    assert await drained(other_admin) == []
    assert await drained(other_alice) == []
    assert await drained(idle) == []


async def test_a_scans_events_are_delivered_in_seq_order(fanout: Fanout) -> None:
    """Published 1, 3, 2, 5, 4: delivered 1, 2, 3, 4, 5."""
    scan = fresh_id("scan")
    viewer = await joined(fanout, ADMIN, scan)
    events = {seq: scan_event(scan, seq) for seq in range(1, 6)}
    for seq in (1, 3, 2, 5, 4):
        await fanout.publish(events[seq])
    assert [e.seq for e in await receive(viewer, 5)] == [1, 2, 3, 4, 5]


async def test_a_join_is_cut_at_its_answers_seq(fanout: Fanout) -> None:
    """While a join is read, the scan's events are held; the answer is as of seq 3: 1 to 3
    are in it and dropped, 4 and 5 follow, once each and in order."""
    scan = fresh_id("scan")
    viewer = fanout.viewer(ADMIN)
    viewer.begin(scan)
    await viewer.following(scan)
    for seq in (2, 1, 4, 3, 5):
        await fanout.publish(scan_event(scan, seq))
    await settle(fanout)
    viewer.release(scan, 3)
    assert [e.seq for e in await receive(viewer, 2)] == [4, 5]
    await fanout.publish(scan_event(scan, 6))
    assert [e.seq for e in await receive(viewer, 1)] == [6]


async def test_a_second_viewer_joins_a_scan_already_flowing(fanout: Fanout) -> None:
    """A join answered as of a later seq than the scan's gate drops what it covers."""
    scan = fresh_id("scan")
    first = await joined(fanout, ADMIN, scan, seq=0)
    await fanout.publish(scan_event(scan, 1))
    await receive(first)
    second = fanout.viewer(ADMIN)
    second.begin(scan)
    await second.following(scan)
    await fanout.publish(scan_event(scan, 2))
    await settle(fanout)
    second.release(scan, 2)
    await fanout.publish(scan_event(scan, 3))
    assert [e.seq for e in await receive(first, 2)] == [2, 3]
    assert [e.seq for e in await receive(second, 1)] == [3]


async def test_a_gap_is_read_from_the_store_and_what_it_lacks_is_skipped(
    make_fanout: FanoutFactory,
) -> None:
    """The publisher of seq 2 died after storing it: 2 comes from the store, in its place;
    6 was never stored: 7 follows 5 once the window is over."""
    scan = fresh_id("scan")
    events = {seq: scan_event(scan, seq) for seq in range(1, 8)}
    asked: list[tuple[str, int]] = []

    async def store(scan_id: str, seq: int) -> list[ScanEvent] | None:
        asked.append((scan_id, seq))
        return [e for s, e in sorted(events.items()) if s > seq and s != 6]

    fanout = make_fanout(window=WINDOW, backfill=store)
    viewer = await joined(fanout, ADMIN, scan)
    for seq in (1, 3, 4):
        await fanout.publish(events[seq])
    assert [e.seq for e in await receive(viewer, 4)] == [1, 2, 3, 4]
    assert asked == [(scan, 1)]
    await fanout.publish(events[2])  # published at last: it went out already
    await fanout.publish(events[5])
    await fanout.publish(events[7])
    assert [e.seq for e in await receive(viewer, 2)] == [5, 7]
    await settle(fanout)
    assert await drained(viewer) == []


async def test_an_event_published_while_the_store_is_read_goes_out_once(
    make_fanout: FanoutFactory,
) -> None:
    scan = fresh_id("scan")
    events = [scan_event(scan, seq) for seq in range(1, 4)]
    reading, release = asyncio.Event(), asyncio.Event()

    async def slow_store(scan_id: str, seq: int) -> list[ScanEvent] | None:
        reading.set()
        await release.wait()
        return [e for e in events if e.seq > seq]

    fanout = make_fanout(window=WINDOW, backfill=slow_store)
    viewer = await joined(fanout, ADMIN, scan)
    await fanout.publish(events[0])
    await fanout.publish(events[2])
    await asyncio.wait_for(reading.wait(), TIMEOUT)
    await fanout.publish(events[1])  # arrives while the store is read
    assert [e.seq for e in await receive(viewer, 3)] == [1, 2, 3]
    release.set()
    await settle(fanout)
    assert await drained(viewer) == []


async def test_a_store_that_cannot_be_read_leaves_the_gap_skipped(
    make_fanout: FanoutFactory,
) -> None:
    async def down(scan_id: str, seq: int) -> list[ScanEvent] | None:
        raise OSError("the store is down")

    fanout = make_fanout(window=WINDOW, backfill=down)
    scan = fresh_id("scan")
    viewer = await joined(fanout, ADMIN, scan)
    for seq in (1, 3):
        await fanout.publish(scan_event(scan, seq))
    assert [e.seq for e in await receive(viewer, 2)] == [1, 3]


async def test_a_gap_in_one_scan_does_not_hold_another_scan(fanout: Fanout) -> None:
    stuck, flowing = fresh_id("scan"), fresh_id("scan")
    viewer = await joined(fanout, ADMIN, stuck, flowing)
    await fanout.publish(scan_event(stuck, 1))
    await fanout.publish(scan_event(stuck, 3))
    for seq in (1, 2):
        await fanout.publish(scan_event(flowing, seq))
    got = await receive(viewer, 3)
    assert [(e.scan_id, e.seq) for e in got] == [(stuck, 1), (flowing, 1), (flowing, 2)]


async def test_stats_events_bypass_the_seq_gate(fanout: Fanout) -> None:
    """A scan:stats event is delivered at once, even while the scan waits for a gap."""
    scan = fresh_id("scan")
    admin = await joined(fanout, ADMIN, scan)
    await fanout.publish(scan_event(scan, 1))
    await fanout.publish(scan_event(scan, 3))  # held: 2 is missing
    stats = stats_event(scan)
    await fanout.publish(stats)
    got = await receive(admin, 2)
    assert [e.type for e in got] == [EventType.SCAN_UPDATED, EventType.SCAN_STATS]
    await fanout.publish(scan_event(scan, 2))
    assert [e.seq for e in await receive(admin, 2)] == [2, 3]


async def test_leave_stops_that_scan_only_and_the_last_viewer_takes_its_state(
    fanout: Fanout,
) -> None:
    left, kept = fresh_id("scan"), fresh_id("scan")
    viewer = await joined(fanout, ALICE, left, kept)
    viewer.leave(left)
    assert viewer.scans == {kept}
    for scan in (left, kept):
        await fanout.publish(task_event(scan, 1, "alice"))
        await fanout.publish(scan_event(scan, 2))
    await settle(fanout)
    assert [(e.scan_id, e.seq) for e in await drained(viewer)] == [(kept, 1), (kept, 2)]
    assert fanout.scan_count == 0
    assert fanout.room_count == 0
    assert fanout.viewer_count == 0


async def test_a_closed_viewer_receives_nothing_and_a_waiting_reader_wakes(
    fanout: Fanout,
) -> None:
    scan = fresh_id("scan")
    viewer = await joined(fanout, ADMIN, scan)
    waiting = asyncio.ensure_future(viewer.next())
    await asyncio.sleep(0)
    viewer.close()
    with pytest.raises(ViewerClosed) as raised:
        await asyncio.wait_for(waiting, TIMEOUT)
    assert type(raised.value) is ViewerClosed
    await fanout.publish(scan_event(scan, 1))
    await settle(fanout)
    with pytest.raises(ViewerClosed):
        await viewer.next()


async def test_stopping_closes_every_viewer(make_fanout: FanoutFactory) -> None:
    fanout = make_fanout()
    viewer = await joined(fanout, ADMIN, fresh_id("scan"))
    await fanout.stop()
    assert viewer.closed
    assert not viewer.lagged


async def test_a_viewer_more_than_queue_size_behind_is_closed_as_lagged(
    make_fanout: FanoutFactory,
) -> None:
    """A viewer that keeps up never lags; one more than queue_size behind gets what was
    queued, then ViewerLagged."""
    fanout = make_fanout(queue_size=3)
    scan = fresh_id("scan")
    slow, fast = await joined(fanout, ADMIN, scan), await joined(fanout, ADMIN, scan)
    received: list[int] = []
    for seq in range(1, 7):
        await fanout.publish(scan_event(scan, seq))
        received.extend(e.seq for e in await receive(fast))
    assert received == [1, 2, 3, 4, 5, 6]
    got = [(await slow.next()).seq for _ in range(4)]
    assert got == [1, 2, 3, 4]
    with pytest.raises(ViewerLagged):
        await slow.next()
    assert slow.lagged
    assert slow.closed


async def test_a_push_viewer_is_closed_as_lagged_when_its_transport_holds_too_much(
    make_fanout: FanoutFactory,
) -> None:
    fanout = make_fanout(queue_size=2)
    scan = fresh_id("scan")
    pushed: list[int] = []
    closed: list[bool] = []
    viewer = await joined(fanout, ADMIN, scan)

    def sink(event: ScanEvent) -> int:
        pushed.append(event.seq)
        return len(pushed)  # the transport sends nothing: all it was given is unsent

    viewer.push_to(sink, lambda: closed.append(True))
    for seq in range(1, 5):
        await fanout.publish(scan_event(scan, seq))
    await settle(fanout)
    assert pushed == [1, 2, 3]
    assert viewer.lagged
    assert closed == [True]


async def test_stats_reach_admins_at_most_once_per_interval_newest_first(broker: Broker) -> None:
    """Contract: "`scan:stats` ... at most twice a second per scan", even when every process
    publishes its own: a burst becomes the first and then the newest; older figures are
    dropped."""
    fanout = Fanout(broker, nothing_stored, stats_interval=0.3)
    fanout.start()
    try:
        scan = fresh_id("scan")
        admin = await joined(fanout, ADMIN, scan)
        burst = [ScanEvent(EventType.SCAN_STATS, scan, seq) for seq in (5, 7, 6)]
        for event in burst:
            await fanout.publish(event)
        assert [e.seq for e in await receive(admin, 2)] == [5, 7]
        await fanout.publish(ScanEvent(EventType.SCAN_STATS, scan, 6))  # older than the last
        await asyncio.sleep(0.6)
        assert await drained(admin) == []
    finally:
        await fanout.stop()
