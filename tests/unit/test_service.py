"""The TaskStream service: RBAC on every use case, validation, snapshots and resume."""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from taskstream_core import JoinResult, NewTask, Principal, Role, Scan, ScanEvent, Task, TaskStream
from taskstream_core._service import ADMIN_SNAPSHOT_DECIDED, WORKER_SNAPSHOT_TASKS
from taskstream_core.errors import AlreadyDecided, Forbidden, InvalidRequest, NotFound, ScanClosed
from taskstream_core.models import EventType, ScanCounts, ScanStatus, TaskStatus
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import RecordingBroker, make_app, sign_up

from ..conformance.factories import new_task


def changes(broker: RecordingBroker) -> list[ScanEvent]:
    """The stored-change events a broker was given (stats snapshots and notices left out)."""
    return [
        e for e in broker.published if e.type is not EventType.SCAN_STATS and not e.type.is_notice
    ]


async def submit_many(
    app: TaskStream, worker: Principal, scan_id: str, n: int, tag: str = ""
) -> list[Task]:
    return [
        (await app.submit_task(worker, scan_id, f"{worker.username} {tag}{i}"))[0] for i in range(n)
    ]


@pytest.fixture
async def scan(app: TaskStream, admin: Principal) -> Scan:
    """An open scan."""
    return await app.create_scan(admin, "Scan", "about it")


@pytest.fixture
async def alices_task(app: TaskStream, alice: Principal, scan: Scan) -> Task:
    """A pending task of alice in ``scan``."""
    task, _ = await app.submit_task(alice, scan.id, "alice's first")
    return task


# -- RBAC on every method ------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    app: TaskStream
    scan: Scan
    task: Task
    callers: dict[Role, Principal]


async def _drain(app: TaskStream, who: Principal, scan_id: str) -> list[Task]:
    return [t async for t in app.iter_tasks(who, scan_id)]


async def _undo_own_decision(w: World, p: Principal) -> Task:
    """Undo the world's task as ``p``, after ``p`` decided it when ``p`` may decide."""
    if p.is_admin:
        await w.app.decide_task(p, w.task.id, "validated")
    return await w.app.undo_task(p, w.task.id)


CALLS: dict[str, tuple[Callable[[World, Principal], Awaitable[object]], set[Role]]] = {
    "create_scan": (lambda w, p: w.app.create_scan(p, "new"), {Role.ADMIN}),
    "list_scans": (lambda w, p: w.app.list_scans(p), {Role.ADMIN, Role.WORKER}),
    "get_scan": (lambda w, p: w.app.get_scan(p, w.scan.id), {Role.ADMIN, Role.WORKER}),
    "close_scan": (lambda w, p: w.app.close_scan(p, w.scan.id), {Role.ADMIN}),
    "submit_task": (lambda w, p: w.app.submit_task(p, w.scan.id, "more"), {Role.WORKER}),
    "decide_task": (
        lambda w, p: w.app.decide_task(p, w.task.id, "validated"),
        {Role.ADMIN},
    ),
    "undo_task": (_undo_own_decision, {Role.ADMIN}),
    "task_history": (lambda w, p: w.app.task_history(p, w.task.id), {Role.ADMIN, Role.WORKER}),
    "get_task": (lambda w, p: w.app.get_task(p, w.task.id), {Role.ADMIN, Role.WORKER}),
    "list_tasks": (lambda w, p: w.app.list_tasks(p, w.scan.id), {Role.ADMIN, Role.WORKER}),
    "iter_tasks": (lambda w, p: _drain(w.app, p, w.scan.id), {Role.ADMIN, Role.WORKER}),
    "export": (lambda w, p: w.app.export(p, w.scan.id), {Role.ADMIN}),
    "stats": (lambda w, p: w.app.stats(p, w.scan.id), {Role.ADMIN}),
    "join": (lambda w, p: w.app.join(p, w.scan.id), {Role.ADMIN, Role.WORKER}),
    "claim_task": (lambda w, p: w.app.claim_task(p, w.task.id), {Role.ADMIN}),
    "release_task": (lambda w, p: w.app.release_task(p, w.task.id), {Role.ADMIN}),
    "claim_next": (lambda w, p: w.app.claim_next(p, w.scan.id), {Role.ADMIN}),
    "list_claims": (lambda w, p: w.app.list_claims(p, w.scan.id), {Role.ADMIN}),
    "presence": (lambda w, p: w.app.presence(p, w.scan.id), {Role.ADMIN}),
}


