"""The Socket.IO clients of the test suites: the reference client, and one on the raw wire.

- :class:`LiveSocket` is python-socketio's ``AsyncClient``, the client real
  Python users run, over websocket or long-polling: the contract suites use it
  to show the server works with it. Events are recorded as they arrive (and,
  given a :class:`~tests.support.wire.Wire`, everything received is kept there
  too); tests ``await`` acks and wait for events.
- :class:`WireSocket` owns its TCP socket and speaks just enough RFC 6455 and
  Engine.IO 4 / Socket.IO 5 to connect, emit, read acks and answer pings. It
  reads only while a call waits, so it can do what a well-behaved client never
  does: stop reading (with a small ``SO_RCVBUF``), send any packet text or raw
  bytes, leave with a FIN or an RST instead of a disconnect, and run by the
  hundred on one event loop.
- :class:`SocketDriver` runs wire sockets on an event loop thread of its own,
  for synchronous (Hypothesis) tests.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal, Self, TypeVar

import socketio

from .wire import Wire

__all__ = [
    "Exit",
    "LiveSocket",
    "Received",
    "Refused",
    "SocketDriver",
    "WireSocket",
    "received_text",
]

_T = TypeVar("_T")

#: How a :class:`WireSocket` leaves: a Socket.IO disconnect, a WebSocket close frame and a
#: FIN (``clean``); a FIN with no packet at all, as a killed tab (``fin``); or an RST, as a
#: crashed host or a NAT dropping the flow (``reset``).
Exit = Literal["clean", "fin", "reset"]

_TEXT: Final = 0x1
_CLOSE: Final = 0x8
_PING: Final = 0x9
_PONG: Final = 0xA
#: How python-socketio writes a packet's JSON.
_COMPACT: Final = (",", ":")


@dataclass(frozen=True, slots=True)
class Received:
    """One event as the socket got it, with the moment it arrived (monotonic seconds)."""

    type: str
    data: Any
    at: float


def received_text(events: Iterable[Received]) -> str:
    """Every payload of ``events``, as one searchable text."""
    return "\n".join(json.dumps(e.data, default=str) for e in events)


class LiveSocket:
    """One python-socketio connection (websocket or long-polling, no automatic reconnection).

    Every wait (connect, ack, event) gives up after :attr:`timeout` seconds;
    wrap a call in ``asyncio.timeout`` for a shorter bound.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        auth: Any = None,
        timeout: float = 10.0,
        transport: str = "websocket",
        headers: dict[str, str] | None = None,
        wire: Wire | None = None,
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.transport = transport
        self.headers = headers or {}
        self.auth = auth if auth is not None else ({"token": token} if token is not None else None)
        #: Where every event, ack and connect error received is also recorded, if anywhere.
        self.wire = wire
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[Received] = []
        self.connect_errors: list[Any] = []
        self.disconnected = asyncio.Event()
        self._arrived = asyncio.Event()
        self.client.on("*", self._on_any)
        self.client.on("connect_error", self._on_connect_error)
        self.client.on("disconnect", self._on_disconnect)

    def _record(self, where: str, payload: Any) -> None:
        if self.wire is not None:
            self.wire.add(where, payload)

    async def _on_any(self, event: str, *args: Any) -> None:
        data = args[0] if args else None
        self._record(f"socket event {event}", data)
        self.events.append(Received(event, data, time.monotonic()))
        self._arrived.set()

    async def _on_connect_error(self, data: Any = None) -> None:
        self._record("socket connect_error", data)
        self.connect_errors.append(data)

    async def _on_disconnect(self, *reason: Any) -> None:
        self.disconnected.set()

    async def connect(self) -> Self:
        """Connect, or raise ``socketio.exceptions.ConnectionError`` if refused."""
        await self.client.connect(
            self.base_url,
            auth=self.auth,
            headers=self.headers,
            transports=[self.transport],
            socketio_path="socket.io",
            wait_timeout=self.timeout,
        )
        return self

    async def refused(self) -> Any:
        """Try to connect and expect a refusal; the ``connect_error`` data the client got."""
        try:
            await self.connect()
        except socketio.exceptions.ConnectionError:
            if not self.connect_errors:
                raise AssertionError("refused without connect_error data") from None
            return self.connect_errors[-1]
        await self.close()
        raise AssertionError("the server accepted the connection")

    async def call(self, event: str, payload: Any) -> Any:
        """Emit ``event`` and return its ack."""
        ack = await self.client.call(event, payload, timeout=self.timeout)
        self._record(f"socket ack {event}", ack)
        return ack

    def received(self, event_type: str | None = None) -> list[Any]:
        """The payloads received so far, optionally of one event type only."""
        return [e.data for e in self.events if event_type is None or e.type == event_type]

    async def wait_for(self, predicate: Callable[[Received], bool]) -> Received:
        """The first received event (already here or yet to come) matching ``predicate``."""
        seen = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    for item in self.events[seen:]:
                        if predicate(item):
                            return item
                    seen = len(self.events)
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise TimeoutError(
                f"no matching event in {self.timeout}s; got {self.events!r}"
            ) from None

    async def wait_event(self, event_type: str, **fields: Any) -> Any:
        """The payload of the first ``event_type`` event whose task/scan has ``fields``."""

        def matches(item: Received) -> bool:
            if item.type != event_type:
                return False
            data = item.data if isinstance(item.data, dict) else {}
            inner = data.get("task") or data.get("scan") or data.get("stats") or {}
            return all(data.get(k, inner.get(k)) == v for k, v in fields.items())

        return (await self.wait_for(matches)).data

    async def quiet(self, seconds: float = 0.3) -> None:
        """Let in-flight events arrive before a test asserts something did *not* come."""
        await asyncio.sleep(seconds)

    @property
    def connected(self) -> bool:
        """Whether the client holds a connection the server has not ended."""
        return bool(self.client.connected)

    async def close(self) -> None:
        """Disconnect, ignoring a connection that is already gone."""
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class Refused(ConnectionError):
    """The server answered a :class:`WireSocket`'s Socket.IO connect with ``connect_error``."""

    def __init__(self, data: Any) -> None:
        super().__init__(f"Socket.IO connect refused: {data!r}")
        #: The ``connect_error`` packet's data.
        self.data = data


