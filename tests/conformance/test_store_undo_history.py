"""The ``Store`` conformance suite for contract v2: undo, task history and the stats additions.

Each behaviour is checked once and runs against every adapter.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from taskstream_core import Role, ScanEvent, Store, Task
from taskstream_core.errors import AlreadyDecided, Conflict, NotFound
from taskstream_core.models import (
    EventType,
    HistoryAction,
    HistoryEntry,
    ScanCounts,
    TaskStatus,
)
from taskstream_core.stores.mongodb import MongoStore
from taskstream_core.stores.sqlite import SQLiteStore

from .adapters import StoreAdapter
from .conftest import StoreFactory
from .factories import T0, at, make_user, new_task
from .test_store import all_tasks, decide, open_scan, submit


async def undo(store: Store, task: Task, *, by: str | None = None, seconds: float = 2.0) -> Task:
    """Undo ``task``'s decision as its decider (or ``by``), checking the event it made."""
    assert task.decided_at is not None
    event = await store.undo_task(
        task.id,
        seq=task.seq,
        by=by or task.decided_by or "",
        at=task.decided_at + timedelta(seconds=seconds),
        by_username="ADMIN",
    )
    assert event.type is EventType.TASK_UPDATED
    assert event.task is not None
    return event.task


async def recount(store: Store, scan_id: str) -> tuple[ScanCounts, dict[str, tuple[int, ...]]]:
    """The scan's counts and per-worker figures, recounted from its tasks."""
    tasks = await all_tasks(store, scan_id)
    by_status = Counter(t.status for t in tasks)
    counts = ScanCounts(
        by_status[TaskStatus.PENDING],
        by_status[TaskStatus.VALIDATED],
        by_status[TaskStatus.REFUSED],
    )
    workers = {
        w: (
            sum(t.worker_id == w for t in tasks),
            *(sum(t.worker_id == w and t.status is s for t in tasks) for s in TaskStatus),
        )
        for w in {t.worker_id for t in tasks}
    }
    return counts, workers


async def assert_counters_match_a_recount(store: Store, scan_id: str) -> None:
    counts, workers = await recount(store, scan_id)
    stats = await store.stats(scan_id, since=T0)
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert stats.counts == scan.counts == counts
    assert {
        w.worker_id: (w.submitted, w.pending, w.validated, w.refused) for w in stats.workers
    } == workers


# -- undo ------------------------------------------------------------------------------------


async def test_undo_makes_the_task_pending_with_a_new_seq_and_event(store: Store) -> None:
    """An undo stores the task pending (no reason, decider, time) under the scan's next seq,
    records a task:updated event that a resume replays, and reverts every counter."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id, "w1")
    before = await store.stats(scan_id, since=T0)
    decided = await store.decide_task(
        task.id, TaskStatus.REFUSED, reason="blurry", by="admin-1", at=at(3), by_username="Ada"
    )
    assert decided.task is not None
    event = await store.undo_task(task.id, seq=decided.seq, by="admin-1", at=at(5))
    assert event.type is EventType.TASK_UPDATED
    assert event.seq == decided.seq + 1 == await store.latest_seq(scan_id)
    undone = event.task
    assert undone is not None
    assert undone.status is TaskStatus.PENDING
    assert (undone.reason, undone.decided_by, undone.decided_at) == (None, None, None)
    assert undone.seq == event.seq
    assert (undone.id, undone.created_seq, undone.content) == (
        task.id,
        task.created_seq,
        task.content,
    )
    assert await store.get_task(task.id) == undone
    assert await store.events_after(scan_id, decided.seq) == [event]
    assert await store.events_after(scan_id, decided.seq, worker_id="w1") == [event]
    after = await store.stats(scan_id, since=T0)
    assert after.counts == before.counts == ScanCounts(pending=1)
    assert after.workers == before.workers
    assert after.decision_seconds_p50 is None
    assert after.acceptance_rate is None
    await assert_counters_match_a_recount(store, scan_id)


async def test_an_undone_task_can_be_decided_again(store: Store) -> None:
    """After an undo the task is pending like any other: a new decision wins and counts."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id)
    undone = await undo(store, await decide(store, task, TaskStatus.REFUSED))
    again = await decide(store, undone, TaskStatus.VALIDATED, by="admin-2", after_seconds=7)
    assert again.status is TaskStatus.VALIDATED
    assert again.decided_by == "admin-2"
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.counts == ScanCounts(validated=1)
    await assert_counters_match_a_recount(store, scan_id)


