"""What the Redis broker does beyond the Broker conformance suite: one path, loss and recovery."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio

from taskstream_core import Resync, ScanEvent, ViewerSession
from taskstream_core.brokers._redis_wire import (
    decode,
    encode_event,
    encode_events,
    event_record,
    parse_redis_url,
)
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.errors import Unavailable
from taskstream_core.models import EventType, ScanCounts, ScanStats, WorkerStats
from taskstream_core.testing import make_app, sign_up
from tests.conformance.factories import fresh_id, scan_event, task_event
from tests.support.redis_server import RedisServer, unique_prefix

TIMEOUT = 10.0


def stats_event(scan_id: str, seq: int, pending: int = 1) -> ScanEvent:
    stats = ScanStats(
        scan_id=scan_id,
        counts=ScanCounts(pending=pending, validated=2, refused=1),
        submissions_last_minute=4,
        decision_seconds_p50=1.5,
        decision_seconds_p95=None,
        workers=(WorkerStats("w1", "W1", submitted=4, pending=pending, validated=2, refused=1),),
        seq=seq,
    )
    return ScanEvent(EventType.SCAN_STATS, scan_id, seq, stats=stats)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition()`` until it is true; fail with ``what`` after a generous while."""
    try:
        async with asyncio.timeout(30):
            # The broker offers no event for these counters; polling them is the honest check.
            while not condition():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"timed out waiting until {what}") from None


async def next_item(stream: AsyncIterator[ScanEvent | Resync]) -> ScanEvent | Resync:
    """The stream's next item, failing the test if none comes in time."""
    return await asyncio.wait_for(anext(stream), TIMEOUT)


def test_the_url_keeps_redis_options_and_takes_its_own() -> None:
    """``prefix`` and ``reorder_window`` leave the URL; redis-py's options and the password stay."""
    options = parse_redis_url("redis://:pw@h:6380/2?prefix=prod-a&socket_keepalive=true")
    assert options.url == "redis://:pw@h:6380/2?socket_keepalive=true"
    assert options.events_channel == "prod-a:events"
    assert options.socketio_channel == "prod-a:socketio"
    assert parse_redis_url("rediss://h/0?reorder_window=0.5").reorder_window == 0.5
    for bad in ("redis://h/0?prefix=a b", "redis://h/0?reorder_window=-1", "http://h/0"):
        with pytest.raises(ValueError, match=r"redis|prefix|reorder_window"):
            parse_redis_url(bad)


def test_events_cross_the_wire_unchanged_stats_included() -> None:
    """An event decodes to what was encoded: a task, a scan, and a stats event's figures."""
    scan = fresh_id("scan")
    for event in (task_event(scan, 3, "alice"), scan_event(scan, 4), stats_event(scan, 4)):
        message = decode(encode_event(event))
        assert message.event == event
    for junk in (b"not json", b"[]", b'{"v": 2, "event": {}}', b'{"v": 1, "event": {"seq": 1}}'):
        with pytest.raises(ValueError, match=r"."):
            decode(junk)


async def test_an_event_comes_back_only_after_the_redis_round_trip(redis_url: str) -> None:
    """The publisher reads its own event only once it comes back from Redis, like every other
    process: no shorter road that could overtake another process's event."""
    one, two = RedisBroker.from_url(redis_url), RedisBroker.from_url(redis_url)
    await one.start()
    await two.start()
    try:
        here, there = one.events(), two.events()
        event = scan_event(fresh_id("scan"), 1)
        await one.follow(event.scan_id)
        await two.follow(event.scan_id)
        await one.publish(event)
        assert one.counters.received == 0, "nothing is read before the Redis round trip"
        assert await next_item(here) == event
        assert await next_item(there) == event
        assert one.counters.published == 1
        assert (one.counters.received, two.counters.received) == (1, 1)
    finally:
        await one.stop()
        await two.stop()


def test_a_batch_crosses_the_wire_in_order_and_a_single_event_message_is_still_read() -> None:
    """Events sent together decode to the same events in the same order; the one-event
    message of earlier versions decodes too; a batch with one malformed event is refused."""
    scan = fresh_id("scan")
    events = (task_event(scan, 3, "alice"), scan_event(scan, 4), stats_event(scan, 4))
    assert decode(encode_events(event_record(e) for e in events)).events == events
    assert decode(encode_event(events[0])).events == events[:1]
    with pytest.raises(ValueError, match="malformed"):
        decode(b'{"v": 1, "events": [{"seq": 1}]}')


async def test_events_published_together_travel_as_one_message_in_order(redis_url: str) -> None:
    """What one process publishes in one pass of its loop reaches every process as one Redis
    message (each process parses one message, not one per event), in publish order."""
    one, two = RedisBroker.from_url(redis_url), RedisBroker.from_url(redis_url)
    await one.start()
    await two.start()
    try:
        scan = fresh_id("scan")
        events = [task_event(scan, seq, "alice") for seq in range(1, 6)]
        await two.follow(scan)
        there = two.events()
        for event in events:
            await one.publish(event)  # returns at once: all five are queued in this pass
        assert [await next_item(there) for _ in events] == events
        assert one.counters.published == 5
        assert two.counters.received == 1, "five events, one message"
    finally:
        await one.stop()
        await two.stop()


async def test_an_unreachable_redis_fails_start_with_a_masked_url() -> None:
    """Starting against a Redis that does not answer raises Unavailable; the password is masked."""
    broker = RedisBroker("redis://:secret-pw@127.0.0.1:1/0", connect_timeout=1.0)
    with pytest.raises(Unavailable) as raised:
        await broker.start()
    assert "Cannot reach Redis" in raised.value.message
    assert "secret-pw" not in raised.value.message


