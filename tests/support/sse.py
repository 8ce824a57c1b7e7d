"""Server-Sent Events read the way a client reads them, for the aiohttp example's live stream.

async with event_stream(api, token, scan_id) as stream:
    joined = await stream.next()          # Sse("join", seq, {"scan", "seq", "tasks"})
    change = await stream.next_change()   # the next event that is not scan:stats
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from .http import Api

__all__ = ["WAIT", "EventStream", "Sse", "event_stream"]

#: How long a reader waits for an event it expects, in seconds.
WAIT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Sse:
    """One Server-Sent Event: its name, its id (the scan's seq, when it has one) and its data."""

    event: str
    id: int | None
    data: Any


class EventStream:
    """Reads a ``text/event-stream`` answer one event at a time.

    Lines are split here rather than with ``readline``, whose buffer limit (128 KiB) a join
    snapshot of a few hundred tasks exceeds.
    """

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self._buffer = b""

    async def _line(self) -> str | None:
        """The next line without its end, or None once the stream has ended."""
        while b"\n" not in self._buffer:
            chunk = await self.response.content.readany()
            if not chunk:
                rest, self._buffer = self._buffer, b""
                return rest.decode() if rest else None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    async def next(self) -> Sse:
        """The next event.

        Raises:
            EOFError: The stream ended first.
            TimeoutError: No event came within :data:`WAIT` seconds.
        """
        fields: dict[str, str] = {}
        async with asyncio.timeout(WAIT):
            while True:
                line = await self._line()
                if line is None:
                    raise EOFError("the stream ended")
                if line.strip():
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif fields:
                    seq = fields.get("id")
                    data = json.loads(fields["data"])
                    return Sse(fields["event"], int(seq) if seq else None, data)

    async def rest(self) -> list[Sse]:
        """Every event until the stream ends; raises TimeoutError if one takes over :data:`WAIT`."""
        events = []
        with contextlib.suppress(EOFError):
            while True:
                events.append(await self.next())
        return events

    async def next_change(self) -> Sse:
        """The next event of the scan's seq'd log: not a ``scan:stats`` snapshot nor a v2
        notice (``scan:presence``, ``task:claimed``)."""
        while (item := await self.next()).event in ("scan:stats", "scan:presence", "task:claimed"):
            pass
        return item


@asynccontextmanager
async def event_stream(
    api: Api, token: str, scan_id: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[EventStream]:
    """``GET /api/scans/{scan_id}/live`` with ``token``, checked to answer an event stream."""
    sent = {"Authorization": f"Bearer {token}", **(headers or {})}
    url = f"{api.base_url}/api/scans/{scan_id}/live"
    async with api.session.get(url, headers=sent) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield EventStream(response)
