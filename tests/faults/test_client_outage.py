"""The Python client through a database outage: a live call answered ``unavailable`` ("retry
later") is sent again until its deadline, so a short outage costs the caller a wait, not an
error."""

from __future__ import annotations

import asyncio

from taskstream_core.client import TaskStreamClient
from tests.support import ServerProcess, call_sync
from tests.support.mongo import SecantusServer

from .scene import set_scene

#: Long enough for an outage of a few seconds, since a live call waits 3 × this.
CALL_TIMEOUT = 10.0


async def test_a_submit_during_an_outage_is_retried_and_stored_once(
    mongo_on_disk: SecantusServer,
) -> None:
    """Contract: "`unavailable` (503: the store or Redis cannot be reached right now; retry
    later)": a submit whose first acks say ``unavailable`` returns the stored task once the
    database is back, and the scan holds it once."""
    server = ServerProcess(store_url=mongo_on_disk.url("client-outage"))
    await asyncio.to_thread(server.start)
    try:
        scene = await asyncio.to_thread(set_scene, server.base_url, 1)
        worker = scene.workers[0]
        async with TaskStreamClient(
            server.base_url, worker.token, call_timeout=CALL_TIMEOUT
        ) as client:
            await client.join(scene.scan)
            await client.submit(scene.scan, "Observation: before the outage")

            await asyncio.to_thread(mongo_on_disk.stop)  # by the PID the fixture started
            submit = asyncio.create_task(
                client.submit(scene.scan, "Observation: during the outage", idempotency_key="k1")
            )
            await asyncio.sleep(2.0)  # each try waits 0.5 s for the database, then unavailable
            assert not submit.done(), "the submit gave up while the deadline was far off"
            await asyncio.to_thread(mongo_on_disk.start)  # same port, same storage directory
            task = await submit

        status, body = await asyncio.to_thread(
            call_sync, server.base_url, "GET", f"/api/scans/{scene.scan}/tasks", token=worker.token
        )
        assert status == 200, body
        contents = [t["content"] for t in body["tasks"]]
        assert contents == ["Observation: before the outage", "Observation: during the outage"]
        assert body["tasks"][1]["id"] == task.id
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)
