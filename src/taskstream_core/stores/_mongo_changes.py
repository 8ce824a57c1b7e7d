"""How the MongoDB store applies a change of a scan, with or without transactions.

The reasoning (commit point, journal, roll-forward, visibility) is in the
docstring of :mod:`taskstream_core.stores.mongodb`.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from ..errors import NotFound, ScanClosed
from ..models import ScanEvent, Task
from ._mongo_client import in_transaction
from ._mongo_journal import apply_effects, journal_entry, roll_forward
from ._mongo_schema import SCAN_FIELDS, Doc

__all__ = ["STATE", "Plan", "ScanChanges", "Settled", "visible"]

#: The projection of a scan document that tells its seqs and unfinished changes.
STATE: Final = {"seq": 1, "pruned": 1, "journal.seq": 1, "journal.at": 1}


@dataclass
class Plan:
    """One change of a scan: counter deltas, fields to set, and its event given the seq.

    ``event(seq, scan)`` gets the scan document as it is after the change when
    ``need_scan`` (closing, whose event carries the scan), else an empty one.
    """

    event: Callable[[int, Doc], ScanEvent]
    inc: dict[str, int] = field(default_factory=dict)
    set: Doc = field(default_factory=dict)
    require_open: bool = True
    need_scan: bool = False
    key: str | None = None


class Settled(Exception):
    """Raised by a plan's ``prepare`` (or inside a transaction): no change, answer this task."""

    def __init__(self, task: Task) -> None:
        super().__init__(task.id)
        self.task = task


def visible(state: Doc) -> int:
    """The scan's latest seq below which every change is finished."""
    pending = [int(e["seq"]) for e in state.get("journal") or ()]
    return min(pending) - 1 if pending else int(state.get("seq", 0))


