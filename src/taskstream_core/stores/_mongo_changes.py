"""How the MongoDB store applies a change of a scan: one transaction per change.

What each change guarantees is in the docstring of :mod:`taskstream_core.stores.mongodb`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from ..errors import Internal, NotFound, ScanClosed
from ..models import EventType, HistoryEntry, ScanEvent, Task
from ._mongo_client import in_transaction
from ._mongo_schema import SCAN_FIELDS, Doc, doc_task, history_doc, task_doc

__all__ = ["Plan", "ScanChanges", "Settled"]


@dataclass
class Plan:
    """One change of a scan: counter deltas, fields to set, and its event given the seq.

    ``event(seq, scan)`` gets the scan document as it is after the change when
    ``need_scan`` (closing, whose event carries the scan), else an empty one.
    ``history(event)`` is the task's history entry the change adds, if any;
    ``match`` is what a ``task:updated`` change requires of the stored task.
    """

    event: Callable[[int, Doc], ScanEvent]
    inc: dict[str, int] = field(default_factory=dict)
    set: Doc = field(default_factory=dict)
    require_open: bool = True
    need_scan: bool = False
    key: str | None = None
    history: Callable[[ScanEvent], HistoryEntry] | None = None
    match: Doc = field(default_factory=lambda: {"status": "pending"})


class Settled(Exception):
    """Raised by a plan's ``prepare`` or inside the transaction: no change, answer this task."""

    def __init__(self, task: Task) -> None:
        super().__init__(task.id)
        self.task = task


class ScanChanges:
    """Applies changes of scans in one database; one per open store."""

    def __init__(
        self, client: AsyncMongoClient[Doc], db: AsyncDatabase[Doc], *, event_retention: int
    ) -> None:
        self.client = client
        self.db = db
        self.event_retention = event_retention
        self._locks: dict[str, asyncio.Lock] = {}

    async def apply(
        self, scan_id: str, prepare: Callable[[], Awaitable[Plan]]
    ) -> tuple[ScanEvent | None, Task | None]:
        """Apply a change in one transaction: its event, or None and the task it conflicted with.

        ``prepare`` checks what the change depends on and plans it. Both run
        under the scan's asyncio lock, so this process's changes of one scan
        follow each other instead of retrying each other's write conflicts.

        Raises:
            pymongo.errors.DuplicateKeyError: The task's idempotency key is taken (a replay).
            NotFound: No such scan.
            ScanClosed: The plan requires an open scan and the scan is closed.
        """
        lock = self._locks.setdefault(scan_id, asyncio.Lock())
        async with lock:
            try:
                plan = await prepare()
                event = await in_transaction(
                    self.client, functools.partial(self._in_transaction, scan_id, plan)
                )
            except Settled as settled:
                return None, settled.task
        await self._prune(event)
        return event, None

    async def _in_transaction(
        self, scan_id: str, plan: Plan, session: AsyncClientSession
    ) -> ScanEvent:
        """The change inside a transaction: the scan update, then the task and the event."""
        update: Doc = {"$inc": {"seq": 1, **plan.inc}}
        if plan.set:
            update["$set"] = plan.set
        doc = await self.db.scans.find_one_and_update(
            {"_id": scan_id, **({"status": "open"} if plan.require_open else {})},
            update,
            projection={**SCAN_FIELDS, "seq": 1} if plan.need_scan else {"seq": 1},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if doc is None:
            found = await self.db.scans.find_one({"_id": scan_id}, {"_id": 1}, session=session)
            raise NotFound("No such scan.") if found is None else ScanClosed()
        event = plan.event(int(doc["seq"]), doc if plan.need_scan else {})
        await self._write_effects(event, plan, session)
        return event

    async def _write_effects(
        self, event: ScanEvent, plan: Plan, session: AsyncClientSession
    ) -> None:
        """Write the change's task, its history entry and its event; a conflict aborts.

        A taken idempotency key raises ``DuplicateKeyError``; an update of a
        task that no longer matches ``plan.match`` (a decision of a task no
        longer pending, an undo of a task changed since) raises
        :class:`Settled` with the task as stored.
        """
        task = event.task
        if event.type is EventType.TASK_CREATED and task is not None:
            await self.db.tasks.insert_one(task_doc(task, plan.key), session=session)
        elif event.type is EventType.TASK_UPDATED and task is not None:
            decided = {
                "status": task.status.value,
                "reason": task.reason,
                "decided_by": task.decided_by,
                "decided_at": task.decided_at,
                "seq": task.seq,
            }
            done = await self.db.tasks.update_one(
                {**plan.match, "_id": task.id}, {"$set": decided}, session=session
            )
            if done.matched_count == 0:
                stored = await self.db.tasks.find_one({"_id": task.id}, session=session)
                if stored is None:
                    raise Internal(f"Task {task.id} vanished while being decided.")
                raise Settled(doc_task(stored))
        if plan.history is not None and task is not None:
            entry = history_doc(task.id, plan.history(event))
            await self.db.history.insert_one(entry, session=session)
        body = {
            "_id": f"{event.scan_id}:{event.seq}",
            "scan_id": event.scan_id,
            "seq": event.seq,
            "worker_id": event.worker_id,
            "body": event.to_record(),
        }
        await self.db.events.insert_one(body, session=session)

    async def _prune(self, event: ScanEvent) -> None:
        """Every 256th seq, forget events older than the retention (recording how far)."""
        if event.seq % 256 or event.seq <= self.event_retention:
            return
        floor = event.seq - self.event_retention
        await self.db.scans.update_one({"_id": event.scan_id}, {"$max": {"pruned": floor}})
        await self.db.events.delete_many({"scan_id": event.scan_id, "seq": {"$lte": floor}})
