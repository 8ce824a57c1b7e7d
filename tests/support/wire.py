"""What crosses the wire below the clients: a recorder of everything received, an :class:`Api`
that feeds it, and HTTP requests written byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from .http import Api, Reply

__all__ = ["POLLING", "RawAnswer", "RecordingApi", "Wire", "polling_session", "raw_request"]

#: Engine.IO's long-polling handshake: GET it to open a session (no login needed).
POLLING = "/socket.io/?EIO=4&transport=polling"


@dataclass
class Wire:
    """(where, text) of every answer and message received, in arrival order."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, payload: object) -> None:
        """Record ``payload`` (text as it is, anything else as JSON) as received at ``where``."""
        text = payload if isinstance(payload, str) else json.dumps(payload, default=str)
        self.seen.append((where, text))

    def search(self, needles: Iterable[str], *, since: int = 0) -> list[tuple[str, str]]:
        """(where, needle) for each recorded message holding one of ``needles``."""
        wanted = [n for n in needles if n]
        return [
            (where, needle)
            for where, text in self.seen[since:]
            for needle in wanted
            if needle in text
        ]


class RecordingApi(Api):
    """:class:`Api` that also records each answer's headers and body."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, wire: Wire) -> None:
        super().__init__(base_url, session)
        self.wire = wire

    async def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        reply = await super().request(method, path, **kwargs)
        self.wire.add(f"HTTP {method} {path}", dict(reply.headers))
        self.wire.add(f"HTTP {method} {path}", reply.text)
        return reply


async def polling_session(api: Api) -> str:
    """A new, unauthenticated Engine.IO long-polling session: the path its requests go to."""
    handshake = await api.get(POLLING)
    assert handshake.status == 200, handshake.text
    sid = json.loads(handshake.text[1:])["sid"]
    return f"{POLLING}&sid={sid}"


@dataclass(frozen=True)
class RawAnswer:
    """What came back for a request written byte for byte."""

    #: The answer's status, or None when the connection ended without one.
    status: int | None
    head: bytes = b""
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of the answer's header ``name`` (case-insensitive), if it has one."""
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


async def raw_request(host: str, port: int, request: bytes, *, within: float = 5.0) -> RawAnswer:
    """Write ``request`` as it is on a new connection; the answer (its head and its body,
    of the declared ``Content-Length`` or chunked), or a status of None if the server closed
    or reset the connection without one.

    Raises:
        TimeoutError: neither an answer nor the end of the connection came in ``within`` s.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        async with asyncio.timeout(within):
            with contextlib.suppress(ConnectionError):  # the server may stop reading early
                writer.write(request)
                await writer.drain()
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return RawAnswer(None)
            answer = RawAnswer(int(head.split(b" ", 2)[1]), head)
            try:
                body = await _read_body(answer, reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                body = b""
            return RawAnswer(answer.status, head, body)
    finally:
        writer.close()


async def _read_body(answer: RawAnswer, reader: asyncio.StreamReader) -> bytes:
    """The body after ``answer``'s head: chunked, or of its ``Content-Length`` (0 if none)."""
    if (answer.header("transfer-encoding") or "").lower() != "chunked":
        return await reader.readexactly(int(answer.header("content-length") or 0))
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # the empty trailer
    return b"".join(chunks)
