"""Connection storms: 500 clients sign in at once, half join a scan, all drop at once.

Each round a third leave cleanly (Socket.IO disconnect, WebSocket close), a
third close TCP without a packet (FIN) and a third reset it (RST). After every
round the server's ``taskstream_connected_sockets`` and
``taskstream_broker_subscriptions`` gauges must come back to 0 and its open fds
to where they were; after the rounds it must still answer ``/api/health`` and
carry a submit to a joined admin.

Memory is compared between two identical phases of ``ROUNDS`` storms, the
first a warm-up: Python's allocator keeps freed arenas, so the RSS after the
warm-up, not before it, is the baseline. python-engineio keeps each closed
socket until its ping timer, started at connect, fires (``pingInterval``,
25 s), so the test waits that long between the phases: both then start with
nothing held over, and only memory that outlives a connection can add up.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    Exit,
    LiveSocket,
    ServerProcess,
    WireSocket,
    call_sync,
    register_sync,
)

pytestmark = pytest.mark.contract

CLIENTS = 500
ROUNDS = 5
EXITS: tuple[Exit, ...] = ("clean", "fin", "reset")
PASSWORD = "storm password"
#: RSS growth allowed over a phase of ROUNDS storms (2,500 connections) after the
#: warm-up phase. What a leak would cost: one socket's state in the server
#: (ViewerSession, its subscription and queue, the pump task) is about 5.7 KB
#: (tracemalloc), so keeping it per connection adds about 14 MB a phase; a server
#: patched to keep each disconnected socket's state grew 16.6 MiB here, while the
#: real one grew 0.0-0.5 MiB. Keeping all a live connection holds (about 50 KB:
#: the warm-up prints the RSS with 500 sockets) would add over 100 MB. 8 MiB is
#: 3.3 KB per connection: under any of those, well above the noise.
LEAK_BOUND_MIB = 8.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def gauge(server: ServerProcess, name: str = "taskstream_connected_sockets") -> float:
    # The URL is the test server's own http:// address.
    with urllib.request.urlopen(server.url("/metrics"), timeout=10) as reply:  # noqa: S310
        for line in reply.read().decode().splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
    raise AssertionError(f"/metrics has no {name}")


def settle(server: ServerProcess, pid: int, fds_at_rest: int) -> tuple[float, float, int]:
    """Wait (at most 30 s) for the socket and subscription gauges to read 0 and the fds to
    come back; the three readings."""
    deadline = time.monotonic() + 30
    while True:
        sockets = gauge(server)
        subscriptions = gauge(server, "taskstream_broker_subscriptions")
        open_fds = fds(pid)
        done = sockets == 0 and subscriptions == 0 and open_fds <= fds_at_rest
        if done or time.monotonic() > deadline:
            return sockets, subscriptions, open_fds
        time.sleep(0.2)


class Storms:
    """Rounds of CLIENTS sockets against one server, signed in with a few accounts."""

    def __init__(self, server: ServerProcess, tokens: list[str], scan: str) -> None:
        assert server.process is not None
        self.server = server
        self.pid = server.process.pid
        self.tokens = tokens
        self.scan = scan
        self.fds_at_rest = fds(self.pid)
        self.ping_interval = 0.0
        self.last_connect = time.monotonic()

    async def round(self) -> float:
        """CLIENTS sign in at once, every other one joins, then all drop at once (a third
        each way); the RSS while they were all connected, in MiB."""
        clients = [
            WireSocket(self.server.host, self.server.port, self.tokens[i % len(self.tokens)])
            for i in range(CLIENTS)
        ]
        self.last_connect = time.monotonic()
        await asyncio.gather(*(c.connect() for c in clients))
        self.ping_interval = clients[0].ping_interval
        joins = [c.call("scan:join", {"scan_id": self.scan}) for c in clients[::2]]
        assert all(ack["ok"] for ack in await asyncio.gather(*joins))
        assert gauge(self.server) == CLIENTS
        peak = rss_mib(self.pid)
        await asyncio.gather(*(c.leave(EXITS[i % 3]) for i, c in enumerate(clients)))
        sockets, subscriptions, open_fds = settle(self.server, self.pid, self.fds_at_rest)
        # Fewer fds than at rest is fine (one the server had open, a log or a pipe, closed).
        assert (sockets, subscriptions) == (0, 0)
        assert open_fds <= self.fds_at_rest
        return peak

    async def phase(self, name: str) -> None:
        for n in range(ROUNDS):
            began = time.monotonic()
            peak = await self.round()
            print(
                f"{name} {n + 1}: RSS {peak:.1f} MiB with the sockets, {self.rss():.1f} after "
                f"({time.monotonic() - began:.1f} s)"
            )

    async def release(self) -> None:
        """Wait for engine.io's ping timers of the last round: they hold its closed sockets."""
        await asyncio.sleep(max(0.0, self.last_connect + self.ping_interval + 1 - time.monotonic()))

    def rss(self) -> float:
        return rss_mib(self.pid)


async def test_storms_leave_no_sockets_fds_or_memory_behind(server: ServerProcess) -> None:
    url = server.base_url
    admin = register_sync(url, f"a-{uuid.uuid4().hex[:8]}", PASSWORD, role="admin",
                          invite_code=TEST_INVITE_CODE)  # fmt: skip
    workers = [register_sync(url, f"w{i}-{uuid.uuid4().hex[:8]}", PASSWORD) for i in range(3)]
    status, body = call_sync(url, "POST", "/api/scans", {"name": "storm"}, token=admin.token)
    assert status == 201
    scan = body["scan"]["id"]
    storms = Storms(server, [admin.token, *(w.token for w in workers)], scan)

    before = storms.rss()
    await storms.phase("warm-up")
    await storms.release()
    baseline = storms.rss()
    await storms.phase("storm")
    growth = storms.rss() - baseline
    print(f"RSS {before:.1f} MiB at rest, {baseline:.1f} after the warm-up phase, growth over "
          f"{ROUNDS} more storms {growth:.2f} MiB (bound {LEAK_BOUND_MIB} MiB)")  # fmt: skip
    assert growth <= LEAK_BOUND_MIB

    await assert_still_serving(server, admin, workers[0], scan)


async def assert_still_serving(
    server: ServerProcess, admin: Account, worker: Account, scan: str
) -> None:
    status, body = call_sync(server.base_url, "GET", "/api/health")
    assert (status, body["status"]) == (200, "ok")
    async with LiveSocket(server.base_url, admin.token) as watcher:
        assert (await watcher.call("scan:join", {"scan_id": scan}))["ok"]
        async with LiveSocket(server.base_url, worker.token) as submitter:
            ack = await submitter.call("task:submit", {"scan_id": scan, "content": "after"})
            assert ack["ok"]
            created = await watcher.wait_event("task:created", id=ack["task"]["id"])
            assert created["seq"] == ack["task"]["seq"]
