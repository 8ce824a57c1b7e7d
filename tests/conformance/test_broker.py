"""The ``Broker`` conformance suite: a transport of stored events, checked against every broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taskstream_core import Broker, Resync, ScanEvent, ScanFollowing
from taskstream_core.models import EventType

from .adapters import BrokerAdapter
from .conftest import BrokerFactory
from .factories import fresh_id, scan_event, task_event

TIMEOUT = 2.0  # how long a test waits for an event it expects


async def take(stream: AsyncIterator[ScanEvent | Resync], count: int) -> list[ScanEvent | Resync]:
    """The stream's next ``count`` items, failing the test if they do not come in time."""
    async with asyncio.timeout(TIMEOUT):
        return [await anext(stream) for _ in range(count)]


async def follow(broker: Broker, scan_id: str) -> None:
    """Have ``broker`` carry the scan, where it carries only the scans it follows."""
    if isinstance(broker, ScanFollowing):
        await broker.follow(scan_id)


def test_every_adapter_is_a_broker(broker: Broker) -> None:
    """Each adapter satisfies the runtime-checkable Broker protocol."""
    assert isinstance(broker, Broker)


async def test_what_is_published_comes_back_unchanged_in_order(broker: Broker) -> None:
    """A process reads its own publications, in the order it made them, stats included."""
    scan = fresh_id("scan")
    await follow(broker, scan)
    stream = broker.events()
    sent = [
        task_event(scan, 1, "alice"),
        scan_event(scan, 2),
        ScanEvent(EventType.SCAN_STATS, scan, 2),
        task_event(scan, 3, "bob"),
    ]
    for event in sent:
        await broker.publish(event)
    assert await take(stream, len(sent)) == sent


async def test_stop_ends_the_stream(make_broker: BrokerFactory) -> None:
    """A reader waiting on the stream finishes when the broker stops."""
    broker = await make_broker()
    stream = broker.events()
    waiting = asyncio.ensure_future(anext(stream, None))
    await asyncio.sleep(0.01)
    await broker.stop()
    assert await asyncio.wait_for(waiting, TIMEOUT) is None


async def test_a_stopped_broker_can_be_started_again(make_broker: BrokerFactory) -> None:
    """After stop and start, a new stream receives new publications."""
    broker = await make_broker()
    await broker.stop()
    await broker.start()
    event = scan_event(fresh_id("scan"), 1)
    await follow(broker, event.scan_id)
    stream = broker.events()
    await broker.publish(event)
    assert await take(stream, 1) == [event]


async def test_every_process_reads_every_process_s_events(broker_adapter: BrokerAdapter) -> None:
    """Two brokers of one deployment each read what either published (a memory broker is one
    process only: it has no peer to read)."""
    if broker_adapter.peers is None:
        pytest.skip("an in-process broker carries nothing to other processes")
    make = broker_adapter.peers()
    first, second = make(), make()
    await first.start()
    await second.start()
    try:
        scan = fresh_id("scan")
        await follow(first, scan)
        await follow(second, scan)
        streams = [first.events(), second.events()]
        one, two = scan_event(scan, 1), scan_event(scan, 2)
        await first.publish(one)
        await second.publish(two)
        for stream in streams:
            got = await take(stream, 2)
            assert sorted(got, key=lambda e: e.seq if isinstance(e, ScanEvent) else 0) == [
                one,
                two,
            ]
    finally:
        await first.stop()
        await second.stop()


async def test_a_following_broker_carries_only_the_scans_it_follows(
    broker_adapter: BrokerAdapter,
) -> None:
    """Two processes: each reads the scans it follows, from either, and nothing of the others;
    a scan unfollowed is no longer read (a broker that carries every scan is skipped)."""
    if broker_adapter.peers is None:
        pytest.skip("an in-process broker carries every scan to its one process")
    make = broker_adapter.peers()
    first, second = make(), make()
    if not isinstance(first, ScanFollowing):
        pytest.skip("this broker carries every scan")
    await first.start()
    await second.start()
    try:
        mine, other = fresh_id("scan"), fresh_id("scan")
        await first.follow(mine)
        await follow(second, other)
        stream = first.events()
        await second.publish(scan_event(other, 1))  # nobody here follows it
        await second.publish(scan_event(mine, 1))
        await first.publish(scan_event(mine, 2))
        assert await take(stream, 2) == [scan_event(mine, 1), scan_event(mine, 2)]
        first.unfollow(mine)
        await first.follow(other)
        await asyncio.sleep(0.2)  # unfollow takes effect "soon": Redis has left the channel
        await second.publish(scan_event(mine, 3))  # unfollowed before: not carried
        await second.publish(scan_event(other, 2))
        assert await take(stream, 1) == [scan_event(other, 2)]
    finally:
        await first.stop()
        await second.stop()
