"""A live viewer of scans (one socket, one SSE stream, ...): join, leave, receive.

It closes the gap between a snapshot and the live stream: it subscribes to
the viewer's rooms *before* reading the snapshot or the missed events, then
drops live events already covered by what :meth:`join` returned. A transport
only has to forward what it iterates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Self

from .models import EventType, Principal, ScanEvent
from .rooms import viewer_rooms
from .service import JoinResult, TaskStream
from .validation import check_id

__all__ = ["ViewerSession"]


class ViewerSession:
    def __init__(self, app: TaskStream, principal: Principal) -> None:
        self.app = app
        self.principal = principal
        self._subscription = app.broker.subscribe()
        self._floors: dict[str, int] = {}
        self._joining: dict[str, object] = {}  # scan → the join of it under way
        #: scan → the highest seq its stream passed during a join, before the join's seq
        #: was known (see :meth:`join`).
        self._passed: dict[str, int] = {}

    @property
    def scans(self) -> frozenset[str]:
        """The scans this viewer has joined."""
        return frozenset(self._floors)

    async def join(self, scan_id: object, since_seq: object = None) -> JoinResult:
        """Join a scan's rooms and answer the snapshot or the missed events.

        A :meth:`leave` of the scan while this runs wins: the scan stays left.
        """
        sid = check_id(scan_id, "scan_id")
        rooms = viewer_rooms(sid, self.principal)
        already = sid in self._floors
        ticket = self._joining[sid] = object()
        self._subscription.watch(sid)
        self._subscription.join(rooms)

        def as_of(seq: int) -> int:
            # From now on a reader of this session (a transport's forwarding
            # task may run during the join) drops what the answer covers and
            # passes what comes after it. Until now it dropped this scan's
            # events, and the answer must cover them: most were stored before
            # `seq` was read, but a store that reads on a thread of its own
            # can hand `seq` over after a later change was committed and
            # published. So the answer is as of the later of the two.
            if self._joining.get(sid) is ticket:
                seq = max(seq, self._passed.pop(sid, seq))
                self._floors[sid] = max(seq, self._floors.get(sid, seq))
                self._subscription.covered(sid, seq)
            return seq

        try:
            return await self.app._join(self.principal, sid, since_seq, on_seq=as_of)
        except BaseException:
            self._passed.pop(sid, None)
            if not already and self._joining.get(sid) is ticket:
                # Nothing of a failed join stays: its rooms, its scan's order in the broker.
                self._floors.pop(sid, None)
                self._subscription.leave(rooms)
                self._subscription.unwatch(sid)
            raise
        finally:
            if self._joining.get(sid) is ticket:
                del self._joining[sid]

    def forward_to(self, sink: Callable[[ScanEvent], None], lagged: Callable[[], None]) -> None:
        """Hand each event this viewer may have to ``sink`` as the broker delivers it.

        Instead of iterating: a transport that can queue an event without
        waiting (Socket.IO's own outgoing queue) then needs no task of its own
        per viewer, nor a wake-up of that task per event. Order is the
        broker's delivery order, which is seq order per scan. ``lagged`` is
        called if the broker gives up on this viewer (it must resume with
        ``since_seq``). Both run inside the broker's delivery and must not raise.
        """

        def offer(event: ScanEvent | None) -> None:
            if event is None:
                if self._subscription.lagged:
                    lagged()
            elif self._wanted(event):
                sink(event)

        self._subscription.listener = offer

    def leave(self, scan_id: object) -> None:
        sid = check_id(scan_id, "scan_id")
        self._joining.pop(sid, None)
        self._passed.pop(sid, None)
        self._floors.pop(sid, None)
        self._subscription.leave(viewer_rooms(sid, self.principal))
        self._subscription.unwatch(sid)

    def _wanted(self, event: ScanEvent) -> bool:
        floor = self._floors.get(event.scan_id)
        if floor is None:
            if event.scan_id in self._joining and event.type is not EventType.SCAN_STATS:
                passed = self._passed.get(event.scan_id, 0)
                self._passed[event.scan_id] = max(passed, event.seq)
            return False
        if event.type is EventType.SCAN_STATS:
            return True
        if event.seq <= floor:
            return False
        self._floors[event.scan_id] = event.seq
        return True

    async def next_event(self) -> ScanEvent:
        """The next event for this viewer; raises ``SubscriptionClosed`` once closed."""
        while True:
            event = await self._subscription.get()
            if self._wanted(event):
                return event

    def __aiter__(self) -> AsyncIterator[ScanEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ScanEvent]:
        async for event in self._subscription:
            if self._wanted(event):
                yield event

    @property
    def lagged(self) -> bool:
        return self._subscription.lagged

    def close(self) -> None:
        self._floors.clear()
        self._subscription.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
