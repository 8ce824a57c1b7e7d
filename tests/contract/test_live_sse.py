"""The live section of the contract over Server-Sent Events, as the aiohttp example serves it
(``GET /api/scans/{id}/live``, built on ``ViewerSession``): the join, each change with its seq,
sandboxing, resuming with ``Last-Event-ID``, and the end of a stream at its token's expiry."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from taskstream_core.models import utc_now
from tests.support import Account, Api, Reply
from tests.support.sse import event_stream

from .helpers import Users, assert_error, mint_token

# The reference server's live channel is Socket.IO: test_socketio*.py.
pytestmark = pytest.mark.integrations("aiohttp")


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
    async with event_stream(api, users.admin.token, scan_id) as stream:
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
    async with event_stream(api, users.worker2.token, scan_id) as stream:
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
    async with event_stream(
        api, users.admin.token, scan_id, {"Last-Event-ID": str(first["seq"])}
    ) as stream:
        joined = await stream.next()
    assert "tasks" not in joined.data
    assert [e["task"]["id"] for e in joined.data["events"]] == [t["id"] for t in missed]
    assert joined.id == missed[-1]["seq"]


async def test_a_resume_point_that_is_no_seq_is_refused(
    api: Api, users: Users, scan_id: str
) -> None:
    """A ``since_seq`` or ``Last-Event-ID`` that is not a seq answers 400 before any stream."""
    auth = {"Authorization": f"Bearer {users.admin.token}"}
    for query, headers in (("?since_seq=x", {}), ("", {"Last-Event-ID": "-1"})):
        reply = await api.get(f"/api/scans/{scan_id}/live{query}", headers=auth | headers)
        assert_error(reply, 400, "invalid_request")


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
    async with event_stream(api, short.token, scan_id) as stream:
        assert (await stream.next()).event == "join"
        await stream.rest()  # within WAIT: the stream ended