def test_the_rbac_table_covers_every_public_use_case() -> None:
    """Each public coroutine method of TaskStream that takes a principal is in CALLS."""
    public = {
        name
        for name, member in vars(TaskStream).items()
        if not name.startswith("_")
        and name not in {"start", "stop"}
        and (inspect.iscoroutinefunction(member) or inspect.isasyncgenfunction(member))
    }
    assert public == set(CALLS)


@pytest.fixture
def world(
    app: TaskStream, scan: Scan, alices_task: Task, admin: Principal, alice: Principal
) -> World:
    """A scan with one pending task of alice, and an admin and alice as callers."""
    return World(app, scan, alices_task, {Role.ADMIN: admin, Role.WORKER: alice})


@pytest.mark.parametrize("role", [Role.ADMIN, Role.WORKER])
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_every_method_enforces_rbac(
    world: World, recording_broker: RecordingBroker, method: str, role: Role
) -> None:
    """Each use case runs for the roles allowed and is Forbidden, changing nothing, for others."""
    app, scan = world.app, world.scan
    call, allowed = CALLS[method]
    caller = world.callers[role]  # the worker is alice, who owns the task
    if role in allowed:
        await call(world, caller)
        return
    before = (len(changes(recording_broker)), await app.store.latest_seq(scan.id))
    with pytest.raises(Forbidden):
        await call(world, caller)
    after = (len(changes(recording_broker)), await app.store.latest_seq(scan.id))
    assert after == before


async def test_a_worker_may_not_read_another_workers_task(
    app: TaskStream, bob: Principal, alices_task: Task
) -> None:
    """get_task of someone else's task is Forbidden for a worker."""
    with pytest.raises(Forbidden):
        await app.get_task(bob, alices_task.id)


