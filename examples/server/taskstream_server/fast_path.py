"""The fast path (``--fast-path``): Socket.IO frames written straight to a websocket's transport.

The one module that uses other libraries' internals, for one measured gain under fan-out
(docs/benchmarks.md): an event is framed once for every socket, and a :class:`Lane` appends
the frame to the socket's uvicorn (websockets-sansio) transport, only while python-engineio's
queue is empty and uvicorn is not holding sends back, so order holds. Where the libraries are
not as expected, :meth:`FastPath.install` warns and every frame goes through python-engineio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from importlib.metadata import version
from typing import Any, Final

from engineio import packet as eio_packet
from websockets.protocol import SERVER, State

__all__ = ["WS_PROTOCOL", "FastPath", "Lane", "guard_shutdown", "text_frame", "versions"]

log = logging.getLogger("taskstream.fast_path")

#: What an Engine.IO message starts with on a websocket.
MESSAGE_PREFIX: Final = str(eio_packet.MESSAGE)

#: uvicorn's websocket implementation whose connections a lane writes to.
WS_PROTOCOL: Final = "websockets-sansio"

#: Encoded events kept framed; fan-out sends one event to every socket within moments.
FRAMES_KEPT: Final = 256


def versions() -> str:
    """The installed versions of what the fast path reaches into, for its log lines."""
    names = ("python-engineio", "python-socketio", "uvicorn", "websockets")
    return ", ".join(f"{name} {version(name)}" for name in names)


def text_frame(text: str) -> bytes:
    """A server's unmasked, unfragmented websocket text frame of ``text`` (RFC 6455 §5.2)."""
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

    @staticmethod
    def fits(protocol: object) -> bool:
        """Whether ``protocol`` looks like uvicorn's websockets-sansio protocol."""
        transport = getattr(protocol, "transport", None)
        return (
            all(
                callable(getattr(transport, name, None))
                for name in ("write", "abort", "get_write_buffer_size", "is_closing")
            )
            and isinstance(getattr(protocol, "writable", None), asyncio.Event)
            and isinstance(getattr(protocol, "close_sent", None), bool)
            and getattr(getattr(protocol, "conn", None), "side", None) is SERVER
        )

    def open(self) -> bool:
        """Whether a frame written now would reach the client in order."""
        return (
            self._protocol.writable.is_set()
            and not self._protocol.close_sent
            and self._connection.state is State.OPEN
            and not self._transport.is_closing()
        )

    def take(self, frame: bytes) -> bool:
        """Queue ``frame`` for one write at the end of this loop pass; False if it cannot go."""
        if not self._flush_scheduled:
            if not self.open():
                return False
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(frame)
        return True

    def buffered(self) -> int:
        """Bytes taken but not yet sent: this pass's frames and the transport's write buffer."""
        written: int = self._transport.get_write_buffer_size()
        return written + sum(map(len, self._pending))

    def abort(self) -> None:
        """Close the connection at once, dropping whatever it holds unsent."""
        self._pending = []
        self._transport.abort()

    def _flush(self) -> None:
        self._flush_scheduled = False
        frames, self._pending = self._pending, []
        # Closed in the meantime: the client resumes with since_seq after it reconnects.
        if frames and not self._protocol.close_sent and not self._transport.is_closing():
            self._transport.write(b"".join(frames))


