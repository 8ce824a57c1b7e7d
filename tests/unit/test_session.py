"""ViewerSession: snapshot then live events, without gaps, duplicates or leaks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from taskstream_core import (
    Principal,
    Scan,
    ScanEvent,
    Task,
    TaskStream,
    ViewerClosed,
    ViewerSession,
)
from taskstream_core._store import NewTask
from taskstream_core.errors import NotFound
from taskstream_core.models import EventType, ScanStatus, TaskStatus, utc_now
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import make_app, sign_up

Hook = Callable[[], Awaitable[None]]


class HookedStore(MemoryStore):
    """A memory store that runs a hook (another client's change) just before one read.

    It reproduces, deterministically, the interleavings a store that yields
    (SQLite, MongoDB) allows between the reads a join makes.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hooks: dict[str, Hook] = {}

    async def _fire(self, name: str) -> None:
        hook = self.hooks.pop(name, None)
        if hook is not None:
            await hook()

    async def latest_seq(self, scan_id: str) -> int:
        await self._fire("latest_seq")
        seq = await super().latest_seq(scan_id)
        await self._fire("after latest_seq")  # read, but not yet seen by the caller
        return seq

    async def get_scan(self, scan_id: str) -> Scan | None:
        await self._fire("get_scan")
        return await super().get_scan(scan_id)

    async def list_tasks(
        self,
        scan_id: str,
        *,
        worker_id: str | None = None,
        status: TaskStatus | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Task]:
        await self._fire("list_tasks")
        return await super().list_tasks(
            scan_id, worker_id=worker_id, status=status, after=after, limit=limit
        )

    async def recent_tasks(
        self, scan_id: str, *, worker_id: str | None = None, decided: bool = False, limit: int
    ) -> list[Task]:
        await self._fire("recent_tasks")
        return await super().recent_tasks(
            scan_id, worker_id=worker_id, decided=decided, limit=limit
        )


def is_change(event: ScanEvent) -> bool:
    """Whether an event is a stored change: not a stats snapshot, not a notice (presence)."""
    return event.type is not EventType.SCAN_STATS and not event.type.is_notice


async def next_change(session: ViewerSession) -> ScanEvent:
    """The session's next event that is not a stats snapshot or a notice."""
    while not is_change(event := await asyncio.wait_for(session.next_event(), 2.0)):
        pass
    return event


async def delivered() -> None:
    """Let the fan-out's task deliver what was published so far."""
    for _ in range(5):
        await asyncio.sleep(0.005)


async def pending_now(session: ViewerSession) -> list[ScanEvent]:
    """Events the session holds once what was published is delivered (stats and notices
    left out)."""
    await delivered()
    events: list[ScanEvent] = []
    while True:
        try:
            event = await asyncio.wait_for(session.next_event(), 0.01)
        except TimeoutError:
            return events
        if is_change(event):
            events.append(event)


def collect(into: list[ScanEvent]) -> Callable[[ScanEvent], int]:
    """A push sink that keeps the changes it is given and holds nothing unsent."""

    def sink(event: ScanEvent) -> int:
        if not event.type.is_notice:
            into.append(event)
        return 0

    return sink


def assert_no_duplicates(snapshot: list[Task], live: list[ScanEvent]) -> None:
    """No live event repeats a task state the snapshot (or an earlier event) already gave."""
    known = {t.id: t.seq for t in snapshot}
    for event in live:
        if event.task is not None:
            assert event.task.seq > known.get(event.task.id, 0), f"duplicate of {event.task.id}"
            known[event.task.id] = event.task.seq


async def test_a_viewer_gets_the_snapshot_then_only_later_events(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """Joining answers the snapshot; events that follow come live, in seq order, once each."""
    scan = await app.create_scan(admin, "s")
    before, _ = await app.submit_task(alice, scan.id, "before")
    with ViewerSession(app, admin) as viewer:
        joined = await viewer.join(scan.id)
        assert joined.tasks == [before]
        assert viewer.scans == {scan.id}
        after, _ = await app.submit_task(alice, scan.id, "after")
        decided = await app.decide_task(admin, after.id, "validated")
        live = [await next_change(viewer), await next_change(viewer)]
        assert [(e.type, e.task) for e in live] == [
            (EventType.TASK_CREATED, after),
            (EventType.TASK_UPDATED, decided),
        ]


async def test_a_change_stored_before_the_snapshot_read_is_not_delivered_again() -> None:
    """An event published between subscribing and reading the snapshot is dropped as covered."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        raced: list[Task] = []

        async def meanwhile() -> None:
            raced.append((await app.submit_task(worker, scan.id, "raced"))[0])

        store.hooks["latest_seq"] = meanwhile
        with ViewerSession(app, boss) as viewer:
            joined = await viewer.join(scan.id)
            assert joined.tasks == raced
            assert await pending_now(viewer) == []


@pytest.mark.parametrize(
    ("who", "read"),
    [("admin", "list_tasks"), ("admin", "recent_tasks"), ("worker", "recent_tasks")],
)
async def test_a_change_during_the_snapshot_read_is_delivered_exactly_once(
    who: str, read: str
) -> None:
    """A submission and a decision racing the snapshot reads reach the viewer once, not twice."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        old, _ = await app.submit_task(worker, scan.id, "old")

        async def meanwhile() -> None:
            await app.submit_task(worker, scan.id, "raced")
            await app.decide_task(boss, old.id, "refused")

        store.hooks[read] = meanwhile
        viewer_principal = boss if who == "admin" else worker
        with ViewerSession(app, viewer_principal) as viewer:
            joined = await viewer.join(scan.id)
            assert joined.tasks is not None
            live = await pending_now(viewer)
            assert_no_duplicates(joined.tasks, live)
            # ...and nothing is lost: snapshot plus live events give the stored state.
            view = {t.id: t for t in joined.tasks}
            view.update({e.task.id: e.task for e in live if e.task is not None})
            stored = await store.list_tasks(scan.id)
            assert view == {t.id: t for t in stored}


@pytest.mark.parametrize(
    ("who", "read", "since"),
    [
        ("admin", "list_tasks", None),
        ("worker", "recent_tasks", None),
        ("worker", "get_scan", 0),
        ("admin", "get_scan", 0),
    ],
)
async def test_a_reader_running_during_the_join_loses_and_repeats_nothing(
    who: str, read: str, since: int | None
) -> None:
    """With a forwarding task reading the session while it joins (as a server does), changes
    racing the join arrive exactly once, in the answer or live."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        old, _ = await app.submit_task(worker, scan.id, "old")

        async def meanwhile() -> None:
            await app.submit_task(worker, scan.id, "raced")
            await app.decide_task(boss, old.id, "refused")
            await asyncio.sleep(0.01)  # the forwarding task runs now

        store.hooks[read] = meanwhile
        live: list[ScanEvent] = []

        async def forward(viewer: ViewerSession) -> None:
            async for event in viewer:
                if is_change(event):
                    live.append(event)

        with ViewerSession(app, boss if who == "admin" else worker) as viewer:
            pump = asyncio.ensure_future(forward(viewer))
            joined = await viewer.join(scan.id, since_seq=since)
            await asyncio.sleep(0.01)
        await pump

        view: dict[str, Task] = {}
        delivered = [*(joined.events or ()), *live]
        if joined.tasks is not None:
            assert_no_duplicates(joined.tasks, live)
            view = {t.id: t for t in joined.tasks}
        else:
            assert_no_duplicates([], delivered)
        view.update({e.task.id: e.task for e in delivered if e.task is not None})
        assert view == {t.id: t for t in await store.list_tasks(scan.id)}
        seqs = [e.seq for e in delivered]
        assert seqs == sorted(set(seqs)), "in seq order, each once"


@pytest.mark.parametrize("read", ["get_scan", "latest_seq"])
async def test_a_close_racing_the_join_reaches_the_viewer(read: str) -> None:
    """A scan closed while a viewer joins is seen closed, in the snapshot or live."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")

        async def meanwhile() -> None:
            await app.close_scan(boss, scan.id)

        store.hooks[read] = meanwhile
        with ViewerSession(app, worker) as viewer:
            joined = await viewer.join(scan.id)
            seen = joined.scan
            for event in await pending_now(viewer):
                seen = event.scan or seen
            assert seen.status is ScanStatus.CLOSED


async def test_resuming_through_a_session_continues_after_the_last_missed_event(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """join with since_seq answers the missed events and live events continue after them."""
    scan = await app.create_scan(admin, "s")
    first, _ = await app.submit_task(alice, scan.id, "first")
    missed, _ = await app.submit_task(alice, scan.id, "missed")
    with ViewerSession(app, alice) as viewer:
        joined = await viewer.join(scan.id, since_seq=first.seq)
        assert [e.task for e in joined.events or ()] == [missed]
        assert await pending_now(viewer) == []
        later, _ = await app.submit_task(alice, scan.id, "later")
        assert (await next_change(viewer)).task == later


async def test_a_worker_session_never_sees_another_workers_tasks_or_stats(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal
) -> None:
    """A worker's session carries its own task events and scan events, nothing else."""
    scan = await app.create_scan(admin, "s")
    await app.submit_task(bob, scan.id, "bob before")
    with ViewerSession(app, alice) as viewer:
        joined = await viewer.join(scan.id)
        assert joined.tasks == []
        bobs, _ = await app.submit_task(bob, scan.id, "bob after")
        await app.decide_task(admin, bobs.id, "validated")
        mine, _ = await app.submit_task(alice, scan.id, "mine")
        await app.close_scan(admin, scan.id)
        await asyncio.sleep(2 * app.stats_interval)  # let scan:stats go out
        got = await pending_now(viewer)
        assert [(e.type, e.task.id if e.task else None) for e in got] == [
            (EventType.TASK_CREATED, mine.id),
            (EventType.SCAN_UPDATED, None),
        ]
        assert await pending_now(viewer) == []


async def test_an_admin_session_receives_stats_of_its_scans(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """scan:stats reach a joined admin, with figures after the change."""
    scan = await app.create_scan(admin, "s")
    with ViewerSession(app, admin) as viewer:
        await viewer.join(scan.id)
        await app.submit_task(alice, scan.id, "x")
        events = [await viewer.next_event() for _ in range(3)]  # and scan:presence
        stats = [e.stats for e in events if e.type is EventType.SCAN_STATS]
        assert len(stats) == 1
        assert stats[0] is not None
        assert stats[0].counts.pending == 1


async def test_leave_stops_that_scans_events_only(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """After leaving a scan nothing of it arrives, while a still-joined scan's events do."""
    left = await app.create_scan(admin, "left")
    kept = await app.create_scan(admin, "kept")
    with ViewerSession(app, alice) as viewer:
        await viewer.join(left.id)
        await viewer.join(kept.id)
        viewer.leave(left.id)
        assert viewer.scans == {kept.id}
        await app.submit_task(alice, left.id, "unseen")
        await app.close_scan(admin, left.id)
        seen, _ = await app.submit_task(alice, kept.id, "seen")
        assert [e.task for e in await pending_now(viewer)] == [seen]


@pytest.mark.parametrize("read", ["latest_seq", "get_scan"])
async def test_a_leave_while_the_join_is_under_way_wins(read: str) -> None:
    """A leave that comes in while a join of that scan is still running leaves it for good."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        with ViewerSession(app, worker) as viewer:

            async def meanwhile() -> None:
                viewer.leave(scan.id)

            store.hooks[read] = meanwhile
            await viewer.join(scan.id)
            assert viewer.scans == frozenset()
            assert app.fanout.room_count == 0
            await app.submit_task(worker, scan.id, "unseen")
            assert await pending_now(viewer) == []


async def test_a_failed_join_joins_nothing(app: TaskStream, alice: Principal) -> None:
    """Joining an unknown scan raises NotFound and leaves the session's rooms as they were."""
    with ViewerSession(app, alice) as viewer:
        with pytest.raises(NotFound):
            await viewer.join("no-such-scan")
        assert viewer.scans == frozenset()
        assert app.fanout.room_count == 0


async def test_failed_joins_leave_no_per_scan_state_in_the_fanout(
    app: TaskStream, alice: Principal
) -> None:
    """Joins of scans that do not exist leave the fan-out as they found it: no seq gate,
    no room, no subscription beyond the session's own (each used to keep a gate for ever)."""
    with ViewerSession(app, alice) as viewer:
        for n in range(1_000):
            with pytest.raises(NotFound):
                await viewer.join(f"no-such-scan-{n}")
        assert app.fanout.scan_count == 0
        assert app.fanout.room_count == 0
        assert app.fanout.viewer_count == 1
    assert app.fanout.viewer_count == 0


async def test_a_scans_state_goes_with_its_last_viewer(
    app: TaskStream, admin: Principal, alice: Principal
) -> None:
    """The fan-out keeps a scan's seq gate while a viewer has the scan joined: the last one
    to leave (or close) takes it away, and a later event or join starts it again."""
    scan = await app.create_scan(admin, "s")
    first, second = ViewerSession(app, admin), ViewerSession(app, alice)
    await first.join(scan.id)
    await second.join(scan.id)
    await app.submit_task(alice, scan.id, "one")
    await delivered()
    assert app.fanout.scan_count == 1
    first.leave(scan.id)
    assert app.fanout.scan_count == 1  # alice still views it
    second.close()
    assert app.fanout.scan_count == 0
    assert app.fanout.room_count == 0
    await app.submit_task(alice, scan.id, "nobody here")
    await delivered()
    assert app.fanout.scan_count == 0  # nobody to order it for
    with ViewerSession(app, admin) as again:
        joined = await again.join(scan.id)
        assert [t.content for t in joined.tasks or ()] == ["one", "nobody here"]
        assert app.fanout.scan_count == 1
        third, _ = await app.submit_task(alice, scan.id, "three")
        assert [e.task for e in await pending_now(again)] == [third]
    assert app.fanout.scan_count == 0
    first.close()


async def test_a_join_of_an_id_named_like_another_scans_room_reaches_nothing_of_it() -> None:
    """A worker joined to scan ``x`` that joins ``x:all-tasks`` (a scan that cannot exist)
    receives nothing of ``x``'s other workers while that join runs: no scan id names a room
    of another scan (``scan:x`` + ``:all-tasks`` was the admins' room of ``x``)."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        alice, bob = await sign_up(app, "alice"), await sign_up(app, "bob")
        scan = await app.create_scan(boss, "s")
        with ViewerSession(app, alice) as viewer:
            await viewer.join(scan.id)
            seen: list[ScanEvent] = []

            async def meanwhile() -> None:
                await app.submit_task(bob, scan.id, "bob's own")
                seen.extend(await pending_now(viewer))

            store.hooks["get_scan"] = meanwhile
            with pytest.raises(NotFound):
                await viewer.join(scan.id + ":all-tasks")
            assert [e.task.content for e in seen if e.task] == []


async def test_closing_a_session_ends_its_stream(app: TaskStream, alice: Principal) -> None:
    """After close(), iteration ends and next_event raises ViewerClosed."""
    viewer = ViewerSession(app, alice)
    viewer.close()
    assert [e async for e in viewer] == []
    with pytest.raises(ViewerClosed):
        await viewer.next_event()
    assert not viewer.lagged


@pytest.mark.parametrize("since", [None, 0])
async def test_a_change_published_after_the_seq_read_but_before_its_answer_is_kept(
    since: int | None,
) -> None:
    """The store's read of the latest seq finished before a change committed, and the change
    was published before the join learnt that seq (a store whose reads run on a thread of
    their own allows it): the answer is as of the seq read, and the change, held by the
    fan-out while the join ran, follows live, once."""
    store = HookedStore()
    async with make_app(store=store) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        raced: list[Task] = []

        async def meanwhile() -> None:
            raced.append((await app.submit_task(worker, scan.id, "raced"))[0])

        store.hooks["after latest_seq"] = meanwhile
        got: list[ScanEvent] = []
        viewer = ViewerSession(app, boss)
        viewer.forward_to(collect(got), lambda: None)
        joined = await viewer.join(scan.id, since)
        await delivered()
        answered = (joined.tasks or []) if since is None else [e.task for e in joined.events or ()]
        live = [e.task for e in got if is_change(e)]
        assert answered + live == raced
        assert joined.seq == raced[0].seq - 1  # as of the read: the change came after it
        viewer.close()


async def test_forwarding_hands_the_sink_what_iterating_would_yield_in_order(
    app: TaskStream, admin: Principal, alice: Principal, bob: Principal
) -> None:
    """A forwarding session passes its sink, at delivery, every event the viewer may
    see after its join, in seq order, nothing twice and nothing of another worker;
    a close tells it nothing, a lag tells it to resume."""
    scan = await app.create_scan(admin, "s")
    before, _ = await app.submit_task(alice, scan.id, "before")
    got: list[ScanEvent] = []
    lags: list[bool] = []
    viewer = ViewerSession(app, alice)
    viewer.forward_to(collect(got), lambda: lags.append(True))
    joined = await viewer.join(scan.id)
    assert joined.tasks == [before]
    mine, _ = await app.submit_task(alice, scan.id, "mine")
    await app.submit_task(bob, scan.id, "not for alice")
    decided = await app.decide_task(admin, mine.id, "refused")
    closed = await app.close_scan(admin, scan.id)
    await delivered()
    assert [(e.type, e.task, e.scan) for e in got] == [
        (EventType.TASK_CREATED, mine, None),
        (EventType.TASK_UPDATED, decided, None),
        (EventType.SCAN_UPDATED, None, closed),
    ]
    assert [e.seq for e in got] == sorted({e.seq for e in got})
    viewer.close()
    assert lags == []
    lagging = ViewerSession(app, alice)
    lagging.forward_to(lambda event: app.queue_size + 1, lambda: lags.append(True))  # holds all
    again = await app.create_scan(admin, "again")
    await lagging.join(again.id)
    await app.submit_task(alice, again.id, "too much")
    await delivered()
    assert lags == [True]
    assert lagging.lagged


async def test_a_change_stored_but_never_published_reaches_viewers_from_the_store() -> None:
    """Its publisher died between storing and publishing: after the reorder window the
    viewer gets it from the store, before the later change it was held behind."""
    async with make_app(reorder_window=0.05) as app:
        boss = await sign_up(app, "boss", "admin")
        worker = await sign_up(app, "worker")
        scan = await app.create_scan(boss, "s")
        with ViewerSession(app, boss) as viewer:
            await viewer.join(scan.id)
            orphan, _ = await app.store.create_task(  # stored, never published
                NewTask(
                    id="orphan",
                    scan_id=scan.id,
                    worker_id=worker.user_id,
                    worker_username=worker.username,
                    content="its publisher died",
                    created_at=utc_now(),
                )
            )
            after, _ = await app.submit_task(worker, scan.id, "after it")
            got: list[ScanEvent] = []
            while len(got) < 2:
                event = await asyncio.wait_for(viewer.next_event(), 2)
                if is_change(event):  # not figures, not presence
                    got.append(event)
            assert [(e.seq, e.task.id if e.task else None) for e in got] == [
                (orphan.seq, "orphan"),
                (after.seq, after.id),
            ]
