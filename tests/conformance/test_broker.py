"""The ``Broker`` conformance suite: each behaviour checked once, run against every broker."""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core import (
    Broker,
    EventType,
    Principal,
    Role,
    ScanEvent,
    Subscription,
    SubscriptionClosed,
    SubscriptionLagged,
)
from taskstream_core.broker import LocalFanout
from taskstream_core.rooms import admin_room, scan_room, viewer_rooms, worker_room

from .conftest import BrokerFactory
from .factories import fresh_id, scan_event, task_event

WINDOW = 0.05  # the reorder window of brokers in gap tests: short, so tests stay fast

ADMIN = Principal("admin-1", "root", Role.ADMIN)
ALICE = Principal("alice", "alice", Role.WORKER)
BOB = Principal("bob", "bob", Role.WORKER)


TIMEOUT = 2.0  # how long a test waits for an event it expects


async def receive(sub: Subscription) -> ScanEvent:
    """The subscription's next event, failing the test if none comes in time."""
    return await asyncio.wait_for(sub.get(), TIMEOUT)


async def settle(broker: Broker) -> None:
    """Return once everything published before has reached local subscriptions.

    A broker may relay through a server; a marker published after the events
    under test comes back only after them.
    """
    marker_scan = fresh_id("marker")
    with broker.subscribe([scan_room(marker_scan)]) as probe:
        await broker.publish(scan_event(marker_scan, 1))
        await receive(probe)


def queued(sub: Subscription) -> list[ScanEvent]:
    """Everything the subscription holds right now, without waiting."""
    events = []
    while (event := sub.get_nowait()) is not None:
        events.append(event)
    return events


def stats_event(scan_id: str) -> ScanEvent:
    return ScanEvent(EventType.SCAN_STATS, scan_id, 0)


def test_every_adapter_is_a_broker(broker: Broker) -> None:
    """Each adapter satisfies the runtime-checkable Broker protocol."""
    assert isinstance(broker, Broker)


async def test_a_started_broker_delivers_and_stop_closes_subscriptions(
    make_broker: BrokerFactory,
) -> None:
    """Events flow once started; stop closes every subscription so readers end cleanly."""
    broker = await make_broker()
    scan = fresh_id("scan")
    sub = broker.subscribe(viewer_rooms(scan, ADMIN))
    event = task_event(scan, 1)
    await broker.publish(event)
    assert await receive(sub) == event

    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    await broker.stop()
    with pytest.raises(SubscriptionClosed) as raised:
        await asyncio.wait_for(waiting, TIMEOUT)
    assert type(raised.value) is SubscriptionClosed
    assert sub.closed
    assert not sub.lagged
    assert [e async for e in sub] == []


async def test_a_stopped_broker_can_be_started_again(make_broker: BrokerFactory) -> None:
    """After stop and start, new subscriptions receive new events."""
    broker = await make_broker()
    await broker.stop()
    await broker.start()
    scan = fresh_id("scan")
    sub = broker.subscribe([scan_room(scan)])
    event = scan_event(scan, 1)
    await broker.publish(event)
    assert await receive(sub) == event


async def test_events_reach_the_subscribers_of_their_rooms_only(broker: Broker) -> None:
    """Task events go to admins and their worker, scan events to all, stats to admins."""
    scan, other = fresh_id("scan"), fresh_id("scan")
    admin = broker.subscribe(viewer_rooms(scan, ADMIN))
    alice = broker.subscribe(viewer_rooms(scan, ALICE))
    bob = broker.subscribe(viewer_rooms(scan, BOB))
    other_admin = broker.subscribe(viewer_rooms(other, ADMIN))
    other_alice = broker.subscribe(viewer_rooms(other, ALICE))

    by_alice = task_event(scan, 1, worker="alice")
    by_bob = task_event(scan, 2, worker="bob")
    closed = scan_event(scan, 3)
    stats = stats_event(scan)
    for event in (by_alice, by_bob, closed, stats):
        await broker.publish(event)
    await settle(broker)

    assert queued(admin) == [by_alice, by_bob, closed, stats]
    assert queued(alice) == [by_alice, closed]
    assert queued(bob) == [by_bob, closed]
    assert queued(other_admin) == []
    assert queued(other_alice) == []


