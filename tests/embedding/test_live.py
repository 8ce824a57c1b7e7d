"""The aiohttp example's own surface: a scan's live events as Server-Sent Events, built on
``ViewerSession``, and an example that stands on the core alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import runpy
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import aiohttp

from taskstream_core import wire
from taskstream_core.models import utc_now
from tests.contract.helpers import Users, assert_error, mint_token
from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET, Account, Api, Reply

from .conftest import EXAMPLE

WAIT = 5.0  # how long a test waits for an event it expects


@dataclass(frozen=True, slots=True)
class Sse:
    """One Server-Sent Event: its name, its id (the scan's seq, when it has one) and its data."""

    event: str
    id: int | None
    data: Any


class EventStream:
    """Reads a ``text/event-stream`` answer one event at a time."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> Sse:
        """The next event; fails the test if none comes within :data:`WAIT` seconds."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(WAIT):
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise EOFError("the stream ended")
                if line.strip():
                    name, _, value = line.rstrip("\n").partition(": ")
                    fields[name] = value
                elif fields:
                    seq = fields.get("id")
                    return Sse(
                        fields["event"], int(seq) if seq else None, json.loads(fields["data"])
                    )

    async def rest(self) -> list[Sse]:
        """Every event until the stream ends; fails the test if one takes over :data:`WAIT`."""
        events = []
        with contextlib.suppress(EOFError):
            while True:
                events.append(await self.next())
        return events

    async def next_change(self) -> Sse:
        """The next event that is not a ``scan:stats`` snapshot."""
        while (item := await self.next()).event == "scan:stats":
            pass
        return item


@asynccontextmanager
async def live(
    api: Api, account: Account, scan_id: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[EventStream]:
    sent = {"Authorization": f"Bearer {account.token}", **(headers or {})}
    url = f"{api.base_url}/api/scans/{scan_id}/live"
    async with api.session.get(url, headers=sent) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield EventStream(response)


async def submit(api: Api, worker: Account, scan_id: str, content: str) -> dict[str, Any]:
    reply: Reply = await api.post(
        f"/api/scans/{scan_id}/tasks", {"content": content}, token=worker.token
    )
    assert reply.status == 201, reply.text
    task: dict[str, Any] = reply.body["task"]
    return task


async def test_stream_opens_with_the_join_then_each_change_with_its_seq(
    api: Api, users: Users, scan_id: str
) -> None:
    """A stream starts with the join answer (snapshot and seq), then carries every change of
    the scan as its contract envelope, each with the scan's seq as the event id."""
    before = await submit(api, users.worker, scan_id, "already there")
    async with live(api, users.admin, scan_id) as stream:
        joined = await stream.next()
        assert joined.event == "join"
        assert joined.data["seq"] == joined.id == before["seq"]
        assert [t["id"] for t in joined.data["tasks"]] == [before["id"]]
        task = await submit(api, users.worker, scan_id, "arrives live")
        created = await stream.next_change()
        assert (created.event, created.id) == ("task:created", task["seq"])
        assert created.data == {
            "type": "task:created",
            "scan_id": scan_id,
            "seq": task["seq"],
            "task": task,
        }
        decision = await api.post(
            f"/api/tasks/{task['id']}/decision", {"decision": "validated"}, token=users.admin.token
        )
        updated = await stream.next_change()
        assert updated.event == "task:updated"
        assert updated.data["task"] == decision.body["task"]
        assert updated.id == decision.body["task"]["seq"] > created.id


async def test_a_worker_stream_carries_its_own_tasks_and_the_scan_only(
    api: Api, users: Users, scan_id: str
) -> None:
    """Sandboxing holds on the example too: a worker's stream never carries another worker's
    task, and carries its own tasks' decisions and the scan's close."""
    async with live(api, users.worker2, scan_id) as stream:
        assert (await stream.next()).event == "join"
        await submit(api, users.worker, scan_id, "someone else's")
        mine = await submit(api, users.worker2, scan_id, "my own")
        refused = await api.post(
            f"/api/tasks/{mine['id']}/decision",
            {"decision": "refused", "reason": "dup"},
            token=users.admin.token,
        )
        assert refused.status == 200
        await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)
        seen = [await stream.next_change() for _ in range(3)]
    assert [s.event for s in seen] == ["task:created", "task:updated", "scan:updated"]
    assert seen[0].data["task"]["id"] == mine["id"]
    assert seen[1].data["task"]["reason"] == "dup"
    assert seen[2].data["scan"]["status"] == "closed"
    assert all(s.event != "scan:stats" for s in seen)


async def test_last_event_id_resumes_with_the_missed_events(
    api: Api, users: Users, scan_id: str
) -> None:
    """A stream opened with ``Last-Event-ID`` (what a reconnecting EventSource sends) starts
    with the events after that seq instead of a snapshot."""
    first = await submit(api, users.worker, scan_id, "seen before the drop")
    missed = [await submit(api, users.worker, scan_id, f"missed {i}") for i in range(2)]
    async with live(api, users.admin, scan_id, {"Last-Event-ID": str(first["seq"])}) as stream:
        joined = await stream.next()
    assert "tasks" not in joined.data
    assert [e["task"]["id"] for e in joined.data["events"]] == [t["id"] for t in missed]
    assert joined.id == missed[-1]["seq"]


async def test_a_stream_needs_a_valid_token(api: Api, scan_id: str) -> None:
    """Opening a stream without a valid bearer token answers the contract's 401 body."""
    for headers in ({}, {"Authorization": "Bearer not.a.jwt"}):
        reply = await api.get(f"/api/scans/{scan_id}/live", headers=headers)
        assert_error(reply, 401, "unauthorized")


async def test_a_stream_lives_no_longer_than_its_token(
    api: Api, users: Users, scan_id: str
) -> None:
    """A stream opened with a token ends when the token stops being accepted (its expiry plus
    the 5 s leeway), so an expired token does not keep receiving events."""
    # expired 3-4 s ago; accepted for 1-2 s more
    issued = utc_now() - timedelta(seconds=8)
    short = replace(
        users.worker, token=mint_token(users.worker, issued=issued, lifetime=timedelta(seconds=5))
    )
    async with live(api, short, scan_id) as stream:
        assert (await stream.next()).event == "join"
        await stream.rest()  # within WAIT: the stream ended


def test_the_example_serves_every_documented_route_and_no_other() -> None:
    """The example's /api/ routes are exactly the OpenAPI document's operations, plus the
    event stream the document leaves to the contract's live section."""
    build_app = runpy.run_path(str(EXAMPLE))["build_app"]
    app = build_app("memory://", TEST_JWT_SECRET, TEST_INVITE_CODE)
    served = {
        (re.sub(r"\{\w+\}", "{}", route.resource.canonical), route.method.lower())
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {
        (re.sub(r"\{\w+\}", "{}", path), method)
        for path, operations in wire.openapi_document()["paths"].items()
        for method in operations
    }
    assert served == documented | {("/api/scans/{}/live", "get")}


def test_the_example_stands_on_the_core_alone() -> None:
    """The example imports nothing of the reference server: not taskstream_server, Sanic or
    python-socketio."""
    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]);"
        "print(sorted(m for m in ('taskstream_server', 'sanic', 'socketio') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe, str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert found.stdout.strip() == "[]", found.stderr
