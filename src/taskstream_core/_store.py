"""The storage interface every adapter implements, and the URL registry.

A store is more than a key-value bag: each method that changes a scan is one
atomic step that also assigns the scan's next ``seq``, records the event and
updates the scan's counters, so that adapters can use what their engine does
best (a SQLite transaction, MongoDB's ``find_one_and_update``) and the rules
"exactly one decision wins" and "stats equal a recount" hold by construction.

Adapters are chosen by URL scheme; an adapter's module is imported only when
its scheme is used, so ``pymongo`` stays optional.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, runtime_checkable

from ._plugins import load_adapter, scheme_of
from .errors import Unauthorized
from .models import (
    HistoryAction,
    HistoryEntry,
    Role,
    Scan,
    ScanEvent,
    ScanStats,
    Task,
    TaskStatus,
    User,
)

__all__ = [
    "STORE_SCHEMES",
    "STORE_UNAVAILABLE",
    "NewTask",
    "Store",
    "check_user_role",
    "created_entry",
    "open_store",
    "register_store",
]

#: What a caller is told when the store cannot answer; the details go to the log only (they
#: name hosts, ports and the engine's internals).
STORE_UNAVAILABLE: Final = "The store cannot be reached right now; retry later."


@dataclass(frozen=True, slots=True)
class NewTask:
    """A submission as the service hands it to the store, before it has a seq.

    Attributes:
        id: The new task's id.
        scan_id: The scan it is submitted to.
        worker_id: The id of the submitting worker.
        worker_username: That worker's name.
        content: What the worker submitted.
        created_at: When the submission arrived.
        idempotency_key: The worker's key for retries: a second submission with
            the same key to the same scan returns the first task.
    """

    id: str
    scan_id: str
    worker_id: str
    worker_username: str
    content: str
    created_at: datetime
    idempotency_key: str | None = None

    def stored(self, seq: int) -> Task:
        """The pending task this submission becomes once the store gave it ``seq``.

        Args:
            seq: The seq of the task's ``task:created`` event.

        Returns:
            The task, pending, with ``seq`` and ``created_seq`` both ``seq``.
        """
        return Task(
            id=self.id,
            scan_id=self.scan_id,
            worker_id=self.worker_id,
            worker_username=self.worker_username,
            content=self.content,
            status=TaskStatus.PENDING,
            created_at=self.created_at,
            seq=seq,
            created_seq=seq,
        )


def created_entry(task: Task) -> HistoryEntry:
    """The ``created`` entry of a task's history, read off the task itself.

    What a submission records never changes while the task exists, so
    stores derive this entry from the task instead of writing it apart.

    Args:
        task: The task.

    Returns:
        The entry: the task's ``created_seq`` and ``created_at``, by its worker.
    """
    return HistoryEntry(
        task.created_seq,
        task.created_at,
        HistoryAction.CREATED,
        task.worker_id,
        task.worker_username,
    )


def check_user_role(stored: str | None, role: Role) -> None:
    """The ``check_user`` step of a store's writes: the acting user still holds ``role``.

    Args:
        stored: The role the store holds for the acting user's id (its value,
            such as ``"admin"``), or None if it holds no such user.
        role: The role the change needs.

    Raises:
        Unauthorized: The user is gone or has another role.
    """
    if stored != role.value:
        raise Unauthorized("This account no longer exists with this role; sign in again.")


@runtime_checkable
class Store(Protocol):
    """Durable state of a TaskStream deployment: users, scans, tasks and their events.

    Each method that changes a scan is one atomic step that assigns the scan's
    next ``seq``, records the event and updates the counters. Implementations
    ship for ``memory://``, ``sqlite:///`` and ``mongodb://``; see
    :func:`open_store` and :func:`register_store`.
    """

    @property
    def url(self) -> str:
        """Where the data lives, credentials masked: safe to log."""

    async def open(self) -> None:
        """Connect and create the schema if it is missing.

        Raises:
            Unavailable: The database cannot be reached or opened (the message names
                the masked URL).
        """

    async def close(self) -> None:
        """Release connections and threads; data already acknowledged stays."""

    # -- users and credentials -------------------------------------------------
    async def create_user(self, user: User, password_hash: str) -> None:
        """Store a new user with their password hash.

        Args:
            user: The user.
            password_hash: The hash :class:`~taskstream_core.PasswordHasher` made.

        Raises:
            Conflict: The username is taken, ignoring case.
        """

    async def get_user(self, user_id: str) -> User | None:
        """Look a user up by id.

        Args:
            user_id: The user's id.

        Returns:
            The user, or None if there is none with this id.
        """

    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        """Look up what a login checks, by username ignoring case.

        Args:
            username: The name the user signs in with.

        Returns:
            The user and their password hash, or None for an unknown username.
        """

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash (an upgrade after the hashing policy grew).

        Args:
            user_id: The user's id.
            password_hash: The new hash.
        """

    async def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        """Remember a logged-out token until it would have expired anyway.

        Args:
            token_id: The token's id (its ``jti``).
            expires_at: When the token expires; the store may forget it after that.
        """

    async def is_token_revoked(self, token_id: str) -> bool:
        """Check whether a token was logged out.

        Args:
            token_id: The token's id (its ``jti``).

        Returns:
            True if :meth:`revoke_token` was called for it and it has not expired.
        """

    async def release_login_attempt(self, username: str, at: datetime) -> None:
        """Forget the one attempt recorded at ``at``: the successful one's claim.

        Only that attempt goes (if several of the username's share ``at``, one
        of them); the other failures stay in their window. Nothing happens when
        none was recorded at ``at``.

        Args:
            username: The username (case-insensitive).
            at: The time :meth:`claim_login_attempt` recorded the attempt at.
        """

    async def claim_login_attempt(
        self, username: str, at: datetime, *, since: datetime, limit: int
    ) -> tuple[bool, list[datetime]]:
        """Record a failure at ``at`` unless ``limit`` are already later than ``since``.

        One atomic step, also between processes sharing the store: of any
        number of concurrent claims on one username (case-insensitive), no
        more than ``limit`` are recorded within a window. The caller counts an
        attempt as failed before checking it, and releases that one
        attempt (:meth:`release_login_attempt`) if it succeeds.

        Args:
            username: The username the attempt names.
            at: When the attempt was made.
            since: The start of the throttle's window.
            limit: How many failures the window allows.

        Returns:
            Whether the failure was recorded, and the username's failures
            later than ``since``, oldest first (including the new one).
        """

    # -- scans -------------------------------------------------------------------
    async def create_scan(self, scan: Scan) -> None:
        """Store a new, open scan with zero counts and seq 0.

        Args:
            scan: The scan.

        Raises:
            Conflict: A scan with this id exists.
        """

    async def get_scan(self, scan_id: str) -> Scan | None:
        """Look a scan up by id.

        Args:
            scan_id: The scan's id.

        Returns:
            The scan with its current counts, or None if there is none.
        """

    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        """List scans, newest first.

        Args:
            include_closed: Whether closed scans are listed too.

        Returns:
            The scans with their current counts.
        """

    async def close_scan(self, scan_id: str, at: datetime) -> ScanEvent | None:
        """Close a scan and record its ``scan:updated`` event, atomically.

        Args:
            scan_id: The scan's id.
            at: When it is closed.

        Returns:
            The ``scan:updated`` event, or None if the scan was closed already.

        Raises:
            NotFound: There is no such scan.
        """

    async def latest_seq(self, scan_id: str) -> int:
        """Read a scan's latest seq.

        Args:
            scan_id: The scan's id.

        Returns:
            The seq of its latest event, 0 before the first (or for an unknown scan).
        """

    # -- tasks -------------------------------------------------------------------
    async def create_task(
        self, task: NewTask, *, check_user: bool = False
    ) -> tuple[Task, ScanEvent | None]:
        """Store a submission and its ``task:created`` event in one atomic step.

        Args:
            task: The submission.
            check_user: Refuse the submission unless ``task.worker_id`` names a
                stored user with the worker role. The check comes first (before
                a replay is answered too) and belongs to the step, in its
                transaction where the engine allows, so that a deleted or
                demoted account changes nothing.

        Returns:
            The stored task and its ``task:created`` event; with an idempotency
            key this worker already used in this scan, the task stored the
            first time and None.

        Raises:
            Unauthorized: ``check_user`` is set and the worker is not a stored
                worker (any more).
            NotFound: There is no such scan.
            ScanClosed: The scan is closed.
        """

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
        """Decide a pending task and record its ``task:updated`` event, atomically.

        Of concurrent calls on one task exactly one succeeds. The same step
        adds the decision to the task's history and to the deciding admin's
        counters (``ScanStats.reviewers``).

        Args:
            task_id: The task's id.
            status: The verdict, ``validated`` or ``refused``.
            reason: The admin's reason, or None.
            by: The id of the deciding admin.
            at: When the decision was made.
            by_username: The deciding admin's name, for the history and the
                reviewers' stats; None records the id in its place.
            check_user: Refuse the decision unless ``by`` names a stored user
                with the admin role, checked first, as for :meth:`create_task`.

        Returns:
            The ``task:updated`` event, carrying the decided task.

        Raises:
            Unauthorized: ``check_user`` is set and ``by`` is not a stored admin
                (any more).
            NotFound: There is no such task.
            AlreadyDecided: The task was decided already; the error carries it
                as the first decision left it.
        """

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
        """Take a decision back and record the task's ``task:updated`` event, atomically.

        A conditional write: it applies only while the task is still decided by
        ``by`` and its seq is still ``seq`` (as the caller read it), so an undo
        never overwrites a change it did not see; of concurrent undos of one
        decision exactly one succeeds. The task is pending again (no reason,
        decider or decision time) with the scan's next seq; the scan's and the
        worker's counters, the decision-latency samples and the admin's
        counters revert, the admin's ``undone`` count grows, and an ``undone``
        entry joins the task's history. A closed scan is no obstacle, as for
        a decision.

        Args:
            task_id: The task's id.
            seq: The task's seq as the caller read it (its decision's seq).
            by: The id of the admin who decided it and now takes it back.
            at: When the undo is made.
            by_username: That admin's name, for the history; None records the
                id in its place.
            check_user: Refuse the undo unless ``by`` names a stored user with
                the admin role, checked first, as for :meth:`create_task`.

        Returns:
            The ``task:updated`` event, carrying the pending task.

        Raises:
            Unauthorized: ``check_user`` is set and ``by`` is not a stored admin
                (any more).
            NotFound: There is no such task.
            Conflict: The task is pending, was decided by another admin, or
                changed since it was read (its seq is no longer ``seq``).
        """

    async def task_history(self, task_id: str) -> list[HistoryEntry]:
        """Read every change of a task, in seq order.

        History is kept apart from the event log, which forgets old events:
        nothing is dropped from it while the task exists. Tasks stored before
        the store kept history have the entries their row proves: ``created``,
        and the decision they carry.

        Args:
            task_id: The task's id.

        Returns:
            The task's history entries, oldest first; empty for an unknown task.
        """

    async def get_task(self, task_id: str) -> Task | None:
        """Look a task up by id.

        Args:
            task_id: The task's id.

        Returns:
            The task, or None if there is none with this id.
        """

    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        """List a scan's tasks in submission order, from a cursor.

        Args:
            scan_id: The scan's id.
            worker_id: Only this worker's tasks, when given.
            status: Only tasks in this status, when given.
            after: Only tasks whose ``created_seq`` is above this (a page's cursor).
            limit: At most this many tasks.

        Returns:
            The tasks, oldest first.
        """

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        """List a scan's most recent tasks, newest first.

        Args:
            scan_id: The scan's id.
            worker_id: Only this worker's tasks, when given.
            decided: When True, only decided tasks, by decision time; otherwise
                every task, by creation.
            limit: At most this many tasks.

        Returns:
            The tasks, newest first.
        """

    async def events_after(
        self, scan_id: str, seq: int, *, worker_id: str | None = None
    ) -> list[ScanEvent] | None:
        """Read a scan's stored events after a seq, to resume a viewer.

        Args:
            scan_id: The scan's id.
            seq: The last seq the viewer has.
            worker_id: When given, only the events that worker may see: its own
                tasks' and the scan's own.

        Returns:
            The events with a seq above ``seq``, in order; None if the store no
            longer holds them all (the viewer must start from a snapshot).
        """

    async def stats(self, scan_id: str, *, since: datetime) -> ScanStats:
        """Compute a scan's statistics from the counters kept with each change.

        Args:
            scan_id: The scan's id.
            since: ``submissions_last_minute`` counts tasks created at or after
                this, ``decisions_last_minute`` the standing decisions made at or
                after it.

        Returns:
            The statistics, as of the scan's latest seq.

        Raises:
            NotFound: There is no such scan.
        """


