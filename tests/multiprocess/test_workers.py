"""``taskstream-server --workers N``: N processes on one port under uvicorn's supervisor."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.support import TEST_INVITE_CODE, Api, LiveSocket, ServerProcess, register_sync

from .cluster import PASSWORD, Cluster, data_events

WORKERS = 2


def children(pid: int) -> list[int]:
    """The PIDs of a process's children (Linux)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def serving_children(pid: int) -> list[int]:
    """A server's worker processes: its children but multiprocessing's resource tracker."""
    return [
        child
        for child in children(pid)
        if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.parametrize(
    ("store", "args", "says"),
    [
        ("sqlite:///{tmp}/t.db", ["--workers", "2"], "needs --redis-url"),
        ("memory://", ["--redis-url", "{redis}"], "memory:// keeps its data inside one process"),
        ("memory://", ["--workers", "2", "--redis-url", "{redis}"], "memory:// keeps its data"),
        (
            "sqlite:///{tmp}/t.db",
            ["--workers", "2", "--redis-url", "{redis}", "--transports", "websocket,polling"],
            "long-polling",
        ),
        ("sqlite:///{tmp}/t.db", ["--workers", "0"], "at least 1"),
    ],
    ids=["workers-without-redis", "memory-with-redis", "memory-workers", "polling", "zero"],
)
def test_settings_that_cannot_scale_out_are_refused_at_start_with_exit_2(
    tmp_path: Path, redis_url: str, store: str, args: list[str], says: str
) -> None:
    """Several processes need Redis and a shared store, and WebSocket only on one port: anything
    else exits 2 with one line on stderr saying why, before anything starts."""
    server = ServerProcess(
        store.format(tmp=tmp_path), args=[a.format(redis=redis_url) for a in args]
    )
    server.spawn()
    assert server.wait(30) == 2, server.output
    assert server.lines[-1].startswith("taskstream-server: "), server.output
    assert says in server.lines[-1]


async def test_n_workers_share_one_port_and_every_event_reaches_every_socket(
    tmp_path: Path, redis_url: str
) -> None:
    """``--workers 2``: two worker processes serve one port; sockets land on both, an event
    stored by either reaches all of them; long-polling is refused; SIGTERM ends all, exit 0."""
    server = ServerProcess(
        f"sqlite:///{tmp_path}/w.db",
        args=["--workers", str(WORKERS), "--redis-url", redis_url],
        startup_timeout=60,
    )
    await asyncio.to_thread(server.start)
    sockets: list[LiveSocket] = []
    try:
        assert server.process is not None
        everyone = children(server.process.pid)
        workers = serving_children(server.process.pid)
        assert len(workers) == WORKERS
        url = server.base_url
        admin = register_sync(url, "root-w", PASSWORD, role="admin", invite_code=TEST_INVITE_CODE)
        worker = register_sync(url, "worker-w", PASSWORD)
        scan = Cluster.scan_on(url, admin)
        # Connect until both workers hold sockets (a shared accept queue has no fixed order).
        for _ in range(40):
            if len(sockets) >= 6 and _workers_with_sockets(server) == set(workers):
                break
            socket = await LiveSocket(url, admin.token, timeout=30).connect()
            sockets.append(socket)
            assert (await socket.call("scan:join", {"scan_id": scan}))["ok"]
        assert _workers_with_sockets(server) == set(workers), "sockets on every worker"

        async with aiohttp.ClientSession() as session:
            api = Api(url, session)
            posted = []
            for i in range(4):  # each request goes to whichever worker accepts it
                reply = await api.post(
                    f"/api/scans/{scan}/tasks", {"content": f"t{i}"}, token=worker.token
                )
                assert reply.status == 201, reply.text
                posted.append(reply.body["task"])
            # Long-polling is refused: its requests could land on different workers.
            reply = await api.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
            assert reply.status == 400, reply.text
            assert "Invalid transport" in reply.text
        for socket in sockets:
            for task in posted:
                await socket.wait_event("task:created", id=task["id"])
            assert [e["seq"] for e in data_events(socket.events)] == [1, 2, 3, 4]
    finally:
        for socket in sockets:
            await socket.close()
        code = await asyncio.to_thread(server.stop, timeout=60)
    assert code == 0, server.output
    assert not any(alive(pid) for pid in everyone)


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie whose new parent never reaps it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _workers_with_sockets(server: ServerProcess) -> set[int]:
    """The workers that logged a socket connecting (each tags its log lines with its PID)."""
    return {
        int(r["worker"])
        for r in server.log_records()
        if r.get("message") == "socket connected" and "worker" in r
    }
