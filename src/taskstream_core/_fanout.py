"""The fan-out: every stored event a broker carries, to the viewers of this process who may see it.

One :class:`Fanout` per :class:`~taskstream_core.TaskStream`. A single task
reads the broker's stream and, for each event:

1. **orders** it: a scan's events leave in ``seq`` order. One that arrives
   ahead of a missing one is held until the gap fills, or for at most
   ``reorder_window`` seconds; then the missing ones are read from the store
   (the publisher may have died between storing and publishing) and what the
   store lacks too is skipped;
2. **routes** it by room (:mod:`taskstream_core._rooms`), so a viewer only ever
   gets what it may see;
3. **offers** it to each such :class:`~taskstream_core._viewer.Viewer`, which
   cuts it against its join (held while the join is under way, dropped if the
   join's answer holds it) and delivers it to its bounded queue or its push
   sink, closing itself as lagged past ``queue_size``.

Notices (``task:claimed``, ``scan:presence``) are not part of a scan's event
log: they carry no seq and skip the ordering and the cut. A viewer joining
holds the claims it is sent until its answer is out, and drops presence (the
answer carries it, and a newer one follows).

A ``task:claimed`` carries the claim registry's version of its change
(``ScanEvent.claim_version``) instead: announcements of one task made at once
may arrive in the other order than the registry applied them. Each scan's gate
keeps, per task, the version of the last one it delivered, and drops one not
newer; it forgets a task ``CLAIM_VERSION_SECONDS`` after its last delivered
notice (a claim's end included), and every task of the scan with the gate. A
joining admin's answer says the registry's version its claims were read
after; the viewer drops the claims' announcements of the scan up to it, as the
answer holds them already. A notice without a version (0) always passes.

``scan:presence`` reaches each viewer in the shape its role may see. The
fan-out also tells its :class:`Membership` when a viewer's join completes and
when it leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from ._broker import Broker, Resync, ScanFollowing
from ._rooms import event_rooms, presence_for, scan_room, viewer_rooms
from ._stats_throttle import StatsThrottle
from ._viewer import Viewer
from .models import EventType, Principal, ScanEvent

__all__ = [
    "CLAIM_VERSION_SECONDS",
    "Fanout",
    "LiveObserver",
    "Membership",
]

log = logging.getLogger("taskstream.fanout")

#: How long a scan's gate remembers the claim version of a task's last ``task:claimed``, in
#: seconds after delivering it: an older announcement of the task arriving meanwhile is dropped.
#: Announcements made at once overtake each other by milliseconds.
CLAIM_VERSION_SECONDS = 60.0

#: Reads a scan's stored events after a seq, in order (None: the store no longer has them all).
Backfill = Callable[[str, int], Awaitable[list[ScanEvent] | None]]


@runtime_checkable
class LiveObserver(Protocol):
    """What a metrics exporter learns of the live path; every method must return at once."""

    def published(self, event: ScanEvent) -> None:
        """Note that an event was handed to the broker.

        Args:
            event: The event.
        """

    def delivered(self, event: ScanEvent, viewers: int) -> None:
        """Note that an event reached viewers of this process.

        Args:
            event: The event.
            viewers: How many viewers it was delivered to.
        """


class Membership(Protocol):
    """What the fan-out tells about who views which scan (presence); each call returns at once."""

    def entered(self, scan_id: str, principal: Principal) -> None:
        """A viewer's join of the scan completed."""

    def left(self, scan_id: str, principal: Principal) -> None:
        """A viewer whose join completed left the scan, or closed."""

    def noticed(self, scan_id: str) -> None:
        """The broker carried a "presence changed" notice of the scan."""


