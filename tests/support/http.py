"""Small HTTP helpers for wire-level tests: an async client that never raises on a status,
and a blocking one for session fixtures (which should not hold an event loop)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDict

__all__ = ["Account", "Api", "Reply", "call_sync", "register_sync"]

_NO_BODY: Any = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer as the wire carried it: status, headers (any case), text and JSON (or None)."""

    status: int
    headers: Mapping[str, str]
    text: str
    body: Any

    @property
    def error_code(self) -> str | None:
        """``error.code`` of a contract error body, else None."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return code if isinstance(code, str) else None
        return None


@dataclass(frozen=True, slots=True)
class Account:
    """A registered user: what a test needs to act as it."""

    username: str
    password: str
    token: str
    user: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.user["id"])


class Api:
    """An aiohttp session bound to one server; methods answer a :class:`Reply` for any status."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = _NO_BODY,
        data: bytes | str | AsyncIterator[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not _NO_BODY:
            data = json.dumps(json_body)
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(
            method, self.base_url + path, data=data, params=params, headers=sent
        ) as response:
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            return Reply(response.status, CIMultiDict(response.headers), text, body)

    async def get(self, path: str, **kwargs: Any) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = _NO_BODY, **kwargs: Any) -> Reply:
        return await self.request("POST", path, json_body=body, **kwargs)


def call_sync(
    base_url: str, method: str, path: str, body: Any = _NO_BODY, token: str | None = None
) -> tuple[int, Any]:
    """One blocking JSON call; (status, parsed body or None)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is _NO_BODY else json.dumps(body).encode()
    # The URL is the test server's own http:// address, never user input.
    request = urllib.request.Request(base_url + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    return status, (json.loads(raw) if raw else None)


def register_sync(
    base_url: str,
    username: str,
    password: str,
    *,
    role: str = "worker",
    invite_code: str | None = None,
) -> Account:
    """Register a user (blocking) and return it signed in; fails the test on any error."""
    payload: dict[str, Any] = {"username": username, "password": password, "role": role}
    if invite_code is not None:
        payload["invite_code"] = invite_code
    status, body = call_sync(base_url, "POST", "/api/auth/register", payload)
    if status != 201:
        raise AssertionError(f"registering {username!r} answered {status}: {body}")
    return Account(username, password, body["token"], body["user"])
