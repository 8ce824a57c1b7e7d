"""Races of claims against their announcements (contract v2 §4.2).

First, the race the property run found: a claim announced after a decision ended it.

``TaskStream._claim`` used to take the claim in the registry, read the task to
see that it was still pending, then announce ``task:claimed``. A decision that is
stored and ends the claim (announcing ``claim: null``) between that read and
that announcement leaves every admin told that the claim stands: the claim's
caller gets ``{ok, claim}`` for a task already decided, and the scan's admins
see a claim the registry no longer has, on a decided task, for good (no
expiry is announced for it either). A store whose ``get_task`` answers late
(as SQLite's thread does under load) makes the interleaving certain here.
It now announces first and reads after, ending the claim itself when the
task was decided meanwhile.

Then, announcements that cross: two changes of one task's claim made at once (a
claim and the same admin's release) may be announced in the other order than
the registry applied them, when the first one's registry call answers last (as
a Redis answer on another connection of the pool can). Each ``task:claimed``
carries the registry's version of its change, and the fan-out drops one older
than what it delivered, as does a joining admin's viewer for one older than
its answer's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from taskstream_core import Principal, Scan, ScanEvent, Task, TaskStream, ViewerSession
from taskstream_core._claims import ClaimOutcome
from taskstream_core.brokers.memory import MemoryClaimRegistry
from taskstream_core.errors import AlreadyDecided
from taskstream_core.models import Claim, EventType
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import RecordingBroker, make_app, sign_up


class LateReads(MemoryStore):
    """A memory store whose ``hold``-th next ``get_task`` answers, after reading, only once the
    gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = 0
        self.reading = asyncio.Event()
        self.gate = asyncio.Event()

    async def get_task(self, task_id: str) -> Task | None:
        """The task as stored when called; answered once the gate opens, if held."""
        task = await super().get_task(task_id)
        if self.hold:
            self.hold -= 1
            if not self.hold:
                self.reading.set()
                await self.gate.wait()
        return task


@dataclass
class Review:
    """A scan with pending tasks, ada (admin) about to claim, bea (admin) watching it."""

    app: TaskStream
    ada: Principal
    bea: Principal
    scan: Scan
    tasks: list[Task]
    #: What bea's viewer was sent, once the ``review`` block ended.
    told: list[ScanEvent] = field(default_factory=list)

    def claims_told(self) -> dict[str, Claim]:
        """The claims bea's view ends with: each ``task:claimed`` applied in order."""
        view: dict[str, Claim] = {}
        for event in self.told:
            if event.type is EventType.TASK_CLAIMED:
                assert event.task_id is not None
                if event.claim is None:
                    view.pop(event.task_id, None)
                else:
                    view[event.task_id] = event.claim
        return view


@contextlib.asynccontextmanager
async def review(
    *contents: str, store: MemoryStore | None = None, broker: RecordingBroker | None = None
) -> AsyncIterator[Review]:
    """A :class:`Review` of a scan with ``contents``; bea joins it first. When the block
    ends, the announcements made settle and bea's viewer closes, ``told`` complete."""
    async with make_app(store=store, broker=broker) as app:
        ada = await sign_up(app, "ada", "admin")
        bea = await sign_up(app, "bea", "admin")
        wes = await sign_up(app, "wes")
        scan = await app.create_scan(ada, "race")
        tasks = [(await app.submit_task(wes, scan.id, content))[0] for content in contents]
        it = Review(app, ada, bea, scan, tasks)
        watcher = ViewerSession(app, bea)
        await watcher.join(scan.id)
        pump = asyncio.ensure_future(_collect(watcher, it.told))
        yield it
        await _settle()
        watcher.close()
        await pump


async def test_a_claim_ended_by_a_decision_is_not_announced_as_standing() -> None:
    store = LateReads()
    async with review("a task", store=store) as it:
        app, ada, bea, scan, (task,) = it.app, it.ada, it.bea, it.scan, it.tasks
        store.hold = 2  # claim_task's lookup, then _claim's check that it is still pending
        claiming = asyncio.ensure_future(app.claim_task(ada, task.id))
        await store.reading.wait()
        decided = await app.decide_task(bea, task.id, "validated", override=True)
        store.gate.set()
        outcome: Claim | Exception
        try:
            outcome = await claiming
        except Exception as refused:  # what the contract allows: already_decided
            outcome = refused
        assert await app.list_claims(ada, scan.id) == []
    seen = {e.task_id: e.claim for e in it.told if e.type is EventType.TASK_CLAIMED}
    assert not decided.is_pending
    assert task.id in seen
    assert seen[task.id] is None, "admins are told a claim stands on a decided task"
    assert it.claims_told() == {}
    # The caller may get its claim (taken before the decision, which then ended it, as
    # the null announced after it says) or already_decided; never a claim left standing.
    assert isinstance(outcome, Claim | AlreadyDecided), outcome


