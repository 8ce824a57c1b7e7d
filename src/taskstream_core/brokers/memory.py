"""``memory://``: one process, no transport; what is published comes straight back."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from .._broker import Resync
from .._claims import ClaimChange, ClaimOutcome
from ..models import Claim, ScanEvent

__all__ = ["MemoryBroker", "MemoryClaimRegistry"]


class MemoryBroker:
    """A :class:`~taskstream_core.Broker` for one process: each published event comes back.

    Example:
        ```python
        app = TaskStream(store, tokens, admin_invite_code=invite_code, broker=MemoryBroker())
        ```
    """

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue()

    @classmethod
    def from_url(cls, url: str = "memory://") -> MemoryBroker:
        """Make a memory broker; what :func:`~taskstream_core.open_broker` calls for ``memory://``.

        Args:
            url: ``memory://``; it carries no options.

        Returns:
            A new broker, not yet started.
        """
        del url
        return cls()

    async def start(self) -> None:
        """Nothing to connect: a fresh stream begins."""
        self._queue = asyncio.Queue()

    async def stop(self) -> None:
        """End the stream of :meth:`events`."""
        self._queue.put_nowait(None)

    async def publish(self, event: ScanEvent) -> None:
        """Queue the event for :meth:`events`.

        Args:
            event: The event, already stored.
        """
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[ScanEvent | Resync]:
        """Stream what was published, in publication order, until :meth:`stop`.

        Yields:
            Each published event.
        """
        while (event := await self._queue.get()) is not None:
            yield event


class MemoryClaimRegistry:
    """The claims of one process, in its memory: exact as long as one process serves.

    Each method runs without awaiting anything, so it is one atomic step on
    the event loop. What ``TaskStream`` uses unless its broker brings a shared
    registry (``RedisBroker.claim_registry()``).

    Versions come from one counter of the registry: each change of any task's
    claim takes the next number, so a task's changes carry increasing versions.
    The counter is a single number, kept for the registry's lifetime: it is lost
    only with the process, and so with the fan-out that remembers its versions
    (unlike Redis's counter, which is floored at Redis's clock for that reason).
    """

    def __init__(self) -> None:
        self._by_task: dict[str, Claim] = {}
        self._held: dict[tuple[str, str], str] = {}  # (scan, admin) -> task
        self._version = 0  # the latest change's version

    async def claim(self, claim: Claim, now: datetime) -> ClaimOutcome:
        """Take or renew a claim, unless another admin holds the task at ``now``.

        Args:
            claim: The claim wanted.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome.
        """
        return self._take(claim, now)

    async def claim_first(
        self, task_ids: Sequence[str], claim: Claim, now: datetime
    ) -> ClaimOutcome | None:
        """Claim the first of ``task_ids`` no other admin holds at ``now``.

        Args:
            task_ids: Candidate tasks, in the order to try them.
            claim: The claim wanted; its ``task_id`` is ignored.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome, or None when every candidate is held.
        """
        for task_id in task_ids:
            current = self._by_task.get(task_id)
            if current is None or current.admin_id == claim.admin_id or not current.is_live(now):
                return self._take(dataclasses.replace(claim, task_id=task_id), now)
        return None

    async def release(self, task_id: str, admin_id: str) -> ClaimChange | None:
        """End a claim if ``admin_id`` holds it.

        Args:
            task_id: The task.
            admin_id: The admin releasing it.

        Returns:
            The claim ended and the change's version, or None.
        """
        current = self._by_task.get(task_id)
        if current is None or current.admin_id != admin_id:
            return None
        return ClaimChange(current, self._drop(current))

    async def end(self, task_id: str) -> ClaimChange | None:
        """End whatever claim is on a task.

        Args:
            task_id: The task.

        Returns:
            The claim ended and the change's version, or None.
        """
        current = self._by_task.get(task_id)
        return None if current is None else ClaimChange(current, self._drop(current))

    async def get(self, task_id: str, now: datetime) -> Claim | None:
        """Read the live claim on a task.

        Args:
            task_id: The task.
            now: The time liveness is judged at.

        Returns:
            The claim, or None.
        """
        current = self._by_task.get(task_id)
        return current if current is not None and current.is_live(now) else None

    async def in_scan(self, scan_id: str, now: datetime) -> list[Claim]:
        """Read every live claim of a scan.

        Args:
            scan_id: The scan.
            now: The time liveness is judged at.

        Returns:
            The claims.
        """
        return [c for c in self._by_task.values() if c.scan_id == scan_id and c.is_live(now)]

    async def expire(self, now: datetime) -> list[ClaimChange]:
        """Remove the claims expired at ``now``.

        Args:
            now: The time expiry is judged at.

        Returns:
            The claims removed, with their changes' versions.
        """
        expired = [c for c in self._by_task.values() if not c.is_live(now)]
        return [ClaimChange(claim, self._drop(claim)) for claim in expired]

    async def version(self) -> int:
        """Read the version of the latest change, to any task.

        Returns:
            The version; 0 before the first change.
        """
        return self._version

    def _take(self, claim: Claim, now: datetime) -> ClaimOutcome:
        current = self._by_task.get(claim.task_id)
        if current is not None and current.admin_id != claim.admin_id:
            if current.is_live(now):
                return ClaimOutcome(held=current)
            self._drop(current)
        released, released_version = None, 0
        previous = self._held.get((claim.scan_id, claim.admin_id))
        if previous is not None and previous != claim.task_id:
            released = self._by_task.get(previous)
            if released is not None:
                released_version = self._drop(released)
        self._by_task[claim.task_id] = claim
        self._held[(claim.scan_id, claim.admin_id)] = claim.task_id
        self._version += 1
        return ClaimOutcome(
            claim=claim,
            released=released,
            version=self._version,
            released_version=released_version,
        )

    def _drop(self, claim: Claim) -> int:
        """Remove a claim; answers the version of that change."""
        self._by_task.pop(claim.task_id, None)
        key = (claim.scan_id, claim.admin_id)
        if self._held.get(key) == claim.task_id:
            del self._held[key]
        self._version += 1
        return self._version
