"""Properties of the service under any interleaving of submits, decisions, undos, claims,
closes, joins.

Hypothesis generates operation lists; some steps run several operations at
once (``asyncio.gather``), so submissions race, admins compete for one task
(deciding it, claiming it, or asking for the next one) and viewers join while
others write. Each list runs on a fresh store of each kind (memory, memory
with a tiny event retention, SQLite), and once with the claims in a real
Redis (the registry several processes share), with a ViewerSession per user
whose events a forwarding task reads as a server's would. The registry answers
each call a few event-loop turns late (chosen by Hypothesis), as a Redis
answer on another pooled connection may come, so announcements of changes
made at once go out in either order.

After every step the claims are checked (contract v2 §4.2): each is on a
pending task of its scan, a task has at most one holder, an admin holds at
most one task per scan, and each joined admin's claims (its join's snapshot,
then ``task:claimed``) are the registry's. A step run alone is also checked against what the
contract says it does: a claim, a release, ``claim_next`` (the oldest task
nobody else holds, after ``after_task_id``), a decision (``conflict`` with the
claim when another admin holds the task, unless ``override``; the claim ends)
and an undo (the undoing admin holds the task). A race of claims has at most
one winner, and a race of ``claim_next`` hands out different tasks, one to
each caller while enough are free. Afterwards every invariant is checked
against the store: counters and stats (the v2 additions too) against a recount
of the tasks, each task's history against the events and the changes the
operations made, and the admins' claims once more.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskstream_core import JoinResult, Principal, Scan, ScanEvent, Task, TaskStream, ViewerSession
from taskstream_core._claims import ClaimChange, ClaimOutcome, ClaimRegistry
from taskstream_core._rooms import may_see, may_see_task
from taskstream_core.brokers.memory import MemoryClaimRegistry
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.errors import AlreadyDecided, Conflict, ScanClosed
from taskstream_core.models import Claim, EventType, HistoryAction, TaskStatus
from taskstream_core.testing import RecordingBroker, make_app, sign_up

from ..conformance.adapters import STORE_ADAPTERS
from ..support.redis_server import redis_skip_reason, shared_redis_url, unique_prefix

N_ADMINS, N_WORKERS, N_SCANS, N_KEYS = 3, 3, 3, 3
DECIDED = (TaskStatus.VALIDATED, TaskStatus.REFUSED)

_T = TypeVar("_T")

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
    override: bool = False


@dataclass(frozen=True)
class Undo:
    admin: int
    task: int  # an index into the tasks made so far, modulo their number


@dataclass(frozen=True)
class ClaimTask:
    admin: int
    task: int  # an index into the tasks made so far, modulo their number


@dataclass(frozen=True)
class Release:
    admin: int
    task: int  # an index into the tasks made so far, modulo their number


@dataclass(frozen=True)
class ClaimNext:
    admin: int
    scan: int
    after: int | None  # an index into the scan's tasks, modulo their number; None: from the start


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


Single = Submit | Decide | Undo | ClaimTask | Release | ClaimNext | Close | Join | Leave


@dataclass(frozen=True)
class Together:
    """Operations started at once and awaited together."""

    ops: tuple[Single, ...]


Op = Single | Together

admins = st.integers(0, N_ADMINS - 1)
workers = st.integers(0, N_WORKERS - 1)
scans = st.integers(0, N_SCANS - 1)
tasks = st.integers(0, 40)
viewers = st.integers(0, N_ADMINS + N_WORKERS - 1)
submits = st.builds(Submit, workers, scans, st.none() | st.integers(0, N_KEYS - 1))
decides = st.builds(
    Decide,
    admins,
    tasks,
    st.sampled_from(["validated", "refused"]),
    st.sampled_from([False, False, True]),
)
undos = st.builds(Undo, admins, tasks)
claims = st.builds(ClaimTask, admins, tasks)
releases = st.builds(Release, admins, tasks)
claim_nexts = st.builds(ClaimNext, admins, scans, st.none() | tasks)
singles: st.SearchStrategy[Single] = st.one_of(
    submits,
    submits,
    submits,
    submits,
    decides,
    decides,
    undos,
    claims,
    claims,
    releases,
    claim_nexts,
    claim_nexts,
    st.builds(Close, scans),
    st.builds(Join, viewers, scans, st.booleans()),
    st.builds(Leave, viewers, scans),
)
competing = decides.flatmap(
    lambda d: st.integers(2, 4).map(
        lambda n: Together(
            tuple(Decide(i % N_ADMINS, d.task, d.verdict, d.override) for i in range(n))
        )
    )
)
#: Several admins claim one task at once: at most one holds it after.
claim_races = st.builds(
    lambda task, n: Together(tuple(ClaimTask(i, task) for i in range(n))),
    tasks,
    st.integers(2, N_ADMINS),
)
#: Several admins ask for the next task of one scan at once: each gets a different one.
claim_next_races = st.builds(
    lambda scan, n: Together(tuple(ClaimNext(i, scan, None) for i in range(n))),
    scans,
    st.integers(2, N_ADMINS),
)


def _crossing(
    admin: int, one: int, two: int, scan: int, *, kind: str, join: Join | None
) -> Together:
    """One admin's changes of its claims at once, an admin joining meanwhile or not."""
    pairs: dict[str, tuple[Single, Single]] = {
        "release": (ClaimTask(admin, one), Release(admin, one)),
        "move": (ClaimTask(admin, one), ClaimTask(admin, two)),
        "next": (ClaimNext(admin, scan, None), ClaimTask(admin, one)),
    }
    return Together(pairs[kind] if join is None else (*pairs[kind], join))


