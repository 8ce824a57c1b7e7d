"""The fast path (``--fast-path``): live events written straight to a websocket's transport.

The one module of the server that uses other libraries' internals, for one
measured gain (docs/benchmarks.md): under fan-out most of the server's
work was each socket's python-engineio writer waking per event, wrapping
the text in an ASGI message that uvicorn hands to ``websockets`` to frame.
A server's text frame is the same bytes for every socket that negotiated no
extension, so each event is framed once, and a :class:`Lane` appends those
bytes to the socket's transport. python-socketio's own packets (acks above
all) take the lane too, through this server's ``send``; pings and the close
still go through python-engineio.

Order is what makes this safe: a lane takes an event only while engineio's
queue is empty and uvicorn is not holding a send back (flow control), so
nothing queued earlier is waiting. Frames taken in one pass of the event
loop go out in one ``transport.write`` at the end of it.

What it touches, and so the versions ``pyproject.toml`` allows: python-engineio's
driver table (``AsyncServer._async``) and its ASGI websocket class, this
server's ``send`` (replaced on the instance); uvicorn's
websockets-sansio protocol (``transport``, ``conn``, ``writable``,
``close_sent``) reached through the ASGI ``send`` it hands the app. Where
those are not as expected, :meth:`FastPath.install` logs a warning and
returns None, and every frame goes through python-engineio.
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
        """Queue ``frame`` for this pass's flush; False (nothing taken) where it cannot go now."""
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
        #: Live events written by a lane (the rest went through python-engineio).
        self.sent = 0
        self._warned = False

    @classmethod
    def install(cls, engineio_server: Any) -> FastPath | None:
        """Open a lane for each websocket ``engineio_server`` accepts from now on.

        python-engineio builds each websocket through its async driver's
        ``websocket`` class, with the engineio socket's bound handler; a
        subclass learns there both the socket and uvicorn's protocol (the ASGI
        ``send`` is its bound method). The driver table is shared by every
        server of the process, so this server gets a copy of its own.

        Returns:
            The fast path, or None (after a warning) where python-engineio is not as expected.
        """
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
        """A lane onto ``protocol``, or None: one that negotiated an extension (deflate
        rewrites frames), or a protocol other than uvicorn's websockets-sansio (a warning)."""
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
        """Write ``packet`` (an encoded live event) by the socket's lane if that keeps its
        order: the socket is on its websocket and nothing waits in engineio's queue.

        Returns:
            Whether the lane took it; if not, it is the caller's to queue.
        """
        lane = self._ready(socket)
        if lane is None or not lane.take(self._frame(packet)):
            return False
        self.sent += 1
        return True

    def send_text(self, socket: Any, text: str) -> bool:
        """Write an Engine.IO message of ``text`` (a packet python-socketio encoded, an ack
        say) by the socket's lane if that keeps its order.

        Returns:
            Whether the lane took it; if not, python-engineio is to send it.
        """
        lane = None if socket is None else self._ready(socket)
        return lane is not None and lane.take(text_frame(MESSAGE_PREFIX + text))

    def _ready(self, socket: Any) -> Lane | None:
        """The socket's lane if a frame taken now keeps its order: the socket is open, on its
        websocket, and nothing waits in python-engineio's queue to be sent before it."""
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
    """Make one uvicorn connection's ``shutdown()`` unable to abort uvicorn's own.

    A client that answers the Socket.IO disconnect sent at shutdown by closing its
    websocket leaves that connection *closing*; uvicorn's websockets-sansio
    protocol then sends its own close frame regardless, websockets raises
    ``InvalidState``, and the exception ends the whole server with exit 1
    instead of a clean 0 (seen in ``test_signals_stop_the_server_with_exit_0``).
    Such a connection only needs its transport closed. wsproto, which uvicorn
    serves with ``--no-fast-path``, needs no such guard.

    Args:
        connection: One of uvicorn's ``server_state.connections``.
    """
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
