"""What the Redis broker does beyond the Broker conformance suite: one path, loss and recovery."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
import redis.asyncio

from taskstream_core import EventType, ScanEvent, Subscription, SubscriptionLagged, Unavailable
from taskstream_core.brokers._redis_wire import decode, encode_event, parse_redis_url
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.models import ScanCounts, ScanStats, WorkerStats
from taskstream_core.rooms import admin_room, scan_room
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


async def drain(sub: Subscription) -> list[int]:
    """The seqs a subscription yields until it ends (it raises if it ended lagged)."""
    got: list[int] = []
    while True:
        got.append((await asyncio.wait_for(sub.get(), TIMEOUT)).seq)


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


async def test_an_event_published_by_one_process_reaches_every_process(redis_url: str) -> None:
    """Contract: "The same event reaches every joined socket whichever server process it is
    connected to": two brokers on one channel both deliver, the publisher's own included, and
    the publisher delivers its own event only once it comes back from Redis."""
    one, two = RedisBroker.from_url(redis_url), RedisBroker.from_url(redis_url)
    await one.start()
    await two.start()
    try:
        scan = fresh_id("scan")
        here, there = one.subscribe([scan_room(scan)]), two.subscribe([scan_room(scan)])
        event = scan_event(scan, 1)
        await one.publish(event)
        assert here.pending() == 0, "nothing is delivered before the Redis round trip"
        assert await asyncio.wait_for(here.get(), TIMEOUT) == event
        assert await asyncio.wait_for(there.get(), TIMEOUT) == event
        assert one.counters.published == 1
        assert (one.counters.received, two.counters.received) == (1, 1)
    finally:
        await one.stop()
        await two.stop()


async def test_stats_reach_admins_at_most_once_per_interval_newest_first(redis_url: str) -> None:
    """Contract: "`scan:stats` ... at most twice a second per scan", even when every process
    publishes its own: a burst becomes the first and then the newest; older figures are dropped."""
    broker = RedisBroker.from_url(redis_url)
    await broker.start()
    try:
        scan = fresh_id("scan")
        admin = broker.subscribe([admin_room(scan)])
        burst = [stats_event(scan, 5, pending=5), stats_event(scan, 7, 7), stats_event(scan, 6, 6)]
        for event in burst:
            await broker.publish(event)
        first = await asyncio.wait_for(admin.get(), TIMEOUT)
        second = await asyncio.wait_for(admin.get(), TIMEOUT)
        assert [first.seq, second.seq] == [5, 7]
        assert second.stats is not None
        assert second.stats.counts.pending == 7
        await broker.publish(stats_event(scan, 6, 6))  # older than what admins have
        await broker.publish(scan_event(fresh_id("marker"), 1))
        await asyncio.sleep(1.0)
        assert admin.pending() == 0
    finally:
        await broker.stop()


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
        scan = fresh_id("scan")
        sub = broker.subscribe([scan_room(scan)])
        await raw.publish(broker.channel, b"hello")
        await broker.publish(scan_event(scan, 1))
        assert (await asyncio.wait_for(sub.get(), TIMEOUT)).seq == 1
        assert broker.counters.bad_messages == 1
    finally:
        await raw.aclose()
        await broker.stop()


async def test_an_event_that_could_not_be_published_sends_its_scans_viewers_to_resume(
    redis_url: str,
) -> None:
    """A publish that fails (here: the outbox is full) does not raise; a resync notice then
    closes the scan's subscriptions as lagged on every process, so their viewers resume."""
    options = parse_redis_url(redis_url)
    tight = RedisBroker(options.url, prefix=options.prefix, outbox_size=1)
    other = RedisBroker.from_url(redis_url)
    await tight.start()
    await other.start()
    try:
        scan, calm = fresh_id("scan"), fresh_id("scan")
        viewer, bystander = other.subscribe([scan_room(scan)]), other.subscribe([scan_room(calm)])
        await tight.publish(scan_event(scan, 1))
        await tight.publish(scan_event(scan, 2))  # no room left: not published
        assert tight.counters.publish_failures == 1
        with pytest.raises(SubscriptionLagged):
            await drain(viewer)
        assert not bystander.closed
    finally:
        await tight.stop()
        await other.stop()


async def test_losing_redis_sends_viewers_to_resume_and_the_broker_reconnects_by_itself(
    private_redis: RedisServer,
) -> None:
    """Redis stops: subscriptions close as lagged and publishing neither raises nor blocks;
    Redis returns on the same port: the broker resubscribes by itself and delivers again."""
    broker = RedisBroker(private_redis.url(), prefix=unique_prefix(), retry_delays=(0.1, 0.5))
    await broker.start()
    try:
        scan = fresh_id("scan")
        before = broker.subscribe([scan_room(scan)])
        private_redis.stop()
        with pytest.raises(SubscriptionLagged):
            await asyncio.wait_for(before.get(), TIMEOUT)
        assert not broker.connected
        await asyncio.wait_for(broker.publish(scan_event(scan, 1)), 1.0)  # stored; Redis is down
        await wait_until(lambda: broker.counters.publish_failures >= 1, "the publish failed")

        during = broker.subscribe([scan_room(scan)])  # a viewer that joined during the outage
        private_redis.start()
        await wait_until(lambda: broker.connected, "the broker reconnected")
        with pytest.raises(SubscriptionLagged):  # it may have missed events: it resumes too
            await asyncio.wait_for(during.get(), TIMEOUT)
        counters = dataclasses.asdict(broker.counters)
        assert (counters["connection_losses"], counters["reconnects"]) == (1, 1)

        after = broker.subscribe([scan_room(scan)])
        await wait_until(lambda: not broker._unannounced, "the resync notice went out")
        await asyncio.sleep(0.2)
        after = after if not after.closed else broker.subscribe([scan_room(scan)])
        await broker.publish(scan_event(scan, 2))
        assert (await asyncio.wait_for(after.get(), TIMEOUT)).seq == 2
    finally:
        await broker.stop()