async def test_unknown_objects_are_not_found(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """An unknown scan or task is NotFound wherever it is named."""
    for call in (
        app.get_scan(admin, "nope"),
        app.close_scan(admin, "nope"),
        app.submit_task(alice, "nope", "x"),
        app.decide_task(admin, "nope", "refused"),
        app.get_task(admin, "nope"),
        app.get_task(alice, "nope"),
        app.list_tasks(admin, "nope"),
        app.export(admin, "nope"),
        app.stats(admin, "nope"),
        app.join(alice, "nope"),
    ):
        with pytest.raises(NotFound):
            await call


async def test_inputs_are_validated_before_anything_is_stored(
    app: TaskStream, recording_broker: RecordingBroker, admin: Principal, alice: Principal
) -> None:
    """Wrong types and lengths are InvalidRequest and leave no trace."""
    scan = await app.create_scan(admin, "s")
    task, _ = await app.submit_task(alice, scan.id, "x")
    published = len(changes(recording_broker))
    for call in (
        app.create_scan(admin, ""),
        app.create_scan(admin, "x" * 201),
        app.create_scan(admin, "ok", 5),
        app.submit_task(alice, scan.id, ""),
        app.submit_task(alice, scan.id, "x" * 5_001),
        app.submit_task(alice, scan.id, "ok", "k" * 101),
        app.submit_task(alice, 12, "ok"),
        app.decide_task(admin, task.id, "pending"),
        app.decide_task(admin, task.id, "validated", "r" * 1_001),
        app.list_tasks(admin, scan.id, status="done"),
        app.list_tasks(admin, scan.id, limit=0),
        app.list_tasks(admin, scan.id, limit=501),
        app.list_tasks(admin, scan.id, cursor="not-a-cursor"),
        app.join(admin, scan.id, since_seq=-1),
        app.join(admin, scan.id, since_seq=True),
        app.join(admin, scan.id, since_seq="1"),
        app.join(admin, scan.id, since_seq=1.0),
    ):
        with pytest.raises(InvalidRequest):
            await call
    assert len(changes(recording_broker)) == published
    assert [s.id for s in await app.list_scans(admin)] == [scan.id]
    assert (await app.get_task(admin, task.id)).is_pending


# -- scans -----------------------------------------------------------------------------------


async def test_create_scan_makes_an_open_scan_owned_by_its_admin(
    app: TaskStream, admin: Principal
) -> None:
    """A new scan is open, empty and created by the caller; the description defaults to ''."""
    scan = await app.create_scan(admin, "Name")
    assert (scan.name, scan.description, scan.status) == ("Name", "", ScanStatus.OPEN)
    assert scan.created_by == admin.user_id
    assert scan.counts == ScanCounts()
    assert await app.get_scan(admin, scan.id) == scan


async def test_workers_list_open_scans_and_admins_all(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """list_scans hides closed scans from workers only."""
    kept = await app.create_scan(admin, "kept")
    gone = await app.create_scan(admin, "gone")
    await app.close_scan(admin, gone.id)
    assert {s.id for s in await app.list_scans(admin)} == {kept.id, gone.id}
    assert [s.id for s in await app.list_scans(alice)] == [kept.id]
    assert (await app.get_scan(alice, gone.id)).status is ScanStatus.CLOSED


async def test_close_scan_announces_once_and_answers_the_closed_scan_again(
    app: TaskStream, recording_broker: RecordingBroker, admin: Principal, scan: Scan
) -> None:
    """Closing publishes scan:updated; closing again answers the scan and publishes nothing."""
    closed = await app.close_scan(admin, scan.id)
    assert closed.status is ScanStatus.CLOSED
    assert [e.type for e in changes(recording_broker)] == [EventType.SCAN_UPDATED]
    assert await app.close_scan(admin, scan.id) == closed
    assert len(changes(recording_broker)) == 1


# -- tasks -------------------------------------------------------------------------------------


async def test_submit_stores_then_announces_the_task(
    app: TaskStream, recording_broker: RecordingBroker, alice: Principal, scan: Scan
) -> None:
    """A submission returns the stored task as new and publishes task:created about it."""
    task, created = await app.submit_task(alice, scan.id, "hello")
    assert created
    assert (task.worker_id, task.worker_username, task.content) == (alice.user_id, "alice", "hello")
    assert task.is_pending
    assert changes(recording_broker) == [
        ScanEvent(EventType.TASK_CREATED, scan.id, task.seq, task=task)
    ]


async def test_an_event_is_published_only_once_its_change_is_stored(
    admin: Principal,
) -> None:
    """At the moment of every publish, the store already holds what the event says."""
    store = MemoryStore()
    seen: list[bool] = []

    class CheckingBroker(RecordingBroker):
        async def publish(self, event: ScanEvent) -> None:
            if event.task is not None:
                seen.append(await store.get_task(event.task.id) == event.task)
            elif event.scan is not None:
                seen.append(await store.get_scan(event.scan_id) == event.scan)
            await super().publish(event)

    async with make_app(store=store, broker=CheckingBroker()) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        task, _ = await app.submit_task(worker, scan.id, "x")
        await app.decide_task(boss, task.id, "refused", "no")
        await app.close_scan(boss, scan.id)
    assert seen == [True, True, True]


async def test_a_repeated_idempotency_key_answers_the_first_task_quietly(
    app: TaskStream, recording_broker: RecordingBroker, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """A replay returns the first task with created=False and publishes nothing."""
    first, created = await app.submit_task(alice, scan.id, "one", "key-1")
    again, created_again = await app.submit_task(alice, scan.id, "two", "key-1")
    assert (created, created_again) == (True, False)
    assert again == first
    theirs, _ = await app.submit_task(bob, scan.id, "one", "key-1")
    assert theirs.id != first.id
    assert len(changes(recording_broker)) == 2


async def test_submitting_to_a_closed_scan_is_scan_closed(
    app: TaskStream, admin: Principal, alice: Principal, scan: Scan
) -> None:
    """After close, a new submission raises ScanClosed."""
    await app.close_scan(admin, scan.id)
    with pytest.raises(ScanClosed):
        await app.submit_task(alice, scan.id, "late")


async def test_decide_records_the_verdict_and_who_gave_it(
    app: TaskStream,
    recording_broker: RecordingBroker,
    admin: Principal,
    alices_task: Task,
) -> None:
    """A decision returns the decided task and publishes task:updated with it."""
    decided = await app.decide_task(admin, alices_task.id, "refused", "too blurry")
    assert decided.status is TaskStatus.REFUSED
    assert (decided.reason, decided.decided_by) == ("too blurry", admin.user_id)
    assert decided.decided_at is not None
    assert changes(recording_broker)[-1] == ScanEvent(
        EventType.TASK_UPDATED, decided.scan_id, decided.seq, task=decided
    )
    assert await app.get_task(admin, alices_task.id) == decided


async def test_an_empty_reason_is_no_reason(
    app: TaskStream, admin: Principal, alices_task: Task
) -> None:
    """A decision with reason '' stores null."""
    assert (await app.decide_task(admin, alices_task.id, "validated", "")).reason is None


async def test_of_two_admins_deciding_at_once_exactly_one_wins(
    app: TaskStream,
    recording_broker: RecordingBroker,
    admin: Principal,
    other_admin: Principal,
    alices_task: Task,
) -> None:
    """Concurrent decisions: one returns the task, the other is AlreadyDecided with the winner's."""
    outcomes = await asyncio.gather(
        app.decide_task(admin, alices_task.id, "validated"),
        app.decide_task(other_admin, alices_task.id, "refused", "no"),
        return_exceptions=True,
    )
    won = [o for o in outcomes if isinstance(o, Task)]
    lost = [o for o in outcomes if isinstance(o, AlreadyDecided)]
    assert len(won) == len(lost) == 1
    assert lost[0].task == won[0]
    assert await app.get_task(admin, alices_task.id) == won[0]
    assert [e.type for e in changes(recording_broker)].count(EventType.TASK_UPDATED) == 1


# -- listing and export ---------------------------------------------------------------------------


async def test_list_tasks_pages_with_cursors_over_every_visible_task(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """Admins page through all tasks, workers through their own, oldest first, each once."""
    mine = await submit_many(app, alice, scan.id, 7, "a")
    theirs = await submit_many(app, bob, scan.id, 5, "b")
    for who, expected in ((admin, mine + theirs), (alice, mine), (bob, theirs)):
        seen: list[Task] = []
        cursor: str | None = None
        while True:
            page = await app.list_tasks(who, scan.id, limit=3, cursor=cursor)
            assert len(page.tasks) <= 3
            seen.extend(page.tasks)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert [t.id for t in seen] == [t.id for t in sorted(expected, key=lambda t: t.seq)]


async def test_the_last_page_has_no_cursor(
    app: TaskStream, admin: Principal, alice: Principal, scan: Scan
) -> None:
    """next_cursor is null when nothing follows, even on a full page."""
    await submit_many(app, alice, scan.id, 4)
    full = await app.list_tasks(admin, scan.id, limit=4)
    assert (len(full.tasks), full.next_cursor) == (4, None)
    assert full.to_dict() == {"tasks": [t.to_dict() for t in full.tasks], "next_cursor": None}
    assert (await app.list_tasks(admin, scan.id, limit="100")).next_cursor is None


async def test_list_tasks_filters_by_status(
    app: TaskStream, admin: Principal, alice: Principal, scan: Scan
) -> None:
    """The status filter keeps only tasks in that status."""
    tasks = await submit_many(app, alice, scan.id, 4)
    await app.decide_task(admin, tasks[1].id, "validated")
    await app.decide_task(admin, tasks[2].id, "refused")
    pending = await app.list_tasks(alice, scan.id, status="pending")
    assert [t.id for t in pending.tasks] == [tasks[0].id, tasks[3].id]
    refused = await app.list_tasks(admin, scan.id, status="refused")
    assert [t.id for t in refused.tasks] == [tasks[2].id]


async def test_export_gives_every_task_of_the_scan_across_pages(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """export returns the scan and all of its tasks, oldest first, beyond one 500-task page."""
    store = app.store
    for i in range(520):
        await store.create_task(new_task(scan.id, alice.user_id if i % 2 else bob.user_id))
    exported_scan, tasks = await app.export(admin, scan.id)
    assert exported_scan == await app.get_scan(admin, scan.id)
    assert len(tasks) == 520
    assert [t.created_seq for t in tasks] == list(range(1, 521))
    with pytest.raises(Forbidden):
        await app.export(alice, scan.id)


async def test_iter_tasks_gives_a_worker_only_its_own(
    app: TaskStream, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """iter_tasks filters by owner for workers."""
    mine = await submit_many(app, alice, scan.id, 3)
    await submit_many(app, bob, scan.id, 3)
    assert [t async for t in app.iter_tasks(alice, scan.id)] == mine


async def test_stats_are_the_scans_figures(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """stats counts per status and per worker, and every submission of the last minute."""
    tasks = await submit_many(app, alice, scan.id, 3) + await submit_many(app, bob, scan.id, 2)
    await app.decide_task(admin, tasks[0].id, "validated")
    await app.decide_task(admin, tasks[3].id, "refused")
    stats = await app.stats(admin, scan.id)
    assert stats.counts == ScanCounts(pending=3, validated=1, refused=1)
    assert stats.submissions_last_minute == 5
    assert stats.acceptance_rate == 0.5
    assert {w.username: (w.submitted, w.pending) for w in stats.workers} == {
        "alice": (3, 2),
        "bob": (2, 1),
    }


# -- join: snapshots -----------------------------------------------------------------------------


async def test_an_admins_snapshot_is_every_pending_task_and_the_last_100_decided(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """Admins get every pending task (past one page) and the 100 latest decided, oldest first."""
    tasks = [
        (await app.submit_task(alice if i % 3 else bob, scan.id, f"t{i}"))[0] for i in range(640)
    ]
    rng = random.Random(7)
    to_decide = rng.sample(tasks, 120)  # decided in an order unrelated to creation
    for task in to_decide:
        await app.decide_task(admin, task.id, rng.choice(["validated", "refused"]))
    decided_ids = {t.id for t in to_decide}
    latest_decided = {t.id for t in to_decide[-ADMIN_SNAPSHOT_DECIDED:]}
    pending_ids = {t.id for t in tasks} - decided_ids
    assert len(pending_ids) > 500

    result = await app.join(admin, scan.id)
    assert result.events is None
    assert not result.reset
    assert result.seq == await app.store.latest_seq(scan.id)
    assert result.tasks is not None
    expected = [t.id for t in tasks if t.id in pending_ids | latest_decided]
    assert [t.id for t in result.tasks] == expected
    for task in result.tasks:
        assert task == await app.get_task(admin, task.id)


async def test_a_workers_snapshot_is_its_own_500_most_recent_tasks(
    app: TaskStream, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """A worker gets its own latest 500 tasks, oldest first, and nothing of others."""
    for i in range(530):
        await app.store.create_task(new_task(scan.id, alice.user_id, content=f"a{i}"))
        if i % 10 == 0:
            await app.submit_task(bob, scan.id, f"b{i}")
    result = await app.join(alice, scan.id)
    mine = [t async for t in app.iter_tasks(alice, scan.id)]
    assert len(mine) == 530
    assert result.tasks == mine[-WORKER_SNAPSHOT_TASKS:]
    bobs = await app.join(bob, scan.id)
    assert bobs.tasks is not None
    assert len(bobs.tasks) == 53
    assert {t.worker_id for t in bobs.tasks} == {bob.user_id}


async def test_a_snapshot_answers_the_contract_shape(
    app: TaskStream, admin: Principal, alices_task: Task, scan: Scan
) -> None:
    """A snapshot is ``{scan, seq, tasks, presence, claims}`` without events and without reset."""
    result = await app.join(admin, scan.id)
    body = result.to_dict()
    assert body.pop("presence")["reviewers"] == 1  # the joiner counts
    assert body == {
        "scan": (await app.get_scan(admin, scan.id)).to_dict(),
        "seq": alices_task.seq,
        "tasks": [alices_task.to_dict()],
        "claims": [],
    }


# -- join: resume ---------------------------------------------------------------------------------


async def test_resume_answers_the_missed_events_the_viewer_may_see(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal, scan: Scan
) -> None:
    """With since_seq, admins get every later event and workers their own and the scan's."""
    a1, _ = await app.submit_task(alice, scan.id, "a1")
    since = a1.seq
    b1, _ = await app.submit_task(bob, scan.id, "b1")
    a2, _ = await app.submit_task(alice, scan.id, "a2")
    await app.decide_task(admin, b1.id, "refused")
    await app.decide_task(admin, a2.id, "validated")
    await app.close_scan(admin, scan.id)
    everything = await app.store.events_after(scan.id, since)
    assert everything is not None

    for_admin = await app.join(admin, scan.id, since_seq=since)
    assert for_admin.tasks is None
    assert for_admin.events == everything
    assert for_admin.seq == everything[-1].seq

    for_alice = await app.join(alice, scan.id, since_seq=since)
    assert for_alice.events is not None
    assert [(e.type, e.task.id if e.task else None) for e in for_alice.events] == [
        (EventType.TASK_CREATED, a2.id),
        (EventType.TASK_UPDATED, a2.id),
        (EventType.SCAN_UPDATED, None),
    ]
    body = for_alice.to_dict()
    assert set(body) == {"scan", "seq", "events", "presence"}
    assert body["events"] == [e.to_envelope() for e in for_alice.events]


async def test_resume_from_the_latest_seq_is_an_empty_list(
    app: TaskStream, alice: Principal, alices_task: Task, scan: Scan
) -> None:
    """A viewer that missed nothing gets no events, not a snapshot."""
    result = await app.join(alice, scan.id, since_seq=alices_task.seq)
    assert (result.events, result.tasks, result.reset) == ([], None, False)


async def test_resume_from_the_future_resets_with_a_snapshot(
    app: TaskStream, alice: Principal, alices_task: Task, scan: Scan
) -> None:
    """since_seq above the scan's latest seq (another server's data) answers a reset snapshot."""
    result = await app.join(alice, scan.id, since_seq=alices_task.seq + 1)
    assert result.reset
    assert result.events is None
    assert result.tasks == [alices_task]
    assert result.to_dict()["reset"] is True
    assert set(result.to_dict()) == {"scan", "seq", "tasks", "reset", "presence"}  # a worker


async def test_resume_past_pruned_events_resets_with_a_snapshot(admin: Principal) -> None:
    """When the store no longer holds every missed event, join answers a reset snapshot."""
    async with make_app(store=MemoryStore(event_retention=5)) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        tasks = await submit_many(app, worker, scan.id, 12)
        result = await app.join(worker, scan.id, since_seq=2)
        assert result.reset
        assert result.tasks == tasks
        assert result.seq == 12
        recent = await app.join(worker, scan.id, since_seq=8)
        assert recent.events is not None
        assert [e.seq for e in recent.events] == [9, 10, 11, 12]


# -- lifecycle ------------------------------------------------------------------------------------


async def test_a_change_whose_caller_is_cancelled_is_still_stored_and_announced() -> None:
    """Cancelling the caller (a client gone) does not leave a change stored but unannounced."""
    gate = asyncio.Event()

    class SlowStore(MemoryStore):
        async def create_task(
            self, task: NewTask, *, check_user: bool = False
        ) -> tuple[Task, ScanEvent | None]:
            await gate.wait()
            return await super().create_task(task, check_user=check_user)

    broker = RecordingBroker()
    async with make_app(store=SlowStore(), broker=broker) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        call = asyncio.ensure_future(app.submit_task(worker, scan.id, "x"))
        await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        gate.set()
    # Leaving the block stopped the app, which waits for changes under way.
    assert [e.type for e in changes(broker)] == [EventType.TASK_CREATED]
    assert len(await app.store.list_tasks(scan.id)) == 1


def test_join_result_without_tasks_serialises_an_empty_list() -> None:
    """A JoinResult built with neither tasks nor events is an empty snapshot."""
    scan = Scan("s", "n", "", ScanStatus.OPEN, "a", new_task("s").created_at)
    assert JoinResult(scan=scan, seq=0).to_dict() == {"scan": scan.to_dict(), "seq": 0, "tasks": []}