async def test_a_foreign_message_on_the_channel_is_counted_and_ignored(redis_url: str) -> None:
    """Junk published on the channel by someone else neither stops nor confuses the listener."""
    broker = RedisBroker.from_url(redis_url)
    await broker.start()
    raw = redis.asyncio.Redis.from_url(parse_redis_url(redis_url).url)
    try:
        stream = broker.events()
        await raw.publish(broker.channel, b"hello")
        event = scan_event(fresh_id("scan"), 1)
        await broker.follow(event.scan_id)
        await raw.publish(broker.scan_channel(event.scan_id), b"hello")
        await broker.publish(event)
        assert await next_item(stream) == event
        assert broker.counters.bad_messages == 2
    finally:
        await raw.aclose()
        await broker.stop()


async def test_an_event_that_could_not_be_published_is_announced_as_a_resync_everywhere(
    redis_url: str,
) -> None:
    """A publish that fails (here: the outbox is full) does not raise; a resync notice of its
    scan then reaches every process, whose core sends the scan's viewers to resume."""
    options = parse_redis_url(redis_url)
    tight = RedisBroker(options.url, prefix=options.prefix, outbox_size=1)
    other = RedisBroker.from_url(redis_url)
    await tight.start()
    await other.start()
    try:
        scan = fresh_id("scan")
        await other.follow(scan)
        stream = other.events()
        first = scan_event(scan, 1)
        await tight.publish(first)
        await tight.publish(scan_event(scan, 2))  # no room left: not published
        assert tight.counters.publish_failures == 1
        assert await next_item(stream) == first
        assert await next_item(stream) == Resync(frozenset({scan}))
    finally:
        await tight.stop()
        await other.stop()


async def test_losing_redis_is_announced_and_the_broker_reconnects_by_itself(
    private_redis: RedisServer,
) -> None:
    """Redis stops: the stream says events may be lost, and publishing neither raises nor
    blocks; Redis returns on the same port: the broker resubscribes by itself, says so
    again (events published meanwhile are lost), and carries events again."""
    broker = RedisBroker(private_redis.url(), prefix=unique_prefix(), retry_delays=(0.1, 0.5))
    await broker.start()
    try:
        scan, later = fresh_id("scan"), fresh_id("scan")
        await broker.follow(scan)
        stream = broker.events()
        private_redis.stop()
        assert await next_item(stream) == Resync(None)
        assert not broker.connected
        await asyncio.wait_for(broker.follow(later), 1.0)  # returns at once while down
        await asyncio.wait_for(broker.publish(scan_event(scan, 1)), 1.0)  # stored; Redis is down
        await wait_until(lambda: broker.counters.publish_failures >= 1, "the publish failed")

        private_redis.start()
        await wait_until(lambda: broker.connected, "the broker reconnected")
        assert await next_item(stream) == Resync(None)
        counters = dataclasses.asdict(broker.counters)
        assert (counters["connection_losses"], counters["reconnects"]) == (1, 1)
        assert await next_item(stream) == Resync(frozenset({scan}))  # the failed publish's
        event = scan_event(scan, 2)
        await broker.publish(event)
        assert await next_item(stream) == event
        followed_while_down = scan_event(later, 1)  # the new subscription took its channel
        await broker.publish(followed_while_down)
        assert await next_item(stream) == followed_while_down
    finally:
        await broker.stop()


async def subscribers(raw: redis.asyncio.Redis, channel: str) -> int:
    """How many connections Redis counts as subscribed to ``channel`` (``PUBSUB NUMSUB``)."""
    counts = dict(await raw.pubsub_numsub(channel))
    return int(counts.get(channel.encode(), 0))


async def next_change(viewer: ViewerSession) -> ScanEvent:
    """The viewer's next event of the scan's seq'd log (presence and claim notices skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while (event := await viewer.next_event()).type.is_notice:
            pass
    return event


async def test_a_process_reads_only_the_scans_its_viewers_joined(redis_url: str) -> None:
    """Two processes: the one whose viewer joined scan A reads A's events from either and
    nothing of scan B, which only the other views; once its last viewer of A leaves, it leaves
    A's channel, and A's events no longer reach it."""
    here, there = RedisBroker.from_url(redis_url), RedisBroker.from_url(redis_url)
    raw = redis.asyncio.Redis.from_url(parse_redis_url(redis_url).url)
    async with make_app(broker=here) as app, make_app(broker=there) as other:
        admin, other_admin = (
            await sign_up(app, "root", "admin"),
            await sign_up(other, "ops", "admin"),
        )
        mine, theirs = await app.create_scan(admin, "A"), await other.create_scan(other_admin, "B")
        with ViewerSession(app, admin) as viewer, ViewerSession(other, other_admin) as watcher:
            await viewer.join(mine.id)
            await watcher.join(theirs.id)
            assert await subscribers(raw, here.scan_channel(mine.id)) == 1
            assert await subscribers(raw, here.scan_channel(theirs.id)) == 1  # the other's
            before = here.counters.received
            await there.publish(scan_event(theirs.id, 1))  # B: only the other process views it
            await there.publish(scan_event(mine.id, 1))
            assert (await next_change(viewer)).seq == 1
            assert (await next_change(watcher)).seq == 1
            assert here.counters.received == before + 1, "scan B's message reached this process"

            viewer.leave(mine.id)
            async with asyncio.timeout(TIMEOUT):
                # Redis offers no event for a subscriber count; polling it is the honest check.
                while await subscribers(raw, here.scan_channel(mine.id)):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            await there.publish(scan_event(mine.id, 2))
            await there.publish(scan_event(theirs.id, 2))
            assert (await next_change(watcher)).seq == 2
            assert here.counters.received == before + 1, "scan A's message came after leaving"
    await raw.aclose()
