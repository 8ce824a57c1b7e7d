"""CONTRACT.md §3, connecting over Socket.IO: who is refused, which origins, how long a socket
lives."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
import websockets

from taskstream_core.models import utc_now
from tests.support import Api, LiveSocket, ServerProcess, register_sync

from .helpers import PASSWORD, SocketFactory, Users, mint_token

# The live channel over Socket.IO (the aiohttp example's is SSE: test_live_sse.py).
pytestmark = pytest.mark.integrations("sanic")


def assert_refusal(data: Any) -> None:
    """connect_error data carries `{"code": "unauthorized"}` (top level for python-socketio's
    client, under `data` for the JS client's `err.data`)."""
    assert data["code"] == "unauthorized", data
    assert data["data"]["code"] == "unauthorized", data
    assert isinstance(data["message"], str)


# -- connecting --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "auth",
    [None, {}, {"token": ""}, {"token": 42}, {"token": "garbage"}, {"token": "a.b.c"}, "token"],
    ids=["no-auth", "empty", "empty-token", "int-token", "garbage", "malformed-jwt", "not-object"],
)
async def test_missing_or_malformed_token_is_refused(sockets: SocketFactory, auth: Any) -> None:
    """Contract: "A missing, malformed ... token is refused at connect (`connect_error` with data
    `{"code": "unauthorized"}`)"."""
    socket = sockets.new(None, auth=auth)
    assert_refusal(await socket.refused())


async def test_forged_and_expired_tokens_are_refused(sockets: SocketFactory, users: Users) -> None:
    """Contract: "A ... expired, forged ... token is refused at connect (`connect_error` with data
    `{"code": "unauthorized"}`)"."""
    forged = mint_token(users.worker, secret="not-the-server-secret-but-32-bytes-long")
    expired = mint_token(
        users.worker, issued=utc_now() - timedelta(hours=3), lifetime=timedelta(hours=1)
    )
    assert_refusal(await sockets.new(forged).refused())
    assert_refusal(await sockets.new(expired).refused())


async def test_logged_out_token_is_refused(api: Api, sockets: SocketFactory, users: Users) -> None:
    """Contract: "A ... logged-out token is refused at connect (`connect_error` with data
    `{"code": "unauthorized"}`)"."""
    login = await api.post(
        "/api/auth/login", {"username": users.worker2.username, "password": PASSWORD}
    )
    token = login.body["token"]
    assert (await api.post("/api/auth/logout", token=token)).status == 204
    assert_refusal(await sockets.new(token).refused())


async def test_valid_token_connects(sockets: SocketFactory, users: Users) -> None:
    """Contract: "Connect with the auth payload `{"token": "<token>"}`"."""
    socket = await sockets.connect(users.worker)
    assert socket.connected


# -- connection policy ---------------------------------------------------------------------------
async def test_cross_origin_sockets_are_refused_by_default(
    server: ServerProcess, sockets: SocketFactory, users: Users
) -> None:
    """Socket.IO accepts only same-origin browsers unless origins are configured: a foreign
    `Origin` is refused, the server's own is accepted."""
    foreign = LiveSocket(
        server.base_url, users.worker.token, headers={"Origin": "http://evil.example"}
    )
    with pytest.raises(socketio.exceptions.ConnectionError):
        await foreign.connect()
    same = LiveSocket(server.base_url, users.worker.token, headers={"Origin": server.base_url})
    sockets.opened.append(same)
    await same.connect()
    assert same.connected


