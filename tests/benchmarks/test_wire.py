"""The load generator's lean Socket.IO client keeps its connection through websocket pings.

uvicorn pings every websocket every 20 s; a client that treats the ping frame
as the end of the stream drops its sockets mid-run, and the benchmark then
counts lost events that the server did send (it did, once: every run longer
than 20 s "FAILED"). A real aiohttp websocket server plays the server's
side of the Socket.IO handshake, pings, then sends an event and answers a call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web
from benchmarks.wire import LeanClient


async def _socketio_like(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(autoping=False)
    await ws.prepare(request)
    await ws.send_str('0{"sid": "s", "pingInterval": 25000, "pingTimeout": 20000}')
    assert (await ws.receive_str()).startswith("40")
    await ws.send_str('40{"sid": "n"}')
    await ws.ping(b"keepalive")
    await ws.send_str("2")  # an Engine.IO ping, to be answered with "3"
    await ws.send_str('42["task:created",{"seq":7}]')
    seen: set[str] = set()
    while len(seen) < 3:
        message = await ws.receive()
        if message.type is aiohttp.WSMsgType.PONG:
            seen.add("pong")
        elif message.data == "3":
            seen.add("3")
        else:
            ack_id, body = message.data[2:].split("[", 1)
            assert json.loads("[" + body) == ["scan:join", {"scan_id": "x"}]
            await ws.send_str(f'43{ack_id}[{{"ok": true}}]')
            seen.add("call")
    await ws.receive()  # the client's close
    return ws


async def test_the_lean_client_answers_pings_and_keeps_receiving() -> None:
    app = web.Application()
    app.router.add_get("/socket.io/", _socketio_like)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    received: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession() as session:
            client = LeanClient(session)
            client.on("task:created", lambda _at, payload: received.append(payload))
            await client.connect(f"http://127.0.0.1:{port}", "token")
            _, ack = await asyncio.wait_for(client.call("scan:join", {"scan_id": "x"}), 10)
            assert ack == {"ok": True}
            assert received == [{"seq": 7}]  # sent before the ack, after the pings
            assert client.closed_reason == ""
            await client.close()
    finally:
        await runner.cleanup()
