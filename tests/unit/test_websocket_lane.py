"""websocket_lane: frames written past engineio arrive whole, in order, or not at all."""

from __future__ import annotations

import asyncio
from typing import Any

import engineio
import pytest
from engineio.async_drivers import asgi as engineio_asgi
from engineio.async_socket import AsyncSocket
from websockets.frames import Frame, Opcode
from websockets.protocol import CLIENT, SERVER, Protocol, State

from taskstream_server.websocket_lane import Lane, Lanes, text_frame


class _Transport:
    """A transport that keeps what is written, one entry per ``write`` call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False
        self.aborted = False
        #: What the kernel has not taken yet, as asyncio's transports report it.
        self.unsent = 0

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def abort(self) -> None:
        self.aborted = self.closing = True


class _UvicornLike:
    """The parts of uvicorn's websockets-sansio protocol a lane reads, around a real
    ``websockets`` server connection."""

    def __init__(self) -> None:
        self.transport = _Transport()
        self.conn = Protocol(SERVER, state=State.OPEN)
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = False
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def _texts(data: bytes) -> list[str]:
    """What a websocket client reads from ``data``."""
    client = Protocol(CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    frames = client.events_received()
    assert all(isinstance(f, Frame) and f.opcode is Opcode.TEXT and f.fin for f in frames)
    return [bytes(f.data).decode() for f in frames if isinstance(f, Frame)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_a_frame_is_what_websockets_would_send(size: int) -> None:
    text = ("é" * size)[:size]
    server = Protocol(SERVER, state=State.OPEN)
    server.send_text(text.encode())
    assert text_frame(text) == b"".join(server.data_to_send())
    assert _texts(text_frame(text)) == [text]


async def test_frames_taken_in_one_pass_go_out_in_one_write_in_order() -> None:
    protocol = _UvicornLike()
    lane = Lane.fit(protocol)
    assert lane is not None
    assert lane.take(text_frame("a"))
    assert lane.take(text_frame("b"))
    assert protocol.transport.writes == []  # not before the end of this pass
    await asyncio.sleep(0)
    assert len(protocol.transport.writes) == 1
    assert lane.take(text_frame("c"))
    await asyncio.sleep(0)
    assert _texts(b"".join(protocol.transport.writes)) == ["a", "b", "c"]


async def test_nothing_is_taken_while_uvicorn_holds_sends_back() -> None:
    protocol = _UvicornLike()
    lane = Lane.fit(protocol)
    assert lane is not None
    protocol.writable.clear()  # the client does not read: uvicorn paused writing
    assert not lane.take(text_frame("a"))
    protocol.writable.set()
    assert lane.take(text_frame("b"))
    await asyncio.sleep(0)
    assert _texts(b"".join(protocol.transport.writes)) == ["b"]


@pytest.mark.parametrize("how", ["close_sent", "closing_transport", "closing_connection"])
async def test_a_closing_connection_takes_nothing(how: str) -> None:
    protocol = _UvicornLike()
    lane = Lane.fit(protocol)
    assert lane is not None
    if how == "close_sent":
        protocol.close_sent = True
    elif how == "closing_transport":
        protocol.transport.closing = True
    else:
        protocol.conn.send_close(1000)
    assert not lane.take(text_frame("a"))
    await asyncio.sleep(0)
    assert protocol.transport.writes == []


async def test_frames_taken_before_a_close_are_not_written_after_it() -> None:
    protocol = _UvicornLike()
    lane = Lane.fit(protocol)
    assert lane is not None
    assert lane.take(text_frame("a"))
    protocol.close_sent = True  # uvicorn sent its close frame within the same pass
    await asyncio.sleep(0)
    assert protocol.transport.writes == []


async def test_buffered_counts_this_pass_and_the_transport_and_abort_drops_both() -> None:
    protocol = _UvicornLike()
    lane = Lane.fit(protocol)
    assert lane is not None
    protocol.transport.unsent = 1_000
    assert lane.take(text_frame("a" * 200))
    assert lane.buffered() == 1_000 + len(text_frame("a" * 200))
    lane.abort()
    assert protocol.transport.aborted
    assert lane.buffered() == 1_000
    await asyncio.sleep(0)
    assert protocol.transport.writes == []  # what this pass took is not written after it


def test_fits_only_uvicorns_protocol_without_extensions() -> None:
    assert Lane.fit(object()) is None
    assert Lane.fit(None) is None
    protocol = _UvicornLike()
    protocol.conn.extensions = [object()]  # type: ignore[list-item]  # e.g. permessage-deflate
    assert Lane.fit(protocol) is None
    client_side = _UvicornLike()
    client_side.conn = Protocol(CLIENT, state=State.OPEN)
    assert Lane.fit(client_side) is None
    assert Lane.fit(_UvicornLike()) is not None


class _Socket:
    """Stands where python-engineio's AsyncSocket is: the owner of the bound handler."""

    def __init__(self, sid: str, lanes: Lanes) -> None:
        self.sid = sid
        self.lanes = lanes
        self.seen: Lane | None = None

    async def handler(self, ws: object) -> None:
        self.seen = self.lanes.get(self.sid)


async def test_each_websocket_has_its_lane_while_its_handler_runs() -> None:
    server = engineio.AsyncServer(async_mode="asgi")
    shared = engineio_asgi._async["websocket"]
    lanes = Lanes()
    assert lanes.install(server)
    assert engineio_asgi._async["websocket"] is shared  # other servers keep engineio's
    websocket_class = server._async["websocket"]
    assert issubclass(websocket_class, shared)

    socket = _Socket("sid-1", lanes)
    protocol = _UvicornLike()
    ws = websocket_class(socket.handler, server)
    await ws({"asgi.send": protocol.send, "asgi.receive": None})
    assert socket.seen is not None  # the handler found it
    assert protocol.sent == [{"type": "websocket.accept"}]
    assert lanes.get("sid-1") is None
    assert len(lanes) == 0

    other = _Socket("sid-2", lanes)  # a server other than uvicorn's sansio: no lane
    await websocket_class(other.handler, server)({"asgi.send": _plain_send, "asgi.receive": None})
    assert other.seen is None


async def _plain_send(message: dict[str, Any]) -> None:
    return None


def test_does_not_install_where_engineio_has_no_websocket_class() -> None:
    assert not Lanes().install(object())
    server = engineio.AsyncServer(async_mode="asgi")
    server._async = {**server._async, "websocket": None}
    assert not Lanes().install(server)


async def test_a_lane_is_ready_only_while_nothing_queued_waits_before_it() -> None:
    server = engineio.AsyncServer(async_mode="asgi")
    lanes = Lanes()
    assert lanes.install(server)
    socket = AsyncSocket(server, "sid-3")
    done = asyncio.Event()
    seen: list[Lane | None] = []

    class _Owner:
        sid = "sid-3"

        async def handler(self, ws: object) -> None:
            socket.upgraded = False  # still long-polling: engineio sends everything
            seen.append(lanes.ready(socket))
            socket.upgraded = True
            seen.append(lanes.ready(socket))
            socket.queue.put_nowait("queued earlier")  # must go out first
            seen.append(lanes.ready(socket))
            socket.queue.get_nowait()
            socket.closed = True
            seen.append(lanes.ready(socket))
            done.set()

    await server._async["websocket"](_Owner().handler, server)(
        {"asgi.send": _UvicornLike().send, "asgi.receive": None}
    )
    assert done.is_set()
    assert [lane is not None for lane in seen] == [False, True, False, False]
