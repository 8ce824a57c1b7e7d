"""CONTRACT.md §2, accounts: register, login (and its throttling), me, logout, bearer tokens."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

from taskstream_core.models import utc_now
from tests.support import TEST_INVITE_CODE, Api

from .helpers import PASSWORD, SocketFactory, Users, assert_error, mint_token, unique_name

USER_KEYS = {"id", "username", "role", "created_at"}
TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


async def test_register_answers_201_with_token_and_user(api: Api) -> None:
    """`POST /api/auth/register` → 201 `{token, user}`, User `{"id", "username", "role",
    "created_at"}`; "role defaults to `worker`"."""
    name = unique_name("reg")
    reply = await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    assert reply.status == 201, reply.text
    assert set(reply.body) == {"token", "user"}
    assert isinstance(reply.body["token"], str)
    assert reply.body["token"]
    user = reply.body["user"]
    assert set(user) == USER_KEYS
    assert user["username"] == name
    assert user["role"] == "worker"
    assert re.fullmatch(TIME_PATTERN, user["created_at"]), user["created_at"]


async def test_username_and_password_limits_accept_the_boundaries(api: Api) -> None:
    """Contract: "username: 3–32 of `A–Z a–z 0–9 _ . -`" and "password: 8–256 characters": both ends
    are accepted."""
    short = f"s.{uuid.uuid4().hex[0]}"
    long = unique_name("Long_name").ljust(32, "x")
    for username, password in ((short, "p" * 8), (long, "p" * 256)):
        reply = await api.post("/api/auth/register", {"username": username, "password": password})
        assert reply.status == 201, reply.text
        assert reply.body["user"]["username"] == username
    assert (len(short), len(long)) == (3, 32)


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("ab", PASSWORD),
        ("a" * 33, PASSWORD),
        ("has space", PASSWORD),
        ("accént", PASSWORD),
        ("semi;colon", PASSWORD),
        ("", PASSWORD),
        ("valid-name-x", "p" * 7),
        ("valid-name-y", "p" * 257),
        ("valid-name-z", ""),
    ],
)
async def test_username_and_password_limits_refuse_beyond(
    api: Api, username: str, password: str
) -> None:
    """Contract: "username: 3–32 of `A–Z a–z 0–9 _ . -`", "password: 8–256 characters": anything
    else is 400 `invalid_request`."""
    reply = await api.post("/api/auth/register", {"username": username, "password": password})
    assert_error(reply, 400, "invalid_request")


async def test_missing_fields_are_invalid_request(api: Api) -> None:
    """A register body without username or password is 400 `invalid_request`."""
    assert_error(
        await api.post("/api/auth/register", {"password": PASSWORD}), 400, "invalid_request"
    )
    assert_error(
        await api.post("/api/auth/register", {"username": "abcdef"}), 400, "invalid_request"
    )


async def test_username_is_unique_ignoring_case(api: Api, users: Users) -> None:
    """Contract: "username ... unique ignoring case (409 `conflict`)"."""
    reply = await api.post(
        "/api/auth/register", {"username": users.worker.username.upper(), "password": PASSWORD}
    )
    assert_error(reply, 409, "conflict")


@pytest.mark.parametrize("invite_code", [None, "wrong-code", 12345])
async def test_admin_needs_the_invite_code(api: Api, invite_code: object) -> None:
    """Contract: "`admin` needs the invite code (403 `forbidden` without it or with a wrong
    one)"."""
    body: dict[str, object] = {
        "username": unique_name("adm"),
        "password": PASSWORD,
        "role": "admin",
    }
    if invite_code is not None:
        body["invite_code"] = invite_code
    assert_error(await api.post("/api/auth/register", body), 403, "forbidden")


async def test_admin_with_the_invite_code_is_an_admin(users: Users) -> None:
    """Registering with `role: admin` and the right invite code makes an admin."""
    assert users.admin.user["role"] == "admin"
    assert users.worker.user["role"] == "worker"
    assert TEST_INVITE_CODE  # the session's admins were registered with it


@pytest.mark.parametrize("role", ["root", "Admin", "", 1])
async def test_any_other_role_is_invalid_request(api: Api, role: object) -> None:
    """Contract: "any other role is 400 `invalid_request`"."""
    body = {"username": unique_name("role"), "password": PASSWORD, "role": role}
    assert_error(await api.post("/api/auth/register", body), 400, "invalid_request")


async def test_login_answers_200_with_token_and_user(api: Api, users: Users) -> None:
    """`POST /api/auth/login` `{username, password}` → 200 `{token, user}`."""
    reply = await api.post(
        "/api/auth/login", {"username": users.worker2.username, "password": PASSWORD}
    )
    assert reply.status == 200, reply.text
    assert set(reply.body) == {"token", "user"}
    assert reply.body["user"] == users.worker2.user


@pytest.mark.parametrize(
    "body", [{"username": 123, "password": PASSWORD}, {"username": "someone"}, {}]
)
async def test_login_with_wrong_types_is_invalid_request(api: Api, body: dict[str, Any]) -> None:
    """Contract: "`invalid_request` (400, also malformed JSON and wrong types/lengths)", for
    login too: a missing or non-string credential is 400."""
    assert_error(await api.post("/api/auth/login", body), 400, "invalid_request")


async def test_login_failure_says_the_same_for_unknown_and_wrong(api: Api, users: Users) -> None:
    """Contract: "Login failures answer 401 with the same message whether the user exists or
    not"."""
    wrong = await api.post(
        "/api/auth/login", {"username": users.admin2.username, "password": "not-the-password"}
    )
    unknown = await api.post(
        "/api/auth/login", {"username": unique_name("ghost"), "password": "not-the-password"}
    )
    assert_error(wrong, 401, "unauthorized")
    assert_error(unknown, 401, "unauthorized")
    assert wrong.body == unknown.body
    # one failure (it stays in the window) does not lock the shared admin out
    ok = await api.post(
        "/api/auth/login", {"username": users.admin2.username, "password": PASSWORD}
    )
    assert ok.status == 200