async def test_undo_is_a_conflict_unless_the_task_is_still_as_read(store: Store) -> None:
    """A pending task, another admin, or a seq that moved on: Conflict, and nothing changes."""
    scan_id = await open_scan(store)
    pending = await submit(store, scan_id)
    decided = await decide(store, await submit(store, scan_id), by="admin-1")
    latest = await store.latest_seq(scan_id)
    attempts = [
        (pending.id, pending.seq, "admin-1"),
        (decided.id, decided.seq, "admin-2"),
        (decided.id, decided.seq - 1, "admin-1"),
        (decided.id, decided.seq + 5, "admin-1"),
    ]
    for task_id, seq, by in attempts:
        with pytest.raises(Conflict) as raised:
            await store.undo_task(task_id, seq=seq, by=by, at=at(4))
        assert raised.value.code == "conflict"
    assert await store.latest_seq(scan_id) == latest
    assert await store.get_task(decided.id) == decided
    assert await store.get_task(pending.id) == pending
    with pytest.raises(NotFound):
        await store.undo_task("no-such-task", seq=1, by="admin-1", at=at(4))


async def test_an_undo_of_a_decision_already_undone_and_redone_is_a_conflict(store: Store) -> None:
    """No lost update: an undo carrying the seq of an older decision by the same admin fails."""
    scan_id = await open_scan(store)
    first = await decide(store, await submit(store, scan_id), TaskStatus.VALIDATED)
    second = await decide(store, await undo(store, first), TaskStatus.REFUSED)
    assert second.decided_by == first.decided_by
    with pytest.raises(Conflict):
        await store.undo_task(first.id, seq=first.seq, by="admin-1", at=at(9))
    assert await store.get_task(first.id) == second


async def test_of_concurrent_undos_of_one_decision_exactly_one_wins(store: Store) -> None:
    """Ten undos of one decision at once: one succeeds, nine are Conflict, counters revert once."""
    scan_id = await open_scan(store)
    decided = await decide(store, await submit(store, scan_id), TaskStatus.REFUSED)
    outcomes = await asyncio.gather(
        *(
            store.undo_task(decided.id, seq=decided.seq, by="admin-1", at=at(5 + i))
            for i in range(10)
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, ScanEvent)]
    assert len(winners) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if o not in winners)
    assert await store.latest_seq(scan_id) == decided.seq + 1
    await assert_counters_match_a_recount(store, scan_id)
    stats = await store.stats(scan_id, since=T0)
    assert [(r.decided, r.refused, r.undone) for r in stats.reviewers] == [(0, 0, 1)]


async def test_undos_through_two_stores_on_one_database_let_exactly_one_win(
    store_adapter: StoreAdapter, make_store: StoreFactory
) -> None:
    """Two stores on the same data (two server processes, no lock in common) undoing one
    decision at once: exactly one undo wins, and the counters revert once."""
    if not store_adapter.persistent:
        pytest.skip("this adapter's data is its process's own")
    first, second = await make_store(), await make_store()
    scan_id = await open_scan(first)
    decided = await decide(first, await submit(first, scan_id), TaskStatus.REFUSED)
    outcomes = await asyncio.gather(
        *(
            (first, second)[i % 2].undo_task(decided.id, seq=decided.seq, by="admin-1", at=at(5))
            for i in range(10)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, ScanEvent) for o in outcomes) == 1
    assert all(isinstance(o, ScanEvent | Conflict) for o in outcomes)
    assert await first.latest_seq(scan_id) == decided.seq + 1
    await assert_counters_match_a_recount(second, scan_id)
    assert len(await second.task_history(decided.id)) == 3


