"""CONTRACT.md §2, scans: create, list, get, close, their limits, and RBAC on every route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Account, Api
from tests.support.matrix import (
    ADMIN,
    ANONYMOUS,
    OTHER_WORKER,
    REFUSAL_STATUS,
    ROUTE_NEEDS,
    WORKER,
    Open,
    contract_statuses,
    generic,
    route_refusal,
)

from .helpers import Users, assert_error, new_scan

SCAN_KEYS = {"id", "name", "description", "status", "created_by", "created_at", "counts"}


async def test_create_scan_answers_201_with_the_scan(api: Api, users: Users) -> None:
    """`POST /api/scans | admin | {name, description?} → 201 {scan}`, Scan `{"id", "name",
    "description", "status", "created_by", "created_at", "counts": {pending, validated,
    refused}}`."""
    reply = await api.post(
        "/api/scans", {"name": "Floor 2", "description": "doors"}, token=users.admin.token
    )
    assert reply.status == 201, reply.text
    scan = reply.body["scan"]
    assert set(scan) >= SCAN_KEYS
    assert scan["name"] == "Floor 2"
    assert scan["description"] == "doors"
    assert scan["status"] == "open"
    assert scan["created_by"] == users.admin.id
    assert scan["counts"] == {"pending": 0, "validated": 0, "refused": 0}
    assert scan["created_at"].endswith("Z")
    without = await api.post("/api/scans", {"name": "bare"}, token=users.admin.token)
    assert without.status == 201
    assert without.body["scan"]["description"] == ""


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x"}, 201),
        ({"name": "n" * 200}, 201),
        ({"name": ""}, 400),
        ({"name": "n" * 201}, 400),
        ({"name": "ok", "description": "d" * 2000}, 201),
        ({"name": "ok", "description": "d" * 2001}, 400),
        ({}, 400),
        ({"name": None}, 400),
        ({"name": 7}, 400),
    ],
    ids=[
        "name-1",
        "name-200",
        "name-0",
        "name-201",
        "desc-2000",
        "desc-2001",
        "none",
        "null",
        "int",
    ],
)
async def test_scan_name_and_description_limits(
    api: Api, users: Users, body: dict[str, Any], status: int
) -> None:
    """Contract: "Scan name 1–200 characters, description at most 2,000" (else 400
    `invalid_request`)."""
    reply = await api.post("/api/scans", body, token=users.admin.token)
    assert reply.status == status, reply.text
    if status == 400:
        assert reply.error_code == "invalid_request"


async def test_admins_list_all_scans_workers_the_open_ones(api: Api, users: Users) -> None:
    """`GET /api/scans → 200 {scans}`: "admins see all, workers the open ones"."""
    open_id = await new_scan(api, users.admin, "stays open")
    closed_id = await new_scan(api, users.admin, "gets closed")
    closed = await api.post(f"/api/scans/{closed_id}/close", token=users.admin.token)
    assert closed.status == 200
    admin_view = await api.get("/api/scans", token=users.admin.token)
    worker_view = await api.get("/api/scans", token=users.worker.token)
    assert admin_view.status == worker_view.status == 200
    admin_ids = {s["id"] for s in admin_view.body["scans"]}
    worker_ids = {s["id"] for s in worker_view.body["scans"]}
    assert {open_id, closed_id} <= admin_ids
    assert open_id in worker_ids
    assert closed_id not in worker_ids
    assert all(s["status"] == "open" for s in worker_view.body["scans"])


async def test_get_scan_answers_the_scan_to_any_user(api: Api, users: Users, scan_id: str) -> None:
    """`GET /api/scans/{id} | any user | → 200 {scan}`."""
    for account in (users.admin, users.worker):
        reply = await api.get(f"/api/scans/{scan_id}", token=account.token)
        assert reply.status == 200
        assert reply.body["scan"]["id"] == scan_id


async def test_unknown_scan_is_404(api: Api, users: Users) -> None:
    """Contract: "An unknown scan or task: 404" (`not_found`)."""
    for path in (
        "/api/scans/0123456789abcdef",
        "/api/scans/0123456789abcdef/tasks",
        "/api/scans/0123456789abcdef/stats",
        "/api/scans/0123456789abcdef/export",
    ):
        assert_error(await api.get(path, token=users.admin.token), 404, "not_found")
    closing = await api.post("/api/scans/0123456789abcdef/close", token=users.admin.token)
    assert_error(closing, 404, "not_found")
    submit = await api.post(
        "/api/scans/0123456789abcdef/tasks", {"content": "x"}, token=users.worker.token
    )
    assert_error(submit, 404, "not_found")


async def test_an_id_longer_than_64_characters_is_an_unknown_scan_or_task(
    api: Api, users: Users
) -> None:
    """Contract: "An unknown scan or task: 404": an id of 65 characters names none (no id the
    server makes is that long), so it answers 404 `not_found` like any other unknown id, with
    the same message — not 400."""
    long_id = "a" * 65
    known_scan = await api.get("/api/scans/0123456789abcdef", token=users.admin.token)
    known_task = await api.get("/api/tasks/0123456789abcdef", token=users.admin.token)
    scan_replies = [
        await api.get(f"/api/scans/{long_id}", token=users.admin.token),
        await api.get(f"/api/scans/{long_id}/tasks", token=users.admin.token),
        await api.post(f"/api/scans/{long_id}/close", token=users.admin.token),
        await api.post(f"/api/scans/{long_id}/tasks", {"content": "x"}, token=users.worker.token),
    ]
    task_replies = [
        await api.get(f"/api/tasks/{long_id}", token=users.admin.token),
        await api.post(
            f"/api/tasks/{long_id}/decision", {"decision": "validated"}, token=users.admin.token
        ),
    ]
    for reply in scan_replies:
        assert_error(reply, 404, "not_found")
        assert reply.body == known_scan.body
    for reply in task_replies:
        assert_error(reply, 404, "not_found")
        assert reply.body == known_task.body


async def test_close_scan_answers_the_closed_scan(api: Api, users: Users, scan_id: str) -> None:
    """`POST /api/scans/{id}/close | admin | → 200 {scan}` with status `closed`."""
    reply = await api.post(f"/api/scans/{scan_id}/close", token=users.admin2.token)
    assert reply.status == 200
    assert reply.body["scan"]["status"] == "closed"
    again = await api.post(f"/api/scans/{scan_id}/close", token=users.admin.token)
    assert again.status == 200
    assert again.body["scan"]["status"] == "closed"


# -- RBAC on every route -----------------------------------------------------------------------
#: Every signed-in route of the API (from the one access table), but logout, which would end
#: the shared accounts' tokens (tests/security/test_rbac_matrix.py signs in afresh for it).
ROUTES = [
    (method, path)
    for (method, path), need in ROUTE_NEEDS.items()
    if path.startswith("/api/") and need is not Open.ANYONE and path != "/api/auth/logout"
]
#: The body each route is sent, if any.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/scans"): {"name": "rbac"},
    ("POST", "/api/scans/{scan_id}/tasks"): {"content": "rbac"},
    ("POST", "/api/tasks/{task_id}/decision"): {"decision": "validated"},
}
#: Who calls: the task's worker is its owner, the other worker is not.
CALLERS = {"admin": ADMIN, "owner": WORKER, "other-worker": OTHER_WORKER, "anonymous": ANONYMOUS}


async def _scan_with_task(api: Api, users: Users) -> tuple[str, str]:
    scan = await new_scan(api, users.admin, "rbac")
    task = await api.post(f"/api/scans/{scan}/tasks", {"content": "t"}, token=users.worker.token)
    assert task.status == 201
    return scan, str(task.body["task"]["id"])


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
@pytest.mark.parametrize("who", list(CALLERS))
async def test_rbac_on_every_route(
    api: Api, users: Users, route: tuple[str, str], who: str
) -> None:
    """Contract: "A worker asking for another worker's task, or any admin-only route: 403"; a route
    for users without a token: 401; each role gets what the route table's "who" column says,
    with the table's status."""
    method, path = route
    scan, task = await _scan_with_task(api, users)
    if path.endswith("/undo"):  # only a decision can be undone, by the admin who made it
        decided = await api.post(
            f"/api/tasks/{task}/decision", {"decision": "validated"}, token=users.admin.token
        )
        assert decided.status == 200, decided.text
    url = path.format(scan_id=scan, task_id=task)
    account: Account | None = {
        "admin": users.admin,
        "owner": users.worker,
        "other-worker": users.worker2,
        "anonymous": None,
    }[who]
    refusal = route_refusal(method, path, CALLERS[who])
    status = (
        contract_statuses()[(method, generic(path))] if refusal is None else REFUSAL_STATUS[refusal]
    )
    token = account.token if account is not None else None
    body = BODIES.get(route)
    if body is None:
        reply = await api.request(method, url, token=token)
    else:
        reply = await api.request(method, url, token=token, json_body=body)
    assert reply.status == status, reply.text
    if refusal is not None:
        assert reply.error_code == refusal
