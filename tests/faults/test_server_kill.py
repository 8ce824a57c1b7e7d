"""SIGKILL of the server in the middle of a submit load, then a restart on the same store.

The contract test ``test_sigkill_then_restart_loses_nothing_acknowledged`` kills an idle
server; here five workers are submitting when it dies, so submissions are in flight on every
road: some stored without their answer, some never stored. Each worker retries its current
submission with its idempotency key until it is acknowledged.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support import ServerProcess
from tests.support.mongo import mongo_url

from .figures import report
from .load import Kind, SubmitLoad
from .scene import set_scene
from .watch import ClientAdmin, ResumingAdmin, check_after_load

ROADS: tuple[Kind, ...] = ("http", "http", "socket", "socket", "client")
#: Acks every worker gets before the kill, and again after the restart: enough for a load
#: that is running at full pace when the fault comes, and a few seconds at most.
ACKS_PER_PHASE = 15
#: Set to run the MongoDB case too: it can take a minute (see below).
SLOW_ENV = "TASKSTREAM_TEST_SLOW_FAULTS"


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "mongodb",
            marks=pytest.mark.skipif(
                not os.environ.get(SLOW_ENV), reason=f"up to a minute; set {SLOW_ENV}=1"
            ),
        ),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The store the killed server works on.

    ``mongodb`` is the session's replica set. A process killed inside a transaction leaves
    it open on the server, holding the scan document, until the server reaps it
    (``transactionLifetimeLimitSeconds``, 60 s by default, secantus alike): until then every
    submission to that scan answers 503 `unavailable`, which is what the contract allows,
    but the test then takes a minute, too long for the default run.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/killed.db"
    request.getfixturevalue("mongo_server")
    return mongo_url(tmp_path)


async def test_sigkill_under_a_submit_load_loses_and_duplicates_nothing(
    store_url: str, request: pytest.FixtureRequest
) -> None:
    """Contract: "an ack `ok: true` means the change is stored" and "A worker repeating
    `idempotency_key` in the same scan gets 200 and the task it made the first time": after a
    SIGKILL under load and a restart, every acknowledged task is stored exactly once, no key
    made two tasks, and two admins — a raw socket re-joining with since_seq, and the Python
    client — each saw every stored task created once, in seq order."""
    store_name = request.node.callspec.params["store_url"]
    server = ServerProcess(store_url=store_url)
    await asyncio.to_thread(server.start)
    try:
        scene = await asyncio.to_thread(set_scene, server.base_url, len(ROADS))
        raw_admin = ResumingAdmin(server.base_url, scene.admin.token, scene.scan)
        client_admin = ClientAdmin(server.base_url, scene.admin.token, scene.scan)
        await raw_admin.start()
        await client_admin.start()
        load = SubmitLoad(server.base_url, scene.scan, scene.workers, ROADS, pace=0)
        load.start()
        try:
            await load.wait_until(
                lambda: min(load.acked_since(0).values()) >= ACKS_PER_PHASE,
                "every worker acknowledged before the kill",
            )
            in_flight = len(load.begun) - len(load.acks)
            assert await asyncio.to_thread(server.kill) == -signal.SIGKILL
            killed_at = time.monotonic()
            await asyncio.to_thread(server.start)
            back_at = time.monotonic()
            await load.wait_until(
                lambda: min(load.acked_since(back_at).values()) >= ACKS_PER_PHASE,
                "every worker acknowledged after the restart",
            )
        except BaseException:
            await load.abort()
            raise
        await load.finish()
        for road in ("http", "socket"):  # each such worker tried while the server was dead
            assert load.tallies[road].acked_after_retry >= ROADS.count(road), load.summary()
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
            f"SIGKILL of the server under load ({store_name})",
            load,
            {
                "submissions in flight at the kill": in_flight,
                "kill -> restarted server answers /api/health": back_at - killed_at,
                "restart -> first ack": load.first_ack_after(back_at),
                "restart -> every worker acked again": load.every_worker_acked_after(back_at),
                "raw admin resumes (since_seq)": raw_admin.resumes,
                "tasks stored = acked": len(stored),
            },
        )
    finally:
        if server.running:
            await asyncio.to_thread(server.stop)
