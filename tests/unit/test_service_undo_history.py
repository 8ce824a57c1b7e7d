"""The TaskStream service's undo and task history (contract v2, sections 4.3 and 4.4)."""

from __future__ import annotations

import asyncio

import pytest

from taskstream_core import Principal, Scan, ScanEvent, Task, TaskStream, ViewerSession
from taskstream_core.errors import Conflict, Forbidden, InvalidRequest, NotFound
from taskstream_core.models import EventType, HistoryAction, ScanCounts, TaskStatus
from taskstream_core.testing import ManualClock, RecordingBroker, make_app, sign_up

from .test_service import changes


async def next_change(session: ViewerSession, *, within: float) -> ScanEvent | None:
    """The session's next stored-change event (stats and notices skipped), or None after
    ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while True:
                event = await session.next_event()
                if event.type is not EventType.SCAN_STATS and not event.type.is_notice:
                    return event
    except TimeoutError:
        return None


@pytest.fixture
async def scan(app: TaskStream, admin: Principal) -> Scan:
    """An open scan."""
    return await app.create_scan(admin, "Scan")


@pytest.fixture
async def refused(app: TaskStream, admin: Principal, alice: Principal, scan: Scan) -> Task:
    """A task of alice that ``admin`` refused just now."""
    task, _ = await app.submit_task(alice, scan.id, "alice's")
    return await app.decide_task(admin, task.id, "refused", "blurry")


async def test_undo_stores_then_announces_the_task_pending_again(
    app: TaskStream, recording_broker: RecordingBroker, admin: Principal, refused: Task
) -> None:
    """The undo answers the pending task and publishes it, stored, as task:updated."""
    undone = await app.undo_task(admin, refused.id)
    assert undone.status is TaskStatus.PENDING
    assert (undone.reason, undone.decided_by, undone.decided_at) == (None, None, None)
    assert undone.seq == refused.seq + 1
    last = changes(recording_broker)[-1]
    assert (last.type, last.seq, last.task) == (EventType.TASK_UPDATED, undone.seq, undone)
    assert await app.get_task(admin, refused.id) == undone
    stats = await app.stats(admin, refused.scan_id)
    assert stats.counts == ScanCounts(pending=1)
    assert stats.acceptance_rate is None
    assert [(r.username, r.decided, r.undone) for r in stats.reviewers] == [("root", 0, 1)]


async def test_the_worker_and_admins_see_the_undo_live_and_on_resume(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, refused: Task
) -> None:
    """The task's worker and the admins receive the undo; another worker does not."""
    scan_id = refused.scan_id
    viewers = {p.username: ViewerSession(app, p) for p in (admin, alice, bob)}
    for session in viewers.values():
        await session.join(scan_id)
    undone = await app.undo_task(admin, refused.id)
    for name in ("root", "alice"):
        event = await next_change(viewers[name], within=2)
        assert event is not None
        assert (event.type, event.task) == (EventType.TASK_UPDATED, undone)
    assert await next_change(viewers["bob"], within=0.2) is None
    resumed = await app.join(alice, scan_id, since_seq=refused.seq)
    assert resumed.events is not None
    assert [e.task for e in resumed.events] == [undone]
    for session in viewers.values():
        session.close()


async def test_undo_is_a_conflict_for_another_admin_a_pending_task_and_after_the_window(
    app: TaskStream, clock: ManualClock, admin: Principal, alice: Principal, refused: Task
) -> None:
    """Only the decider, only within undo_seconds of decided_at (10 s by default)."""
    other_admin = await sign_up(app, "second-admin", "admin")
    pending, _ = await app.submit_task(alice, refused.scan_id, "still pending")
    with pytest.raises(Conflict, match="pending"):
        await app.undo_task(admin, pending.id)
    with pytest.raises(Conflict, match="Only the admin"):
        await app.undo_task(other_admin, refused.id)
    clock.advance(10)
    late = await app.decide_task(admin, pending.id, "validated")
    clock.advance(0.001)
    with pytest.raises(Conflict, match="window"):
        await app.undo_task(admin, refused.id)
    assert await app.get_task(admin, refused.id) == refused
    clock.advance(9.999)
    assert (await app.undo_task(admin, late.id)).is_pending  # exactly 10 s: still inside


async def test_undo_seconds_zero_turns_undo_off() -> None:
    """With undo_seconds 0 every undo is a conflict, and a negative window is refused."""
    app = make_app()
    app.undo_seconds = 0
    async with app:
        admin = await sign_up(app, "root", "admin")
        worker = await sign_up(app, "alice")
        scan = await app.create_scan(admin, "s")
        task, _ = await app.submit_task(worker, scan.id, "x")
        decided = await app.decide_task(admin, task.id, "validated")
        with pytest.raises(Conflict, match="off"):
            await app.undo_task(admin, task.id)
        assert await app.get_task(admin, task.id) == decided
    with pytest.raises(ValueError, match="undo_seconds"):
        TaskStream(app.store, app.tokens, "x" * 16, undo_seconds=-1)


async def test_undo_rejects_workers_unknown_and_malformed_tasks(
    app: TaskStream, admin: Principal, alice: Principal, refused: Task
) -> None:
    """A worker is Forbidden (even the task's own), an unknown id NotFound (also one longer
    than any id), a bad one invalid."""
    with pytest.raises(Forbidden):
        await app.undo_task(alice, refused.id)
    for unknown in ("no-such-task", "x" * 500):
        with pytest.raises(NotFound):
            await app.undo_task(admin, unknown)
    for bad in (None, 12, "", ["a"]):
        with pytest.raises(InvalidRequest):
            await app.undo_task(admin, bad)
    assert await app.get_task(admin, refused.id) == refused


async def test_history_follows_every_change_with_names(
    app: TaskStream, admin: Principal, other_admin: Principal, alice: Principal, refused: Task
) -> None:
    """created by the worker, refused with its reason, undone, validated by another admin."""
    await app.undo_task(admin, refused.id)
    final = await app.decide_task(other_admin, refused.id, "validated", "good now", override=True)
    history = await app.task_history(admin, refused.id)
    assert history.task_id == refused.id
    assert [(e.action, e.by_username, e.reason) for e in history.entries] == [
        (HistoryAction.CREATED, "alice", None),
        (HistoryAction.REFUSED, "root", "blurry"),
        (HistoryAction.UNDONE, "root", None),
        (HistoryAction.VALIDATED, "second-admin", None),
    ]
    assert history.entries[-1].seq == final.seq
    assert await app.task_history(alice, refused.id) == history


async def test_history_is_a_workers_own_only(
    app: TaskStream, admin: Principal, bob: Principal, refused: Task
) -> None:
    """Another worker's task history is Forbidden, as get_task is; unknown ids NotFound."""
    with pytest.raises(Forbidden):
        await app.task_history(bob, refused.id)
    for who in (admin, bob):
        with pytest.raises(NotFound):
            await app.task_history(who, "no-such-task")
    with pytest.raises(InvalidRequest):
        await app.task_history(admin, 42)
