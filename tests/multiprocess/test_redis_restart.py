"""Redis restarted mid-run under two server processes: they reconnect by themselves, clients
resume, and nothing stored is lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from taskstream_core import ScanEvent
from taskstream_core.client import TaskStreamClient
from taskstream_core.models import EventType
from tests.support import Api, LiveSocket, ServerProcess
from tests.support.redis_server import RedisServer, unique_prefix

from .cluster import Cluster

PATIENCE = 60.0  # generous: a loaded machine is slow, and nothing here times a result
#: How long the Python client waits for an ack before it sends again (with the same
#: idempotency key): a submit in flight when the server sends its socket away is retried.
ACK_WAIT = 5.0


def reconnected(record: dict[str, object]) -> bool:
    return str(record.get("message", "")).startswith("reconnected to Redis")


async def task_events(client: TaskStreamClient, wanted: set[str]) -> list[ScanEvent]:
    """The client's changes (stats and notices left out) until every task in ``wanted`` has
    been created."""
    events: list[ScanEvent] = []
    async with asyncio.timeout(PATIENCE):
        while not wanted <= {e.task.id for e in events if e.task is not None}:
            item = await client.next_event()
            assert isinstance(item, ScanEvent), f"no event may be lost, so no reset: {item}"
            if item.type is not EventType.SCAN_STATS and not item.type.is_notice:
                events.append(item)
    return events


async def test_a_redis_restart_loses_nothing_and_needs_no_operator(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """Contract: "The same event reaches every joined socket whichever server process it is
    connected to": Redis stops and starts again on its port; writes keep being stored while it is
    away, each process's sockets are sent away to resume, both processes log that they
    reconnected by themselves, and an admin on A receives every task submitted on B, once each,
    in seq order."""
    cluster = Cluster(tmp_path, private_redis.url(prefix=unique_prefix()))
    await asyncio.to_thread(cluster.start)
    try:
        a, b = cluster.servers
        admin, worker = cluster.register("admin", role="admin"), cluster.register("w", via=1)
        scan = cluster.new_scan(admin)
        async with (
            TaskStreamClient(a.base_url, admin.token, call_timeout=ACK_WAIT) as admin_on_a,
            TaskStreamClient(b.base_url, worker.token, call_timeout=ACK_WAIT) as worker_on_b,
            aiohttp.ClientSession() as session,
        ):
            await admin_on_a.join(scan)
            await worker_on_b.join(scan)
            watcher_on_b = await LiveSocket(b.base_url, admin.token).connect()
            ids = [(await worker_on_b.submit(scan, f"before {i}")).id for i in range(3)]
            assert {e.task.id for e in await task_events(admin_on_a, set(ids)) if e.task} == set(
                ids
            )

            private_redis.stop()
            async with asyncio.timeout(PATIENCE):  # how a client learns it may have missed events
                await watcher_on_b.disconnected.wait()
            api = Api(b.base_url, session)
            for i in range(3):  # the store is the source of truth: writes go on
                reply = await api.post(
                    f"/api/scans/{scan}/tasks", {"content": f"during {i}"}, token=worker.token
                )
                assert reply.status == 201, reply.text
                ids.append(reply.body["task"]["id"])

            private_redis.start()
            for server in (a, b):
                await asyncio.to_thread(server.wait_for_log, reconnected, PATIENCE)
            ids += [(await worker_on_b.submit(scan, f"after {i}")).id for i in range(3)]

            events = await task_events(admin_on_a, set(ids[3:]))
            seqs = [e.seq for e in events]
            assert seqs == list(range(4, 10)), "every seq after the first three, once, in order"
            assert [e.task.id for e in events if e.task is not None] == ids[3:]
            await watcher_on_b.close()
        for server in (a, b):
            assert not _warned_of_a_late_event(server), server.output
    finally:
        assert await asyncio.to_thread(cluster.stop) == [0, 0]


def _warned_of_a_late_event(server: ServerProcess) -> bool:
    """Whether a process dropped an event its gate had given up on (a viewer would miss it)."""
    return any(
        r.get("level") == "warning" and "already passed" in str(r.get("message"))
        for r in server.log_records()
    )
