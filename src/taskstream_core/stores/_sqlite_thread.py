"""Group commit for SQLite: writes run on the event loop, each COMMIT on a thread.

Writers' calls that arrive in one pass of the event loop run together in one
``BEGIN IMMEDIATE`` transaction, where one call's error undoes only that
call; the ``COMMIT`` (the fsync, the only slow part) then runs on a thread
while the loop goes on, and every caller's future resolves after it
returned. Many writers pay for one fsync, and an answer still always means
"committed".

Why the statements run on the loop and not on that thread: a write is some
ten statements, and Python's ``sqlite3`` lets go of the GIL around each one.
A thread that needs the GIL back ten times per call while the event loop is
busy waits for the loop's next pause each time: under load a group's
statements then take many times their CPU cost, and the store, not the CPU,
sets the server's pace. On the loop those statements run
back to back, and the thread takes the GIL back once per group. While a
COMMIT is out, the loop does not touch the connection: the next group waits
for it and gathers everything that arrived meanwhile.

Reads (:meth:`read`, :meth:`fetch_one`, :meth:`fetch_all`) go to a second
thread with a connection of its own, so a long read (a join snapshot, an
export) never holds the loop up. WAL gives that connection the last
committed state; each group of reads shares one snapshot.

Nothing here waits for another process's lock on the loop: the loop asks for
the write lock without waiting, and where another process holds it, the
thread waits for it (up to ``busy_timeout``, trying every few milliseconds)
and hands the group back; the calls made meanwhile join that group (up to
``batch_size``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from .._store import STORE_UNAVAILABLE
from ..errors import Unavailable

__all__ = ["SQLiteThread"]

log = logging.getLogger("taskstream.store.sqlite")
_T = TypeVar("_T")
_STOP: Final = object()
_Call = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", bool, Any]
#: How long a writer waits for another process's write lock (on the thread) when the
#: pragmas name no ``busy_timeout``.
_BUSY_MS: Final = 10_000


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
        self._busy_ms = int(self.pragmas.get("busy_timeout", _BUSY_MS))
        self._writer: sqlite3.Connection | None = None
        self._committer: _Worker | None = None
        self._reader: _Worker | None = None
        self._waiting: list[_Call] = []
        #: The group between its BEGIN and the end of its COMMIT; None when none is.
        self._group: list[_Call] | None = None
        self._started = False  # a start of the next group is scheduled
        self._idle: asyncio.Event | None = None

    async def open(self) -> None:
        """Connect, create the schema and start both threads; raise what connecting raised."""
        if self._writer is not None:
            return
        writer = await asyncio.to_thread(self._connect, self.schema)
        reader: sqlite3.Connection | None = None
        try:
            writer.execute("PRAGMA busy_timeout = 0")
            reader = await asyncio.to_thread(self._connect, None)
            reader.execute("PRAGMA query_only = 1")
        except BaseException:
            writer.close()
            if reader is not None:
                reader.close()
            raise
        self._writer = writer
        self._committer = _Worker(writer, "taskstream-sqlite-commit", owns=False)
        self._reader = _Worker(reader, "taskstream-sqlite-read", owns=True)

    async def close(self) -> None:
        """Finish the calls already made, then close both connections."""
        if self._writer is None:
            return
        while self._group is not None or self._waiting:
            self._idle = self._idle or asyncio.Event()
            self._idle.clear()
            self._schedule()
            await self._idle.wait()
        writer, self._writer = self._writer, None
        workers = [w for w in (self._committer, self._reader) if w is not None]
        self._committer = self._reader = None
        for worker in workers:
            await worker.stop()
        writer.close()

    # -- writes ----------------------------------------------------------------------------
    async def call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` in the next group; its result once committed.

        ``fn`` may run twice (see :func:`_run_calls`): it must act on the
        connection only.
        """
        if self._writer is None:
            raise Unavailable("The SQLite store is not open.")
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiting.append((fn, future))
        self._schedule()
        return await future

    async def execute(self, sql: str, args: tuple[object, ...]) -> None:
        """One write statement whose result nobody needs."""
        await self.call(lambda conn: conn.execute(sql, args))

    def _schedule(self) -> None:
        """Start a group at the end of this pass, so that every call of the pass joins it."""
        if self._group is None and not self._started and self._waiting:
            self._started = True
            asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._started = False
        if self._group is not None or self._writer is None:
            return
        calls = self._waiting[: self.batch_size]
        del self._waiting[: self.batch_size]
        # A caller that gave up (cancelled) no longer wants its call run; one that
        # gives up while it runs finds the change made, as with any other store.
        calls = [c for c in calls if not c[1].cancelled()]
        if not calls:
            self._after_group()
            return
        self._group = calls
        try:
            self._writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                self._finish(self._failed(exc))
                return
            # Another process writes: wait for its lock on the thread, not here.
            assert self._committer is not None
            self._committer.submit(
                functools.partial(_begin_waiting, busy_ms=self._busy_ms), self._began
            )
            return
        self._run_group()

    def _began(self, error: BaseException | None) -> None:
        if error is not None:
            self._finish(self._failed(error))
            return
        # The calls made while this process waited for another's write lock join the
        # group it now holds, rather than waiting for the lock once more after its COMMIT:
        # with several processes, fewer and larger groups, one fsync each.
        calls = self._group
        assert calls is not None
        room = self.batch_size - len(calls)
        if room > 0 and self._waiting:
            calls += [c for c in self._waiting[:room] if not c[1].cancelled()]
            del self._waiting[:room]
        self._run_group()

    def _run_group(self) -> None:
        conn, calls = self._writer, self._group
        assert conn is not None
        assert calls is not None
        try:
            outcomes = _run_calls(conn, calls)
        except sqlite3.Error as exc:
            _rollback(conn)
            self._finish(self._failed(exc))
            return
        assert self._committer is not None
        self._committer.submit(_commit, lambda error: self._committed(outcomes, error))

    def _committed(self, outcomes: list[tuple[bool, Any]], error: BaseException | None) -> None:
        calls = self._group
        assert calls is not None
        if error is not None:
            self._finish(self._failed(error))
        else:
            self._finish([(f, ok, v) for (_, f), (ok, v) in zip(calls, outcomes, strict=True)])

    def _failed(self, error: BaseException) -> list[_Outcome]:
        log.error("SQLite group commit failed: %s", error)
        failure = Unavailable("The store cannot be written right now; retry later.")
        return [(future, False, failure) for _, future in self._group or ()]

    def _finish(self, outcomes: list[_Outcome]) -> None:
        self._group = None
        _resolve(outcomes)
        self._after_group()

    def _after_group(self) -> None:
        if self._waiting:
            self._start()  # what arrived during the COMMIT: the next group, now
        elif self._idle is not None:
            self._idle.set()

    # -- reads ----------------------------------------------------------------------------
    async def read(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` on the reading thread, on the last committed state."""
        if self._reader is None:
            raise Unavailable("The SQLite store is not open.")
        future: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._reader.put((fn, future))
        return await future

    async def fetch_one(
        self, sql: str, args: tuple[object, ...], convert: Callable[[sqlite3.Row], _T]
    ) -> _T | None:
        """The first row of a query, converted, or None."""

        def run(conn: sqlite3.Connection) -> _T | None:
            row = conn.execute(sql, args).fetchone()
            return None if row is None else convert(row)

        return await self.read(run)

    async def fetch_all(
        self, sql: str, args: tuple[object, ...], convert: Callable[[sqlite3.Row], _T]
    ) -> list[_T]:
        """Every row of a query, converted."""
        return await self.read(lambda conn: [convert(r) for r in conn.execute(sql, args)])

    def _connect(self, schema: str | None) -> sqlite3.Connection:
        if schema is not None:  # the writer connects first
            _create_private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        for name, value in self.pragmas.items():
            conn.execute(f"PRAGMA {name}={value}")
        if schema is not None:
            conn.executescript(schema)
        return conn


class _Worker:
    """A thread that owns one use of a connection: committing, or reading.

    Its items are either a read call (run with the others queued with it in
    one read transaction, their futures resolved with one wake-up of the
    loop) or a job of the committer (a function of the connection whose
    error, or None, goes to a callback on the loop that submitted it).
    """

    def __init__(self, conn: sqlite3.Connection, name: str, *, owns: bool) -> None:
        self.conn = conn
        self._owns = owns  # closes the connection when it stops
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, call: _Call) -> None:
        self._queue.put(call)

    def submit(
        self,
        job: Callable[[sqlite3.Connection], None],
        done: Callable[[BaseException | None], None],
    ) -> None:
        self._queue.put(_Job(job, done, asyncio.get_running_loop()))

    async def stop(self) -> None:
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                reads: list[_Call] = []
                for item in batch:
                    if isinstance(item, _Job):
                        item.run(self.conn)
                    elif item is not _STOP:
                        reads.append(item)  # type: ignore[arg-type]
                if reads:
                    _settle(self._read_group(reads))
                if _STOP in batch:
                    return
        finally:
            if self._owns:
                self.conn.close()

    def _read_group(self, calls: list[_Call]) -> list[_Outcome]:
        outcomes: list[_Outcome] = []
        calls = [c for c in calls if not c[1].cancelled()]
        try:
            self.conn.execute("BEGIN")  # one snapshot for the group
        except sqlite3.Error as exc:
            return [(future, False, exc) for _, future in calls]
        for fn, future in calls:
            try:
                outcomes.append((future, True, fn(self.conn)))
            except Exception as exc:
                outcomes.append((future, False, exc))
        _rollback(self.conn)  # nothing to keep: ends the read transaction
        return outcomes


class _Job:
    __slots__ = ("done", "fn", "loop")

    def __init__(
        self,
        fn: Callable[[sqlite3.Connection], None],
        done: Callable[[BaseException | None], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.fn, self.done, self.loop = fn, done, loop

    def run(self, conn: sqlite3.Connection) -> None:
        error: BaseException | None = None
        try:
            self.fn(conn)
        except Exception as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
            self.loop.call_soon_threadsafe(self.done, error)


def _create_private(path: Path) -> None:
    """Create the database file readable and writable by its owner only (0600).

    SQLite gives the ``-wal`` and ``-shm`` files it creates the database's
    mode, so they are private too. A file that exists keeps its mode, which
    its owner chose; one that other users can read is named in a warning.
    """
    if str(path) == ":memory:":
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & stat.S_IROTH:
            log.warning(
                "The SQLite store %s is readable by every user (mode %04o); it holds password "
                "hashes: chmod 600 it unless that is meant.",
                path,
                mode,
            )
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _run_calls(conn: sqlite3.Connection, calls: list[_Call]) -> list[tuple[bool, Any]]:
    """Run a group's calls in the open transaction: each call's outcome, in order.

    Every call but a failing one must be kept, and a failing call may have
    written before it raised. Rather than a savepoint around each call (two
    more statements each, on the event loop), the group runs inside one; in
    the rare group where a call raises, the whole group is undone and run
    again with a savepoint per call. So a call must be a function of the
    connection alone, which may run twice.
    """
    conn.execute("SAVEPOINT calls")
    try:
        results = [fn(conn) for fn, _ in calls]
    except Exception:
        conn.execute("ROLLBACK TO calls")
    else:
        conn.execute("RELEASE calls")
        return [(True, result) for result in results]
    outcomes: list[tuple[bool, Any]] = []
    for fn, _ in calls:
        conn.execute("SAVEPOINT call")
        try:
            outcomes.append((True, fn(conn)))
            conn.execute("RELEASE call")
        except Exception as exc:  # undo this call only; the group goes on
            conn.execute("ROLLBACK TO call")
            conn.execute("RELEASE call")
            outcomes.append((False, exc))
    conn.execute("RELEASE calls")
    return outcomes


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        _rollback(conn)
        raise


def _begin_waiting(conn: sqlite3.Connection, *, busy_ms: int) -> None:
    """BEGIN IMMEDIATE, waiting up to ``busy_ms`` for another process's write lock.

    It tries again every 0.5-2 ms rather than through SQLite's ``busy_timeout``,
    whose handler sleeps ever longer between tries (up to 100 ms): another
    process holds the lock for about one fsync and takes it again at once
    after its COMMIT when calls wait there too, so long sleeps miss most of the
    moments it is free. A failed try costs a few microseconds.

    Raises:
        sqlite3.OperationalError: The lock stayed taken for ``busy_ms``, or
            BEGIN failed for another reason.
    """
    deadline = time.monotonic() + busy_ms / 1000
    pause = 0.0005
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
            if not busy or time.monotonic() >= deadline:
                raise
        else:
            return
        time.sleep(pause)
        pause = min(2 * pause, 0.002)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def _settle(outcomes: list[_Outcome]) -> None:
    """From a thread: hand each loop its callers' outcomes in one wake-up."""
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
            log.warning("the SQLite store failed: %s", value)
            failure = Unavailable(STORE_UNAVAILABLE)
            failure.__cause__ = value  # as `raise ... from value` would
            future.set_exception(failure)
        else:
            future.set_exception(value)
