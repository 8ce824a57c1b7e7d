"""Slowloris: connections that trickle a request in, a byte at a time, are cut.

A server allowed 256 file descriptors (``ulimit -n 256``) gets 300
connections, each sending its headers and then its body one byte a second:
half to the HTTP API, half as Engine.IO long-polling POSTs. Without a
deadline they held every descriptor for good and ``/api/health`` could not
even be accepted (issue 16, finding 8). The server now gives a body
``BODY_SECONDS`` to arrive whole, answers a slower one 400 and closes its
connection, so the health check is answered within seconds of that.

Trickled *headers* are not cut by the server itself: uvicorn has no timeout
for reading a request head (its keep-alive timeout is armed only between
requests and disarmed by any byte). ``deploy/nginx.conf`` cuts them in front
(``client_header_timeout``); the last test here checks that it does.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from taskstream_server.edge import BODY_SECONDS
from tests.multiprocess.test_behind_nginx import local_conf
from tests.support import Api, ServerProcess, free_port, polling_session, raw_request

pytestmark = pytest.mark.contract

#: The server's file descriptor limit, and how many trickling connections it gets.
OPEN_FILES = 256
TRICKLERS = 300
#: How long after the trickling began ``/api/health`` must have answered: the body
#: deadline, then a few seconds for the server to accept what waited in its backlog.
HEALTH_WITHIN = BODY_SECONDS + 6


@pytest.fixture
def starved(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with OPEN_FILES file descriptors at most."""
    with ServerProcess(
        f"sqlite:///{tmp_path / 'slow.db'}",
        args=["--log-level", "warning"],
        cwd=tmp_path,
        open_files=OPEN_FILES,
    ) as process:
        yield process


async def _trickle(host: str, port: int, head: bytes, answers: list[bytes]) -> None:
    """Send ``head``, then the body one byte a second until the server answers or closes;
    what it answered goes to ``answers``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head)
        while True:
            writer.write(b" ")
            await writer.drain()
            try:
                async with asyncio.timeout(1):
                    answer = await reader.read(4096)
            except TimeoutError:
                continue
            if answer:  # the rest of it, up to the server's close
                async with asyncio.timeout(2):
                    answer += await reader.read()
            answers.append(answer)
            return
    except ConnectionError:
        answers.append(b"")
    finally:
        writer.close()


async def _health(host: str, port: int, within: float) -> float:
    """Seconds until ``GET /api/health`` was answered 200, trying until ``within``."""
    started = time.monotonic()
    request = b"GET /api/health HTTP/1.1\r\nHost: test\r\n\r\n"
    while time.monotonic() - started < within:
        with contextlib.suppress(TimeoutError, OSError):
            answer = await raw_request(host, port, request, within=within)
            if answer.status == 200:
                return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"/api/health was not answered within {within} s")


async def test_trickled_bodies_are_cut_and_the_server_keeps_answering(
    starved: ServerProcess,
) -> None:
    async with aiohttp.ClientSession() as http:
        session = await polling_session(Api(starved.base_url, http))
    heads = [
        b"POST /api/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n",
        f"POST {session} HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n"
        "Content-Length: 1000\r\n\r\n".encode(),
    ]
    answers: list[bytes] = []
    tricklers = [
        asyncio.create_task(_trickle(starved.host, starved.port, heads[n % 2], answers))
        for n in range(TRICKLERS)
    ]
    try:
        await asyncio.sleep(1)  # every descriptor the server has is taken by now
        waited = await _health(starved.host, starved.port, HEALTH_WITHIN)
        print(f"/api/health answered after {waited:.1f} s, {len(answers)} tricklers cut")
        refused = [a for a in answers if a.startswith(b"HTTP/1.1 400 ")]
        assert refused, answers[:3]
        assert all(b'"invalid_request"' in a for a in refused)
    finally:
        for task in tricklers:
            task.cancel()
        await asyncio.gather(*tricklers, return_exceptions=True)


@pytest.fixture
def nginx_in_front(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """deploy/nginx.conf on a free port in front of one server; (host, port) of nginx."""
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        pytest.skip("nginx is not installed")
    with ServerProcess("memory://", args=["--log-level", "warning"], cwd=tmp_path) as server:
        port = free_port()
        conf = local_conf(tmp_path, port, [server.port, server.port])
        process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=0.2),
                ):
                    break
                time.sleep(0.05)
            yield "127.0.0.1", port
        finally:
            process.terminate()
            process.wait(10)


async def test_behind_nginx_trickled_headers_are_cut(nginx_in_front: tuple[str, int]) -> None:
    """deploy/nginx.conf gives a request head ``client_header_timeout`` (10 s) to arrive:
    a connection trickling header lines is closed by then (408), before the server sees it."""
    host, port = nginx_in_front
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /api/health HTTP/1.1\r\nHost: test\r\n")
    started = time.monotonic()
    closed_after = None
    try:
        for n in range(30):
            writer.write(f"X-Slow-{n}: y\r\n".encode())
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1):
                    await reader.read(4096)  # nginx's 408 if any, then the end
                    closed_after = time.monotonic() - started
                    break
    except ConnectionError:
        closed_after = time.monotonic() - started
    finally:
        writer.close()
    assert closed_after is not None, "nginx kept a trickling request head for 30 s"
    assert closed_after < 15
