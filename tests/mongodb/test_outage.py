"""The MongoDB store through an outage: Unavailable (503 over HTTP), then recovery by itself."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from taskstream_core.errors import Unavailable
from taskstream_core.models import TaskStatus
from taskstream_core.stores.mongodb import MongoStore
from tests.conformance.factories import T0, make_scan, new_task
from tests.support import ServerProcess, call_sync, register_sync
from tests.support.mongo import SecantusServer

PASSWORD = "correct horse battery"


@pytest.fixture
def database(tmp_path: Path) -> SecantusServer:
    """A secantus server of this test's own, on a storage directory that outlives a restart."""
    return SecantusServer(storage=str(tmp_path / "secantus-data"), selection_timeout_ms=500)


async def test_calls_fail_unavailable_during_an_outage_and_recover_without_reopening(
    database: SecantusServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Stopping the server makes store calls and HTTP answer unavailable, without naming the
    database's address or its driver's internals; restarting heals both."""
    database.start()
    store = MongoStore(database.url("outage"))
    try:
        await store.open()
        scan = make_scan("through an outage")
        await store.create_scan(scan)
        first, _ = await store.create_task(new_task(scan.id, created_at=T0))
        url = database.url("outage")
        with ServerProcess(store_url=url) as app:
            register_sync(app.base_url, "outage-user", PASSWORD)

            database.stop()  # by the PID this test started
            with caplog.at_level(logging.WARNING), pytest.raises(Unavailable) as raised:
                await store.get_scan(scan.id)
            # the caller hears a sentence; where and why is the operator's, in the log
            assert raised.value.message == "The store cannot be reached right now; retry later."
            assert any("127.0.0.1" in r.getMessage() for r in caplog.records)
            with pytest.raises(Unavailable):
                await store.create_task(new_task(scan.id, created_at=T0))
            login = {"username": "outage-user", "password": PASSWORD}
            status, body = await asyncio.to_thread(
                call_sync, app.base_url, "POST", "/api/auth/login", login
            )
            assert status == 503
            assert body["error"]["code"] == "unavailable"
            assert "127.0.0.1" not in body["error"]["message"]

            database.start()  # same port, same storage directory
            assert await store.get_task(first.id) == first
            second, event = await store.create_task(new_task(scan.id, created_at=T0))
            assert event is not None
            assert second.seq == first.seq + 1
            await store.decide_task(second.id, TaskStatus.VALIDATED, reason=None, by="a", at=T0)
            status, body = await asyncio.to_thread(
                call_sync, app.base_url, "POST", "/api/auth/login", login
            )
            assert status == 200, body
    finally:
        await store.close()
        database.stop()
