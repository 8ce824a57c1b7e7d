"""The reference server counts what its core publishes through the core's observer hook."""

from __future__ import annotations

import uuid

from sanic import Sanic

from taskstream_core import LiveObserver
from taskstream_core.testing import sign_up
from taskstream_server import Secrets, Settings, build_app
from taskstream_server.observability import LiveMetrics


def _published(app_metrics_text: bytes, event_type: str) -> float:
    prefix = f'taskstream_events_published_total{{type="{event_type}"}} '.encode()
    for line in app_metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return 0.0


async def test_the_server_counts_each_event_its_core_publishes() -> None:
    settings = Settings(secrets=Secrets("f" * 40, "invite-code-for-tests"), store_url="memory://")
    app = build_app(settings, name=f"metrics-{uuid.uuid4().hex[:8]}")
    try:
        assert isinstance(app.core.observer, LiveMetrics)
        assert isinstance(app.core.observer, LiveObserver)
        async with app.core:
            boss = await app.core.accounts.register(
                "boss", "password-boss", "admin", "invite-code-for-tests"
            )
            admin = await app.core.accounts.authenticate(boss.token)
            worker = await sign_up(app.core, "crew")
            scan = await app.core.create_scan(admin, "s")
            task, _ = await app.core.submit_task(worker, scan.id, "one")
            await app.core.decide_task(admin, task.id, "validated")
            text, _ = app.metrics.render()
        assert _published(text, "task:created") == 1
        assert _published(text, "task:updated") == 1
    finally:
        Sanic.unregister_app(app.sanic)
