"""The reviewers' side of a scan: claims and presence for several admins (contract §4).

:class:`Reviewers` is owned by :class:`~taskstream_core.TaskStream`, which
delegates its claim and presence calls to it. A claim says which admin is
deciding a pending task: it lasts ``claim_seconds`` unless renewed, an admin
holds at most one per scan, and a decision, a release or its expiry ends it.
Each change is made in the :class:`~taskstream_core._claims.ClaimRegistry` and
then announced to the scan's admins on every process (``task:claimed``, a
notice without a seq) with the version the registry gave the change, so that
the fan-out drops an announcement overtaken by a newer one of the same task.
Presence, who has a viewer joined to a scan, is counted by a
:class:`~taskstream_core._presence.PresenceTracker`.

Both come from the broker when it offers a registry (``claim_registry()`` and
``presence_registry()``, as ``RedisBroker`` does), so every process of a
deployment shares them; otherwise they are this process's own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from ._broker import Broker
from ._claims import ClaimRegistry
from ._fanout import Fanout
from ._presence import PresenceRegistry, PresenceTracker
from ._rbac import Permission, authorize, can
from ._rooms import presence_for
from ._store import Store
from ._validation import MAX_PAGE_LIMIT
from .brokers.memory import MemoryClaimRegistry
from .errors import AlreadyDecided, Conflict, InvalidRequest
from .models import Claim, EventType, Presence, Principal, Scan, ScanEvent, Task, TaskStatus

__all__ = ["CLAIM_SWEEP_SECONDS", "Commit", "FindScan", "FindTask", "Reviewers"]

#: Seconds between two sweeps for expired claims (each is announced within a second).
CLAIM_SWEEP_SECONDS = 0.25

#: The claims' and presence's warnings go out under the service's logger.
log = logging.getLogger("taskstream.service")

_T = TypeVar("_T")

#: Reads a scan by the client's value; raises InvalidRequest or NotFound.
FindScan = Callable[[object], Awaitable[Scan]]
#: Reads a task by the client's value and the name it goes by in errors;
#: raises InvalidRequest or NotFound.
FindTask = Callable[[object, str], Awaitable[Task]]


class Commit(Protocol):
    """Runs a store-then-publish change to completion even if its caller is cancelled."""

    async def __call__(self, change: Coroutine[Any, Any, _T], /) -> _T:
        """Run ``change`` shielded from the caller's cancellation.

        Args:
            change: The change, not yet started.

        Returns:
            What ``change`` returns.
        """
        ...


class Reviewers:
    """Claims and presence of the admins reviewing a scan, shared through the broker.

    The public methods below are those of :class:`~taskstream_core.TaskStream`
    of the same name, which documents them; the others serve its decisions,
    undos and joins.

    Args:
        broker: Offers the shared registries (``claim_registry()``,
            ``presence_registry()``), or not.
        store: Where the tasks are read.
        fanout: Announces ``task:claimed`` and ``scan:presence``; the presence
            tracker becomes its membership.
        commit: Runs a change to completion even if its caller is cancelled.
        find_scan: Reads a scan by the client's value.
        find_task: Reads a task by the client's value.
        clock: The time source.
        claim_seconds: How long a claim lasts unless its holder claims the task
            again; asked at each claim.
        presence_interval: ``scan:presence`` goes out at most once per this many
            seconds per scan.

    Attributes:
        claims: Where the claims live.
        tracker: Counts who is present and announces it.
    """

    def __init__(
        self,
        broker: Broker,
        store: Store,
        fanout: Fanout,
        *,
        commit: Commit,
        find_scan: FindScan,
        find_task: FindTask,
        clock: Callable[[], datetime],
        claim_seconds: Callable[[], float],
        presence_interval: float,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.commit = commit
        self.find_scan = find_scan
        self.find_task = find_task
        self.clock = clock
        self.claim_seconds = claim_seconds
        claims = _registry(broker, "claim_registry")
        self.claims: ClaimRegistry = (
            claims if isinstance(claims, ClaimRegistry) else MemoryClaimRegistry()
        )
        presence = _registry(broker, "presence_registry")
        self.tracker = PresenceTracker(
            fanout,
            presence if isinstance(presence, PresenceRegistry) else None,
            clock=clock,
            interval=presence_interval,
        )
        fanout.membership = self.tracker
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start announcing presence and sweeping expired claims."""
        self.tracker.start()
        self._sweeper = asyncio.get_running_loop().create_task(
            self._sweep_claims(), name="taskstream-claims"
        )

    async def stop(self) -> None:
        """Stop sweeping claims and announcing presence."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:  # it also ends at its next turn if a client swallows the cancel
            sweeper.cancel()
            await asyncio.wait([sweeper], timeout=5.0)
        await self.tracker.stop()

    # -- claims ------------------------------------------------------------------------
    async def claim_task(self, principal: Principal, task_id: object) -> Claim:
        """What :meth:`TaskStream.claim_task` does; it documents the arguments and errors."""
        authorize(principal, Permission.TASK_CLAIM)
        task = await self.find_task(task_id, "task_id")
        if not task.is_pending:
            raise AlreadyDecided(task=task)
        return await self.commit(self._claim(principal, task))

    async def _claim(self, principal: Principal, task: Task) -> Claim:
        now = self.clock()
        outcome = await self.claims.claim(self._claim_for(principal, task.scan_id, task.id), now)
        if outcome.claim is None:
            raise Conflict("Another admin is deciding this task.", claim=outcome.held)
        if outcome.released is not None:
            await self._claim_changed(outcome.released, None, outcome.released_version)
        fresh = await self._announce_while_pending(outcome.claim, outcome.version)
        if fresh is None or not fresh.is_pending:
            raise AlreadyDecided(task=fresh)
        return outcome.claim

    async def _announce_while_pending(self, claim: Claim, version: int) -> Task | None:
        """Announce a claim just taken, then make sure its task was still pending after that.

        A decision ends the claim after it is stored, and announces the end. Reading
        the task only after the announcement means that a decision stored before
        the read is seen here, and one stored after it announces its end after
        this announcement: admins are never left told that a claim stands on a
        decided task.

        Args:
            claim: The claim just taken.
            version: The registry's version of that change.

        Returns:
            The task as read after the announcement; when it is no longer pending,
            the claim has been released and its end announced (by whoever ended it).
        """
        await self._claim_changed(claim, claim, version)
        task = await self.store.get_task(claim.task_id)
        if task is None or not task.is_pending:  # decided while it was being claimed
            ended = await self.claims.release(claim.task_id, claim.admin_id)
            if ended is not None:  # else the change that ended it announces that
                await self._claim_changed(ended.claim, None, ended.version)
        return task

    async def release_task(self, principal: Principal, task_id: object) -> None:
        """What :meth:`TaskStream.release_task` does; it documents the arguments and errors."""
        authorize(principal, Permission.TASK_CLAIM)
        task = await self.find_task(task_id, "task_id")
        await self.commit(self._release(task.id, principal.user_id))

    async def _release(self, task_id: str, admin_id: str) -> None:
        ended = await self.claims.release(task_id, admin_id)
        if ended is not None:
            await self._claim_changed(ended.claim, None, ended.version)

    async def claim_next(
        self, principal: Principal, scan_id: object, after_task_id: object = None
    ) -> tuple[Task | None, Claim | None]:
        """What :meth:`TaskStream.claim_next` does; it documents the arguments and errors."""
        authorize(principal, Permission.TASK_CLAIM)
        scan = await self.find_scan(scan_id)
        after = 0
        if after_task_id is not None:
            anchor = await self.find_task(after_task_id, "after_task_id")
            if anchor.scan_id != scan.id:
                raise InvalidRequest("'after_task_id' is a task of another scan.")
            after = anchor.created_seq
        return await self.commit(self._claim_next(principal, scan.id, after))

    async def _claim_next(
        self, principal: Principal, scan_id: str, after: int
    ) -> tuple[Task | None, Claim | None]:
        wanted = self._claim_for(principal, scan_id, "")
        while True:
            page = await self.store.list_tasks(
                scan_id, status=TaskStatus.PENDING, after=after, limit=MAX_PAGE_LIMIT
            )
            outcome = await self.claims.claim_first([t.id for t in page], wanted, self.clock())
            if outcome is None or outcome.claim is None:
                if len(page) < MAX_PAGE_LIMIT:
                    return None, None
                after = page[-1].created_seq
                continue
            claim = outcome.claim
            if outcome.released is not None:
                await self._claim_changed(outcome.released, None, outcome.released_version)
            task = await self._announce_while_pending(claim, outcome.version)
            if task is None or not task.is_pending:  # decided meanwhile: try the next ones
                after = next(t.created_seq for t in page if t.id == claim.task_id)
                continue
            return task, claim

    async def list_claims(self, principal: Principal, scan_id: object) -> list[Claim]:
        """What :meth:`TaskStream.list_claims` does; it documents the arguments and errors."""
        authorize(principal, Permission.TASK_CLAIM)
        scan = await self.find_scan(scan_id)
        claims = await self.claims.in_scan(scan.id, self.clock())
        return sorted(claims, key=lambda c: (c.expires_at, c.task_id))

    async def presence(self, principal: Principal, scan_id: object) -> Presence:
        """What :meth:`TaskStream.presence` does; it documents the arguments and errors."""
        authorize(principal, Permission.SCAN_PRESENCE)
        scan = await self.find_scan(scan_id)
        return await self.tracker.current(scan.id)

    async def held_by_another(self, task_id: str, principal: Principal) -> Claim | None:
        """The live claim of another admin than ``principal`` on a task, if any.

        Claims are advisory: when they cannot be read, the answer is None.

        Args:
            task_id: The task.
            principal: The admin about to decide it.

        Returns:
            The other admin's claim, or None.
        """
        try:
            claim = await self.claims.get(task_id, self.clock())
        except Exception as exc:  # claims are advisory: a decision goes on without them
            log.warning("could not read the claim on task %s: %s", task_id, exc)
            return None
        return claim if claim is not None and claim.admin_id != principal.user_id else None

    async def end_claim(self, task_id: str) -> None:
        """End the claim on a task just decided, and announce its end.

        The decision is stored already: claims out of reach leave the claim to expire.

        Args:
            task_id: The decided task.
        """
        try:
            ended = await self.claims.end(task_id)
        except Exception as exc:  # stored already: the claim expires by itself
            log.warning("could not end the claim on task %s: %s", task_id, exc)
            ended = None
        if ended is not None:
            await self._claim_changed(ended.claim, None, ended.version)

    async def claim_undone(self, principal: Principal, task: Task) -> None:
        """Claim an undone task for the undoing admin (contract §4.3), as far as it can be.

        The undo is stored already, so a claim that another admin took first, a
        decision that came first, or claims out of reach leave it unclaimed.

        Args:
            principal: The admin who undid the decision.
            task: The task, pending again.
        """
        try:
            await self._claim(principal, task)
        except (Conflict, AlreadyDecided):
            pass
        except Exception as exc:  # the claims' store is out of reach: the undo stands
            log.warning("could not claim undone task %s: %s", task.id, exc)

    def _claim_for(self, principal: Principal, scan_id: str, task_id: str) -> Claim:
        expires_at = self.clock() + timedelta(seconds=self.claim_seconds())
        return Claim(task_id, scan_id, principal.user_id, principal.username, expires_at)

    async def _claim_changed(self, about: Claim, claim: Claim | None, version: int) -> None:
        """Tell the scan's admins, on every process, the claim on a task now (None: ended).

        Args:
            about: The claim changed (its task and scan).
            claim: The claim now, or None when it ended.
            version: The registry's version of the change.
        """
        await self.fanout.publish(
            ScanEvent(
                EventType.TASK_CLAIMED,
                about.scan_id,
                0,
                task_id=about.task_id,
                claim=claim,
                claim_version=version,
            )
        )

    async def _sweep_claims(self) -> None:
        """Announce each expired claim once: the registry hands it to one process only."""
        while self._sweeper is not None:
            await asyncio.sleep(CLAIM_SWEEP_SECONDS)
            try:
                expired = await self.claims.expire(self.clock())
            except Exception as exc:  # Redis away: the next sweep catches up
                log.warning("could not sweep expired claims: %s", exc)
                continue
            for ended in expired:
                await self._claim_changed(ended.claim, None, ended.version)

    # -- joins -------------------------------------------------------------------------
    async def joining_presence(self, principal: Principal, scan_id: str) -> Presence:
        """Who is present in a scan, the joining viewer counted in, shaped for that viewer.

        Args:
            principal: The joining viewer.
            scan_id: The scan.

        Returns:
            The presence the viewer may see; nobody when it cannot be read.
        """
        try:
            presence = await self.tracker.current(scan_id, joining=principal)
        except Exception as exc:  # the other processes' presence is out of reach
            log.warning("could not read the presence of scan %s: %s", scan_id, exc)
            presence = Presence.of(scan_id, [])
        return presence_for(principal, presence)

    async def snapshot_claims(
        self, principal: Principal, scan_id: str
    ) -> tuple[list[Claim] | None, int]:
        """The live claims of a scan for a joining admin's snapshot, and their version.

        The registry's version is read first: every change up to it is in the claims.

        Args:
            principal: The joining viewer.
            scan_id: The scan.

        Returns:
            The claims, soonest to expire first (none when they cannot be read; None
            for a viewer who may not claim tasks), and the registry's version they were
            read after (0 with none or None).
        """
        if not can(principal, Permission.TASK_CLAIM):
            return None, 0
        try:
            version = await self.claims.version()
            claims = await self.claims.in_scan(scan_id, self.clock())
        except Exception as exc:
            log.warning("could not read the claims of scan %s: %s", scan_id, exc)
            return [], 0
        return sorted(claims, key=lambda c: (c.expires_at, c.task_id)), version


def _registry(broker: Broker, method: str) -> object:
    """What ``broker.<method>()`` makes, if the broker offers that method; else None."""
    make = getattr(broker, method, None)
    return make() if callable(make) else None
