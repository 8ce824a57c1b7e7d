"""A client that stops reading is sent away once too much waits for it; nobody else waits.

A joined admin's socket stops reading (its TCP window closes). The server's
writes to it back up: uvicorn stops taking more (flow control), so live
events stop going straight to the transport and queue in Engine.IO's queue
instead, and past the core's ``queue_size`` queued the server disconnects the socket,
whose client would resume with ``since_seq``, so what waits for one slow
client is bounded. Meanwhile an admin that reads gets every event, in order.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from taskstream_core.testing import make_app
from tests.support import (
    TEST_INVITE_CODE,
    LiveSocket,
    ServerProcess,
    WireSocket,
    call_sync,
    register_sync,
)

from .test_storm import gauge

pytestmark = pytest.mark.contract

PASSWORD = "slow reader password"
SUBMITTERS = 8
#: Events enough to fill the slow socket's buffers (the server's kernel takes some MB) and
#: the core's queue_size after them (the server keeps TaskStream's default).
QUEUE_SIZE = make_app().queue_size
SUBMITS = QUEUE_SIZE + 14_000


async def _submit(socket: WireSocket, scan: str, count: int, ids: list[str]) -> None:
    for n in range(count):
        ack = await socket.call("task:submit", {"scan_id": scan, "content": f"task {n}"})
        assert ack["ok"], ack
        ids.append(ack["task"]["id"])


def test_a_client_that_stops_reading_is_disconnected_and_holds_nobody_up(
    server: ServerProcess,
) -> None:
    admin = register_sync(
        server.base_url,
        f"boss-{uuid.uuid4().hex[:8]}",
        PASSWORD,
        role="admin",
        invite_code=TEST_INVITE_CODE,
    )
    workers = [
        register_sync(server.base_url, f"w{n}-{uuid.uuid4().hex[:8]}", PASSWORD)
        for n in range(SUBMITTERS)
    ]
    status, body = call_sync(server.base_url, "POST", "/api/scans", {"name": "slow"}, admin.token)
    assert status == 201
    scan = body["scan"]

    async def scenario() -> None:
        slow = WireSocket(server.host, server.port, admin.token, receive_buffer=4096)
        await slow.connect()
        assert (await slow.call("scan:join", {"scan_id": scan["id"]}))["ok"]
        # From here on nothing reads from `slow`.
        async with LiveSocket(server.base_url, admin.token) as reader:
            reader.timeout = 120
            assert (await reader.call("scan:join", {"scan_id": scan["id"]}))["ok"]
            submitters = [WireSocket(server.host, server.port, w.token) for w in workers]
            for socket in submitters:
                await socket.connect()
            ids: list[str] = []
            per_socket = SUBMITS // SUBMITTERS
            await asyncio.gather(*(_submit(s, scan["id"], per_socket, ids) for s in submitters))
            await reader.wait_event("task:created", id=ids[-1])
            await reader.quiet(0.5)
            created = [e["task"]["id"] for e in reader.received("task:created")]
            assert sorted(created) == sorted(ids)  # every one, once
            seqs = [e["seq"] for e in reader.received("task:created")]
            assert seqs == sorted(seqs)
            for socket in submitters:
                await socket.leave("clean")
        await slow.leave("reset")

    asyncio.run(scenario())
    server.wait_for_log(
        lambda record: record.get("message") == "socket may miss events; disconnecting it",
        timeout=30,
    )
    deadline = time.monotonic() + 30
    while gauge(server) != 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gauge(server) == 0
