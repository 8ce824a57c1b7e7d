"""The SQLite store's database thread: group commit, errors per call, cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from taskstream_core.errors import Conflict, Unavailable
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


async def _group_around(db: SQLiteThread, failing: Callable[[sqlite3.Connection], str]) -> None:
    """``failing`` grouped between two good calls: it fails alone, both others commit."""
    results = await asyncio.gather(
        db.call(_insert("a")), db.call(failing), db.call(_insert("b")), return_exceptions=True
    )
    assert results[0] == "a"
    assert isinstance(results[1], Conflict)
    assert results[2] == "b"
    keys = await db.fetch_all("SELECT k FROM t ORDER BY k", (), lambda r: r["k"])
    assert keys == ["a", "b"]


async def test_one_failing_call_leaves_the_rest_of_its_group_committed(db: SQLiteThread) -> None:
    """A call that raises is undone alone; the calls grouped with it still commit."""
    await _group_around(db, _insert("a"))


async def test_a_cancelled_caller_does_not_stop_the_thread(db: SQLiteThread) -> None:
    """Cancelling a waiting caller skips or abandons its call, and the thread keeps serving."""
    calls = [asyncio.ensure_future(db.call(_insert(f"k{n}"))) for n in range(50)]
    await asyncio.sleep(0)
    for call in calls[::2]:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)
    assert await db.call(_insert("after")) == "after"
    assert await db.fetch_one("SELECT k FROM t WHERE k = 'after'", (), lambda r: r["k"]) == "after"


def _insert_then_fail(key: str) -> Callable[[sqlite3.Connection], str]:
    def run(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO t VALUES (?)", (key,))
        raise Conflict("after writing")

    return run


async def test_a_call_failing_after_it_wrote_is_undone_alone(db: SQLiteThread) -> None:
    """The group runs again call by call; what the failing call wrote is gone."""
    await _group_around(db, _insert_then_fail("half"))


async def test_reads_see_what_was_committed_and_cannot_write(db: SQLiteThread) -> None:
    await db.call(_insert("a"))
    assert await db.fetch_one("SELECT k FROM t", (), lambda r: r["k"]) == "a"
    with pytest.raises(Unavailable) as raised:
        await db.read(lambda conn: conn.execute("INSERT INTO t VALUES ('x')"))
    assert "readonly" in str(raised.value.__cause__)  # the detail is the log's, not the caller's


async def test_another_process_holding_the_write_lock_does_not_block_the_loop(
    db: SQLiteThread, tmp_path: Path
) -> None:
    """The loop asks for the lock without waiting; the thread waits for it instead."""
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES ('other')")
    write = asyncio.ensure_future(db.call(_insert("mine")))
    ticks = 0
    for _ in range(20):  # the loop keeps running while the write waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not write.done()
    other.execute("COMMIT")
    other.close()
    assert await asyncio.wait_for(write, 10) == "mine"
    assert ticks == 20
    keys = await db.fetch_all("SELECT k FROM t ORDER BY k", (), lambda r: r["k"])
    assert keys == ["mine", "other"]


async def test_close_finishes_the_calls_already_made(tmp_path: Path) -> None:
    thread = SQLiteThread(tmp_path / "c.db", schema=SCHEMA, pragmas={"journal_mode": "WAL"})
    await thread.open()
    calls = [asyncio.ensure_future(thread.call(_insert(f"k{n}"))) for n in range(30)]
    await asyncio.sleep(0)
    await thread.close()
    assert [c.result() for c in calls] == [f"k{n}" for n in range(30)]
    with pytest.raises(Unavailable, match="not open"):
        await thread.call(_insert("late"))
    check = sqlite3.connect(tmp_path / "c.db")
    assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 30
    check.close()
