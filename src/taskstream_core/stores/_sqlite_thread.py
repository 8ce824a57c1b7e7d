"""One thread that owns a SQLite connection and commits calls in groups.

The event loop never touches the disk: callers queue a function of the
connection and await its result. The thread takes every call queued at that
moment and runs them in one ``BEGIN IMMEDIATE`` transaction, each inside its
own savepoint, so one call's error undoes only that call; every caller's
future resolves after the shared ``COMMIT``. Many writers then pay for one
fsync, and an answer still always means "committed".

Callers wait on plain asyncio futures, which the thread resolves with one
``call_soon_threadsafe`` per group and event loop: a ``concurrent.futures``
future per call (a lock and a condition each, a wake-up of the loop each)
cost the loop more than the SQL it waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final, TypeVar

from ..errors import Unavailable

__all__ = ["SQLiteThread"]

log = logging.getLogger("taskstream.store.sqlite")
_T = TypeVar("_T")
_STOP: Final = object()
_Call = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]


class SQLiteThread:
    def __init__(
        self,
        path: Path,
        *,
        schema: str,
        pragmas: Mapping[str, str],
        batch_size: int = 256,
    ) -> None:
        self.path = path
        self.schema = schema
        self.pragmas = dict(pragmas)
        self.batch_size = batch_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def open(self) -> None:
        """Start the thread, connect and create the schema; raise what connecting raised."""
        if self._thread is not None:
            return
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="taskstream-sqlite", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(ready)
        except BaseException:
            self._thread = None
            raise

    async def close(self) -> None:
        """Finish the calls already queued, then close the connection."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)

    async def call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` in the next group; its result once committed."""
        if self._thread is None:
            raise Unavailable("The SQLite store is not open.")
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, future))
        return await future

    async def fetch_one(
        self, sql: str, args: tuple[object, ...], convert: Callable[[sqlite3.Row], _T]
    ) -> _T | None:
        """The first row of a query, converted, or None."""

        def run(conn: sqlite3.Connection) -> _T | None:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else convert(row)

        return await self.call(run)

    async def fetch_all(
        self, sql: str, args: tuple[object, ...], convert: Callable[[sqlite3.Row], _T]
    ) -> list[_T]:
        """Every row of a query, converted."""
        return await self.call(lambda conn: [convert(r) for r in conn.execute(sql, args)])

    async def execute(self, sql: str, args: tuple[object, ...]) -> None:
        """One statement whose result nobody needs."""
        await self.call(lambda conn: conn.execute(sql, args))

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for name, value in self.pragmas.items():
            conn.execute(f"PRAGMA {name}={value}")
        conn.executescript(self.schema)
        return conn

    def _run(self, ready: Future[None]) -> None:
        try:
            conn = self._connect()
        except Exception as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while True:
                batch = [self._queue.get()]
                while len(batch) < self.batch_size:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                calls: list[_Call] = [c for c in batch if c is not _STOP]  # type: ignore[misc]
                # A caller that gave up (cancelled) no longer wants its call run; one that
                # gives up while it runs finds the change made, as with any other store.
                calls = [c for c in calls if not c[1].cancelled()]
                if calls:
                    self._settle(self._run_batch(conn, calls))
                if _STOP in batch:
                    return
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, calls: list[_Call]) -> list[_Outcome]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _ in calls:
                conn.execute("SAVEPOINT call")
                try:
                    outcomes.append((True, fn(conn)))
                    conn.execute("RELEASE call")
                except Exception as exc:  # undo this call only; the group goes on
                    conn.execute("ROLLBACK TO call")
                    conn.execute("RELEASE call")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("SQLite group commit failed: %s", exc)
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            error = Unavailable("The store cannot be written right now; retry later.")
            outcomes = [(False, error)] * len(calls)
        return [
            (future, ok, value) for (_, future), (ok, value) in zip(calls, outcomes, strict=True)
        ]

    @staticmethod
    def _settle(outcomes: list[_Outcome]) -> None:
        """Hand each loop its callers' outcomes in one wake-up."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].get_loop(), []).append(outcome)
        for loop, mine in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, mine)


def _resolve(outcomes: list[_Outcome]) -> None:
    """In the callers' loop: resolve each future still waiting, in the order of the calls."""
    for future, ok, value in outcomes:
        if future.done():  # its caller was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        elif isinstance(value, sqlite3.Error):
            future.set_exception(Unavailable(f"The store failed: {value}"))
        else:
            future.set_exception(value)
