"""``sqlite:///path``: the embedded default, one file, WAL mode.

Writes made in one pass of the event loop run in one transaction (group
commit), where one call's error undoes only that call; the COMMIT runs on a
thread of its own, and every call's future resolves only after it returned.
Reads run on a second thread with a connection of their own, on the last
committed state (``_sqlite_thread`` says why the writes' statements run on
the loop). ``synchronous=FULL`` by default, so an acknowledged change
survives a crash of the process and of the machine; ``?synchronous=normal``
trades the latter for speed.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

from .._stats import decision_bucket, percentile
from .._store import NewTask, check_user_role, created_entry
from ..errors import AlreadyDecided, Conflict, NotFound, ScanClosed, Unavailable
from ..models import (
    EventType,
    HistoryEntry,
    ReviewerStats,
    Role,
    Scan,
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
from ._sqlite_schema import (
    COUNTER,
    SCHEMA,
    TASK_COLUMNS,
    count_decision,
    migrate,
    row_history,
    row_scan,
    row_task,
    row_user,
    task_values,
)
from ._sqlite_thread import SQLiteThread

__all__ = ["SQLiteStore"]

_T = TypeVar("_T")


class SQLiteStore:
    """A :class:`~taskstream_core.Store` in one SQLite file, in WAL mode.

    Its methods are documented by the :class:`~taskstream_core.Store` protocol.
    Several processes may share the file; each change is one transaction.

    Args:
        path: The database file; it is created on :meth:`open` if missing.
        synchronous: SQLite's ``synchronous`` setting: ``FULL`` (an acknowledged
            change survives a machine crash), ``NORMAL`` or ``EXTRA``.
        event_retention: How many of each scan's latest events are kept for
            resuming viewers.
        batch_size: At most this many writes share one transaction and one commit.

    Raises:
        ValueError: ``synchronous`` is not one of the three settings.

    Example:
        ```python
        store = SQLiteStore("data/taskstream.db")
        await store.open()
        ```
    """

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
        self._db = SQLiteThread(
            self.path,
            schema=SCHEMA,
            pragmas={
                "journal_mode": "WAL",
                "synchronous": self.synchronous,
                "busy_timeout": "10000",
            },
            batch_size=batch_size,
        )

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """Make a store from a ``sqlite://`` URL; what :func:`~taskstream_core.open_store` calls.

        Args:
            url: ``sqlite:///relative.db`` or ``sqlite:////absolute.db``, with the
                query options ``synchronous`` and ``event_retention``
                (``sqlite:///data.db?synchronous=normal``).

        Returns:
            The store, not yet opened.

        Raises:
            ValueError: The URL names a host, no path, or an invalid option.
        """
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

    async def open(self) -> None:
        try:
            await self._db.open()
            await self._call(migrate)
        except Exception as exc:
            raise Unavailable(f"Cannot open the SQLite store {self.url}: {exc}") from exc

    async def close(self) -> None:
        await self._db.close()

    async def _call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return await self._db.call(fn)

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
        return await self._db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,), row_user)

    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        return await self._db.fetch_one(
            "SELECT * FROM users WHERE username_key = ?",
            (username.lower(),),
            lambda row: (row_user(row), row["password_hash"]),
        )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._db.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id)
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
        found = await self._db.fetch_one(
            "SELECT 1 FROM revoked_tokens WHERE jti = ?", (token_id,), lambda _: True
        )
        return found is not None

    async def release_login_attempt(self, username: str, at: datetime) -> None:
        # One row, even if several share the time (the table has no key but the rowid).
        await self._db.execute(
            "DELETE FROM login_failures WHERE rowid IN (SELECT rowid FROM login_failures"
            " WHERE username_key = ? AND at = ? LIMIT 1)",
            (username.lower(), format_time(at)),
        )

    async def claim_login_attempt(
        self, username: str, at: datetime, *, since: datetime, limit: int
    ) -> tuple[bool, list[datetime]]:
        # One write transaction (BEGIN IMMEDIATE): other processes' claims wait for its end.
        def run(conn: sqlite3.Connection) -> tuple[bool, list[datetime]]:
            key, floor = username.lower(), format_time(since)
            conn.execute(
                "DELETE FROM login_failures WHERE username_key = ? AND at <= ?", (key, floor)
            )
            rows = conn.execute(
                "SELECT at FROM login_failures WHERE username_key = ? ORDER BY at", (key,)
            )
            recent = [parse_time(r["at"]) for r in rows]
            if len(recent) >= limit:
                return False, recent
            conn.execute("INSERT INTO login_failures VALUES (?, ?)", (key, format_time(at)))
            return True, sorted([*recent, parse_time(format_time(at))])

        return await self._call(run)

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
        return await self._db.fetch_one("SELECT * FROM scans WHERE id = ?", (scan_id,), row_scan)

    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        where = "" if include_closed else "WHERE status = 'open'"
        sql = f"SELECT * FROM scans {where} ORDER BY created_at DESC, id DESC"
        return await self._db.fetch_all(sql, (), row_scan)

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

    @staticmethod
    def _check_user(conn: sqlite3.Connection, user_id: str, role: Role) -> None:
        found = conn.execute("SELECT role FROM users WHERE id = ?", (user_id,)).fetchone()
        check_user_role(None if found is None else found["role"], role)

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
            scan = row_scan(conn.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone())
            return self._record(conn, ScanEvent(EventType.SCAN_UPDATED, scan_id, seq, scan=scan))

        return await self._call(run)

    async def latest_seq(self, scan_id: str) -> int:
        seq = await self._db.fetch_one(
            "SELECT seq FROM scans WHERE id = ?", (scan_id,), lambda r: r["seq"]
        )
        return int(seq or 0)

    # -- tasks ------------------------------------------------------------------------
    async def create_task(
        self, task: NewTask, *, check_user: bool = False
    ) -> tuple[Task, ScanEvent | None]:
        def run(conn: sqlite3.Connection) -> tuple[Task, ScanEvent | None]:
            if check_user:
                self._check_user(conn, task.worker_id, Role.WORKER)
            if task.idempotency_key is not None:
                row = conn.execute(
                    f"SELECT {TASK_COLUMNS} FROM tasks"
                    " WHERE scan_id = ? AND worker_id = ? AND idempotency_key = ?",
                    (task.scan_id, task.worker_id, task.idempotency_key),
                ).fetchone()
                if row is not None:
                    return row_task(row), None
            # The scan's next seq and its pending count in one statement; an open scan only.
            row = conn.execute(
                "UPDATE scans SET seq = seq + 1, pending = pending + 1"
                " WHERE id = ? AND status = 'open' RETURNING seq",
                (task.scan_id,),
            ).fetchone()
            if row is None:
                scan = conn.execute("SELECT 1 FROM scans WHERE id = ?", (task.scan_id,))
                raise NotFound("No such scan.") if scan.fetchone() is None else ScanClosed()
            stored = task.stored(row["seq"])
            conn.execute(
                f"INSERT INTO tasks ({TASK_COLUMNS}, idempotency_key)"
                f" VALUES ({', '.join('?' * 13)})",
                (*task_values(stored), task.idempotency_key),
            )
            conn.execute(
                "INSERT INTO scan_workers (scan_id, worker_id, username, submitted, pending)"
                " VALUES (?, ?, ?, 1, 1) ON CONFLICT (scan_id, worker_id)"
                " DO UPDATE SET submitted = submitted + 1, pending = pending + 1",
                (stored.scan_id, stored.worker_id, stored.worker_username),
            )
            event = ScanEvent(EventType.TASK_CREATED, stored.scan_id, stored.seq, task=stored)
            return stored, self._record(conn, event)

        return await self._call(run)

    async def decide_task(
        self,
        task_id: str,
        status: TaskStatus,
        *,
        reason: str | None,
        by: str,
        at: datetime,
        by_username: str | None = None,
        check_user: bool = False,
    ) -> ScanEvent:
        def run(conn: sqlite3.Connection) -> ScanEvent:
            if check_user:
                self._check_user(conn, by, Role.ADMIN)
            row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
            row = row.fetchone()
            if row is None:
                raise NotFound("No such task.")
            task = row_task(row)
            if not task.is_pending:
                raise AlreadyDecided(task=task)
            column = COUNTER[status]
            seq = conn.execute(
                f"UPDATE scans SET seq = seq + 1, pending = pending - 1, {column} = {column} + 1"
                " WHERE id = ? RETURNING seq",
                (task.scan_id,),
            ).fetchone()["seq"]
            decided = task.decided(status, reason=reason, by=by, at=at, seq=seq)
            changed = conn.execute(
                "UPDATE tasks SET status = ?, reason = ?, decided_by = ?, decided_at = ?, seq = ?"
                " WHERE id = ? AND status = 'pending'",
                (status.value, reason, by, format_time(at), seq, task_id),
            ).rowcount
            if changed != 1:  # another process decided between our read and write
                reread = conn.execute(
                    f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)
                ).fetchone()
                raise AlreadyDecided(task=row_task(reread) if reread else None)
            conn.execute(
                f"UPDATE scan_workers SET pending = pending - 1, {column} = {column} + 1"
                " WHERE scan_id = ? AND worker_id = ?",
                (task.scan_id, task.worker_id),
            )
            conn.execute(
                "INSERT INTO decision_latency VALUES (?, ?, 1) ON CONFLICT (scan_id, bucket_ms)"
                " DO UPDATE SET count = count + 1",
                (task.scan_id, decision_bucket(task.created_at, at)),
            )
            username = by_username or by
            count_decision(conn, decided, username, +1)
            conn.execute(
                "INSERT INTO task_history VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id,
                    seq,
                    format_time(at),
                    status.value,
                    by,
                    username,
                    reason if status is TaskStatus.REFUSED else None,
                ),
            )
            event = ScanEvent(EventType.TASK_UPDATED, task.scan_id, seq, task=decided)
            return self._record(conn, event)

        return await self._call(run)

    async def undo_task(
        self,
        task_id: str,
        *,
        seq: int,
        by: str,
        at: datetime,
        by_username: str | None = None,
        check_user: bool = False,
    ) -> ScanEvent:
        def run(conn: sqlite3.Connection) -> ScanEvent:
            if check_user:
                self._check_user(conn, by, Role.ADMIN)
            row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
            row = row.fetchone()
            if row is None:
                raise NotFound("No such task.")
            task = row_task(row)
            if task.is_pending or task.decided_at is None:
                raise Conflict("This task is pending: there is no decision to undo.")
            if task.decided_by != by:
                raise Conflict("Only the admin who decided this task may undo the decision.")
            if task.seq != seq:
                raise Conflict("This task changed since it was read; read it again.")
            column = COUNTER[task.status]
            new_seq = conn.execute(
                f"UPDATE scans SET seq = seq + 1, pending = pending + 1, {column} = {column} - 1"
                " WHERE id = ? RETURNING seq",
                (task.scan_id,),
            ).fetchone()["seq"]
            # Conditional on what was read, in case another process changed it meanwhile
            # (raising undoes this call's writes, the scan's seq included).
            changed = conn.execute(
                "UPDATE tasks SET status = 'pending', reason = NULL, decided_by = NULL,"
                " decided_at = NULL, seq = ? WHERE id = ? AND decided_by = ? AND seq = ?",
                (new_seq, task_id, by, seq),
            ).rowcount
            if changed != 1:
                raise Conflict("This task changed since it was read; read it again.")
            conn.execute(
                f"UPDATE scan_workers SET pending = pending + 1, {column} = {column} - 1"
                " WHERE scan_id = ? AND worker_id = ?",
                (task.scan_id, task.worker_id),
            )
            conn.execute(
                "UPDATE decision_latency SET count = count - 1 WHERE scan_id = ? AND bucket_ms = ?",
                (task.scan_id, decision_bucket(task.created_at, task.decided_at)),
            )
            username = by_username or by
            count_decision(conn, task, username, -1)
            conn.execute(
                "INSERT INTO task_history VALUES (?, ?, ?, 'undone', ?, ?, NULL)",
                (task_id, new_seq, format_time(at), by, username),
            )
            pending = task.undone(seq=new_seq)
            event = ScanEvent(EventType.TASK_UPDATED, task.scan_id, new_seq, task=pending)
            return self._record(conn, event)

        return await self._call(run)

    async def task_history(self, task_id: str) -> list[HistoryEntry]:
        # ``created`` comes from the task row, which never changes: no write per submission.
        def run(conn: sqlite3.Connection) -> list[HistoryEntry]:
            row = conn.execute(f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
            row = row.fetchone()
            if row is None:
                return []
            changes = conn.execute(
                "SELECT * FROM task_history WHERE task_id = ? ORDER BY seq", (task_id,)
            )
            return [created_entry(row_task(row)), *(row_history(r) for r in changes)]

        return await self._db.read(run)

    async def get_task(self, task_id: str) -> Task | None:
        return await self._db.fetch_one(
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,), row_task
        )

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
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)}"
            " ORDER BY created_seq LIMIT ?"
        )
        return await self._db.fetch_all(sql, (*args, limit), row_task)

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        # Conditions are added, not OR-ed with NULL tests, so SQLite can use the indexes.
        where, args = ["scan_id = ?"], [scan_id]
        if worker_id is not None:
            where.append("worker_id = ?")
            args.append(worker_id)
        if decided:
            # One ranged read per status on tasks_by_decision, merged: with `status IN (...)`
            # SQLite reads every decided task of the scan and sorts them, which grows with
            # the scan (docs/benchmarks.md, the 100,000-task scale run).
            part = (
                f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)} AND status = ?"
                " ORDER BY seq DESC LIMIT ?"
            )
            sql = (
                f"SELECT * FROM ({part}) UNION ALL SELECT * FROM ({part}) ORDER BY seq DESC LIMIT ?"
            )
            params = (*args, "validated", limit, *args, "refused", limit, limit)
            return await self._db.fetch_all(sql, params, row_task)
        sql = (
            f"SELECT {TASK_COLUMNS} FROM tasks WHERE {' AND '.join(where)}"
            " ORDER BY created_seq DESC LIMIT ?"
        )
        return await self._db.fetch_all(sql, (*args, limit), row_task)

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

        return await self._db.read(run)

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
            decided = conn.execute(
                "SELECT COUNT(*) AS n FROM tasks WHERE scan_id = ? AND decided_at >= ?",
                (scan_id, format_time(since)),
            ).fetchone()["n"]
            oldest = conn.execute(
                "SELECT created_at FROM tasks WHERE scan_id = ? AND status = 'pending'"
                " ORDER BY created_seq LIMIT 1",
                (scan_id,),
            ).fetchone()
            latencies: dict[str, list[tuple[int, int]]] = {}
            for r in conn.execute(
                "SELECT admin_id, bucket_ms, count FROM reviewer_latency WHERE scan_id = ?",
                (scan_id,),
            ):
                latencies.setdefault(r["admin_id"], []).append((r["bucket_ms"], r["count"]))
            reviewers = tuple(
                ReviewerStats(
                    r["admin_id"],
                    r["username"],
                    r["validated"] + r["refused"],
                    r["validated"],
                    r["refused"],
                    r["undone"],
                    percentile(latencies.get(r["admin_id"], ()), 0.5),
                )
                for r in conn.execute(
                    "SELECT * FROM scan_reviewers WHERE scan_id = ?"
                    " ORDER BY lower(username), admin_id",
                    (scan_id,),
                )
            )
            scan = row_scan(row)
            return ScanStats(
                scan_id=scan_id,
                counts=scan.counts,
                submissions_last_minute=recent,
                decision_seconds_p50=percentile(buckets, 0.5),
                decision_seconds_p95=percentile(buckets, 0.95),
                workers=workers,
                seq=row["seq"],
                decisions_last_minute=decided,
                oldest_pending_at=None if oldest is None else parse_time(oldest["created_at"]),
                reviewers=reviewers,
            )

        return await self._db.read(run)