#: scheme → ``"module:factory"``; the factory takes the URL and returns a ``Store``.
STORE_SCHEMES: dict[str, str] = {
    "memory": "taskstream_core.stores.memory:MemoryStore.from_url",
    "sqlite": "taskstream_core.stores.sqlite:SQLiteStore.from_url",
    "mongodb": "taskstream_core.stores.mongodb:MongoStore.from_url",
    "mongodb+srv": "taskstream_core.stores.mongodb:MongoStore.from_url",
}


def register_store(scheme: str, target: str) -> None:
    """Teach :func:`open_store` a scheme.

    Args:
        scheme: The URL scheme, without ``://`` (case-insensitive).
        target: ``"module:factory"``; the factory takes the URL and returns a
            :class:`Store`. The module is imported at the scheme's first use.

    Example:
        ```python
        register_store("postgres", "my_app.pg_store:PostgresStore.from_url")
        store = open_store("postgres://db.internal/taskstream")
        ```
    """
    STORE_SCHEMES[scheme.lower()] = target


def open_store(url: str) -> Store:
    """Make the store for a URL, not yet opened.

    Args:
        url: ``memory://``, ``sqlite:///path/to/file.db``, ``mongodb://host/db``,
            or a scheme added by :func:`register_store`.

    Returns:
        The store; call :meth:`Store.open` before use.

    Raises:
        ValueError: No adapter is registered for the scheme (the message names the known ones).
        ImportError: The adapter's optional dependency is not installed.
        TypeError: The registered factory did not return a :class:`Store`.

    Example:
        ```python
        store = open_store("sqlite:///var/lib/taskstream/data.db")
        await store.open()
        ```
    """
    store = load_adapter("store", url, STORE_SCHEMES)
    if not isinstance(store, Store):
        raise TypeError(f"the {scheme_of(url)}:// factory did not return a Store")
    return store
