"""Presence: who has a viewer joined to a scan, on any process, announced at most twice a second.

A :class:`PresenceTracker` per :class:`~taskstream_core.TaskStream` counts the
viewers of this process by scan and user (the fan-out tells it when a join
completes and when a viewer leaves or closes). It is the truth about this
process; a :class:`PresenceRegistry` shares it with the other processes:

- ``redis://`` brings one (``RedisBroker.presence_registry()``): each process
  writes its users of a scan under a key of its own with a TTL, refreshed by a
  heartbeat, so the users of a process that died are gone once the TTL lapses.
  After writing, it publishes a "presence changed" notice on the broker.
- any other broker: presence is this process's own.

``scan:presence`` is coalesced per scan: a change marks the scan, and the
scan's presence is read and delivered to this process's viewers at most once
per ``interval`` (0.5 s), and only when it differs from what was last sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ._fanout import Fanout
from ._ids import new_id
from .models import EventType, Presence, PresentUser, Principal, ScanEvent

__all__ = ["PresenceRegistry", "PresenceTracker"]

log = logging.getLogger("taskstream.presence")


@runtime_checkable
class PresenceRegistry(Protocol):
    """Shares each process's present users of each scan with every other process."""

    #: Seconds between two refreshes of this process's entries (well below their TTL).
    heartbeat: float

    async def write(self, process_id: str, scan_id: str, users: Sequence[PresentUser]) -> None:
        """Replace what a process says of a scan; it lapses unless written again in time.

        Args:
            process_id: The process.
            scan_id: The scan.
            users: The users present through this process (empty: none).
        """

    async def read(self, scan_id: str) -> list[tuple[str, PresentUser]]:
        """Read the live entries of every process for a scan.

        Args:
            scan_id: The scan.

        Returns:
            ``(process id, user)`` pairs; a user present through several processes
            appears once per process.
        """


@dataclass(slots=True)
class _Here:
    user: PresentUser
    viewers: int = 1