async def test_five_failures_lock_the_username_even_with_the_right_password(api: Api) -> None:
    """Contract: "After 5 failures for one username within 15 minutes, further tries — even with the
    right password — answer 429 `rate_limited`"."""
    name = unique_name("locked")
    assert (
        await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    ).status == 201
    failures = await asyncio.gather(
        *(
            api.post("/api/auth/login", {"username": name, "password": f"wrong-{i}"})
            for i in range(5)
        )
    )
    assert [r.status for r in failures] == [401] * 5
    locked = await api.post("/api/auth/login", {"username": name, "password": PASSWORD})
    assert_error(locked, 429, "rate_limited")
    assert int(locked.headers["Retry-After"]) > 0
    # the lock is per username, case-insensitively
    upper = await api.post("/api/auth/login", {"username": name.upper(), "password": PASSWORD})
    assert_error(upper, 429, "rate_limited")


async def test_a_success_between_failures_does_not_reset_the_count(api: Api) -> None:
    """Contract: "After 5 failures for one username within 15 minutes, further tries — even with
    the right password — answer 429": 4 failures, a success, 1 failure make 5 in the window; a
    success in between does not wipe the ones before it."""
    name = unique_name("between")
    assert (
        await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    ).status == 201
    for i in range(4):
        wrong = await api.post("/api/auth/login", {"username": name, "password": f"wrong-{i}"})
        assert_error(wrong, 401, "unauthorized")
    ok = await api.post("/api/auth/login", {"username": name, "password": PASSWORD})
    assert ok.status == 200, ok.text
    fifth = await api.post("/api/auth/login", {"username": name, "password": "wrong-5"})
    assert_error(fifth, 401, "unauthorized")
    locked = await api.post("/api/auth/login", {"username": name, "password": PASSWORD})
    assert_error(locked, 429, "rate_limited")


async def test_successful_logins_do_not_count_as_failures(api: Api) -> None:
    """Only failures count towards the lock: six right passwords in a row all answer 200."""
    name = unique_name("steady")
    assert (
        await api.post("/api/auth/register", {"username": name, "password": PASSWORD})
    ).status == 201
    for _ in range(6):
        ok = await api.post("/api/auth/login", {"username": name, "password": PASSWORD})
        assert ok.status == 200, ok.text


async def test_me_answers_the_user(api: Api, users: Users) -> None:
    """`GET /api/auth/me | any user | → 200 {user}`."""
    reply = await api.get("/api/auth/me", token=users.worker.token)
    assert reply.status == 200
    assert reply.body == {"user": users.worker.user}


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Token abc"],
)
async def test_missing_or_malformed_bearer_is_401(api: Api, authorization: str | None) -> None:
    """Contract: "Authenticated calls carry `Authorization: Bearer <token>`": without a valid one,
    401."""
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(await api.get("/api/auth/me", headers=headers), 401, "unauthorized")


async def test_forged_and_expired_tokens_are_401(api: Api, users: Users) -> None:
    """A token signed with another key, or expired, is 401 `unauthorized`."""
    forged = mint_token(users.admin, secret="someone-else's-secret-of-32-bytes-or-more")
    expired = mint_token(
        users.admin, issued=utc_now() - timedelta(hours=2), lifetime=timedelta(hours=1)
    )
    valid = mint_token(users.admin)
    assert_error(await api.get("/api/auth/me", token=forged), 401, "unauthorized")
    assert_error(await api.get("/api/auth/me", token=expired), 401, "unauthorized")
    assert (await api.get("/api/auth/me", token=valid)).status == 200


async def test_logout_refuses_that_token_over_http(api: Api, users: Users) -> None:
    """`POST /api/auth/logout` → 204; "that token is refused from then on, over HTTP", while the
    user's other tokens still work."""
    first = await api.post(
        "/api/auth/login", {"username": users.worker.username, "password": PASSWORD}
    )
    second = await api.post(
        "/api/auth/login", {"username": users.worker.username, "password": PASSWORD}
    )
    token, other = first.body["token"], second.body["token"]
    reply = await api.post("/api/auth/logout", token=token)
    assert reply.status == 204
    assert reply.text == ""
    assert_error(await api.get("/api/auth/me", token=token), 401, "unauthorized")
    assert_error(await api.get("/api/scans", token=token), 401, "unauthorized")
    assert_error(await api.post("/api/auth/logout", token=token), 401, "unauthorized")
    assert (await api.get("/api/auth/me", token=other)).status == 200


@pytest.mark.integrations("sanic")  # Socket.IO
async def test_logout_refuses_that_token_over_socketio(
    api: Api, users: Users, sockets: SocketFactory
) -> None:
    """Contract: "that token is refused from then on, over HTTP and Socket.IO": new connections get
    `connect_error` unauthorized and the live ones are disconnected."""
    login = await api.post(
        "/api/auth/login", {"username": users.worker.username, "password": PASSWORD}
    )
    token = login.body["token"]
    live = await sockets.new(token).connect()
    bystander = await sockets.connect(users.worker)  # another token of the same user
    assert (await api.post("/api/auth/logout", token=token)).status == 204
    await asyncio.wait_for(live.disconnected.wait(), 5)
    data = await sockets.new(token).refused()
    assert data["code"] == "unauthorized"
    assert data["data"]["code"] == "unauthorized"
    await bystander.quiet(0.2)
    assert bystander.connected
