"""Two (or more) real server processes that share one store and one Redis, for scale-out tests.

    with Cluster(tmp_path, redis_url, size=2) as cluster:
        a, b = cluster.servers
        admin = cluster.register("root", role="admin")

Every process is the real ``taskstream-server`` (``ServerProcess`` with
``--redis-url``) on a port of its own, on the same SQLite file; they are
started one after the other, so the first one creates the schema.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Self

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    LiveSocket,
    ServerProcess,
    call_sync,
    register_sync,
)

__all__ = ["PASSWORD", "Cluster", "data_events", "joined", "submit"]

PASSWORD = "correct horse battery"


def data_events(received: list[Any]) -> list[dict[str, Any]]:
    """The envelopes a LiveSocket received that carry a scan's seq (stats left out)."""
    return [e.data for e in received if e.type in ("task:created", "task:updated", "scan:updated")]


class Cluster:
    """Server processes on one SQLite store and one Redis channel prefix."""

    def __init__(self, place: Path, redis_url: str, *, size: int = 2) -> None:
        store = f"sqlite:///{place / 'cluster.db'}"
        self.servers = [
            ServerProcess(store_url=store, args=["--redis-url", redis_url], cwd=place)
            for _ in range(size)
        ]

    def start(self) -> Self:
        for server in self.servers:
            server.start()
        return self

    def stop(self) -> list[int]:
        """SIGTERM each process; their exit codes."""
        return [server.stop() for server in self.servers if server.running]

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def register(self, prefix: str, *, role: str = "worker", via: int = 0) -> Account:
        """A new user registered through server ``via``."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        code = TEST_INVITE_CODE if role == "admin" else None
        return register_sync(
            self.servers[via].base_url, name, PASSWORD, role=role, invite_code=code
        )

    def new_scan(self, admin: Account, *, via: int = 0) -> str:
        """A new open scan, created through server ``via``."""
        return self.scan_on(self.servers[via].base_url, admin)

    @staticmethod
    def scan_on(base_url: str, admin: Account) -> str:
        """A new open scan, created through the server at ``base_url``."""
        status, body = call_sync(base_url, "POST", "/api/scans", {"name": "shared"}, admin.token)
        assert status == 201, body
        return str(body["scan"]["id"])


async def joined(
    opened: list[LiveSocket],
    server: ServerProcess,
    account: Account,
    scan: str,
    *,
    patience: float = 10.0,
) -> LiveSocket:
    """A socket of ``account`` on ``server`` that has joined ``scan`` (kept in ``opened``);
    its waits give up after ``patience`` seconds."""
    socket = await LiveSocket(server.base_url, account.token, timeout=patience).connect()
    opened.append(socket)
    ack = await socket.call("scan:join", {"scan_id": scan})
    assert ack["ok"] is True, ack
    return socket


async def submit(socket: LiveSocket, scan: str, content: str) -> dict[str, Any]:
    """Submit over the socket; the stored task."""
    ack = await socket.call("task:submit", {"scan_id": scan, "content": content})
    assert ack["ok"] is True, ack
    task: dict[str, Any] = ack["task"]
    return task
