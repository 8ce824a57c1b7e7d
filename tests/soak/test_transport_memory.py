"""What a client can make the server hold before it signs in, at the transport: bounded.

Three ways in that need no account, each measured as the server's RSS growth
while the attack is under way (issue 16, findings 3, 7 and 16):

- long-polling POSTs over 64 KiB to fresh Engine.IO sessions: each is answered
  413 at once and leaves nothing behind (python-engineio never answered one,
  and each kept its request: +26 MB per 500);
- request heads of megabytes, sent and held open: the HTTP parser stops at
  64 KiB and closes the connection (httptools read a 30 MB header whole);
- websocket frames announcing megabytes, their payload sent and held open:
  refused from the frame's header (uvicorn's default let 16 MiB in).

The bounds are far below what the attack held without the limits (printed
by each test) and far above the noise of a server answering a few hundred
requests (a few MiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import time

import aiohttp
import pytest

from tests.support import Api, ServerProcess, WireSocket, polling_session, raw_request

from .test_storm import rss_mib

pytestmark = pytest.mark.contract

#: Oversized long-polling POSTs sent, CONCURRENCY at a time.
POSTS = 300
CONCURRENCY = 20
#: Connections that each send HELD_BYTES of a request head or a websocket frame, and wait.
HOLDERS = 20
HELD_BYTES = 4 * 1024 * 1024
#: RSS growth allowed for each attack; without the limits each held 80 MiB or more.
GROWTH_BOUND_MIB = 16.0


def _pid(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


async def test_oversized_polling_posts_are_answered_and_hold_nothing(
    server: ServerProcess,
) -> None:
    """Each of 300 POSTs of 64 KiB + 1 to a fresh, unauthenticated long-polling session is
    answered 413 `payload_too_large` within 2 s, and the server's RSS stays within bound."""
    pid = _pid(server)
    before = rss_mib(pid)
    body = b"3" + b"x" * (64 * 1024)
    gate = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as http:
        api = Api(server.base_url, http)

        async def one() -> None:
            async with gate:
                session = await polling_session(api)
                request = (
                    f"POST {session} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                started = time.monotonic()
                answer = await raw_request(server.host, server.port, request, within=2)
                assert answer.status == 413, answer
                assert json.loads(answer.body)["error"]["code"] == "payload_too_large"
                assert time.monotonic() - started < 2

        await asyncio.gather(*(one() for _ in range(POSTS)))
        growth = rss_mib(pid) - before
        print(f"RSS growth after {POSTS} oversized POSTs: {growth:.1f} MiB")
        assert growth <= GROWTH_BOUND_MIB
        assert (await api.get("/api/health")).status == 200


async def _hold(
    server: ServerProcess, opening: bytes, payload_bytes: int
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """A connection that sent ``opening`` and ``payload_bytes`` more, left open."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(opening)
    chunk = b"a" * 65536
    with contextlib.suppress(ConnectionError):
        for _ in range(payload_bytes // len(chunk)):
            writer.write(chunk)
            await writer.drain()
    return writer, reader


async def _measure_held(server: ServerProcess, openings: list[bytes], what: str) -> None:
    """Send each opening and HELD_BYTES after it on its own connection, keep them open, and
    check the server's RSS growth meanwhile; then that it still answers."""
    pid = _pid(server)
    before = rss_mib(pid)
    held = await asyncio.gather(*(_hold(server, o, HELD_BYTES) for o in openings))
    await asyncio.sleep(0.5)  # what was sent has reached the server
    growth = rss_mib(pid) - before
    print(f"RSS growth with {len(held)} connections holding {what}: {growth:.1f} MiB")
    for writer, _ in held:
        writer.transport.abort()
    assert growth <= GROWTH_BOUND_MIB
    answer = await raw_request(
        server.host, server.port, b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    assert answer.status == 200


async def test_request_heads_of_megabytes_are_not_buffered(server: ServerProcess) -> None:
    """20 connections each send 4 MB of one header line and never end it: the parser gives
    up on each past 64 KiB, so the server holds next to nothing of the 80 MB."""
    opening = b"GET /api/health HTTP/1.1\r\nHost: test\r\nX-Pad: "
    await _measure_held(server, [opening] * HOLDERS, "4 MB request heads")


async def test_websocket_frames_of_megabytes_are_not_buffered(server: ServerProcess) -> None:
    """20 websockets to /socket.io, before any Socket.IO connect, each send most of a frame
    announcing 4 MB: each is refused from the frame's header, none is buffered."""
    openings = []
    sockets = []
    for _ in range(HOLDERS):
        ws = WireSocket(server.host, server.port)
        await ws.open()
        sockets.append(ws)
        header = struct.pack("!BBQ", 0x81, 0x80 | 127, HELD_BYTES + 65536) + b"mask"
        openings.append(header)
    pid = _pid(server)
    before = rss_mib(pid)
    chunk = b"a" * 65536

    async def send_most(ws: WireSocket, header: bytes) -> None:
        ws.send_bytes(header)
        with contextlib.suppress(ConnectionError):
            for _ in range(HELD_BYTES // len(chunk)):
                ws.send_bytes(chunk)
                await ws.drain()

    await asyncio.gather(*(send_most(ws, h) for ws, h in zip(sockets, openings, strict=True)))
    await asyncio.sleep(0.5)
    growth = rss_mib(pid) - before
    print(f"RSS growth with {HOLDERS} websockets holding 4 MB frames: {growth:.1f} MiB")
    for ws in sockets:
        await ws.leave("reset")
    assert growth <= GROWTH_BOUND_MIB
    answer = await raw_request(
        server.host, server.port, b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    assert answer.status == 200
