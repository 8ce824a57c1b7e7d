"""Everything the server says to the security tests, kept so it can be searched afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.contract.helpers import SocketFactory
from tests.support import Api, LiveSocket, Received, Reply

__all__ = ["RecordingApi", "RecordingSocket", "SocketRecorder", "Wire"]


@dataclass
class Wire:
    """(where, text) of every answer and message received, in arrival order."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, payload: object) -> None:
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


class RecordingSocket(LiveSocket):
    """:class:`LiveSocket` that also records every event, ack and connect error."""

    def __init__(self, base_url: str, token: str | None, wire: Wire, **kwargs: Any) -> None:
        super().__init__(base_url, token, **kwargs)
        self.wire = wire
        self.client.on("*", self._record_any)
        self.client.on("connect_error", self._record_connect_error)

    async def _record_any(self, event: str, *args: Any) -> None:
        self.wire.add(f"socket event {event}", args[0] if args else None)
        await self._on_any(event, *args)

    async def _record_connect_error(self, data: Any = None) -> None:
        self.wire.add("socket connect_error", data)
        await self._on_connect_error(data)

    async def call(self, event: str, payload: Any) -> Any:
        ack = await super().call(event, payload)
        self.wire.add(f"socket ack {event}", ack)
        return ack


class SocketRecorder(SocketFactory):
    """The contract suite's socket factory, handing out recording sockets."""

    def __init__(self, base_url: str, wire: Wire) -> None:
        super().__init__(base_url)
        self.wire = wire

    def new(self, token: str | None, *, auth: Any = None, **kwargs: Any) -> LiveSocket:
        socket = RecordingSocket(self.base_url, token, self.wire, auth=auth, **kwargs)
        self.opened.append(socket)
        return socket


def received_text(events: Iterable[Received]) -> str:
    """Every payload a socket received, as one searchable text."""
    return "\n".join(json.dumps(e.data, default=str) for e in events)