class PresenceTracker:
    """This process's presence bookkeeping, its sharing, and the coalesced ``scan:presence``.

    Args:
        fanout: Delivers ``scan:presence`` to this process's viewers, and carries
            the "presence changed" notices to the other processes.
        registry: Shares presence between processes, or None for this process only.
        clock: The time source of ``since``.
        interval: A scan's ``scan:presence`` goes out at most once per this many seconds.
    """

    def __init__(
        self,
        fanout: Fanout,
        registry: PresenceRegistry | None,
        *,
        clock: Callable[[], datetime],
        interval: float = 0.5,
    ) -> None:
        self.fanout = fanout
        self.registry = registry
        self.clock = clock
        self.interval = interval
        #: Names this process's entries in the registry.
        self.process_id = new_id()
        self._local: dict[str, dict[str, _Here]] = {}
        self._unwritten: set[str] = set()
        self._wake = asyncio.Event()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last_emit: dict[str, float] = {}  # scan → when its last scan:presence went out
        self._sent: dict[str, Presence] = {}
        self._busy: set[str] = set()  # scans being read for an emission
        self._again: set[str] = set()  # scans changed during their emission
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._running = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Begin sharing presence (with a registry) and announcing it."""
        self._running = True
        if self.registry is not None and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_loop(), name="taskstream-presence"
            )

    async def stop(self) -> None:
        """Stop announcing; this process's entries are withdrawn from the registry."""
        self._running = False
        writer, self._writer = self._writer, None
        if writer is not None:
            self._wake.set()  # the loop ends at its next turn even if a client swallows the cancel
            writer.cancel()
            await asyncio.wait([writer], timeout=5.0)
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks):
            task.cancel()
        if self.registry is not None:
            for scan_id in list(self._local):
                with contextlib.suppress(Exception):
                    await self.registry.write(self.process_id, scan_id, ())
        self._local.clear()

    # -- what the fan-out tells -------------------------------------------------------------
    def entered(self, scan_id: str, principal: Principal) -> None:
        """A viewer of ``principal`` completed a join of the scan.

        Args:
            scan_id: The scan.
            principal: Who joined.
        """
        users = self._local.setdefault(scan_id, {})
        here = users.get(principal.user_id)
        if here is not None:
            here.viewers += 1
            return
        users[principal.user_id] = _Here(self._user(principal))
        self._changed(scan_id)

    def left(self, scan_id: str, principal: Principal) -> None:
        """A viewer of ``principal`` that had joined the scan left it or closed.

        Args:
            scan_id: The scan.
            principal: Who left.
        """
        users = self._local.get(scan_id)
        here = users.get(principal.user_id) if users is not None else None
        if users is None or here is None:
            return
        here.viewers -= 1
        if here.viewers > 0:
            return
        del users[principal.user_id]
        if not users:
            del self._local[scan_id]
        self._changed(scan_id)

    def noticed(self, scan_id: str) -> None:
        """Another process announced a change of the scan's presence.

        Args:
            scan_id: The scan.
        """
        self._mark(scan_id)

    # -- reading --------------------------------------------------------------------------
    async def current(self, scan_id: str, joining: Principal | None = None) -> Presence:
        """Read who is present in a scan now, over every process.

        Args:
            scan_id: The scan.
            joining: A user to count as present though its join is not complete.

        Returns:
            The detailed presence.

        Raises:
            Unavailable: The registry cannot be reached.
        """
        users = [h.user for h in self._local.get(scan_id, {}).values()]
        if self.registry is not None:
            entries = await self.registry.read(scan_id)
            users += [user for process, user in entries if process != self.process_id]
        if joining is not None and all(u.user_id != joining.user_id for u in users):
            users.append(self._user(joining))
        return Presence.of(scan_id, users)

    # -- plumbing -------------------------------------------------------------------------
    def _user(self, principal: Principal) -> PresentUser:
        return PresentUser(principal.user_id, principal.username, principal.role, self.clock())

    def _changed(self, scan_id: str) -> None:
        if self.registry is not None:
            self._unwritten.add(scan_id)
            self._wake.set()
        self._mark(scan_id)

    def _mark(self, scan_id: str) -> None:
        """Have the scan's presence read and sent soon: one reading at a time per scan, and
        at most one ``scan:presence`` per interval."""
        if not self._running or scan_id in self._timers:
            return
        if scan_id not in self._local:  # nobody here to tell
            self._sent.pop(scan_id, None)
            self._last_emit.pop(scan_id, None)
            return
        if scan_id in self._busy:  # read again once this reading is done
            self._again.add(scan_id)
            return
        due = self._last_emit.get(scan_id, float("-inf")) + self.interval - time.monotonic()
        loop = asyncio.get_running_loop()
        self._timers[scan_id] = loop.call_later(max(due, 0.0), self._emit_soon, scan_id)

    def _emit_soon(self, scan_id: str) -> None:
        del self._timers[scan_id]
        self._busy.add(scan_id)
        task = asyncio.get_running_loop().create_task(self._emit(scan_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _emit(self, scan_id: str) -> None:
        try:
            presence = await self.current(scan_id)
            if scan_id in self._local and self._sent.get(scan_id) != presence:
                self._sent[scan_id] = presence
                self._last_emit[scan_id] = time.monotonic()
                event = ScanEvent(EventType.SCAN_PRESENCE, scan_id, 0, presence=presence)
                self.fanout.deliver(event)
        except Exception as exc:  # the registry is down: the next change or heartbeat retries
            log.warning("could not read the presence of scan %s: %s", scan_id, exc)
        finally:
            self._busy.discard(scan_id)
            if scan_id in self._again:
                self._again.discard(scan_id)
                self._mark(scan_id)

    async def _write_loop(self) -> None:
        """Write changed scans to the registry and notify the peers; refresh on a heartbeat."""
        assert self.registry is not None
        heartbeat = self.registry.heartbeat
        next_beat = time.monotonic() + heartbeat
        while self._running:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(next_beat - time.monotonic(), 0.01)):
                    await self._wake.wait()
            self._wake.clear()
            if not self._running:
                return
            beat = time.monotonic() >= next_beat
            if beat:
                next_beat = time.monotonic() + heartbeat
            changed, self._unwritten = self._unwritten, set()
            for scan_id in changed | (set(self._local) if beat else set()):
                users = [h.user for h in self._local.get(scan_id, {}).values()]
                try:
                    await self.registry.write(self.process_id, scan_id, users)
                except Exception as exc:  # retried at the next heartbeat
                    log.warning("could not share the presence of scan %s: %s", scan_id, exc)
                    continue
                if scan_id in changed:
                    await self.fanout.publish(ScanEvent(EventType.SCAN_PRESENCE, scan_id, 0))
            if beat:  # a process that died shows as entries that lapsed
                for scan_id in list(self._local):
                    self._mark(scan_id)
