"""Two Socket.IO clients behind one small interface: python-socketio's, and a lean one.

The lean client speaks Engine.IO 4 / Socket.IO 5 text packets over one
aiohttp websocket (``0`` open, ``40`` connect, ``2``/``3`` ping/pong, ``42``
events, ``43`` acks) and nothing else: no reconnection, no polling, no
namespaces. It exists because the load generator must not be the bottleneck:
on two cores every client CPU second is taken from the server. ``python -m
benchmarks clientcost`` measures both on the same load; docs/benchmarks.md
gives the figures.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

Handler = Callable[[float, dict[str, Any]], None]


class Client(Protocol):
    """What a simulated user needs from a Socket.IO client."""

    async def connect(self, url: str, token: str) -> None: ...

    async def call(self, event: str, data: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        """Emit with an ack; the ack and the time.time() it arrived."""

    def on(self, event: str, handler: Handler) -> None:
        """Call ``handler(arrival time.time(), payload)`` on each ``event``."""

    async def close(self) -> None: ...


class LeanClient:
    """Socket.IO over one websocket, text packets only."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._acks: dict[int, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self._handlers: dict[str, Handler] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None
        self.closed_reason = ""

    async def connect(self, url: str, token: str) -> None:
        ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self._ws = ws = await self._session.ws_connect(ws_url, max_msg_size=0)
        opening = await ws.receive_str(timeout=30)
        if not opening.startswith("0"):
            raise ConnectionError(f"no Engine.IO open packet: {opening[:80]!r}")
        await ws.send_str("40" + json.dumps({"token": token}))
        while True:
            reply = await ws.receive_str(timeout=30)
            if reply.startswith("40"):
                break
            if reply.startswith("44"):
                raise ConnectionError(f"connect refused: {reply[2:200]}")
            if reply == "2":
                await ws.send_str("3")
        self._reader = asyncio.get_running_loop().create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        handlers = self._handlers
        try:
            async for message in ws:
                now = time.time()
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                text: str = message.data
                if text.startswith("42"):
                    name, payload = json.loads(text[2:])
                    handler = handlers.get(name)
                    if handler is not None:
                        handler(now, payload)
                elif text.startswith("43"):
                    cut = text.index("[")
                    future = self._acks.pop(int(text[2:cut]), None)
                    if future is not None and not future.done():
                        future.set_result((now, json.loads(text[cut:])[0]))
                elif text == "2":
                    await ws.send_str("3")
                elif text.startswith("41") or text == "1":
                    self.closed_reason = "disconnected by the server"
                    break
        finally:
            reason = self.closed_reason or "connection closed"
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(ConnectionError(reason))
            self._acks.clear()

    async def call(self, event: str, data: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        assert self._ws is not None
        self._next_id += 1
        future: asyncio.Future[tuple[float, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._acks[self._next_id] = future
        await self._ws.send_str(f"42{self._next_id}" + json.dumps([event, data]))
        return await asyncio.wait_for(future, 60)

    def on(self, event: str, handler: Handler) -> None:
        self._handlers[event] = handler

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader


class SocketIOClient:
    """python-socketio's AsyncClient (websocket transport), the reference client."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        import socketio  # noqa: PLC0415 - only when this client is chosen

        self._client = socketio.AsyncClient(reconnection=False, http_session=session)

    async def connect(self, url: str, token: str) -> None:
        await self._client.connect(
            url, auth={"token": token}, transports=["websocket"], wait_timeout=30
        )

    async def call(self, event: str, data: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        ack: dict[str, Any] = await self._client.call(event, data, timeout=60)
        return time.time(), ack

    def on(self, event: str, handler: Handler) -> None:
        def receive(payload: dict[str, Any]) -> None:
            handler(time.time(), payload)

        self._client.on(event, receive)

    async def close(self) -> None:
        await self._client.disconnect()


CLIENTS: dict[str, type[LeanClient] | type[SocketIOClient]] = {
    "lean": LeanClient,
    "socketio": SocketIOClient,
}
