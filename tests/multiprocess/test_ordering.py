"""Seq order under concurrent load on two processes: no socket sees 5, 8, 6, 7 — or a gap."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import Account, LiveSocket, ServerProcess

from .cluster import Cluster, data_events, joined, submit

WORKERS_PER_PROCESS = 3
SUBMITS_PER_ROUND = 8  # per worker, in each of two rounds
LOAD_TIMEOUT = 90.0  # a loaded 2-core machine is slow; nothing here times a result


async def submit_many(socket: LiveSocket, scan: str, name: str) -> list[dict[str, Any]]:
    return [await submit(socket, scan, f"{name} #{i}") for i in range(SUBMITS_PER_ROUND)]


async def decide_all(socket: LiveSocket, tasks: list[dict[str, Any]]) -> None:
    for i, task in enumerate(tasks):
        decision = "validated" if i % 3 else "refused"
        ack = await socket.call("task:decide", {"task_id": task["id"], "decision": decision})
        assert ack["ok"] is True, ack


async def test_every_socket_gets_strictly_increasing_seq_without_gaps_under_load(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    """Contract: "Each socket receives a scan's events in seq order, also when several server
    processes share the work": workers on A and B submit at once while admins on both decide;
    every admin socket receives every seq exactly once in increasing order, and every worker
    socket an increasing subsequence holding all of its own tasks' events."""
    deciders = [cluster.register("admin", role="admin") for _ in range(2)]
    watcher = cluster.register("admin", role="admin")
    scan = cluster.new_scan(deciders[0])
    servers = (a, b)
    workers: list[tuple[Account, ServerProcess]] = [
        (cluster.register("w"), server) for server in servers for _ in range(WORKERS_PER_PROCESS)
    ]

    def join(server: ServerProcess, account: Account) -> Any:
        return joined(opened, server, account, scan, patience=LOAD_TIMEOUT)

    admin_sockets = [await join(s, d) for s, d in zip(servers, deciders, strict=True)]
    admin_sockets += [await join(s, watcher) for s in servers]
    worker_sockets = [await join(server, account) for account, server in workers]

    first = await asyncio.gather(
        *(submit_many(socket, scan, f"w{i}") for i, socket in enumerate(worker_sockets))
    )
    earlier = [task for tasks in first for task in tasks]
    second, _ = await asyncio.gather(
        asyncio.gather(
            *(submit_many(socket, scan, f"w{i}-again") for i, socket in enumerate(worker_sockets))
        ),
        asyncio.gather(
            decide_all(admin_sockets[0], earlier[0::2]),  # decided on A ...
            decide_all(admin_sockets[1], earlier[1::2]),  # ... and on B, at the same time
        ),
    )
    later = [task for tasks in second for task in tasks]
    total = len(earlier) + len(later) + len(earlier)  # every submit, every decision

    for socket in admin_sockets:
        await socket.wait_for(lambda _, s=socket: len(data_events(s.events)) >= total)
    await asyncio.sleep(0.5)  # anything more (a duplicate) would arrive now
    for socket in admin_sockets:
        assert [e["seq"] for e in data_events(socket.events)] == list(range(1, total + 1))

    for (account, _), socket in zip(workers, worker_sockets, strict=True):
        own = [t for t in earlier + later if t["worker_id"] == account.id]
        expected = len(own) + sum(1 for t in earlier if t["worker_id"] == account.id)
        await socket.wait_for(lambda _, s=socket, n=expected: len(data_events(s.events)) >= n)
        seqs = [e["seq"] for e in data_events(socket.events)]
        assert seqs == sorted(set(seqs)), "strictly increasing"
        assert len(seqs) == expected
        assert {e["task"]["worker_id"] for e in data_events(socket.events)} == {account.id}
