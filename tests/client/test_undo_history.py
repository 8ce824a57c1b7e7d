"""The Python client's calls of contract v2 §4.3 (undo) and §4.4 (history), on the real server."""

from __future__ import annotations

import pytest

from taskstream_core import ScanEvent
from taskstream_core.client import TaskStreamClient
from taskstream_core.errors import Conflict, Forbidden
from taskstream_core.models import EventType, HistoryAction, TaskStatus
from tests.client.helpers import next_events

pytestmark = pytest.mark.contract


async def test_undo_reaches_the_worker_and_history_tells_it(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client undo")
    await worker.join(scan.id)
    task = await worker.submit(scan.id, "a loose cable")
    decided = await admin.decide(task.id, "refused", "not ours")
    undone = await admin.undo(task.id)
    assert undone.status is TaskStatus.PENDING
    assert undone.seq > decided.seq
    items = await next_events(worker, 3)
    events = [i for i in items if isinstance(i, ScanEvent)]
    assert [(e.type, e.task.status if e.task else None) for e in events] == [
        (EventType.TASK_CREATED, TaskStatus.PENDING),
        (EventType.TASK_UPDATED, TaskStatus.REFUSED),
        (EventType.TASK_UPDATED, TaskStatus.PENDING),
    ]
    history = await worker.task_history(task.id)
    assert [(e.action, e.reason) for e in history.entries] == [
        (HistoryAction.CREATED, None),
        (HistoryAction.REFUSED, "not ours"),
        (HistoryAction.UNDONE, None),
    ]
    assert admin.user is not None
    assert history.entries[-1].by_user_id == admin.user.id


async def test_a_repeated_undo_of_ones_own_counts_as_done(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    """A retry that finds the task already undone by this admin answers the pending task."""
    scan = await admin.create_scan("client undo twice")
    task = await worker.submit(scan.id, "twice")
    await admin.decide(task.id, "validated")
    first = await admin.undo(task.id)
    again = await admin.undo(task.id)
    assert (again.id, again.status, again.seq) == (first.id, TaskStatus.PENDING, first.seq)


async def test_undo_errors_arrive_as_library_exceptions(
    admin: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client undo errors")
    task = await worker.submit(scan.id, "pending")
    with pytest.raises(Conflict):
        await admin.undo(task.id)
    await admin.decide(task.id, "validated")
    with pytest.raises(Forbidden):
        await worker.undo(task.id)
