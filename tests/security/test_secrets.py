"""Issue #6, Security 4 (secrets): password hashes never leave the store, and no password,
token, invite code or JWT secret reaches a log line.

The hash search itself runs after every test of this package (conftest's
``no_hash_on_the_wire``, over every HTTP answer and Socket.IO message the
tests received); the first test here proves that search has something real to
look for. The log test drives a whole working day on a server of its own at
``--log-level debug`` and greps its captured stdout and stderr for every secret
the day used. tests/contract/test_observability.py holds the shorter
info-level version.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.contract.helpers import PASSWORD, SocketFactory, Users, unique_name
from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET, Api, ServerProcess, Wire, call_sync

from .conftest import stored_hashes
from .forgery import WRONG_KEY, sign


async def test_the_hash_search_has_the_stores_real_hashes_to_look_for(
    api: Api, users: Users, store_path: Path, wire: Wire
) -> None:
    """The store holds PBKDF2 hashes (so searching the wire for them means something), and the
    answers that carry a user — register, login, me — carry none of them."""
    hashes = stored_hashes(store_path)
    assert len(hashes) >= 4
    assert all(h.startswith("$pbkdf2-sha256$") for h in hashes)
    start = len(wire.seen)
    login = await api.post(
        "/api/auth/login", {"username": users.worker.username, "password": PASSWORD}
    )
    me = await api.get("/api/auth/me", token=login.body["token"])
    assert set(me.body["user"]) == {"id", "username", "role", "created_at"}
    assert len(wire.seen) > start
    assert not wire.search(["pbkdf2", *stored_hashes(store_path)], since=start)


@pytest.fixture
async def logged(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A server of its own, logging everything it would at debug level."""
    server = ServerProcess(
        store_url=f"sqlite:///{tmp_path}/logs.db", args=["--log-level", "debug"], cwd=tmp_path
    )
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)


async def test_no_secret_reaches_the_logs(logged: ServerProcess, wire: Wire) -> None:
    """Register, sign in (right, wrong, unknown, locked out), submit and decide over HTTP and
    Socket.IO, refuse with a reason, present forged and logged-out tokens, log out: the captured
    output holds none of the passwords, tokens, invite codes, the JWT secret or the hashes."""
    worker_password, admin_password = "worker-secret-pw-7781", "admin-secret-pw-9934"
    wrong_password, wrong_invite = "guess-secret-pw-5512", "not-the-invite-code-4411"
    base = logged.base_url
    async with aiohttp.ClientSession() as session:
        api = Api(base, session)
        worker_name, admin_name = unique_name("logw"), unique_name("loga")
        worker = await api.post(
            "/api/auth/register", {"username": worker_name, "password": worker_password}
        )
        admin = await api.post(
            "/api/auth/register",
            {
                "username": admin_name,
                "password": admin_password,
                "role": "admin",
                "invite_code": TEST_INVITE_CODE,
            },
        )
        refused_admin = await api.post(
            "/api/auth/register",
            {
                "username": unique_name("loge"),
                "password": PASSWORD,
                "role": "admin",
                "invite_code": wrong_invite,
            },
        )
        assert (worker.status, admin.status, refused_admin.status) == (201, 201, 403)
        w_token, a_token = worker.body["token"], admin.body["token"]
        tokens = [w_token, a_token]
        for name, password in ((worker_name, wrong_password), ("nobody-here", wrong_password)):
            assert (
                await api.post("/api/auth/login", {"username": name, "password": password})
            ).status == 401
        login = await api.post(
            "/api/auth/login", {"username": admin_name, "password": admin_password}
        )
        tokens.append(login.body["token"])
        lock = unique_name("loglock")
        attempt = {"username": lock, "password": wrong_password}
        await asyncio.gather(*(api.post("/api/auth/login", attempt) for _ in range(5)))
        throttled = await api.post("/api/auth/login", attempt)
        assert throttled.status == 429

        scan = await api.post("/api/scans", {"name": "logs"}, token=a_token)
        scan_id = scan.body["scan"]["id"]
        over_http = await api.post(
            f"/api/scans/{scan_id}/tasks", {"content": "http task"}, token=w_token
        )
        sockets = SocketFactory(base, wire)
        try:
            admin_socket = await sockets.new(tokens[2]).connect()
            await admin_socket.call("scan:join", {"scan_id": scan_id})
            worker_socket = await sockets.new(w_token).connect()
            ack = await worker_socket.call("task:submit", {"scan_id": scan_id, "content": "live"})
            await admin_socket.call(
                "task:decide",
                {"task_id": ack["task"]["id"], "decision": "refused", "reason": "blurred"},
            )
            await api.post(
                f"/api/tasks/{over_http.body['task']['id']}/decision",
                {"decision": "validated"},
                token=a_token,
            )
            forged = sign({"sub": "x", "role": "admin"}, key=WRONG_KEY)
            tokens.append(forged)
            await api.get("/api/auth/me", token=forged)
            await sockets.new(forged).refused()
            assert (await api.post("/api/auth/logout", token=tokens[2])).status == 204
            await asyncio.wait_for(admin_socket.disconnected.wait(), 10)
            await sockets.new(tokens[2]).refused()
            await api.get("/api/scans", token=tokens[2])
        finally:
            await sockets.close_all()
    await asyncio.to_thread(logged.stop)

    store = Path(logged.store_url.removeprefix("sqlite:///"))  # type: ignore[union-attr]
    with sqlite3.connect(store) as db:
        hashes = [row[0] for row in db.execute("SELECT password_hash FROM users")]
    secrets = {
        "worker password": worker_password,
        "admin password": admin_password,
        "wrong password": wrong_password,
        "invite code": TEST_INVITE_CODE,
        "wrong invite code": wrong_invite,
        "JWT secret": TEST_JWT_SECRET,
        **{f"token {i}": token for i, token in enumerate(tokens)},
        **{f"token {i} signature": token.rsplit(".", 1)[1] for i, token in enumerate(tokens)},
        **{f"hash {i}": h for i, h in enumerate(hashes)},
        "hash scheme": "pbkdf2",
    }
    output = logged.output
    assert len(logged.lines) > 40  # the day was logged, at debug level
    assert '"level": "debug"' in output or '"level": "info"' in output
    found = [what for what, value in secrets.items() if value in output]
    assert not found, f"in the server's log: {found}"


