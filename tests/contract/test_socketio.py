"""CONTRACT.md §3, Socket.IO: the four client events and their acks, live events and who
receives them."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.support import Api, LiveSocket

from .helpers import PASSWORD, SocketFactory, Users

# The live channel over Socket.IO (the aiohttp example's is SSE: test_live_sse.py).
#: Events outside a scan's seq'd log: stats snapshots and v2's presence notices.
UNLOGGED = ("scan:stats", "scan:presence")

pytestmark = pytest.mark.integrations("sanic")


async def submit(socket: LiveSocket, scan: str, content: str = "x", **more: Any) -> Any:
    return await socket.call("task:submit", {"scan_id": scan, "content": content, **more})


# -- acks --------------------------------------------------------------------------------------
@pytest.mark.parametrize("event", ["scan:join", "scan:leave", "task:submit", "task:decide"])
@pytest.mark.parametrize("payload", ["text", 5, None, ["list"]], ids=repr)
async def test_non_object_payloads_are_invalid_request(
    sockets: SocketFactory, users: Users, event: str, payload: Any
) -> None:
    """Contract: "Every client event takes an acknowledgement. The ack is ... `{"ok": false,
    "error": {"code", "message"}}`": a payload that is not an object is `invalid_request`."""
    socket = await sockets.connect(users.admin)
    ack = await socket.call(event, payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] == "invalid_request"
    assert ack["error"]["message"]


async def test_unknown_event_is_acknowledged_with_an_error(
    sockets: SocketFactory, users: Users
) -> None:
    """Contract: "Every client event takes an acknowledgement": one the contract does not name
    answers `invalid_request`."""
    socket = await sockets.connect(users.worker)
    ack = await socket.call("scan:delete", {"scan_id": "x"})
    assert ack == {
        "ok": False,
        "error": {"code": "invalid_request", "message": ack["error"]["message"]},
    }


async def test_join_snapshot_for_an_admin(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`scan:join` without since_seq answers a snapshot: `tasks` holds, oldest first
    ... admins: every pending task of the scan plus the ... most recently decided ... and `seq`
    the scan's latest sequence number"."""
    worker = await sockets.connect(users.worker)
    other = await sockets.connect(users.worker2)
    made = [
        (await submit(worker, scan_id, "a"))["task"],
        (await submit(other, scan_id, "b"))["task"],
        (await submit(worker, scan_id, "c"))["task"],
    ]
    decided = await api.post(
        f"/api/tasks/{made[1]['id']}/decision", {"decision": "refused"}, token=users.admin.token
    )
    admin = await sockets.connect(users.admin)
    ack = await admin.call("scan:join", {"scan_id": scan_id})
    assert ack["ok"] is True
    assert set(ack) == {"ok", "scan", "seq", "tasks", "presence", "claims"}  # v2, §4.1, §4.2
    assert ack["claims"] == []
    assert users.admin.id in {p["user_id"] for p in ack["presence"]["present"]}
    assert ack["presence"]["reviewers"] >= 1
    assert ack["scan"]["id"] == scan_id
    assert ack["seq"] == decided.body["task"]["seq"] == 4
    assert [t["id"] for t in ack["tasks"]] == [t["id"] for t in made]
    assert ack["tasks"][1]["status"] == "refused"


async def test_join_snapshot_for_a_worker_holds_only_its_own_tasks(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "workers: their own tasks, the 500 most recent"; "a worker never receives
    another worker's task"."""
    worker = await sockets.connect(users.worker)
    other = await sockets.connect(users.worker2)
    mine = (await submit(worker, scan_id, "mine"))["task"]
    await submit(other, scan_id, "theirs")
    ack = await worker.call("scan:join", {"scan_id": scan_id})
    assert ack["ok"] is True
    assert ack["seq"] == 2
    assert [t["id"] for t in ack["tasks"]] == [mine["id"]]


async def test_join_errors(sockets: SocketFactory, users: Users) -> None:
    """Contract: `scan:join` `{scan_id, since_seq?}`: an unknown scan is `not_found`, a missing
    scan_id or a bad since_seq `invalid_request` (a number in a string is of the wrong type)."""
    socket = await sockets.connect(users.worker)
    unknown = await socket.call("scan:join", {"scan_id": "0123456789abcdef"})
    missing = await socket.call("scan:join", {})
    bad_seqs = [-1, "2", " 2 ", 2.0, True]
    bad = [
        await socket.call("scan:join", {"scan_id": "0123456789abcdef", "since_seq": seq})
        for seq in bad_seqs
    ]
    assert unknown["error"]["code"] == "not_found"
    assert missing["error"]["code"] == "invalid_request"
    assert [ack["error"]["code"] for ack in bad] == ["invalid_request"] * len(bad_seqs), bad


async def test_an_id_longer_than_64_characters_is_not_found_over_the_socket(
    sockets: SocketFactory, users: Users
) -> None:
    """Contract: "An unknown scan or task: 404" holds for events as `not_found` acks, also for an
    id of 65 characters (it names no scan or task); a non-string id stays `invalid_request`."""
    worker = await sockets.connect(users.worker)
    admin = await sockets.connect(users.admin)
    joined = await worker.call("scan:join", {"scan_id": "a" * 65})
    submitted = await worker.call("task:submit", {"scan_id": "a" * 65, "content": "x"})
    decided = await admin.call("task:decide", {"task_id": "a" * 65, "decision": "refused"})
    typed = await worker.call("scan:join", {"scan_id": 12345})
    assert joined["error"] == {"code": "not_found", "message": "No such scan."}
    assert submitted["error"] == {"code": "not_found", "message": "No such scan."}
    assert decided["error"] == {"code": "not_found", "message": "No such task."}
    assert typed["error"]["code"] == "invalid_request"


async def test_submit_and_decide_acks(sockets: SocketFactory, users: Users, scan_id: str) -> None:
    """Contract: `task:submit | worker | {scan_id, content, idempotency_key?} → {ok, task}` and
    `task:decide | admin | {task_id, decision, reason?} → {ok, task}`."""
    worker = await sockets.connect(users.worker)
    admin = await sockets.connect(users.admin)
    submitted = await submit(worker, scan_id, "over the socket", idempotency_key="s-1")
    assert set(submitted) == {"ok", "task"}
    assert submitted["ok"] is True
    assert submitted["task"]["status"] == "pending"
    replay = await submit(worker, scan_id, "again", idempotency_key="s-1")
    assert replay["task"] == submitted["task"]
    decided = await admin.call(
        "task:decide",
        {"task_id": submitted["task"]["id"], "decision": "validated", "reason": "fine"},
    )
    assert set(decided) == {"ok", "task"}
    assert decided["task"]["status"] == "validated"
    assert decided["task"]["reason"] == "fine"


async def test_event_rbac(sockets: SocketFactory, users: Users, scan_id: str) -> None:
    """Contract: `task:submit` is for workers and `task:decide` for admins; "any admin-only
    route: 403" holds for events as `forbidden` acks."""
    worker = await sockets.connect(users.worker)
    admin = await sockets.connect(users.admin)
    task = (await submit(worker, scan_id))["task"]
    by_admin = await submit(admin, scan_id)
    by_worker = await worker.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    assert by_admin["error"]["code"] == "forbidden"
    assert by_worker["error"]["code"] == "forbidden"


async def test_event_errors_mirror_http(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: acks carry "the codes of section 2": `already_decided`, `scan_closed`,
    `invalid_request` for lengths, `not_found`."""
    worker = await sockets.connect(users.worker)
    admin = await sockets.connect(users.admin)
    task = (await submit(worker, scan_id))["task"]
    first = await admin.call("task:decide", {"task_id": task["id"], "decision": "refused"})
    second = await admin.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    assert first["ok"] is True
    assert second["error"]["code"] == "already_decided"
    assert (await submit(worker, scan_id, "c" * 5001))["error"]["code"] == "invalid_request"
    missing = await admin.call(
        "task:decide", {"task_id": "0123456789abcdef", "decision": "refused"}
    )
    assert missing["error"]["code"] == "not_found"
    await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)
    assert (await submit(worker, scan_id))["error"]["code"] == "scan_closed"


async def test_acks_and_events_come_only_after_storage(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "An event is emitted only after the change is durable in the store, and an ack
    `ok: true` means the change is stored"."""
    admin = await sockets.joined(users.admin, scan_id)
    worker = await sockets.connect(users.worker)
    for i in range(5):
        ack = await submit(worker, scan_id, f"stored {i}")
        stored = await api.get(f"/api/tasks/{ack['task']['id']}", token=users.worker.token)
        assert stored.status == 200
        assert stored.body["task"] == ack["task"]
        event = await admin.wait_event("task:created", id=ack["task"]["id"])
        assert event["task"] == ack["task"]
        decided = await admin.call(
            "task:decide", {"task_id": ack["task"]["id"], "decision": "validated"}
        )
        now = await api.get(f"/api/tasks/{ack['task']['id']}", token=users.admin.token)
        assert now.body["task"] == decided["task"]


# -- who receives what --------------------------------------------------------------------------
async def test_task_created_reaches_admins_and_the_submitting_worker(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`task:created` `{..., "task"}`: to the scan's joined admins and to the submitting
    worker's joined sockets" — and to no other worker."""
    second_login = await api.post(
        "/api/auth/login", {"username": users.worker.username, "password": PASSWORD}
    )
    admin = await sockets.joined(users.admin, scan_id)
    admin2 = await sockets.joined(users.admin2, scan_id)
    mine = await sockets.joined(users.worker, scan_id)
    mine_too = await sockets.new(second_login.body["token"]).connect()
    assert (await mine_too.call("scan:join", {"scan_id": scan_id}))["ok"]
    other = await sockets.joined(users.worker2, scan_id)
    task = (await submit(mine, scan_id, "hello"))["task"]
    for socket in (admin, admin2, mine, mine_too):
        event = await socket.wait_event("task:created", id=task["id"])
        assert event == {
            "type": "task:created",
            "scan_id": scan_id,
            "seq": task["seq"],
            "task": task,
        }
    await other.quiet()
    assert other.received("task:created") == []


async def test_task_updated_reaches_admins_and_the_tasks_worker(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`task:updated` `{..., "task"}`: on a decision, to the scan's joined admins and to
    the task's worker's joined sockets"."""
    admin = await sockets.joined(users.admin, scan_id)
    admin2 = await sockets.joined(users.admin2, scan_id)
    worker = await sockets.joined(users.worker, scan_id)
    other = await sockets.joined(users.worker2, scan_id)
    task = (await submit(worker, scan_id))["task"]
    decided = (await admin2.call("task:decide", {"task_id": task["id"], "decision": "refused"}))[
        "task"
    ]
    for socket in (admin, admin2, worker):
        event = await socket.wait_event("task:updated", id=task["id"])
        assert event["task"] == decided
        assert event["seq"] == decided["seq"]
    await other.quiet()
    assert other.received() == []


async def test_a_socket_that_never_joined_receives_nothing(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "Sandboxing: a socket receives nothing from a scan it has not joined"."""
    idle_admin = await sockets.connect(users.admin)
    idle_worker = await sockets.connect(users.worker)
    watcher = await sockets.joined(users.admin2, scan_id)
    worker = await sockets.connect(users.worker)
    task = (await submit(worker, scan_id))["task"]
    await watcher.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    await watcher.wait_event("task:updated", id=task["id"])
    await watcher.wait_event("scan:stats")
    await idle_admin.quiet(0.6)
    assert idle_admin.received() == []
    assert idle_worker.received() == []


async def test_leaving_stops_the_events(sockets: SocketFactory, users: Users, scan_id: str) -> None:
    """Contract: `scan:leave` `{scan_id}` → `{ok}`; after it the socket receives nothing more of
    that scan."""
    admin = await sockets.joined(users.admin, scan_id)
    worker = await sockets.connect(users.worker)
    assert await admin.call("scan:leave", {"scan_id": scan_id}) == {"ok": True}
    await submit(worker, scan_id)
    await admin.quiet(0.6)
    assert [e for e in admin.events if e.type != "scan:presence"] == []  # v2: its own join's


async def test_scan_updated_on_close_reaches_every_joined_socket(
    api: Api, sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`scan:updated` `{..., "scan"}`: on close, to every joined socket"; submitting
    afterwards is `scan_closed`."""
    joined = [
        await sockets.joined(account, scan_id)
        for account in (users.admin, users.admin2, users.worker, users.worker2)
    ]
    closed = await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)
    for socket in joined:
        event = await socket.wait_event("scan:updated")
        assert event["scan_id"] == scan_id
        assert event["scan"] == closed.body["scan"]
        assert event["scan"]["status"] == "closed"
        assert isinstance(event["seq"], int)
    assert (await submit(joined[2], scan_id))["error"]["code"] == "scan_closed"


async def test_scan_stats_reach_admins_only(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`scan:stats` `{..., "stats"}`: to joined admins ... after changes" — never to
    workers."""
    admin = await sockets.joined(users.admin, scan_id)
    worker = await sockets.joined(users.worker, scan_id)
    await submit(worker, scan_id)
    event = await admin.wait_event("scan:stats")
    assert event["type"] == "scan:stats"
    assert event["scan_id"] == scan_id
    assert event["stats"]["scan_id"] == scan_id
    assert event["stats"]["total"] == 1
    await worker.quiet(0.7)
    assert worker.received("scan:stats") == []


async def test_scan_stats_at_most_twice_a_second(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`scan:stats` ... to joined admins, at most twice a second per scan, after
    changes" — under a steady stream of submissions."""
    admin = await sockets.joined(users.admin, scan_id)
    workers = [await sockets.connect(users.worker), await sockets.connect(users.worker2)]
    started = asyncio.get_running_loop().time()
    count = 0
    while asyncio.get_running_loop().time() - started < 2.0:
        await asyncio.gather(*(submit(w, scan_id) for w in workers))
        count += 2
        await asyncio.sleep(0.02)
    await admin.quiet(0.8)
    stats = [e for e in admin.events if e.type == "scan:stats"]
    assert 3 <= len(stats) <= 7, [e.at for e in stats]  # about 2.5 seconds at 2 per second
    gaps = [b.at - a.at for a, b in itertools.pairwise(stats)]
    assert min(gaps) > 0.25, gaps  # 0.5 s apart at the server, give or take delivery jitter
    assert (len(stats) - 1) / (stats[-1].at - stats[0].at) <= 2.2, gaps
    assert stats[-1].data["stats"]["total"] == count  # the last one is after the last change


async def test_seq_strictly_increases_per_socket(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: "`seq` is per scan, strictly increasing ... Each socket receives a scan's events in
    seq order"; "a worker sees a subsequence of it"."""
    admin = await sockets.joined(users.admin, scan_id)
    watcher = await sockets.joined(users.worker, scan_id)
    writers = [await sockets.connect(a) for a in (users.worker, users.worker2, users.worker)]
    deciders = [await sockets.connect(a) for a in (users.admin, users.admin2)]

    async def burst(writer: LiveSocket, n: int) -> list[str]:
        return [(await submit(writer, scan_id, f"burst {i}"))["task"]["id"] for i in range(n)]

    made = await asyncio.gather(*(burst(w, 15) for w in writers))
    ids = [tid for batch in made for tid in batch]
    await asyncio.gather(
        *(
            deciders[i % 2].call("task:decide", {"task_id": tid, "decision": "validated"})
            for i, tid in enumerate(ids[::2])
        )
    )
    last = await admin.wait_for(lambda e: e.type == "task:updated" and e.data["seq"] == 45 + 23)
    assert last.data["seq"] == 68
    admin_seqs = [e.data["seq"] for e in admin.events if e.type not in UNLOGGED]
    assert admin_seqs == list(range(1, 69))
    await watcher.quiet(0.3)
    worker_seqs = [e.data["seq"] for e in watcher.events if e.type not in UNLOGGED]
    assert worker_seqs == sorted(set(worker_seqs))
    mine = {
        tid for tid, batch in zip(ids, [0] * 15 + [1] * 15 + [0] * 15, strict=True) if batch == 0
    }
    assert {e.data["task"]["id"] for e in watcher.events if e.type not in UNLOGGED} <= mine
