"""CONTRACT.md §3, resuming: `scan:join` with `since_seq` replays what a socket missed, or
answers a snapshot with `"reset": true` when it cannot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import TEST_INVITE_CODE, Account, Api, LiveSocket, ServerProcess, register_sync

from .helpers import PASSWORD, SocketFactory, Users

# The live channel over Socket.IO (the aiohttp example's is SSE: test_live_sse.py).
pytestmark = pytest.mark.integrations("sanic")


async def submit(socket: LiveSocket, scan: str, content: str = "x") -> Any:
    ack = await socket.call("task:submit", {"scan_id": scan, "content": content})
    assert ack["ok"] is True, ack
    return ack["task"]


async def test_resume_replays_the_missed_events_in_order(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "With since_seq it answers `events`: every event after since_seq that this user
    may see, in order"; live events then continue after them."""
    admin = await sockets.joined(users.admin, scan_id)
    worker = await sockets.connect(users.worker)
    first = await submit(worker, scan_id, "seen live")
    await admin.wait_event("task:created", id=first["id"])
    seen = first["seq"]
    await admin.close()

    missed = [await submit(worker, scan_id, f"missed {i}") for i in range(3)]
    decider = await sockets.connect(users.admin2)
    decided = await decider.call("task:decide", {"task_id": missed[0]["id"], "decision": "refused"})

    again = await sockets.connect(users.admin)
    ack = await again.call("scan:join", {"scan_id": scan_id, "since_seq": seen})
    assert ack["ok"] is True
    assert set(ack) == {"ok", "scan", "seq", "events", "presence"}  # v2: presence, not claims
    assert ack["seq"] == decided["task"]["seq"] == seen + 4
    assert [e["seq"] for e in ack["events"]] == [seen + 1, seen + 2, seen + 3, seen + 4]
    assert [e["type"] for e in ack["events"]] == ["task:created"] * 3 + ["task:updated"]
    assert [e["task"]["id"] for e in ack["events"][:3]] == [t["id"] for t in missed]
    assert ack["events"][3]["task"] == decided["task"]
    assert all(e["scan_id"] == scan_id for e in ack["events"])

    after = await submit(worker, scan_id, "live again")
    event = await again.wait_event("task:created", id=after["id"])
    assert event["seq"] == seen + 5
    live = [e.data["seq"] for e in again.events if e.type not in ("scan:stats", "scan:presence")]
    assert live == [seen + 5]  # nothing replayed twice


async def test_worker_resume_holds_only_what_the_worker_may_see(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "every event after since_seq that this user may see"; "a worker never receives
    another worker's task" — also on resume."""
    mine = await sockets.connect(users.worker)
    theirs = await sockets.connect(users.worker2)
    own = await submit(mine, scan_id, "own")
    await submit(theirs, scan_id, "not yours")
    closed = await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)
    ack = await mine.call("scan:join", {"scan_id": scan_id, "since_seq": 0})
    assert ack["ok"] is True
    assert ack["seq"] == 3
    assert [(e["type"], e["seq"]) for e in ack["events"]] == [
        ("task:created", 1),
        ("scan:updated", 3),
    ]
    assert ack["events"][0]["task"] == own
    assert ack["events"][1]["scan"] == closed.body["scan"]


async def test_since_seq_equal_to_latest_replays_nothing(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "every event after since_seq": at the latest seq there are none, and no reset."""
    worker = await sockets.connect(users.worker)
    task = await submit(worker, scan_id)
    ack = await worker.call("scan:join", {"scan_id": scan_id, "since_seq": task["seq"]})
    assert ack == {
        "ok": True,
        "scan": ack["scan"],
        "seq": task["seq"],
        "events": [],
        "presence": ack["presence"],
    }


@pytest.mark.parametrize("ahead", [1, 1000])
async def test_since_seq_beyond_the_latest_answers_a_reset_snapshot(
    sockets: SocketFactory, users: Users, scan_id: str, ahead: int
) -> None:
    """Contract: "when the server no longer holds them all, it answers a snapshot with `"reset":
    true`" — as for a since_seq beyond the latest (a client that saw another store)."""
    worker = await sockets.connect(users.worker)
    task = await submit(worker, scan_id)
    ack = await worker.call("scan:join", {"scan_id": scan_id, "since_seq": task["seq"] + ahead})
    assert ack["ok"] is True
    assert ack["reset"] is True
    assert ack["seq"] == task["seq"]
    assert [t["id"] for t in ack["tasks"]] == [task["id"]]
    assert "events" not in ack


# -- a server that keeps few events --------------------------------------------------------------
@pytest.fixture(scope="module")
def forgetful_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose store keeps only the latest 50 events of a scan (pruned every 256)."""
    data: Path = tmp_path_factory.mktemp("forgetful")
    store = f"sqlite:///{data}/forgetful.db?synchronous=normal&event_retention=50"
    with ServerProcess(store_url=store) as process:
        yield process


async def test_since_seq_no_longer_held_answers_a_reset_snapshot(
    forgetful_server: ServerProcess,
) -> None:
    """Contract: "when the server no longer holds them all, it answers a snapshot with `"reset":
    true`"."""
    url = forgetful_server.base_url
    admin: Account = await asyncio.to_thread(
        register_sync, url, "old-admin", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    worker: Account = await asyncio.to_thread(register_sync, url, "old-worker", PASSWORD)
    factory = SocketFactory(url)
    try:
        admin_socket = await factory.connect(admin)
        writers = [await factory.connect(worker) for _ in range(4)]
        async with aiohttp.ClientSession() as session:
            created = await Api(url, session).post(
                "/api/scans", {"name": "long"}, token=admin.token
            )
            scan_id = created.body["scan"]["id"]

        async def write(socket: LiveSocket, n: int) -> None:
            for i in range(n):
                await submit(socket, scan_id, f"task {i}")

        await asyncio.gather(*(write(w, 65) for w in writers))  # seq 1..260: pruned at 256

        kept = await admin_socket.call("scan:join", {"scan_id": scan_id, "since_seq": 250})
        assert [e["seq"] for e in kept["events"]] == list(range(251, 261))
        await admin_socket.call("scan:leave", {"scan_id": scan_id})

        gone = await admin_socket.call("scan:join", {"scan_id": scan_id, "since_seq": 10})
        assert gone["ok"] is True
        assert gone["reset"] is True
        assert gone["seq"] == 260
        assert len(gone["tasks"]) == 260  # every pending task of the scan
        assert "events" not in gone
    finally:
        await factory.close_all()
