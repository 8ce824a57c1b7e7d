"""The use cases of TaskStream, free of any transport.

:class:`TaskStream` is what an integration holds: HTTP routes and Socket.IO
handlers call one method each, passing the authenticated :class:`Principal`
and the raw values the client sent. Every method validates its input, asks
:mod:`taskstream_core._rbac`, changes the store, and only then publishes the
stored event, so an acknowledgement always means "stored" and a live event
never runs ahead of the data.

The reviewers' side, claims and presence (contract §4), is
:class:`~taskstream_core._reviewers.Reviewers` in :mod:`taskstream_core._reviewers`:
``TaskStream`` owns one and its claim and presence methods delegate to it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

from ._accounts import Accounts, LoginThrottle
from ._broker import Broker
from ._fanout import Fanout, LiveObserver
from ._ids import new_id
from ._passwords import PasswordHasher
from ._rbac import Permission, authorize, can
from ._reviewers import Reviewers
from ._rooms import may_see, may_see_task
from ._stats_feed import StatsFeed
from ._store import NewTask, Store
from ._tokens import TokenIssuer
from ._validation import (
    MAX_PAGE_LIMIT,
    check_decision,
    check_description,
    check_id,
    check_idempotency_key,
    check_limit,
    check_reason,
    check_scan_name,
    check_seq,
    check_status_filter,
    check_task_content,
)
from .brokers.memory import MemoryBroker
from .errors import Conflict, InvalidRequest, NotFound
from .models import (
    Claim,
    EventType,
    Presence,
    Principal,
    Scan,
    ScanEvent,
    ScanStats,
    ScanStatus,
    Task,
    TaskHistory,
    TaskStatus,
    utc_now,
)

__all__ = [
    "ADMIN_SNAPSHOT_DECIDED",
    "DEFAULT_UNDO_SECONDS",
    "WORKER_SNAPSHOT_TASKS",
    "JoinResult",
    "TaskPage",
    "TaskStream",
]

#: How many decided tasks an admin's join snapshot carries besides every pending one.
ADMIN_SNAPSHOT_DECIDED = 100
#: How many of its own tasks a worker's join snapshot carries.
WORKER_SNAPSHOT_TASKS = 500
#: How many seconds after a decision its admin may take it back, unless told otherwise.
DEFAULT_UNDO_SECONDS = 10.0

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a scan's tasks, oldest first, and where the next page starts.

    Attributes:
        tasks: The tasks of this page.
        next_cursor: Pass it as ``cursor`` for the next page; None on the last page.
    """

    tasks: list[Task]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        """The contract's task page.

        Returns:
            ``{"tasks": [...], "next_cursor": ...}``.
        """
        return {"tasks": [t.to_dict() for t in self.tasks], "next_cursor": self.next_cursor}