class _Gate:
    """A scan's ordering state in this process."""

    __slots__ = (
        "claims",
        "claims_pruned",
        "filling",
        "following",
        "held",
        "last",
        "timer",
        "watchers",
    )

    def __init__(self) -> None:
        #: The last seq delivered; None until the first join of the scan says where to start.
        self.last: int | None = None
        self.held: dict[int, ScanEvent] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.filling = False  # the store is being read for a gap
        self.watchers = 0  # viewers joined to the scan, or joining it
        #: The broker's follow of the scan (a broker that offers ScanFollowing), else None.
        self.following: asyncio.Future[None] | None = None
        #: task → (claim version of its last task:claimed delivered, loop time to forget it at).
        self.claims: dict[str, tuple[int, float]] = {}
        self.claims_pruned = 0.0  # loop time the forgotten tasks were last removed at

    def newest_claim(self, event: ScanEvent, now: float) -> bool:
        """Tell whether a ``task:claimed`` is newer than the last one delivered for its task.

        A newer one is remembered as the last one delivered from now on.

        Args:
            event: The notice.
            now: The event loop's time.

        Returns:
            False when the notice is not newer and must be dropped.
        """
        version, task_id = event.claim_version, event.task_id
        if not version or task_id is None:
            return True
        last = self.claims.get(task_id)
        if last is not None and version <= last[0] and now < last[1]:
            return False
        self.claims[task_id] = (version, now + CLAIM_VERSION_SECONDS)
        if now >= self.claims_pruned + CLAIM_VERSION_SECONDS:
            self.claims_pruned = now
            for task in [t for t, (_, until) in self.claims.items() if until <= now]:
                del self.claims[task]
        return True


