"""Tokens an attacker could present: each made the way the attack would make it."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, Final

import jwt

from taskstream_core.models import utc_now
from tests.contract.helpers import PASSWORD, Users
from tests.support import TEST_JWT_SECRET, Api

__all__ = ["FORGERIES", "Forge", "claims_of", "sign"]

WRONG_KEY: Final = "an-attacker's-own-key-of-32-bytes-or-more"

Forge = Callable[[Users, Api], Awaitable[str]]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    """A token's payload, read without checking anything (as anyone can)."""
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def sign(payload: dict[str, Any], key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=algorithm)


def fresh_claims(users: Users, **changes: Any) -> dict[str, Any]:
    """Claims as the server issues them for the first worker; a None change removes a claim."""
    now = int(utc_now().timestamp())
    payload: dict[str, Any] = {
        "sub": users.worker.id,
        "role": "worker",
        "iat": now,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
        "iss": "taskstream",
    }
    for name, value in changes.items():
        if value is None:
            del payload[name]
        else:
            payload[name] = value
    return payload


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    parts = (json.dumps(header).encode(), json.dumps(payload).encode())
    return ".".join(_b64(p) for p in parts) + "." + signature


async def alg_none(users: Users, api: Api) -> str:
    return _unsigned({"alg": "none", "typ": "JWT"}, fresh_claims(users))


async def alg_none_admin(users: Users, api: Api) -> str:
    return _unsigned(
        {"alg": "none", "typ": "JWT"}, fresh_claims(users, sub=users.admin.id, role="admin")
    )


async def alg_none_keeping_a_signature(users: Users, api: Api) -> str:
    """The header says none, the real signature of a genuine token is left in place."""
    signature = users.worker.token.rsplit(".", 1)[1]
    return _unsigned({"alg": "none", "typ": "JWT"}, claims_of(users.worker.token), signature)


async def hs512_with_the_right_key(users: Users, api: Api) -> str:
    with warnings.catch_warnings():  # PyJWT warns that the key is short for SHA-512
        warnings.simplefilter("ignore")
        return sign(fresh_claims(users), algorithm="HS512")


async def wrong_key(users: Users, api: Api) -> str:
    return sign(fresh_claims(users), key=WRONG_KEY)


async def expired(users: Users, api: Api) -> str:
    """Genuinely signed, expired a minute ago (past the 5 s leeway)."""
    now = int(utc_now().timestamp())
    return sign(fresh_claims(users, iat=now - 3660, exp=now - 60))


async def role_to_admin_resigned_with_a_wrong_key(users: Users, api: Api) -> str:
    payload = claims_of(users.worker.token) | {"role": "admin"}
    return sign(payload, key=WRONG_KEY)


async def role_to_admin_keeping_the_signature(users: Users, api: Api) -> str:
    header, _, signature = users.worker.token.split(".")
    payload = claims_of(users.worker.token) | {"role": "admin"}
    return f"{header}.{_b64(json.dumps(payload).encode())}.{signature}"


async def role_to_admin_resigned_with_the_server_key(users: Users, api: Api) -> str:
    """Even a leaked key does not make a worker an admin: the stored role must match."""
    return sign(claims_of(users.worker.token) | {"role": "admin"})


async def user_that_does_not_exist(users: Users, api: Api) -> str:
    return sign(fresh_claims(users, sub=uuid.uuid4().hex))


async def role_nobody_has(users: Users, api: Api) -> str:
    return sign(fresh_claims(users, role="superuser"))


async def subject_not_a_string(users: Users, api: Api) -> str:
    return sign(fresh_claims(users, sub=12345))


async def expiry_not_a_number(users: Users, api: Api) -> str:
    return sign(fresh_claims(users, exp="tomorrow"))


async def wrong_issuer(users: Users, api: Api) -> str:
    return sign(fresh_claims(users, iss="someone-else"))


async def logged_out(users: Users, api: Api) -> str:
    login = await api.post(
        "/api/auth/login", {"username": users.worker2.username, "password": PASSWORD}
    )
    assert login.status == 200, login.text
    token = str(login.body["token"])
    assert (await api.post("/api/auth/logout", token=token)).status == 204
    return token


def _missing(claim: str) -> Forge:
    async def forge(users: Users, api: Api) -> str:
        return sign(fresh_claims(users, **{claim: None}))

    return forge


def _literal(value: str) -> Forge:
    async def forge(users: Users, api: Api) -> str:
        return value

    return forge


async def oversized_genuine(users: Users, api: Api) -> str:
    """Genuinely signed, but longer than any token the server issues (4 KiB)."""
    return sign(fresh_claims(users, padding="x" * 5000))


#: name -> how to make it; every one must be refused with `unauthorized` on every transport.
FORGERIES: Final[dict[str, Forge]] = {
    "alg-none": alg_none,
    "alg-none-as-admin": alg_none_admin,
    "alg-none-keeping-a-signature": alg_none_keeping_a_signature,
    "hs512-right-key": hs512_with_the_right_key,
    "wrong-key": wrong_key,
    "expired": expired,
    "role-admin-wrong-key": role_to_admin_resigned_with_a_wrong_key,
    "role-admin-old-signature": role_to_admin_keeping_the_signature,
    "role-admin-server-key": role_to_admin_resigned_with_the_server_key,
    "unknown-user": user_that_does_not_exist,
    "wrong-issuer": wrong_issuer,
    "unknown-role": role_nobody_has,
    "sub-not-a-string": subject_not_a_string,
    "exp-not-a-number": expiry_not_a_number,
    "logged-out": logged_out,
    **{
        f"missing-{claim}": _missing(claim) for claim in ("sub", "role", "iat", "exp", "jti", "iss")
    },
    "garbage": _literal("garbage"),
    "three-dots": _literal("a.b.c"),
    "base64-noise": _literal("eyJhbGciOiJIUzI1NiJ9.e30.AAAA"),
    "oversized-genuine": oversized_genuine,
}
