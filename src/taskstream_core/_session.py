"""A live viewer of scans (one socket, one SSE stream, ...): the one public way to watch.

A join is cut by the core's fan-out itself: the viewer is attached and the
scan's events for it are held, the answer is read as of the scan's latest
seq, and only the held events after that seq are released. Whatever the
store's timing, nothing falls between the answer and the live stream, and
nothing arrives twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Self

from ._service import JoinResult, TaskStream
from ._validation import check_id
from ._viewer import ViewerClosed
from .errors import NotFound
from .models import Principal, ScanEvent

__all__ = ["ViewerSession"]


class ViewerSession:
    """One viewer's live view of the scans it joins, for as long as its transport lasts.

    Use it as an async (or plain) context manager, join scans, then either
    iterate it or have it push to the transport::

        async with ViewerSession(app, principal) as viewer:
            answer = await viewer.join(scan_id)      # draw this first
            async for event in viewer:               # then every change, in seq order
                send(event.to_envelope())

    A viewer more than ``TaskStream.queue_size`` events behind is closed as
    lagged: iteration raises :class:`ViewerLagged`, and its client resumes
    with ``since_seq``.

    Args:
        app: The core.
        principal: Who watches: what it may see is decided by the rooms of its role.

    Attributes:
        app: The core.
        principal: Who watches.
    """

    def __init__(self, app: TaskStream, principal: Principal) -> None:
        self.app = app
        self.principal = principal
        self._viewer = app.fanout.viewer(principal)

    @property
    def scans(self) -> frozenset[str]:
        """The scans joined, or being joined."""
        return self._viewer.scans

    @property
    def lagged(self) -> bool:
        """Whether it was closed for falling behind."""
        return self._viewer.lagged

    @property
    def closed(self) -> bool:
        """Whether it was closed (by :meth:`close`, for lagging, or by the core stopping)."""
        return self._viewer.closed

    async def join(self, scan_id: object, since_seq: object = None) -> JoinResult:
        """Join a scan: answer its snapshot or the events it missed; later ones follow live.

        The answer is the snapshot, or the events after ``since_seq``; the live
        stream starts right after its seq. Joining a joined scan again answers afresh.

        A :meth:`leave` of the scan while this runs wins: the scan stays left.

        Args:
            scan_id: The scan.
            since_seq: The last seq the viewer has, to resume after it.

        Returns:
            The answer (see :meth:`TaskStream.join`).

        Raises:
            InvalidRequest: ``scan_id`` or ``since_seq`` is malformed.
            NotFound: No such scan; the viewer is left in no room of it.
            Unavailable: The broker could not follow the scan (Redis did not confirm).
            ViewerClosed: The viewer was closed.
        """
        sid = check_id(scan_id, "scan_id")
        self._viewer.begin(sid)
        try:
            await self._viewer.following(sid)  # the live stream first, then the answer
            result = await self.app.join(self.principal, sid, since_seq)
        except BaseException:
            self._viewer.leave(sid)
            raise
        self._viewer.release(sid, result.seq, result.claim_version)
        return result

    def leave(self, scan_id: object) -> None:
        """Stop receiving a scan's events (nothing happens for a scan not joined).

        Args:
            scan_id: The scan.

        Raises:
            InvalidRequest: ``scan_id`` is malformed.
        """
        try:
            sid = check_id(scan_id, "scan_id")
        except NotFound:  # an id no scan has: never joined, so nothing to leave
            return
        self._viewer.leave(sid)

    def forward_to(self, sink: Callable[[ScanEvent], int], lagged: Callable[[], None]) -> None:
        """Push each event to ``sink`` as the fan-out delivers it, instead of queueing it.

        For a transport with an outgoing queue of its own (Socket.IO's), so
        that no task per viewer wakes per event. ``sink`` runs inside the
        delivery, must not raise or wait, and answers how many events the
        transport holds unsent for this viewer: past ``TaskStream.queue_size``
        the viewer is closed as lagged. ``lagged`` is called once the viewer
        closes for that reason, or because the broker may have lost events
        (its client must resume with ``since_seq``).

        Args:
            sink: Takes each event; answers how many events the transport holds
                unsent for this viewer.
            lagged: Called once if the viewer is closed as lagged.
        """

        def closed() -> None:
            if self._viewer.lagged:
                lagged()

        self._viewer.push_to(sink, closed)

    async def next_event(self) -> ScanEvent:
        """Wait for the next event of the joined scans.

        Returns:
            The event, in seq order within its scan.

        Raises:
            ViewerLagged: It fell behind and was closed.
            ViewerClosed: It was closed.
        """
        return await self._viewer.next()

    def __aiter__(self) -> AsyncIterator[ScanEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ScanEvent]:
        while True:
            try:
                event = await self._viewer.next()
            except ViewerClosed as closed:
                if self._viewer.lagged:
                    raise closed from None
                return
            yield event

    def close(self) -> None:
        """Leave every scan and end the stream; iteration then ends."""
        self._viewer.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
