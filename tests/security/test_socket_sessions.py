"""An open socket is only as good as its sign-in: logout, a demotion or a deleted account end
it, and a client cannot replay the connection handshake as an event.

CONTRACT.md §1: a logged-out token "is refused from then on, over HTTP and Socket.IO";
docs/security.md: "every use re-checks the user". These tests drive the real server with
raw websocket clients (:class:`tests.support.WireSocket`), which can say what
python-socketio's client never would, and read the store's file the way an operator's
tool changes it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from tests.contract.helpers import PASSWORD, Users, assert_error, new_scan
from tests.soak.test_storm import gauge
from tests.support import TEST_INVITE_CODE, Account, Api, ServerProcess, WireSocket, register_sync

#: Sockets that connect with one token while it is being logged out, one every STAGGER s.
RACERS = 150
STAGGER = 0.0003
#: When the logout is sent after the first socket starts connecting, one round per entry
#: (each with a token of its own): the race is lost at different moments of the connect.
LOGOUT_AFTER = (0.02, 0.03, 0.04, 0.02, 0.03, 0.04)
#: How long a socket that should be gone is given to answer an event.
GONE_AFTER = 1.0

#: Whatever a raw client sees of a connection the server ended or stopped answering.
_ENDED = (TimeoutError, ConnectionError, asyncio.IncompleteReadError, OSError)


async def _answer(socket: WireSocket, event: str, payload: Any) -> Any:
    """The ack of ``event``, or None if the socket no longer answers (dropped or closed)."""
    socket.timeout = GONE_AFTER
    try:
        return await socket.call(event, payload)
    except _ENDED:
        return None


def _sql(store_path: Path, statement: str, *args: object) -> None:
    """One change to the store's file, as an operator's tool makes it behind the server."""
    with sqlite3.connect(store_path, timeout=10) as db:
        db.execute(statement, args)


def _admin_to_demote(server: ServerProcess) -> Account:
    """A new admin account of its own, for a test that changes its role behind the server."""
    return register_sync(
        server.base_url,
        f"demoted-{uuid.uuid4().hex[:8]}",
        PASSWORD,
        role="admin",
        invite_code=TEST_INVITE_CODE,
    )


async def logout_race(
    host: str, port: int, api: Api, username: str, scan: str, *, rounds: int = len(LOGOUT_AFTER)
) -> list[str]:
    """Sign ``username`` in, log the token out while RACERS sockets connect with it, then ask
    each socket that connected to submit to and join ``scan``; every answer it got (each one
    a socket that outlived the logout), over ``rounds`` rounds of LOGOUT_AFTER."""
    answered: list[str] = []
    for delay in LOGOUT_AFTER[:rounds]:
        reply = await api.post("/api/auth/login", {"username": username, "password": PASSWORD})
        assert reply.status == 200, reply.text
        token = reply.body["token"]

        async def racer(n: int, token: str = token) -> WireSocket | None:
            await asyncio.sleep(n * STAGGER)
            socket = WireSocket(host, port, token, timeout=20)
            try:
                await socket.connect()
            except _ENDED:
                await socket.leave("reset")
                return None
            return socket

        racers = [asyncio.create_task(racer(n)) for n in range(RACERS)]
        await asyncio.sleep(delay)
        logout = await api.post("/api/auth/logout", token=token)
        assert logout.status == 204, logout.text
        opened = [s for s in await asyncio.gather(*racers) if s is not None]
        await asyncio.sleep(0.5)
        answers = await asyncio.gather(
            *(
                _answer(s, "task:submit", {"scan_id": scan, "content": f"after logout {n}"})
                for n, s in enumerate(opened)
            )
        )
        joins = await asyncio.gather(*(_answer(s, "scan:join", {"scan_id": scan}) for s in opened))
        answered += [json.dumps(a) for a in answers + joins if a is not None]
        for socket in opened:
            await socket.leave("reset")
        assert_error(await api.get("/api/auth/me", token=token), 401, "unauthorized")
    return answered


async def test_no_socket_outlives_the_logout_of_its_token(
    server: ServerProcess, api: Api, users: Users
) -> None:
    """Sockets connecting with a token while it is logged out: once the logout has answered
    and settled, none of them is connected, and none can submit or join as that user.

    The connect handler must not register a socket after the logout looked for the token's
    sockets: either the logout finds it (and drops it once connected) or its
    authentication sees the revocation.
    """
    scan = await new_scan(api, users.admin)
    survivors = await logout_race(server.host, server.port, api, users.worker2.username, scan)
    assert survivors == [], f"{len(survivors)} events answered after the logout: {survivors[:3]}"
    tasks = await api.get(f"/api/scans/{scan}/tasks", token=users.admin.token)
    assert tasks.body["tasks"] == [], "a socket submitted after its token was logged out"


async def test_a_demoted_admin_socket_is_refused_and_dropped(
    server: ServerProcess, api: Api, users: Users, store_path: Path
) -> None:
    """An admin's socket, once the account is a worker's, decides nothing: the next event is
    answered ``unauthorized`` and the socket is disconnected, as HTTP refuses the token."""
    admin = _admin_to_demote(server)
    scan = await new_scan(api, admin)
    submitted = await api.post(
        f"/api/scans/{scan}/tasks", {"content": "decide me"}, token=users.worker.token
    )
    assert submitted.status == 201, submitted.text
    task = submitted.body["task"]
    socket = WireSocket(server.host, server.port, admin.token, timeout=10)
    await socket.connect()
    try:
        assert (await socket.call("scan:join", {"scan_id": scan}))["ok"] is True
        _sql(store_path, "UPDATE users SET role = 'worker' WHERE id = ?", admin.id)
        assert_error(await api.get("/api/auth/me", token=admin.token), 401, "unauthorized")

        ack = await socket.call("task:decide", {"task_id": task["id"], "decision": "validated"})
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] == "unauthorized", ack
        assert await _answer(socket, "scan:join", {"scan_id": scan}) is None, "still connected"
    finally:
        await socket.leave("reset")
    stored = await api.get(f"/api/tasks/{task['id']}", token=users.admin.token)
    assert stored.body["task"]["status"] == "pending"


async def test_a_deleted_users_socket_is_refused_and_dropped(
    server: ServerProcess, api: Api, users: Users, store_path: Path
) -> None:
    """A socket whose account was deleted submits nothing: ``unauthorized``, then dropped."""
    worker: Account = register_sync(server.base_url, f"gone-{uuid.uuid4().hex[:8]}", PASSWORD)
    scan = await new_scan(api, users.admin)
    socket = WireSocket(server.host, server.port, worker.token, timeout=10)
    await socket.connect()
    try:
        assert (await socket.call("scan:join", {"scan_id": scan}))["ok"] is True
        _sql(store_path, "DELETE FROM users WHERE id = ?", worker.id)

        ack = await socket.call("task:submit", {"scan_id": scan, "content": "from a ghost"})
        assert ack["ok"] is False, ack
        assert ack["error"]["code"] == "unauthorized", ack
        assert await _answer(socket, "scan:join", {"scan_id": scan}) is None, "still connected"
    finally:
        await socket.leave("reset")
    tasks = await api.get(f"/api/scans/{scan}/tasks", token=users.admin.token)
    assert tasks.body["tasks"] == []


async def test_a_demoted_admin_hears_unauthorized_where_the_event_would_fail_anyway(
    server: ServerProcess, api: Api, users: Users, store_path: Path
) -> None:
    """The core checks the account where it changes a task; an event that fails before that
    (an invalid payload, a task decided already) still answers a demoted admin
    ``unauthorized``, not its own error, and drops the socket."""
    admin = _admin_to_demote(server)
    scan = await new_scan(api, admin)
    submitted = await api.post(
        f"/api/scans/{scan}/tasks", {"content": "decided"}, token=users.worker.token
    )
    task = submitted.body["task"]
    decided = await api.post(
        f"/api/tasks/{task['id']}/decision", {"decision": "refused"}, token=users.admin.token
    )
    assert decided.status == 200, decided.text
    for payload in ({"task_id": task["id"], "decision": "validated"}, {"decision": "maybe"}):
        socket = WireSocket(server.host, server.port, admin.token, timeout=10)
        await socket.connect()
        try:
            assert (await socket.call("scan:join", {"scan_id": scan}))["ok"] is True
            _sql(store_path, "UPDATE users SET role = 'worker' WHERE id = ?", admin.id)
            ack = await socket.call("task:decide", payload)
            assert ack["ok"] is False, ack
            assert ack["error"]["code"] == "unauthorized", (payload, ack)
            assert await _answer(socket, "scan:join", {"scan_id": scan}) is None, "connected"
        finally:
            await socket.leave("reset")
            _sql(store_path, "UPDATE users SET role = 'admin' WHERE id = ?", admin.id)


RESERVED = ["connect", "disconnect", "connect_error", "disconnecting", "newListener"]


async def test_events_named_like_the_handshake_are_unknown_events(
    server: ServerProcess, api: Api, users: Users
) -> None:
    """``42["connect",{},{"token":T}]`` and the other names Socket.IO reserves are answered
    like any unknown event (``invalid_request``): they never reach the connection handlers,
    so the socket keeps one viewer (one broker subscription) and gets each event once."""
    scan = await new_scan(api, users.admin)
    before = gauge(server, "taskstream_broker_subscriptions")
    socket = WireSocket(server.host, server.port, users.worker.token, timeout=10)
    await socket.connect()
    try:
        auth = json.dumps({"token": users.worker.token})
        for name in RESERVED:
            for packet in (f'["{name}",{{}},{auth}]', f'["{name}"]', f'["{name}",{{}}]'):
                ack = await socket.call_raw(packet)
                assert ack["ok"] is False, (packet, ack)
                assert ack["error"]["code"] == "invalid_request", (packet, ack)
        assert gauge(server, "taskstream_broker_subscriptions") == before + 1
        assert (await socket.call("scan:join", {"scan_id": scan}))["ok"] is True
        ack = await socket.call("task:submit", {"scan_id": scan, "content": "once"})
        assert ack["ok"] is True, ack
        # The ack of a later event comes after every event queued before it.
        marker = await socket.call("scan:leave", {"scan_id": scan})
        assert marker["ok"] is True, marker
    finally:
        await socket.leave("clean")
    deadline = asyncio.get_running_loop().time() + 10
    while gauge(server, "taskstream_broker_subscriptions") != before:
        assert asyncio.get_running_loop().time() < deadline, "a subscription outlived its socket"
        await asyncio.sleep(0.1)
