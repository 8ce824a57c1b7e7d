"""A minimal Socket.IO v5 client over a hand-made WebSocket, for connection storms.

python-socketio's client cannot leave a connection the way a crashed client
or a dead network path does: it always tidies up. This one owns its TCP
socket (asyncio streams), speaks just enough WebSocket (RFC 6455: a masked
text frame out, unfragmented or continued frames in) and engine.io/Socket.IO
(open, connect, event with ack, ping/pong) to sign in and join a scan, and
then leaves in one of three ways:

- ``clean``: a Socket.IO disconnect packet, a WebSocket close frame, FIN;
- ``fin``: the TCP connection closed with no packet at all (a killed tab);
- ``reset``: an RST (SO_LINGER 0, then abort), as a crashed host or a NAT
  dropping the flow produces.

It is also light: 500 of them cost one event loop a few megabytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Iterable
from typing import Any, Final, Literal

__all__ = ["Exit", "WireSocket"]

Exit = Literal["clean", "fin", "reset"]

_TEXT: Final = 0x1
_CLOSE: Final = 0x8
_PING: Final = 0x9
_PONG: Final = 0xA


class WireSocket:
    """One Socket.IO connection on 127.0.0.1, signed in with a token."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        timeout: float = 30.0,
        *,
        receive_buffer: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        #: SO_RCVBUF set before connecting: a small one makes a client that stops reading
        #: hold back the server's writes sooner.
        self.receive_buffer = receive_buffer
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._acks = 0
        #: Seconds between the server's pings, from its engine.io open packet.
        self.ping_interval = 0.0

    # -- WebSocket framing -------------------------------------------------------------------
    async def _handshake(self) -> None:
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

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        assert self._writer is not None
        mask = os.urandom(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self._writer.write(header + mask + masked)

    async def _read_frame(self) -> tuple[int, bytes]:
        """The next whole message (continuation frames joined): (opcode, payload)."""
        assert self._reader is not None
        opcode, parts = 0, []
        while True:
            first, second = await self._reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self._reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self._reader.readexactly(8))
            payload = await self._reader.readexactly(size)  # a server never masks
            opcode = opcode or first & 0x0F
            parts.append(payload)
            if first & 0x80:
                return opcode, b"".join(parts)

    async def _packet(self) -> str:
        """The next engine.io packet, answering pings on the way."""
        while True:
            opcode, payload = await self._read_frame()
            if opcode == _PING:
                self._send_frame(_PONG, payload)
            elif opcode == _CLOSE:
                raise ConnectionError("the server closed the WebSocket")
            elif opcode == _TEXT:
                text = payload.decode()
                if text == "2":  # engine.io ping
                    self._send_frame(_TEXT, b"3")
                    continue
                return text

    # -- Socket.IO -------------------------------------------------------------------------------
    async def connect(self) -> str:
        """Open, sign in with the token; the Socket.IO sid (raises if refused)."""
        async with asyncio.timeout(self.timeout):
            await self._handshake()
            opened = await self._packet()
            if not opened.startswith("0"):
                raise ConnectionError(f"no engine.io open packet: {opened[:200]!r}")
            self.ping_interval = json.loads(opened[1:])["pingInterval"] / 1000
            self._send_frame(_TEXT, ("40" + json.dumps({"token": self.token})).encode())
            answer = await self._packet()
            if not answer.startswith("40"):
                raise ConnectionError(f"Socket.IO connect refused: {answer[:200]!r}")
            sid: str = json.loads(answer[2:])["sid"]
            return sid

    async def call(self, event: str, payload: Any) -> Any:
        """Emit an event and return its ack (events that arrive meanwhile are skipped)."""
        return await self.call_raw(json.dumps([event, payload]))

    async def call_raw(self, packet_json: str) -> Any:
        """Send an event packet whose JSON part is ``packet_json`` as it is (``[name, ...args]``
        or anything else) and return its ack."""
        return await self.ack(self.emit_raw(packet_json))

    def emit_raw(self, packet_json: str) -> int:
        """Send an event packet with the JSON part ``packet_json`` without waiting; its ack id."""
        ack_id = self._acks
        self._acks += 1
        self._send_frame(_TEXT, f"42{ack_id}{packet_json}".encode())
        return ack_id

    async def ack(self, ack_id: int) -> Any:
        """The first argument of the ack of ``ack_id`` (packets before it are skipped)."""
        prefix = f"43{ack_id}"
        async with asyncio.timeout(self.timeout):
            while True:
                packet = await self._packet()
                if packet.startswith(prefix) and packet[len(prefix)] == "[":
                    return json.loads(packet[len(prefix) :])[0]

    async def acks(self, ack_ids: Iterable[int]) -> dict[int, Any]:
        """The first argument of each ack of ``ack_ids``, by id, in whatever order they come
        (other packets are skipped)."""
        wanted = set(ack_ids)
        answers: dict[int, Any] = {}
        async with asyncio.timeout(self.timeout):
            while len(answers) < len(wanted):
                packet = await self._packet()
                digits = packet[2:].split("[", 1)[0]
                if packet.startswith("43") and digits.isdigit() and int(digits) in wanted:
                    answers[int(digits)] = json.loads(packet[2 + len(digits) :])[0]
        return answers

    async def leave(self, how: Exit) -> None:
        """Go away as ``how`` says (see the module's docstring)."""
        writer = self._writer
        if writer is None:
            return
        if how == "clean":
            self._send_frame(_TEXT, b"41")
            self._send_frame(_CLOSE, struct.pack("!H", 1000))
            await writer.drain()
            writer.close()
        elif how == "fin":
            writer.close()
        else:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writer = self._reader = None
