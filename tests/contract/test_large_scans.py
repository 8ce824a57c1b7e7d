"""The contract's fixed sizes, checked at their edges: the default page size and what a join
snapshot holds (admins: pending plus 100 decided; workers: their 500 most recent), joined
over the server's live channel (Socket.IO or Server-Sent Events)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support import Account, Api

from .helpers import Join, Users


async def _submit_many(api: Api, worker: Account, scan: str, count: int) -> list[dict[str, Any]]:
    """``count`` tasks, stored in order (sequential batches of concurrent submissions)."""
    made: list[dict[str, Any]] = []
    for start in range(0, count, 25):
        batch = await asyncio.gather(
            *(
                api.post(f"/api/scans/{scan}/tasks", {"content": f"t{i}"}, token=worker.token)
                for i in range(start, min(count, start + 25))
            )
        )
        assert all(r.status == 201 for r in batch)
        made += sorted((r.body["task"] for r in batch), key=lambda t: t["seq"])
    return made


async def test_default_page_is_100_tasks(api: Api, users: Users, scan_id: str) -> None:
    """Contract: "`limit` 1–500 (default 100); `next_cursor` is null on the last page"."""
    made = await _submit_many(api, users.worker, scan_id, 101)
    first = await api.get(f"/api/scans/{scan_id}/tasks", token=users.admin.token)
    assert len(first.body["tasks"]) == 100
    assert first.body["next_cursor"] is not None
    rest = await api.get(
        f"/api/scans/{scan_id}/tasks",
        token=users.admin.token,
        params={"cursor": first.body["next_cursor"]},
    )
    assert [t["id"] for t in first.body["tasks"] + rest.body["tasks"]] == [t["id"] for t in made]
    assert rest.body["next_cursor"] is None


async def test_admin_snapshot_is_pending_plus_the_100_latest_decided(
    api: Api, join: Join, users: Users, scan_id: str
) -> None:
    """Contract: "admins: every pending task of the scan plus the 100 most recently decided",
    oldest first."""
    made = await _submit_many(api, users.worker, scan_id, 104)
    deciders = [users.admin, users.admin2]
    to_decide = made[:102]  # decided oldest first: the first two fall out of the snapshot
    for start in range(0, len(to_decide), 2):
        decided = await asyncio.gather(
            *(
                api.post(
                    f"/api/tasks/{t['id']}/decision",
                    {"decision": "validated"},
                    token=deciders[i].token,
                )
                for i, t in enumerate(to_decide[start : start + 2])
            )
        )
        assert all(r.status == 200 for r in decided)
    answer = await join(users.admin, scan_id)
    assert [t["id"] for t in answer["tasks"]] == [t["id"] for t in made[2:]]  # oldest first
    assert sum(t["status"] == "pending" for t in answer["tasks"]) == 2  # 100 decided + 2


async def test_worker_snapshot_is_its_500_latest_tasks(
    api: Api, join: Join, users: Users, scan_id: str
) -> None:
    """Contract: "workers: their own tasks, the 500 most recent", oldest first; "Older history
    is paged over HTTP"."""
    made = await _submit_many(api, users.worker2, scan_id, 502)
    await _submit_many(api, users.worker, scan_id, 3)
    answer = await join(users.worker2, scan_id)
    assert [t["id"] for t in answer["tasks"]] == [t["id"] for t in made[2:]]
    oldest = await api.get(
        f"/api/scans/{scan_id}/tasks", token=users.worker2.token, params={"limit": "2"}
    )
    assert [t["id"] for t in oldest.body["tasks"]] == [t["id"] for t in made[:2]]
