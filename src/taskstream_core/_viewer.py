"""One viewer's place in the fan-out: its cut per scan, and its delivery.

A :class:`Viewer` is made by :meth:`Fanout.viewer
<taskstream_core._fanout.Fanout.viewer>`, which routes to it the events its
rooms may see; :class:`~taskstream_core.ViewerSession` is the public way to
use one. While the viewer joins a scan, the scan's events for it are held; the
join's answer is read *as of* a seq, and then only the held events after that
seq are released, so no timing of the store can lose or repeat an event
between an answer and the live stream. Then each event goes to the viewer's
bounded queue or to its push sink; a viewer more than ``queue_size`` events
behind is closed as lagged, and its client resumes with ``since_seq``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .models import EventType, Principal, ScanEvent

if TYPE_CHECKING:
    from ._fanout import Fanout

__all__ = ["Sink", "Viewer", "ViewerClosed", "ViewerLagged"]

log = logging.getLogger("taskstream.fanout")

#: A push viewer's sink: takes an event, answers how many its transport holds unsent.
Sink = Callable[[ScanEvent], int]


class ViewerClosed(Exception):
    """The viewer was closed: by its owner, or because the core stopped."""


class ViewerLagged(ViewerClosed):
    """The viewer fell more than ``queue_size`` events behind and was closed.

    Its client must resume with ``since_seq`` to read what it missed from the store.
    """


#: Not held for a viewer while it joins: its answer carries what they would tell.
_NOT_HELD = frozenset({EventType.SCAN_STATS, EventType.SCAN_PRESENCE})


class Viewer:
    """One viewer's place in the fan-out: its rooms, its cut per scan, its delivery.

    Made by :meth:`Fanout.viewer`; :class:`~taskstream_core.ViewerSession` is the
    public way to use one.
    """

    def __init__(self, fanout: Fanout, principal: Principal, queue_size: int) -> None:
        self.principal = principal
        self.closed = False
        self.lagged = False
        self._fanout = fanout
        self._queue_size = queue_size
        self._queue: asyncio.Queue[ScanEvent | None] = asyncio.Queue()
        #: scan → the seq its join answered as of; None while the join is under way.
        self._cuts: dict[str, int | None] = {}
        #: scan → events held for it while its join is under way.
        self._held: dict[str, list[ScanEvent]] = {}
        #: scan → the claim version its join's claims were read after (see :meth:`release`).
        self._claim_cuts: dict[str, int] = {}
        self._sink: Sink | None = None
        self._on_close: Callable[[], None] | None = None
        self._present: set[str] = set()  # scans whose join completed: counted as present

    @property
    def scans(self) -> frozenset[str]:
        """The scans joined or being joined."""
        return frozenset(self._cuts)

    async def following(self, scan_id: str) -> None:
        """Return once the broker carries the scan's events (after :meth:`begin`).

        Raises:
            Unavailable: The broker could not follow the scan.
        """
        await self._fanout.ready(scan_id)

    def begin(self, scan_id: str) -> None:
        """Start a join: from now on the scan's events for this viewer are held."""
        if self.closed:
            raise ViewerClosed()
        if scan_id not in self._cuts:
            self._fanout.watch(self, scan_id)
        self._cuts[scan_id] = None
        self._held[scan_id] = []
        self._claim_cuts.pop(scan_id, None)

    def release(self, scan_id: str, seq: int, claim_version: int = 0) -> None:
        """End a join answered as of ``seq``: drop the held events it covers, pass the rest.

        Nothing happens if the scan was left meanwhile.

        Args:
            scan_id: The scan joined.
            seq: The seq the answer is cut at.
            claim_version: The claim registry's version that the answer's claims were
                read after: the scan's ``task:claimed`` up to it are dropped, the answer
                holds them. 0 when the answer carries no claims.
        """
        if scan_id not in self._cuts or self._cuts[scan_id] is not None:
            return
        self._cuts[scan_id] = seq
        if claim_version:
            self._claim_cuts[scan_id] = claim_version
        held = self._held.pop(scan_id, [])
        self._fanout.seed(scan_id, seq)
        for event in held:
            self.offer(event)
        if scan_id not in self._present and not self.closed:
            self._present.add(scan_id)
            self._fanout.entered(self, scan_id)

    def leave(self, scan_id: str) -> None:
        """Stop receiving the scan (a join under way included)."""
        if scan_id in self._cuts:
            del self._cuts[scan_id]
            self._held.pop(scan_id, None)
            self._claim_cuts.pop(scan_id, None)
            self._fanout.unwatch(self, scan_id)
        if scan_id in self._present:
            self._present.discard(scan_id)
            self._fanout.left(self, scan_id)

    def offer(self, event: ScanEvent) -> None:
        """Take an event the fan-out routed here: hold, drop, queue or push it."""
        if self.closed:
            return
        cut = self._cuts.get(event.scan_id, -1)
        if cut is None:  # joining: held, and cut once the answer's seq is known
            if event.type not in _NOT_HELD:
                self._held[event.scan_id].append(event)
            return
        if event.type is not EventType.SCAN_STATS and not event.type.is_notice:
            if event.seq <= cut:
                return  # the join's answer holds it
            self._cuts[event.scan_id] = event.seq
        elif 0 < event.claim_version <= self._claim_cuts.get(event.scan_id, 0):
            return  # the join's answer holds this claim or a newer one
        if self._sink is not None:
            unsent = self._sink(event)
        else:
            self._queue.put_nowait(event)
            unsent = self._queue.qsize()
        if unsent > self._queue_size:
            self.close(lagged=True)

    def push_to(self, sink: Sink, on_close: Callable[[], None]) -> None:
        """Hand events to ``sink`` as they come instead of queueing them (see ViewerSession)."""
        self._sink = sink
        self._on_close = on_close

    async def next(self) -> ScanEvent:
        """The next queued event.

        Raises:
            ViewerLagged: It fell behind and was closed.
            ViewerClosed: It was closed.
        """
        if not self.closed or not self._queue.empty():
            event = await self._queue.get()
            if event is not None:
                return event
            self._queue.put_nowait(None)  # any other reader sees the end too
        raise ViewerLagged() if self.lagged else ViewerClosed()

    def close(self, *, lagged: bool = False) -> None:
        """Leave every scan and end delivery; ``lagged``: because it fell behind."""
        if self.closed:
            return
        self.closed = True
        self.lagged = lagged
        if lagged:
            log.warning("a viewer fell behind; it must resume with since_seq")
        for scan_id in list(self._cuts):
            self.leave(scan_id)
        self._fanout.forget(self)
        self._queue.put_nowait(None)
        if self._on_close is not None:
            self._on_close()