async def test_each_room_kind_receives_what_rooms_route_to_it(broker: Broker) -> None:
    """A bare admin room, worker room and scan room each get exactly their events."""
    scan = fresh_id("scan")
    all_tasks = broker.subscribe([admin_room(scan)])
    alices = broker.subscribe([worker_room(scan, "alice")])
    whole_scan = broker.subscribe([scan_room(scan)])
    by_alice, by_bob, closed = (
        task_event(scan, 1, "alice"),
        task_event(scan, 2, "bob"),
        scan_event(scan, 3),
    )
    for event in (by_alice, by_bob, closed):
        await broker.publish(event)
    await settle(broker)
    assert queued(all_tasks) == [by_alice, by_bob]
    assert queued(alices) == [by_alice]
    assert queued(whole_scan) == [closed]


async def test_a_subscription_that_never_joined_receives_nothing(broker: Broker) -> None:
    """A subscription with no rooms gets no event of any kind."""
    scan = fresh_id("scan")
    idle = broker.subscribe()
    for event in (task_event(scan, 1), scan_event(scan, 2), stats_event(scan)):
        await broker.publish(event)
    await settle(broker)
    assert queued(idle) == []
    assert idle.pending() == 0


async def test_an_event_reaches_a_subscriber_in_several_of_its_rooms_once(broker: Broker) -> None:
    """A subscriber of both rooms of a task event receives it once."""
    scan = fresh_id("scan")
    both = broker.subscribe([admin_room(scan), worker_room(scan, "alice"), scan_room(scan)])
    event = task_event(scan, 1, "alice")
    await broker.publish(event)
    await settle(broker)
    assert queued(both) == [event]


async def test_a_scans_events_are_delivered_in_seq_order(make_broker: BrokerFactory) -> None:
    """Published 1, 3, 2, 5, 4: delivered 1, 2, 3, 4, 5."""
    broker = await make_broker(reorder_window=5.0)
    scan = fresh_id("scan")
    sub = broker.subscribe([scan_room(scan)])
    events = {seq: scan_event(scan, seq) for seq in range(1, 6)}
    for seq in (1, 3, 2, 5, 4):
        await broker.publish(events[seq])
    got = [await receive(sub) for _ in range(5)]
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]


async def test_the_first_event_seen_of_a_scan_may_have_any_seq(broker: Broker) -> None:
    """A process that starts mid-stream delivers from the first seq it sees."""
    scan = fresh_id("scan")
    sub = broker.subscribe([scan_room(scan)])
    for seq in (41, 42):
        await broker.publish(scan_event(scan, seq))
    assert [(await receive(sub)).seq for _ in range(2)] == [41, 42]


async def test_a_gap_not_filled_within_the_reorder_window_is_given_up(
    make_broker: BrokerFactory,
) -> None:
    """Held events wait at most the window for a missing seq, then flow; the late one is dropped."""
    broker = await make_broker(reorder_window=WINDOW)
    scan = fresh_id("scan")
    sub = broker.subscribe([scan_room(scan)])
    await broker.publish(scan_event(scan, 1))
    await broker.publish(scan_event(scan, 3))
    await broker.publish(scan_event(scan, 4))
    await settle(broker)
    assert [e.seq for e in queued(sub)] == [1], "3 and 4 wait for 2"

    assert [(await receive(sub)).seq for _ in range(2)] == [3, 4]
    await broker.publish(scan_event(scan, 2))  # too late: 3 already went out
    await broker.publish(scan_event(scan, 5))
    assert (await receive(sub)).seq == 5
    await settle(broker)
    assert queued(sub) == []


def _fanout(broker: Broker) -> LocalFanout:
    """The broker as the LocalFanout whose backfill the gap tests set (else they skip)."""
    if not isinstance(broker, LocalFanout):
        pytest.skip("this broker has no seq gate of LocalFanout's")
    return broker