async def test_undo_racing_decisions_keeps_one_consistent_outcome(store: Store) -> None:
    """Undos and decisions of one task at once: exactly one undo wins; a decision wins only
    after it (at most one); the stored task, counters and history agree with the events."""
    scan_id = await open_scan(store)
    decided = await decide(store, await submit(store, scan_id), TaskStatus.VALIDATED)
    undos = [store.undo_task(decided.id, seq=decided.seq, by="admin-1", at=at(5)) for _ in range(5)]
    decisions = [
        store.decide_task(decided.id, TaskStatus.REFUSED, reason="r", by="admin-2", at=at(6))
        for _ in range(5)
    ]
    outcomes = await asyncio.gather(
        *(x for pair in zip(undos, decisions, strict=True) for x in pair), return_exceptions=True
    )
    undone = [o for o in outcomes[0::2] if isinstance(o, ScanEvent)]
    redecided = [o for o in outcomes[1::2] if isinstance(o, ScanEvent)]
    assert len(undone) == 1
    assert all(isinstance(o, Conflict) for o in outcomes[0::2] if o not in undone)
    assert all(isinstance(o, AlreadyDecided) for o in outcomes[1::2] if o not in redecided)
    assert len(redecided) <= 1
    stored = await store.get_task(decided.id)
    assert stored is not None
    if redecided:
        assert redecided[0].seq > undone[0].seq
        assert stored == redecided[0].task
    else:
        assert stored == undone[0].task
    await assert_counters_match_a_recount(store, scan_id)
    events = await store.events_after(scan_id, 0)
    assert events is not None
    history = await store.task_history(decided.id)
    assert [h.seq for h in history] == [e.seq for e in events]


async def test_undo_in_a_closed_scan_works_as_a_decision_does(store: Store) -> None:
    """Closing a scan does not stop deciding its tasks, so it does not stop undoing either."""
    scan_id = await open_scan(store)
    decided = await decide(store, await submit(store, scan_id))
    closed = await store.close_scan(scan_id, at(2))
    assert closed is not None
    undone = await undo(store, decided)
    assert undone.is_pending
    assert undone.seq == closed.seq + 1


# -- history ---------------------------------------------------------------------------------


async def test_history_lists_every_change_in_seq_order(store: Store) -> None:
    """created, validated, undone, refused (with its reason), undone, validated: each with its
    seq (the event's), time and author; a reason only on refusals."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id, "w1", username="Wendy", created_at=at(1))
    await submit(store, scan_id, "w2")  # another task's changes stay out
    steps: list[tuple[str, TaskStatus | None, str | None]] = [
        ("a1", TaskStatus.VALIDATED, "fine"),
        ("a1", None, None),
        ("a2", TaskStatus.REFUSED, "blurry"),
        ("a2", None, None),
        ("a1", TaskStatus.VALIDATED, None),
    ]
    expected = [HistoryEntry(task.seq, at(1), HistoryAction.CREATED, "w1", "Wendy")]
    current = task
    for i, (admin, status, reason) in enumerate(steps):
        when = at(10 + i)
        if status is None:
            event = await store.undo_task(
                current.id, seq=current.seq, by=admin, at=when, by_username=admin.upper()
            )
            action = HistoryAction.UNDONE
        else:
            event = await store.decide_task(
                current.id, status, reason=reason, by=admin, at=when, by_username=admin.upper()
            )
            action = HistoryAction(status.value)
        assert event.task is not None
        current = event.task
        kept = reason if action is HistoryAction.REFUSED else None
        expected.append(HistoryEntry(event.seq, when, action, admin, admin.upper(), kept))
    assert await store.task_history(task.id) == expected
    events = await store.events_after(scan_id, 0, worker_id="w1")
    assert events is not None
    assert [h.seq for h in expected] == [e.seq for e in events]
    assert await store.task_history("no-such-task") == []


async def test_history_names_the_admin_by_id_when_no_name_is_given(store: Store) -> None:
    """A decision without ``by_username`` records the admin's id in its place."""
    scan_id = await open_scan(store)
    decided = await decide(store, await submit(store, scan_id), by="admin-9")
    last = (await store.task_history(decided.id))[-1]
    assert (last.by_user_id, last.by_username) == ("admin-9", "admin-9")


