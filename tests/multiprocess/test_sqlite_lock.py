"""Writers of a SQLite store whose file another process is writing: they wait, then commit."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

from taskstream_core import PasswordHasher, Role
from taskstream_core.models import User, utc_now
from taskstream_core.stores.sqlite import SQLiteStore

#: Holds the write lock of the file named by argv[1] until its stdin closes.
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("COMMIT")
"""


def a_user(n: int) -> User:
    return User(uuid.uuid4().hex, f"user{n}-{uuid.uuid4().hex[:6]}", Role.WORKER, utc_now())


async def test_writes_wait_for_another_process_lock_and_all_commit(tmp_path: Path) -> None:
    """Another process holds the write lock: the writes made meanwhile, those that arrive while
    the first one waits included, all commit once it lets go, and none fails."""
    path = tmp_path / "shared.db"
    store = SQLiteStore(path)
    await store.open()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(path), stdin=PIPE, stdout=PIPE
    )
    try:
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        hashed = PasswordHasher.for_tests().hash("a password")
        users = [a_user(n) for n in range(6)]
        first = asyncio.ensure_future(store.create_user(users[0], hashed))
        await asyncio.sleep(0.05)  # the first write finds the lock taken and waits for it
        rest = [asyncio.ensure_future(store.create_user(u, hashed)) for u in users[1:]]
        await asyncio.sleep(0.05)
        assert not first.done(), "no write commits while the other process holds the lock"
        assert holder.stdin is not None
        holder.stdin.close()  # the other process commits and lets go
        assert await holder.wait() == 0
        async with asyncio.timeout(10):
            await asyncio.gather(first, *rest)
        stored = [await store.get_user(u.id) for u in users]
        assert [u.id for u in stored if u is not None] == [u.id for u in users]
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await store.close()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT COUNT(*) FROM users").fetchone() == (6,)