def _with_store(broker: Broker, stored: dict[str, list[ScanEvent]]) -> list[tuple[str, int]]:
    """Give ``broker`` a backfill reading ``stored``; returns the reads it is asked for."""
    fanout = _fanout(broker)
    asked: list[tuple[str, int]] = []

    async def backfill(scan_id: str, seq: int) -> list[ScanEvent] | None:
        asked.append((scan_id, seq))
        return [e for e in stored.get(scan_id, []) if e.seq > seq]

    fanout.backfill = backfill
    return asked


async def test_a_gap_that_outlives_the_window_is_read_from_the_store(
    make_broker: BrokerFactory,
) -> None:
    """The publisher of seq 2 died after storing it: 2 comes from the store, in its place."""
    broker = await make_broker(reorder_window=WINDOW)
    scan = fresh_id("scan")
    events = [scan_event(scan, seq) for seq in range(1, 6)]
    asked = _with_store(broker, {scan: events[:4]})
    sub = broker.subscribe([scan_room(scan)])
    for seq in (1, 3, 4):
        await broker.publish(events[seq - 1])
    assert [(await receive(sub)).seq for _ in range(4)] == [1, 2, 3, 4]
    assert asked == [(scan, 1)]
    await broker.publish(events[1])  # published at last: it went out already
    await broker.publish(events[4])
    assert (await receive(sub)).seq == 5
    await settle(broker)
    assert queued(sub) == []


async def test_what_the_store_lacks_too_is_skipped(make_broker: BrokerFactory) -> None:
    """A seq the store does not hold either (a change never made) is skipped, as before."""
    broker = await make_broker(reorder_window=WINDOW)
    scan = fresh_id("scan")
    events = {seq: scan_event(scan, seq) for seq in (1, 3, 4, 6, 7)}
    _with_store(broker, {scan: [events[1], events[3], events[4], events[6], events[7]]})
    sub = broker.subscribe([scan_room(scan)])
    for seq in (1, 3, 4, 6, 7):
        await broker.publish(events[seq])
    assert [(await receive(sub)).seq for _ in range(5)] == [1, 3, 4, 6, 7]


async def test_an_event_published_while_the_store_is_read_goes_out_once(
    make_broker: BrokerFactory,
) -> None:
    broker = await make_broker(reorder_window=WINDOW)
    fanout = _fanout(broker)
    scan = fresh_id("scan")
    events = [scan_event(scan, seq) for seq in range(1, 4)]
    reading, release = asyncio.Event(), asyncio.Event()

    async def slow_store(scan_id: str, seq: int) -> list[ScanEvent] | None:
        reading.set()
        await release.wait()
        return [e for e in events if e.seq > seq]

    fanout.backfill = slow_store
    sub = broker.subscribe([scan_room(scan)])
    await broker.publish(events[0])
    await broker.publish(events[2])
    await asyncio.wait_for(reading.wait(), TIMEOUT)
    await broker.publish(events[1])  # arrives while the store is read
    assert [(await receive(sub)).seq for _ in range(3)] == [1, 2, 3]
    release.set()
    await settle(broker)
    assert queued(sub) == []


async def test_a_store_that_cannot_be_read_leaves_the_gap_skipped(
    make_broker: BrokerFactory,
) -> None:
    broker = await make_broker(reorder_window=WINDOW)
    fanout = _fanout(broker)
    scan = fresh_id("scan")

    async def down(scan_id: str, seq: int) -> list[ScanEvent] | None:
        raise OSError("the store is down")

    fanout.backfill = down
    sub = broker.subscribe([scan_room(scan)])
    for seq in (1, 3):
        await broker.publish(scan_event(scan, seq))
    assert [(await receive(sub)).seq for _ in range(2)] == [1, 3]


