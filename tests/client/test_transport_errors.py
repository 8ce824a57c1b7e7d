"""Transport failures surface as the library's ``Unavailable``, with the cause chained.

The server-down cases use the real server process, stopped; the reset and the
silent peer are plain TCP listeners of the test's own, since no real server
misbehaves that way on purpose.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import socketio

import taskstream_core
from taskstream_core.client import TaskStreamClient
from taskstream_core.errors import Unavailable
from tests.client.helpers import PASSWORD, unique_name
from tests.support import ServerProcess

pytestmark = pytest.mark.contract


async def test_a_stopped_server_raises_unavailable_from_every_call(
    server: ServerProcess, worker: TaskStreamClient
) -> None:
    """With the server down, HTTP calls, sign-in, connecting and live calls raise Unavailable
    whose cause is aiohttp's or python-socketio's exception."""
    scan_owner = await TaskStreamClient.register(server.base_url, unique_name("w"), PASSWORD)
    await scan_owner.close()
    await asyncio.to_thread(server.stop)

    with pytest.raises(Unavailable) as caught:
        await TaskStreamClient.login(server.base_url, "someone", PASSWORD)
    assert isinstance(caught.value.__cause__, aiohttp.ClientError)

    offline = TaskStreamClient(server.base_url, scan_owner.token, call_timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            await offline.me()
        assert isinstance(caught.value.__cause__, aiohttp.ClientError)
        with pytest.raises(Unavailable) as caught:
            await offline.connect()
        assert isinstance(caught.value.__cause__, socketio.exceptions.ConnectionError)
    finally:
        await offline.close()

    worker.call_timeout = 0.3  # a live call gives up after 3 × call_timeout
    with pytest.raises(Unavailable):
        await worker.submit("any-scan", "the server is down")


@pytest.fixture
async def misbehaving_peer() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Start a TCP listener that resets each connection (``"reset"``) or never answers
    (``"silent"``); yields a function that starts one and answers its base URL."""
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def start(kind: str) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)
            if kind == "reset":
                writer.transport.abort()
            else:
                held.append(writer)

        listener = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(listener)
        port = listener.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    yield start
    for writer in held:
        writer.transport.abort()
    for listener in servers:
        listener.close()
        await listener.wait_closed()


@pytest.mark.parametrize("kind", ["reset", "silent"])
async def test_a_reset_or_a_timeout_raises_unavailable(
    misbehaving_peer: Callable[[str], Awaitable[str]], kind: str
) -> None:
    """A connection reset, or a peer that never answers, raises Unavailable from HTTP calls
    and from connecting."""
    url = await misbehaving_peer(kind)
    client = TaskStreamClient(url, "token", call_timeout=0.5)
    try:
        with pytest.raises(Unavailable) as caught:
            await client.me()
        assert isinstance(caught.value.__cause__, aiohttp.ClientError | TimeoutError)
        with pytest.raises(Unavailable):
            await client.connect()
    finally:
        await client.close()


def test_importing_without_the_client_extra_says_what_to_install() -> None:
    """Without python-socketio or aiohttp, importing the client raises an ImportError that
    names the extra to install."""
    source = str(Path(taskstream_core.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    for missing in ("socketio", "aiohttp"):
        code = (
            f"import sys; sys.modules[{missing!r}] = None\n"
            "try:\n"
            "    import taskstream_core.client\n"
            "except ImportError as exc:\n"
            "    print(exc)\n"
            "else:\n"
            "    print('imported')\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert 'pip install "taskstream-core[client]"' in result.stdout, result.stdout
