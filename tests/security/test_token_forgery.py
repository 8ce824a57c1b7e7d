"""Issue #6, Security 1: every forged, stale or broken token is refused, over HTTP and at
Socket.IO connect, with the contract's `unauthorized`.

CONTRACT.md §2: without a valid bearer token, 401 `unauthorized`; §3: "A missing, malformed,
expired, forged or logged-out token is refused at connect (`connect_error` with data
`{"code": "unauthorized"}`)". tests/unit/test_tokens.py holds the verifier's own cases; these
hold the server's answer to each over the wire.
"""

from __future__ import annotations

from typing import Literal

import pytest

from tests.contract.helpers import SocketFactory, Users, assert_error
from tests.support import Api

from .forgery import FORGERIES, Forge

Transport = Literal["http", "socketio"]
TRANSPORTS: list[Transport] = ["http", "socketio"]


async def accepted(transport: Transport, token: str, api: Api, sockets: SocketFactory) -> bool:
    """Whether the server lets ``token`` in; a refusal must be exactly the contract's."""
    if transport == "http":
        reply = await api.get("/api/auth/me", token=token)
        if reply.status == 200:
            return True
        assert_error(reply, 401, "unauthorized")
        return False
    socket = sockets.new(token)
    try:
        await socket.connect()
    except Exception:
        data = socket.connect_errors[-1]
        assert data["code"] == "unauthorized", data
        assert data["data"]["code"] == "unauthorized", data
        return False
    await socket.close()
    return True


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_forged_token_is_refused(
    transport: Transport, forge: Forge, api: Api, sockets: SocketFactory, users: Users
) -> None:
    """The forgery gets 401 `unauthorized` over HTTP, and `connect_error` `unauthorized` over
    Socket.IO: never a 200, a connection, a 403 or a 500."""
    token = await forge(users, api)
    assert not await accepted(transport, token, api, sockets)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_genuine_tokens_the_forgeries_start_from_are_accepted(
    transport: Transport, api: Api, sockets: SocketFactory, users: Users
) -> None:
    """The control: the same path lets the real tokens in, so a refusal above is the forgery's."""
    for account in (users.worker, users.admin):
        assert await accepted(transport, account.token, api, sockets)


async def test_a_socket_auth_payload_that_is_not_a_token_is_refused(
    sockets: SocketFactory, users: Users
) -> None:
    """The token where the contract does not put it (a bare string, a header) is refused."""
    for auth in ({"Authorization": f"Bearer {users.worker.token}"}, {"jwt": users.worker.token}):
        data = await sockets.new(None, auth=auth).refused()
        assert data["code"] == "unauthorized", data
