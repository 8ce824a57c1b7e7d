"""Issue #6, Security 3: a worker never receives another worker's task, on any path, and a
socket receives nothing from a scan it has not joined.

One scenario drives every path a task can travel — join snapshot, live
`task:created`/`task:updated`, resume with `since_seq`, HTTP listing (every
page, every status filter), single reads, idempotent replays, export and
stats — and then searches everything the worker received for anything of the
other worker's: task ids, contents, user id. Absence is proven without
sleeping: a socket gets a scan's events in seq order, so once the worker's own
later event has arrived, an earlier one meant for it would have too.
CONTRACT.md §3: "a socket receives nothing from a scan it has not joined, and a
worker never receives another worker's task". tests/contract/test_socketio.py
and test_socketio_resume.py hold the single-path versions.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.contract.helpers import SocketFactory, Users, assert_error, new_scan
from tests.support import Account, Api, LiveSocket, received_text


async def submit(socket: LiveSocket, scan: str, content: str, key: str | None = None) -> Any:
    payload: dict[str, Any] = {"scan_id": scan, "content": content}
    if key is not None:
        payload["idempotency_key"] = key
    ack = await socket.call("task:submit", payload)
    assert ack["ok"] is True, ack
    return ack["task"]


async def http_everything(api: Api, scan: str, account: Account) -> str:
    """All the worker can read about a scan's tasks over HTTP, as one text."""
    texts = []
    for status in (None, "pending", "validated", "refused"):
        cursor: str | None = None
        while True:
            params = {"limit": "1"}
            if status is not None:
                params["status"] = status
            if cursor is not None:
                params["cursor"] = cursor
            page = await api.get(f"/api/scans/{scan}/tasks", token=account.token, params=params)
            assert page.status == 200, page.text
            texts.append(page.text)
            cursor = page.body["next_cursor"]
            if cursor is None:
                break
    return "\n".join(texts)


def secrets_of(tasks: list[dict[str, Any]], owner: Account) -> list[str]:
    """What would betray another worker's tasks if it reached this one."""
    return [owner.id, owner.username, *(t["id"] for t in tasks), *(t["content"] for t in tasks)]


async def test_a_worker_never_sees_another_workers_tasks_on_any_path(
    api: Api, sockets: SocketFactory, users: Users
) -> None:
    mine_w, theirs_w = users.worker, users.worker2
    scan = await new_scan(api, users.admin, "sandbox")
    tag = uuid.uuid4().hex[:8]
    theirs_socket = await sockets.connect(theirs_w)
    admin = await sockets.joined(users.admin, scan)

    # Before the worker joins: the other worker's tasks, one decided each way.
    theirs = [await submit(theirs_socket, scan, f"theirs-{tag}-{i}", key=f"k{i}") for i in range(3)]
    for task, decision in zip(theirs[:2], ("validated", "refused"), strict=False):
        ack = await admin.call(
            "task:decide", {"task_id": task["id"], "decision": decision, "reason": "r"}
        )
        assert ack["ok"] is True, ack

    # Join snapshot.
    mine_socket = await sockets.new(mine_w.token).connect()
    own_first = await submit(mine_socket, scan, f"mine-{tag}-0")
    join = await mine_socket.call("scan:join", {"scan_id": scan})
    assert join["ok"] is True, join
    assert [t["id"] for t in join["tasks"]] == [own_first["id"]]

    # Live events: the other worker submits (socket and HTTP) and gets decided while we watch.
    theirs.append(await submit(theirs_socket, scan, f"theirs-{tag}-live"))
    over_http = await api.post(
        f"/api/scans/{scan}/tasks", {"content": f"theirs-{tag}-http"}, token=theirs_w.token
    )
    assert over_http.status == 201, over_http.text
    theirs.append(over_http.body["task"])
    decided = await admin.call("task:decide", {"task_id": theirs[2]["id"], "decision": "refused"})
    assert decided["ok"] is True, decided
    # The same idempotency key from this worker makes its own task, never hands theirs back.
    replay = await submit(mine_socket, scan, f"mine-{tag}-key", key="k0")
    assert replay["worker_id"] == mine_w.id
    assert replay["id"] not in {t["id"] for t in theirs}
    own_last = await submit(mine_socket, scan, f"mine-{tag}-sentinel")
    await mine_socket.wait_event("task:created", id=own_last["id"])
    await admin.wait_event("task:created", id=own_last["id"])
    await admin.wait_event("scan:stats")

    # Resume from the start and from the middle.
    resumes = []
    for since in (0, own_first["seq"]):
        again = await sockets.new(mine_w.token).connect()
        ack = await again.call("scan:join", {"scan_id": scan, "since_seq": since})
        assert ack["ok"] is True, ack
        assert {e["task"]["worker_id"] for e in ack["events"]} == {mine_w.id}
        resumes.append(json.dumps(ack))

    # HTTP: every listing page and filter, each of their tasks by id, export and stats.
    listed = await http_everything(api, scan, mine_w)
    for task in theirs:
        assert_error(
            await api.get(f"/api/tasks/{task['id']}", token=mine_w.token), 403, "forbidden"
        )
    for route in ("export", "export?format=csv", "stats"):
        reply = await api.get(f"/api/scans/{scan}/{route}", token=mine_w.token)
        assert_error(reply, 403, "forbidden")

    seen = "\n".join([received_text(mine_socket.events), json.dumps(join), *resumes, listed])
    leaked = [s for s in secrets_of(theirs, theirs_w) if s in seen]
    assert not leaked, f"the worker received another worker's data: {leaked}"
    assert not mine_socket.received("scan:stats")  # per-worker counts are for admins only
    assert {e["task"]["worker_id"] for e in mine_socket.received("task:created")} == {mine_w.id}
    # The control: the admin did see all of theirs, so the search above can find them.
    admin_seen = received_text(admin.events)
    assert all(t["id"] in admin_seen for t in theirs)


