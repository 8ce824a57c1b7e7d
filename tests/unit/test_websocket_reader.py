"""websocket_reader: python-engineio's websocket handler, one pass per frame, same endings."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import engineio
import pytest
from engineio import packet as eio_packet
from engineio.async_socket import AsyncSocket

from taskstream_server.websocket_reader import Handler, handler_for, read


class _WebSocket:
    """Stands where python-engineio's ASGI websocket is: frames in, packets out."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[str | bytes] = []
        self.closed = False

    async def wait(self) -> str | None:
        return await self.incoming.get()

    async def send(self, data: str | bytes) -> None:
        self.sent.append(data)

    async def close(self) -> None:
        self.closed = True


def _server(received: list[str], **options: Any) -> engineio.AsyncServer:
    """An engineio server as python-socketio configures it: message handlers run inline."""
    server = engineio.AsyncServer(async_mode="asgi", async_handlers=False, **options)

    async def on_message(sid: str, data: str) -> None:
        received.append(data)

    server.on("message", on_message)
    return server


def _socket(server: engineio.AsyncServer, sid: str = "s1") -> AsyncSocket:
    socket = AsyncSocket(server, sid)
    server.sockets[sid] = socket
    return socket


def _message(text: str) -> str:
    return eio_packet.Packet(eio_packet.MESSAGE, data=text).encode()  # type: ignore[no-any-return]


async def test_frames_reach_the_server_in_order_and_a_client_close_ends_it() -> None:
    received: list[str] = []
    server = _server(received)
    socket = _socket(server)
    ws = _WebSocket()
    reading = asyncio.create_task(handler_for(socket._websocket_handler)(ws))
    for text in ("a", "b", "c"):
        ws.incoming.put_nowait(_message(text))
    await socket.send(eio_packet.Packet(eio_packet.MESSAGE, data="to the client"))
    ws.incoming.put_nowait(None)  # the client closed
    await asyncio.wait_for(reading, 5)
    assert received == ["a", "b", "c"]
    assert ws.sent == [_message("to the client")]
    assert ws.closed
    assert socket.closed


async def test_a_frame_over_the_size_limit_ends_the_connection_unread() -> None:
    received: list[str] = []
    server = _server(received, max_http_buffer_size=64)
    socket = _socket(server)
    ws = _WebSocket()
    reading = asyncio.create_task(handler_for(socket._websocket_handler)(ws))
    ws.incoming.put_nowait(_message("small"))
    ws.incoming.put_nowait(_message("x" * 100))
    ws.incoming.put_nowait(_message("never read"))
    await asyncio.wait_for(reading, 5)
    assert received == ["small"]
    assert ws.closed
    assert socket.closed


@pytest.mark.parametrize("frame", ["", "x", "not a packet"])
async def test_a_frame_that_is_no_engineio_packet_ends_the_connection_cleanly(frame: str) -> None:
    received: list[str] = []
    server = _server(received)
    socket = _socket(server)
    ws = _WebSocket()
    reading = asyncio.create_task(handler_for(socket._websocket_handler)(ws))
    ws.incoming.put_nowait(_message("before"))
    ws.incoming.put_nowait(frame)
    ws.incoming.put_nowait(_message("after"))
    await asyncio.wait_for(reading, 5)  # returns: nothing escapes into the ASGI server
    assert received == ["before"]
    assert ws.closed
    assert socket.closed


async def test_a_silent_client_is_let_go_after_ping_interval_and_timeout() -> None:
    server = _server([])
    server.ping_interval, server.ping_timeout = 0.05, 0.05
    socket = _socket(server)
    ws = _WebSocket()
    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(handler_for(socket._websocket_handler)(ws), 5)
    assert asyncio.get_running_loop().time() - started >= 0.1
    assert ws.closed
    assert socket.closed


async def test_a_cancelled_reader_still_closes_the_socket() -> None:
    server = _server([])
    socket = _socket(server)
    ws = _WebSocket()
    reading = asyncio.create_task(handler_for(socket._websocket_handler)(ws))
    await asyncio.sleep(0.01)
    reading.cancel()
    await asyncio.wait_for(reading, 5)  # python-engineio's handler, too, ends quietly
    assert ws.closed
    assert socket.closed


async def _passes_until_read(handler: Callable[[AsyncSocket], Handler]) -> int:
    """How many passes of the event loop a frame waits before the server has it."""
    received: list[str] = []
    server = _server(received)
    socket = _socket(server)
    ws = _WebSocket()
    reading = asyncio.create_task(handler(socket)(ws))
    for _ in range(5):  # let the reader settle into its wait
        await asyncio.sleep(0)
    ws.incoming.put_nowait(_message("a"))
    passes = 0
    while not received:
        await asyncio.sleep(0)
        passes += 1
    ws.incoming.put_nowait(None)
    await asyncio.wait_for(reading, 5)
    return passes


async def test_a_frame_reaches_the_server_in_fewer_passes_than_through_engineio() -> None:
    ours = await _passes_until_read(lambda socket: handler_for(socket._websocket_handler))
    engineios = await _passes_until_read(lambda socket: socket._websocket_handler)
    assert ours == 1
    assert engineios > ours


def test_an_upgrade_from_long_polling_keeps_engineios_handler() -> None:
    socket = _socket(_server([]))
    socket.connected = True  # it connected by long-polling first
    handler = socket._websocket_handler
    assert handler_for(handler) == handler


@pytest.mark.parametrize("handler", [print, lambda ws: None])
def test_a_handler_of_something_else_is_left_alone(handler: Any) -> None:
    assert handler_for(handler) is handler


async def test_read_is_what_handler_for_gives_a_new_socket() -> None:
    socket = _socket(_server([]))
    chosen: Any = handler_for(socket._websocket_handler)
    assert chosen.func is read
    assert chosen.args == (socket,)
