"""The MongoDB-wire server stopped and started again on its port while workers submit.

``tests/mongodb/test_outage.py`` checks one login and the store alone through an outage; here
the outage comes under a submit load on every road, and the server is never restarted.
"""

from __future__ import annotations

import asyncio
import time

from tests.support import ServerProcess
from tests.support.mongo import SecantusServer

from .figures import report
from .load import Kind, SubmitLoad
from .scene import set_scene
from .watch import ClientAdmin, ResumingAdmin, check_after_load

ROADS: tuple[Kind, ...] = ("http", "http", "socket", "socket", "client")
ACKS_PER_PHASE = 15
#: ``unavailable`` answers each raw road must have had before the database comes back. The
#: Python client sends an ``unavailable`` ack again by itself (``test_client_outage.py``): its
#: submit in flight waits through the outage.
REFUSALS_PER_ROAD = 2
REFUSING: tuple[Kind, ...] = ("http", "socket")


async def test_a_database_outage_under_load_is_unavailable_then_heals_by_itself(
    mongo_on_disk: SecantusServer,
) -> None:
    """Contract: "`unavailable` (503: the store or Redis cannot be reached right now; retry
    later)" and "an ack `ok: true` means the change is stored": while the database is down,
    HTTP submits answer 503 `unavailable` and socket acks `ok: false` with the same code,
    never anything else; once it is back the same server process acknowledges again, and
    every acknowledged task is stored once and was seen once, in seq order, by two admins."""
    server = ServerProcess(store_url=mongo_on_disk.url("faults"))
    await asyncio.to_thread(server.start)
    try:
        assert server.process is not None
        pid = server.process.pid
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
            refused = {kind: load.tallies[kind].unavailable for kind in REFUSING}
            await asyncio.to_thread(mongo_on_disk.stop)  # by the PID the fixture started
            down_at = time.monotonic()
            await load.wait_until(
                lambda: all(
                    load.tallies[kind].unavailable - refused[kind] >= REFUSALS_PER_ROAD
                    for kind in REFUSING
                ),
                "every raw road answered unavailable during the outage",
            )
            await asyncio.to_thread(mongo_on_disk.start)  # same port, same storage directory
            back_at = time.monotonic()
            await load.wait_until(
                lambda: min(load.acked_since(back_at).values()) >= ACKS_PER_PHASE,
                "every worker acknowledged after the database came back",
            )
        except BaseException:
            await load.abort()
            raise
        await load.finish()
        assert server.running
        assert server.process.pid == pid, "the server was never restarted"
        stored = await check_after_load(
            load,
            server.base_url,
            scene.admin.token,
            scene.scan,
            [(raw_admin, "the raw admin"), (client_admin, "the client admin")],
        )

        report(
            "MongoDB-wire server stopped and started under load (server not restarted)",
            load,
            {
                "database down (stop -> start returned)": back_at - down_at,
                "database back -> first ack": load.first_ack_after(back_at),
                "database back -> every worker acked again": load.every_worker_acked_after(back_at),
                "raw admin resumes (since_seq)": raw_admin.resumes,
                "tasks stored": len(stored),
            },
        )
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)
