"""Contract v2 §4.1 (presence) and §4.2 (claims) on the real server, over HTTP and Socket.IO."""

from __future__ import annotations

import pytest

from tests.support import Account, Api, Reply

from .helpers import SocketFactory, Users, assert_error, new_scan

CLAIM_KEYS = {"task_id", "admin_id", "admin_username", "expires_at"}


async def _submit(api: Api, worker: Account, scan: str, content: str = "x") -> str:
    reply = await api.post(f"/api/scans/{scan}/tasks", {"content": content}, token=worker.token)
    assert reply.status == 201, reply.text
    return str(reply.body["task"]["id"])


async def _claim(api: Api, admin: Account, task: str) -> Reply:
    return await api.post(f"/api/tasks/{task}/claim", None, token=admin.token)


async def test_a_claim_is_held_by_one_admin_and_guards_the_decision(
    api: Api, users: Users, scan_id: str
) -> None:
    """`POST /api/tasks/{id}/claim` → 200 {claim}; held by another admin → 409 conflict with
    error.claim, also on deciding, unless the decision carries "override": true."""
    task = await _submit(api, users.worker, scan_id)
    mine = await _claim(api, users.admin, task)
    assert mine.status == 200, mine.text
    claim = mine.body["claim"]
    assert set(claim) == CLAIM_KEYS
    assert (claim["task_id"], claim["admin_id"]) == (task, users.admin.id)
    assert claim["admin_username"] == users.admin.username
    theirs = await _claim(api, users.admin2, task)
    assert_error(theirs, 409, "conflict")
    assert theirs.body["error"]["claim"]["admin_id"] == users.admin.id
    body = {"decision": "validated"}
    blocked = await api.post(f"/api/tasks/{task}/decision", body, token=users.admin2.token)
    assert_error(blocked, 409, "conflict")
    assert blocked.body["error"]["claim"]["task_id"] == task
    forced = await api.post(
        f"/api/tasks/{task}/decision", {**body, "override": True}, token=users.admin2.token
    )
    assert forced.status == 200, forced.text
    assert_error(await _claim(api, users.admin, task), 409, "already_decided")


async def test_release_and_claim_next(api: Api, users: Users, scan_id: str) -> None:
    """`DELETE .../claim` → 204; `POST /api/scans/{id}/claims/next` hands out the oldest
    pending task no other admin holds, after after_task_id; both null when none is left."""
    first, second = [await _submit(api, users.worker, scan_id, c) for c in ("a", "b")]
    path = f"/api/scans/{scan_id}/claims/next"
    got = await api.post(path, token=users.admin.token)
    assert got.status == 200, got.text
    assert (got.body["task"]["id"], got.body["claim"]["admin_id"]) == (first, users.admin.id)
    other = await api.post(path, {}, token=users.admin2.token)
    assert other.body["task"]["id"] == second, other.text
    none = await api.post(path, {"after_task_id": second}, token=users.admin.token)
    assert none.body == {"task": None, "claim": None}, none.text
    released = await api.request("DELETE", f"/api/tasks/{second}/claim", token=users.admin2.token)
    assert released.status == 204, released.text
    again = await api.post(path, {"after_task_id": first}, token=users.admin.token)
    assert again.body["task"]["id"] == second, again.text
    assert_error(
        await api.request("DELETE", "/api/tasks/nope/claim", token=users.admin.token),
        404,
        "not_found",
    )


async def test_workers_may_not_claim(api: Api, users: Users, scan_id: str) -> None:
    task = await _submit(api, users.worker, scan_id)
    assert_error(await _claim(api, users.worker, task), 403, "forbidden")
    path = f"/api/scans/{scan_id}/claims/next"
    assert_error(await api.post(path, token=users.worker.token), 403, "forbidden")
    presence = await api.get(f"/api/scans/{scan_id}/presence", token=users.worker.token)
    assert_error(presence, 403, "forbidden")


@pytest.mark.integrations("sanic")
async def test_presence_and_claims_reach_whom_the_contract_says(
    api: Api, users: Users, sockets: SocketFactory
) -> None:
    """`scan:presence` to every joined socket (counts only for workers), `task:claimed` to the
    scan's admins only; an admin's snapshot carries the live claims."""
    scan = await new_scan(api, users.admin)
    task = await _submit(api, users.worker, scan)
    admin = await sockets.joined(users.admin, scan)
    worker = await sockets.joined(users.worker, scan)
    seen = await admin.wait_for(
        lambda e: e.type == "scan:presence" and e.data.get("submitters") == 1
    )
    assert "seq" not in seen.data
    assert {p["user_id"] for p in seen.data["present"]} == {users.admin.id, users.worker.id}
    counted = await worker.wait_for(lambda e: e.type == "scan:presence")
    assert set(counted.data) == {"type", "scan_id", "reviewers", "submitters"}
    ack = await admin.call("task:claim", {"task_id": task})
    assert ack["ok"] is True, ack
    event = await admin.wait_event("task:claimed")
    assert (event["task_id"], event["claim"]["admin_id"]) == (task, users.admin.id)
    assert "seq" not in event
    other = await sockets.connect(users.admin2)
    snapshot = await other.call("scan:join", {"scan_id": scan})
    assert [c["task_id"] for c in snapshot["claims"]] == [task]
    released = await admin.call("task:release", {"task_id": task})
    assert released == {"ok": True}
    ended = await admin.wait_for(lambda e: e.type == "task:claimed" and e.data["claim"] is None)
    assert ended.data["task_id"] == task
    nxt = await admin.call("task:claim_next", {"scan_id": scan})
    assert nxt["task"]["id"] == task
    assert nxt["claim"]["admin_id"] == users.admin.id
    await worker.quiet(0.3)
    assert worker.received("task:claimed") == []
    presence = await api.get(f"/api/scans/{scan}/presence", token=users.admin.token)
    assert presence.status == 200, presence.text
    assert (presence.body["reviewers"], presence.body["submitters"]) == (2, 1)
