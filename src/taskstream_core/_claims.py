"""Where claims live: a registry beside the broker, shared by every process of a deployment.

A claim is not durable data (a restart may drop it) but must be *exactly one*
across processes: a pending task is held by at most one admin at a time, and
an admin holds at most one task per scan. A :class:`ClaimRegistry` makes each
change below one atomic step; :class:`~taskstream_core._reviewers.Reviewers`, the
reviewers' side of :class:`~taskstream_core.TaskStream`, asks it and announces
what changed (``task:claimed``).

Every change the registry applies to a task's claim (taken, renewed, moved
away, released, ended, expired) takes a **version**: the next number of a
counter the registry keeps for all its tasks, so the changes of one task carry
strictly increasing versions, in the order the registry applied them. Each
operation returns the versions of the changes it made; ``task:claimed``
carries its change's version (``ScanEvent.claim_version``), so the fan-out can
drop an announcement that arrives after a newer one of the same task. Versions
are internal: never in a claim's contract object nor in an envelope.

The registry comes from the broker (``claim_registry()``): ``redis://`` keeps
claims in Redis, changed by Lua scripts; any other broker, ``memory://``
included, gets :class:`~taskstream_core.brokers.memory.MemoryClaimRegistry`,
which is exact within one process only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .models import Claim

__all__ = ["ClaimChange", "ClaimOutcome", "ClaimRegistry"]


@dataclass(frozen=True, slots=True)
class ClaimChange:
    """A claim the registry ended, and the version of that change.

    Attributes:
        claim: The claim as it was when it ended.
        version: The change's version: above that of every earlier change of the task.
    """

    claim: Claim
    version: int


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """What a claim attempt did.

    Attributes:
        claim: The claim taken or renewed, or None when another admin holds the task.
        held: The other admin's live claim that stood in the way, or None.
        released: The caller's previous claim in the scan, ended by this one, or None.
        version: The version of the change that took or renewed ``claim``; 0 when none.
        released_version: The version of the change that ended ``released``; 0 when none.
    """

    claim: Claim | None = None
    held: Claim | None = None
    released: Claim | None = None
    version: int = 0
    released_version: int = 0


@runtime_checkable
class ClaimRegistry(Protocol):
    """Holds the live claims of a deployment; each method is one atomic step.

    A claim past its ``expires_at`` counts as absent everywhere, before
    :meth:`expire` removes it.
    """

    async def claim(self, claim: Claim, now: datetime) -> ClaimOutcome:
        """Take or renew a claim, unless another admin holds the task at ``now``.

        Taking it releases the admin's previous claim in the same scan.

        Args:
            claim: The claim wanted: its task, scan, admin and new ``expires_at``.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome: the claim, or the other admin's claim in the way.
        """

    async def claim_first(
        self, task_ids: Sequence[str], claim: Claim, now: datetime
    ) -> ClaimOutcome | None:
        """Claim the first of ``task_ids`` no other admin holds at ``now``, as :meth:`claim` does.

        Args:
            task_ids: Candidate tasks of ``claim.scan_id``, in the order to try them.
            claim: The claim wanted; its ``task_id`` is ignored.
            now: The time the claims in the way are judged at.

        Returns:
            The outcome for the task claimed, or None when every candidate is held.
        """

    async def release(self, task_id: str, admin_id: str) -> ClaimChange | None:
        """End a claim if ``admin_id`` holds it.

        Args:
            task_id: The task.
            admin_id: The admin releasing it.

        Returns:
            The claim ended and the change's version, or None when that admin held
            no claim on the task.
        """

    async def end(self, task_id: str) -> ClaimChange | None:
        """End whatever claim is on a task (it was decided).

        Args:
            task_id: The task.

        Returns:
            The claim ended and the change's version, or None when there was none.
        """

    async def get(self, task_id: str, now: datetime) -> Claim | None:
        """Read the live claim on a task.

        Args:
            task_id: The task.
            now: The time liveness is judged at.

        Returns:
            The claim, or None when nobody holds the task at ``now``.
        """

    async def in_scan(self, scan_id: str, now: datetime) -> list[Claim]:
        """Read every live claim of a scan.

        Args:
            scan_id: The scan.
            now: The time liveness is judged at.

        Returns:
            The claims, in no particular order.
        """

    async def expire(self, now: datetime) -> list[ClaimChange]:
        """Remove the claims expired at ``now``; each is returned to exactly one caller.

        Args:
            now: The time expiry is judged at.

        Returns:
            The claims removed (of every scan) with their changes' versions, for the
            caller to announce.
        """

    async def version(self) -> int:
        """Read the version of the latest change the registry applied, to any task.

        Every change with this version or a lower one is seen by a read that
        starts after this one returns.

        Returns:
            The version; 0 before the first change.
        """
