"""One thread that owns a SQLite connection and commits calls in groups.

The event loop never touches the disk: callers queue a function of the
connection and await its result. The thread takes every call queued at that
moment and runs them in one ``BEGIN IMMEDIATE`` transaction, each inside its
own savepoint, so one call's error undoes only that call; every caller's
future resolves after the shared ``COMMIT``. Many writers then pay for one
fsync, and an answer still always means "committed".
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
_Call = tuple[Callable[[sqlite3.Connection], Any], "Future[Any]"]


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
        future: Future[_T] = Future()
        self._queue.put((fn, future))
        return await asyncio.wrap_future(future)

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
                # A caller that gave up (cancelled) no longer wants its call run.
                calls = [c for c in calls if c[1].set_running_or_notify_cancel()]
                if calls:
                    self._run_batch(conn, calls)
                if _STOP in batch:
                    return
        finally:
            conn.close()

    def _run_batch(self, conn: sqlite3.Connection, calls: list[_Call]) -> None:
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
        for (_, future), (ok, value) in zip(calls, outcomes, strict=True):
            if ok:
                future.set_result(value)
            elif isinstance(value, sqlite3.Error):
                future.set_exception(Unavailable(f"The store failed: {value}"))
            else:
                future.set_exception(value)
