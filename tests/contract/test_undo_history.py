"""Contract v2 §4.3 (undo) and §4.4 (history) on the real server, over HTTP and Socket.IO."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import (
    TEST_INVITE_CODE,
    Account,
    Api,
    Reply,
    call_sync,
    register_sync,
)

from .conftest import PROCESSES
from .helpers import SocketFactory, Users, assert_error, new_scan

PASSWORD = "undo window password"
INVITE = TEST_INVITE_CODE


async def _submit(api: Api, worker: Account, scan: str, content: str = "x") -> str:
    reply = await api.post(f"/api/scans/{scan}/tasks", {"content": content}, token=worker.token)
    assert reply.status == 201, reply.text
    return str(reply.body["task"]["id"])


async def _decide(api: Api, admin: Account, task: str, decision: str, reason: str = "") -> Reply:
    body = {"decision": decision, **({"reason": reason} if reason else {})}
    return await api.post(f"/api/tasks/{task}/decision", body, token=admin.token)


async def _undo(api: Api, who: Account, task: str) -> Reply:
    return await api.post(f"/api/tasks/{task}/undo", None, token=who.token)


async def test_undo_makes_the_task_pending_again_with_a_new_seq(
    api: Api, users: Users, scan_id: str
) -> None:
    """`POST /api/tasks/{id}/undo` → 200 {task}: pending, reason/decided_by/decided_at null,
    a new seq; counts and stats revert."""
    task_id = await _submit(api, users.worker, scan_id)
    decided = await _decide(api, users.admin, task_id, "refused", "no")
    assert decided.status == 200, decided.text
    reply = await _undo(api, users.admin, task_id)
    assert reply.status == 200, reply.text
    task = reply.body["task"]
    assert (task["status"], task["reason"], task["decided_by"], task["decided_at"]) == (
        "pending",
        None,
        None,
        None,
    )
    assert task["seq"] > decided.body["task"]["seq"]
    stats = await api.get(f"/api/scans/{scan_id}/stats", token=users.admin.token)
    assert (stats.body["pending"], stats.body["refused"]) == (1, 0), stats.body
    (reviewer,) = stats.body["reviewers"]
    assert (reviewer["admin_id"], reviewer["decided"], reviewer["undone"]) == (
        users.admin.id,
        0,
        1,
    )
    again = await _decide(api, users.admin, task_id, "validated")
    assert again.status == 200, again.text


async def test_undo_is_refused_with_the_contract_codes(
    api: Api, users: Users, scan_id: str
) -> None:
    """Another admin or a pending task: 409 conflict; a worker: 403; unknown task: 404."""
    task_id = await _submit(api, users.worker, scan_id)
    assert_error(await _undo(api, users.admin, task_id), 409, "conflict")  # still pending
    assert (await _decide(api, users.admin, task_id, "validated")).status == 200
    assert_error(await _undo(api, users.admin2, task_id), 409, "conflict")
    assert_error(await _undo(api, users.worker, task_id), 403, "forbidden")
    assert_error(await _undo(api, users.admin, "no-such-task"), 404, "not_found")
    assert_error(await api.post(f"/api/tasks/{task_id}/undo", None), 401, "unauthorized")


async def test_of_concurrent_undos_exactly_one_wins(api: Api, users: Users, scan_id: str) -> None:
    task_id = await _submit(api, users.worker, scan_id)
    assert (await _decide(api, users.admin, task_id, "validated")).status == 200
    replies = await asyncio.gather(*(_undo(api, users.admin, task_id) for _ in range(8)))
    assert sorted(r.status for r in replies) == [200] + [409] * 7, [r.text for r in replies]


async def test_history_lists_every_action_in_seq_order(
    api: Api, users: Users, scan_id: str
) -> None:
    """`GET /api/tasks/{id}/history` → {task_id, entries: [{seq, at, action, by, reason}]}."""
    task_id = await _submit(api, users.worker, scan_id)
    assert (await _decide(api, users.admin, task_id, "refused", "blurry")).status == 200
    assert (await _undo(api, users.admin, task_id)).status == 200
    # The undone task is claimed by the undoing admin (§4.3): another admin overrides it.
    overridden = await api.post(
        f"/api/tasks/{task_id}/decision",
        {"decision": "validated", "override": True},
        token=users.admin2.token,
    )
    assert overridden.status == 200, overridden.text
    reply = await api.get(f"/api/tasks/{task_id}/history", token=users.admin2.token)
    assert reply.status == 200, reply.text
    assert reply.body["task_id"] == task_id
    entries = reply.body["entries"]
    assert [(e["action"], e["by"]["user_id"], e["reason"]) for e in entries] == [
        ("created", users.worker.id, None),
        ("refused", users.admin.id, "blurry"),
        ("undone", users.admin.id, None),
        ("validated", users.admin2.id, None),
    ]
    assert [e["by"]["username"] for e in entries] == [
        users.worker.username,
        users.admin.username,
        users.admin.username,
        users.admin2.username,
    ]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert all(set(e) == {"seq", "at", "action", "by", "reason"} for e in entries)


async def test_a_worker_reads_the_history_of_its_own_tasks_only(
    api: Api, users: Users, scan_id: str
) -> None:
    task_id = await _submit(api, users.worker, scan_id)
    own = await api.get(f"/api/tasks/{task_id}/history", token=users.worker.token)
    assert own.status == 200, own.text
    other = await api.get(f"/api/tasks/{task_id}/history", token=users.worker2.token)
    assert_error(other, 403, "forbidden")  # as GET /api/tasks/{id} answers it
    missing = await api.get("/api/tasks/no-such-task/history", token=users.admin.token)
    assert_error(missing, 404, "not_found")


@pytest.mark.integrations("sanic")
async def test_task_undo_over_socketio_reaches_the_worker(
    api: Api, users: Users, sockets: SocketFactory
) -> None:
    """`task:undo` {task_id} → {ok, task}; a `task:updated` with a new seq goes wherever the
    decision's event went (the worker's socket); a worker emitting it gets `forbidden`."""
    scan = await new_scan(api, users.admin)
    admin = await sockets.joined(users.admin, scan)
    worker = await sockets.joined(users.worker, scan)
    task_id = await _submit(api, users.worker, scan)
    decided = await admin.call("task:decide", {"task_id": task_id, "decision": "validated"})
    assert decided["ok"] is True, decided
    ack = await admin.call("task:undo", {"task_id": task_id})
    assert ack["ok"] is True, ack
    assert ack["task"]["status"] == "pending"
    event = await worker.wait_event("task:updated", seq=ack["task"]["seq"])
    assert event["task"]["status"] == "pending"
    refused = await worker.call("task:undo", {"task_id": task_id})
    assert refused["ok"] is False
    assert refused["error"]["code"] == "forbidden"
    malformed = await admin.call("task:undo", {"task_id": 5})
    assert malformed["ok"] is False
    assert malformed["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("given_by", ["flag", "environment"])
@pytest.mark.parametrize(("seconds", "after"), [("0", 0.0), ("0.5", 1.0)])
def test_undo_seconds_sets_the_window(
    tmp_path: Path, integration: str, given_by: str, seconds: str, after: float
) -> None:
    """Contract: "server option `--undo-seconds`, env `TASKSTREAM_UNDO_SECONDS`, default 10; 0
    turns undo off": past the window, 409 conflict."""
    flag = ["--undo-seconds", seconds] if given_by == "flag" else []
    env = {"TASKSTREAM_UNDO_SECONDS": seconds} if given_by == "environment" else {}
    store = f"sqlite:///{tmp_path / 'undo.db'}"
    with PROCESSES[integration](store, args=flag, env=env, cwd=tmp_path) as server:
        url = server.base_url
        admin = register_sync(url, "undo-admin", PASSWORD, role="admin", invite_code=INVITE)
        worker = register_sync(url, "undo-worker", PASSWORD)
        _, scan = call_sync(url, "POST", "/api/scans", {"name": "s"}, admin.token)
        path = f"/api/scans/{scan['scan']['id']}/tasks"
        _, task = call_sync(url, "POST", path, {"content": "c"}, worker.token)
        task_id = task["task"]["id"]
        decided, _ = call_sync(
            url, "POST", f"/api/tasks/{task_id}/decision", {"decision": "validated"}, admin.token
        )
        assert decided == 200
        time.sleep(after)
        undone, body = call_sync(url, "POST", f"/api/tasks/{task_id}/undo", token=admin.token)
        assert (undone, body["error"]["code"]) == (409, "conflict"), body


@pytest.mark.parametrize("seconds", ["-1", "nan", "inf", "soon"])
def test_a_bad_undo_seconds_stops_the_start_with_a_message(tmp_path: Path, seconds: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskstream_server",
            "--store",
            "memory://",
            "--undo-seconds",
            seconds,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "--undo-seconds" in done.stderr, done.stderr