class ScanChanges:
    """Applies changes of scans in one database; one per open store."""

    def __init__(
        self,
        client: AsyncMongoClient[Doc],
        db: AsyncDatabase[Doc],
        *,
        transactions: bool,
        repair_after: float,
        event_retention: int,
    ) -> None:
        self.client = client
        self.db = db
        self.transactions = transactions
        self.repair_after = repair_after
        self.event_retention = event_retention
        self._locks: dict[str, asyncio.Lock] = {}
        self._seqs: dict[str, int] = {}  # the seq this process last gave each scan

    def lock(self, scan_id: str) -> asyncio.Lock:
        return self._locks.setdefault(scan_id, asyncio.Lock())

    async def apply(
        self, scan_id: str, prepare: Callable[[], Awaitable[Plan]]
    ) -> tuple[ScanEvent | None, Task | None]:
        """Apply a change: its event, or None and the stored task it conflicted with.

        ``prepare`` checks what the change depends on and plans it, under the
        scan's lock, so this process's concurrent changes see each other.
        """
        async with self.lock(scan_id):
            try:
                plan = await prepare()
                if self.transactions:
                    event = await in_transaction(
                        self.client, functools.partial(self._in_transaction, scan_id, plan)
                    )
            except Settled as settled:
                return None, settled.task
            if not self.transactions:
                event, entry, others = await self._commit(scan_id, plan)
                try:
                    if others:  # unfinished changes before ours: finish them first
                        await self.repair(scan_id, others)
                    conflict = await roll_forward(self.db, scan_id, entry)
                except BaseException:
                    self._seqs.pop(scan_id, None)
                    raise
                if conflict is not None:
                    self._seqs.pop(scan_id, None)  # the seq may have been handed back
                    return None, conflict
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
            await self._refuse(scan_id, plan, session)
        assert doc is not None
        event = plan.event(int(doc["seq"]), doc if plan.need_scan else {})
        lost = await apply_effects(self.db, event, plan.key, session)
        if lost is not None:
            raise Settled(lost)  # aborts the transaction, counters and all
        return event

    async def _commit(self, scan_id: str, plan: Plan) -> tuple[ScanEvent, Doc, list[int]]:
        """Without transactions: the one atomic scan update that commits a change.

        A compare-and-set on the seq last seen, so the journal entry can carry
        its seq; answers the event, its entry and the seqs of the other entries
        (left by a crash or an outage, or in flight in another process: helping
        is harmless, and finishing a first attempt before its retry makes the
        retry find it).
        """
        expected = None if plan.need_scan else self._seqs.get(scan_id)
        scan: Doc = {}
        while True:
            if expected is None:
                fields = {**SCAN_FIELDS, "seq": 1} if plan.need_scan else {"seq": 1, "status": 1}
                found = await self.db.scans.find_one({"_id": scan_id}, fields)
                if found is None or (plan.require_open and found.get("status") != "open"):
                    await self._refuse(scan_id, plan, None)
                assert found is not None
                scan, expected = found, int(found["seq"])
            event = plan.event(expected + 1, {**scan, **plan.set} if plan.need_scan else {})
            entry = journal_entry(event, plan.inc, plan.key)
            update: Doc = {"$set": {**plan.set, "seq": event.seq}, "$push": {"journal": entry}}
            if plan.inc:
                update["$inc"] = plan.inc
            query: Doc = {"_id": scan_id, "seq": expected}
            if plan.require_open:
                query["status"] = "open"
            after = await self.db.scans.find_one_and_update(
                query, update, projection=STATE, return_document=ReturnDocument.AFTER
            )
            if after is not None:
                self._seqs[scan_id] = event.seq
                return event, entry, self._stale(after, but=event.seq, heal_all=True)
            expected = None  # another process changed the scan: read it again

    async def _refuse(self, scan_id: str, plan: Plan, session: AsyncClientSession | None) -> None:
        found = await self.db.scans.find_one({"_id": scan_id}, {"status": 1}, session=session)
        if found is None:
            raise NotFound("No such scan.")
        if plan.require_open and found.get("status") != "open":
            raise ScanClosed()

    def _stale(self, state: Doc, *, but: int = 0, heal_all: bool = False) -> list[int]:
        cutoff = datetime.now(UTC) - timedelta(seconds=self.repair_after)
        return [
            int(e["seq"])
            for e in state.get("journal") or ()
            if e.get("seq") != but and (heal_all or e.get("at", cutoff) <= cutoff)
        ]

    async def state(self, scan_id: str, fields: Doc, *, heal_all: bool = False) -> Doc | None:
        """The scan document, after finishing journal entries left behind (if any).

        ``fields`` must include :data:`STATE`. Entries younger than
        ``repair_after`` are left to their owner unless ``heal_all``.
        """
        state = await self.db.scans.find_one({"_id": scan_id}, fields)
        if state is not None and self._stale(state, heal_all=heal_all):
            async with self.lock(scan_id):
                await self.repair(scan_id)
            state = await self.db.scans.find_one({"_id": scan_id}, fields)
        return state

    async def repair(self, scan_id: str, seqs: list[int] | None = None) -> None:
        """Roll forward the scan's journal entries (those of ``seqs``, or all)."""
        self._seqs.pop(scan_id, None)
        doc = await self.db.scans.find_one({"_id": scan_id}, {"journal": 1})
        entries: list[Any] = list((doc or {}).get("journal") or ())
        for entry in sorted(entries, key=lambda e: int(e["seq"])):
            if seqs is None or entry["seq"] in seqs:
                await roll_forward(self.db, scan_id, entry)

    async def repair_all(self) -> None:
        """Roll forward every journal entry of every scan (at ``open()``)."""
        async for scan in self.db.scans.find({"journal.0": {"$exists": True}}, {"_id": 1}):
            async with self.lock(scan["_id"]):
                await self.repair(scan["_id"])

    async def _prune(self, event: ScanEvent | None) -> None:
        """Every 256th seq, forget events older than the retention (recording how far)."""
        if event is None or event.seq % 256 or event.seq <= self.event_retention:
            return
        floor = event.seq - self.event_retention
        await self.db.scans.update_one({"_id": event.scan_id}, {"$max": {"pruned": floor}})
        await self.db.events.delete_many({"scan_id": event.scan_id, "seq": {"$lte": floor}})
