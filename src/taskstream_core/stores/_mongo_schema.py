"""The MongoDB store's collections, indexes and document ↔ model mapping.

Documents (one collection each):

- ``users``: ``{_id, username, username_key, role, password_hash, created_at}``;
  ``username_key`` is the lower-cased username, unique.
- ``scans``: the scan's fields plus everything that must change atomically
  with its ``seq``: ``counts``, ``workers.<key>`` (per-worker counters),
  ``latency.<bucket_ms>`` (the decision-latency histogram) and ``pruned``
  (events up to it were deleted).
- ``tasks``: the Task's fields, ``idempotency_key`` only when one was given.
- ``events``: ``{_id: "<scan_id>:<seq>", scan_id, seq, worker_id, body}``.
- ``history``: ``{_id: "<task_id>:<seq>", task_id, seq, at, action, by_user_id,
  by_username, reason}``, one per decision or undo of a task (``created`` is
  read from the task document), never pruned (the scan
  document's ``reviewers.<key>`` keeps each admin's counters and latency
  histogram). ``meta``: ``{_id: "schema", version}``, see ``_mongo_history``.
- ``revoked_tokens``: ``{_id: jti, expires_at}``, removed by a TTL index.
- ``login_failures``: ``{_id: username_key, failures: [at, ...], expire_at}``, one per
  username, so that a claim is one atomic update of one document; removed by a TTL
  index a day after its last failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from .._stats import percentile
from ..errors import Internal
from ..models import (
    HistoryAction,
    HistoryEntry,
    ReviewerStats,
    Role,
    Scan,
    ScanCounts,
    ScanStatus,
    Task,
    TaskStatus,
    User,
    WorkerStats,
)

__all__ = [
    "COUNTER",
    "INDEXES",
    "SCAN_FIELDS",
    "Doc",
    "doc_created_at",
    "doc_history",
    "doc_reviewers",
    "doc_scan",
    "doc_task",
    "doc_user",
    "doc_workers",
    "field",
    "history_doc",
    "new_scan_doc",
    "task_doc",
    "user_doc",
    "worker_key",
]

Doc = dict[str, Any]
_T = TypeVar("_T")

#: collection → [(keys, options)], created at ``open()``.
INDEXES: Final[dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]]] = {
    "users": [([("username_key", 1)], {"unique": True, "name": "username_key"})],
    "scans": [([("status", 1), ("created_at", -1)], {"name": "by_status_time"})],
    "tasks": [
        ([("scan_id", 1), ("created_seq", 1)], {"unique": True, "name": "by_scan"}),
        ([("scan_id", 1), ("worker_id", 1), ("created_seq", 1)], {"name": "by_worker"}),
        ([("scan_id", 1), ("status", 1), ("created_seq", 1)], {"name": "by_status"}),
        ([("scan_id", 1), ("status", 1), ("seq", 1)], {"name": "by_decision"}),
        ([("scan_id", 1), ("created_at", 1)], {"name": "by_time"}),
        ([("scan_id", 1), ("decided_at", 1)], {"name": "by_decision_time"}),
        (
            [("scan_id", 1), ("worker_id", 1), ("idempotency_key", 1)],
            {
                "unique": True,
                "name": "idempotency",
                "partialFilterExpression": {"idempotency_key": {"$exists": True}},
            },
        ),
    ],
    "events": [([("scan_id", 1), ("seq", 1)], {"unique": True, "name": "by_scan"})],
    "history": [([("task_id", 1), ("seq", 1)], {"unique": True, "name": "by_task"})],
    "revoked_tokens": [([("expires_at", 1)], {"expireAfterSeconds": 0, "name": "ttl"})],
    "login_failures": [([("expire_at", 1)], {"expireAfterSeconds": 0, "name": "ttl"})],
}

COUNTER: Final = {
    TaskStatus.PENDING: "pending",
    TaskStatus.VALIDATED: "validated",
    TaskStatus.REFUSED: "refused",
}

#: The projection of a scan document that makes a ``Scan`` (no counters of workers).
SCAN_FIELDS: Final = dict.fromkeys(
    ("name", "description", "status", "created_by", "created_at", "closed_at", "counts"), 1
)


def worker_key(worker_id: str) -> str:
    """A worker id as a field name: ``%``, ``.`` and ``$`` percent-encoded."""
    return worker_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def field(doc: Mapping[str, Any], name: str, kind: str) -> Any:
    """``doc[name]``, or ``Internal`` naming the missing field (data other programs wrote)."""
    try:
        return doc[name]
    except KeyError:
        raise Internal(f"Stored {kind} {doc.get('_id')!r} is missing the field {name!r}.") from None


def _time(value: Any, name: str, kind: str) -> datetime:
    if not isinstance(value, datetime):
        raise Internal(f"Stored {kind} has a {name!r} that is not a date: {value!r}.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _mapped(kind: str, doc: Mapping[str, Any], build: Callable[[], _T]) -> _T:
    try:
        return build()
    except (ValueError, TypeError) as exc:
        raise Internal(f"Stored {kind} {doc.get('_id')!r} is malformed: {exc}") from None


def doc_user(doc: Mapping[str, Any]) -> User:
    return _mapped(
        "user",
        doc,
        lambda: User(
            id=field(doc, "_id", "user"),
            username=field(doc, "username", "user"),
            role=Role(field(doc, "role", "user")),
            created_at=_time(field(doc, "created_at", "user"), "created_at", "user"),
        ),
    )


def doc_scan(doc: Mapping[str, Any]) -> Scan:
    def build() -> Scan:
        counts = field(doc, "counts", "scan")
        closed = doc.get("closed_at")
        return Scan(
            id=field(doc, "_id", "scan"),
            name=field(doc, "name", "scan"),
            description=field(doc, "description", "scan"),
            status=ScanStatus(field(doc, "status", "scan")),
            created_by=field(doc, "created_by", "scan"),
            created_at=_time(field(doc, "created_at", "scan"), "created_at", "scan"),
            counts=ScanCounts(
                pending=int(field(counts, "pending", "scan counts")),
                validated=int(field(counts, "validated", "scan counts")),
                refused=int(field(counts, "refused", "scan counts")),
            ),
            closed_at=None if closed is None else _time(closed, "closed_at", "scan"),
        )

    return _mapped("scan", doc, build)


def doc_workers(doc: Mapping[str, Any]) -> tuple[WorkerStats, ...]:
    """A scan document's per-worker counters, by username ignoring case."""

    def build() -> tuple[WorkerStats, ...]:
        workers = [
            WorkerStats(
                worker_id=field(w, "worker_id", "worker stats"),
                username=field(w, "username", "worker stats"),
                submitted=int(w.get("submitted", 0)),
                pending=int(w.get("pending", 0)),
                validated=int(w.get("validated", 0)),
                refused=int(w.get("refused", 0)),
            )
            for w in (doc.get("workers") or {}).values()
        ]
        return tuple(sorted(workers, key=lambda w: (w.username.lower(), w.worker_id)))

    return _mapped("scan", doc, build)


