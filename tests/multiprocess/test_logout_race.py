"""A logout reaches the sockets still signing in with its token on every worker process.

``--workers 2 --redis-url``: the sockets of one token land on both workers
while the token is logged out through whichever worker takes the request;
the other worker learns it through python-socketio's Redis channel. The race
itself is :func:`tests.security.test_socket_sessions.logout_race`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.security.test_socket_sessions import logout_race
from tests.support import TEST_INVITE_CODE, Api, ServerProcess, register_sync

from .cluster import PASSWORD, Cluster


async def test_no_socket_on_any_worker_outlives_the_logout_of_its_token(
    tmp_path: Path, redis_url: str
) -> None:
    server = ServerProcess(
        f"sqlite:///{tmp_path}/w.db",
        args=["--workers", "2", "--redis-url", redis_url],
        startup_timeout=60,
    )
    await asyncio.to_thread(server.start)
    try:
        url = server.base_url
        admin = register_sync(url, "root-l", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
        worker = register_sync(url, "worker-l", PASSWORD)
        scan = Cluster.scan_on(url, admin)
        async with aiohttp.ClientSession() as session:
            api = Api(url, session)
            survivors = await logout_race(server.host, server.port, api, worker.username, scan)
            assert survivors == [], f"{len(survivors)} answered after the logout: {survivors[:3]}"
            tasks = await api.get(f"/api/scans/{scan}/tasks", token=admin.token)
            assert tasks.body["tasks"] == [], "a socket submitted after its token was logged out"
    finally:
        code = await asyncio.to_thread(server.stop, timeout=60)
    assert code == 0, server.output