#: One admin claims a task and releases it, claims two tasks, or asks for the next task and
#: claims one, all at once: their announcements may cross, as may an admin's join.
crossings = st.builds(
    _crossing,
    admins,
    tasks,
    tasks,
    scans,
    kind=st.sampled_from(["release", "move", "next"]),
    join=st.none() | st.builds(Join, admins, scans, st.just(False)),
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
    st.one_of(
        singles,
        singles,
        together,
        competing,
        undo_races,
        claim_races,
        claim_next_races,
        crossings,
    ),
    max_size=24,
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
    #: An admin's claims per scan (task id → claim), from its join's snapshot and
    #: ``task:claimed``; None after a resume, whose answer carries no claims.
    claims: dict[str, dict[str, Claim] | None] = field(default_factory=dict)
    #: ``task:claimed`` received while a join of the scan was under way.
    claim_notices: defaultdict[str, list[ScanEvent]] = field(
        default_factory=lambda: defaultdict(list)
    )
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

    def apply_claim(self, event: ScanEvent) -> None:
        """Fold one ``task:claimed`` into this admin's claims of the scan, as a client would."""
        view = self.claims.get(event.scan_id)
        if view is None:
            return
        assert event.task_id is not None
        if event.claim is None:
            view.pop(event.task_id, None)
        else:
            assert event.claim.task_id == event.task_id
            view[event.task_id] = event.claim

    async def forward(self) -> None:
        """What a transport's forwarding task does: read the session, hand events on."""
        async for event in self.session:
            if event.type is EventType.SCAN_STATS:
                assert self.principal.is_admin, "stats reach admins only"
                self.stats += 1
                continue
            if event.type is EventType.TASK_CLAIMED:
                assert self.principal.is_admin, "workers never learn of claims"
                assert event.seq == 0, "a claim is not part of the scan's log"
                if event.scan_id in self.joined:
                    self.apply_claim(event)
                else:
                    self.claim_notices[event.scan_id].append(event)
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
        if self.principal.is_admin:
            if result.tasks is not None:
                assert result.claims is not None, "an admin's snapshot carries the claims"
                self.claims[scan_id] = {c.task_id: c for c in result.claims}
            else:
                assert result.claims is None, "a resume carries no claims"
                self.claims[scan_id] = None
        else:
            assert result.claims is None, "a worker's join carries no claims"
        self.joined.add(scan_id)
        for event in self.live[scan_id]:
            if event.seq > result.seq:
                self.apply(event)
        for notice in self.claim_notices.pop(scan_id, []):
            self.apply_claim(notice)


# -- running a scenario ------------------------------------------------------------------------


@dataclass
class World:
    app: TaskStream
    admins: list[Principal]
    workers: list[Principal]
    scans: list[str]
    viewers: list[Viewer]
    tasks: list[str] = field(default_factory=list)
    #: Each task's scan.
    scan_of: dict[str, str] = field(default_factory=dict)
    #: Each task's successful decisions and undos, as their calls answered them.
    changes: defaultdict[str, list[Task]] = field(default_factory=lambda: defaultdict(list))
    keyed: defaultdict[tuple[str, str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )

    def task(self, index: int) -> str | None:
        """The task an operation's index names, or None before the first task."""
        return self.tasks[index % len(self.tasks)] if self.tasks else None

    async def holders(self, scan_id: str) -> dict[str, Claim]:
        """The scan's live claims by task, as the registry has them now."""
        return {c.task_id: c for c in await self.app.list_claims(self.admins[0], scan_id)}

    async def stored(self, task_id: str) -> Task:
        task = await self.app.store.get_task(task_id)
        assert task is not None
        return task


async def run_decide(world: World, op: Decide, alone: bool) -> None:
    """Decide a task as one admin: it wins, loses to a decision that stands, or is refused
    with the claim of another admin who holds the task (unless ``override``). Alone, the
    outcome is the one the state before it calls for, and a decision ends the claim."""
    task_id = world.task(op.task)
    if task_id is None:
        return
    admin, scan_id = world.admins[op.admin], world.scan_of[task_id]
    before = await world.stored(task_id)
    held = (await world.holders(scan_id)).get(task_id)
    outcome: Task | Conflict
    try:
        outcome = await world.app.decide_task(admin, task_id, op.verdict, override=op.override)
    except Conflict as refused:  # AlreadyDecided included
        outcome = refused
    if isinstance(outcome, AlreadyDecided):
        assert outcome.task is not None
        assert not outcome.task.is_pending
        assert not alone or not before.is_pending
    elif isinstance(outcome, Conflict):
        holder = outcome.claim
        assert holder is not None, "a Conflict on decide carries the claim"
        assert holder.admin_id != admin.user_id
        assert not op.override, "an override decides whoever holds the task"
        assert not alone or holder == held
    else:
        world.changes[task_id].append(outcome)
        assert outcome.decided_by == admin.user_id
        if alone:
            assert before.is_pending
            assert held is None or held.admin_id == admin.user_id or op.override, (
                "a decision went through another admin's claim"
            )
            assert task_id not in await world.holders(scan_id), "a decision ends the claim"


async def run_undo(world: World, op: Undo, alone: bool) -> None:
    """Undo a task as one admin: it succeeds, or is a plain Conflict (not the decider, a pending
    task, or another change won). Alone, a success leaves the task claimed by the undoer."""
    task_id = world.task(op.task)
    if task_id is None:
        return
    admin = world.admins[op.admin]
    before = await world.stored(task_id)
    outcome: Task | Conflict
    try:
        outcome = await world.app.undo_task(admin, task_id)
    except Conflict as refused:
        outcome = refused
    if isinstance(outcome, Task):
        assert outcome.is_pending
        world.changes[task_id].append(outcome)
        if alone:
            assert not before.is_pending
            assert before.decided_by == admin.user_id
            held = (await world.holders(world.scan_of[task_id])).get(task_id)
            assert held is not None, "the undone task is claimed by the undoing admin"
            assert held.admin_id == admin.user_id
    else:
        assert type(outcome) is Conflict
        assert outcome.claim is None


async def run_claim(world: World, op: ClaimTask, alone: bool) -> Claim | None:
    """Claim a task as one admin: it holds it (taken or renewed, its other claim in the scan
    released), another admin holds it (Conflict with that claim), or it is decided."""
    task_id = world.task(op.task)
    if task_id is None:
        return None
    admin, scan_id = world.admins[op.admin], world.scan_of[task_id]
    before = await world.stored(task_id)
    held = (await world.holders(scan_id)).get(task_id)
    outcome: Claim | Conflict
    try:
        outcome = await world.app.claim_task(admin, task_id)
    except Conflict as refused:  # AlreadyDecided included
        outcome = refused
    if isinstance(outcome, AlreadyDecided):
        assert outcome.task is None or not outcome.task.is_pending
        assert not alone or not before.is_pending
        return None
    if isinstance(outcome, Conflict):
        assert outcome.claim is not None, "a Conflict on claim carries the claim"
        assert outcome.claim.admin_id != admin.user_id
        assert outcome.claim.task_id == task_id
        assert not alone or outcome.claim == held
        return None
    claim = outcome
    assert (claim.task_id, claim.scan_id, claim.admin_id) == (task_id, scan_id, admin.user_id)
    if alone:
        assert before.is_pending
        assert held is None or held.admin_id == admin.user_id
        mine = [c for c in (await world.holders(scan_id)).values() if c.admin_id == admin.user_id]
        assert mine == [claim], "claiming a task releases the admin's previous claim in the scan"
    return claim


async def run_release(world: World, op: Release, alone: bool) -> None:
    """Release a task as one admin: its own claim ends, anyone else's stays."""
    task_id = world.task(op.task)
    if task_id is None:
        return
    admin, scan_id = world.admins[op.admin], world.scan_of[task_id]
    held = (await world.holders(scan_id)).get(task_id)
    await world.app.release_task(admin, task_id)
    if alone:
        after = (await world.holders(scan_id)).get(task_id)
        assert after == (None if held is not None and held.admin_id == admin.user_id else held)


async def run_claim_next(world: World, op: ClaimNext, alone: bool) -> str | None:
    """Ask for the next task as one admin: a pending task of the scan after ``after`` that no
    other admin holds, now held by this admin. Alone, the oldest such task, or none."""
    admin, scan_id = world.admins[op.admin], world.scans[op.scan]
    own = [t for t in world.tasks if world.scan_of[t] == scan_id]
    after = own[op.after % len(own)] if op.after is not None and own else None
    after_seq = 0 if after is None else (await world.stored(after)).created_seq
    store = world.app.store
    pending = await store.list_tasks(scan_id, status=TaskStatus.PENDING, limit=10_000)
    held = await world.holders(scan_id)
    task, claim = await world.app.claim_next(admin, scan_id, after)
    if task is None:
        assert claim is None
    else:
        assert claim is not None
        assert (claim.task_id, claim.scan_id, claim.admin_id) == (task.id, scan_id, admin.user_id)
        assert task.is_pending
        assert task.scan_id == scan_id
        assert task.created_seq > after_seq, "no wrap-around past after_task_id"
    if alone:
        wanted = [
            t.id
            for t in pending
            if t.created_seq > after_seq
            and (t.id not in held or held[t.id].admin_id == admin.user_id)
        ]
        assert (task.id if task else None) == (wanted[0] if wanted else None), "the oldest free"
        if claim is not None:
            mine = [
                c for c in (await world.holders(scan_id)).values() if c.admin_id == admin.user_id
            ]
            assert mine == [claim]
    return None if task is None else task.id


async def run_review(
    world: World, op: Decide | Undo | ClaimTask | Release | ClaimNext, alone: bool
) -> object:
    """Run one admin's review operation (see :func:`run_single`)."""
    if isinstance(op, Decide):
        await run_decide(world, op, alone)
    elif isinstance(op, Undo):
        await run_undo(world, op, alone)
    elif isinstance(op, ClaimTask):
        return await run_claim(world, op, alone)
    elif isinstance(op, Release):
        await run_release(world, op, alone)
    else:
        return await run_claim_next(world, op, alone)
    return None


async def run_single(world: World, op: Single, alone: bool = True) -> object:
    """Run one operation; ``alone``: nothing else runs meanwhile, so its outcome is exact.

    Returns:
        A claim's claim (None when refused), the task ``claim_next`` handed out, else None.
    """
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
            return None
        if created:
            world.tasks.append(task.id)
            world.scan_of[task.id] = scan_id
        if key is not None:
            world.keyed[(worker.user_id, scan_id, key)].add(task.id)
    elif isinstance(op, Decide | Undo | ClaimTask | Release | ClaimNext):
        return await run_review(world, op, alone)
    elif isinstance(op, Close):
        await app.close_scan(world.admins[0], world.scans[op.scan])
    elif isinstance(op, Join):
        viewer, scan_id = world.viewers[op.viewer], world.scans[op.scan]
        since = viewer.seqs.get(scan_id) if op.resume else None
        viewer.joined.discard(scan_id)
        viewer.claim_notices.pop(scan_id, None)
        result = await viewer.session.join(scan_id, since_seq=since)
        viewer.joined_with(scan_id, result, since)
        if scan_id not in viewer.session.scans:  # a Leave ran meanwhile, and won
            viewer.joined.discard(scan_id)
    else:
        viewer, scan_id = world.viewers[op.viewer], world.scans[op.scan]
        viewer.session.leave(scan_id)
        viewer.joined.discard(scan_id)
    return None


async def run_together(world: World, op: Together) -> None:
    """Run operations at once; a race of claims, or of ``claim_next``, is checked as one."""
    claims = [o for o in op.ops if isinstance(o, ClaimTask)]
    nexts = [o for o in op.ops if isinstance(o, ClaimNext) and o.after is None]
    racers = {o.admin for o in claims} | {o.admin for o in nexts}
    if len(racers) == len(claims) == len(op.ops) and len({o.task for o in claims}) == 1:
        await race_claims(world, claims)
    elif len(racers) == len(nexts) == len(op.ops) and len({o.scan for o in nexts}) == 1:
        await race_claim_next(world, nexts)
    else:
        await asyncio.gather(*(run_single(world, o, alone=False) for o in op.ops))


async def race_claims(world: World, ops: list[ClaimTask]) -> None:
    """Admins claim one task at once: one wins at most, exactly one when it was free to them."""
    task_id = world.task(ops[0].task)
    if task_id is None:
        return
    pending = (await world.stored(task_id)).is_pending
    holder = (await world.holders(world.scan_of[task_id])).get(task_id)
    outcomes = await asyncio.gather(*(run_claim(world, o, alone=False) for o in ops))
    won = [claim for claim in outcomes if claim is not None]
    assert len(won) <= 1, "two admins hold one task"
    racers = {world.admins[o.admin].user_id for o in ops}
    if pending and (holder is None or holder.admin_id in racers):
        assert len(won) == 1, "nobody won a claim of a task free to the racers"


async def race_claim_next(world: World, ops: list[ClaimNext]) -> None:
    """Admins ask for the next task of one scan at once: each gets a different one, and each
    gets one while enough are free; then each holds the task it got."""
    scan_id = world.scans[ops[0].scan]
    pending = await world.app.store.list_tasks(scan_id, status=TaskStatus.PENDING, limit=10_000)
    held = await world.holders(scan_id)
    outcomes = await asyncio.gather(*(run_claim_next(world, o, alone=False) for o in ops))
    won = [task_id for task_id in outcomes if task_id is not None]
    assert len(set(won)) == len(won), "concurrent claim_next handed out one task twice"
    if len([t for t in pending if t.id not in held]) >= len(ops):
        assert len(won) == len(ops), "a claim_next found nothing while enough were free"
    after = await world.holders(scan_id)
    for op, task_id in zip(ops, outcomes, strict=True):
        if task_id is not None:
            assert after[task_id].admin_id == world.admins[op.admin].user_id


async def settle() -> None:
    """Let forwarding tasks take what was published."""
    for _ in range(20):
        await asyncio.sleep(0)


async def check_claims(world: World) -> None:
    """At any point: each claim is on a pending task of its scan, each task has one holder at
    most, and each admin holds one task per scan at most."""
    for scan_id in world.scans:
        claims = list((await world.holders(scan_id)).values())
        admins = [c.admin_id for c in claims]
        assert len(set(admins)) == len(admins), "an admin holds two tasks of one scan"
        for claim in claims:
            assert claim.scan_id == scan_id
            task = await world.stored(claim.task_id)
            assert task.scan_id == scan_id
            assert task.is_pending, "a claim outlived the task's decision"


async def check_claim_views(world: World, scan_id: str) -> None:
    """A joined admin's claims (the join's snapshot, then task:claimed) are the registry's."""
    held = await world.holders(scan_id)
    for viewer in world.viewers:
        view = viewer.claims.get(scan_id)
        if scan_id in viewer.joined and view is not None:
            assert view == held, f"{viewer.principal.username} sees other claims than there are"


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
        await check_claim_views(world, scan_id)


class AnswersLate:
    """A claim registry whose every answer comes 0-3 event-loop turns after the call made its
    change, as a Redis answer on another pooled connection may: of two changes made at once,
    the first may be answered, and so announced, last."""

    def __init__(self, registry: ClaimRegistry, rng: random.Random) -> None:
        self.registry = registry
        self.rng = rng

    async def _late(self, answer: _T) -> _T:
        for _ in range(self.rng.randrange(4)):
            await asyncio.sleep(0)
        return answer

    async def claim(self, claim: Claim, now: datetime) -> ClaimOutcome:
        return await self._late(await self.registry.claim(claim, now))

    async def claim_first(
        self, task_ids: Sequence[str], claim: Claim, now: datetime
    ) -> ClaimOutcome | None:
        return await self._late(await self.registry.claim_first(task_ids, claim, now))

    async def release(self, task_id: str, admin_id: str) -> ClaimChange | None:
        return await self._late(await self.registry.release(task_id, admin_id))

    async def end(self, task_id: str) -> ClaimChange | None:
        return await self._late(await self.registry.end(task_id))

    async def get(self, task_id: str, now: datetime) -> Claim | None:
        return await self._late(await self.registry.get(task_id, now))

    async def in_scan(self, scan_id: str, now: datetime) -> list[Claim]:
        return await self._late(await self.registry.in_scan(scan_id, now))

    async def expire(self, now: datetime) -> list[ClaimChange]:
        return await self._late(await self.registry.expire(now))

    async def version(self) -> int:
        return await self._late(await self.registry.version())


class LateClaimsBroker(RecordingBroker):
    """Events in this process's memory (delivered at once, as the viewers' model needs), claims
    in a memory registry that answers late (:class:`AnswersLate`)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def claim_registry(self) -> object:
        """The registry ``TaskStream`` asks its broker for."""
        return AnswersLate(MemoryClaimRegistry(), self.rng)


class RedisClaimsBroker(LateClaimsBroker):
    """Events in this process's memory, claims in a real Redis: the registry the processes
    behind ``--redis-url`` share, changed by its Lua scripts (answering late, too)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.redis = RedisBroker(shared_redis_url(), prefix=unique_prefix())

    def claim_registry(self) -> object:
        """The Redis broker's claim registry (what ``TaskStream`` asks its broker for)."""
        return AnswersLate(self.redis.claim_registry(), self.rng)

    async def start(self) -> None:
        await self.redis.start()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        await self.redis.stop()


async def scenario(
    kind: str,
    retention: int,
    ops: list[Op],
    claims: str = "memory",
    seeded: int = 0,
    *,
    rng: random.Random | None = None,
) -> None:
    """Run ``ops`` after ``seeded`` submissions (spread over the workers and scans) and a join
    of each admin (to a scan each), checking the claims after each step and every invariant at
    the end; ``rng`` picks how late the claim registry answers."""
    rng = rng or random.Random(0)
    with tempfile.TemporaryDirectory() as place:
        store = STORE_ADAPTERS[kind].make(Path(place), retention)
        broker = RedisClaimsBroker(rng) if claims == "redis" else LateClaimsBroker(rng)
        async with make_app(store=store, broker=broker, stats_interval=0.01) as app:
            admins = [await sign_up(app, f"admin{i}", "admin") for i in range(N_ADMINS)]
            workers = [await sign_up(app, f"worker{i}") for i in range(N_WORKERS)]
            scans = [(await app.create_scan(admins[0], f"scan {i}")).id for i in range(N_SCANS)]
            viewers = [Viewer(p, ViewerSession(app, p)) for p in admins + workers]
            world = World(app, admins, workers, scans, viewers)
            for viewer in viewers:
                viewer.pump = asyncio.ensure_future(viewer.forward())
            try:
                for n in range(seeded):
                    await run_single(world, Submit(n % N_WORKERS, n % N_SCANS, None))
                for admin in range(N_ADMINS):  # watching the claims from the start
                    await run_single(world, Join(admin, admin % N_SCANS, resume=False))
                for op in ops:
                    if isinstance(op, Together):
                        await run_together(world, op)
                    else:
                        await run_single(world, op)
                    await settle()
                    await check_claims(world)
                    for scan_id in world.scans:
                        await check_claim_views(world, scan_id)
                await check_invariants(world)
            finally:
                for viewer in viewers:
                    viewer.session.close()
                await asyncio.gather(*(v.pump for v in viewers if v.pump is not None))
        for viewer in viewers:
            assert not viewer.session.lagged


STORE_KINDS = [
    pytest.param("memory", 10_000, "memory", id="memory"),
    pytest.param("memory", 4, "memory", id="memory-tiny-retention"),
    pytest.param("sqlite", 10_000, "memory", id="sqlite"),
    pytest.param(
        "memory",
        10_000,
        "redis",
        id="memory-redis-claims",
        marks=pytest.mark.skipif(redis_skip_reason() is not None, reason=str(redis_skip_reason())),
    ),
]


@pytest.mark.parametrize(("kind", "retention", "claims"), STORE_KINDS)
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=operations, seeded=st.integers(0, 9), jitter=st.integers(0, 2**32 - 1))
def test_any_interleaving_keeps_every_invariant(
    kind: str, retention: int, claims: str, *, ops: list[Op], seeded: int, jitter: int
) -> None:
    """Counters and stats equal a recount, seq increases, decisions and undos alternate, each
    task's history matches its events, claims are exclusive and end or move as decisions and
    undos say, every admin's claims are the registry's, no leak, loss or repeat."""
    asyncio.run(scenario(kind, retention, ops, claims, seeded, rng=random.Random(jitter)))
