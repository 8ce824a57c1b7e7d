"""Which road live events take in the real server: the fast path, or python-engineio only.

``--fast-path`` (the default) writes live events to a websocket by
:mod:`taskstream_server.fast_path`; ``--no-fast-path`` sends everything through
python-engineio. Either way every event arrives; ``/metrics`` counts each by the
road it took, and the server says at start-up which one it uses and, should the
fast path not fit the installed libraries, why not.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import TEST_INVITE_CODE, LiveSocket, ServerProcess, call_sync, register_sync

pytestmark = pytest.mark.contract

PASSWORD = "fast path password"
EVENTS = 5


@pytest.fixture(params=["--fast-path", "--no-fast-path"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, ServerProcess]]:
    store = f"sqlite:///{tmp_path / 'fast.db'}"
    with ServerProcess(store, args=[request.param], cwd=tmp_path) as server:
        yield request.param, server


def _sent(server: ServerProcess) -> dict[str, float]:
    """``taskstream_socket_events_sent_total`` by path, and the fast path gauge."""
    with urllib.request.urlopen(server.url("/metrics"), timeout=10) as reply:  # noqa: S310
        lines = reply.read().decode().splitlines()
    figures = {}
    for line in lines:
        for path in ("fast_path", "engineio"):
            if line.startswith(f'taskstream_socket_events_sent_total{{path="{path}"}} '):
                figures[path] = float(line.split()[1])
        if line.startswith("taskstream_socket_fast_path "):
            figures["installed"] = float(line.split()[1])
    return figures


async def test_live_events_take_the_road_the_switch_chose(
    served: tuple[str, ServerProcess],
) -> None:
    switch, server = served
    admin = register_sync(
        server.base_url,
        f"a-{uuid.uuid4().hex[:8]}",
        PASSWORD,
        role="admin",
        invite_code=TEST_INVITE_CODE,
    ).token
    worker = register_sync(server.base_url, f"w-{uuid.uuid4().hex[:8]}", PASSWORD).token
    status, body = call_sync(server.base_url, "POST", "/api/scans", {"name": "roads"}, admin)
    assert status == 201
    scan = body["scan"]["id"]
    async with LiveSocket(server.base_url, admin) as watcher:
        assert (await watcher.call("scan:join", {"scan_id": scan}))["ok"]
        for n in range(EVENTS):
            status, _ = call_sync(
                server.base_url, "POST", f"/api/scans/{scan}/tasks", {"content": f"t{n}"}, worker
            )
            assert status == 201
        for n in range(EVENTS):
            await watcher.wait_event("task:created", content=f"t{n}")
    sent = _sent(server)
    messages = [str(r.get("message", "")) for r in server.log_records()]
    if switch == "--fast-path":
        assert sent["installed"] == 1, messages
        assert sent["fast_path"] >= EVENTS, sent
        assert sent["engineio"] == 0, sent
        assert any(m.startswith("fast path: on (python-engineio ") for m in messages), messages
        assert not any(m.startswith("fast path: not used") for m in messages), messages
    else:
        assert sent["installed"] == 0, messages
        assert sent["engineio"] >= EVENTS, sent
        assert sent["fast_path"] == 0, sent
        assert "fast path: off (--no-fast-path)" in messages
