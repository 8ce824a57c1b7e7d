"""The SQLite store's schema and the mapping from rows to domain objects."""

from __future__ import annotations

import sqlite3
from typing import Final

from ..models import (
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
    "TASK_COLUMNS",
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
"""

TASK_COLUMNS: Final = (
    "id, scan_id, created_seq, seq, worker_id, worker_username, content, status, reason,"
    " decided_by, created_at, decided_at"
)
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
