"""CONTRACT.md §2, tasks: submit (limits, idempotency, closed scans), decide (limits, races),
read (ownership), list (pagination, filters)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support import Account, Api, Reply
from tests.support.shapes import TASK_KEYS

from .helpers import Users, assert_error, new_scan


async def submit(api: Api, worker: Account, scan: str, content: str = "x", **more: Any) -> Reply:
    return await api.post(
        f"/api/scans/{scan}/tasks", {"content": content, **more}, token=worker.token
    )


async def test_submit_answers_201_with_a_pending_task(api: Api, users: Users, scan_id: str) -> None:
    """`POST /api/scans/{id}/tasks | worker | {content, idempotency_key?} → 201 {task}`; Task
    fields as listed, "`reason`, `decided_by`, `decided_at` are null while pending"."""
    reply = await submit(api, users.worker, scan_id, "the door is open")
    assert reply.status == 201, reply.text
    task = reply.body["task"]
    assert set(task) == TASK_KEYS
    assert task["scan_id"] == scan_id
    assert task["worker_id"] == users.worker.id
    assert task["worker_username"] == users.worker.username
    assert task["content"] == "the door is open"
    assert task["status"] == "pending"
    assert task["reason"] is None
    assert task["decided_by"] is None
    assert task["decided_at"] is None
    assert isinstance(task["seq"], int)
    assert task["seq"] >= 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"content": "c"}, 201),
        ({"content": "c" * 5000}, 201),
        ({"content": ""}, 400),
        ({"content": "c" * 5001}, 400),
        ({"content": "c", "idempotency_key": "k" * 100}, 201),
        ({"content": "c", "idempotency_key": "k" * 101}, 400),
        ({"content": 5}, 400),
        ({}, 400),
        ({"content": "c", "idempotency_key": 5}, 400),
    ],
    ids=["1", "5000", "0", "5001", "key-100", "key-101", "int", "missing", "key-int"],
)
async def test_content_and_idempotency_key_limits(
    api: Api, users: Users, scan_id: str, body: dict[str, Any], status: int
) -> None:
    """Contract: "Task content 1–5,000 characters ... idempotency_key at most 100" (else 400)."""
    reply = await api.post(f"/api/scans/{scan_id}/tasks", body, token=users.worker.token)
    assert reply.status == status, reply.text
    if status == 400:
        assert reply.error_code == "invalid_request"


async def test_repeating_an_idempotency_key_answers_the_first_task(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "A worker repeating `idempotency_key` in the same scan gets 200 and the task it
    made the first time; nothing is duplicated"."""
    first = await submit(api, users.worker, scan_id, "once", idempotency_key="key-1")
    again = await submit(api, users.worker, scan_id, "twice?", idempotency_key="key-1")
    assert first.status == 201
    assert again.status == 200
    assert again.body["task"] == first.body["task"]
    listing = await api.get(f"/api/scans/{scan_id}/tasks", token=users.admin.token)
    assert [t["id"] for t in listing.body["tasks"]] == [first.body["task"]["id"]]


