"""Filling in, once, what a MongoDB database written before task history existed lacks.

A database whose ``meta`` document ``{_id: "schema"}`` says a version below
:data:`SCHEMA_VERSION` gets, at ``open()``: each decided task's history entry
as its document proves it (the decision it carries; ``created`` is always
read from the task document), and, for each
scan document without ``reviewers``, the admins' counters of the decisions
that stand. Every write is idempotent (history ``_id``s are
``<task_id>:<seq>``, counters are set only where none exist), so two
processes opening the database at once, or an open cut short, do no harm.
"""

from __future__ import annotations

from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from .._stats import decision_bucket
from ..models import HistoryAction, HistoryEntry, Task, TaskStatus
from ._mongo_schema import COUNTER, Doc, doc_task, history_doc, worker_key

__all__ = ["SCHEMA_VERSION", "migrate"]

#: The version of a database whose history and reviewer counters are complete.
SCHEMA_VERSION: Final = 2
_BATCH: Final = 500
_DUPLICATE_KEY: Final = 11000


async def migrate(db: AsyncDatabase[Doc]) -> None:
    """Backfill history and reviewer counters of a database older than :data:`SCHEMA_VERSION`."""
    meta = await db.meta.find_one({"_id": "schema"})
    if meta is not None and int(meta.get("version", 0)) >= SCHEMA_VERSION:
        return
    names: dict[str, str] = {}
    batch: list[Doc] = []
    async for doc in db.tasks.find({"status": {"$ne": TaskStatus.PENDING.value}}):
        task = doc_task(doc)
        if task.decided_by is not None and task.decided_at is not None:
            username = await _username(db, names, task.decided_by)
            batch.append(
                history_doc(
                    task.id,
                    HistoryEntry(
                        task.seq,
                        task.decided_at,
                        HistoryAction(task.status.value),
                        task.decided_by,
                        username,
                        task.reason if task.status is TaskStatus.REFUSED else None,
                    ),
                )
            )
        if len(batch) >= _BATCH:
            await _insert(db, batch)
            batch = []
    if batch:
        await _insert(db, batch)
    async for scan in db.scans.find({"reviewers": {"$exists": False}}, {"_id": 1}):
        reviewers: dict[str, Any] = {}
        decided = {"scan_id": scan["_id"], "status": {"$ne": TaskStatus.PENDING.value}}
        async for doc in db.tasks.find(decided):
            await _count(db, names, reviewers, doc_task(doc))
        await db.scans.update_one(
            {"_id": scan["_id"], "reviewers": {"$exists": False}},
            {"$set": {"reviewers": reviewers}},
        )
    await db.meta.update_one({"_id": "schema"}, {"$max": {"version": SCHEMA_VERSION}}, upsert=True)


async def _count(
    db: AsyncDatabase[Doc], names: dict[str, str], reviewers: dict[str, Any], task: Task
) -> None:
    if task.decided_by is None or task.decided_at is None:
        return
    entry = reviewers.setdefault(
        worker_key(task.decided_by),
        {
            "admin_id": task.decided_by,
            "username": await _username(db, names, task.decided_by),
            "validated": 0,
            "refused": 0,
            "undone": 0,
            "latency": {},
        },
    )
    entry[COUNTER[task.status]] += 1
    bucket = str(decision_bucket(task.created_at, task.decided_at))
    entry["latency"][bucket] = entry["latency"].get(bucket, 0) + 1


async def _username(db: AsyncDatabase[Doc], names: dict[str, str], user_id: str) -> str:
    if user_id not in names:
        user = await db.users.find_one({"_id": user_id}, {"username": 1})
        names[user_id] = str(user["username"]) if user and "username" in user else user_id
    return names[user_id]


async def _insert(db: AsyncDatabase[Doc], docs: list[Doc]) -> None:
    """Insert history entries, leaving those already stored as they are."""
    try:
        await db.history.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != _DUPLICATE_KEY for e in errors):
            raise