async def test_history_outlives_the_event_log(make_store: StoreFactory) -> None:
    """With a tiny event retention, old events go but no task's history loses an entry."""
    store = await make_store(event_retention=10)
    scan_id = await open_scan(store)
    first = await submit(store, scan_id)
    decided = await decide(store, first, TaskStatus.REFUSED)
    await asyncio.gather(*(store.create_task(new_task(scan_id)) for _ in range(300)))
    assert await store.events_after(scan_id, 0) is None
    history = await store.task_history(first.id)
    assert [(h.seq, h.action) for h in history] == [
        (first.seq, HistoryAction.CREATED),
        (decided.seq, HistoryAction.REFUSED),
    ]


async def test_history_and_reviewers_survive_close_and_reopen(
    store_adapter: StoreAdapter, make_store: StoreFactory, tmp_path: Path
) -> None:
    """History and the v2 stats read back equal after the store is closed and opened again."""
    if not store_adapter.persistent:
        pytest.skip("this adapter keeps nothing after close")
    store = await make_store()
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, f"w{i % 2}", created_at=at(i)) for i in range(4)]
    await undo(store, await decide(store, tasks[0], TaskStatus.REFUSED))
    await decide(store, tasks[1], TaskStatus.VALIDATED, by="admin-2")
    before = [await store.task_history(t.id) for t in tasks], await store.stats(scan_id, since=T0)
    await store.close()
    again = await make_store(place=tmp_path)
    after = [await again.task_history(t.id) for t in tasks], await again.stats(scan_id, since=T0)
    assert after == before
    assert [len(h) for h in after[0]] == [3, 2, 1, 1]


# -- stats additions ---------------------------------------------------------------------------


async def test_stats_count_standing_decisions_of_the_last_minute(store: Store) -> None:
    """decisions_last_minute counts decisions made at or after ``since`` that still stand."""
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, created_at=at(0)) for _ in range(5)]
    for i, task in enumerate(tasks[:4]):
        await decide(store, task, after_seconds=10 * (i + 1))  # at 10, 20, 30, 40
    since = at(20)
    assert (await store.stats(scan_id, since=since)).decisions_last_minute == 3
    current = await store.get_task(tasks[3].id)
    assert current is not None
    await undo(store, current)
    assert (await store.stats(scan_id, since=since)).decisions_last_minute == 2
    assert (await store.stats(scan_id, since=at(0))).decisions_last_minute == 3


async def test_stats_give_the_oldest_pending_submission(store: Store) -> None:
    """oldest_pending_at is the submission time of the earliest pending task, None when none."""
    scan_id = await open_scan(store)
    assert (await store.stats(scan_id, since=T0)).oldest_pending_at is None
    tasks = [await submit(store, scan_id, created_at=at(i)) for i in range(3)]
    assert (await store.stats(scan_id, since=T0)).oldest_pending_at == at(0)
    first = await decide(store, tasks[0])
    assert (await store.stats(scan_id, since=T0)).oldest_pending_at == at(1)
    await decide(store, tasks[1])
    await decide(store, tasks[2])
    assert (await store.stats(scan_id, since=T0)).oldest_pending_at is None
    await undo(store, first)
    assert (await store.stats(scan_id, since=T0)).oldest_pending_at == at(0)


