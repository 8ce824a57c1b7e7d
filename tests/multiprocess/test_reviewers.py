"""Contract v2 §4 across two server processes sharing one Redis: claims, presence, undo.

Contract: "Exactly one wins: of any number of concurrent `task:claim` / `task:claim_next`
calls, on one or several server processes, each pending task is held by at most one admin";
"'Present' = has at least one socket joined to the scan, on any server process sharing
`--redis-url`"; an undo's `task:updated` "goes wherever the decision's event went".
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import LiveSocket, ServerProcess

from .cluster import Cluster, joined, submit


def _presence(item: Any, reviewers: int, submitters: int) -> bool:
    return item.type == "scan:presence" and (item.data["reviewers"], item.data["submitters"]) == (
        reviewers,
        submitters,
    )


async def test_one_claim_wins_across_processes_and_the_notice_crosses(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    first, second, worker = (
        cluster.register("admin", role="admin"),
        cluster.register("admin", role="admin"),
        cluster.register("w"),
    )
    scan = cluster.new_scan(first)
    on_a = await joined(opened, a, first, scan)
    on_b = await joined(opened, b, second, scan)
    worker_on_b = await joined(opened, b, worker, scan)
    task = await submit(worker_on_b, scan, "one holder")

    acks = await asyncio.gather(
        on_a.call("task:claim", {"task_id": task["id"]}),
        on_b.call("task:claim", {"task_id": task["id"]}),
    )
    winners = [ack for ack in acks if ack["ok"]]
    losers = [ack for ack in acks if not ack["ok"]]
    assert len(winners) == 1, acks
    assert losers[0]["error"]["code"] == "conflict"
    assert losers[0]["error"]["claim"] == winners[0]["claim"]
    holder = winners[0]["claim"]["admin_id"]
    for socket in (on_a, on_b):  # each process tells its own admins
        seen = await socket.wait_for(
            lambda item: item.type == "task:claimed" and item.data["claim"] is not None
        )
        assert seen.data == {
            "type": "task:claimed",
            "scan_id": scan,
            "task_id": task["id"],
            "claim": winners[0]["claim"],
        }
    assert worker_on_b.received("task:claimed") == []

    other = on_b if holder == first.id else on_a
    refused = await other.call("task:decide", {"task_id": task["id"], "decision": "validated"})
    assert refused["error"]["code"] == "conflict", refused
    overridden = await other.call(
        "task:decide", {"task_id": task["id"], "decision": "refused", "override": True}
    )
    assert overridden["ok"] is True, overridden
    ended = await on_a.wait_for(
        lambda item: item.type == "task:claimed" and item.data["claim"] is None
    )
    assert ended.data["task_id"] == task["id"]


async def test_concurrent_claim_next_on_both_processes_hands_out_different_tasks(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    admins = [cluster.register("admin", role="admin") for _ in range(6)]
    worker = cluster.register("w")
    scan = cluster.new_scan(admins[0])
    worker_on_a = await joined(opened, a, worker, scan)
    tasks = [await submit(worker_on_a, scan, f"task {i}") for i in range(8)]
    sockets = [await joined(opened, (a, b)[i % 2], admin, scan) for i, admin in enumerate(admins)]
    acks = await asyncio.gather(*(s.call("task:claim_next", {"scan_id": scan}) for s in sockets))
    assert all(ack["ok"] for ack in acks), acks
    handed = [ack["task"]["id"] for ack in acks]
    assert len(set(handed)) == len(admins), handed
    assert set(handed) == {t["id"] for t in tasks[: len(admins)]}
    for ack, admin in zip(acks, admins, strict=True):
        assert ack["claim"]["admin_id"] == admin.id
        assert ack["claim"]["task_id"] == ack["task"]["id"]


async def test_presence_counts_users_on_both_processes_and_drops_the_one_who_leaves(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    admin, worker = cluster.register("admin", role="admin"), cluster.register("w")
    scan = cluster.new_scan(admin)
    admin_on_a = await joined(opened, a, admin, scan)
    worker_on_b = await joined(opened, b, worker, scan)
    second_worker_socket = await joined(opened, a, worker, scan)  # the same user, counted once

    both = await admin_on_a.wait_for(lambda item: _presence(item, 1, 1))
    assert {(p["user_id"], p["role"]) for p in both.data["present"]} == {
        (admin.id, "admin"),
        (worker.id, "worker"),
    }
    counts = await worker_on_b.wait_for(lambda item: _presence(item, 1, 1))
    assert set(counts.data) == {"type", "scan_id", "reviewers", "submitters"}

    await worker_on_b.close()
    await second_worker_socket.call("scan:leave", {"scan_id": scan})
    gone = await admin_on_a.wait_for(lambda item: _presence(item, 1, 0))
    assert [p["user_id"] for p in gone.data["present"]] == [admin.id]


async def test_an_undo_on_b_reaches_the_worker_on_a_with_a_new_seq(
    cluster: Cluster, a: ServerProcess, b: ServerProcess, opened: list[LiveSocket]
) -> None:
    admin, worker = cluster.register("admin", role="admin"), cluster.register("w")
    scan = cluster.new_scan(admin)
    worker_on_a = await joined(opened, a, worker, scan)
    admin_on_b = await joined(opened, b, admin, scan)
    task = await submit(worker_on_a, scan, "undo me")
    decided = await admin_on_b.call("task:decide", {"task_id": task["id"], "decision": "refused"})
    assert decided["ok"] is True, decided
    undone = await admin_on_b.call("task:undo", {"task_id": task["id"]})
    assert undone["ok"] is True, undone
    assert undone["task"]["status"] == "pending"
    assert undone["task"]["seq"] == decided["task"]["seq"] + 1

    seen = await worker_on_a.wait_for(
        lambda item: (
            item.type == "task:updated"
            and item.data["task"]["id"] == task["id"]
            and item.data["task"]["status"] == "pending"
        )
    )
    assert seen.data["seq"] == undone["task"]["seq"]
    claimed = await admin_on_b.wait_for(
        lambda item: item.type == "task:claimed" and item.data["claim"] is not None
    )
    assert claimed.data["claim"]["admin_id"] == admin.id