class FastPath:
    """The lanes of one engineio server's websockets, by Engine.IO session id."""

    def __init__(self) -> None:
        self._lanes: dict[str, Lane] = {}
        self._frames: dict[int, tuple[eio_packet.Packet, bytes]] = {}
        self._warned = False

    @classmethod
    def install(cls, engineio_server: Any) -> FastPath | None:
        """Open a lane for each websocket ``engineio_server`` accepts from now on (through a
        subclass of its driver's websocket class, in a driver table of its own), and send its
        packets by them; None, after a warning, where python-engineio is not as expected."""
        drivers = getattr(engineio_server, "_async", None)
        base = drivers.get("websocket") if isinstance(drivers, Mapping) else None
        if not isinstance(base, type):
            log.warning("fast path: off, python-engineio is not as it expects (%s)", versions())
            return None
        fast = cls()

        class LaneWebSocket(base):  # type: ignore[misc,valid-type]
            async def __call__(self, environ: dict[str, Any]) -> Any:
                socket = getattr(getattr(self, "handler", None), "__self__", None)
                sid = getattr(socket, "sid", None)
                protocol = getattr(environ.get("asgi.send"), "__self__", None)
                lane = fast.lane(protocol)
                if lane is None or not isinstance(sid, str):
                    return await super().__call__(environ)
                fast._lanes[sid] = lane
                try:
                    return await super().__call__(environ)
                finally:
                    if fast._lanes.get(sid) is lane:
                        del fast._lanes[sid]

        engineio_server._async = {**drivers, "websocket": LaneWebSocket}  # type: ignore[dict-item]
        plain_send = engineio_server.send

        async def send(sid: str, data: Any) -> None:
            # python-socketio's own packets (acks above all) go by the lane too, in order.
            socket = engineio_server.sockets.get(sid)
            if not (isinstance(data, str) and fast.send_text(socket, data)):
                await plain_send(sid, data)

        engineio_server.send = send
        log.info("fast path: on (%s)", versions())
        return fast

    def lane(self, protocol: object) -> Lane | None:
        """A lane onto ``protocol``; None with an extension (deflate rewrites frames), or for a
        protocol other than uvicorn's websockets-sansio (with a warning, once)."""
        if not Lane.fits(protocol):
            if not self._warned:
                self._warned = True
                log.warning(
                    "fast path: not used, %s is not uvicorn's websockets-sansio (%s)",
                    type(protocol).__name__,
                    versions(),
                )
            return None
        if getattr(getattr(protocol, "conn", None), "extensions", [None]):
            return None
        return Lane(protocol)

    def send(self, socket: Any, packet: eio_packet.Packet) -> bool:
        """Whether the socket's lane took ``packet`` (an encoded live event) in order."""
        lane = self._ready(socket)
        return lane is not None and lane.take(self._frame(packet))

    def send_text(self, socket: Any, text: str) -> bool:
        """Whether the socket's lane took an Engine.IO message of ``text`` (an ack) in order."""
        lane = None if socket is None else self._ready(socket)
        return lane is not None and lane.take(text_frame(MESSAGE_PREFIX + text))

    def _ready(self, socket: Any) -> Lane | None:
        """The socket's lane if it is open, upgraded and nothing waits in its engineio queue."""
        lane = self._lanes.get(socket.sid)
        if lane is None or socket.closed or not socket.upgraded or not socket.queue.empty():
            return None
        return lane

    def buffered(self, eio_sid: str) -> int:
        """Bytes the socket's lane holds unsent (0 without a lane)."""
        lane = self._lanes.get(eio_sid)
        return 0 if lane is None else lane.buffered()

    def abort(self, eio_sid: str) -> None:
        """Abort the socket's connection now, whatever it holds unsent (if it has a lane)."""
        lane = self._lanes.get(eio_sid)
        if lane is not None:
            lane.abort()

    def _frame(self, packet: eio_packet.Packet) -> bytes:
        hit = self._frames.get(id(packet))
        if hit is not None and hit[0] is packet:
            return hit[1]
        frame = text_frame(packet.encode())
        if len(self._frames) >= FRAMES_KEPT:
            del self._frames[next(iter(self._frames))]
        self._frames[id(packet)] = (packet, frame)
        return frame


def guard_shutdown(connection: object) -> None:
    """Make one of uvicorn's websockets-sansio ``server_state.connections`` close its
    transport where its ``shutdown()`` raises (a close frame on a connection its client is
    already closing: ``InvalidState``, which would end the server with exit 1)."""
    shutdown = getattr(connection, "shutdown", None)
    if shutdown is None:
        return

    def guarded() -> None:
        try:
            shutdown()
        except Exception as exc:  # whatever it was, the connection is done with
            log.debug("closing a connection that was already closing: %r", exc)
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.close()

    connection.shutdown = guarded  # type: ignore[attr-defined]