async def test_stats_list_every_reviewer_with_standing_decisions_and_undos(store: Store) -> None:
    """Each admin who ever decided is listed (by name): decisions that stand by verdict,
    undos, and the median latency of the decisions that stand."""
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, created_at=at(0)) for _ in range(6)]

    async def by(task: Task, status: TaskStatus, admin: str, seconds: float) -> Task:
        event = await store.decide_task(
            task.id, status, reason=None, by=admin, at=at(seconds), by_username=admin.title()
        )
        assert event.task is not None
        return event.task

    await by(tasks[0], TaskStatus.VALIDATED, "zed", 1)
    await by(tasks[1], TaskStatus.REFUSED, "zed", 3)
    await by(tasks[2], TaskStatus.VALIDATED, "zed", 8)
    slip = await by(tasks[3], TaskStatus.REFUSED, "amy", 2)
    await undo(store, slip)
    only = await by(tasks[4], TaskStatus.REFUSED, "bob", 4)
    await undo(store, only)
    stats = await store.stats(scan_id, since=T0)
    got = [
        (r.admin_id, r.username, r.decided, r.validated, r.refused, r.undone)
        for r in stats.reviewers
    ]
    assert got == [
        ("amy", "Amy", 0, 0, 0, 1),
        ("bob", "Bob", 0, 0, 0, 1),
        ("zed", "Zed", 3, 2, 1, 0),
    ]
    p50 = {r.admin_id: r.decision_seconds_p50 for r in stats.reviewers}
    assert p50 == {"amy": None, "bob": None, "zed": pytest.approx(statistics.median([1, 3, 8]))}
    assert stats.decision_seconds_p50 == pytest.approx(3)
    assert stats.counts == ScanCounts(pending=3, validated=2, refused=1)


# -- databases written before v2 ---------------------------------------------------------------


async def _forget_v2(store: Store) -> None:
    """Make the store's data look as a v1 store left it: no history, no reviewer counters."""
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            for table in ("task_history", "scan_reviewers", "reviewer_latency"):
                conn.execute(f"DROP TABLE {table}")
            conn.execute("DROP INDEX tasks_by_decided_at")
            conn.execute("PRAGMA user_version = 0")
        conn.close()
    elif isinstance(store, MongoStore):
        await store.db.history.drop()
        await store.db.meta.drop()
        await store.db.scans.update_many({}, {"$unset": {"reviewers": ""}})
    else:  # pragma: no cover - a new persistent adapter must say how
        pytest.fail(f"no v1 layout known for {type(store).__name__}")


async def test_a_store_opened_on_a_v1_database_fills_in_history_and_reviewers(
    store_adapter: StoreAdapter, make_store: StoreFactory, tmp_path: Path
) -> None:
    """Tasks stored before history existed get ``created`` and their standing decision,
    by the admin's name, and the reviewers' counters count those decisions."""
    if not store_adapter.persistent:
        pytest.skip("this adapter keeps nothing after close")
    store = await make_store()
    admin = make_user("Reviewer", Role.ADMIN)
    await store.create_user(admin, "hash")
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, f"w{i % 2}", created_at=at(i)) for i in range(4)]
    for task, status in zip(
        tasks[:3], [TaskStatus.VALIDATED, TaskStatus.REFUSED] * 2, strict=False
    ):
        await store.decide_task(
            task.id, status, reason="why", by=admin.id, at=at(30), by_username=admin.username
        )
    before = [await store.task_history(t.id) for t in tasks], await store.stats(scan_id, since=T0)
    await _forget_v2(store)
    await store.close()

    again = await make_store(place=tmp_path)
    after = [await again.task_history(t.id) for t in tasks], await again.stats(scan_id, since=T0)
    assert after == before
    assert [len(h) for h in after[0]] == [2, 2, 2, 1]
    # It runs once: a later open adds nothing twice.
    await again.close()
    third = await make_store(place=tmp_path)
    assert (
        [await third.task_history(t.id) for t in tasks],
        await third.stats(scan_id, since=T0),
    ) == before
