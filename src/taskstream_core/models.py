"""Immutable value objects of the domain, and their contract JSON shapes.

Times are timezone-aware UTC datetimes truncated to the millisecond, the
precision of the wire format, so what a store keeps, what an event carries and
what a client reads are equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Claim",
    "EventType",
    "HistoryAction",
    "HistoryEntry",
    "Presence",
    "PresentUser",
    "Principal",
    "ReviewerStats",
    "Role",
    "Scan",
    "ScanCounts",
    "ScanEvent",
    "ScanStats",
    "ScanStatus",
    "Task",
    "TaskHistory",
    "TaskStatus",
    "User",
    "WorkerStats",
    "format_time",
    "parse_time",
    "utc_now",
]


class Role(StrEnum):
    """What a user may do: an admin creates scans and decides tasks, a worker submits them."""

    ADMIN = "admin"
    WORKER = "worker"


class ScanStatus(StrEnum):
    """Whether a scan still accepts tasks (``open``) or no longer does (``closed``)."""

    OPEN = "open"
    CLOSED = "closed"


class TaskStatus(StrEnum):
    """A task's verdict: ``pending`` until an admin marks it ``validated`` or ``refused``."""

    PENDING = "pending"
    VALIDATED = "validated"
    REFUSED = "refused"


class EventType(StrEnum):
    """The ``type`` of a live event, as the contract names it on the wire."""

    TASK_CREATED = "task:created"
    TASK_UPDATED = "task:updated"
    SCAN_UPDATED = "scan:updated"
    SCAN_STATS = "scan:stats"
    TASK_CLAIMED = "task:claimed"
    SCAN_PRESENCE = "scan:presence"

    @property
    def is_notice(self) -> bool:
        """Whether events of this type are live notices: never stored, without a ``seq``.

        ``task:claimed`` and ``scan:presence`` tell what is true now; they are
        not part of the scan's event log and bypass its ordering by ``seq``.
        """
        return self in _NOTICES


_NOTICES = frozenset({EventType.TASK_CLAIMED, EventType.SCAN_PRESENCE})


class HistoryAction(StrEnum):
    """What one entry of a task's history records, as the contract names it."""

    CREATED = "created"
    VALIDATED = "validated"
    REFUSED = "refused"
    UNDONE = "undone"


