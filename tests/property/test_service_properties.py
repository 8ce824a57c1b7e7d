"""Properties of the service under any interleaving of submits, decisions, closes and joins.

Hypothesis generates operation lists; some steps run several operations at
once (``asyncio.gather``), so submissions race, admins compete for one task
and viewers join while others write. Each list runs on a fresh store of each
kind (memory, memory with a tiny event retention, SQLite), with a
ViewerSession per user whose events a forwarding task reads as a server's
would. Afterwards every invariant is checked against the store.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskstream_core import JoinResult, Principal, Scan, ScanEvent, Task, TaskStream, ViewerSession
from taskstream_core._rooms import may_see, may_see_task
from taskstream_core.errors import AlreadyDecided, ScanClosed
from taskstream_core.models import EventType, TaskStatus
from taskstream_core.testing import make_app, sign_up

from ..conformance.adapters import STORE_ADAPTERS

N_ADMINS, N_WORKERS, N_SCANS, N_KEYS = 2, 3, 3, 3

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


Single = Submit | Decide | Close | Join | Leave


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
singles: st.SearchStrategy[Single] = st.one_of(
    submits,
    submits,
    decides,
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


together = st.builds(Together, st.tuples(singles, singles, singles)).filter(
    lambda t: _one_join_per_viewer_and_scan(t.ops)
)
operations = st.lists(
    st.one_of(singles, singles, together, competing),
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
    wins: Counter[str] = field(default_factory=Counter)
    winners: dict[str, Task] = field(default_factory=dict)
    keyed: defaultdict[tuple[str, str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )


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
        if not world.tasks:
            return
        task_id = world.tasks[op.task % len(world.tasks)]
        try:
            decided = await app.decide_task(world.admins[op.admin], task_id, op.verdict)
        except AlreadyDecided as lost:
            settled = lost.task
        else:
            world.wins[task_id] += 1
            world.winners[task_id] = decided
            return
        assert settled is not None
        assert not settled.is_pending
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


async def check_invariants(world: World) -> None:
    app, store = world.app, world.app.store
    for task_id, wins in world.wins.items():
        assert wins <= 1, "a task was decided twice"
        stored = await store.get_task(task_id)
        assert stored == world.winners[task_id], "the stored task keeps the winner's decision"
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
            assert all(n == 1 for n in updates.values()), "one task:updated per task"

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
    """Counters equal a recount, seq increases, one decision per task, no leak, loss or repeat."""
    asyncio.run(scenario(kind, retention, ops))
