"""Properties of the service under any interleaving of submits, decisions, undos, closes, joins.

Hypothesis generates operation lists; some steps run several operations at
once (``asyncio.gather``), so submissions race, admins compete for one task
and viewers join while others write. Each list runs on a fresh store of each
kind (memory, memory with a tiny event retention, SQLite), with a
ViewerSession per user whose events a forwarding task reads as a server's
would. Afterwards every invariant is checked against the store: counters and
stats (the v2 additions too) against a recount of the tasks, and each task's
history against the events and the changes the operations made.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskstream_core import JoinResult, Principal, Scan, ScanEvent, Task, TaskStream, ViewerSession
from taskstream_core._rooms import may_see, may_see_task
from taskstream_core.errors import AlreadyDecided, Conflict, ScanClosed
from taskstream_core.models import EventType, HistoryAction, TaskStatus
from taskstream_core.testing import make_app, sign_up

from ..conformance.adapters import STORE_ADAPTERS

N_ADMINS, N_WORKERS, N_SCANS, N_KEYS = 2, 3, 3, 3
DECIDED = (TaskStatus.VALIDATED, TaskStatus.REFUSED)

# -- operations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Submit:
    worker: int
    scan: int
    key: int | None


@dataclass(frozen=True)
class Decide:
    admin: int
    task: int  # an index into the tasks made so far, modulo their number
    verdict: str


@dataclass(frozen=True)
class Undo:
    admin: int
    task: int  # an index into the tasks made so far, modulo their number


@dataclass(frozen=True)
class Close:
    scan: int


@dataclass(frozen=True)
class Join:
    viewer: int  # admins first, then workers
    scan: int
    resume: bool


@dataclass(frozen=True)
class Leave:
    viewer: int
    scan: int


Single = Submit | Decide | Undo | Close | Join | Leave


@dataclass(frozen=True)
class Together:
    """Operations started at once and awaited together."""

    ops: tuple[Single, ...]


Op = Single | Together

workers = st.integers(0, N_WORKERS - 1)
scans = st.integers(0, N_SCANS - 1)
viewers = st.integers(0, N_ADMINS + N_WORKERS - 1)
submits = st.builds(Submit, workers, scans, st.none() | st.integers(0, N_KEYS - 1))
decides = st.builds(
    Decide,
    st.integers(0, N_ADMINS - 1),
    st.integers(0, 40),
    st.sampled_from(["validated", "refused"]),
)
undos = st.builds(Undo, st.integers(0, N_ADMINS - 1), st.integers(0, 40))
singles: st.SearchStrategy[Single] = st.one_of(
    submits,
    submits,
    decides,
    undos,
    st.builds(Close, scans),
    st.builds(Join, viewers, scans, st.booleans()),
    st.builds(Leave, viewers, scans),
)
competing = decides.flatmap(
    lambda d: st.integers(2, 4).map(
        lambda n: Together(tuple(Decide(i % N_ADMINS, d.task, d.verdict) for i in range(n)))
    )
)


def _one_join_per_viewer_and_scan(ops: tuple[Single, ...]) -> bool:
    """Two joins of one scan by one viewer at once answer in either order: not modelled."""
    joins = [(op.viewer, op.scan) for op in ops if isinstance(op, Join)]
    return len(joins) == len(set(joins))


undo_races = decides.flatmap(
    lambda d: st.integers(1, 3).map(
        lambda n: Together(
            (*(Undo(i % N_ADMINS, d.task) for i in range(n)), Decide(d.admin, d.task, d.verdict))
        )
    )
)
together = st.builds(Together, st.tuples(singles, singles, singles)).filter(
    lambda t: _one_join_per_viewer_and_scan(t.ops)
)
operations = st.lists(
    st.one_of(singles, singles, together, competing, undo_races),
    max_size=18,
)

# -- the model of one viewer -------------------------------------------------------------------


@dataclass
class Viewer:
    """A ViewerSession, what was forwarded to it, and the state it has built from that."""

    principal: Principal
    session: ViewerSession
    live: dict[str, list[ScanEvent]] = field(default_factory=lambda: defaultdict(list))
    stats: int = 0
    views: dict[str, dict[str, Task]] = field(default_factory=dict)
    scan_views: dict[str, Scan] = field(default_factory=dict)
    seqs: dict[str, int] = field(default_factory=dict)  # latest seq applied per scan
    joined: set[str] = field(default_factory=set)
    pump: asyncio.Task[None] | None = None

    def check_visible(self, event: ScanEvent) -> None:
        """Sandboxing: nothing this viewer may not see ever reaches it."""
        assert may_see(self.principal, event), (self.principal.username, event)
        if event.task is not None:
            assert may_see_task(self.principal, event.task)

    def apply(self, event: ScanEvent) -> None:
        """Fold one event into this viewer's view of its scan, in strictly increasing seq."""
        scan_id = event.scan_id
        assert event.seq > self.seqs.get(scan_id, 0), "a duplicate or out-of-order event"
        self.seqs[scan_id] = event.seq
        if event.task is not None:
            self.views.setdefault(scan_id, {})[event.task.id] = event.task
        if event.scan is not None:
            self.scan_views[scan_id] = event.scan

    async def forward(self) -> None:
        """What a transport's forwarding task does: read the session, hand events on."""
        async for event in self.session:
            if event.type is EventType.SCAN_STATS:
                assert self.principal.is_admin, "stats reach admins only"
                self.stats += 1
                continue
            if event.type.is_notice:
                continue  # presence: not in the scan's log (see tests/conformance/test_presence.py)
            self.check_visible(event)
            live = self.live[event.scan_id]
            assert not live or event.seq > live[-1].seq, "live events in seq order, once"
            live.append(event)
            if event.scan_id in self.joined:
                self.apply(event)

    def joined_with(self, scan_id: str, result: JoinResult, since: int | None) -> None:
        """Take a join's answer, then the live events that came after it."""
        if result.tasks is not None:
            assert result.events is None
            assert result.reset == (since is not None)
            for task in result.tasks:
                assert may_see_task(self.principal, task), "a snapshot leaks a task"
                assert task.seq <= result.seq
            self.views[scan_id] = {t.id: t for t in result.tasks}
            self.seqs[scan_id] = result.seq
        else:
            assert result.events is not None
            assert since is not None
            previous = since
            for event in result.events:
                self.check_visible(event)
                assert previous < event.seq <= result.seq
                previous = event.seq
                self.apply(event)
            self.seqs[scan_id] = result.seq
        self.scan_views[scan_id] = result.scan
        self.joined.add(scan_id)
        for event in self.live[scan_id]:
            if event.seq > result.seq:
                self.apply(event)


