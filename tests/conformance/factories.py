"""Small builders of domain objects for tests that talk to a store or a broker directly."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from taskstream_core import NewTask, Role, Scan, ScanEvent, Task
from taskstream_core.models import EventType, ScanStatus, TaskStatus, User

#: A fixed moment at the wire's millisecond precision, so stored times compare equal.
T0 = datetime(2026, 11, 28, 1, 2, 3, 456000, tzinfo=UTC)

_ids = itertools.count(1)


def fresh_id(prefix: str) -> str:
    """A new id, unique within the test run."""
    return f"{prefix}-{next(_ids)}"


def at(seconds: float) -> datetime:
    """``T0`` plus some seconds (keep them whole milliseconds)."""
    return T0 + timedelta(seconds=seconds)


def make_user(username: str, role: Role = Role.WORKER) -> User:
    return User(id=fresh_id("user"), username=username, role=role, created_at=T0)


def make_scan(name: str = "scan", *, created_at: datetime = T0, scan_id: str | None = None) -> Scan:
    return Scan(
        id=scan_id or fresh_id("scan"),
        name=name,
        description=f"about {name}",
        status=ScanStatus.OPEN,
        created_by="admin-1",
        created_at=created_at,
    )


def new_task(
    scan_id: str,
    worker: str = "w1",
    *,
    key: str | None = None,
    created_at: datetime = T0,
    content: str | None = None,
    username: str | None = None,
) -> NewTask:
    """A submission by worker id ``worker`` (its username defaults to the id in upper case)."""
    task_id = fresh_id("task")
    return NewTask(
        id=task_id,
        scan_id=scan_id,
        worker_id=worker,
        worker_username=username or worker.upper(),
        content=content if content is not None else f"content of {task_id}",
        created_at=created_at,
        idempotency_key=key,
    )


def make_task(scan_id: str, worker: str, seq: int) -> Task:
    """A stored-looking pending task, for broker tests that need no store."""
    return Task(
        id=fresh_id("task"),
        scan_id=scan_id,
        worker_id=worker,
        worker_username=worker.upper(),
        content="content",
        status=TaskStatus.PENDING,
        created_at=T0,
        seq=seq,
        created_seq=seq,
    )


def task_event(scan_id: str, seq: int, worker: str = "w1") -> ScanEvent:
    """A ``task:created`` event of seq ``seq`` about a task of ``worker``."""
    return ScanEvent(EventType.TASK_CREATED, scan_id, seq, task=make_task(scan_id, worker, seq))


def scan_event(scan_id: str, seq: int) -> ScanEvent:
    """A ``scan:updated`` event of seq ``seq``."""
    return ScanEvent(EventType.SCAN_UPDATED, scan_id, seq, scan=make_scan("s", scan_id=scan_id))
