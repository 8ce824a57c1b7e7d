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
from typing import Protocol, runtime_checkable

from ._plugins import load_adapter, scheme_of
from .models import Scan, ScanEvent, ScanStats, Task, TaskStatus, User

__all__ = [
    "STORE_SCHEMES",
    "NewTask",
    "Store",
    "open_store",
    "register_store",
]


@dataclass(frozen=True, slots=True)
class NewTask:
    """A submission as the service hands it to the store, before it has a seq."""

    id: str
    scan_id: str
    worker_id: str
    worker_username: str
    content: str
    created_at: datetime
    idempotency_key: str | None = None

    def stored(self, seq: int) -> Task:
        """The pending task this submission becomes once the store gave it ``seq``."""
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


@runtime_checkable
class Store(Protocol):
    """Durable state of a TaskStream deployment."""

    @property
    def url(self) -> str:
        """Where the data lives, credentials masked: safe to log."""

    async def open(self) -> None:
        """Connect and create the schema; raise ``Unavailable`` naming the URL on failure."""

    async def close(self) -> None:
        """Release connections and threads; data already acknowledged stays."""

    # -- users and credentials -------------------------------------------------
    async def create_user(self, user: User, password_hash: str) -> None:
        """Store a user; ``Conflict`` if the username is taken, ignoring case."""

    async def get_user(self, user_id: str) -> User | None:
        """The user with this id, or None."""

    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        """The user and password hash for a username matched ignoring case."""

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's hash (an upgrade after the policy grew)."""

    async def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        """Remember a logged-out token until it would have expired anyway."""

    async def is_token_revoked(self, token_id: str) -> bool:
        """Whether the token was logged out."""

    async def record_login_failure(self, username: str, at: datetime) -> None:
        """Count one failed login for a username (case-insensitive)."""

    async def login_failures_since(self, username: str, since: datetime) -> list[datetime]:
        """The failed logins for a username since a moment, oldest first."""

    async def clear_login_failures(self, username: str) -> None:
        """Forget a username's failures after a successful login."""

    async def claim_login_attempt(
        self, username: str, at: datetime, *, since: datetime, limit: int
    ) -> tuple[bool, list[datetime]]:
        """Record a failure at ``at`` unless ``limit`` are already later than ``since``.

        One atomic step, also between processes sharing the store: of any
        number of concurrent claims on one username (case-insensitive), no
        more than ``limit`` are recorded within a window. The caller counts an
        attempt as failed before checking it, and clears the failures if it
        succeeds.

        Returns:
            Whether the failure was recorded, and the username's failures
            later than ``since``, oldest first (including the new one).
        """

    # -- scans -------------------------------------------------------------------
    async def create_scan(self, scan: Scan) -> None:
        """Store a new, open scan with zero counts and seq 0."""

    async def get_scan(self, scan_id: str) -> Scan | None:
        """The scan with its current counts, or None."""

    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        """Scans, newest first."""

    async def close_scan(self, scan_id: str, at: datetime) -> ScanEvent | None:
        """Close a scan and record ``scan:updated``; None if it was closed already.

        Raises ``NotFound`` for an unknown scan.
        """

    async def latest_seq(self, scan_id: str) -> int:
        """The scan's latest seq (0 before its first event)."""

    # -- tasks -------------------------------------------------------------------
    async def create_task(self, task: NewTask) -> tuple[Task, ScanEvent | None]:
        """Store a submission and its ``task:created`` event in one atomic step.

        With an idempotency key this worker already used in this scan, return
        the task stored the first time and no event. Raises ``NotFound`` for an
        unknown scan and ``ScanClosed`` for a closed one.
        """

    async def decide_task(
        self, task_id: str, status: TaskStatus, *, reason: str | None, by: str, at: datetime
    ) -> ScanEvent:
        """Decide a pending task and record ``task:updated``, atomically.

        Of concurrent calls on one task exactly one succeeds; the others raise
        ``AlreadyDecided`` carrying the task as the winner left it. Raises
        ``NotFound`` for an unknown task.
        """

    async def get_task(self, task_id: str) -> Task | None:
        """The task with this id, or None."""

    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        """Tasks whose ``created_seq`` is above ``after``, oldest first."""

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        """The newest tasks first: by creation, or with ``decided`` by decision."""

    async def events_after(
        self, scan_id: str, seq: int, *, worker_id: str | None = None
    ) -> list[ScanEvent] | None:
        """Stored events with a seq above ``seq``, in order; None if some are no longer held.

        With ``worker_id`` only the events that worker may see: its own tasks'
        and the scan's own.
        """

    async def stats(self, scan_id: str, *, since: datetime) -> ScanStats:
        """The scan's analytics from counters kept with each change.

        ``submissions_last_minute`` counts tasks created at or after ``since``.
        Raises ``NotFound`` for an unknown scan.
        """


#: scheme → ``"module:factory"``; the factory takes the URL and returns a ``Store``.
STORE_SCHEMES: dict[str, str] = {
    "memory": "taskstream_core.stores.memory:MemoryStore.from_url",
    "sqlite": "taskstream_core.stores.sqlite:SQLiteStore.from_url",
    "mongodb": "taskstream_core.stores.mongodb:MongoStore.from_url",
    "mongodb+srv": "taskstream_core.stores.mongodb:MongoStore.from_url",
}


def register_store(scheme: str, target: str) -> None:
    """Teach :func:`open_store` a scheme: ``target`` is ``"module:factory"``."""
    STORE_SCHEMES[scheme.lower()] = target


def open_store(url: str) -> Store:
    """A store for ``url``, not yet opened: ``memory://``, ``sqlite:///path``, ...

    Raises ``ValueError`` for an unknown scheme, naming the known ones.
    """
    store = load_adapter("store", url, STORE_SCHEMES)
    if not isinstance(store, Store):
        raise TypeError(f"the {scheme_of(url)}:// factory did not return a Store")
    return store