async def test_idempotency_key_is_scoped_to_one_worker_in_one_scan(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "An idempotency_key is scoped to one worker in one scan: the same key from another
    worker, or in another scan, makes a new task"."""
    other_scan = await new_scan(api, users.admin)
    mine = await submit(api, users.worker, scan_id, idempotency_key="shared")
    theirs = await submit(api, users.worker2, scan_id, idempotency_key="shared")
    elsewhere = await submit(api, users.worker, other_scan, idempotency_key="shared")
    assert (mine.status, theirs.status, elsewhere.status) == (201, 201, 201)
    ids = {r.body["task"]["id"] for r in (mine, theirs, elsewhere)}
    assert len(ids) == 3


async def test_submitting_to_a_closed_scan_is_scan_closed(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "Submitting to a closed scan: 409 `scan_closed`"."""
    assert (await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)).status == 200
    assert_error(await submit(api, users.worker, scan_id), 409, "scan_closed")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"decision": "validated"}, 200),
        ({"decision": "refused", "reason": "r" * 1000}, 200),
        ({"decision": "refused", "reason": "r" * 1001}, 400),
        ({"decision": "approved"}, 400),
        ({"decision": "pending"}, 400),
        ({}, 400),
        ({"decision": "validated", "reason": 3}, 400),
    ],
    ids=["validated", "reason-1000", "reason-1001", "unknown", "pending", "missing", "reason-int"],
)
async def test_decision_values_and_reason_limit(
    api: Api, users: Users, scan_id: str, body: dict[str, Any], status: int
) -> None:
    """`POST /api/tasks/{id}/decision | admin | {decision: "validated"|"refused", reason?} → 200
    {task}`; "reason at most 1,000"."""
    task = (await submit(api, users.worker, scan_id)).body["task"]
    reply = await api.post(f"/api/tasks/{task['id']}/decision", body, token=users.admin.token)
    assert reply.status == status, reply.text
    if status == 200:
        decided = reply.body["task"]
        assert decided["status"] == body["decision"]
        assert decided["reason"] == body.get("reason")
        assert decided["decided_by"] == users.admin.id
        assert decided["decided_at"].endswith("Z")
        assert decided["seq"] > task["seq"]
    else:
        assert reply.error_code == "invalid_request"


async def test_deciding_a_decided_task_is_already_decided(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "Deciding a task that is no longer pending: 409 `already_decided`"."""
    task = (await submit(api, users.worker, scan_id)).body["task"]
    url = f"/api/tasks/{task['id']}/decision"
    assert (await api.post(url, {"decision": "refused"}, token=users.admin.token)).status == 200
    again = await api.post(url, {"decision": "validated"}, token=users.admin2.token)
    assert_error(again, 409, "already_decided")
    stored = await api.get(f"/api/tasks/{task['id']}", token=users.admin.token)
    assert stored.body["task"]["status"] == "refused"


async def test_of_two_admins_deciding_at_once_exactly_one_wins(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "of two admins deciding at once, exactly one wins, and the task keeps the winner's
    decision" — checked over several races."""
    for _ in range(8):
        task = (await submit(api, users.worker, scan_id)).body["task"]
        url = f"/api/tasks/{task['id']}/decision"
        first, second = await asyncio.gather(
            api.post(url, {"decision": "validated", "reason": "a"}, token=users.admin.token),
            api.post(url, {"decision": "refused", "reason": "b"}, token=users.admin2.token),
        )
        assert sorted((first.status, second.status)) == [200, 409]
        winner, loser = (first, second) if first.status == 200 else (second, first)
        assert loser.error_code == "already_decided"
        stored = (await api.get(f"/api/tasks/{task['id']}", token=users.admin.token)).body["task"]
        assert stored == winner.body["task"]


async def test_get_task_owner_and_admin_only(api: Api, users: Users, scan_id: str) -> None:
    """`GET /api/tasks/{id} | any user | → 200 {task}: workers only their own`; "A worker asking
    for another worker's task ... 403"; "An unknown ... task: 404"."""
    task = (await submit(api, users.worker, scan_id)).body["task"]
    url = f"/api/tasks/{task['id']}"
    assert (await api.get(url, token=users.worker.token)).body["task"] == task
    assert (await api.get(url, token=users.admin2.token)).body["task"] == task
    assert_error(await api.get(url, token=users.worker2.token), 403, "forbidden")
    assert_error(
        await api.get("/api/tasks/0123456789abcdef", token=users.admin.token), 404, "not_found"
    )
    deciding = await api.post(
        "/api/tasks/0123456789abcdef/decision", {"decision": "validated"}, token=users.admin.token
    )
    assert_error(deciding, 404, "not_found")


async def test_workers_list_only_their_own_tasks(api: Api, users: Users, scan_id: str) -> None:
    """`GET /api/scans/{id}/tasks`: "admins all, workers their own; oldest first"."""
    made = []
    for worker in (users.worker, users.worker2, users.worker, users.worker2):
        made.append((await submit(api, worker, scan_id)).body["task"])
    admin = await api.get(f"/api/scans/{scan_id}/tasks", token=users.admin.token)
    mine = await api.get(f"/api/scans/{scan_id}/tasks", token=users.worker.token)
    assert [t["id"] for t in admin.body["tasks"]] == [t["id"] for t in made]
    assert [t["id"] for t in mine.body["tasks"]] == [made[0]["id"], made[2]["id"]]
    assert admin.body["next_cursor"] is None


async def test_pagination_returns_every_task_exactly_once(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "`limit` 1–500 (default 100); `next_cursor` is null on the last page": following
    cursors yields every task once, oldest first."""
    made = [
        (await submit(api, users.worker, scan_id, f"t{i}")).body["task"]["id"] for i in range(7)
    ]
    seen: list[str] = []
    pages = []
    cursor: str | None = None
    while True:
        params = {"limit": "3"} if cursor is None else {"limit": "3", "cursor": cursor}
        page = await api.get(f"/api/scans/{scan_id}/tasks", token=users.admin.token, params=params)
        assert page.status == 200, page.text
        assert set(page.body) == {"tasks", "next_cursor"}
        pages.append(len(page.body["tasks"]))
        seen += [t["id"] for t in page.body["tasks"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == made
    assert pages == [3, 3, 1]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"limit": "1"}, 200),
        ({"limit": "500"}, 200),
        ({"limit": "0"}, 400),
        ({"limit": "501"}, 400),
        ({"limit": "-1"}, 400),
        ({"limit": "ten"}, 400),
        ({"status": "pending"}, 200),
        ({"status": "approved"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
    ],
    ids=str,
)
async def test_listing_parameters(
    api: Api, users: Users, scan_id: str, params: dict[str, str], status: int
) -> None:
    """Contract: "`limit` 1–500 (default 100)"; `status` and `cursor` must be ones the contract
    knows (else 400 `invalid_request`)."""
    reply = await api.get(f"/api/scans/{scan_id}/tasks", token=users.admin.token, params=params)
    assert reply.status == status, reply.text
    if status == 400:
        assert reply.error_code == "invalid_request"


async def test_status_filter_and_default_limit(api: Api, users: Users, scan_id: str) -> None:
    """`?status=` keeps the tasks in that state; without `limit` a page holds up to 100."""
    tasks = [(await submit(api, users.worker, scan_id)).body["task"] for _ in range(3)]
    decided = await api.post(
        f"/api/tasks/{tasks[1]['id']}/decision", {"decision": "validated"}, token=users.admin.token
    )
    assert decided.status == 200
    url = f"/api/scans/{scan_id}/tasks"
    pending = await api.get(url, token=users.admin.token, params={"status": "pending"})
    validated = await api.get(url, token=users.admin.token, params={"status": "validated"})
    assert [t["id"] for t in pending.body["tasks"]] == [tasks[0]["id"], tasks[2]["id"]]
    assert [t["id"] for t in validated.body["tasks"]] == [tasks[1]["id"]]
    assert len((await api.get(url, token=users.admin.token)).body["tasks"]) == 3