# -- running a scenario ------------------------------------------------------------------------


@dataclass
class World:
    app: TaskStream
    admins: list[Principal]
    workers: list[Principal]
    scans: list[str]
    viewers: list[Viewer]
    tasks: list[str] = field(default_factory=list)
    #: Each task's successful decisions and undos, as their calls answered them.
    changes: defaultdict[str, list[Task]] = field(default_factory=lambda: defaultdict(list))
    keyed: defaultdict[tuple[str, str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )


async def run_decide(world: World, op: Decide) -> None:
    """Decide a task as one admin: it wins, loses to a decision that stands, or is refused
    because another admin holds the task (an undo claims it for the undoing admin)."""
    if not world.tasks:
        return
    task_id = world.tasks[op.task % len(world.tasks)]
    admin = world.admins[op.admin]
    try:
        decided = await world.app.decide_task(admin, task_id, op.verdict)
    except AlreadyDecided as lost:
        settled = lost.task
    except Conflict as held:
        holder = held.claim
        assert holder is not None, "a Conflict on decide carries the claim"
        assert holder.admin_id != admin.user_id
        return
    else:
        world.changes[task_id].append(decided)
        return
    assert settled is not None
    assert not settled.is_pending


async def run_undo(world: World, op: Undo) -> None:
    """Undo a task as one admin: it succeeds, or is a plain Conflict (not the decider, a pending
    task, or another change won)."""
    if not world.tasks:
        return
    task_id = world.tasks[op.task % len(world.tasks)]
    outcome: Task | Conflict
    try:
        outcome = await world.app.undo_task(world.admins[op.admin], task_id)
    except Conflict as refused:
        outcome = refused
    if isinstance(outcome, Task):
        assert outcome.is_pending
        world.changes[task_id].append(outcome)
    else:
        assert type(outcome) is Conflict


async def run_single(world: World, op: Single) -> None:
    app = world.app
    if isinstance(op, Submit):
        worker, scan_id = world.workers[op.worker], world.scans[op.scan]
        key = None if op.key is None else f"key-{op.key}"
        try:
            task, created = await app.submit_task(worker, scan_id, "content", key)
        except ScanClosed:
            scan = await app.store.get_scan(scan_id)
            assert scan is not None
            assert not scan.is_open
            return
        if created:
            world.tasks.append(task.id)
        if key is not None:
            world.keyed[(worker.user_id, scan_id, key)].add(task.id)
    elif isinstance(op, Decide):
        await run_decide(world, op)
    elif isinstance(op, Undo):
        await run_undo(world, op)
    elif isinstance(op, Close):
        await app.close_scan(world.admins[0], world.scans[op.scan])
    elif isinstance(op, Join):
        viewer, scan_id = world.viewers[op.viewer], world.scans[op.scan]
        since = viewer.seqs.get(scan_id) if op.resume else None
        viewer.joined.discard(scan_id)
        result = await viewer.session.join(scan_id, since_seq=since)
        viewer.joined_with(scan_id, result, since)
        if scan_id not in viewer.session.scans:  # a Leave ran meanwhile, and won
            viewer.joined.discard(scan_id)
    else:
        viewer, scan_id = world.viewers[op.viewer], world.scans[op.scan]
        viewer.session.leave(scan_id)
        viewer.joined.discard(scan_id)


async def settle() -> None:
    """Let forwarding tasks take what was published."""
    for _ in range(20):
        await asyncio.sleep(0)


async def check_changes(world: World) -> None:
    """Decisions and undos of a task alternate, each undo by the decider; the last one stands."""
    store = world.app.store
    for task_id in world.tasks:
        changes = sorted(world.changes[task_id], key=lambda t: t.seq)
        assert len({t.seq for t in changes}) == len(changes)
        for i, change in enumerate(changes):
            assert change.is_pending == (i % 2 == 1), "an undo follows each decision, once"
        stored = await store.get_task(task_id)
        assert stored is not None
        assert stored == (changes[-1] if changes else stored), "the last change stands"
        if not changes:
            assert stored.is_pending
        history = await store.task_history(task_id)
        assert [h.seq for h in history] == [stored.created_seq, *(t.seq for t in changes)]
        assert history[0].action is HistoryAction.CREATED
        assert history[0].by_user_id == stored.worker_id
        decider: str | None = None
        for entry, change in zip(history[1:], changes, strict=True):
            if change.is_pending:
                assert entry.action is HistoryAction.UNDONE
                assert entry.by_user_id == decider, "only the decider undoes"
            else:
                assert entry.action is HistoryAction(change.status.value)
                assert entry.by_user_id == change.decided_by
                assert entry.at == change.decided_at
                assert entry.reason == (
                    change.reason if entry.action is HistoryAction.REFUSED else None
                )
                decider = change.decided_by


async def check_history_against_events(world: World, scan_id: str, events: list[ScanEvent]) -> None:
    """Every task event is in its task's history, with the same seq and action, and only those."""
    by_task: defaultdict[str, list[ScanEvent]] = defaultdict(list)
    for event in events:
        if event.task is not None:
            by_task[event.task.id].append(event)
    for task_id, task_events in by_task.items():
        history = await world.app.store.task_history(task_id)
        assert [h.seq for h in history] == [e.seq for e in task_events], scan_id
        for entry, event in zip(history, task_events, strict=True):
            assert event.task is not None
            if event.type is EventType.TASK_CREATED:
                expected = HistoryAction.CREATED
            elif event.task.is_pending:
                expected = HistoryAction.UNDONE
            else:
                expected = HistoryAction(event.task.status.value)
            assert entry.action is expected


async def check_reviewers(world: World, scan_id: str, tasks: list[Task]) -> None:
    """Each reviewer's figures equal a recount of the tasks and of the histories."""
    store = world.app.store
    stats = await store.stats(scan_id, since=world.app.clock() - timedelta(minutes=1))
    decided = [t for t in tasks if not t.is_pending]
    assert stats.decisions_last_minute == len(decided)
    pending = [t for t in tasks if t.is_pending]
    assert stats.oldest_pending_at == (pending[0].created_at if pending else None)
    undone: Counter[str] = Counter()
    names: dict[str, str] = {}
    for task in tasks:
        for entry in await store.task_history(task.id):
            if entry.action is not HistoryAction.CREATED:
                names[entry.by_user_id] = entry.by_username
            if entry.action is HistoryAction.UNDONE:
                undone[entry.by_user_id] += 1
    got = {
        r.admin_id: (r.username, r.decided, r.validated, r.refused, r.undone)
        for r in stats.reviewers
    }
    assert got == {
        admin: (
            name,
            sum(t.decided_by == admin for t in decided),
            *(sum(t.decided_by == admin and t.status is s for t in decided) for s in DECIDED),
            undone[admin],
        )
        for admin, name in names.items()
    }
    for reviewer in stats.reviewers:
        seconds = [
            (t.decided_at - t.created_at).total_seconds()
            for t in decided
            if t.decided_by == reviewer.admin_id and t.decided_at is not None
        ]
        if not seconds:
            assert reviewer.decision_seconds_p50 is None
        else:
            median = statistics.median(seconds)
            assert reviewer.decision_seconds_p50 == pytest.approx(median, rel=5e-3, abs=1e-3)


async def check_invariants(world: World) -> None:
    app, store = world.app, world.app.store
    await check_changes(world)
    for ids in world.keyed.values():
        assert len(ids) == 1, "an idempotency key made two tasks"

    for scan_id in world.scans:
        tasks = await store.list_tasks(scan_id, limit=10_000)
        latest = await store.latest_seq(scan_id)
        created = [t.created_seq for t in tasks]
        assert created == sorted(set(created))
        assert all(0 < t.seq <= latest for t in tasks)
        events = await store.events_after(scan_id, 0)
        if events is not None:
            assert [e.seq for e in events] == list(range(1, latest + 1)), "seq strictly increases"
            updates = Counter(
                e.task.id for e in events if e.type is EventType.TASK_UPDATED if e.task
            )
            for task_id, n in updates.items():
                assert n == len(world.changes[task_id]), "one task:updated per change"
            await check_history_against_events(world, scan_id, events)
        await check_reviewers(world, scan_id, tasks)

        by_status = Counter(t.status for t in tasks)
        stats = await store.stats(scan_id, since=tasks[0].created_at if tasks else app.clock())
        assert (stats.counts.pending, stats.counts.validated, stats.counts.refused) == (
            by_status[TaskStatus.PENDING],
            by_status[TaskStatus.VALIDATED],
            by_status[TaskStatus.REFUSED],
        ), "counters equal a recount"
        scan = await store.get_scan(scan_id)
        assert scan is not None
        assert scan.counts == stats.counts
        per_worker = {
            w.worker_id: (w.submitted, w.pending, w.validated, w.refused) for w in stats.workers
        }
        recount = {
            worker: (
                sum(t.worker_id == worker for t in tasks),
                *(sum(t.worker_id == worker and t.status is s for t in tasks) for s in TaskStatus),
            )
            for worker in {t.worker_id for t in tasks}
        }
        assert per_worker == recount
        assert stats.submissions_last_minute == len(tasks)

        for viewer in world.viewers:
            if scan_id not in viewer.joined:
                continue
            visible = {t.id: t for t in tasks if may_see_task(viewer.principal, t)}
            assert viewer.views.get(scan_id, {}) == visible, "a viewer's view is the stored state"
            assert viewer.scan_views[scan_id].status is scan.status
            assert viewer.seqs[scan_id] <= latest


async def scenario(kind: str, retention: int, ops: list[Op]) -> None:
    with tempfile.TemporaryDirectory() as place:
        store = STORE_ADAPTERS[kind].make(Path(place), retention)
        async with make_app(store=store, stats_interval=0.01) as app:
            admins = [await sign_up(app, f"admin{i}", "admin") for i in range(N_ADMINS)]
            workers = [await sign_up(app, f"worker{i}") for i in range(N_WORKERS)]
            scans = [(await app.create_scan(admins[0], f"scan {i}")).id for i in range(N_SCANS)]
            viewers = [Viewer(p, ViewerSession(app, p)) for p in admins + workers]
            world = World(app, admins, workers, scans, viewers)
            for viewer in viewers:
                viewer.pump = asyncio.ensure_future(viewer.forward())
            try:
                for op in ops:
                    if isinstance(op, Together):
                        await asyncio.gather(*(run_single(world, o) for o in op.ops))
                    else:
                        await run_single(world, op)
                    await settle()
                await check_invariants(world)
            finally:
                for viewer in viewers:
                    viewer.session.close()
                await asyncio.gather(*(v.pump for v in viewers if v.pump is not None))
        for viewer in viewers:
            assert not viewer.session.lagged


STORE_KINDS = [
    pytest.param("memory", 10_000, id="memory"),
    pytest.param("memory", 4, id="memory-tiny-retention"),
    pytest.param("sqlite", 10_000, id="sqlite"),
]


@pytest.mark.parametrize(("kind", "retention"), STORE_KINDS)
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations)
def test_any_interleaving_keeps_every_invariant(kind: str, retention: int, ops: list[Op]) -> None:
    """Counters and stats equal a recount, seq increases, decisions and undos alternate, each
    task's history matches its events, no leak, loss or repeat."""
    asyncio.run(scenario(kind, retention, ops))
