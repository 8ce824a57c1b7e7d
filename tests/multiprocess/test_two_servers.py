"""Two server processes behind one Redis: events, decisions, resume and logout cross between them.

Contract: "The same event reaches every joined socket whichever server process it is connected
to, when the processes share `--redis-url`."
"""

from __future__ import annotations

import asyncio

import aiohttp

from tests.support import Api, LiveSocket, ServerProcess

from .cluster import Cluster, data_events, joined, submit


async def test_an_admin_on_a_sees_a_submit_on_b_and_the_decision_crosses_back(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    """A worker's submit on B reaches the admin joined on A; the admin's decision on A reaches
    the worker on B; another worker on A gets neither ("a worker never receives another worker's
    task")."""
    admin, worker, other = (
        cluster.register("admin", role="admin"),
        cluster.register("w"),
        cluster.register("w"),
    )
    scan = cluster.new_scan(admin)
    admin_on_a = await joined(opened, a, admin, scan)
    other_on_a = await joined(opened, a, other, scan)
    worker_on_b = await joined(opened, b, worker, scan)

    task = await submit(worker_on_b, scan, "from B")
    seen = await admin_on_a.wait_event("task:created", id=task["id"])
    assert seen["seq"] == task["seq"]
    assert seen["task"] == task

    ack = await admin_on_a.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    assert ack["ok"] is True, ack
    update = await worker_on_b.wait_event("task:updated", id=task["id"])
    assert update["task"]["status"] == "validated"
    assert update["seq"] == ack["task"]["seq"] == task["seq"] + 1
    await admin_on_a.wait_event("task:updated", id=task["id"])

    await other_on_a.quiet()
    assert data_events(other_on_a.events) == []


async def test_a_client_that_left_a_resumes_on_b_with_exactly_what_it_missed(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    """Contract: "With since_seq it answers `events`: every event after since_seq that this user
    may see, in order" — from whichever process the client reconnects to."""
    admin, worker = cluster.register("admin", role="admin"), cluster.register("w")
    scan = cluster.new_scan(admin)
    admin_on_a = await joined(opened, a, admin, scan)
    worker_on_b = await joined(opened, b, worker, scan)
    first = await submit(worker_on_b, scan, "seen on A")
    await admin_on_a.wait_event("task:created", id=first["id"])
    await admin_on_a.close()

    missed = [await submit(worker_on_b, scan, f"missed {i}") for i in range(3)]
    admin_on_b = await LiveSocket(b.base_url, admin.token).connect()
    opened.append(admin_on_b)
    ack = await admin_on_b.call("scan:join", {"scan_id": scan, "since_seq": first["seq"]})
    assert ack["ok"] is True, ack
    assert [e["task"]["id"] for e in ack["events"]] == [t["id"] for t in missed]
    assert [e["seq"] for e in ack["events"]] == [first["seq"] + i for i in (1, 2, 3)]

    after = await submit(worker_on_b, scan, "live on B")
    await admin_on_b.wait_event("task:created", id=after["id"])
    assert [e["seq"] for e in data_events(admin_on_b.events)] == [after["seq"]]


async def test_logout_on_a_disconnects_the_tokens_socket_on_b(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    """Contract: "POST /api/auth/logout ... that token is refused from then on, over HTTP and
    Socket.IO": its socket on the other process is disconnected, and cannot come back."""
    worker = cluster.register("w")
    bystander = cluster.register("w")
    on_b = await LiveSocket(b.base_url, worker.token).connect()
    other_on_b = await LiveSocket(b.base_url, bystander.token).connect()
    opened.extend([on_b, other_on_b])
    async with aiohttp.ClientSession() as session:
        reply = await Api(a.base_url, session).post("/api/auth/logout", token=worker.token)
    assert reply.status == 204, reply.text
    async with asyncio.timeout(10):
        await on_b.disconnected.wait()
    assert not on_b.connected
    refused = await LiveSocket(b.base_url, worker.token).refused()
    assert refused["code"] == "unauthorized"
    assert other_on_b.connected


def test_processes_report_their_redis_subscription_in_metrics(
    a: ServerProcess, b: ServerProcess
) -> None:
    """``/metrics`` of each process shows its Redis subscription up and its broker counters."""
    import urllib.request  # noqa: PLC0415

    for server in (a, b):
        with urllib.request.urlopen(server.url("/metrics"), timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        assert "taskstream_redis_connected 1.0" in text
        assert "taskstream_redis_publish_failures_total 0.0" in text
