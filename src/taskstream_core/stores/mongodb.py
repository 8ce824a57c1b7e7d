"""``mongodb://host:port/dbname``: MongoDB through pymongo's native ``AsyncMongoClient``.

The server must be a replica-set member or a mongos: every change of a scan
(a submission, a decision, closing) is one multi-document transaction, and
``open()`` refuses a standalone server with ``ValueError`` saying so. A
single-node replica set is enough (``mongod --replSet rs0``, then
``rs.initiate()``).

A change updates the scan document first: it allocates the scan's next
``seq`` with ``$inc`` and applies the counters kept there (``counts``,
``workers.<id>``, the ``latency`` histogram, ``reviewers.<id>``), conditioned
on the scan being open where that matters. Then the task and the event documents are written,
and the transaction commits with write concern ``majority`` (unless the URL
sets one). Layout and indexes: ``_mongo_schema.py``.

- Commits of one scan are serialised by the scan document, so a reader
  sees a scan's ``seq`` only with every change up to it, tasks, events and
  counters: a gap-free prefix. A crash or an outage before the commit
  leaves nothing. One during the commit may leave the change committed
  but unanswered (``Unavailable``): a retry with the same idempotency key
  is answered with the stored task.
- A decision is an update of the task conditioned on ``status: "pending"``:
  of two concurrent ones the second hits a write conflict, is retried on a
  fresh snapshot, finds the task decided and raises ``AlreadyDecided`` with
  the winner.
- An undo is an update of the task conditioned on the decider and the seq
  the caller read: of concurrent ones, or an undo racing another process's
  change, one wins and the others raise ``Conflict``. It reverts the
  counters a decision applied and counts the admin's ``undone``. A task's
  history entries (``history``) are written in the same transaction as the
  change; they are never pruned.
- A replayed idempotency key makes the task insert fail on the unique
  partial index: the transaction is undone, seq and all, and the first task
  is answered.
- Within one process, changes of a scan are serialised by an asyncio lock,
  which spares them each other's write conflicts; between processes, a
  write conflict is retried with a jittered backoff.
- A process killed inside a transaction leaves it open on the server,
  holding its scan document until the server reaps it
  (``transactionLifetimeLimitSeconds``, 60 s by default): changes of that
  scan answer ``Unavailable`` until then.

Errors: ``ConnectionFailure`` (``AutoReconnect``, ``NetworkTimeout``,
``ServerSelectionTimeoutError``), write-concern timeouts, "primary stepping
down" codes and write conflicts that outlast the retries raise
``Unavailable``; the client reconnects by itself, so calls succeed again
once the server is back, without reopening the store.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

from .._extras import missing_extra

try:
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.errors import DuplicateKeyError, PyMongoError
except ImportError as error:
    raise missing_extra(
        error, extra="mongo", module="pymongo", needed_by="MongoStore (mongodb://)"
    ) from error

from .._stats import decision_bucket, percentile
from .._store import NewTask, check_user_role, created_entry
from .._url import mask_url
from ..errors import AlreadyDecided, Conflict, Internal, NotFound, ScanClosed, Unavailable
from ..models import (
    EventType,
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
from ._mongo_changes import Plan, ScanChanges, Settled
from ._mongo_client import guarded as _guarded
from ._mongo_client import parse_store_url, prepare_database
from ._mongo_history import migrate
from ._mongo_schema import (
    COUNTER,
    SCAN_FIELDS,
    Doc,
    doc_created_at,
    doc_history,
    doc_reviewers,
    doc_scan,
    doc_task,
    doc_user,
    doc_workers,
    new_scan_doc,
    user_doc,
    worker_key,
)
from ._mongo_schema import field as doc_field

__all__ = ["MongoStore"]


class MongoStore:
    """A :class:`~taskstream_core.Store` in one MongoDB database (a replica set or mongos).

    Its methods are documented by the :class:`~taskstream_core.Store` protocol;
    the module's docstring says what each change guarantees.

    Args:
        url: ``mongodb://[user:pass@]host[:port][,host...]/dbname[?options]``;
            the store's own query option is ``event_retention``, the others go
            to pymongo.
        event_retention: How many of each scan's latest events are kept for
            resuming viewers; the URL's option (or 10,000) when None.
        login_failure_ttl: How long failed logins are kept.

    Raises:
        ValueError: The URL is malformed, its ``event_retention`` is not a
            number, or it carries a removed option (``transactions``,
            ``repair_after``).
    """

    def __init__(
        self,
        url: str,
        *,
        event_retention: int | None = None,
        login_failure_ttl: timedelta = timedelta(days=1),
    ) -> None:
        self._url = url
        self._client_url, options, self._client_options = parse_store_url(url)
        self._options = options
        self.event_retention = event_retention or options.event_retention
        self.login_failure_ttl = login_failure_ttl
        self._client: AsyncMongoClient[Doc] | None = None
        self._changes: ScanChanges | None = None

    @classmethod
    def from_url(cls, url: str) -> MongoStore:
        """Make a store from a MongoDB URL; what :func:`~taskstream_core.open_store` calls.

        Args:
            url: ``mongodb://[user:pass@]host[:port][,host...]/dbname[?options]``
                or ``mongodb+srv://...``.

        Returns:
            The store, not yet opened.

        Raises:
            ValueError: The URL is malformed or carries a removed option.
        """
        return cls(url)

    @property
    def url(self) -> str:
        return mask_url(self._url)

    @property
    def _scan_changes(self) -> ScanChanges:
        """The open store's write path.

        Raises:
            Internal: The store is not open.
        """
        if self._changes is None:
            raise Internal("The MongoDB store is not open.")
        return self._changes

    @property
    def db(self) -> AsyncDatabase[Doc]:
        """The open store's pymongo database.

        Raises:
            Internal: The store is not open.
        """
        return self._scan_changes.db

    async def open(self) -> None:
        """Connect, check the server can run transactions, and create the indexes.

        Raises:
            Unavailable: The server cannot be reached.
            ValueError: The server is a standalone one (no transactions).
        """
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            self._client_url, tz_aware=True, tzinfo=UTC, **self._client_options
        )
        try:
            db = await prepare_database(client, self._options)
            await migrate(db)
        except PyMongoError as exc:
            await client.close()
            raise Unavailable(f"Cannot open the MongoDB store {self.url}: {exc}") from exc
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._changes = ScanChanges(client, db, event_retention=self.event_retention)

    async def close(self) -> None:
        client, self._client, self._changes = self._client, None, None
        if client is not None:
            await client.close()

    # -- users ------------------------------------------------------------------------
    @_guarded
    async def create_user(self, user: User, password_hash: str) -> None:
        try:
            await self.db.users.insert_one(user_doc(user, password_hash))
        except DuplicateKeyError:
            raise Conflict("This username is taken.") from None

    @_guarded
    async def get_user(self, user_id: str) -> User | None:
        doc = await self.db.users.find_one({"_id": user_id})
        return None if doc is None else doc_user(doc)

    async def _check_user(self, user_id: str, role: Role) -> None:
        found = await self.db.users.find_one({"_id": user_id}, {"role": 1})
        check_user_role(None if found is None else found.get("role"), role)

    @_guarded
    async def find_credentials(self, username: str) -> tuple[User, str] | None:
        doc = await self.db.users.find_one({"username_key": username.lower()})
        return None if doc is None else (doc_user(doc), doc_field(doc, "password_hash", "user"))

    @_guarded
    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self.db.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    @_guarded
    async def revoke_token(self, token_id: str, expires_at: datetime) -> None:
        # The TTL index deletes the entry once the token would have expired anyway.
        await self.db.revoked_tokens.update_one(
            {"_id": token_id}, {"$set": {"expires_at": expires_at}}, upsert=True
        )

    @_guarded
    async def is_token_revoked(self, token_id: str) -> bool:
        return await self.db.revoked_tokens.find_one({"_id": token_id}, {"_id": 1}) is not None

    def _failure_expiry(self) -> datetime:
        """When a username's failure document may go (the TTL index's field)."""
        return datetime.now(UTC) + self.login_failure_ttl

    async def _failures_since(self, key: str, since: datetime) -> list[datetime]:
        doc = await self.db.login_failures.find_one({"_id": key}, {"failures": 1})
        found = [t.astimezone(UTC) for t in (doc or {}).get("failures", ())]
        return sorted(t for t in found if t > since)

    @_guarded
    async def release_login_attempt(self, username: str, at: datetime) -> None:
        # One atomic update of the username's document, taking out the first failure at
        # ``at`` only ($pull would take every one at that time). Its other failures stay.
        first = {"$indexOfArray": ["$failures", at]}
        after = {"$add": ["$$i", 1]}
        await self.db.login_failures.update_one(
            {"_id": username.lower(), "failures": at},
            [
                {
                    "$set": {
                        "failures": {
                            "$let": {
                                "vars": {"i": first},
                                "in": {
                                    "$concatArrays": [
                                        {"$slice": ["$failures", "$$i"]},
                                        {"$slice": ["$failures", after, {"$size": "$failures"}]},
                                    ]
                                },
                            }
                        }
                    }
                }
            ],
        )

    @_guarded
    async def claim_login_attempt(
        self, username: str, at: datetime, *, since: datetime, limit: int
    ) -> tuple[bool, list[datetime]]:
        key = username.lower()
        # Forget what left the window, making the document if there is none (a
        # DuplicateKeyError: another claim made it first).
        with contextlib.suppress(DuplicateKeyError):
            await self.db.login_failures.update_one(
                {"_id": key},
                {
                    "$pull": {"failures": {"$lte": since}},
                    "$setOnInsert": {"expire_at": self._failure_expiry()},
                },
                upsert=True,
            )
        recorded = False
        if limit > 0:
            # One atomic update of one document: it applies only while the list holds fewer
            # than ``limit`` failures, whichever process's claims race it.
            pushed = await self.db.login_failures.update_one(
                {"_id": key, f"failures.{limit - 1}": {"$exists": False}},
                {"$push": {"failures": at}, "$set": {"expire_at": self._failure_expiry()}},
            )
            recorded = pushed.matched_count == 1
        return recorded, await self._failures_since(key, since)

    # -- scans ------------------------------------------------------------------------
    @_guarded
    async def create_scan(self, scan: Scan) -> None:
        try:
            await self.db.scans.insert_one(new_scan_doc(scan))
        except DuplicateKeyError:
            raise Conflict("A scan with this id exists.") from None

    @_guarded
    async def get_scan(self, scan_id: str) -> Scan | None:
        doc = await self.db.scans.find_one({"_id": scan_id}, SCAN_FIELDS)
        return None if doc is None else doc_scan(doc)

    @_guarded
    async def list_scans(self, *, include_closed: bool) -> list[Scan]:
        query = {} if include_closed else {"status": "open"}
        found = self.db.scans.find(query, SCAN_FIELDS).sort([("created_at", -1), ("_id", -1)])
        return [doc_scan(doc) async for doc in found]

    @_guarded
    async def close_scan(self, scan_id: str, at: datetime) -> ScanEvent | None:
        async def prepare() -> Plan:
            return Plan(
                event=lambda seq, doc: ScanEvent(
                    EventType.SCAN_UPDATED, scan_id, seq, scan=doc_scan(doc)
                ),
                set={"status": "closed", "closed_at": at},
                need_scan=True,
            )

        try:
            event, _ = await self._scan_changes.apply(scan_id, prepare)
        except ScanClosed:
            return None
        return event

    @_guarded
    async def latest_seq(self, scan_id: str) -> int:
        doc = await self.db.scans.find_one({"_id": scan_id}, {"seq": 1})
        return 0 if doc is None else int(doc_field(doc, "seq", "scan"))

    # -- tasks ------------------------------------------------------------------------
    @_guarded
    async def create_task(
        self, task: NewTask, *, check_user: bool = False
    ) -> tuple[Task, ScanEvent | None]:
        if check_user:
            await self._check_user(task.worker_id, Role.WORKER)
        key = task.idempotency_key

        def event(seq: int, _: Doc) -> ScanEvent:
            stored = task.stored(seq)
            return ScanEvent(EventType.TASK_CREATED, task.scan_id, seq, task=stored)

        async def prepare() -> Plan:
            # No lookup of the key first: the unique index finds a replay. The
            # insert fails, the transaction is undone, and the first task answered.
            worker = f"workers.{worker_key(task.worker_id)}"
            return Plan(
                event=event,
                inc={"counts.pending": 1, f"{worker}.submitted": 1, f"{worker}.pending": 1},
                set={
                    f"{worker}.worker_id": task.worker_id,
                    f"{worker}.username": task.worker_username,
                },
                key=key,
            )

        try:
            made, first = await self._scan_changes.apply(task.scan_id, prepare)
        except (DuplicateKeyError, ScanClosed):  # a replay, maybe (in a closed scan too)
            first = await self._by_key(task.scan_id, task.worker_id, key) if key else None
            if first is None:
                raise
        if first is not None:  # a replay, or a twin made it first
            return first, None
        assert made is not None
        assert made.task is not None
        return made.task, made

    async def _by_key(self, scan_id: str, worker_id: str, key: str) -> Task | None:
        query = {"scan_id": scan_id, "worker_id": worker_id, "idempotency_key": key}
        # The hint: secantus does not choose a partial index by itself (mongod does).
        found = await self.db.tasks.find(query).hint("idempotency").limit(1).to_list()
        return doc_task(found[0]) if found else None

    @_guarded
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
            await self._check_user(by, Role.ADMIN)
        found = await self.get_task(task_id)
        if found is None:
            raise NotFound("No such task.")

        async def prepare() -> Plan:
            task = await self.get_task(task_id)  # again, under the scan's lock
            assert task is not None
            if not task.is_pending:
                raise Settled(task)
            worker, counter = f"workers.{worker_key(task.worker_id)}", COUNTER[status]
            bucket = decision_bucket(task.created_at, at)
            admin, username = f"reviewers.{worker_key(by)}", by_username or by
            action = HistoryAction(status.value)
            return Plan(
                event=lambda seq, _: ScanEvent(
                    EventType.TASK_UPDATED,
                    task.scan_id,
                    seq,
                    task=task.decided(status, reason=reason, by=by, at=at, seq=seq),
                ),
                inc={
                    "counts.pending": -1,
                    f"counts.{counter}": 1,
                    f"{worker}.pending": -1,
                    f"{worker}.{counter}": 1,
                    f"latency.{bucket}": 1,
                    f"{admin}.{counter}": 1,
                    f"{admin}.latency.{bucket}": 1,
                },
                set={f"{admin}.admin_id": by, f"{admin}.username": username},
                require_open=False,
                history=lambda e: HistoryEntry(
                    e.seq,
                    at,
                    action,
                    by,
                    username,
                    reason if action is HistoryAction.REFUSED else None,
                ),
            )

        made, winner = await self._scan_changes.apply(found.scan_id, prepare)
        if winner is not None:
            raise AlreadyDecided(task=winner)
        assert made is not None
        return made

    @_guarded
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
            await self._check_user(by, Role.ADMIN)
        found = await self.get_task(task_id)
        if found is None:
            raise NotFound("No such task.")

        async def prepare() -> Plan:
            task = await self.get_task(task_id)  # again, under the scan's lock
            assert task is not None
            _check_undo(task, by=by, seq=seq)
            assert task.decided_at is not None
            worker, counter = f"workers.{worker_key(task.worker_id)}", COUNTER[task.status]
            bucket = decision_bucket(task.created_at, task.decided_at)
            admin = f"reviewers.{worker_key(by)}"
            return Plan(
                event=lambda new_seq, _: ScanEvent(
                    EventType.TASK_UPDATED, task.scan_id, new_seq, task=task.undone(seq=new_seq)
                ),
                inc={
                    "counts.pending": 1,
                    f"counts.{counter}": -1,
                    f"{worker}.pending": 1,
                    f"{worker}.{counter}": -1,
                    f"latency.{bucket}": -1,
                    f"{admin}.{counter}": -1,
                    f"{admin}.latency.{bucket}": -1,
                    f"{admin}.undone": 1,
                },
                require_open=False,
                history=lambda e: HistoryEntry(
                    e.seq, at, HistoryAction.UNDONE, by, by_username or by
                ),
                match={"decided_by": by, "seq": seq},
            )

        made, changed = await self._scan_changes.apply(found.scan_id, prepare)
        if changed is not None:  # another process changed the task meanwhile
            _check_undo(changed, by=by, seq=seq)
            raise Conflict("This task changed since it was read; read it again.")
        assert made is not None
        return made

    @_guarded
    async def task_history(self, task_id: str) -> list[HistoryEntry]:
        # ``created`` comes from the task document, which keeps it: no write per submission.
        task = await self.get_task(task_id)
        if task is None:
            return []
        found = self.db.history.find({"task_id": task_id}).sort("seq", 1)
        return [created_entry(task), *[doc_history(doc) async for doc in found]]

    @_guarded
    async def get_task(self, task_id: str) -> Task | None:
        doc = await self.db.tasks.find_one({"_id": task_id})
        return None if doc is None else doc_task(doc)

    @_guarded
    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        query: Doc = {"scan_id": scan_id, "created_seq": {"$gt": after}}
        if worker_id is not None:
            query["worker_id"] = worker_id
        if status is not None:
            query["status"] = status.value
        return await self._tasks(query, "created_seq", 1, limit)

    @_guarded
    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        query: Doc = {"scan_id": scan_id}
        if worker_id is not None:
            query["worker_id"] = worker_id
        if decided:
            query["status"] = {"$in": [TaskStatus.VALIDATED.value, TaskStatus.REFUSED.value]}
        return await self._tasks(query, "seq" if decided else "created_seq", -1, limit)

    async def _tasks(self, query: Doc, order: str, direction: int, limit: int) -> list[Task]:
        if limit <= 0:  # pymongo reads a limit of 0 as "no limit"
            return []
        found = self.db.tasks.find(query).sort(order, direction).limit(limit)
        return [doc_task(doc) async for doc in found]

    @_guarded
    async def events_after(
        self, scan_id: str, seq: int, *, worker_id: str | None = None
    ) -> list[ScanEvent] | None:
        state = await self.db.scans.find_one({"_id": scan_id}, {"seq": 1, "pruned": 1})
        if state is None:
            return []
        if seq < int(state.get("pruned", 0)):
            return None
        latest = int(doc_field(state, "seq", "scan"))
        query: Doc = {"scan_id": scan_id, "seq": {"$gt": seq, "$lte": latest}}
        if worker_id is not None:
            query["worker_id"] = {"$in": [None, worker_id]}
        found = self.db.events.find(query).sort("seq", 1)
        return [ScanEvent.from_record(doc_field(d, "body", "event")) async for d in found]

    @_guarded
    async def stats(self, scan_id: str, *, since: datetime) -> ScanStats:
        fields = {**SCAN_FIELDS, "seq": 1, "workers": 1, "latency": 1, "reviewers": 1}
        doc = await self.db.scans.find_one({"_id": scan_id}, fields)
        if doc is None:
            raise NotFound("No such scan.")
        recent = await self.db.tasks.count_documents(
            {"scan_id": scan_id, "created_at": {"$gte": since}}
        )
        decided = await self.db.tasks.count_documents(
            {"scan_id": scan_id, "decided_at": {"$gte": since}}
        )
        oldest = (
            await self.db.tasks.find(
                {"scan_id": scan_id, "status": TaskStatus.PENDING.value}, {"created_at": 1}
            )
            .sort("created_seq", 1)
            .limit(1)
            .to_list()
        )
        buckets = [(int(b), int(n)) for b, n in (doc.get("latency") or {}).items()]
        return ScanStats(
            scan_id=scan_id,
            counts=doc_scan(doc).counts,
            submissions_last_minute=recent,
            decision_seconds_p50=percentile(buckets, 0.5),
            decision_seconds_p95=percentile(buckets, 0.95),
            workers=doc_workers(doc),
            seq=int(doc_field(doc, "seq", "scan")),
            decisions_last_minute=decided,
            oldest_pending_at=doc_created_at(oldest[0]) if oldest else None,
            reviewers=doc_reviewers(doc),
        )


def _check_undo(task: Task, *, by: str, seq: int) -> None:
    """Raise Conflict unless ``task`` is still decided by ``by`` with seq ``seq``."""
    if task.is_pending:
        raise Conflict("This task is pending: there is no decision to undo.")
    if task.decided_by != by:
        raise Conflict("Only the admin who decided this task may undo the decision.")
    if task.seq != seq:
        raise Conflict("This task changed since it was read; read it again.")