class WireSocket:
    """One Socket.IO connection over a hand-made WebSocket (see the module's docstring).

    Packets are read only while :meth:`connect`, :meth:`ack` or :meth:`acks`
    wait; the events met meanwhile are kept in :attr:`events`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str | None = None,
        timeout: float = 30.0,
        *,
        auth: Any = None,
        receive_buffer: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.auth = auth if auth is not None else ({"token": token} if token is not None else None)
        self.timeout = timeout
        #: SO_RCVBUF set before connecting: a small one makes a client that stops reading
        #: hold back the server's writes sooner.
        self.receive_buffer = receive_buffer
        #: Seconds between the server's pings, from its Engine.IO open packet.
        self.ping_interval = 0.0
        self.events: list[Received] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next_ack = 0
        #: Acks read while waiting for others, until asked for.
        self._early_acks: dict[int, Any] = {}
        self._connected = False

    @property
    def connected(self) -> bool:
        """Whether the Socket.IO connection is up, as far as what was read so far tells."""
        return self._connected

    # -- the connection ---------------------------------------------------------------------------
    async def open(self) -> str:
        """Open the TCP connection and upgrade it to a WebSocket on /socket.io (no Socket.IO
        connect yet); the Engine.IO open packet.

        Raises:
            ConnectionError: the server refused the upgrade or sent no open packet.
        """
        async with asyncio.timeout(self.timeout):
            if self.receive_buffer is None:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            else:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
                sock.setblocking(False)
                await asyncio.get_running_loop().sock_connect(sock, (self.host, self.port))
                reader, writer = await asyncio.open_connection(sock=sock, limit=self.receive_buffer)
            self._reader, self._writer = reader, writer
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                (
                    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                    f"Host: {self.host}:{self.port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(f"no WebSocket upgrade: {head[:200]!r}")
            opened = await self._packet()
        if not opened.startswith("0"):
            raise ConnectionError(f"no Engine.IO open packet: {opened[:200]!r}")
        self.ping_interval = json.loads(opened[1:])["pingInterval"] / 1000
        return opened

    async def connect(self) -> str:
        """Open and connect to Socket.IO with :attr:`auth`; the Socket.IO sid.

        Raises:
            Refused: the server answered ``connect_error``.
            ConnectionError: the connection failed or ended first.
        """
        await self.open()
        data = "" if self.auth is None else json.dumps(self.auth, separators=_COMPACT)
        self.send_text("40" + data)
        async with asyncio.timeout(self.timeout):
            answer = await self._packet()
        if answer.startswith("44"):
            raise Refused(json.loads(answer[2:]) if answer[2:] else None)
        if not answer.startswith("40"):
            raise ConnectionError(f"no Socket.IO connect answer: {answer[:200]!r}")
        self._connected = True
        sid: str = json.loads(answer[2:])["sid"]
        return sid

    async def leave(self, how: Exit) -> None:
        """Go away as ``how`` says (see :data:`Exit`); nothing if not open."""
        writer = self._writer
        if writer is None:
            return
        self._writer = self._reader = None
        if how == "clean":
            with contextlib.suppress(ConnectionError):
                if self._connected:
                    writer.write(self._frame(_TEXT, b"41"))
                writer.write(self._frame(_CLOSE, struct.pack("!H", 1000)))
                await writer.drain()
            writer.close()
        elif how == "fin":
            writer.close()
        else:
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):  # a connection the server already ended
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._connected = False

    # -- Socket.IO --------------------------------------------------------------------------------
    async def call(self, event: str, payload: Any) -> Any:
        """Emit ``event`` with ``payload`` and return the first argument of its ack."""
        return await self.call_raw(json.dumps([event, payload], separators=_COMPACT))

    async def call_raw(self, packet_json: str) -> Any:
        """Send an event packet whose JSON part is ``packet_json`` as it is (``[name, ...args]``
        or anything else) and return the first argument of its ack."""
        return await self.ack(self.emit_raw(packet_json))

    def emit_raw(self, packet_json: str) -> int:
        """Send an event packet with the JSON part ``packet_json`` without waiting; its ack id."""
        ack_id = self._next_ack
        self._next_ack += 1
        self.send_text(f"42{ack_id}{packet_json}")
        return ack_id

    async def ack(self, ack_id: int) -> Any:
        """The first argument of the ack of ``ack_id`` (acks read on the way are kept for
        their own calls).

        Raises:
            TimeoutError: no such ack within :attr:`timeout`.
            ConnectionError: the server ended the connection first.
        """
        return (await self.acks([ack_id]))[ack_id]

    async def acks(self, ack_ids: Iterable[int]) -> dict[int, Any]:
        """The first argument of each ack of ``ack_ids``, by id, in whatever order they come.

        Raises:
            TimeoutError: not all of them came within :attr:`timeout`.
            ConnectionError: the server ended the connection first.
        """
        wanted = set(ack_ids)
        answers = {n: self._early_acks.pop(n) for n in wanted & self._early_acks.keys()}
        async with asyncio.timeout(self.timeout):
            while len(answers) < len(wanted):
                packet = await self._packet()
                digits = packet[2:].split("[", 1)[0]
                if packet.startswith("43") and digits.isdigit():
                    kept = answers if int(digits) in wanted else self._early_acks
                    kept[int(digits)] = json.loads(packet[2 + len(digits) :])[0]
        return answers

    # -- the wire ---------------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """Send ``text`` as one WebSocket text message (an Engine.IO packet, unchecked)."""
        self.send_bytes(self._frame(_TEXT, text.encode()))

    def send_bytes(self, data: bytes) -> None:
        """Write ``data`` on the TCP connection as it is, outside any framing.

        Raises:
            ConnectionError: the connection is not open.
        """
        if self._writer is None:
            raise ConnectionError("the socket is not open")
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._writer is None:
            raise ConnectionError("the socket is not open")
        await self._writer.drain()

    async def next_frame(self) -> tuple[int, bytes]:
        """The next WebSocket message as the server sent it (continuation frames joined):
        (opcode, payload). Pings are not answered here.

        Raises:
            asyncio.IncompleteReadError: the connection ended in or before the message.
        """
        if self._reader is None:
            raise ConnectionError("the socket is not open")
        opcode, parts = 0, []
        while True:
            first, second = await self._reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self._reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self._reader.readexactly(8))
            parts.append(await self._reader.readexactly(size))  # a server never masks
            opcode = opcode or first & 0x0F
            if first & 0x80:
                return opcode, b"".join(parts)

    async def _packet(self) -> str:
        """The next Engine.IO packet that is not a ping or a server event (pings are answered,
        events kept in :attr:`events`)."""
        while True:
            opcode, payload = await self.next_frame()
            if opcode == _PING:
                self.send_bytes(self._frame(_PONG, payload))
                continue
            if opcode == _CLOSE:
                self._connected = False
                raise ConnectionError("the server closed the WebSocket")
            if opcode != _TEXT:
                continue
            text = payload.decode()
            if text == "6":  # Engine.IO noop
                continue
            if text == "2":  # Engine.IO ping
                self.send_text("3")
            elif text == "1" or text.startswith("41"):
                self._connected = False
                raise ConnectionError(f"the server disconnected the socket: {text[:200]!r}")
            elif text.startswith("42"):
                name, *args = json.loads(text[2:].lstrip("0123456789"))
                self.events.append(Received(name, args[0] if args else None, time.monotonic()))
            else:
                return text

    @staticmethod
    def _frame(opcode: int, payload: bytes) -> bytes:
        """A final, masked WebSocket frame (RFC 6455 §5.2) of ``payload``."""
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        mask = os.urandom(4)
        key = (mask * (size // 4 + 1))[:size]
        masked = (int.from_bytes(payload) ^ int.from_bytes(key)).to_bytes(size)
        return header + mask + masked


class SocketDriver:
    """:class:`WireSocket` connections to one server, driven from synchronous code.

    Hypothesis calls a test once per case; the sockets must outlive the cases,
    so they live on an event loop of their own in a background thread, and each
    call hands that loop one coroutine and waits for its result.
    """

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        address = urllib.parse.urlsplit(base_url)
        assert address.hostname is not None
        assert address.port is not None
        self.host, self.port = address.hostname, address.port
        #: How long one call waits for its ack: a missing ack fails the case, not the run.
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self._sockets: list[WireSocket] = []

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the driver's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(self.timeout * 2)

    def _socket(self, token: str | None, auth: Any) -> WireSocket:
        return WireSocket(self.host, self.port, token, self.timeout, auth=auth)

    def connect(self, token: str | None, *, auth: Any = None) -> WireSocket:
        """A connected socket, closed by :meth:`close`."""
        opened = self._socket(token, auth)
        self.run(opened.connect())
        self._sockets.append(opened)
        return opened

    def refused(self, auth: Any) -> tuple[bool, Any]:
        """Connect with ``auth``: (True, the ``connect_error`` data) if refused, else
        (False, None) after closing the accepted socket."""

        async def attempt() -> tuple[bool, Any]:
            trial = self._socket(None, auth)
            try:
                await trial.connect()
            except Refused as refusal:
                return True, refusal.data
            finally:
                await trial.leave("clean")
            return False, None

        return self.run(attempt())

    def call(self, socket: WireSocket, event: str, payload: Any) -> Any:
        """:meth:`WireSocket.call`, waited for."""
        return self.run(socket.call(event, payload))

    def call_raw(self, socket: WireSocket, packet_json: str) -> Any:
        """:meth:`WireSocket.call_raw`, waited for."""
        return self.run(socket.call_raw(packet_json))

    def close(self) -> None:
        """Close every socket, then stop the loop and its thread."""
        for each in self._sockets:
            self.run(each.leave("clean"))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
