"""Immutable value objects of the domain, and their contract JSON shapes.

Times are timezone-aware UTC datetimes truncated to the millisecond, the
precision of the wire format, so what a store keeps, what an event carries and
what a client reads are equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .errors import Internal

__all__ = [
    "EventType",
    "Principal",
    "Role",
    "Scan",
    "ScanCounts",
    "ScanEvent",
    "ScanStats",
    "ScanStatus",
    "Task",
    "TaskStatus",
    "User",
    "WorkerStats",
    "format_time",
    "parse_time",
    "utc_now",
]


class Role(StrEnum):
    ADMIN = "admin"
    WORKER = "worker"


class ScanStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TaskStatus(StrEnum):
    PENDING = "pending"
    VALIDATED = "validated"
    REFUSED = "refused"


class EventType(StrEnum):
    TASK_CREATED = "task:created"
    TASK_UPDATED = "task:updated"
    SCAN_UPDATED = "scan:updated"
    SCAN_STATS = "scan:stats"


def utc_now() -> datetime:
    """Now, in UTC, at the wire's millisecond precision."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    """``2026-11-28T01:02:03.456Z``: ISO 8601, UTC, milliseconds."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # By hand rather than strftime: several times per submission, and a third of the cost.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse_time(value: str) -> datetime:
    """Inverse of :func:`format_time`; also accepts any ISO 8601 offset."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _field(data: Mapping[str, Any], name: str, kind: str) -> Any:
    """Read one field of a stored document, naming it when it is missing.

    Stores hold data that other programs may have written; a missing field is
    reported as what it is rather than as a ``KeyError`` deep in a handler.
    """
    try:
        return data[name]
    except KeyError:
        raise Internal(f"Stored {kind} is missing the field {name!r}.") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user a verified, unrevoked token names."""

    user_id: str
    username: str
    role: Role
    token_id: str = ""
    token_expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class User:
    id: str
    username: str
    role: Role
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> User:
        return cls(
            id=_field(data, "id", "user"),
            username=_field(data, "username", "user"),
            role=Role(_field(data, "role", "user")),
            created_at=parse_time(_field(data, "created_at", "user")),
        )


@dataclass(frozen=True, slots=True)
class ScanCounts:
    pending: int = 0
    validated: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.validated + self.refused

    def to_dict(self) -> dict[str, int]:
        return {"pending": self.pending, "validated": self.validated, "refused": self.refused}


@dataclass(frozen=True, slots=True)
class Scan:
    id: str
    name: str
    description: str
    status: ScanStatus
    created_by: str
    created_at: datetime
    counts: ScanCounts = ScanCounts()
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status is ScanStatus.OPEN

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status.value,
            "created_by": self.created_by,
            "created_at": format_time(self.created_at),
            "closed_at": _opt_time(self.closed_at),
            "counts": self.counts.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scan:
        counts = _field(data, "counts", "scan")
        closed = data.get("closed_at")
        return cls(
            id=_field(data, "id", "scan"),
            name=_field(data, "name", "scan"),
            description=_field(data, "description", "scan"),
            status=ScanStatus(_field(data, "status", "scan")),
            created_by=_field(data, "created_by", "scan"),
            created_at=parse_time(_field(data, "created_at", "scan")),
            counts=ScanCounts(
                pending=int(_field(counts, "pending", "scan counts")),
                validated=int(_field(counts, "validated", "scan counts")),
                refused=int(_field(counts, "refused", "scan counts")),
            ),
            closed_at=parse_time(closed) if closed else None,
        )