async def test_a_gap_in_one_scan_does_not_hold_another_scan(make_broker: BrokerFactory) -> None:
    """The seq gate is per scan: a scan waiting for a gap does not delay others."""
    broker = await make_broker(reorder_window=5.0)
    stuck, flowing = fresh_id("scan"), fresh_id("scan")
    sub = broker.subscribe([scan_room(stuck), scan_room(flowing)])
    await broker.publish(scan_event(stuck, 1))
    await broker.publish(scan_event(stuck, 3))
    for seq in (1, 2):
        await broker.publish(scan_event(flowing, seq))
    got = [await receive(sub) for _ in range(3)]
    assert [(e.scan_id, e.seq) for e in got] == [(stuck, 1), (flowing, 1), (flowing, 2)]


async def test_stats_events_bypass_the_seq_gate(make_broker: BrokerFactory) -> None:
    """A scan:stats event is delivered at once, even while the scan waits for a gap."""
    broker = await make_broker(reorder_window=5.0)
    scan = fresh_id("scan")
    admin = broker.subscribe(viewer_rooms(scan, ADMIN))
    await broker.publish(scan_event(scan, 1))
    await broker.publish(scan_event(scan, 3))  # held: 2 is missing
    stats = stats_event(scan)
    await broker.publish(stats)
    got = [await receive(admin) for _ in range(2)]
    assert [e.type for e in got] == [EventType.SCAN_UPDATED, EventType.SCAN_STATS]
    assert got[1] == stats
    await broker.publish(scan_event(scan, 2))
    assert [(await receive(admin)).seq for _ in range(2)] == [2, 3]


async def test_leave_stops_delivery_from_those_rooms_only(broker: Broker) -> None:
    """After leaving a scan's rooms a subscription gets nothing from it, but still from others."""
    left, kept = fresh_id("scan"), fresh_id("scan")
    sub = broker.subscribe(viewer_rooms(left, ALICE) | viewer_rooms(kept, ALICE))
    sub.leave(viewer_rooms(left, ALICE))
    assert sub.rooms == set(viewer_rooms(kept, ALICE))
    for scan in (left, kept):
        await broker.publish(task_event(scan, 1, "alice"))
        await broker.publish(scan_event(scan, 2))
    await settle(broker)
    assert [(e.scan_id, e.seq) for e in queued(sub)] == [(kept, 1), (kept, 2)]


async def test_a_closed_subscription_receives_nothing_and_ends_iteration(broker: Broker) -> None:
    """close() ends iteration, makes get() raise SubscriptionClosed and stops delivery."""
    scan = fresh_id("scan")
    sub = broker.subscribe([scan_room(scan)])
    sub.close()
    assert sub.closed
    await broker.publish(scan_event(scan, 1))
    await settle(broker)
    with pytest.raises(SubscriptionClosed):
        await sub.get()
    assert [e async for e in sub] == []


async def test_closing_wakes_a_waiting_reader(broker: Broker) -> None:
    """A reader blocked in get() is woken by close() with SubscriptionClosed."""
    sub = broker.subscribe([scan_room(fresh_id("scan"))])
    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(SubscriptionClosed):
        await asyncio.wait_for(waiting, TIMEOUT)


async def test_a_subscription_used_as_a_context_manager_closes_on_exit(broker: Broker) -> None:
    """Leaving the ``with`` block closes the subscription."""
    with broker.subscribe([scan_room(fresh_id("scan"))]) as sub:
        assert not sub.closed
    assert sub.closed


async def test_a_lagging_subscription_raises_subscription_lagged(
    make_broker: BrokerFactory,
) -> None:
    """A consumer more than queue_size events behind gets what was queued, then Lagged."""
    broker = await make_broker(queue_size=3)
    scan = fresh_id("scan")
    slow = broker.subscribe([scan_room(scan)])
    fast = broker.subscribe([scan_room(scan)])
    received: list[int] = []
    for seq in range(1, 7):
        await broker.publish(scan_event(scan, seq))
        received.append((await receive(fast)).seq)
    assert received == [1, 2, 3, 4, 5, 6], "a reader that keeps up never lags"
    got: list[int] = []

    async def read_all() -> None:
        async for event in slow:
            got.append(event.seq)

    with pytest.raises(SubscriptionLagged):
        await read_all()
    assert got == [1, 2, 3]
    assert slow.lagged
    assert slow.closed
    with pytest.raises(SubscriptionLagged):
        await slow.get()
