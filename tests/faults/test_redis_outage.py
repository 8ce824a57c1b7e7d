"""Redis stopped and started again under a submit load, with two worker processes on one port.

``tests/multiprocess/test_redis_restart.py`` restarts Redis between a few single submits
under two servers; here workers submit on every road all through the outage, to
``--workers 2`` (the kernel hands each connection to either process).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.support import ServerProcess
from tests.support.redis_server import RedisServer, unique_prefix

from .figures import report
from .load import Kind, SubmitLoad
from .scene import set_scene
from .watch import ClientAdmin, ResumingAdmin, check_after_load

ROADS: tuple[Kind, ...] = ("http", "http", "socket", "socket", "client")
ACKS_PER_PHASE = 15
WORKER_PROCESSES = 2


def reconnections(server: ServerProcess) -> set[Any]:
    """The worker processes that logged getting their Redis subscription back."""
    return {
        r.get("worker")
        for r in server.log_records()
        if str(r.get("message", "")).startswith("reconnected to Redis")
    }


async def test_a_redis_outage_under_load_loses_nothing_and_fails_no_write(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    """docs/scaling.md, "When Redis goes away": writes go on (stored and acknowledged, the
    request never fails for Redis), viewers are sent away to resume, and both processes
    reconnect by themselves. So no submit answers `unavailable`, every acknowledged task is
    stored once, and admins resuming with since_seq see every stored task once, in seq order."""
    redis_url = private_redis.url(prefix=unique_prefix())
    args = ["--workers", str(WORKER_PROCESSES), "--redis-url", redis_url]
    server = ServerProcess(store_url=f"sqlite:///{tmp_path}/shared.db", args=args, cwd=tmp_path)
    await asyncio.to_thread(server.start)
    try:
        scene = await asyncio.to_thread(set_scene, server.base_url, len(ROADS))
        raw_admin = ResumingAdmin(server.base_url, scene.admin.token, scene.scan)
        client_admin = ClientAdmin(server.base_url, scene.admin.token, scene.scan)
        await raw_admin.start()
        await client_admin.start()
        load = SubmitLoad(server.base_url, scene.scan, scene.workers, ROADS)
        load.start()
        try:
            await load.wait_until(
                lambda: min(load.acked_since(0).values()) >= ACKS_PER_PHASE,
                "every worker acknowledged before the outage",
            )
            await asyncio.to_thread(private_redis.stop)  # by the PID the fixture started
            down_at = time.monotonic()
            await load.wait_until(
                lambda: (
                    min(load.acked_since(down_at).values()) >= ACKS_PER_PHASE
                    and raw_admin.sent_away
                ),
                "every worker acknowledged with Redis away, and the raw admin was sent away",
            )
            await asyncio.to_thread(private_redis.start)  # same port
            back_at = time.monotonic()
            await load.wait_until(
                lambda: len(reconnections(server)) == WORKER_PROCESSES,
                "both processes got their Redis subscription back",
            )
            reconnected_at = time.monotonic()
            await load.wait_until(
                lambda: min(load.acked_since(reconnected_at).values()) >= ACKS_PER_PHASE,
                "every worker acknowledged after Redis came back",
            )
        except BaseException:
            await load.abort()
            raise
        await load.finish()
        for tally in load.tallies.values():
            assert tally.unavailable == 0, f"a write failed for Redis: {tally}"
        stored = await check_after_load(
            load,
            server.base_url,
            scene.admin.token,
            scene.scan,
            [(raw_admin, "the raw admin"), (client_admin, "the client admin")],
        )
        assert len(stored) == len(load.acks)
        assert raw_admin.resumes >= 1

        report(
            f"Redis stopped and started under load (--workers {WORKER_PROCESSES})",
            load,
            {
                "Redis down (stop -> start returned)": back_at - down_at,
                "Redis back -> both processes logged the reconnection": reconnected_at - back_at,
                "acks while Redis was down": sum(down_at < a.at < back_at for a in load.acks),
                "raw admin resumes (since_seq)": raw_admin.resumes,
                "tasks stored = acked": len(stored),
            },
        )
        assert await asyncio.to_thread(server.stop) == 0, "SIGTERM: the processes exit 0"
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)