async def _collect(viewer: ViewerSession, into: list[ScanEvent]) -> None:
    """What a transport's forwarding task does: read the viewer's events, in order."""
    async for event in viewer:
        into.append(event)


class LateClaimAnswers(MemoryClaimRegistry):
    """A memory registry whose next ``claim``, once ``hold`` is set, applies the change at once
    but answers only once the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.applied = asyncio.Event()
        self.gate = asyncio.Event()

    async def claim(self, claim: Claim, now: datetime) -> ClaimOutcome:
        """Take the claim; answer once the gate opens, if held."""
        outcome = await super().claim(claim, now)
        if self.hold:
            self.hold = False
            self.applied.set()
            await self.gate.wait()
        return outcome


class LateClaimsBroker(RecordingBroker):
    """A recording broker that offers a :class:`LateClaimAnswers` as the claim registry."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = LateClaimAnswers()

    def claim_registry(self) -> LateClaimAnswers:
        """The registry ``TaskStream`` takes its claims from."""
        return self.claims


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_claim_announced_after_its_release_does_not_stand_in_the_admins_views() -> None:
    """A claim taken, then released by its admin, while the claim's answer comes last: the
    claim's announcement goes out after the release's, and is dropped as the older change."""
    broker = LateClaimsBroker()
    async with review("a task", broker=broker) as it:
        app, ada, scan, (task,) = it.app, it.ada, it.scan, it.tasks
        broker.claims.hold = True
        claiming = asyncio.ensure_future(app.claim_task(ada, task.id))
        await broker.claims.applied.wait()
        await app.release_task(ada, task.id)  # applied after the claim, announced before it
        broker.claims.gate.set()
        await claiming
        assert await app.list_claims(ada, scan.id) == []
    announced = [e for e in broker.published if e.type is EventType.TASK_CLAIMED]
    assert [e.claim is None for e in announced] == [True, False], "the crossing happened"
    claims = [e.claim for e in it.told if e.type is EventType.TASK_CLAIMED]
    assert claims == [None], "the admins see a claim the registry no longer has"


async def test_a_claim_moved_twice_at_once_ends_where_the_registry_has_it() -> None:
    """One admin claims two tasks of a scan at once, the first claim answering last: the
    admins' views end with the second task held and the first free, as in the registry."""
    broker = LateClaimsBroker()
    async with review("one", "two", broker=broker) as it:
        app, ada, (one, two) = it.app, it.ada, it.tasks
        broker.claims.hold = True
        first = asyncio.ensure_future(app.claim_task(ada, one.id))
        await broker.claims.applied.wait()
        second = await app.claim_task(ada, two.id)  # releases the first claim
        broker.claims.gate.set()
        await first
        assert await app.list_claims(ada, it.scan.id) == [second]
    assert it.claims_told() == {two.id: second}


async def test_a_joining_admin_drops_announcements_its_answer_already_holds() -> None:
    """The release is announced before an admin joins, the claim it ended after: the join's
    answer holds the release, so the late claim's announcement does not reach the admin."""
    broker = LateClaimsBroker()
    async with make_app(broker=broker) as app:
        ada = await sign_up(app, "ada", "admin")
        bea = await sign_up(app, "bea", "admin")
        wes = await sign_up(app, "wes")
        scan = await app.create_scan(ada, "joining")
        task, _ = await app.submit_task(wes, scan.id, "a task")

        broker.claims.hold = True
        claiming = asyncio.ensure_future(app.claim_task(ada, task.id))
        await broker.claims.applied.wait()
        await app.release_task(ada, task.id)
        await _settle()  # the release's announcement reached nobody: nobody views the scan
        watcher = ViewerSession(app, bea)
        answer = await watcher.join(scan.id)
        told: list[ScanEvent] = []
        pump = asyncio.ensure_future(_collect(watcher, told))
        broker.claims.gate.set()
        await claiming

        await _settle()
        watcher.close()
        await pump
        assert answer.claims == []
        assert [e for e in told if e.type is EventType.TASK_CLAIMED] == []