def utc_now() -> datetime:
    """Now, in UTC, at the wire's millisecond precision.

    Returns:
        The current time, aware, truncated to milliseconds.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_time(value: datetime) -> str:
    """Write a time as the wire does: ``2026-11-28T01:02:03.456Z`` (ISO 8601, UTC, ms).

    Args:
        value: An aware time; converted to UTC.

    Returns:
        The wire's text for it.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # By hand rather than strftime: several times per submission, and a third of the cost.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:"
        f"{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse_time(value: str) -> datetime:
    """Read a time written by :func:`format_time`, or any ISO 8601 time.

    Args:
        value: The text; without an offset it is taken as UTC.

    Returns:
        The time, aware, in UTC.

    Raises:
        ValueError: ``value`` is not an ISO 8601 time.
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _field(data: Mapping[str, Any], name: str, kind: str) -> Any:
    """Read one field of a stored document, naming it when it is missing.

    Stores hold data that other programs may have written; a missing field is
    reported as what it is rather than as a ``KeyError`` deep in a handler (an
    integration answers it, like any unexpected exception, as ``internal``).
    """
    try:
        return data[name]
    except KeyError:
        raise ValueError(f"Stored {kind} is missing the field {name!r}.") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user a verified, unrevoked token names.

    Attributes:
        user_id: The user's id.
        username: The user's name.
        role: The user's role.
        token_id: The id (``jti``) of the token the call came with; what
            :meth:`~taskstream_core.Accounts.logout` revokes.
            Empty when the principal was not made from a token.
        token_expires_at: When that token expires, or None when unknown; a
            live connection should end then.
    """

    user_id: str
    username: str
    role: Role
    token_id: str = ""
    token_expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an admin."""
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class User:
    """A registered account, as the contract shows it (never with its password).

    Attributes:
        id: The user's id.
        username: The name the user signs in with; unique.
        role: The user's role.
        created_at: When the account was made.
    """

    id: str
    username: str
    role: Role
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``User`` object.

        Returns:
            ``{"id", "username", "role", "created_at"}``, ready to encode as JSON.
        """
        return {
            "id": self.id,
            "username": self.username,
            "role": self.role.value,
            "created_at": format_time(self.created_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> User:
        """Read a user from its contract object (the inverse of :meth:`to_dict`).

        Args:
            data: A ``User`` object as :meth:`to_dict` writes it.

        Returns:
            The user.

        Raises:
            ValueError: A field is missing.
            ValueError: The role or the time is not a valid value.
        """
        return cls(
            id=_field(data, "id", "user"),
            username=_field(data, "username", "user"),
            role=Role(_field(data, "role", "user")),
            created_at=parse_time(_field(data, "created_at", "user")),
        )


@dataclass(frozen=True, slots=True)
class ScanCounts:
    """How many of a scan's tasks are in each status.

    Attributes:
        pending: Tasks that wait for a verdict.
        validated: Tasks an admin validated.
        refused: Tasks an admin refused.
    """

    pending: int = 0
    validated: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        """Every task of the scan, whatever its status."""
        return self.pending + self.validated + self.refused

    def to_dict(self) -> dict[str, int]:
        """The counts as the contract's scan object carries them.

        Returns:
            ``{"pending", "validated", "refused"}``.
        """
        return {"pending": self.pending, "validated": self.validated, "refused": self.refused}


@dataclass(frozen=True, slots=True)
class Scan:
    """A review session: workers submit tasks to it while it is open, admins decide them.

    Attributes:
        id: The scan's id.
        name: Its name, shown to every viewer.
        description: Its description (may be empty).
        status: Whether it still accepts tasks.
        created_by: The id of the admin who created it.
        created_at: When it was created.
        counts: Its tasks by status.
        closed_at: When it was closed, or None while it is open.
    """

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
        """Whether the scan still accepts tasks."""
        return self.status is ScanStatus.OPEN

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``Scan`` object.

        Returns:
            The scan's fields, times as ISO 8601 strings and ``counts`` nested.
        """
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
        """Read a scan from its contract object (the inverse of :meth:`to_dict`).

        Args:
            data: A ``Scan`` object as :meth:`to_dict` writes it.

        Returns:
            The scan.

        Raises:
            ValueError: A field is missing.
            ValueError: The status or a time is not a valid value.
        """
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

    Attributes:
        id: The task's id.
        scan_id: The scan it was submitted to.
        worker_id: The id of the worker who submitted it.
        worker_username: That worker's name.
        content: What the worker submitted.
        status: Its verdict so far.
        created_at: When it was submitted.
        seq: The seq of the latest event about the task.
        created_seq: The seq of its ``task:created`` event: it orders a scan's
            tasks oldest first and backs listing cursors.
        reason: The admin's reason for a refusal (or a validation), if one was given.
        decided_by: The id of the admin who decided it, or None while pending.
        decided_at: When it was decided, or None while pending.
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
        """Whether the task still waits for a verdict."""
        return self.status is TaskStatus.PENDING

    def decided(
        self, status: TaskStatus, *, reason: str | None, by: str, at: datetime, seq: int
    ) -> Task:
        """This task with a verdict, as the store will keep it.

        Args:
            status: The verdict.
            reason: The admin's reason, or None.
            by: The id of the admin who decided.
            at: When the decision was made.
            seq: The seq of the ``task:updated`` event that carries the decision.

        Returns:
            A copy of the task with the verdict; the task itself is unchanged.
        """
        return dataclasses.replace(
            self, status=status, reason=reason, decided_by=by, decided_at=at, seq=seq
        )

    def undone(self, *, seq: int) -> Task:
        """This task with its verdict taken back, pending again, as the store will keep it.

        Args:
            seq: The seq of the ``task:updated`` event that carries the undo.

        Returns:
            A copy of the task, pending, without reason, decider or decision time.
        """
        return dataclasses.replace(
            self,
            status=TaskStatus.PENDING,
            reason=None,
            decided_by=None,
            decided_at=None,
            seq=seq,
        )

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``Task`` object.

        Returns:
            The task's fields, times as ISO 8601 strings; without ``created_seq``.
        """
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
        """The task as a store keeps it: :meth:`to_dict` plus ``created_seq``.

        Returns:
            A JSON-ready object that :meth:`from_dict` reads back into an equal task.
        """
        return {**self.to_dict(), "created_seq": self.created_seq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Read a task from its contract object or its stored record.

        Args:
            data: What :meth:`to_dict` or :meth:`to_record` wrote; without
                ``created_seq``, the task's ``seq`` stands in for it.

        Returns:
            The task.

        Raises:
            ValueError: A field is missing.
            ValueError: The status or a time is not a valid value.
        """
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
class Claim:
    """An admin's short-lived hold on a pending task: "I am deciding this one now".

    Attributes:
        task_id: The task held.
        scan_id: The task's scan (not part of the contract's object).
        admin_id: The id of the admin who holds it.
        admin_username: That admin's name.
        expires_at: When the hold lapses unless the admin claims the task again.
    """

    task_id: str
    scan_id: str
    admin_id: str
    admin_username: str
    expires_at: datetime

    def is_live(self, now: datetime) -> bool:
        """Tell whether the claim still holds at ``now``.

        Args:
            now: The time asked about.

        Returns:
            Whether ``now`` is before :attr:`expires_at`.
        """
        return now < self.expires_at

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``Claim`` object.

        Returns:
            ``{"task_id", "admin_id", "admin_username", "expires_at"}``.
        """
        return {
            "task_id": self.task_id,
            "admin_id": self.admin_id,
            "admin_username": self.admin_username,
            "expires_at": format_time(self.expires_at),
        }

    def to_record(self) -> dict[str, Any]:
        """The claim as a registry or a broker keeps it: :meth:`to_dict` plus ``scan_id``.

        Returns:
            A JSON-ready object that :meth:`from_dict` reads back into an equal claim.
        """
        return {**self.to_dict(), "scan_id": self.scan_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, scan_id: str | None = None) -> Claim:
        """Read a claim from its contract object or its record.

        Args:
            data: What :meth:`to_dict` or :meth:`to_record` wrote.
            scan_id: The scan, when ``data`` does not say (a contract object).

        Returns:
            The claim.

        Raises:
            ValueError: A field is missing, or the time is not a valid value.
        """
        return cls(
            task_id=_field(data, "task_id", "claim"),
            scan_id=scan_id if scan_id is not None else _field(data, "scan_id", "claim"),
            admin_id=_field(data, "admin_id", "claim"),
            admin_username=_field(data, "admin_username", "claim"),
            expires_at=parse_time(_field(data, "expires_at", "claim")),
        )


@dataclass(frozen=True, slots=True)
class PresentUser:
    """A user with at least one viewer joined to a scan.

    Attributes:
        user_id: The user's id.
        username: The user's name.
        role: The user's role: an admin is a reviewer, a worker a submitter.
        since: When the user's first viewer of the scan joined.
    """

    user_id: str
    username: str
    role: Role
    since: datetime

    def to_dict(self) -> dict[str, Any]:
        """The contract's entry of ``present``.

        Returns:
            ``{"user_id", "username", "role", "since"}``.
        """
        return {
            "user_id": self.user_id,
            "username": self.username,
            "role": self.role.value,
            "since": format_time(self.since),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PresentUser:
        """Read an entry of ``present`` (the inverse of :meth:`to_dict`).

        Args:
            data: An entry as :meth:`to_dict` writes it.

        Returns:
            The present user.

        Raises:
            ValueError: A field is missing, or the role or the time is not a valid value.
        """
        return cls(
            user_id=_field(data, "user_id", "present user"),
            username=_field(data, "username", "present user"),
            role=Role(_field(data, "role", "present user")),
            since=parse_time(_field(data, "since", "present user")),
        )


@dataclass(frozen=True, slots=True)
class Presence:
    """Who is present in a scan: what ``scan:presence`` and the join answers carry.

    Make one with :meth:`of`; :meth:`counts_only` gives what a worker may see.

    Attributes:
        scan_id: The scan.
        present: Each present user once, earliest first; empty when :attr:`detailed` is False.
        reviewers: How many present users are admins.
        submitters: How many present users are workers.
        detailed: Whether :attr:`present` is filled in (an admin's view) or not (a worker's).
    """

    scan_id: str
    present: tuple[PresentUser, ...] = ()
    reviewers: int = 0
    submitters: int = 0
    detailed: bool = True

    @classmethod
    def of(cls, scan_id: str, users: Iterable[PresentUser]) -> Presence:
        """The presence of ``users``, each counted once.

        Args:
            scan_id: The scan.
            users: The present users; a user listed more than once (several
                viewers, several processes) counts once, with its earliest ``since``.

        Returns:
            The detailed presence, ``present`` ordered by ``since`` then username.
        """
        first: dict[str, PresentUser] = {}
        for user in users:
            seen = first.get(user.user_id)
            if seen is None or user.since < seen.since:
                first[user.user_id] = user
        present = tuple(sorted(first.values(), key=lambda u: (u.since, u.username, u.user_id)))
        return cls(
            scan_id=scan_id,
            present=present,
            reviewers=sum(1 for u in present if u.role is Role.ADMIN),
            submitters=sum(1 for u in present if u.role is Role.WORKER),
        )

    def counts_only(self) -> Presence:
        """This presence as a worker sees it: the counts, not who.

        Returns:
            A copy without :attr:`present`, :attr:`detailed` False.
        """
        return dataclasses.replace(self, present=(), detailed=False)

    def to_dict(self) -> dict[str, Any]:
        """The contract's presence object, in the shape of this view.

        Returns:
            ``{"reviewers", "submitters", "present": [...]}`` when detailed, else
            ``{"reviewers", "submitters"}``.
        """
        body: dict[str, Any] = {"reviewers": self.reviewers, "submitters": self.submitters}
        if self.detailed:
            body["present"] = [u.to_dict() for u in self.present]
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, scan_id: str) -> Presence:
        """Read a presence object in either shape (the inverse of :meth:`to_dict`).

        Args:
            data: A presence object, or a ``scan:presence`` envelope.
            scan_id: The scan it is about.

        Returns:
            The presence; :attr:`detailed` when ``data`` has ``present``.

        Raises:
            ValueError: A field is missing or not a valid value.
        """
        present = data.get("present")
        return cls(
            scan_id=scan_id,
            present=tuple(PresentUser.from_dict(u) for u in present or ()),
            reviewers=int(_field(data, "reviewers", "presence")),
            submitters=int(_field(data, "submitters", "presence")),
            detailed=present is not None,
        )


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """A stored change of a scan, numbered by the scan's ``seq``.

    Who may receive the event is decided from these fields by
    :mod:`taskstream_core._rooms`.

    Attributes:
        type: What changed.
        scan_id: The scan the event belongs to.
        seq: Its number in the scan's sequence: each stored change takes the next one.
        task: For ``task:*`` events, the task as it is after the change.
        scan: For ``scan:updated``, the scan as it is after the change.
        stats: For ``scan:stats``, the scan's statistics (never stored).
        task_id: For ``task:claimed``, the task whose claim changed.
        claim: For ``task:claimed``, the claim now, or None when it ended.
        presence: For ``scan:presence``, who is present, in the shape of the
            viewer it goes to (None on the broker's "presence changed" notice).
        claim_version: For ``task:claimed``, the claim registry's version of the
            change announced: a later change of the task's claim has a higher one;
            0 when unknown. Internal: in the record (:meth:`to_record`, left out
            when 0), never in the envelope, and not compared.
    """

    type: EventType
    scan_id: str
    seq: int
    task: Task | None = None
    scan: Scan | None = None
    stats: ScanStats | None = None
    task_id: str | None = None
    claim: Claim | None = None
    presence: Presence | None = None
    claim_version: int = dataclasses.field(default=0, compare=False)

    @property
    def worker_id(self) -> str | None:
        """The worker the event concerns, or None when it concerns every viewer."""
        return self.task.worker_id if self.task is not None else None

    def to_envelope(self) -> dict[str, Any]:
        """The contract's event envelope, as a viewer receives it.

        Returns:
            ``{"type", "scan_id", "seq"}`` plus ``task``, ``scan`` or ``stats``; a
            notice has no ``seq``: ``{"type", "scan_id", "task_id", "claim"}`` for
            ``task:claimed``, ``{"type", "scan_id"}`` and the presence object's
            fields for ``scan:presence``.
        """
        if self.type.is_notice:
            return self._notice_body(self.claim.to_dict() if self.claim is not None else None)
        body: dict[str, Any] = {"type": self.type.value, "scan_id": self.scan_id, "seq": self.seq}
        if self.task is not None:
            body["task"] = self.task.to_dict()
        if self.scan is not None:
            body["scan"] = self.scan.to_dict()
        if self.stats is not None:
            body["stats"] = self.stats.to_dict()
        return body

    def to_record(self) -> dict[str, Any]:
        """The event as a store or a broker keeps it (its task with ``created_seq``).

        A ``task:claimed`` also keeps its :attr:`claim_version`, unless 0.

        Returns:
            A JSON-ready object that :meth:`from_record` reads back into an equal event.
        """
        if self.type.is_notice:
            claim = self.claim.to_record() if self.claim is not None else None
            notice = {**self._notice_body(claim), "seq": self.seq}
            if self.claim_version:
                notice["claim_version"] = self.claim_version
            return notice
        body: dict[str, Any] = {"type": self.type.value, "scan_id": self.scan_id, "seq": self.seq}
        if self.task is not None:
            body["task"] = self.task.to_record()
        if self.scan is not None:
            body["scan"] = self.scan.to_dict()
        return body

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> ScanEvent:
        """Read an event back from what :meth:`to_record` wrote.

        Args:
            data: A stored event record.

        Returns:
            The event.

        Raises:
            ValueError: A field is missing.
            ValueError: The type, a status, a time or a claim version is not a valid value.
        """
        task = data.get("task")
        scan = data.get("scan")
        kind = EventType(_field(data, "type", "event"))
        scan_id = _field(data, "scan_id", "event")
        if kind.is_notice:
            claim = data.get("claim")
            version = data.get("claim_version") or 0
            if type(version) is not int or version < 0:
                raise ValueError(f"A claim version must be a whole number, not {version!r}.")
            return cls(
                type=kind,
                scan_id=scan_id,
                seq=int(data.get("seq", 0)),
                task_id=data.get("task_id"),
                claim=Claim.from_dict(claim, scan_id=scan_id) if claim else None,
                presence=Presence.from_dict(data, scan_id=scan_id) if "reviewers" in data else None,
                claim_version=version,
            )
        return cls(
            type=kind,
            scan_id=scan_id,
            seq=int(_field(data, "seq", "event")),
            task=Task.from_dict(task) if task else None,
            scan=Scan.from_dict(scan) if scan else None,
        )

    def _notice_body(self, claim: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type.value, "scan_id": self.scan_id}
        if self.type is EventType.TASK_CLAIMED:
            body["task_id"] = self.task_id
            body["claim"] = claim
        elif self.presence is not None:
            body.update(self.presence.to_dict())
        return body


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of a task: its submission, a verdict, or a verdict taken back.

    Attributes:
        seq: The scan seq of the change's event.
        at: When the change was made.
        action: What the change was.
        by_user_id: Who made it: the worker for ``created``, else the admin.
        by_username: That user's name.
        reason: The admin's reason on a refusal; None for every other action.
    """

    seq: int
    at: datetime
    action: HistoryAction
    by_user_id: str
    by_username: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's history entry.

        Returns:
            ``{"seq", "at", "action", "by": {"user_id", "username"}, "reason"}``.
        """
        return {
            "seq": self.seq,
            "at": format_time(self.at),
            "action": self.action.value,
            "by": {"user_id": self.by_user_id, "username": self.by_username},
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistoryEntry:
        """Read a history entry from its contract object (the inverse of :meth:`to_dict`).

        Args:
            data: A history entry as :meth:`to_dict` writes it.

        Returns:
            The entry.

        Raises:
            ValueError: A field is missing.
            ValueError: The action or the time is not a valid value.
        """
        by = _field(data, "by", "history entry")
        return cls(
            seq=int(_field(data, "seq", "history entry")),
            at=parse_time(_field(data, "at", "history entry")),
            action=HistoryAction(_field(data, "action", "history entry")),
            by_user_id=_field(by, "user_id", "history entry"),
            by_username=_field(by, "username", "history entry"),
            reason=data.get("reason"),
        )


@dataclass(frozen=True, slots=True)
class TaskHistory:
    """Every change of one task, in seq order: what ``GET /tasks/{id}/history`` answers.

    Attributes:
        task_id: The task.
        entries: Its changes, oldest first (by seq).
    """

    task_id: str
    entries: tuple[HistoryEntry, ...]

    def to_dict(self) -> dict[str, Any]:
        """The contract's task history.

        Returns:
            ``{"task_id", "entries": [...]}``.
        """
        return {"task_id": self.task_id, "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskHistory:
        """Read a task history from its contract object (the inverse of :meth:`to_dict`).

        Args:
            data: A task history as :meth:`to_dict` writes it.

        Returns:
            The history.

        Raises:
            ValueError: A field is missing or an entry is malformed.
        """
        return cls(
            task_id=_field(data, "task_id", "history"),
            entries=tuple(HistoryEntry.from_dict(e) for e in _field(data, "entries", "history")),
        )


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """One worker's submissions to a scan, by status.

    Attributes:
        worker_id: The worker's id.
        username: The worker's name.
        submitted: Every task the worker submitted to the scan.
        pending: Those that wait for a verdict.
        validated: Those an admin validated.
        refused: Those an admin refused.
    """

    worker_id: str
    username: str
    submitted: int = 0
    pending: int = 0
    validated: int = 0
    refused: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The contract's per-worker stats object.

        Returns:
            The fields of this object, by name.
        """
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
        """Read a worker's stats from the contract's object (the inverse of :meth:`to_dict`).

        Args:
            data: A per-worker stats object.

        Returns:
            The worker's stats.

        Raises:
            ValueError: A field is missing.
        """
        return cls(
            worker_id=_field(data, "worker_id", "worker stats"),
            username=_field(data, "username", "worker stats"),
            submitted=int(_field(data, "submitted", "worker stats")),
            pending=int(_field(data, "pending", "worker stats")),
            validated=int(_field(data, "validated", "worker stats")),
            refused=int(_field(data, "refused", "worker stats")),
        )


@dataclass(frozen=True, slots=True)
class ReviewerStats:
    """One admin's decisions in a scan.

    Attributes:
        admin_id: The admin's id.
        username: The admin's name.
        decided: The admin's decisions that stand (validated plus refused).
        validated: Those that validated a task.
        refused: Those that refused one.
        undone: The decisions the admin took back.
        decision_seconds_p50: The median time from submission to the admin's
            decisions that stand, in seconds, or None when none stands.
    """

    admin_id: str
    username: str
    decided: int = 0
    validated: int = 0
    refused: int = 0
    undone: int = 0
    decision_seconds_p50: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's per-reviewer stats object.

        Returns:
            The fields of this object, by name.
        """
        return {
            "admin_id": self.admin_id,
            "username": self.username,
            "decided": self.decided,
            "validated": self.validated,
            "refused": self.refused,
            "undone": self.undone,
            "decision_seconds_p50": self.decision_seconds_p50,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewerStats:
        """Read a reviewer's stats from the contract's object (the inverse of :meth:`to_dict`).

        Args:
            data: A per-reviewer stats object.

        Returns:
            The reviewer's stats.

        Raises:
            ValueError: A field is missing.
        """
        return cls(
            admin_id=_field(data, "admin_id", "reviewer stats"),
            username=_field(data, "username", "reviewer stats"),
            decided=int(_field(data, "decided", "reviewer stats")),
            validated=int(_field(data, "validated", "reviewer stats")),
            refused=int(_field(data, "refused", "reviewer stats")),
            undone=int(_field(data, "undone", "reviewer stats")),
            decision_seconds_p50=data.get("decision_seconds_p50"),
        )


@dataclass(frozen=True, slots=True)
class ScanStats:
    """A scan's live statistics: what ``GET /scans/{id}/stats`` and ``scan:stats`` carry.

    Attributes:
        scan_id: The scan.
        counts: Its tasks by status.
        submissions_last_minute: Tasks submitted in the last 60 seconds.
        decision_seconds_p50: The median time from submission to decision, in
            seconds, or None before the first decision.
        decision_seconds_p95: The 95th percentile of that time, or None.
        workers: Each worker's submissions.
        seq: The scan's seq the stats were computed at (0 when unknown).
        decisions_last_minute: Decisions of the last 60 seconds that still stand
            (an undone decision no longer counts).
        oldest_pending_at: When the earliest-submitted pending task was
            submitted, or None when nothing is pending.
        reviewers: Each admin who ever decided a task of the scan.
    """

    scan_id: str
    counts: ScanCounts
    submissions_last_minute: int
    decision_seconds_p50: float | None
    decision_seconds_p95: float | None
    workers: tuple[WorkerStats, ...]
    seq: int = 0
    decisions_last_minute: int = 0
    oldest_pending_at: datetime | None = None
    reviewers: tuple[ReviewerStats, ...] = ()

    @property
    def acceptance_rate(self) -> float | None:
        """The share of decided tasks that were validated (0 to 1), or None before any."""
        decided = self.counts.validated + self.counts.refused
        return None if decided == 0 else self.counts.validated / decided

    def to_dict(self) -> dict[str, Any]:
        """The contract's ``ScanStats`` object.

        Returns:
            The counts flattened (``total``, ``pending``...), ``acceptance_rate``,
            the percentiles, ``workers``, ``decisions_last_minute``,
            ``oldest_pending_at`` and ``reviewers``; without ``seq``.
        """
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
            "decisions_last_minute": self.decisions_last_minute,
            "oldest_pending_at": _opt_time(self.oldest_pending_at),
            "reviewers": [r.to_dict() for r in self.reviewers],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, seq: int = 0) -> ScanStats:
        """Read the contract's stats object, as a client receives it.

        Args:
            data: A ``ScanStats`` object as :meth:`to_dict` writes it.
            seq: The seq the stats came with (an event's), or 0.

        Returns:
            The stats.

        Raises:
            ValueError: A field is missing.
        """
        oldest = data.get("oldest_pending_at")
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
            decisions_last_minute=int(data.get("decisions_last_minute", 0)),
            oldest_pending_at=parse_time(oldest) if oldest else None,
            reviewers=tuple(ReviewerStats.from_dict(r) for r in data.get("reviewers", ())),
        )