async def test_configured_origins_are_accepted(tmp_path: Path) -> None:
    """`--cors-origin` lets the named browser origins connect besides the server's own
    (its dashboard, also behind a TLS proxy), and no others."""
    allowed = "http://dashboard.example"
    server = ServerProcess(store_url="memory://", args=["--cors-origin", allowed], cwd=tmp_path)
    await asyncio.to_thread(server.start)
    try:
        worker = await asyncio.to_thread(register_sync, server.base_url, "cors-worker", PASSWORD)
        ok = LiveSocket(server.base_url, worker.token, headers={"Origin": allowed})
        await ok.connect()
        assert ok.connected
        await ok.close()
        own = LiveSocket(server.base_url, worker.token, headers={"Origin": server.base_url})
        await own.connect()
        assert own.connected
        await own.close()
        proxied = {"Origin": "https://public.example", "X-Forwarded-Proto": "https"}
        proxied |= {"X-Forwarded-Host": "public.example"}
        behind_proxy = LiveSocket(server.base_url, worker.token, headers=proxied)
        await behind_proxy.connect()
        assert behind_proxy.connected
        await behind_proxy.close()
        other = LiveSocket(server.base_url, worker.token, headers={"Origin": "http://x.example"})
        with pytest.raises(socketio.exceptions.ConnectionError):
            await other.connect()
    finally:
        await asyncio.to_thread(server.stop)


async def test_a_socket_lives_no_longer_than_its_token(
    sockets: SocketFactory, users: Users
) -> None:
    """A connection made with a token is closed when the token expires, so an expired token
    does not keep receiving events (the client reconnects with a fresh token)."""
    # expired 3-4 s ago; the server accepts a token for 5 s past its expiry (clock skew)
    issued = utc_now() - timedelta(seconds=8)
    short = mint_token(users.worker, issued=issued, lifetime=timedelta(seconds=5))
    socket = await sockets.new(short).connect()
    assert socket.connected
    await asyncio.wait_for(socket.disconnected.wait(), 8)
    assert_refusal(await sockets.new(short).refused())


@pytest.mark.parametrize("frame", ["x", "", "{not engine.io}"])
async def test_a_frame_that_is_no_engineio_packet_closes_that_websocket_and_nothing_else(
    api: Api, server: ServerProcess, frame: str
) -> None:
    """Bad input gets a clear ending, never a server error: a websocket that sends something
    that is not an Engine.IO packet at all is closed, no error is logged, the server goes on."""
    url = server.base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    before = len(server.log_records())
    async with websockets.connect(url, open_timeout=5) as ws:
        opened = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(opened, str)
        assert opened.startswith("0{")  # Engine.IO OPEN
        await ws.send(frame)
        await asyncio.wait_for(ws.wait_closed(), 5)  # the server closed it
    logged = server.log_records()[before:]
    assert [r for r in logged if r.get("level") in ("error", "critical")] == []
    assert (await api.get("/api/health")).status == 200


@pytest.mark.parametrize(
    "frame",
    [b"\xff\xfe\x00", "4zzz", "44", "44{}", "46x", "4", "8", "9"],
    ids=[
        "binary",
        "no-type",
        "connect-error",
        "connect-error-data",
        "binary-ack",
        "empty",
        "eio-8",
        "eio-9",
    ],
)
async def test_a_malformed_socketio_packet_after_connect_logs_no_error(
    api: Api, server: ServerProcess, users: Users, frame: str | bytes
) -> None:
    """A signed-in socket sending a packet no Socket.IO client sends (stray binary, a type
    that is no digit, a client's CONNECT_ERROR, an Engine.IO type that does not exist) gets no
    traceback into the log, and the server, and the socket if it stays, go on."""
    url = server.base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    before = len(server.log_records())
    async with websockets.connect(url, open_timeout=5) as ws:
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("0{")
        await ws.send("40" + json.dumps({"token": users.worker.token}))
        assert str(await asyncio.wait_for(ws.recv(), 5)).startswith("40{")
        await ws.send(frame)
        try:  # still usable, or closed: either way an answer to the next event, or the end
            await ws.send('421["scan:leave",{"scan_id":"x"}]')
            while not str(await asyncio.wait_for(ws.recv(), 5)).startswith("431"):
                pass
        except websockets.ConnectionClosed:
            pass
    await asyncio.sleep(0.2)
    logged = server.log_records()[before:]
    assert [r for r in logged if r.get("level") in ("error", "critical")] == []
    assert (await api.get("/api/health")).status == 200
