"""A Socket.IO test client that records everything the server sends it.

python-socketio's client is untyped and callback-driven; tests want to
``await`` an ack, then assert on the list of events received so far or
wait for one to arrive. :class:`LiveSocket` gives them that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

import socketio

__all__ = ["LiveSocket", "Received"]


@dataclass(frozen=True, slots=True)
class Received:
    """One event as the socket got it, with the moment it arrived (monotonic seconds)."""

    type: str
    data: Any
    at: float


class LiveSocket:
    """One Socket.IO connection (websocket or long-polling, no automatic reconnection).

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
    ) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.transport = transport
        self.headers = headers or {}
        self.auth = auth if auth is not None else ({"token": token} if token is not None else None)
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[Received] = []
        self.connect_errors: list[Any] = []
        self.disconnected = asyncio.Event()
        self._arrived = asyncio.Event()
        self.client.on("*", self._on_any)
        self.client.on("connect_error", self._on_connect_error)
        self.client.on("disconnect", self._on_disconnect)

    async def _on_any(self, event: str, *args: Any) -> None:
        self.events.append(Received(event, args[0] if args else None, time.monotonic()))
        self._arrived.set()

    async def _on_connect_error(self, data: Any = None) -> None:
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
        return await self.client.call(event, payload, timeout=self.timeout)

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
        return bool(self.client.connected)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
