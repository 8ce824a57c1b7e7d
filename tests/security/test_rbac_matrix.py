"""Issue #6, Security 2: an RBAC matrix generated from ``rbac.POLICY`` and the contract.

Every HTTP route the server registers and every Socket.IO event it handles is
called by an admin, a worker and an anonymous caller (and, where POLICY
scopes a permission to the owner, by a worker who does not own the object),
against the real server; each answer must be what POLICY implies. The
completeness tests fail when a route or event appears (in the Sanic app, in
/api/openapi.json, in the gateway's handlers or in the contract) without an
entry in ``tests/support/matrix.py``, the one access table of the suites
(tests/contract/test_scans.py takes its expectations from it too).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.helpers import (
    PASSWORD,
    SocketFactory,
    Users,
    assert_error,
    new_scan,
    unique_name,
)
from tests.support import Api, Reply
from tests.support.matrix import (
    EVENT_NEEDS,
    INTERNAL_PREFIX,
    ROUTE_NEEDS,
    STATIC_ASSETS,
    Caller,
    callers_for,
    contract_events,
    contract_routes,
    expected,
    generic,
    owned,
    registered_events,
    registered_routes,
    roles_allowed,
)


# -- completeness: nothing is reachable without an entry ------------------------------------------
def test_every_registered_route_has_an_entry() -> None:
    """The Sanic app's routes are exactly the matrix's: a new route fails here until it says
    what it needs."""
    assert registered_routes() == set(ROUTE_NEEDS)


async def test_every_documented_route_has_an_entry(api: Api) -> None:
    """/api/openapi.json names only routes of the matrix, and every /api/ route of the matrix."""
    document = (await api.get("/api/openapi.json")).body
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    api_routes = {(m, p) for m, p in ROUTE_NEEDS if p.startswith("/api/")}
    assert documented == api_routes


def test_every_contract_route_and_event_has_an_entry() -> None:
    """Each route and event of the contract's tables is in the matrix (v2's §4 names its
    routes and events in its text: the matrix lists them by hand)."""
    mine = {(m, generic(p)) for m, p in ROUTE_NEEDS}
    assert set(contract_routes()) <= mine
    assert set(contract_events()) <= set(EVENT_NEEDS)


def test_every_handled_event_has_an_entry() -> None:
    """The Socket.IO gateway handles exactly the matrix's events (its catch-all and its own
    NUL-prefixed handlers aside)."""
    assert registered_events() == set(EVENT_NEEDS)


async def test_the_gateways_own_event_names_are_refused_when_a_client_sends_them(
    sockets: SocketFactory, users: Users
) -> None:
    """A client emitting a NUL-prefixed name (the gateway's internal events) gets the ack
    `invalid_request`, whoever it is."""
    for account in (users.admin, users.worker):
        socket = await sockets.connect(account)
        ack = await socket.call(f"{INTERNAL_PREFIX}malformed", {"scan_id": "x"})
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] == "invalid_request", ack


def test_policy_gives_each_route_and_event_the_contracts_who() -> None:
    """POLICY and the contract's "who" column agree: the matrix's needs are the contract's."""
    needs = {(m, generic(p)): need for (m, p), need in ROUTE_NEEDS.items()}
    for route, who in contract_routes().items():
        assert roles_allowed(needs[route]) == who, route
    for event, who in contract_events().items():
        assert roles_allowed(EVENT_NEEDS[event]) == who, event


# -- the matrix, over the wire --------------------------------------------------------------------
ROUTE_CASES = [
    pytest.param(method, path, caller, id=f"{method} {path} as {caller.name}")
    for (method, path), need in ROUTE_NEEDS.items()
    for caller in callers_for(need, has_owner=owned(path))
]

EVENT_CASES = [
    pytest.param(event, caller, id=f"{event} as {caller.name}")
    for event, need in EVENT_NEEDS.items()
    for caller in callers_for(need, has_owner=False)
]


def _asset() -> str:
    built = sorted(STATIC_ASSETS.glob("*.js")) if STATIC_ASSETS.is_dir() else []
    return built[0].name if built else "not-built.js"


async def _token(caller: Caller, users: Users, api: Api, *, fresh: bool) -> str | None:
    account = {"admin": users.admin, "worker": users.worker, "another-worker": users.worker2}.get(
        caller.name
    )
    if account is None:
        return None
    if not fresh:
        return account.token
    login = await api.post("/api/auth/login", {"username": account.username, "password": PASSWORD})
    assert login.status == 200, login.text
    return str(login.body["token"])


async def _decided_by_admin(api: Api, users: Users, task_id: str) -> None:
    body = {"decision": "validated"}
    reply = await api.post(f"/api/tasks/{task_id}/decision", body, token=users.admin.token)
    assert reply.status == 200, reply.text


def _body(method: str, path: str, users: Users) -> Any:
    bodies: dict[str, Any] = {
        "/api/auth/register": {"username": unique_name("matrix"), "password": PASSWORD},
        "/api/auth/login": {"username": users.worker.username, "password": PASSWORD},
        "/api/scans": {"name": "matrix"},
        "/api/scans/{scan_id}/tasks": {"content": "matrix"},
        "/api/tasks/{task_id}/decision": {"decision": "validated"},
    }
    return bodies.get(path, {}) if method == "POST" else None


@pytest.mark.parametrize(("method", "path", "caller"), ROUTE_CASES)
async def test_each_route_answers_each_caller_as_policy_says(
    method: str, path: str, caller: Caller, api: Api, users: Users
) -> None:
    """Allowed: a 2xx. Not signed in: 401 `unauthorized`. Signed in without the permission (or
    not owning an OWN-scoped object): 403 `forbidden`."""
    scan = await new_scan(api, users.admin, "matrix")
    task = await api.post(f"/api/scans/{scan}/tasks", {"content": "t"}, token=users.worker.token)
    assert task.status == 201, task.text
    if path.endswith("/undo"):  # only a decision can be undone, by the admin who made it
        await _decided_by_admin(api, users, task.body["task"]["id"])
    url = path.format(scan_id=scan, task_id=task.body["task"]["id"], path=_asset())
    token = await _token(caller, users, api, fresh=path == "/api/auth/logout")
    body = _body(method, path, users)
    reply: Reply = await (
        api.request(method, url, token=token)
        if body is None
        else api.request(method, url, token=token, json_body=body)
    )
    refusal = expected(ROUTE_NEEDS[(method, path)], caller)
    if refusal is None:
        if path.startswith("/assets/") and not STATIC_ASSETS.is_dir():
            pytest.skip("the dashboard is not built, so there is no asset to fetch")
        assert 200 <= reply.status < 300, reply.text
    else:
        assert_error(reply, {"unauthorized": 401, "forbidden": 403}[refusal], refusal)


@pytest.mark.parametrize(("event", "caller"), EVENT_CASES)
async def test_each_event_answers_each_caller_as_policy_says(
    event: str, caller: Caller, api: Api, sockets: SocketFactory, users: Users
) -> None:
    """Allowed: an `ok: true` ack. Without a token there is no socket to emit on (connect is
    refused `unauthorized`). Without the permission: an ack with error code `forbidden`."""
    scan = await new_scan(api, users.admin, "matrix")
    task = await api.post(f"/api/scans/{scan}/tasks", {"content": "t"}, token=users.worker.token)
    payloads: dict[str, dict[str, Any]] = {
        "scan:join": {"scan_id": scan},
        "scan:leave": {"scan_id": scan},
        "task:submit": {"scan_id": scan, "content": "matrix"},
        "task:decide": {"task_id": task.body["task"]["id"], "decision": "refused"},
        "task:undo": {"task_id": task.body["task"]["id"]},
        "task:claim": {"task_id": task.body["task"]["id"]},
        "task:release": {"task_id": task.body["task"]["id"]},
        "task:claim_next": {"scan_id": scan},
    }
    if event == "task:undo":
        await _decided_by_admin(api, users, task.body["task"]["id"])
    token = await _token(caller, users, api, fresh=False)
    refusal = expected(EVENT_NEEDS[event], caller)
    if token is None:
        assert refusal == "unauthorized"
        data = await sockets.new(None).refused()
        assert data["code"] == "unauthorized", data
        return
    socket = await sockets.new(token).connect()
    ack = await socket.call(event, payloads[event])
    if refusal is None:
        assert ack["ok"] is True, ack
    else:
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] == refusal, ack