@pytest.mark.parametrize("kept", [False, True], ids=["environment", "secrets-file"])
def test_a_short_invite_code_is_the_operators_choice_and_is_warned_about(
    tmp_path: Path, kept: bool
) -> None:
    """Contract §1 sets the invite code's value, not its length: a short one, from the
    environment or the secrets file, registers admins (a wrong one stays 403), and the log warns
    once, without the code, that it is guessable (issue #16 finding 12)."""
    env: dict[str, str | None] = {"TASKSTREAM_ADMIN_INVITE_CODE": "let-me-in"}
    if kept:
        env = {"TASKSTREAM_ADMIN_INVITE_CODE": None}
        secrets = tmp_path / "short.db.secrets.json"
        secrets.write_text(json.dumps({"admin_invite_code": "let-me-in"}), encoding="utf-8")
    with ServerProcess(store_url=f"sqlite:///{tmp_path}/short.db", env=env, cwd=tmp_path) as server:
        register = {"username": "short-code", "password": "correct horse", "role": "admin"}
        wrong = {**register, "invite_code": "let-me-inn"}
        status, body = call_sync(server.base_url, "POST", "/api/auth/register", wrong)
        assert status == 403, body
        right = {**register, "invite_code": "let-me-in"}
        status, body = call_sync(server.base_url, "POST", "/api/auth/register", right)
        assert status == 201, body
        assert body["user"]["role"] == "admin"
    warnings = [line for line in server.lines if "only 9 characters long" in line]
    assert len(warnings) == 1, server.output
    assert '"level": "warning"' in warnings[0], warnings
    assert "let-me-in" not in server.output


def test_an_empty_kept_invite_code_stops_the_server_at_start(tmp_path: Path) -> None:
    """An empty invite code in the secrets file would let anyone in as an admin (an empty one
    in the environment means none is set): exit 2 and one line saying why."""
    secrets = tmp_path / "empty.db.secrets.json"
    secrets.write_text(json.dumps({"admin_invite_code": ""}), encoding="utf-8")
    env: dict[str, str | None] = {"TASKSTREAM_ADMIN_INVITE_CODE": None}
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/empty.db", env=env, cwd=tmp_path)
    server.spawn()
    try:
        assert server.wait(30) == 2, server.output
    finally:
        if server.running:  # it started after all: stop it, the test has failed
            server.stop()
    last = server.lines[-1]
    assert last.startswith("taskstream-server: "), server.output
    assert "must not be empty" in last
