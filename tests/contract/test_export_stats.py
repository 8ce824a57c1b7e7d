"""CONTRACT.md §2, the admin's read-outs: stats and export."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from tests.support import Api
from tests.support.shapes import REVIEWER_KEYS, STATS_KEYS, TASK_FIELDS, TASK_KEYS

from .helpers import Users


async def _fill(api: Api, users: Users, scan_id: str) -> list[dict[str, object]]:
    """Three tasks from worker, one from worker2; one validated, one refused."""
    tasks = []
    for worker, content in (
        (users.worker, "first, with a comma"),
        (users.worker, 'second "quoted"'),
        (users.worker2, "third\nmultiline"),
        (users.worker, "fourth"),
    ):
        reply = await api.post(
            f"/api/scans/{scan_id}/tasks", {"content": content}, token=worker.token
        )
        tasks.append(reply.body["task"])
    for task, decision in ((tasks[0], "validated"), (tasks[2], "refused")):
        reply = await api.post(
            f"/api/tasks/{task['id']}/decision",
            {"decision": decision, "reason": "because"},
            token=users.admin.token,
        )
        assert reply.status == 200
    return tasks


async def test_stats_of_an_empty_scan(api: Api, users: Users, scan_id: str) -> None:
    """Stats object: "acceptance_rate ... null when none decided", percentiles "(null when none
    decided)"; v2 §4.5: "oldest_pending_at" (null when nothing is pending), no reviewers."""
    reply = await api.get(f"/api/scans/{scan_id}/stats", token=users.admin.token)
    assert reply.status == 200
    assert reply.body == {
        "scan_id": scan_id,
        "total": 0,
        "pending": 0,
        "validated": 0,
        "refused": 0,
        "acceptance_rate": None,
        "submissions_last_minute": 0,
        "decision_seconds_p50": None,
        "decision_seconds_p95": None,
        "workers": [],
        "decisions_last_minute": 0,
        "oldest_pending_at": None,
        "reviewers": [],
    }


async def test_stats_shape_and_values(api: Api, users: Users, scan_id: str) -> None:
    """`GET /api/scans/{id}/stats | admin | → 200 stats`: counts, "acceptance_rate (validated /
    (validated + refused))", "submissions_last_minute", percentiles and per-worker rows."""
    await _fill(api, users, scan_id)
    stats = (await api.get(f"/api/scans/{scan_id}/stats", token=users.admin.token)).body
    assert set(stats) == STATS_KEYS
    assert stats["scan_id"] == scan_id
    assert (stats["total"], stats["pending"], stats["validated"], stats["refused"]) == (4, 2, 1, 1)
    assert stats["acceptance_rate"] == pytest.approx(0.5)
    assert stats["submissions_last_minute"] == 4
    assert isinstance(stats["decision_seconds_p50"], float | int)
    assert 0 <= stats["decision_seconds_p50"] <= stats["decision_seconds_p95"] < 60
    rows = {w["worker_id"]: w for w in stats["workers"]}
    assert rows[users.worker.id] == {
        "worker_id": users.worker.id,
        "username": users.worker.username,
        "submitted": 3,
        "pending": 2,
        "validated": 1,
        "refused": 0,
    }
    assert rows[users.worker2.id] == {
        "worker_id": users.worker2.id,
        "username": users.worker2.username,
        "submitted": 1,
        "pending": 0,
        "validated": 0,
        "refused": 1,
    }


async def test_stats_v2_additions(api: Api, users: Users, scan_id: str) -> None:
    """v2 §4.5: "decisions_last_minute", "oldest_pending_at" and "reviewers": [{"admin_id",
    "username", "decided", "validated", "refused", "undone", "decision_seconds_p50"}]."""
    tasks = await _fill(api, users, scan_id)
    stats = (await api.get(f"/api/scans/{scan_id}/stats", token=users.admin.token)).body
    assert stats["decisions_last_minute"] == 2
    assert stats["oldest_pending_at"] == tasks[1]["created_at"]
    [reviewer] = stats["reviewers"]
    assert set(reviewer) == REVIEWER_KEYS
    assert {k: v for k, v in reviewer.items() if k != "decision_seconds_p50"} == {
        "admin_id": users.admin.id,
        "username": users.admin.username,
        "decided": 2,
        "validated": 1,
        "refused": 1,
        "undone": 0,
    }
    assert 0 <= reviewer["decision_seconds_p50"] < 60


async def test_export_csv_has_a_header_and_a_row_per_task(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "Export answers with `Content-Disposition: attachment`; CSV has a header row and
    one row per task with the Task object's fields as columns"."""
    tasks = await _fill(api, users, scan_id)
    reply = await api.get(
        f"/api/scans/{scan_id}/export", token=users.admin.token, params={"format": "csv"}
    )
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = reply.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="scan-{scan_id}.csv"'
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == list(TASK_FIELDS)
    assert len(rows) == 1 + len(tasks)
    by_id = {row[0]: dict(zip(TASK_FIELDS, row, strict=True)) for row in rows[1:]}
    for task in tasks:
        row = by_id[str(task["id"])]
        assert row["content"] == task["content"]
        assert row["worker_username"] in (users.worker.username, users.worker2.username)
    assert by_id[str(tasks[0]["id"])]["status"] == "validated"
    assert by_id[str(tasks[1]["id"])]["reason"] == ""  # null is an empty cell


async def test_export_json_is_scan_and_tasks_and_the_default(
    api: Api, users: Users, scan_id: str
) -> None:
    """Contract: "JSON is `{"scan", "tasks"}`. Without `format`, JSON" — also an attachment."""
    tasks = await _fill(api, users, scan_id)
    explicit, default = await asyncio.gather(
        api.get(f"/api/scans/{scan_id}/export", token=users.admin.token, params={"format": "json"}),
        api.get(f"/api/scans/{scan_id}/export", token=users.admin.token),
    )
    for reply in (explicit, default):
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("application/json")
        disposition = reply.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="scan-{scan_id}.json"'
        assert set(reply.body) == {"scan", "tasks"}
        assert reply.body["scan"]["id"] == scan_id
        assert [t["id"] for t in reply.body["tasks"]] == [t["id"] for t in tasks]
        assert set(reply.body["tasks"][0]) == TASK_KEYS


async def test_export_with_an_unknown_format_is_400(api: Api, users: Users, scan_id: str) -> None:
    """`?format=csv|json`: anything else is 400 `invalid_request`."""
    reply = await api.get(
        f"/api/scans/{scan_id}/export", token=users.admin.token, params={"format": "xlsx"}
    )
    assert reply.status == 400
    assert reply.error_code == "invalid_request"
