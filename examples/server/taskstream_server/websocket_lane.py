"""Live events written straight to a websocket, framed once for every socket.

Through python-engineio, each delivery of a live event to a websocket woke
that socket's writer task, which wrapped the text in an ASGI message, which
uvicorn handed to ``websockets`` to frame, then wrote: about 34 µs of server
CPU per delivery, most of the server's work under fan-out. A server's text
frame is the same bytes for every socket that negotiated no extension, so
:class:`EventPackets` frames each event once, and a :class:`Lane` appends
those bytes to the socket's transport, leaving engineio's queue and writer to
everything else (acks, pings, the close).

Order is what makes this safe. A socket's packets are the events in seq
order plus what engineio queues; a lane takes an event only while engineio's
queue is empty and uvicorn is not holding a send back for flow control. Then
nothing queued earlier is waiting: the writer sends a batch without yielding
unless uvicorn paused writing, so an empty queue with writing allowed means
the writer holds nothing unsent. Frames taken in one pass of the event loop
go out in one ``transport.write`` at the end of it, which is what lets a
socket receiving many events a second cost one system call per pass rather
than one per event; an ack queued meanwhile is written by engineio's writer,
which the loop runs after that flush.

It reaches into uvicorn's websockets-sansio protocol (its transport, its
``websockets`` connection, its ``writable`` event and ``close_sent`` flag),
so a lane exists only where those look as expected and the connection
negotiated no extension: with ``--ws wsproto`` or a permessage-deflate
connection every event goes through engineio as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from websockets.protocol import SERVER, State

__all__ = ["Lane", "Lanes", "text_frame"]


def text_frame(text: str) -> bytes:
    """A server's unmasked, unfragmented websocket text frame carrying ``text`` (RFC 6455
    §5.2: FIN and the text opcode, then the length in 7, 7+16 or 7+64 bits)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        head = b"\x81\x7f" + size.to_bytes(8, "big")
    return head + payload


class Lane:
    """One websocket connection's transport, written to past engineio's writer."""

    __slots__ = ("_connection", "_flush_scheduled", "_pending", "_protocol", "_transport")

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._connection = protocol.conn
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    @classmethod
    def fit(cls, protocol: object) -> Lane | None:
        """A lane onto uvicorn's websockets-sansio ``protocol``, or None where it does not fit."""
        transport = getattr(protocol, "transport", None)
        connection = getattr(protocol, "conn", None)
        writable = getattr(protocol, "writable", None)
        if not all(
            callable(getattr(transport, name, None))
            for name in ("write", "abort", "get_write_buffer_size")
        ):
            return None
        if not isinstance(writable, asyncio.Event):
            return None
        if not isinstance(getattr(protocol, "close_sent", None), bool):
            return None
        if getattr(connection, "side", None) is not SERVER or getattr(
            connection, "extensions", [1]
        ):
            return None  # an extension (deflate) rewrites frames: not the shared bytes
        return cls(protocol)

    def open(self) -> bool:
        """Whether a frame written now would reach the client in order."""
        return (
            self._protocol.writable.is_set()
            and not self._protocol.close_sent
            and self._connection.state is State.OPEN
            and not self._transport.is_closing()
        )

    def take(self, frame: bytes) -> bool:
        """Queue ``frame`` for this pass's flush; False (nothing taken) where it cannot go now."""
        if self._flush_scheduled:  # it was open for this pass's first frame: it still is
            self._pending.append(frame)
            return True
        if not self.open():
            return False
        self._pending.append(frame)
        self._flush_scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)
        return True

    def buffered(self) -> int:
        """Bytes taken or written but not yet sent: this pass's frames and the transport's
        write buffer (asyncio's ``get_write_buffer_size``)."""
        written: int = self._transport.get_write_buffer_size()
        return written + sum(map(len, self._pending))

    def abort(self) -> None:
        """Close the connection at once, dropping whatever it holds unsent (a client that
        does not read would otherwise keep the transport's buffer for as long as it lives)."""
        self._pending = []
        self._transport.abort()

    def _flush(self) -> None:
        self._flush_scheduled = False
        frames, self._pending = self._pending, []
        # Closed in the meantime: the client resumes with since_seq after it reconnects.
        if frames and not self._protocol.close_sent and not self._transport.is_closing():
            self._transport.write(b"".join(frames))


class Lanes:
    """The lanes of this process's websockets, by Engine.IO session id."""

    def __init__(self) -> None:
        self._by_sid: dict[str, Lane] = {}

    def get(self, eio_sid: str) -> Lane | None:
        return self._by_sid.get(eio_sid)

    def ready(self, socket: Any) -> Lane | None:
        """An engineio socket's lane if a frame taken now keeps its order, else None.

        In order means: the socket is open and on its websocket, and nothing
        waits in engineio's queue to be sent before the frame. Asked before a
        frame is built, so a socket without a lane costs no framing.
        """
        lane = self._by_sid.get(socket.sid)
        if lane is None or socket.closed or not socket.upgraded or not socket.queue.empty():
            return None
        return lane

    def __len__(self) -> int:
        return len(self._by_sid)

    def install(self, engineio_server: Any) -> bool:
        """Open a lane for each websocket this engineio server accepts from now on.

        python-engineio builds each websocket through its async driver's
        ``websocket`` class, with the engineio socket's bound handler; a
        subclass learns there both the socket and uvicorn's protocol (the
        ASGI ``send`` is its bound method). The driver's table is shared by
        every server of the process, so this server gets a copy of its own.
        """
        drivers = getattr(engineio_server, "_async", None)
        if not isinstance(drivers, Mapping):
            return False
        base = drivers.get("websocket")
        if not isinstance(base, type):
            return False
        lanes = self

        class LaneWebSocket(base):  # type: ignore[misc,valid-type]
            async def __call__(self, environ: dict[str, Any]) -> Any:
                handler: Any = getattr(self, "handler", None)
                socket = getattr(handler, "__self__", None)
                sid = getattr(socket, "sid", None)
                send = environ.get("asgi.send")
                lane = Lane.fit(getattr(send, "__self__", None))
                if lane is None or not isinstance(sid, str):
                    return await super().__call__(environ)
                lanes._by_sid[sid] = lane
                try:
                    return await super().__call__(environ)
                finally:
                    if lanes._by_sid.get(sid) is lane:
                        del lanes._by_sid[sid]

        engineio_server._async = {**drivers, "websocket": LaneWebSocket}
        return True