@dataclass(frozen=True, slots=True)
class Task:
    """A worker's submission and, once decided, its verdict.

    ``created_seq`` is the seq of the task's ``task:created`` event: it orders
    a scan's tasks oldest first and backs listing cursors. ``seq`` is the seq
    of the latest event about the task.
    """

    id: str
    scan_id: str
    worker_id: str
    worker_username: str
    content: str
    status: TaskStatus
    created_at: datetime
    seq: int
    created_seq: int
    reason: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    @property
    def is_pending(self) -> bool:
        return self.status is TaskStatus.PENDING

    def decided(
        self, status: TaskStatus, *, reason: str | None, by: str, at: datetime, seq: int
    ) -> Task:
        """This task with a verdict, as the store will keep it."""
        return dataclasses.replace(
            self, status=status, reason=reason, decided_by=by, decided_at=at, seq=seq
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scan_id": self.scan_id,
            "worker_id": self.worker_id,
            "worker_username": self.worker_username,
            "content": self.content,
            "status": self.status.value,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "created_at": format_time(self.created_at),
            "decided_at": _opt_time(self.decided_at),
            "seq": self.seq,
        }

    def to_record(self) -> dict[str, Any]:
        """``to_dict`` plus the fields a store needs to rebuild the task."""
        return {**self.to_dict(), "created_seq": self.created_seq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        decided_at = data.get("decided_at")
        return cls(
            id=_field(data, "id", "task"),
            scan_id=_field(data, "scan_id", "task"),
            worker_id=_field(data, "worker_id", "task"),
            worker_username=_field(data, "worker_username", "task"),
            content=_field(data, "content", "task"),
            status=TaskStatus(_field(data, "status", "task")),
            created_at=parse_time(_field(data, "created_at", "task")),
            seq=int(_field(data, "seq", "task")),
            created_seq=int(data.get("created_seq", _field(data, "seq", "task"))),
            reason=data.get("reason"),
            decided_by=data.get("decided_by"),
            decided_at=parse_time(decided_at) if decided_at else None,
        )


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """A stored change of a scan, numbered by the scan's ``seq``.

    ``task:*`` events carry the task as it is after the change; ``scan:updated``
    carries the scan. Who may receive the event is decided from these fields by
    :mod:`taskstream_core.rooms`.
    """

    type: EventType
    scan_id: str
    seq: int
    task: Task | None = None
    scan: Scan | None = None
    stats: ScanStats | None = None

    @property
    def worker_id(self) -> str | None:
        """The worker the event concerns, or None when it concerns every viewer."""
        return self.task.worker_id if self.task is not None else None

    def to_envelope(self) -> dict[str, Any]:
        """The contract's event envelope ``{"type", "scan_id", "seq", ...}``."""
        body: dict[str, Any] = {"type": self.type.value, "scan_id": self.scan_id, "seq": self.seq}
        if self.task is not None:
            body["task"] = self.task.to_dict()
        if self.scan is not None:
            body["scan"] = self.scan.to_dict()
        if self.stats is not None:
            body["stats"] = self.stats.to_dict()
        return body

    def to_record(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type.value, "scan_id": self.scan_id, "seq": self.seq}
        if self.task is not None:
            body["task"] = self.task.to_record()
        if self.scan is not None:
            body["scan"] = self.scan.to_dict()
        return body

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> ScanEvent:
        task = data.get("task")
        scan = data.get("scan")
        return cls(
            type=EventType(_field(data, "type", "event")),
            scan_id=_field(data, "scan_id", "event"),
            seq=int(_field(data, "seq", "event")),
            task=Task.from_dict(task) if task else None,
            scan=Scan.from_dict(scan) if scan else None,
        )


@dataclass(frozen=True, slots=True)
class WorkerStats:
    worker_id: str
    username: str
    submitted: int = 0
    pending: int = 0
    validated: int = 0
    refused: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "username": self.username,
            "submitted": self.submitted,
            "pending": self.pending,
            "validated": self.validated,
            "refused": self.refused,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WorkerStats:
        return cls(
            worker_id=_field(data, "worker_id", "worker stats"),
            username=_field(data, "username", "worker stats"),
            submitted=int(_field(data, "submitted", "worker stats")),
            pending=int(_field(data, "pending", "worker stats")),
            validated=int(_field(data, "validated", "worker stats")),
            refused=int(_field(data, "refused", "worker stats")),
        )


@dataclass(frozen=True, slots=True)
class ScanStats:
    scan_id: str
    counts: ScanCounts
    submissions_last_minute: int
    decision_seconds_p50: float | None
    decision_seconds_p95: float | None
    workers: tuple[WorkerStats, ...]
    seq: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        decided = self.counts.validated + self.counts.refused
        return None if decided == 0 else self.counts.validated / decided

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_id": self.scan_id,
            "total": self.counts.total,
            "pending": self.counts.pending,
            "validated": self.counts.validated,
            "refused": self.counts.refused,
            "acceptance_rate": self.acceptance_rate,
            "submissions_last_minute": self.submissions_last_minute,
            "decision_seconds_p50": self.decision_seconds_p50,
            "decision_seconds_p95": self.decision_seconds_p95,
            "workers": [w.to_dict() for w in self.workers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, seq: int = 0) -> ScanStats:
        """The stats object of the contract, as a client reads it."""
        return cls(
            scan_id=_field(data, "scan_id", "stats"),
            counts=ScanCounts(
                pending=int(_field(data, "pending", "stats")),
                validated=int(_field(data, "validated", "stats")),
                refused=int(_field(data, "refused", "stats")),
            ),
            submissions_last_minute=int(_field(data, "submissions_last_minute", "stats")),
            decision_seconds_p50=data.get("decision_seconds_p50"),
            decision_seconds_p95=data.get("decision_seconds_p95"),
            workers=tuple(WorkerStats.from_dict(w) for w in data.get("workers", ())),
            seq=seq,
        )