class Fanout:
    """Reads the broker's stream and delivers each event to the viewers here who may see it.

    Args:
        broker: Carries the events of every process.
        backfill: Reads a scan's stored events after a seq (the store's ``events_after``).
        reorder_window: How long an event waits for a missing earlier one, in seconds.
        queue_size: Events a viewer may have undelivered before it is closed as lagged.
        stats_interval: ``scan:stats`` pass at most once per this many seconds per scan.
        observer: Told of what is published and delivered, for metrics.
    """

    def __init__(
        self,
        broker: Broker,
        backfill: Backfill,
        *,
        reorder_window: float = 0.5,
        queue_size: int = 10_000,
        stats_interval: float = 0.5,
        observer: LiveObserver | None = None,
    ) -> None:
        self.broker = broker
        self.reorder_window = reorder_window
        self.queue_size = queue_size
        self.observer = observer
        self._backfill = backfill
        self._stats = StatsThrottle(self._dispatch, stats_interval)
        self._by_room: dict[str, set[Viewer]] = {}
        self._viewers: set[Viewer] = set()
        self._gates: dict[str, _Gate] = {}
        self._reader: asyncio.Task[None] | None = None
        self._fills: set[asyncio.Task[None]] = set()
        #: Told when a viewer's join completes and when it leaves (presence); None: nobody.
        self.membership: Membership | None = None

    @property
    def viewer_count(self) -> int:
        """Viewers open in this process."""
        return len(self._viewers)

    @property
    def scan_count(self) -> int:
        """Scans whose order this process keeps: those with a viewer here."""
        return len(self._gates)

    @property
    def room_count(self) -> int:
        """Rooms with a viewer in them."""
        return len(self._by_room)

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Begin reading the broker's stream (the broker is started)."""
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(
                self._read(), name="taskstream-fanout"
            )

    async def stop(self) -> None:
        """Stop reading and close every viewer."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        for task in list(self._fills):
            task.cancel()
        for viewer in list(self._viewers):
            viewer.close()
        for gate in self._gates.values():
            if gate.timer is not None:
                gate.timer.cancel()
        self._gates.clear()
        self._stats.clear()

    async def publish(self, event: ScanEvent) -> None:
        """Hand a stored event to the broker, which brings it back to every process."""
        await self.broker.publish(event)
        if self.observer is not None:
            self.observer.published(event)

    async def _read(self) -> None:
        """Deliver what the broker's stream yields until it ends (the broker stopped).

        A stream that breaks is opened again a moment later; meanwhile events
        may have been lost, so every viewer is sent away to resume.
        """
        while True:
            try:
                async for item in self.broker.events():
                    self._take(item)
            except Exception:
                log.exception("the broker's event stream failed; viewers are sent away to resume")
                self._resync(Resync())
                await asyncio.sleep(self.reorder_window)
                continue
            return

    def _take(self, item: ScanEvent | Resync) -> None:
        try:
            if isinstance(item, Resync):
                self._resync(item)
            elif item.type.is_notice:
                self._notice(item)
            elif item.type is EventType.SCAN_STATS:
                self._stats.offer(item)
            else:
                self._order(item)
        except Exception:  # one bad event must not stop the delivery of the others
            log.exception("could not deliver an event")

    # -- viewers -----------------------------------------------------------------------
    def viewer(self, principal: Principal) -> Viewer:
        """A new viewer for ``principal``, in no scan yet."""
        viewer = Viewer(self, principal, self.queue_size)
        self._viewers.add(viewer)
        return viewer

    def watch(self, viewer: Viewer, scan_id: str) -> None:
        """Put ``viewer`` in the scan's rooms (a join begins)."""
        for room in viewer_rooms(scan_id, viewer.principal):
            self._by_room.setdefault(room, set()).add(viewer)
        gate = self._gates.get(scan_id)
        if gate is None:
            gate = self._gates[scan_id] = _Gate()
            gate.following = self._follow(scan_id)
        gate.watchers += 1

    def _follow(self, scan_id: str) -> asyncio.Future[None] | None:
        """Have a following broker carry the scan (None: this broker carries every scan)."""
        if not isinstance(self.broker, ScanFollowing):
            return None
        following = asyncio.ensure_future(self.broker.follow(scan_id))
        # A failure reaches the joins that wait for it; none may be waiting.
        following.add_done_callback(lambda f: f.cancelled() or f.exception())
        return following

    async def ready(self, scan_id: str) -> None:
        """Return once the broker carries the scan's events, for a join of it under way.

        A failed follow is tried again by the next join of the scan.

        Raises:
            Unavailable: The broker could not follow the scan.
        """
        gate = self._gates.get(scan_id)
        if gate is None or gate.following is None:
            return
        following = gate.following
        try:
            await asyncio.shield(following)
        except Exception:
            if gate.following is following and self._gates.get(scan_id) is gate:
                gate.following = self._follow(scan_id)
            raise

    def unwatch(self, viewer: Viewer, scan_id: str) -> None:
        """Take ``viewer`` out of the scan's rooms; the scan's last viewer takes its gate."""
        for room in viewer_rooms(scan_id, viewer.principal):
            members = self._by_room.get(room)
            if members is not None:
                members.discard(viewer)
                if not members:
                    del self._by_room[room]
        gate = self._gates.get(scan_id)
        if gate is not None:
            gate.watchers -= 1
            if gate.watchers <= 0:
                del self._gates[scan_id]
                if gate.timer is not None:
                    gate.timer.cancel()
                if gate.following is not None and isinstance(self.broker, ScanFollowing):
                    self.broker.unfollow(scan_id)

    def entered(self, viewer: Viewer, scan_id: str) -> None:
        """``viewer``'s join of the scan completed: tell the membership."""
        if self.membership is not None:
            self.membership.entered(scan_id, viewer.principal)

    def left(self, viewer: Viewer, scan_id: str) -> None:
        """``viewer``, whose join of the scan completed, left it: tell the membership."""
        if self.membership is not None:
            self.membership.left(scan_id, viewer.principal)

    def deliver(self, event: ScanEvent) -> None:
        """Deliver a notice to the viewers of this process only, not through the broker."""
        self._dispatch(event)

    def _notice(self, event: ScanEvent) -> None:
        if event.type is EventType.SCAN_PRESENCE and event.presence is None:
            if self.membership is not None and scan_room(event.scan_id) in self._by_room:
                self.membership.noticed(event.scan_id)
            return
        if event.type is EventType.TASK_CLAIMED:
            gate = self._gates.get(event.scan_id)
            now = asyncio.get_running_loop().time()
            if gate is not None and not gate.newest_claim(event, now):
                log.debug(
                    "scan %s: an older task:claimed of %s dropped", event.scan_id, event.task_id
                )
                return
        self._dispatch(event)

    def forget(self, viewer: Viewer) -> None:
        """Drop a closed viewer."""
        self._viewers.discard(viewer)

    def seed(self, scan_id: str, seq: int) -> None:
        """A join of the scan was answered as of ``seq``: a gate that has not delivered yet
        starts after it (with several publishers, a later seq may arrive first)."""
        gate = self._gates.get(scan_id)
        if gate is not None and gate.last is None:
            gate.last = seq
            for early in [s for s in gate.held if s <= seq]:
                del gate.held[early]
            self._drain(scan_id, gate)
            self._arm(scan_id, gate)

    # -- ordering --------------------------------------------------------------------
    def _order(self, event: ScanEvent) -> None:
        gate = self._gates.get(event.scan_id)
        if gate is None:
            return  # nobody here views the scan
        if gate.last is None:
            # Every viewer of the scan is still joining: held until the first join's answer
            # says where to start (the joins hold these events too, and end by themselves).
            gate.held[event.seq] = event
        elif event.seq == gate.last + 1:
            gate.last = event.seq
            self._dispatch(event)
            self._drain(event.scan_id, gate)
        elif event.seq > gate.last + 1:
            gate.held[event.seq] = event
            self._arm(event.scan_id, gate)
        else:
            log.debug("scan %s: seq %d passed already", event.scan_id, event.seq)

    def _arm(self, scan_id: str, gate: _Gate) -> None:
        if gate.held and gate.timer is None and gate.last is not None:
            loop = asyncio.get_running_loop()
            gate.timer = loop.call_later(self.reorder_window, self._gap_timed_out, scan_id)

    def _drain(self, scan_id: str, gate: _Gate) -> None:
        while gate.last is not None and gate.last + 1 in gate.held:
            gate.last += 1
            self._dispatch(gate.held.pop(gate.last))
        if not gate.held and gate.timer is not None:
            gate.timer.cancel()
            gate.timer = None

    def _gap_timed_out(self, scan_id: str) -> None:
        gate = self._gates.get(scan_id)
        if gate is None:
            return
        gate.timer = None
        if gate.filling or not gate.held:
            return
        gate.filling = True
        task = asyncio.get_running_loop().create_task(self._fill(scan_id, gate))
        self._fills.add(task)
        task.add_done_callback(self._fills.discard)

    async def _fill(self, scan_id: str, gate: _Gate) -> None:
        """Deliver what the store holds of a gap, then skip what it lacks."""
        assert gate.last is not None
        try:
            stored = await self._backfill(scan_id, gate.last)
        except Exception as exc:  # the store is down: the gap is skipped, as without a store
            log.warning("scan %s: could not read a seq gap from the store: %s", scan_id, exc)
            stored = None
        finally:
            gate.filling = False
        if self._gates.get(scan_id) is not gate:
            return  # its last viewer left meanwhile
        for event in stored or ():
            if event.seq <= gate.last:
                continue  # published meanwhile: it went out already
            if not gate.held or event.seq > max(gate.held) or event.seq != gate.last + 1:
                break  # past what waits here, or the store lacks the next one too
            gate.last = event.seq
            self._dispatch(gate.held.pop(event.seq, event))
        self._drain(scan_id, gate)
        if gate.held:
            gate.last = min(gate.held) - 1
            log.info("scan %s: seq gap before %d skipped", scan_id, gate.last + 1)
            self._drain(scan_id, gate)
            self._arm(scan_id, gate)

    def _resync(self, resync: Resync) -> None:
        """Events may have been lost: the viewers concerned resume from the store."""
        if resync.scans is None:
            targets = set(self._viewers)
            self._stats.clear()
        else:
            targets = set()
            for scan_id in resync.scans:
                targets |= self._by_room.get(scan_room(scan_id), set())
        for viewer in targets:
            viewer.close(lagged=True)
        log.warning("%d viewer(s) resume what the broker may have lost", len(targets))

    # -- delivery ----------------------------------------------------------------------
    def _dispatch(self, event: ScanEvent) -> None:
        targets: set[Viewer] = set()
        for room in event_rooms(event):
            members = self._by_room.get(room)
            if members:
                targets |= members
        shaped: dict[bool, ScanEvent] = {}
        for viewer in targets:
            try:
                if event.presence is None:
                    viewer.offer(event)
                    continue
                presence = presence_for(viewer.principal, event.presence)
                detailed = presence.detailed
                if detailed not in shaped:
                    shaped[detailed] = dataclasses.replace(event, presence=presence)
                viewer.offer(shaped[detailed])
            except Exception:  # its push sink broke: that viewer resumes, the others go on
                log.exception("could not hand an event to a viewer; it must resume")
                viewer.close(lagged=True)
        if self.observer is not None:
            with contextlib.suppress(Exception):
                self.observer.delivered(event, len(targets))