async def test_a_socket_that_never_joined_a_scan_receives_nothing_from_it(
    api: Api, sockets: SocketFactory, users: Users
) -> None:
    """Admins and workers connected to other scans get none of a busy scan's events: not its
    tasks, decisions, stats or close."""
    busy, other = (
        await new_scan(api, users.admin, "busy"),
        await new_scan(api, users.admin, "other"),
    )
    bystanders = [
        await sockets.joined(users.admin2, other),
        await sockets.joined(users.worker, other),
        await sockets.connect(users.admin2),  # joined nothing at all
    ]
    actor = await sockets.joined(users.admin, busy)
    worker = await sockets.connect(users.worker)  # the same user as a bystander, another socket
    task = await submit(worker, busy, "busy work")
    await actor.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    await actor.wait_event("scan:stats")
    closed = await api.post(f"/api/scans/{busy}/close", token=users.admin.token)
    assert closed.status == 200
    await actor.wait_event("scan:updated", id=busy)
    # Sentinel: an event in the scan the bystanders did join arrives after all of the above.
    sentinel = await submit(worker, other, "sentinel")
    for socket in bystanders[:2]:
        await socket.wait_event("task:created", id=sentinel["id"])
    await bystanders[0].wait_event("scan:stats", scan_id=other)
    for socket in bystanders:
        assert not [
            e for e in socket.events if isinstance(e.data, dict) and e.data.get("scan_id") == busy
        ]
        assert busy not in received_text(socket.events)


async def test_joining_an_id_named_like_a_scans_admin_room_reaches_none_of_its_tasks(
    api: Api, sockets: SocketFactory, users: Users
) -> None:
    """A worker joined to a scan that keeps joining ``<scan id>:all-tasks`` (no such scan: each
    join answers ``not_found``) while another worker submits gets none of the other's tasks:
    a scan id never names a room of another scan, even while the failed join is under way."""
    scan = await new_scan(api, users.admin, "aliased")
    prober = await sockets.joined(users.worker, scan)
    other = await sockets.connect(users.worker2)
    alias = {"scan_id": f"{scan}:all-tasks"}

    async def probe() -> None:
        for _ in range(10):
            acks = await asyncio.gather(*(prober.call("scan:join", alias) for _ in range(20)))
            assert {a["error"]["code"] for a in acks} == {"not_found"}, acks[0]

    async def theirs() -> list[Any]:
        return [await submit(other, scan, f"not for the prober {n}") for n in range(60)]

    _, tasks = await asyncio.gather(probe(), theirs())
    # Sentinel: the prober's own later task arrives after anything sent before it.
    mine = await submit(prober, scan, "the prober's own")
    await prober.wait_event("task:created", id=mine["id"])
    leaked = [t["id"] for t in tasks if t["id"] in received_text(prober.events)]
    assert not leaked, f"{len(leaked)} of another worker's tasks reached the prober"
