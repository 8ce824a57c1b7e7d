"""Issue #16 finding 12: guessing the admin invite code is throttled, without ever locking out
the right code.

Wrong codes are answered 403 ``forbidden`` (the contract's answer) one at a time, each after a
pause, so guesses cannot go faster however many are sent at once; the right code is answered at
once, also while wrong ones wait. A server of its own, so no other test waits behind the guesses.
"""

from __future__ import annotations

import asyncio
import time
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


async def test_parallel_invite_guesses_are_answered_403_one_at_a_time(
    api: Api, own_server: ServerProcess
) -> None:
    """Twelve wrong codes at once, each with another username, are each answered 403, one per
    pause (0.25 s); the right code sent meanwhile registers an admin before they are done."""
    own = Api(own_server.base_url, api.session)
    started = time.monotonic()
    guesses = [
        asyncio.ensure_future(own.post("/api/auth/register", admin(f"guess-{i:04d}-aaaaaaaa")))
        for i in range(12)
    ]
    await asyncio.sleep(0.3)
    right = await own.post("/api/auth/register", admin(TEST_INVITE_CODE))
    assert right.status == 201, right.text
    assert not all(guess.done() for guess in guesses)
    replies = await asyncio.gather(*guesses)
    assert Counter(r.status for r in replies) == {403: 12}
    for reply in replies:
        assert_error(reply, 403, "forbidden")
    assert time.monotonic() - started >= 12 * 0.25
    again = await own.post("/api/auth/register", admin(TEST_INVITE_CODE))
    assert again.status == 201, again.text
