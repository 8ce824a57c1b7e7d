"""The SQLite store's database thread: group commit, errors per call, cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from taskstream_core.errors import Conflict
from taskstream_core.stores._sqlite_thread import SQLiteThread

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY);"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SQLiteThread]:
    thread = SQLiteThread(tmp_path / "t.db", schema=SCHEMA, pragmas={"journal_mode": "WAL"})
    await thread.open()
    yield thread
    await thread.close()


def _insert(key: str) -> Callable[[sqlite3.Connection], str]:
    def run(conn: sqlite3.Connection) -> str:
        try:
            conn.execute("INSERT INTO t VALUES (?)", (key,))
        except sqlite3.IntegrityError:
            raise Conflict(key) from None
        return key

    return run


async def test_one_failing_call_leaves_the_rest_of_its_group_committed(db: SQLiteThread) -> None:
    """A call that raises is undone alone; the calls grouped with it still commit."""
    results = await asyncio.gather(
        db.call(_insert("a")), db.call(_insert("a")), db.call(_insert("b")), return_exceptions=True
    )
    assert results[0] == "a"
    assert isinstance(results[1], Conflict)
    assert results[2] == "b"
    keys = await db.fetch_all("SELECT k FROM t ORDER BY k", (), lambda r: r["k"])
    assert keys == ["a", "b"]


async def test_a_cancelled_caller_does_not_stop_the_thread(db: SQLiteThread) -> None:
    """Cancelling a waiting caller skips or abandons its call, and the thread keeps serving."""
    calls = [asyncio.ensure_future(db.call(_insert(f"k{n}"))) for n in range(50)]
    await asyncio.sleep(0)
    for call in calls[::2]:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert await db.call(_insert("after")) == "after"
    assert await db.fetch_one("SELECT k FROM t WHERE k = 'after'", (), lambda r: r["k"]) == "after"
