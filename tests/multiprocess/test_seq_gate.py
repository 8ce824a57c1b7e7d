"""The seq gate with several publishers: a viewer's join tells the gate where the scan stands."""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core import Broker, ScanEvent, ViewerSession
from taskstream_core.brokers.memory import MemoryBroker
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.models import EventType
from taskstream_core.testing import make_app, sign_up
from tests.conformance.factories import new_task


async def next_change(viewer: ViewerSession, within: float) -> ScanEvent:
    """The viewer's next event of the scan's seq'd log (presence and claim notices skipped)."""
    async with asyncio.timeout(within):
        while (event := await viewer.next_event()).type.is_notice:
            pass
    return event


@pytest.fixture(params=["memory", "redis"])
def broker(request: pytest.FixtureRequest) -> Broker:
    """The in-process broker, and the Redis one on a channel of this test's own."""
    if request.param == "memory":
        return MemoryBroker()
    return RedisBroker.from_url(request.getfixturevalue("redis_url"))


async def test_a_later_seq_overtaking_the_first_event_after_a_join_is_held_for_it(
    broker: Broker,
) -> None:
    """Contract: "Each socket receives a scan's events in seq order, also when several server
    processes share the work": seq 2 published before seq 1 (another process was faster) waits
    for 1 even when it is the first event of the scan this process sees."""
    async with make_app(broker=broker) as app:
        admin = await sign_up(app, "root", "admin")
        scan = await app.create_scan(admin, "gate")
        with ViewerSession(app, admin) as viewer:
            joined = await viewer.join(scan.id)
            assert joined.seq == 0
            _, first = await app.store.create_task(new_task(scan.id, "w1"))
            _, second = await app.store.create_task(new_task(scan.id, "w2"))
            assert first is not None
            assert second is not None
            await app.broker.publish(second)  # the other process published first
            await app.broker.publish(first)
            got = [await next_change(viewer, 5) for _ in range(2)]
    assert [e.seq for e in got] == [1, 2]
    assert {e.type for e in got} == {EventType.TASK_CREATED}


async def test_events_the_join_covered_do_not_hold_later_ones(broker: Broker) -> None:
    """A join answered as of seq N seeds the gate at N: seq N+1 flows at once, older ones
    arriving late are dropped (the snapshot had them)."""
    async with make_app(broker=broker) as app:
        admin = await sign_up(app, "root", "admin")
        scan = await app.create_scan(admin, "gate")
        _, early = await app.store.create_task(new_task(scan.id, "w1"))  # stored, not yet published
        with ViewerSession(app, admin) as viewer:
            joined = await viewer.join(scan.id)
            assert joined.seq == 1
            _, late = await app.store.create_task(new_task(scan.id, "w2"))
            assert early is not None
            assert late is not None
            await app.broker.publish(late)
            await app.broker.publish(early)
            got: ScanEvent = await next_change(viewer, 5)
            assert got.seq == 2
            with pytest.raises(TimeoutError):  # the late event went out: nothing else came
                await next_change(viewer, 0.1)
