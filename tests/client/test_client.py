"""The Python client (taskstream_core.client) against the real server process.

The fixtures (a server of each test's own, an admin and a worker) are in
``conftest.py``.
"""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core import ScanEvent
from taskstream_core.client import Snapshot, TaskStreamClient
from taskstream_core.errors import AlreadyDecided, ScanClosed, Unauthorized
from taskstream_core.models import EventType
from tests.client.helpers import PASSWORD, next_events, unique_name
from tests.support import TEST_INVITE_CODE, ServerProcess

pytestmark = pytest.mark.contract


async def test_submit_reaches_admin_and_decision_reaches_worker(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """A worker's submit arrives at a joined admin, and the admin's decision at the worker."""
    scan = await admin.create_scan("client round trip")
    await admin.join(scan.id)
    await worker.join(scan.id)
    task = await worker.submit(scan.id, "ladder left in corridor B")
    (created,) = await next_events(admin, 1)
    assert isinstance(created, ScanEvent)
    assert created.type is EventType.TASK_CREATED
    assert created.task is not None
    assert created.task.id == task.id
    decided = await admin.decide(task.id, "refused", "already reported")
    assert decided.reason == "already reported"
    worker_items = await next_events(worker, 2)
    assert [i.type for i in worker_items if isinstance(i, ScanEvent)] == [
        EventType.TASK_CREATED,
        EventType.TASK_UPDATED,
    ]
    last = worker_items[-1]
    assert isinstance(last, ScanEvent)
    assert last.task is not None
    assert last.task.status.value == "refused"


async def test_errors_arrive_as_library_exceptions(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """Contract errors surface as the library's exceptions; already_decided carries the task."""
    scan = await admin.create_scan("errors")
    task = await worker.submit(scan.id, "first")
    await admin.decide(task.id, "validated")
    other = await TaskStreamClient.register(
        admin.base_url, unique_name("admin"), PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    async with other:
        with pytest.raises(AlreadyDecided) as caught:
            await other.decide(task.id, "refused")
    assert caught.value.task is not None
    assert caught.value.task.status.value == "validated"
    await admin.close_scan(scan.id)
    with pytest.raises(ScanClosed):
        await worker.submit(scan.id, "too late")


async def test_submit_is_idempotent_on_retry(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """Submitting twice with one idempotency key makes one task."""
    scan = await admin.create_scan("idempotent")
    first = await worker.submit(scan.id, "same", idempotency_key="k-1")
    again = await worker.submit(scan.id, "same", idempotency_key="k-1")
    assert first.id == again.id
    assert [t.id async for t in admin.list_tasks(scan.id)] == [first.id]


async def test_reconnects_and_resumes_across_a_server_restart(
    server: ServerProcess, admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """Events stored while the client was cut off arrive after its reconnect, once, in order."""
    scan = await admin.create_scan("restart")
    await admin.join(scan.id)
    before = await worker.submit(scan.id, "before the restart")
    assert [
        i.task.id for i in await next_events(admin, 1) if isinstance(i, ScanEvent) and i.task
    ] == [before.id]

    await asyncio.to_thread(server.restart)
    # The worker's submits wait for its own reconnect and are retried with their keys;
    # they happen while the admin client may still be reconnecting.
    during = [await worker.submit(scan.id, f"after the restart {n}") for n in range(5)]

    items = await next_events(admin, 5, wait=20)
    events = [i for i in items if isinstance(i, ScanEvent)]
    assert [e.task.id for e in events if e.task] == [t.id for t in during]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    assert all(not isinstance(i, Snapshot) for i in items)


async def test_submit_while_server_is_down_is_stored_once(
    server: ServerProcess, admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """A submit made while the server is down waits, then is stored exactly once."""
    scan = await admin.create_scan("down")
    await asyncio.to_thread(server.stop)
    pending = asyncio.ensure_future(worker.submit(scan.id, "made while down"))
    await asyncio.sleep(0.5)
    assert not pending.done()
    await asyncio.to_thread(server.start)
    task = await asyncio.wait_for(pending, 20)
    assert [t.id async for t in admin.list_tasks(scan.id)] == [task.id]


async def test_logged_out_token_stops_the_event_stream(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """After logout the server refuses the token; the client's event stream raises Unauthorized."""
    scan = await admin.create_scan("logout")
    await worker.join(scan.id)
    await worker.logout()
    with pytest.raises(Unauthorized):
        await next_events(worker, 1, wait=15)


async def test_connecting_with_a_logged_out_token_raises_unauthorized(
    server: ServerProcess,
) -> None:
    """A connect refused for its token raises Unauthorized, not a generic failure."""
    client = await TaskStreamClient.register(server.base_url, unique_name("worker"), PASSWORD)
    await client.logout()
    try:
        with pytest.raises(Unauthorized):
            await client.connect()
    finally:
        await client.close()


@pytest.mark.parametrize("make", ["login", "register"])
async def test_an_unknown_option_is_refused_before_any_request(
    server: ServerProcess, make: str
) -> None:
    """A misspelled constructor option raises TypeError, and no account is made or used."""
    name = unique_name("w")
    with pytest.raises(TypeError, match="max_queud"):
        await getattr(TaskStreamClient, make)(server.base_url, name, PASSWORD, max_queud=5)
    with pytest.raises(Unauthorized):  # register made no account
        await TaskStreamClient.login(server.base_url, name, PASSWORD)
