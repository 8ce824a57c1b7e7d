"""What the contract tests share besides fixtures: accounts, sockets, token minting."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from taskstream_core import Role, TokenIssuer
from taskstream_core.models import User, utc_now
from tests.support import TEST_JWT_SECRET, Account, Api, LiveSocket, Reply, Wire

__all__ = [
    "PASSWORD",
    "Join",
    "SocketFactory",
    "Users",
    "assert_error",
    "mint_token",
    "new_scan",
    "unique_name",
]

PASSWORD = "correct horse battery"


def assert_error(reply: Reply, status: int, code: str) -> None:
    """The reply is the contract's error body, ``{"error": {"code", "message"}}``, with this
    status and code."""
    assert reply.status == status, reply.text
    assert set(reply.body) == {"error"}, reply.body
    assert reply.body["error"]["code"] == code, reply.text
    assert isinstance(reply.body["error"]["message"], str)
    assert reply.body["error"]["message"]


def unique_name(prefix: str = "u") -> str:
    """A username no other test uses (3–32 characters of the allowed set)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Join(Protocol):
    """Joins ``scan_id`` as ``account`` over the server's live channel; the join answer."""

    async def __call__(self, account: Account, scan_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Users:
    """The session's shared accounts."""

    admin: Account
    admin2: Account
    worker: Account
    worker2: Account


def mint_token(
    account: Account,
    *,
    secret: str = TEST_JWT_SECRET,
    issued: datetime | None = None,
    lifetime: timedelta = timedelta(hours=12),
) -> str:
    """A token for ``account`` as a server with ``secret`` would sign it (to forge or expire)."""
    user = User(
        id=account.id,
        username=account.username,
        role=Role(account.user["role"]),
        created_at=utc_now(),
    )
    token, _ = TokenIssuer(secret, lifetime=lifetime).issue(user, now=issued or utc_now())
    return token


async def new_scan(api: Api, admin: Account, name: str = "a scan") -> str:
    """A fresh open scan's id."""
    reply = await api.post("/api/scans", {"name": name}, token=admin.token)
    assert reply.status == 201, reply.text
    return str(reply.body["scan"]["id"])


class SocketFactory:
    """Opens Socket.IO connections for a test and closes them all after it; given a
    :class:`Wire`, each socket records there everything it receives."""

    def __init__(self, base_url: str, wire: Wire | None = None) -> None:
        self.base_url = base_url
        self.wire = wire
        self.opened: list[LiveSocket] = []

    def new(self, token: str | None, *, auth: Any = None) -> LiveSocket:
        """A socket not connected yet, signed in with ``token`` (or ``auth`` as it is)."""
        socket = LiveSocket(self.base_url, token, auth=auth, wire=self.wire)
        self.opened.append(socket)
        return socket

    async def connect(self, account: Account) -> LiveSocket:
        return await self.new(account.token).connect()

    async def joined(self, account: Account, scan: str) -> LiveSocket:
        """A socket for ``account`` that has joined ``scan`` (the join ack must be ok)."""
        socket = await self.connect(account)
        ack = await socket.call("scan:join", {"scan_id": scan})
        assert ack["ok"] is True, ack
        return socket

    async def close_all(self) -> None:
        for socket in self.opened:
            await socket.close()
