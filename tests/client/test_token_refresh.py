"""The client's token refresh hook, against the real server process.

Short-lived tokens come from a :class:`~taskstream_core.TokenIssuer` holding the
test server's secret (``TASKSTREAM_JWT_SECRET``): the server has no option for
its own token lifetime, and accepts any genuine token of a user it knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import jwt
import pytest

from taskstream_core import ScanEvent, TokenIssuer
from taskstream_core.client import TaskStreamClient
from taskstream_core.errors import Unauthorized
from taskstream_core.models import EventType
from tests.client.helpers import PASSWORD, unique_name
from tests.support import TEST_INVITE_CODE, TEST_JWT_SECRET, ServerProcess

pytestmark = pytest.mark.contract

#: The short tokens' lifetime; the server drops a socket at expiry + its 5 s leeway.
LIFETIME = timedelta(seconds=3)


def _expiry(token: str) -> float:
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


async def _revoke(base_url: str, token: str) -> None:
    """Log ``token`` out from elsewhere (another session of the same user)."""
    other = TaskStreamClient(base_url, token)
    try:
        await other.logout()
    finally:
        await other.close()


class _Received:
    """Collects ``(seq, task id)`` of every ``task:created`` a client receives, in a task."""

    def __init__(self, client: TaskStreamClient) -> None:
        self.items: list[tuple[int, str]] = []
        self._changed = asyncio.Condition()
        self.task = asyncio.ensure_future(self._collect(client))

    async def _collect(self, client: TaskStreamClient) -> None:
        async for item in client.events():
            if isinstance(item, ScanEvent) and item.type is EventType.TASK_CREATED and item.task:
                self.items.append((item.seq, item.task.id))
                async with self._changed:
                    self._changed.notify_all()

    async def wait_for(self, count: int, wait: float = 15.0) -> None:
        """Return once ``count`` events arrived; fail after ``wait`` seconds."""
        async with asyncio.timeout(wait), self._changed:
            await self._changed.wait_for(lambda: len(self.items) >= count or self.task.done())
        if self.task.done():
            self.task.result()  # raise what stopped the stream

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _assert_once_in_order(received: list[tuple[int, str]], submitted: list[str]) -> None:
    assert [task_id for _, task_id in received] == submitted
    seqs = [seq for seq, _ in received]
    assert seqs == sorted(set(seqs))


async def test_refreshes_before_expiry_and_the_live_stream_outlives_each_token(
    server: ServerProcess, worker: TaskStreamClient
) -> None:
    """Tokens are refreshed before they expire; the live stream carries on with each, losing
    and repeating no event, while a client without a hook is cut off when its token expires."""
    admin = await TaskStreamClient.register(
        server.base_url, unique_name("admin"), PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    await admin.close()
    assert admin.user is not None
    issuer = TokenIssuer(TEST_JWT_SECRET, lifetime=LIFETIME)
    user = admin.user
    refreshes: list[tuple[float, float]] = []  # (when, the expiry of the token replaced)

    def fresh_token() -> str:
        refreshes.append((time.time(), _expiry(hooked.token)))
        return issuer.issue(user)[0]

    hooked = TaskStreamClient(server.base_url, issuer.issue(user)[0], token_refresh=fresh_token)
    unhooked = TaskStreamClient(server.base_url, issuer.issue(user)[0])
    first_token = hooked.token
    async with hooked, unhooked:
        scan = await hooked.create_scan("short tokens")
        await hooked.join(scan.id)
        await unhooked.join(scan.id)
        await worker.join(scan.id)
        received = _Received(hooked)
        cut_off = _Received(unhooked)
        submitted: list[str] = []
        try:
            async with asyncio.timeout(20):
                while not cut_off.task.done():  # until the unhooked client's token runs out
                    submitted.append((await worker.submit(scan.id, f"n{len(submitted)}")).id)
                    await asyncio.sleep(0.1)
            submitted += [(await worker.submit(scan.id, f"last {n}")).id for n in range(3)]
            await received.wait_for(len(submitted))
        finally:
            await received.stop()
        with pytest.raises(Unauthorized):
            cut_off.task.result()
        _assert_once_in_order(received.items, submitted)
        # Several tokens came and went, each replaced before it expired.
        assert len(refreshes) >= 3
        assert all(when < expires for when, expires in refreshes)
        # HTTP calls carry the latest token: the first one is refused by now.
        assert time.time() > _expiry(first_token) + 5
        assert (await hooked.me()).id == user.id
        assert hooked.connected


async def test_an_http_only_client_refreshes_before_expiry(server: ServerProcess) -> None:
    """A client that makes only HTTP calls refreshes its token before a call once the token is
    past its refresh time, without waiting for a 401."""
    worker = await TaskStreamClient.register(server.base_url, unique_name("worker"), PASSWORD)
    await worker.close()
    assert worker.user is not None
    lifetime = 6.0  # refreshed 3 s before exp, at most 3 s after it was made (iat is whole)
    issuer = TokenIssuer(TEST_JWT_SECRET, lifetime=timedelta(seconds=lifetime))
    user = worker.user
    replaced: list[float] = []

    async def fresh_token() -> str:
        replaced.append(_expiry(client.token))
        return issuer.issue(user)[0]

    client = TaskStreamClient(server.base_url, issuer.issue(user)[0], token_refresh=fresh_token)
    try:
        first = client.token
        assert (await client.me()).id == user.id
        assert replaced == []  # fresh: used as it is
        await asyncio.sleep(lifetime / 2 + 0.1)
        assert time.time() < _expiry(first)  # still accepted: no 401 would force a refresh
        assert (await client.me()).id == user.id
        assert replaced == [_expiry(first)]
        assert client.token != first
    finally:
        await client.close()


async def test_refreshes_once_when_the_server_refuses_the_token(
    server: ServerProcess, worker: TaskStreamClient
) -> None:
    """An HTTP 401 and a refused reconnect each make the client refresh once and carry on,
    resuming its scans without losing or repeating an event."""
    name = unique_name("admin")
    first = await TaskStreamClient.register(
        server.base_url, name, PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    stale = first.token
    await _revoke(server.base_url, stale)
    sign_in = TaskStreamClient.password_refresh(server.base_url, name, PASSWORD)
    calls = 0

    async def fresh_token() -> str:
        nonlocal calls
        calls += 1
        return await sign_in()

    client = TaskStreamClient(server.base_url, stale, token_refresh=fresh_token)
    try:
        assert (await client.me()).username == name  # a 401, a refresh, the call again
        assert calls == 1
        await client.connect()
        scan = await client.create_scan("revoked")
        await client.join(scan.id)
        received = _Received(client)
        submitted = [(await worker.submit(scan.id, f"before {n}")).id for n in range(3)]
        await received.wait_for(3)
        # Another session signs this token out: the server closes the socket and
        # refuses the reconnect; the client refreshes and resumes.
        await _revoke(server.base_url, client.token)
        submitted += [(await worker.submit(scan.id, f"after {n}")).id for n in range(5)]
        await received.wait_for(len(submitted))
        await received.stop()
        _assert_once_in_order(received.items, submitted)
        assert calls == 2
        assert client.connected
    finally:
        await client.close()


async def test_a_refused_fresh_token_raises_unauthorized(server: ServerProcess) -> None:
    """When the server refuses the refreshed token as well, the call raises Unauthorized
    after one refresh."""
    first = await TaskStreamClient.register(server.base_url, unique_name("worker"), PASSWORD)
    await _revoke(server.base_url, first.token)
    calls = 0

    def bad_token() -> str:
        nonlocal calls
        calls += 1
        return "not-a-token"

    client = TaskStreamClient(server.base_url, first.token, token_refresh=bad_token)
    try:
        with pytest.raises(Unauthorized):
            await client.me()
        assert calls == 1
        with pytest.raises(Unauthorized):
            await client.connect()
        assert calls == 2
    finally:
        await client.close()


async def test_relogin_signs_in_again_with_the_stored_credentials(server: ServerProcess) -> None:
    """A client made by ``login(..., relogin=True)`` gets a new token when its own is refused."""
    name = unique_name("worker")
    await (await TaskStreamClient.register(server.base_url, name, PASSWORD)).close()
    client = await TaskStreamClient.login(server.base_url, name, PASSWORD, relogin=True)
    try:
        revoked = client.token
        await _revoke(server.base_url, revoked)
        assert (await client.me()).username == name
        assert client.token != revoked
    finally:
        await client.close()
