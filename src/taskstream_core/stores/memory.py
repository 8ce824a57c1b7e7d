"""``memory://``: everything in dictionaries, nothing persisted.

The reference for what the other adapters must do, and a fast store for
tests (it ships with the library for users' own tests too). Each method runs
without awaiting, so on one event loop every change is atomic.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections import defaultdict
from datetime import datetime

from .._stats import decision_bucket, percentile
from .._store import NewTask, check_user_role, created_entry
from ..errors import AlreadyDecided, Conflict, NotFound, ScanClosed
from ..models import (
    EventType,
    HistoryAction,
    HistoryEntry,
    ReviewerStats,
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
)

__all__ = ["MemoryStore"]

_COUNTER = {
    TaskStatus.PENDING: "pending",
    TaskStatus.VALIDATED: "validated",
    TaskStatus.REFUSED: "refused",
}


@dataclasses.dataclass
class _ScanState:
    scan: Scan
    seq: int = 0
    tasks: list[Task] = dataclasses.field(default_factory=list)  # by created_seq
    events: list[ScanEvent] = dataclasses.field(default_factory=list)
    workers: dict[str, WorkerStats] = dataclasses.field(default_factory=dict)
    latency: defaultdict[int, int] = dataclasses.field(default_factory=lambda: defaultdict(int))
    idempotency: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    #: Creation times, sorted (not in seq order: clocks step back, submissions race),
    #: so "submissions in the last minute" is a bisection, not a scan of every task.
    created: list[datetime] = dataclasses.field(default_factory=list)
    #: Decision times of the decisions that stand, sorted (for ``decisions_last_minute``).
    decided: list[datetime] = dataclasses.field(default_factory=list)
    #: The created_seq of every pending task, sorted (the first is the oldest pending).
    pending: list[int] = dataclasses.field(default_factory=list)
    #: Per admin who ever decided: their counters, and their decision-latency histogram.
    reviewers: dict[str, ReviewerStats] = dataclasses.field(default_factory=dict)
    reviewer_latency: defaultdict[str, defaultdict[int, int]] = dataclasses.field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )


class MemoryStore:
    """A complete :class:`~taskstream_core.Store` in memory, for tests and demos.

    Nothing survives the process. Its methods are documented by the
    :class:`~taskstream_core.Store` protocol.

    Args:
        event_retention: How many of each scan's latest events are kept for
            resuming viewers; older ones are forgotten.

    Example:
        ```python
        app = TaskStream(
            MemoryStore(),
            TokenIssuer(generate_secret()),
            admin_invite_code=secrets.token_urlsafe(16),
        )
        ```
    """

    def __init__(self, *, event_retention: int = 10_000) -> None:
        self.event_retention = event_retention
        self._users: dict[str, User] = {}
        self._hashes: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._revoked: dict[str, datetime] = {}
        self._failures: defaultdict[str, list[datetime]] = defaultdict(list)
        self._scans: dict[str, _ScanState] = {}
        self._tasks: dict[str, Task] = {}
        self._history: dict[str, list[HistoryEntry]] = {}

    @classmethod
    def from_url(cls, url: str = "memory://") -> MemoryStore:
        """Make an empty store; what :func:`~taskstream_core.open_store` calls for ``memory://``.

        Args:
            url: ``memory://``; it carries no options.

        Returns:
            A new, empty store.
        """
        del url
        return cls()

    @property
    def url(self) -> str:
        return "memory://"

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # -- users ----------------------------------------------------------------------
    async def create_user(self, user: User, password_hash: str) -> None:
        key = user.username.lower()
        if key in self._by_name:
            raise Conflict("This username is taken.")
        self._by_name[key] = user.id
        self._users[user.id] = user
        self._hashes[user.id] = password_hash

    async def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def _check_user(self, user_id: str, role: Role) -> None:
        user = self._users.get(user_id)
        check_user_role(None if user is None else user.role.value, role)

    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        user_id = self._by_name.get(username.lower())
        if user_id is None:
            return None
        return self._users[user_id], self._hashes[user_id]

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        if user_id in self._users:
            self._hashes[user_id] = password_hash

    async def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        now = datetime.now(expires_at.tzinfo)
        for jti in [j for j, exp in self._revoked.items() if exp <= now]:
            del self._revoked[jti]
        self._revoked[token_id] = expires_at

    async def is_token_revoked(self, token_id: str) -> bool:
        return token_id in self._revoked

    async def release_login_attempt(self, username: str, at: datetime) -> None:
        failures = self._failures.get(username.lower())
        if failures and at in failures:
            failures.remove(at)  # one of them, if several share the time

    async def claim_login_attempt(
        self, username: str, at: datetime, *, since: datetime, limit: int
    ) -> tuple[bool, list[datetime]]:
        key = username.lower()
        recent = sorted(t for t in self._failures.get(key, ()) if t > since)
        recorded = len(recent) < limit
        if recorded:
            bisect.insort(recent, at)
        if recent or key in self._failures:
            self._failures[key] = recent
        return recorded, list(recent)

    # -- scans ----------------------------------------------------------------------
    async def create_scan(self, scan: Scan) -> None:
        if scan.id in self._scans:
            raise Conflict("A scan with this id exists.")
        self._scans[scan.id] = _ScanState(scan=dataclasses.replace(scan, counts=ScanCounts()))

    def _state(self, scan_id: str) -> _ScanState:
        state = self._scans.get(scan_id)
        if state is None:
            raise NotFound("No such scan.")
        return state

    async def get_scan(self, scan_id: str) -> Scan | None:
        state = self._scans.get(scan_id)
        return None if state is None else state.scan

    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        scans = [s.scan for s in self._scans.values() if include_closed or s.scan.is_open]
        return sorted(scans, key=lambda s: (s.created_at, s.id), reverse=True)

    def _record(self, state: _ScanState, event: ScanEvent) -> ScanEvent:
        state.events.append(event)
        if len(state.events) > self.event_retention:
            del state.events[: len(state.events) - self.event_retention]
        return event

    async def close_scan(self, scan_id: str, at: datetime) -> ScanEvent | None:
        state = self._state(scan_id)
        if not state.scan.is_open:
            return None
        state.seq += 1
        state.scan = dataclasses.replace(state.scan, status=ScanStatus.CLOSED, closed_at=at)
        return self._record(
            state,
            ScanEvent(EventType.SCAN_UPDATED, scan_id, state.seq, scan=state.scan),
        )

    async def latest_seq(self, scan_id: str) -> int:
        state = self._scans.get(scan_id)
        return 0 if state is None else state.seq

    # -- tasks ----------------------------------------------------------------------
    def _count(self, state: _ScanState, worker_id: str, status: TaskStatus, delta: int) -> None:
        name = _COUNTER[status]
        counts = state.scan.counts
        state.scan = dataclasses.replace(
            state.scan,
            counts=dataclasses.replace(counts, **{name: getattr(counts, name) + delta}),
        )
        stats = state.workers[worker_id]
        state.workers[worker_id] = dataclasses.replace(
            stats, **{name: getattr(stats, name) + delta}
        )

    async def create_task(
        self, task: NewTask, *, check_user: bool = False
    ) -> tuple[Task, ScanEvent | None]:
        if check_user:
            self._check_user(task.worker_id, Role.WORKER)
        state = self._state(task.scan_id)
        if task.idempotency_key is not None:
            first = state.idempotency.get((task.worker_id, task.idempotency_key))
            if first is not None:
                return self._tasks[first], None
        if not state.scan.is_open:
            raise ScanClosed()
        state.seq += 1
        stored = task.stored(state.seq)
        self._tasks[stored.id] = stored
        state.tasks.append(stored)
        bisect.insort(state.created, stored.created_at)
        if task.idempotency_key is not None:
            state.idempotency[(task.worker_id, task.idempotency_key)] = stored.id
        worker = state.workers.get(task.worker_id) or WorkerStats(
            task.worker_id, task.worker_username
        )
        state.workers[task.worker_id] = dataclasses.replace(worker, submitted=worker.submitted + 1)
        self._count(state, task.worker_id, TaskStatus.PENDING, +1)
        bisect.insort(state.pending, stored.created_seq)
        event = ScanEvent(EventType.TASK_CREATED, task.scan_id, state.seq, task=stored)
        return stored, self._record(state, event)

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
        if check_user:
            self._check_user(by, Role.ADMIN)
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound("No such task.")
        if not task.is_pending:
            raise AlreadyDecided(task=task)
        state = self._state(task.scan_id)
        state.seq += 1
        decided = task.decided(status, reason=reason, by=by, at=at, seq=state.seq)
        self._tasks[task_id] = decided
        index = _find(state.tasks, task.created_seq)
        state.tasks[index] = decided
        self._count(state, task.worker_id, TaskStatus.PENDING, -1)
        self._count(state, task.worker_id, status, +1)
        state.latency[decision_bucket(task.created_at, at)] += 1
        self._decision_counted(state, decided, by_username or by, +1)
        action = HistoryAction(status.value)
        self._history.setdefault(task_id, []).append(
            HistoryEntry(
                state.seq,
                at,
                action,
                by,
                by_username or by,
                reason if action is HistoryAction.REFUSED else None,
            )
        )
        return self._record(
            state, ScanEvent(EventType.TASK_UPDATED, task.scan_id, state.seq, task=decided)
        )

    def _decision_counted(
        self, state: _ScanState, decided: Task, username: str, delta: int
    ) -> None:
        """Count a standing decision in (+1) or out (-1): reviewer figures, times, pending."""
        assert decided.decided_by is not None
        assert decided.decided_at is not None
        admin = decided.decided_by
        reviewer = state.reviewers.get(admin) or ReviewerStats(admin, username)
        name = _COUNTER[decided.status]
        state.reviewers[admin] = dataclasses.replace(
            reviewer,
            decided=reviewer.decided + delta,
            undone=reviewer.undone + (delta < 0),
            **{name: getattr(reviewer, name) + delta},
        )
        state.reviewer_latency[admin][decision_bucket(decided.created_at, decided.decided_at)] += (
            delta
        )
        if delta > 0:
            bisect.insort(state.decided, decided.decided_at)
            del state.pending[bisect.bisect_left(state.pending, decided.created_seq)]
        else:
            del state.decided[bisect.bisect_left(state.decided, decided.decided_at)]
            bisect.insort(state.pending, decided.created_seq)

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
        if check_user:
            self._check_user(by, Role.ADMIN)
        task = self._tasks.get(task_id)
        if task is None:
            raise NotFound("No such task.")
        if task.is_pending:
            raise Conflict("This task is pending: there is no decision to undo.")
        if task.decided_by != by:
            raise Conflict("Only the admin who decided this task may undo the decision.")
        if task.seq != seq:
            raise Conflict("This task changed since it was read; read it again.")
        assert task.decided_at is not None
        state = self._state(task.scan_id)
        state.seq += 1
        pending = task.undone(seq=state.seq)
        self._tasks[task_id] = pending
        state.tasks[_find(state.tasks, task.created_seq)] = pending
        self._count(state, task.worker_id, task.status, -1)
        self._count(state, task.worker_id, TaskStatus.PENDING, +1)
        state.latency[decision_bucket(task.created_at, task.decided_at)] -= 1
        self._decision_counted(state, task, by_username or by, -1)
        self._history.setdefault(task_id, []).append(
            HistoryEntry(state.seq, at, HistoryAction.UNDONE, by, by_username or by)
        )
        return self._record(
            state, ScanEvent(EventType.TASK_UPDATED, task.scan_id, state.seq, task=pending)
        )

    async def task_history(self, task_id: str) -> list[HistoryEntry]:
        task = self._tasks.get(task_id)
        if task is None:
            return []
        return [created_entry(task), *self._history.get(task_id, ())]

    async def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        state = self._scans.get(scan_id)
        if state is None:
            return []
        found: list[Task] = []
        for task in state.tasks[_find_after(state.tasks, after) :]:
            if (worker_id is None or task.worker_id == worker_id) and (
                status is None or task.status is status
            ):
                found.append(task)
                if len(found) >= limit:
                    break
        return found

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        state = self._scans.get(scan_id)
        if state is None:
            return []
        tasks = [
            t
            for t in state.tasks
            if (worker_id is None or t.worker_id == worker_id) and not (decided and t.is_pending)
        ]
        order = (lambda t: t.seq) if decided else (lambda t: t.created_seq)
        return sorted(tasks, key=order, reverse=True)[:limit]

    async def events_after(
        self, scan_id: str, seq: int, *, worker_id: str | None = None
    ) -> list[ScanEvent] | None:
        state = self._scans.get(scan_id)
        if state is None:
            return []
        oldest = state.events[0].seq if state.events else state.seq + 1
        if seq < oldest - 1:
            return None
        return [
            e
            for e in state.events
            if e.seq > seq and (worker_id is None or e.worker_id in (None, worker_id))
        ]

    async def stats(self, scan_id: str, *, since: datetime) -> ScanStats:
        state = self._state(scan_id)
        recent = len(state.created) - bisect.bisect_left(state.created, since)
        buckets = list(state.latency.items())
        oldest = None
        if state.pending:
            oldest = state.tasks[_find(state.tasks, state.pending[0])].created_at
        reviewers = tuple(
            dataclasses.replace(
                r,
                decision_seconds_p50=percentile(state.reviewer_latency[r.admin_id].items(), 0.5),
            )
            for r in sorted(
                state.reviewers.values(), key=lambda r: (r.username.lower(), r.admin_id)
            )
        )
        return ScanStats(
            scan_id=scan_id,
            counts=state.scan.counts,
            submissions_last_minute=recent,
            decision_seconds_p50=percentile(buckets, 0.5),
            decision_seconds_p95=percentile(buckets, 0.95),
            workers=tuple(sorted(state.workers.values(), key=lambda w: w.username.lower())),
            seq=state.seq,
            decisions_last_minute=len(state.decided) - bisect.bisect_left(state.decided, since),
            oldest_pending_at=oldest,
            reviewers=reviewers,
        )


def _find(tasks: list[Task], created_seq: int) -> int:
    index = _find_after(tasks, created_seq - 1)
    if index >= len(tasks) or tasks[index].created_seq != created_seq:
        raise LookupError(created_seq)
    return index


def _find_after(tasks: list[Task], after: int) -> int:
    """The index of the first task whose created_seq is above ``after``."""
    return bisect.bisect_right(tasks, after, key=lambda t: t.created_seq)
