"""The race the property run found: a claim announced after a decision ended it.

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
"""

from __future__ import annotations

import asyncio

from taskstream_core import ScanEvent, Task, ViewerSession
from taskstream_core.errors import AlreadyDecided
from taskstream_core.models import Claim, EventType
from taskstream_core.stores.memory import MemoryStore
from taskstream_core.testing import make_app, sign_up


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


async def test_a_claim_ended_by_a_decision_is_not_announced_as_standing() -> None:
    store = LateReads()
    async with make_app(store=store) as app:
        ada = await sign_up(app, "ada", "admin")
        bea = await sign_up(app, "bea", "admin")
        wes = await sign_up(app, "wes")
        scan = await app.create_scan(ada, "race")
        task, _ = await app.submit_task(wes, scan.id, "a task")
        watcher = ViewerSession(app, bea)
        await watcher.join(scan.id)
        told: list[ScanEvent] = []
        pump = asyncio.ensure_future(_collect(watcher, told))

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

        for _ in range(50):
            await asyncio.sleep(0)
        watcher.close()
        await pump
        seen = {e.task_id: e.claim for e in told if e.type is EventType.TASK_CLAIMED}
        assert not decided.is_pending
        assert await app.list_claims(ada, scan.id) == []
        assert task.id in seen
        assert seen[task.id] is None, "admins are told a claim stands on a decided task"
        # The caller may get its claim (taken before the decision, which then ended it, as
        # the null announced after it says) or already_decided; never a claim left standing.
        assert isinstance(outcome, Claim | AlreadyDecided), outcome


async def _collect(viewer: ViewerSession, into: list[ScanEvent]) -> None:
    """What a transport's forwarding task does: read the viewer's events, in order."""
    async for event in viewer:
        into.append(event)
