"""Issue #16 finding 12: guessing the admin invite code is throttled for the whole deployment.

The invite code is one secret for every registration, so wrong codes are counted in the store
under a key no username can take, whichever username or server process they come with: past
10 within 15 minutes, admin registration answers 429 `rate_limited` with `Retry-After`, even
with the right code. A server of its own, since the lock holds for every test that would share
one.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.helpers import PASSWORD, assert_error, unique_name
from tests.support import TEST_INVITE_CODE, Api, ServerProcess


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A server whose invite throttle no other test touches."""
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/invite.db", cwd=tmp_path)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)


def admin(code: str) -> dict[str, str]:
    """A registration body asking for an admin with ``code``."""
    return {
        "username": unique_name("adm"),
        "password": PASSWORD,
        "role": "admin",
        "invite_code": code,
    }


async def test_parallel_invite_guesses_are_checked_ten_times_then_locked(
    api: Api, own_server: ServerProcess
) -> None:
    """Forty wrong codes at once, each with another username: ten are checked (403), the rest
    answer 429 with Retry-After; then the right code is refused too, while workers register."""
    own = Api(own_server.base_url, api.session)
    replies = await asyncio.gather(
        *(own.post("/api/auth/register", admin(f"guess-{i:04d}-aaaaaaaa")) for i in range(40))
    )
    assert Counter(r.status for r in replies) == {403: 10, 429: 30}
    for reply in replies:
        if reply.status == 429:
            assert_error(reply, 429, "rate_limited")
            assert 1 <= int(reply.headers["Retry-After"]) <= 15 * 60
    right = await own.post("/api/auth/register", admin(TEST_INVITE_CODE))
    assert_error(right, 429, "rate_limited")
    worker = await own.post(
        "/api/auth/register", {"username": unique_name("wrk"), "password": PASSWORD}
    )
    assert worker.status == 201, worker.text
