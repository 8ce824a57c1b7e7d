"""``sqlite:///path``: the embedded default, one file, WAL mode.

All SQL runs on one dedicated thread that owns the connection, so the event
loop never blocks on disk. The thread takes whatever calls are queued and
runs them in one transaction (group commit): each call inside its own
savepoint, so one call's error undoes only that call, and every call's
future resolves only after the shared COMMIT returned. ``synchronous=FULL``
by default, so an acknowledged change survives a crash of the process and of
the machine; ``?synchronous=normal`` trades the latter for speed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from ..errors import AlreadyDecided, Conflict, NotFound, ScanClosed, Unavailable
from ..models import (
    EventType,
    Role,
    Scan,
    ScanCounts,
    ScanEvent,
    ScanStats,
    ScanStatus,
    Task,
    TaskStatus,
    User,
    WorkerStats,
    format_time,
    parse_time,
)
from ..stats import decision_bucket, percentile
from ..store import NewTask

__all__ = ["SQLiteStore"]

log = logging.getLogger("taskstream.store.sqlite")
_T = TypeVar("_T")
_STOP: Final = object()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS revoked_tokens_expiry ON revoked_tokens (expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
    username_key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_user ON login_failures (username_key, at);
CREATE TABLE IF NOT EXISTS scans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    closed_at TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL DEFAULT 0,
    validated INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    scan_id TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    worker_username TEXT NOT NULL,
    content TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    decided_by TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT,
    idempotency_key TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_by_scan ON tasks (scan_id, created_seq);
CREATE INDEX IF NOT EXISTS tasks_by_worker ON tasks (scan_id, worker_id, created_seq);
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (scan_id, status, created_seq);
CREATE INDEX IF NOT EXISTS tasks_by_decision ON tasks (scan_id, status, seq);
CREATE INDEX IF NOT EXISTS tasks_by_time ON tasks (scan_id, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency
    ON tasks (scan_id, worker_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    scan_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    worker_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (scan_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scan_workers (
    scan_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    username TEXT NOT NULL,
    submitted INTEGER NOT NULL DEFAULT 0,
    pending INTEGER NOT NULL DEFAULT 0,
    validated INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scan_id, worker_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decision_latency (
    scan_id TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (scan_id, bucket_ms)
) WITHOUT ROWID;
"""

_TASK_COLUMNS = (
    "id, scan_id, created_seq, seq, worker_id, worker_username, content, status, reason,"
    " decided_by, created_at, decided_at"
)
_COUNTER = {
    TaskStatus.PENDING: "pending",
    TaskStatus.VALIDATED: "validated",
    TaskStatus.REFUSED: "refused",
}


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        scan_id=row["scan_id"],
        worker_id=row["worker_id"],
        worker_username=row["worker_username"],
        content=row["content"],
        status=TaskStatus(row["status"]),
        created_at=parse_time(row["created_at"]),
        seq=row["seq"],
        created_seq=row["created_seq"],
        reason=row["reason"],
        decided_by=row["decided_by"],
        decided_at=parse_time(row["decided_at"]) if row["decided_at"] else None,
    )


def _scan(row: sqlite3.Row) -> Scan:
    return Scan(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        status=ScanStatus(row["status"]),
        created_by=row["created_by"],
        created_at=parse_time(row["created_at"]),
        counts=ScanCounts(row["pending"], row["validated"], row["refused"]),
        closed_at=parse_time(row["closed_at"]) if row["closed_at"] else None,
    )


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], Role(row["role"]), parse_time(row["created_at"]))


class SQLiteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        event_retention: int = 10_000,
        batch_size: int = 256,
    ) -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError("synchronous must be full, normal or extra")
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.event_retention = event_retention
        self.batch_size = batch_size
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``?synchronous=normal``."""
        parts = urlsplit(url)
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if parts.netloc or not path:
            raise ValueError(f"{url!r}: write sqlite:///relative/path.db or sqlite:////abs/path.db")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            path,
            synchronous=options.get("synchronous", "FULL"),
            event_retention=int(options.get("event_retention", 10_000)),
        )

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    # -- the database thread ---------------------------------------------------------
    async def open(self) -> None:
        if self._thread is not None:
            return
        ready: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="taskstream-sqlite", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wrap_future(ready)
        except Exception as exc:
            self._thread = None
            raise Unavailable(f"Cannot open the SQLite store {self.url}: {exc}") from exc

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            await asyncio.to_thread(thread.join)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(_SCHEMA)
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
                stop = _STOP in batch
                calls = [c for c in batch if c is not _STOP]
                if calls:
                    self._run_batch(conn, calls)  # type: ignore[arg-type]
                if stop:
                    return
        finally:
            conn.close()

    def _run_batch(
        self,
        conn: sqlite3.Connection,
        calls: list[tuple[Callable[[sqlite3.Connection], Any], Future[Any]]],
    ) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _ in calls:
                conn.execute("SAVEPOINT call")
                try:
                    outcomes.append((True, fn(conn)))
                    conn.execute("RELEASE call")
                except Exception as exc:  # undo this call only; the batch goes on
                    conn.execute("ROLLBACK TO call")
                    conn.execute("RELEASE call")
                    outcomes.append((False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("SQLite batch failed: %s", exc)
            if conn.in_transaction:
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

    async def _call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._thread is None:
            raise Unavailable("The SQLite store is not open.")
        future: Future[_T] = Future()
        self._queue.put((fn, future))
        return await asyncio.wrap_future(future)

    # -- users ------------------------------------------------------------------------
    async def create_user(self, user: User, password_hash: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        user.id,
                        user.username,
                        user.username.lower(),
                        user.role.value,
                        password_hash,
                        format_time(user.created_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict("This username is taken.") from None

        await self._call(run)

    async def get_user(self, user_id: str) -> User | None:
        def run(conn: sqlite3.Connection) -> User | None:
            row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
            return None if row is None else _user(row)

        return await self._call(run)

    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        def run(conn: sqlite3.Connection) -> tuple[User, str] | None:
            row = conn.execute(
                "SELECT * FROM users WHERE username_key = ?", (username.lower(),)
            ).fetchone()
            return None if row is None else (_user(row), row["password_hash"])

        return await self._call(run)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._call(
            lambda conn: conn.execute(
                "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
            )
        )

    async def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM revoked_tokens WHERE expires_at <= ?",
                (format_time(datetime.now(expires_at.tzinfo)),),
            )
            conn.execute(
                "INSERT OR REPLACE INTO revoked_tokens VALUES (?, ?)",
                (token_id, format_time(expires_at)),
            )

        await self._call(run)

    async def is_token_revoked(self, token_id: str) -> bool:
        return await self._call(
            lambda conn: (
                conn.execute("SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,)).fetchone()
                is not None
            )
        )

    async def record_login_failure(self, username: str, at: datetime) -> None:
        await self._call(
            lambda conn: conn.execute(
                "INSERT INTO login_failures VALUES (?, ?)", (username.lower(), format_time(at))
            )
        )

    async def login_failures_since(self, username: str, since: datetime) -> list[datetime]:
        def run(conn: sqlite3.Connection) -> list[datetime]:
            key, floor = username.lower(), format_time(since)
            conn.execute(
                "DELETE FROM login_failures WHERE username_key = ? AND at < ?", (key, floor)
            )
            rows = conn.execute(
                "SELECT at FROM login_failures WHERE username_key = ? ORDER BY at", (key,)
            )
            return [parse_time(r["at"]) for r in rows]

        return await self._call(run)

    async def clear_login_failures(self, username: str) -> None:
        await self._call(
            lambda conn: conn.execute(
                "DELETE FROM login_failures WHERE username_key = ?", (username.lower(),)
            )
        )

    # -- scans ------------------------------------------------------------------------
    async def create_scan(self, scan: Scan) -> None:
        def run(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO scans (id, name, description, status, created_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        scan.id,
                        scan.name,
                        scan.description,
                        scan.status.value,
                        scan.created_by,
                        format_time(scan.created_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict("A scan with this id exists.") from None

        await self._call(run)

    async def get_scan(self, scan_id: str) -> Scan | None:
        def run(conn: sqlite3.Connection) -> Scan | None:
            row = conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
            return None if row is None else _scan(row)

        return await self._call(run)

    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        where = "" if include_closed else "WHERE status = 'open'"
        return await self._call(
            lambda conn: [
                _scan(r)
                for r in conn.execute(
                    f"SELECT * FROM scans {where} ORDER BY created_at DESC, id DESC"
                )
            ]
        )

    def _next_seq(self, conn: sqlite3.Connection, scan_id: str) -> tuple[sqlite3.Row, int]:
        row = conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise NotFound("No such scan.")
        seq = row["seq"] + 1
        conn.execute("UPDATE scans SET seq = ? WHERE id = ?", (seq, scan_id))
        return row, seq

    def _record(self, conn: sqlite3.Connection, event: ScanEvent) -> ScanEvent:
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            (event.scan_id, event.seq, event.worker_id, json.dumps(event.to_record())),
        )
        if event.seq % 256 == 0 and event.seq > self.event_retention:
            conn.execute(
                "DELETE FROM events WHERE scan_id = ? AND seq <= ?",
                (event.scan_id, event.seq - self.event_retention),
            )
        return event

    async def close_scan(self, scan_id: str, at: datetime) -> ScanEvent | None:
        def run(conn: sqlite3.Connection) -> ScanEvent | None:
            row = conn.execute("SELECT status FROM scans WHERE id = ?", (scan_id,)).fetchone()
            if row is None:
                raise NotFound("No such scan.")
            if row["status"] != ScanStatus.OPEN.value:
                return None
            _, seq = self._next_seq(conn, scan_id)
            conn.execute(
                "UPDATE scans SET status = 'closed', closed_at = ? WHERE id = ?",
                (format_time(at), scan_id),
            )
            scan = _scan(conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone())
            return self._record(conn, ScanEvent(EventType.SCAN_UPDATED, scan_id, seq, scan=scan))

        return await self._call(run)

    async def latest_seq(self, scan_id: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT seq FROM scans WHERE id = ?", (scan_id,)).fetchone()
            return 0 if row is None else int(row["seq"])

        return await self._call(run)

    # -- tasks ------------------------------------------------------------------------
    def _count(self, conn: sqlite3.Connection, task: Task, status: TaskStatus, delta: int) -> None:
        column = _COUNTER[status]
        conn.execute(
            f"UPDATE scans SET {column} = {column} + ? WHERE id = ?", (delta, task.scan_id)
        )
        conn.execute(
            f"UPDATE scan_workers SET {column} = {column} + ? WHERE scan_id = ? AND worker_id = ?",
            (delta, task.scan_id, task.worker_id),
        )

    async def create_task(self, task: NewTask) -> tuple[Task, ScanEvent | None]:
        def run(conn: sqlite3.Connection) -> tuple[Task, ScanEvent | None]:
            if task.idempotency_key is not None:
                row = conn.execute(
                    f"SELECT {_TASK_COLUMNS} FROM tasks"
                    " WHERE scan_id = ? AND worker_id = ? AND idempotency_key = ?",
                    (task.scan_id, task.worker_id, task.idempotency_key),
                ).fetchone()
                if row is not None:
                    return _task(row), None
            scan, seq = self._next_seq(conn, task.scan_id)
            if scan["status"] != ScanStatus.OPEN.value:
                raise ScanClosed()
            stored = Task(
                id=task.id,
                scan_id=task.scan_id,
                worker_id=task.worker_id,
                worker_username=task.worker_username,
                content=task.content,
                status=TaskStatus.PENDING,
                created_at=task.created_at,
                seq=seq,
                created_seq=seq,
            )
            conn.execute(
                f"INSERT INTO tasks ({_TASK_COLUMNS}, idempotency_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, NULL, ?)",
                (
                    stored.id,
                    stored.scan_id,
                    seq,
                    seq,
                    stored.worker_id,
                    stored.worker_username,
                    stored.content,
                    stored.status.value,
                    format_time(stored.created_at),
                    task.idempotency_key,
                ),
            )
            conn.execute(
                "INSERT INTO scan_workers (scan_id, worker_id, username, submitted)"
                " VALUES (?, ?, ?, 1) ON CONFLICT (scan_id, worker_id)"
                " DO UPDATE SET submitted = submitted + 1",
                (stored.scan_id, stored.worker_id, stored.worker_username),
            )
            self._count(conn, stored, TaskStatus.PENDING, +1)
            event = ScanEvent(EventType.TASK_CREATED, stored.scan_id, seq, task=stored)
            return stored, self._record(conn, event)

        return await self._call(run)

    async def decide_task(
        self, task_id: str, status: TaskStatus, *, reason: str | None, by: str, at: datetime
    ) -> ScanEvent:
        def run(conn: sqlite3.Connection) -> ScanEvent:
            row = conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?",
                (task_id,),
            ).fetchone()
            if row is None:
                raise NotFound("No such task.")
            task = _task(row)
            if not task.is_pending:
                raise AlreadyDecided(task=task)
            _, seq = self._next_seq(conn, task.scan_id)
            decided = task.decided(status, reason=reason, by=by, at=at, seq=seq)
            changed = conn.execute(
                "UPDATE tasks SET status = ?, reason = ?, decided_by = ?, decided_at = ?, seq = ?"
                " WHERE id = ? AND status = 'pending'",
                (status.value, reason, by, format_time(at), seq, task_id),
            ).rowcount
            if changed != 1:  # another process decided between our read and write
                raise AlreadyDecided()
            self._count(conn, task, TaskStatus.PENDING, -1)
            self._count(conn, task, status, +1)
            conn.execute(
                "INSERT INTO decision_latency VALUES (?, ?, 1) ON CONFLICT (scan_id, bucket_ms)"
                " DO UPDATE SET count = count + 1",
                (task.scan_id, decision_bucket(task.created_at, at)),
            )
            event = ScanEvent(EventType.TASK_UPDATED, task.scan_id, seq, task=decided)
            return self._record(conn, event)

        return await self._call(run)

    async def get_task(self, task_id: str) -> Task | None:
        def run(conn: sqlite3.Connection) -> Task | None:
            row = conn.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?",
                (task_id,),
            ).fetchone()
            return None if row is None else _task(row)

        return await self._call(run)

    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        where, args = ["scan_id = ?", "created_seq > ?"], [scan_id, after]
        if worker_id is not None:
            where.append("worker_id = ?")
            args.append(worker_id)
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        sql = (
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)}"
            " ORDER BY created_seq LIMIT ?"
        )
        return await self._call(lambda conn: [_task(r) for r in conn.execute(sql, (*args, limit))])

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        if decided:
            sql = (
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE scan_id = ?"
                " AND status IN ('validated', 'refused') AND (? IS NULL OR worker_id = ?)"
                " ORDER BY seq DESC LIMIT ?"
            )
        else:
            sql = (
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE scan_id = ?"
                " AND (? IS NULL OR worker_id = ?) ORDER BY created_seq DESC LIMIT ?"
            )
        args = (scan_id, worker_id, worker_id, limit)
        return await self._call(lambda conn: [_task(r) for r in conn.execute(sql, args)])

    async def events_after(
        self, scan_id: str, seq: int, *, worker_id: str | None = None
    ) -> list[ScanEvent] | None:
        def run(conn: sqlite3.Connection) -> list[ScanEvent] | None:
            latest = conn.execute("SELECT seq FROM scans WHERE id = ?", (scan_id,)).fetchone()
            if latest is None:
                return []
            oldest = conn.execute(
                "SELECT MIN(seq) AS seq FROM events WHERE scan_id = ?", (scan_id,)
            ).fetchone()["seq"]
            first_held = latest["seq"] + 1 if oldest is None else oldest
            if seq < first_held - 1:
                return None
            rows = conn.execute(
                "SELECT body FROM events WHERE scan_id = ? AND seq > ?"
                " AND (? IS NULL OR worker_id IS NULL OR worker_id = ?) ORDER BY seq",
                (scan_id, seq, worker_id, worker_id),
            )
            return [ScanEvent.from_record(json.loads(r["body"])) for r in rows]

        return await self._call(run)

    async def stats(self, scan_id: str, *, since: datetime) -> ScanStats:
        def run(conn: sqlite3.Connection) -> ScanStats:
            row = conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
            if row is None:
                raise NotFound("No such scan.")
            recent = conn.execute(
                "SELECT COUNT(*) AS n FROM tasks WHERE scan_id = ? AND created_at >= ?",
                (scan_id, format_time(since)),
            ).fetchone()["n"]
            buckets = [
                (r["bucket_ms"], r["count"])
                for r in conn.execute(
                    "SELECT bucket_ms, count FROM decision_latency WHERE scan_id = ?", (scan_id,)
                )
            ]
            workers = tuple(
                WorkerStats(
                    r["worker_id"],
                    r["username"],
                    r["submitted"],
                    r["pending"],
                    r["validated"],
                    r["refused"],
                )
                for r in conn.execute(
                    "SELECT * FROM scan_workers WHERE scan_id = ? ORDER BY lower(username)",
                    (scan_id,),
                )
            )
            scan = _scan(row)
            return ScanStats(
                scan_id=scan_id,
                counts=scan.counts,
                submissions_last_minute=recent,
                decision_seconds_p50=percentile(buckets, 0.5),
                decision_seconds_p95=percentile(buckets, 0.95),
                workers=workers,
                seq=row["seq"],
            )

        return await self._call(run)