@dataclass(frozen=True, slots=True)
class JoinResult:
    """What a viewer gets on joining a scan: a snapshot, or the events it missed.

    Attributes:
        scan: The scan, as of the join.
        seq: The scan's seq the answer is cut at; live events follow from the next one.
        tasks: The snapshot: the tasks the viewer may see and needs live (None
            when ``events`` answers instead).
        events: On a resume, the events after ``since_seq`` the viewer may see,
            in order (None when a snapshot answers).
        reset: True when a resume could not be served from the store's events and
            a snapshot answers instead: the viewer must replace what it holds.
        presence: Who is present, the joiner included, in the shape the viewer may
            see (None when not read).
        claims: An admin's snapshot: every live claim of the scan (None on a
            resume, and for a worker).
        claim_version: The claim registry's version that ``claims`` were read after:
            every change of a claim up to it is in them. 0 without ``claims``.
            Internal: not in :meth:`to_dict`, and not compared.
    """

    scan: Scan
    seq: int
    tasks: list[Task] | None = None
    events: list[ScanEvent] | None = None
    reset: bool = False
    presence: Presence | None = None
    claims: list[Claim] | None = None
    claim_version: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The contract's join answer.

        Returns:
            ``{"scan", "seq"}`` plus ``events`` on a resume, or ``tasks`` (and
            ``reset`` when true) for a snapshot; ``presence`` and ``claims`` when set.
        """
        body: dict[str, Any] = {"scan": self.scan.to_dict(), "seq": self.seq}
        if self.events is not None:
            body["events"] = [e.to_envelope() for e in self.events]
        else:
            body["tasks"] = [t.to_dict() for t in self.tasks or ()]
            if self.reset:
                body["reset"] = True
        if self.presence is not None:
            body["presence"] = self.presence.to_dict()
        if self.claims is not None:
            body["claims"] = [c.to_dict() for c in self.claims]
        return body


def encode_cursor(created_seq: int) -> str:
    return base64.urlsafe_b64encode(f"c{created_seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: object) -> int:
    """The ``created_seq`` a cursor of :func:`encode_cursor` carries; 0 for none.

    Raises:
        InvalidRequest: ``cursor`` is not one this server gives out: not such a
            text, or a number outside 0 to 2**63-1 (what every store can compare).
    """
    if cursor is None or cursor == "":
        return 0
    if isinstance(cursor, str) and len(cursor) <= 40:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        digits = text[1:]
        # ASCII only: str.isdigit() also takes "²" and "١", which int() reads or refuses.
        if text.startswith("c") and digits.isascii() and digits.isdigit():
            seq = int(digits)
            if seq < 2**63:
                return seq
    raise InvalidRequest("'cursor' is not a cursor this server gave out.")


@dataclass
class TaskStream:
    """The TaskStream application core: accounts, scans, tasks, live events.

    Use it as an async context manager (or call :meth:`start` and
    :meth:`stop`): it opens the store, starts the broker, and on stop waits
    for changes already under way to be stored and published.

    Every change is stored first, then published through the broker; the
    core's one fan-out (:attr:`fanout`) reads what the broker carries and
    delivers it to the viewers of this process (:class:`ViewerSession`).

    Args:
        store: Durable state (:func:`open_store`).
        tokens: Issues and verifies the bearer tokens.
        admin_invite_code: What registering an admin needs (16 random characters or more
                are safe; a shorter one is logged as a risk).
        broker: Carries events between processes; ``memory://`` for one process.
        hasher: The password policy.
        throttle: The login throttle.
        stats_interval: ``scan:stats`` are computed at most once per this many seconds.
        clock: The time source (tests pass a manual clock).
        reorder_window: Seconds an event waits for a missing earlier one before the
            store is read; None takes the broker's ``reorder_window``, else 0.5.
        queue_size: Events a viewer may have undelivered before it is closed as lagged.
        observer: Told of each event published and delivered (metrics).
        undo_seconds: How long after a decision its admin may undo it
            (:meth:`undo_task`); 0 turns undo off.
        claim_seconds: How long a claim lasts unless its holder claims the task again.
        presence_interval: ``scan:presence`` goes out at most once per this many
            seconds per scan.

    Claims and presence are shared through the broker when it offers a registry
    (``RedisBroker.claim_registry()`` and ``presence_registry()``); otherwise they
    are this process's own.

    Raises:
        ValueError: ``undo_seconds`` is negative or not a finite number.

    Attributes:
        accounts: Registration, login and token authentication
            (:class:`~taskstream_core.Accounts`).

    Example:
        ```python
        app = TaskStream(
            open_store("sqlite:///taskstream.db"),
            TokenIssuer(secret),
            admin_invite_code=invite_code,
        )
        async with app:
            principal = await app.accounts.authenticate(token)
            scans = await app.list_scans(principal)
        ```
    """

    store: Store
    tokens: TokenIssuer
    admin_invite_code: str
    broker: Broker = field(default_factory=MemoryBroker)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    stats_interval: float = 0.5
    clock: Callable[[], datetime] = utc_now
    reorder_window: float | None = None
    queue_size: int = 10_000
    observer: LiveObserver | None = None
    undo_seconds: float = DEFAULT_UNDO_SECONDS
    claim_seconds: float = 30.0
    presence_interval: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.undo_seconds < float("inf"):
            raise ValueError("undo_seconds must be a finite number of seconds, 0 or more")
        self.accounts = Accounts(
            self.store,
            self.tokens,
            hasher=self.hasher,
            admin_invite_code=self.admin_invite_code,
            throttle=self.throttle,
            clock=self.clock,
        )
        self._stats_feed = StatsFeed(self._publish_stats, self.stats_interval)
        self._inflight: set[asyncio.Task[Any]] = set()
        window = self.reorder_window
        if window is None:
            window = float(getattr(self.broker, "reorder_window", 0.5))
        #: Delivers what the broker carries to this process's viewers.
        self.fanout = Fanout(
            self.broker,
            self.store.events_after,
            reorder_window=window,
            queue_size=self.queue_size,
            stats_interval=self.stats_interval,
            observer=self.observer,
        )
        self._reviewers = Reviewers(
            self.broker,
            self.store,
            self.fanout,
            commit=self._commit,
            find_scan=self._scan,
            find_task=self._task,
            # Read when used, as this class's own calls read them: the fields may be reassigned.
            clock=lambda: self.clock(),  # noqa: PLW0108
            claim_seconds=lambda: self.claim_seconds,
            presence_interval=self.presence_interval,
        )

    async def start(self) -> None:
        """Open the store, start the broker and the fan-out.

        Raises:
            Unavailable: The store or the broker cannot be reached.
        """
        await self.store.open()
        await self.broker.start()
        self.fanout.start()
        self._reviewers.start()

    async def stop(self) -> None:
        """Stop the core; every viewer is closed.

        The changes under way are finished first (stored and published), then
        the broker, the fan-out and the store are stopped.
        """
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._reviewers.stop()
        await self._stats_feed.aclose()
        await self.broker.stop()
        await self.fanout.stop()
        await self.store.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- plumbing ----------------------------------------------------------------
    async def _commit(self, change: Coroutine[Any, Any, _T]) -> _T:
        """Run store-then-publish to completion even if the caller is cancelled.

        A client that disconnects mid-request must not leave a change stored
        but never announced.
        """
        task = asyncio.ensure_future(change)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _announce(self, event: ScanEvent) -> None:
        await self.fanout.publish(event)
        self._stats_feed.touch(event.scan_id)

    async def _publish_stats(self, scan_id: str) -> None:
        stats = await self._stats(scan_id)
        await self.fanout.publish(
            ScanEvent(type=EventType.SCAN_STATS, scan_id=scan_id, seq=stats.seq, stats=stats)
        )

    async def _scan(self, scan_id: object) -> Scan:
        scan = await self.store.get_scan(check_id(scan_id, "scan_id"))
        if scan is None:
            raise NotFound("No such scan.")
        return scan

    async def _task(self, task_id: object, name: str = "task_id") -> Task:
        task = await self.store.get_task(check_id(task_id, name))
        if task is None:
            raise NotFound("No such task.")
        return task

    # -- scans -------------------------------------------------------------------
    async def create_scan(
        self, principal: Principal, name: object, description: object = None
    ) -> Scan:
        """Create an open scan.

        Args:
            principal: The caller; must be an admin.
            name: The client's value: 1–200 characters.
            description: The client's value: up to 2,000 characters, or None.

        Returns:
            The new scan.

        Raises:
            Forbidden: The caller may not create scans.
            InvalidRequest: ``name`` or ``description`` breaks the contract's rules.
        """
        authorize(principal, Permission.SCAN_CREATE)
        scan = Scan(
            id=new_id(),
            name=check_scan_name(name),
            description=check_description(description),
            status=ScanStatus.OPEN,
            created_by=principal.user_id,
            created_at=self.clock(),
        )
        await self.store.create_scan(scan)
        return scan

    async def list_scans(self, principal: Principal) -> list[Scan]:
        """List the scans the caller may see, newest first.

        Args:
            principal: The caller; admins also see closed scans, workers only open ones.

        Returns:
            The scans with their current counts.
        """
        authorize(principal, Permission.SCAN_LIST)
        return await self.store.list_scans(
            include_closed=can(principal, Permission.SCAN_LIST_CLOSED)
        )

    async def get_scan(self, principal: Principal, scan_id: object) -> Scan:
        """Read one scan.

        Args:
            principal: The caller.
            scan_id: The client's value.

        Returns:
            The scan with its current counts.

        Raises:
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
        """
        authorize(principal, Permission.SCAN_READ)
        return await self._scan(scan_id)

    async def close_scan(self, principal: Principal, scan_id: object) -> Scan:
        """Close a scan, so it accepts no more tasks; viewers receive ``scan:updated``.

        Closing a closed scan answers it as it is.

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.

        Returns:
            The scan, closed.

        Raises:
            Forbidden: The caller may not close scans.
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
        """
        authorize(principal, Permission.SCAN_CLOSE)
        scan = await self._scan(scan_id)
        return await self._commit(self._close(scan.id))

    async def _close(self, scan_id: str) -> Scan:
        event = await self.store.close_scan(scan_id, self.clock())
        if event is None:
            return await self._scan(scan_id)
        await self._announce(event)
        assert event.scan is not None
        return event.scan

    # -- tasks -------------------------------------------------------------------
    async def submit_task(
        self, principal: Principal, scan_id: object, content: object, idempotency_key: object = None
    ) -> tuple[Task, bool]:
        """Store a worker's submission; viewers receive ``task:created``.

        Args:
            principal: The caller; must be a worker.
            scan_id: The client's value.
            content: The client's value: 1–5,000 characters.
            idempotency_key: The client's value, up to 100 characters, or None: a
                retry with the same key returns the task stored the first time.

        Returns:
            The task, and whether it is new (False when the key was used before).

        Raises:
            Forbidden: The caller may not submit tasks.
            Unauthorized: The caller's account is gone or no longer a worker's
                (checked by the store, in the same step as the change).
            InvalidRequest: A value breaks the contract's rules.
            NotFound: No such scan.
            ScanClosed: The scan is closed.
        """
        authorize(principal, Permission.TASK_SUBMIT)
        draft = NewTask(
            id=new_id(),
            scan_id=check_id(scan_id, "scan_id"),
            worker_id=principal.user_id,
            worker_username=principal.username,
            content=check_task_content(content),
            created_at=self.clock(),
            idempotency_key=check_idempotency_key(idempotency_key),
        )
        return await self._commit(self._submit(draft))

    async def _submit(self, draft: NewTask) -> tuple[Task, bool]:
        task, event = await self.store.create_task(draft, check_user=True)
        if event is not None:
            await self._announce(event)
        return task, event is not None

    async def decide_task(
        self,
        principal: Principal,
        task_id: object,
        decision: object,
        reason: object = None,
        *,
        override: bool = False,
    ) -> Task:
        """Validate or refuse a pending task; viewers receive ``task:updated``.

        Of concurrent decisions on one task exactly one wins. A claim on the
        task ends with the decision (admins receive ``task:claimed`` with
        ``claim: null``).

        Args:
            principal: The caller; must be an admin.
            task_id: The client's value.
            decision: The client's value: ``"validated"`` or ``"refused"``.
            reason: The client's value: up to 1,000 characters, or None.
            override: Decide even though another admin holds the task (a client's
                value must be a boolean).

        Returns:
            The decided task.

        Raises:
            Forbidden: The caller may not decide tasks.
            Unauthorized: The caller's account is gone or no longer an admin's
                (checked by the store, in the same step as the change).
            InvalidRequest: A value breaks the contract's rules.
            NotFound: No such task.
            AlreadyDecided: Another decision won; the error carries the task.
            Conflict: Another admin holds the task and ``override`` is False; the
                error carries that admin's claim.
        """
        authorize(principal, Permission.TASK_DECIDE)
        tid = check_id(task_id, "task_id")
        status = check_decision(decision)
        why = check_reason(reason)
        if not isinstance(override, bool):
            raise InvalidRequest("'override' must be true or false.")
        if not override:
            held = await self._reviewers.held_by_another(tid, principal)
            if held is not None:
                raise Conflict("Another admin is deciding this task.", claim=held)
        return await self._commit(
            self._decide_ending_claim(tid, status, why, principal.user_id, principal.username)
        )

    async def _decide(
        self, task_id: str, status: TaskStatus, reason: str | None, by: str, by_username: str
    ) -> Task:
        event = await self.store.decide_task(
            task_id,
            status,
            reason=reason,
            by=by,
            at=self.clock(),
            by_username=by_username,
            check_user=True,
        )
        await self._announce(event)
        assert event.task is not None
        return event.task

    async def _decide_ending_claim(
        self, task_id: str, status: TaskStatus, reason: str | None, by: str, by_username: str
    ) -> Task:
        task = await self._decide(task_id, status, reason, by, by_username)
        await self._reviewers.end_claim(task.id)
        return task

    async def undo_task(self, principal: Principal, task_id: object) -> Task:
        """Take back the caller's decision; viewers receive ``task:updated``.

        Only the admin who decided the task may, and only within
        :attr:`undo_seconds` of ``decided_at``. The task is pending again with
        a new seq, stored before it is published; counts and stats revert and
        the task's history gains an ``undone`` entry. Of concurrent undos of
        one decision exactly one wins. A closed scan is no obstacle, as for a
        decision.

        Args:
            principal: The caller; must be an admin, the one who decided the task.
            task_id: The client's value.

        Returns:
            The task, pending again.

        Raises:
            Forbidden: The caller may not undo decisions (a worker).
            Unauthorized: The caller's account is gone or no longer an admin's
                (checked by the store, in the same step as the change).
            InvalidRequest: ``task_id`` is malformed.
            NotFound: No such task.
            Conflict: The task is pending, another admin decided it, the undo
                window has passed, undo is off (``undo_seconds`` 0), or another
                change of the task won the race.
        """
        authorize(principal, Permission.TASK_UNDO)
        tid = check_id(task_id, "task_id")
        return await self._commit(self._undo(tid, principal))

    async def _undo(self, task_id: str, principal: Principal) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound("No such task.")
        now = self.clock()
        self._check_undo(task, principal, now)
        event = await self.store.undo_task(
            task_id,
            seq=task.seq,
            by=principal.user_id,
            at=now,
            by_username=principal.username,
            check_user=True,
        )
        await self._announce(event)
        assert event.task is not None
        await self._reviewers.claim_undone(principal, event.task)
        return event.task

    def _check_undo(self, task: Task, principal: Principal, now: datetime) -> None:
        """Raise Conflict unless ``principal`` may undo ``task``'s decision at ``now``."""
        if self.undo_seconds <= 0:
            raise Conflict("Undo is turned off on this server.")
        if task.is_pending or task.decided_at is None:
            raise Conflict("This task is pending: there is no decision to undo.")
        if task.decided_by != principal.user_id:
            raise Conflict("Only the admin who decided this task may undo the decision.")
        if now - task.decided_at > timedelta(seconds=self.undo_seconds):
            raise Conflict(f"The {self.undo_seconds:g} s undo window of this decision has passed.")

    async def task_history(self, principal: Principal, task_id: object) -> TaskHistory:
        """Read every change of a task in seq order: any task for an admin, own ones for a worker.

        Args:
            principal: The caller.
            task_id: The client's value.

        Returns:
            The task's history: ``created``, then each ``validated``,
            ``refused`` and ``undone``, oldest first.

        Raises:
            Forbidden: The task is another worker's.
            InvalidRequest: ``task_id`` is malformed.
            NotFound: No such task.
        """
        task = await self._readable(principal, task_id, Permission.TASK_HISTORY)
        return TaskHistory(task.id, tuple(await self.store.task_history(task.id)))

    async def get_task(self, principal: Principal, task_id: object) -> Task:
        """Read one task: any task for an admin, only their own for a worker.

        Args:
            principal: The caller.
            task_id: The client's value.

        Returns:
            The task.

        Raises:
            Forbidden: The task is another worker's.
            InvalidRequest: ``task_id`` is malformed.
            NotFound: No such task.
        """
        return await self._readable(principal, task_id, Permission.TASK_READ)

    async def _readable(self, principal: Principal, task_id: object, need: Permission) -> Task:
        """The task, if ``principal`` holds ``need`` on it (a worker: on their own tasks)."""
        authorize(principal, need)
        task = await self._task(task_id)
        authorize(principal, need, owner_id=task.worker_id)
        return task

    async def list_tasks(
        self,
        principal: Principal,
        scan_id: object,
        *,
        status: object = None,
        limit: object = None,
        cursor: object = None,
    ) -> TaskPage:
        """Read a page of a scan's tasks, oldest first: all for admins, their own for workers.

        Args:
            principal: The caller.
            scan_id: The client's value.
            status: The client's value: ``pending``, ``validated``, ``refused``, or None for all.
            limit: The client's value: the page size, 1–500 (100 when None).
            cursor: The client's value: the previous page's ``next_cursor``, or None.

        Returns:
            The page.

        Raises:
            InvalidRequest: A value breaks the contract's rules.
            NotFound: No such scan.
        """
        authorize(principal, Permission.TASK_READ)
        wanted = check_status_filter(status)
        size = check_limit(limit)
        after = decode_cursor(cursor)
        scan = await self._scan(scan_id)
        tasks = await self.store.list_tasks(
            scan.id, worker_id=self._own_only(principal), status=wanted, after=after, limit=size + 1
        )
        more = len(tasks) > size
        tasks = tasks[:size]
        return TaskPage(tasks, encode_cursor(tasks[-1].created_seq) if more else None)

    def _own_only(self, principal: Principal) -> str | None:
        """None if the caller reads every task, else its own id to filter by."""
        return None if can(principal, Permission.TASK_READ, owner_id="") else principal.user_id

    async def iter_tasks(self, principal: Principal, scan_id: object) -> AsyncIterator[Task]:
        """Iterate over every task of a scan the caller may read, oldest first.

        Reads the store page by page, as :meth:`list_tasks` does.

        Args:
            principal: The caller.
            scan_id: The client's value.

        Yields:
            Each task.

        Raises:
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
        """
        cursor: str | None = None
        while True:
            page = await self.list_tasks(principal, scan_id, limit=MAX_PAGE_LIMIT, cursor=cursor)
            for task in page.tasks:
                yield task
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def export(self, principal: Principal, scan_id: object) -> tuple[Scan, list[Task]]:
        """Read a scan and every one of its tasks, for a download.

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.

        Returns:
            The scan and its tasks, oldest first; :func:`~taskstream_core.export_csv`
            and :func:`~taskstream_core.export_json` encode them.

        Raises:
            Forbidden: The caller may not export scans.
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
        """
        authorize(principal, Permission.SCAN_EXPORT)
        scan = await self._scan(scan_id)
        return scan, [t async for t in self.iter_tasks(principal, scan.id)]

    # -- analytics ----------------------------------------------------------------
    async def stats(self, principal: Principal, scan_id: object) -> ScanStats:
        """Compute a scan's statistics now (what ``scan:stats`` events also carry).

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.

        Returns:
            The statistics.

        Raises:
            Forbidden: The caller may not read statistics.
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
        """
        authorize(principal, Permission.SCAN_STATS)
        scan = await self._scan(scan_id)
        return await self._stats(scan.id)

    async def _stats(self, scan_id: str) -> ScanStats:
        return await self.store.stats(scan_id, since=self.clock() - timedelta(minutes=1))

    # -- live ----------------------------------------------------------------------
    async def join(
        self, principal: Principal, scan_id: object, since_seq: object = None
    ) -> JoinResult:
        """What a viewer needs on joining a scan, as of the scan's latest seq.

        Without ``since_seq``, a snapshot: the tasks the viewer may see and needs
        live. With it, the events after it that the viewer may see, or a snapshot
        with ``reset`` when the store no longer holds them all. Everything
        answered is as of ``JoinResult.seq``: a change after it is left out, to
        reach the viewer live. :class:`ViewerSession` cuts the live stream there.
        Either answer carries who is present, the joiner counted in, shaped for
        the viewer; an admin's snapshot also carries the scan's live claims.

        Args:
            principal: The viewer.
            scan_id: The scan.
            since_seq: The last seq the viewer has, to resume after it.

        Returns:
            The snapshot or the missed events, cut at ``JoinResult.seq``.

        Raises:
            Forbidden: The viewer may not join scans.
            InvalidRequest: ``scan_id`` or ``since_seq`` is malformed.
            NotFound: No such scan.
        """
        authorize(principal, Permission.SCAN_JOIN)
        since = check_seq(since_seq)
        sid = check_id(scan_id, "scan_id")
        # The seq first: what is read after it may be newer, and is cut back to it.
        latest = await self.store.latest_seq(sid)
        scan = await self._scan(sid)
        if since is not None and since <= latest:
            events = await self.store.events_after(
                scan.id, since, worker_id=self._own_only(principal)
            )
            if events is not None:
                seen = [e for e in events if e.seq <= latest and may_see(principal, e)]
                presence = await self._reviewers.joining_presence(principal, scan.id)
                return JoinResult(scan=scan, seq=latest, events=seen, presence=presence)
        # A task changed after `latest` reaches the viewer live, with its
        # event; in the snapshot as well it would arrive twice.
        tasks = [t for t in await self._snapshot(principal, scan.id) if t.seq <= latest]
        presence = await self._reviewers.joining_presence(principal, scan.id)
        claims, claim_version = await self._reviewers.snapshot_claims(principal, scan.id)
        return JoinResult(
            scan=scan,
            seq=latest,
            tasks=tasks,
            reset=since is not None,
            presence=presence,
            claims=claims,
            claim_version=claim_version,
        )

    async def _snapshot(self, principal: Principal, scan_id: str) -> list[Task]:
        worker_id = self._own_only(principal)
        if worker_id is not None:
            own = await self.store.recent_tasks(
                scan_id, worker_id=worker_id, limit=WORKER_SNAPSHOT_TASKS
            )
            tasks = own[::-1]
        else:
            pending: list[Task] = []
            after = 0
            while True:
                page = await self.store.list_tasks(
                    scan_id, status=TaskStatus.PENDING, after=after, limit=MAX_PAGE_LIMIT
                )
                pending.extend(page)
                if len(page) < MAX_PAGE_LIMIT:
                    break
                after = page[-1].created_seq
            decided = await self.store.recent_tasks(
                scan_id, decided=True, limit=ADMIN_SNAPSHOT_DECIDED
            )
            tasks = sorted(pending + decided, key=lambda t: t.created_seq)
        return [t for t in tasks if may_see_task(principal, t)]

    # -- claims ----------------------------------------------------------------------
    async def claim_task(self, principal: Principal, task_id: object) -> Claim:
        """Claim a pending task for the caller, or renew the caller's claim on it.

        An admin holds at most one claim per scan: claiming another task of the
        scan releases the previous one. The scan's admins receive ``task:claimed``.

        Args:
            principal: The caller; must be an admin.
            task_id: The client's value.

        Returns:
            The claim, lasting ``claim_seconds`` from now.

        Raises:
            Forbidden: The caller may not claim tasks.
            InvalidRequest: ``task_id`` is malformed.
            NotFound: No such task.
            AlreadyDecided: The task is no longer pending; the error carries it.
            Conflict: Another admin holds the task; the error carries that claim.
            Unavailable: The claims cannot be reached.
        """
        return await self._reviewers.claim_task(principal, task_id)

    async def release_task(self, principal: Principal, task_id: object) -> None:
        """Release the caller's claim on a task; nothing happens unless the caller holds it.

        Args:
            principal: The caller; must be an admin.
            task_id: The client's value.

        Raises:
            Forbidden: The caller may not claim tasks.
            InvalidRequest: ``task_id`` is malformed.
            NotFound: No such task.
            Unavailable: The claims cannot be reached.
        """
        await self._reviewers.release_task(principal, task_id)

    async def claim_next(
        self, principal: Principal, scan_id: object, after_task_id: object = None
    ) -> tuple[Task | None, Claim | None]:
        """Claim the oldest pending task of a scan that no other admin holds.

        The caller's own claim qualifies, and is renewed. Concurrent calls, on
        any process sharing the claims, hand out different tasks.

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.
            after_task_id: The client's value: only tasks after this one, oldest
                first, qualify (no wrap-around); None for the whole scan.

        Returns:
            The task and the caller's claim on it, or ``(None, None)`` when none qualifies.

        Raises:
            Forbidden: The caller may not claim tasks.
            InvalidRequest: A value is malformed, or ``after_task_id`` is a task of
                another scan.
            NotFound: No such scan, or no such ``after_task_id``.
            Unavailable: The claims cannot be reached.
        """
        return await self._reviewers.claim_next(principal, scan_id, after_task_id)

    async def list_claims(self, principal: Principal, scan_id: object) -> list[Claim]:
        """Read every live claim of a scan.

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.

        Returns:
            The claims, soonest to expire first.

        Raises:
            Forbidden: The caller may not claim tasks.
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
            Unavailable: The claims cannot be reached.
        """
        return await self._reviewers.list_claims(principal, scan_id)

    async def presence(self, principal: Principal, scan_id: object) -> Presence:
        """Read who is present in a scan: users with a viewer joined, on any process.

        Args:
            principal: The caller; must be an admin.
            scan_id: The client's value.

        Returns:
            The detailed presence.

        Raises:
            Forbidden: The caller may not see who is present.
            InvalidRequest: ``scan_id`` is malformed.
            NotFound: No such scan.
            Unavailable: The presence of other processes cannot be read.
        """
        return await self._reviewers.presence(principal, scan_id)