def doc_reviewers(doc: Mapping[str, Any]) -> tuple[ReviewerStats, ...]:
    """A scan document's per-admin counters, by username ignoring case."""

    def build() -> tuple[ReviewerStats, ...]:
        reviewers = []
        for r in (doc.get("reviewers") or {}).values():
            validated, refused = int(r.get("validated", 0)), int(r.get("refused", 0))
            buckets = [(int(b), int(n)) for b, n in (r.get("latency") or {}).items()]
            reviewers.append(
                ReviewerStats(
                    admin_id=field(r, "admin_id", "reviewer stats"),
                    username=field(r, "username", "reviewer stats"),
                    decided=validated + refused,
                    validated=validated,
                    refused=refused,
                    undone=int(r.get("undone", 0)),
                    decision_seconds_p50=percentile(buckets, 0.5),
                )
            )
        return tuple(sorted(reviewers, key=lambda r: (r.username.lower(), r.admin_id)))

    return _mapped("scan", doc, build)


def doc_created_at(doc: Mapping[str, Any]) -> datetime:
    """A task document's ``created_at`` (a projection of it will do)."""
    return _time(field(doc, "created_at", "task"), "created_at", "task")


def history_doc(task_id: str, entry: HistoryEntry) -> Doc:
    """The document stored for one entry of a task's history."""
    return {
        "_id": f"{task_id}:{entry.seq}",
        "task_id": task_id,
        "seq": entry.seq,
        "at": entry.at,
        "action": entry.action.value,
        "by_user_id": entry.by_user_id,
        "by_username": entry.by_username,
        "reason": entry.reason,
    }


def doc_history(doc: Mapping[str, Any]) -> HistoryEntry:
    return _mapped(
        "history entry",
        doc,
        lambda: HistoryEntry(
            seq=int(field(doc, "seq", "history entry")),
            at=_time(field(doc, "at", "history entry"), "at", "history entry"),
            action=HistoryAction(field(doc, "action", "history entry")),
            by_user_id=field(doc, "by_user_id", "history entry"),
            by_username=field(doc, "by_username", "history entry"),
            reason=doc.get("reason"),
        ),
    )


def doc_task(doc: Mapping[str, Any]) -> Task:
    def build() -> Task:
        decided_at = doc.get("decided_at")
        return Task(
            id=field(doc, "_id", "task"),
            scan_id=field(doc, "scan_id", "task"),
            worker_id=field(doc, "worker_id", "task"),
            worker_username=field(doc, "worker_username", "task"),
            content=field(doc, "content", "task"),
            status=TaskStatus(field(doc, "status", "task")),
            created_at=_time(field(doc, "created_at", "task"), "created_at", "task"),
            seq=int(field(doc, "seq", "task")),
            created_seq=int(field(doc, "created_seq", "task")),
            reason=doc.get("reason"),
            decided_by=doc.get("decided_by"),
            decided_at=None if decided_at is None else _time(decided_at, "decided_at", "task"),
        )

    return _mapped("task", doc, build)


def user_doc(user: User, password_hash: str) -> Doc:
    return {
        "_id": user.id,
        "username": user.username,
        "username_key": user.username.lower(),
        "role": user.role.value,
        "password_hash": password_hash,
        "created_at": user.created_at,
    }


def new_scan_doc(scan: Scan) -> Doc:
    """A new scan's document: seq 0, zero counters."""
    return {
        "_id": scan.id,
        "name": scan.name,
        "description": scan.description,
        "status": scan.status.value,
        "created_by": scan.created_by,
        "created_at": scan.created_at,
        "closed_at": None,
        "seq": 0,
        "pruned": 0,
        "counts": {"pending": 0, "validated": 0, "refused": 0},
        "workers": {},
        "latency": {},
        "reviewers": {},
    }


def task_doc(task: Task, idempotency_key: str | None = None) -> Doc:
    """The document stored for a task (without ``idempotency_key`` when there is none)."""
    doc: Doc = {
        "_id": task.id,
        "scan_id": task.scan_id,
        "created_seq": task.created_seq,
        "seq": task.seq,
        "worker_id": task.worker_id,
        "worker_username": task.worker_username,
        "content": task.content,
        "status": task.status.value,
        "reason": task.reason,
        "decided_by": task.decided_by,
        "created_at": task.created_at,
        "decided_at": task.decided_at,
    }
    if idempotency_key is not None:
        doc["idempotency_key"] = idempotency_key
    return doc
