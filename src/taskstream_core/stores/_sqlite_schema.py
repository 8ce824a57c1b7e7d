"""The SQLite store's schema and the mapping from rows to domain objects."""

from __future__ import annotations

import sqlite3
from typing import Final

from .._stats import decision_bucket
from ..models import (
    HistoryAction,
    HistoryEntry,
    Role,
    Scan,
    ScanCounts,
    ScanStatus,
    Task,
    TaskStatus,
    User,
    format_time,
    parse_time,
)

__all__ = [
    "COUNTER",
    "SCHEMA",
    "SCHEMA_VERSION",
    "TASK_COLUMNS",
    "count_decision",
    "migrate",
    "row_history",
    "row_scan",
    "row_task",
    "row_user",
    "task_values",
]

SCHEMA: Final = """
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
CREATE TABLE IF NOT EXISTS task_history (
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL,
    by_user_id TEXT NOT NULL,
    by_username TEXT NOT NULL,
    reason TEXT,
    PRIMARY KEY (task_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS scan_reviewers (
    scan_id TEXT NOT NULL,
    admin_id TEXT NOT NULL,
    username TEXT NOT NULL,
    validated INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    undone INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scan_id, admin_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reviewer_latency (
    scan_id TEXT NOT NULL,
    admin_id TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (scan_id, admin_id, bucket_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_by_decided_at
    ON tasks (scan_id, decided_at) WHERE decided_at IS NOT NULL;
"""

#: ``PRAGMA user_version`` of a database whose history and reviewer counters are
#: complete; a lower one (a database written before they existed) is filled in
#: from its task rows at open (:func:`migrate`).
SCHEMA_VERSION: Final = 2

TASK_COLUMNS: Final = (
    "id, scan_id, created_seq, seq, worker_id, worker_username, content, status, reason,"
    " decided_by, created_at, decided_at"
)
_TASK_COLUMNS_OF_T: Final = ", ".join("t." + c.strip() for c in TASK_COLUMNS.split(","))
COUNTER: Final = {
    TaskStatus.PENDING: "pending",
    TaskStatus.VALIDATED: "validated",
    TaskStatus.REFUSED: "refused",
}


def row_task(row: sqlite3.Row) -> Task:
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


def row_scan(row: sqlite3.Row) -> Scan:
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


def row_user(row: sqlite3.Row) -> User:
    return User(row["id"], row["username"], Role(row["role"]), parse_time(row["created_at"]))


def task_values(task: Task) -> tuple[object, ...]:
    """A task's values in the order of :data:`TASK_COLUMNS`."""
    return (
        task.id,
        task.scan_id,
        task.created_seq,
        task.seq,
        task.worker_id,
        task.worker_username,
        task.content,
        task.status.value,
        task.reason,
        task.decided_by,
        format_time(task.created_at),
        None if task.decided_at is None else format_time(task.decided_at),
    )


def row_history(row: sqlite3.Row) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"],
        at=parse_time(row["at"]),
        action=HistoryAction(row["action"]),
        by_user_id=row["by_user_id"],
        by_username=row["by_username"],
        reason=row["reason"],
    )


def count_decision(conn: sqlite3.Connection, task: Task, username: str, delta: int) -> None:
    """Count a decided task's standing decision in (+1) or out (-1, an undo).

    The deciding admin's counters and latency histogram change; an undo also
    counts one ``undone`` for that admin.
    """
    assert task.decided_by is not None
    assert task.decided_at is not None
    column = COUNTER[task.status]  # a constant column name; every value is a parameter
    conn.execute(
        f"INSERT INTO scan_reviewers (scan_id, admin_id, username, {column}, undone)"  # noqa: S608
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (scan_id, admin_id) DO UPDATE SET"
        f" {column} = {column} + excluded.{column}, undone = undone + excluded.undone",
        (task.scan_id, task.decided_by, username, delta, int(delta < 0)),
    )
    conn.execute(
        "INSERT INTO reviewer_latency VALUES (?, ?, ?, ?)"
        " ON CONFLICT (scan_id, admin_id, bucket_ms) DO UPDATE SET count = count + excluded.count",
        (task.scan_id, task.decided_by, decision_bucket(task.created_at, task.decided_at), delta),
    )


def migrate(conn: sqlite3.Connection) -> None:
    """Fill in what a database written before :data:`SCHEMA_VERSION` lacks, once.

    Each decided task gets the history entry its row proves (the decision it
    carries, by the deciding admin's name where the user exists; ``created``
    is always read from the row), and the reviewers' counters count the
    decisions that stand. Runs in one write
    transaction, so of several processes opening the file one does it.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    decided = f"""
        SELECT {_TASK_COLUMNS_OF_T},
            COALESCE(u.username, t.decided_by) AS admin_username
        FROM tasks t LEFT JOIN users u ON u.id = t.decided_by
        WHERE t.status != 'pending' AND t.decided_by IS NOT NULL AND t.decided_at IS NOT NULL
    """  # noqa: S608 - constant column names only
    for row in conn.execute(decided).fetchall():
        task = row_task(row)
        conn.execute(
            "INSERT OR IGNORE INTO task_history VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                task.id,
                task.seq,
                row["decided_at"],
                task.status.value,
                task.decided_by,
                row["admin_username"],
                task.reason if task.status is TaskStatus.REFUSED else None,
            ),
        )
        count_decision(conn, task, row["admin_username"], +1)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
