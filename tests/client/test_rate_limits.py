"""The client against the server's rate limits: the per-socket bound on live calls waiting,
``rate_limited`` acks, and ``Retry-After``; against the real server process."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from taskstream_core import ScanEvent
from taskstream_core.client import TaskStreamClient, _error
from taskstream_core.errors import RateLimited, Unauthorized
from tests.client.helpers import PASSWORD, next_events, unique_name
from tests.support import ServerProcess

pytestmark = pytest.mark.contract

#: More live calls at once than the reference server lets wait on one socket (64).
MANY = 150


async def test_many_concurrent_live_calls_on_one_client_succeed(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """A gather of more live calls than the server lets wait on one socket succeeds:
    the client keeps its own calls in flight below the server's bound."""
    scan = await admin.create_scan("many at once")
    tasks = await asyncio.gather(*(worker.submit(scan.id, f"task {n}") for n in range(MANY)))
    assert len({t.id for t in tasks}) == MANY
    claims = await asyncio.gather(*(admin.claim(t.id) for t in tasks))
    assert len(claims) == MANY


async def test_a_live_call_answered_rate_limited_is_sent_again(
    server: ServerProcess, admin: TaskStreamClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the client's own bound lifted, the server answers the calls past its bound
    ``rate_limited``; each is sent again after a pause and succeeds within its deadline."""
    monkeypatch.setattr("taskstream_core.client._LIVE_CALLS_MAX", 10 * MANY, raising=False)
    scan = await admin.create_scan("rate limited")
    worker = await TaskStreamClient.register(server.base_url, unique_name("w"), PASSWORD)
    async with worker:
        tasks = await asyncio.gather(*(worker.submit(scan.id, f"task {n}") for n in range(MANY)))
    assert len({t.id for t in tasks}) == MANY


async def test_a_resume_answered_rate_limited_is_tried_again(
    server: ServerProcess,
    admin: TaskStreamClient,
    worker: TaskStreamClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resume after a reconnect that the server answers ``rate_limited`` (for longer than a
    live call's deadline) is tried again later: no missed event is lost."""
    loop = asyncio.get_running_loop()
    admin.call_timeout = 0.3  # a live call gives up after 3 x call_timeout
    scan = await admin.create_scan("resume limited")
    await admin.join(scan.id)
    refused = 0
    refused_enough = asyncio.Event()  # refused for longer than a live call's deadline
    limited_until = 0.0
    real_call = admin._sio.call

    async def call(event: str, data: Any = None, **options: Any) -> Any:
        nonlocal refused
        if event == "scan:join" and "since_seq" in data and loop.time() < limited_until:
            refused += 1
            if refused >= 6:
                refused_enough.set()
            return {
                "ok": False,
                "error": {"code": "rate_limited", "message": "Too many events waiting."},
            }
        return await real_call(event, data, **options)

    monkeypatch.setattr(admin._sio, "call", call)
    limited_until = loop.time() + 30
    await asyncio.to_thread(server.restart)
    during = [await worker.submit(scan.id, f"after the restart {n}") for n in range(3)]
    await asyncio.wait_for(refused_enough.wait(), 15)
    limited_until = 0.0

    items = await next_events(admin, 3, wait=20)
    events = [i for i in items if isinstance(i, ScanEvent)]
    assert [e.task.id for e in events if e.task] == [t.id for t in during]


async def test_rate_limited_carries_retry_after(server: ServerProcess) -> None:
    """An HTTP ``429`` raises RateLimited whose ``retry_after`` is the ``Retry-After`` header,
    from ``login()`` and from ``request()`` alike."""
    name = unique_name("w")
    client = await TaskStreamClient.register(server.base_url, name, PASSWORD)
    try:
        limited: RateLimited | None = None
        for _ in range(10):
            try:
                await TaskStreamClient.login(server.base_url, name, "a wrong password")
            except Unauthorized:
                continue
            except RateLimited as exc:
                limited = exc
                break
        assert limited is not None
        assert limited.retry_after is not None
        assert limited.retry_after >= 1

        with pytest.raises(RateLimited) as caught:
            await client.request(
                "POST", "/api/auth/login", {"username": name, "password": "a wrong password"}
            )
        assert caught.value.retry_after is not None
        assert caught.value.retry_after >= 1
    finally:
        await client.close()


def test_an_ack_that_carries_retry_after_fills_it() -> None:
    """An error body whose ``rate_limited`` names ``retry_after`` fills the exception's."""
    body = {"error": {"code": "rate_limited", "message": "Slow down.", "retry_after": 2}}
    error = _error(body, 0)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 2.0
