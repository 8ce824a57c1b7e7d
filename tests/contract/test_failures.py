"""How failures reach clients: a store that cannot be reached, a bug, text that is not Unicode.

The store failures are provoked in-process (a real store cannot be made to fail on cue):
each integration's app is served over HTTP in this process, on a memory store made to fail;
the rest goes over the wire to the session's server.
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest
import uvicorn
from aiohttp import ClientSession, web
from sanic import Sanic

from taskstream_core import TaskStream
from taskstream_core.errors import Unavailable
from taskstream_server import Secrets, Settings, build_app
from tests.support import AIOHTTP_EXAMPLE, Api, LiveSocket, free_port

from .helpers import PASSWORD, SocketFactory, Users, assert_error

SECRET, INVITE = "f" * 40, "invite-code-for-tests"


@dataclass(frozen=True, slots=True)
class Hosted:
    """An integration's app served in this process: its core, its address, an admin's token."""

    core: TaskStream
    base_url: str
    token: str


@asynccontextmanager
async def sanic_app() -> AsyncIterator[tuple[TaskStream, str]]:
    """The reference server's app on uvicorn in this process (its core, its address)."""
    settings = Settings(secrets=Secrets(SECRET, INVITE), store_url="memory://")
    app = build_app(settings, name=f"failures-{uuid.uuid4().hex[:8]}")
    app.sanic.config.TOUCHUP = False  # Sanic rewrites its classes once per process, not per app
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            assert not serving.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield app.core, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
        Sanic.unregister_app(app.sanic)


@asynccontextmanager
async def aiohttp_app() -> AsyncIterator[tuple[TaskStream, str]]:
    """The aiohttp example's app on aiohttp's runner in this process (its core, its address)."""
    example = runpy.run_path(str(AIOHTTP_EXAMPLE))
    app: web.Application = example["build_app"]("memory://", SECRET, INVITE)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app[example["CORE"]], f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def hosted(integration: str) -> AsyncIterator[Hosted]:
    """The integration's app served in this process on a memory store, with an admin."""
    async with sanic_app() if integration == "sanic" else aiohttp_app() as (core, url):
        session = await core.accounts.register("boss", PASSWORD, "admin", INVITE)
        yield Hosted(core, url, session.token)


@pytest.fixture
async def hosted_api(hosted: Hosted) -> AsyncIterator[Api]:
    async with ClientSession() as session:
        yield Api(hosted.base_url, session)


async def test_a_store_that_cannot_be_reached_is_503_unavailable(
    hosted: Hosted, hosted_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contract: "`unavailable` (503: the store or Redis cannot be reached right now; retry
    later)"."""

    async def down(**_: Any) -> NoReturn:
        raise Unavailable("The store cannot be reached right now; retry later.")

    monkeypatch.setattr(hosted.core.store, "list_scans", down)
    reply = await hosted_api.get("/api/scans", token=hosted.token)
    assert_error(reply, 503, "unavailable")
    assert reply.headers["Content-Type"].startswith("application/json")


async def test_an_unexpected_error_is_500_internal_and_logged(
    hosted: Hosted,
    hosted_api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Contract: "`internal` (500, never expected)": a bug answers the contract body without its
    details, and is logged with its traceback."""

    async def bug(**_: Any) -> NoReturn:
        raise RuntimeError("secret detail of a bug")

    monkeypatch.setattr(hosted.core.store, "list_scans", bug)
    with caplog.at_level(logging.ERROR):
        reply = await hosted_api.get("/api/scans", token=hosted.token)
    assert_error(reply, 500, "internal")
    assert "secret detail" not in reply.text
    assert any(r.exc_info and "secret detail" in str(r.exc_info[1]) for r in caplog.records)
    assert (await hosted_api.get("/api/health")).status == 200  # and the server goes on


@pytest.mark.integrations("sanic")  # Socket.IO
async def test_an_unexpected_error_in_an_event_is_acked_internal(
    hosted: Hosted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contract: the ack is "`{"ok": false, "error": {"code", "message"}}`": an unexpected error
    in a handler is answered `internal`, never raised into python-socketio. The app is served
    by uvicorn in this process, so that its store can be made to fail, and a real Socket.IO
    client talks to it."""

    async def bug(*_: Any, **__: Any) -> NoReturn:
        raise RuntimeError("boom")

    async with LiveSocket(hosted.base_url, hosted.token) as socket:
        monkeypatch.setattr(hosted.core.store, "get_scan", bug)
        ack = await socket.call("scan:join", {"scan_id": "abc"})
        assert ack == {
            "ok": False,
            "error": {"code": "internal", "message": ack["error"]["message"]},
        }
        assert "boom" not in ack["error"]["message"]
        assert socket.connected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"username": "\\ud800", "password": "x"}',
        b'{"username": "ok-name", "password": "\\udfff1234567"}',
    ],
    ids=["lone-high-surrogate", "lone-low-surrogate"],
)
async def test_text_that_is_not_unicode_is_invalid_request(api: Api, raw: bytes) -> None:
    """Contract: "JSON in and out, UTF-8": JSON spelling a lone surrogate, which no UTF-8 text can
    hold, is 400 `invalid_request` (not a 500 from the store)."""
    for path in ("/api/auth/login", "/api/auth/register"):
        reply = await api.request(
            "POST", path, data=raw, headers={"Content-Type": "application/json"}
        )
        assert reply.status == 400, reply.text
        assert reply.error_code == "invalid_request"


@pytest.mark.integrations("sanic")  # Socket.IO
async def test_socket_payload_that_is_not_unicode_is_invalid_request(
    sockets: SocketFactory, users: Users, scan_id: str
) -> None:
    """Contract: acks carry "the codes of section 2": a payload with a lone surrogate is
    `invalid_request`."""
    socket: LiveSocket = await sockets.connect(users.worker)
    ack = await socket.call("task:submit", {"scan_id": scan_id, "content": "bad \ud800 text"})
    assert ack["ok"] is False
    assert ack["error"]["code"] == "invalid_request"


async def test_control_characters_round_trip(api: Api, users: Users, scan_id: str) -> None:
    """Any Unicode text within the limits is stored and answered as sent, NUL included."""
    content = "nul \x00 tab \t bell \x07 emoji 🚪 rtl \u202e"
    made = await api.post(
        f"/api/scans/{scan_id}/tasks", {"content": content}, token=users.worker.token
    )
    assert made.status == 201, made.text
    again = await api.get(f"/api/tasks/{made.body['task']['id']}", token=users.worker.token)
    assert again.body["task"]["content"] == content
