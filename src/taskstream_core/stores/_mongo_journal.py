"""Writing a change's task and event, and finishing changes left in a scan's journal.

Without transactions a change is committed by ONE atomic update of its scan
document, which allocates the seq, applies every counter and appends a
journal entry holding the whole event (see mongodb.py). What follows, the
task and event documents, is idempotent and may be done by anyone, any
number of times, concurrently: that is what :func:`roll_forward` does, both
for the caller that made the change and for whoever later finds the entry
left behind by a crash or an outage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..errors import Internal
from ..models import EventType, ScanEvent, Task
from ._mongo_schema import Doc, doc_task, field, task_doc

__all__ = ["apply_effects", "journal_entry", "roll_forward"]


def journal_entry(event: ScanEvent, inc: dict[str, int], key: str | None) -> Doc:
    """What a scan document keeps of a change until its task and event are written.

    ``undo`` holds the counter changes as ``[path, delta]`` pairs negated
    (dotted paths cannot be field names), for a change that must be given up.
    """
    return {
        "seq": event.seq,
        "at": datetime.now(UTC),
        "event": event.to_record(),
        "key": key,
        "undo": [[path, -delta] for path, delta in inc.items()],
    }


def _on_id(exc: DuplicateKeyError) -> bool:
    pattern = (exc.details or {}).get("keyPattern") or {}
    return list(pattern) == ["_id"]


async def _written(db: AsyncDatabase[Doc], task_id: str) -> bool:
    return await db.tasks.find_one({"_id": task_id}, {"_id": 1}) is not None


async def apply_effects(
    db: AsyncDatabase[Doc],
    event: ScanEvent,
    key: str | None,
    session: AsyncClientSession | None = None,
) -> Task | None:
    """Write the task and the event of a change; the stored task it conflicts with, or None.

    Outside a transaction every write tolerates having been done already. In
    a transaction (``session``) a duplicate key raises, as the server has
    then aborted the transaction anyway.
    """
    task = event.task
    if event.type is EventType.TASK_CREATED and task is not None:
        try:
            await db.tasks.insert_one(task_doc(task, key), session=session)
        except DuplicateKeyError as exc:
            if session is not None:
                raise
            # This very task, written before a crash, violates every unique index
            # of it, and a server may name any of them: only a task of another id
            # is a twin. (Giving ours up would revert its counters and hand its seq
            # to the next change, whose task would then clash for good.)
            if not _on_id(exc) and not await _written(db, task.id):
                query = {
                    "scan_id": task.scan_id,
                    "worker_id": task.worker_id,
                    "idempotency_key": key,
                }
                twins = await db.tasks.find(query).hint("idempotency").limit(1).to_list()
                if not twins:
                    raise Internal(f"Task {task.id} clashes with an unknown task.") from exc
                return doc_task(twins[0])
    elif event.type is EventType.TASK_UPDATED and task is not None:
        decided = {
            "status": task.status.value,
            "reason": task.reason,
            "decided_by": task.decided_by,
            "decided_at": task.decided_at,
            "seq": task.seq,
        }
        done = await db.tasks.update_one(
            {"_id": task.id, "status": "pending"}, {"$set": decided}, session=session
        )
        if done.matched_count == 0:
            stored = await db.tasks.find_one({"_id": task.id}, session=session)
            if stored is None:
                raise Internal(f"Task {task.id} vanished while being decided.")
            winner = doc_task(stored)
            if winner.seq != task.seq:  # another decision won
                return winner
    body = {
        "_id": f"{event.scan_id}:{event.seq}",
        "scan_id": event.scan_id,
        "seq": event.seq,
        "worker_id": event.worker_id,
        "body": event.to_record(),
    }
    try:
        await db.events.insert_one(body, session=session)
    except DuplicateKeyError:
        if session is not None:
            raise
    return None


async def roll_forward(db: AsyncDatabase[Doc], scan_id: str, entry: Doc) -> Task | None:
    """Finish (or, on a conflict, give up) one journaled change; the conflicting task or None.

    Giving up reverts the counters and removes the entry in one atomic update,
    conditioned on the entry still being there, so it happens once however
    many callers race here. The seq is handed back when no later change took
    one (the common case: one process, which changes a scan under a lock),
    else it stays unused: a gap.
    """
    seq = field(entry, "seq", "journal entry")
    event = ScanEvent.from_record(field(entry, "event", "journal entry"))
    conflict = await apply_effects(db, event, entry.get("key"))
    if conflict is not None:
        undo: dict[str, Any] = dict(entry.get("undo") or ())
        update: Doc = {"$pull": {"journal": {"seq": seq}}}
        if undo:
            update["$inc"] = undo
        # Still the scan's latest seq? Then hand it back: no reader was told
        # of it (it was in the journal) and nothing of it was written.
        back = {**update, "$set": {"seq": seq - 1}}
        done = await db.scans.update_one({"_id": scan_id, "seq": seq, "journal.seq": seq}, back)
        if done.matched_count == 0:
            await db.scans.update_one({"_id": scan_id, "journal.seq": seq}, update)
        return conflict
    await db.scans.update_one({"_id": scan_id}, {"$pull": {"journal": {"seq": seq}}})
    return None
