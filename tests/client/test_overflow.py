"""The client's bounded event queue and its drop-to-resume, against the real server process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from taskstream_core import ScanEvent
from taskstream_core.client import Snapshot, TaskStreamClient
from taskstream_core.models import EventType
from tests.client.helpers import PASSWORD, unique_name
from tests.support import TEST_INVITE_CODE, ServerProcess

pytestmark = pytest.mark.contract

BOUND = 10
TASKS = 120


async def test_a_slow_consumer_sees_every_event_once_in_order(
    server: ServerProcess, worker: TaskStreamClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A consumer slower than the submissions overflows the bounded queue; the client drops
    its backlog and resumes, and the consumer still gets every event once, in seq order."""
    admin = await TaskStreamClient.register(
        server.base_url,
        unique_name("admin"),
        PASSWORD,
        role="admin",
        invite_code=TEST_INVITE_CODE,
        max_queued=BOUND,
    )
    async with admin:
        scan = await admin.create_scan("slow consumer")
        await admin.join(scan.id)
        received: list[ScanEvent] = []
        longest = 0

        async def consume() -> None:
            nonlocal longest
            while len(received) < TASKS:
                longest = max(longest, admin.queued)
                item = await admin.next_event()
                assert not isinstance(item, Snapshot)
                if item.type is EventType.TASK_CREATED:
                    received.append(item)
                await asyncio.sleep(0.03)  # slower than the worker submits

        with caplog.at_level(logging.WARNING, logger="taskstream.client"):
            consumer = asyncio.ensure_future(consume())
            submitted: list[str] = []
            for batch in range(TASKS // 10):
                tasks = await asyncio.gather(
                    *(worker.submit(scan.id, f"{batch}-{n}") for n in range(10))
                )
                submitted += [t.id for t in tasks]
            await asyncio.wait_for(consumer, 60)

        ids = [e.task.id for e in received if e.task]
        assert sorted(ids) == sorted(submitted)
        assert len(set(ids)) == TASKS
        seqs = [e.seq for e in received]
        assert seqs == sorted(set(seqs))
        assert admin.overflows >= 1
        assert admin.discarded >= BOUND - 1
        assert longest <= BOUND
        assert any("fell" in r.getMessage() for r in caplog.records)
