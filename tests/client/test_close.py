"""What ``close()`` ends: the event consumers, the calls waiting for a connection, and the
HTTP session, against the real server process."""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core.client import ClientItem, TaskStreamClient
from taskstream_core.errors import Unavailable
from tests.client.helpers import PASSWORD, unique_name
from tests.support import ServerProcess

pytestmark = pytest.mark.contract


async def test_close_ends_the_event_iterator_and_wakes_next_event(
    admin: TaskStreamClient,
) -> None:
    """A consumer waiting in ``events()`` stops, and one waiting in ``next_event()`` raises
    Unavailable, as soon as the client is closed."""
    scan = await admin.create_scan("closing")
    await admin.join(scan.id)
    seen: list[ClientItem] = []

    async def consume() -> None:
        async for item in admin.events():
            seen.append(item)

    iterating = asyncio.ensure_future(consume())
    waiting = asyncio.ensure_future(admin.next_event())
    await asyncio.sleep(0.2)
    assert not iterating.done()
    assert not waiting.done()

    await admin.close()
    try:
        await asyncio.wait_for(iterating, 5)  # the iterator ends, without an error
        with pytest.raises(Unavailable, match="closed"):
            await asyncio.wait_for(waiting, 5)
        with pytest.raises(Unavailable, match="closed"):
            await admin.next_event()
    finally:
        iterating.cancel()
        waiting.cancel()


async def test_close_ends_calls_waiting_for_a_connection(
    server: ServerProcess, worker: TaskStreamClient
) -> None:
    """With the server down, a live call and ``wait_connected()`` wait for the connection;
    closing the client makes both raise Unavailable at once."""
    await asyncio.to_thread(server.stop)
    for _ in range(50):
        if not worker.connected:
            break
        await asyncio.sleep(0.1)
    submitting = asyncio.ensure_future(worker.submit("any-scan", "waits for a connection"))
    connecting = asyncio.ensure_future(worker.wait_connected())
    await asyncio.sleep(0.3)
    assert not submitting.done()
    assert not connecting.done()

    loop = asyncio.get_running_loop()
    started = loop.time()
    await worker.close()
    try:
        with pytest.raises(Unavailable):
            await asyncio.wait_for(submitting, 5)
        with pytest.raises(Unavailable):
            await asyncio.wait_for(connecting, 5)
        assert loop.time() - started < 3  # not the call's own 3 x call_timeout deadline
        with pytest.raises(Unavailable, match="closed"):
            await worker.wait_connected()
    finally:
        submitting.cancel()
        connecting.cancel()


async def test_http_calls_after_close_raise_and_open_no_session(server: ServerProcess) -> None:
    """After ``close()``, an HTTP call raises Unavailable and leaves no aiohttp session open."""
    client = await TaskStreamClient.register(server.base_url, unique_name("w"), PASSWORD)
    await client.list_scans()
    await client.close()

    with pytest.raises(Unavailable, match="closed"):
        await client.list_scans()
    with pytest.raises(Unavailable, match="closed"):
        await client.get_task("any-task")
    assert client._http is None  # no session left to close
