"""The Python client's calls and notices of contract v2 §4.1 (presence) and §4.2 (claims)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from taskstream_core import ScanEvent
from taskstream_core.client import ClaimedTask, TaskStreamClient
from taskstream_core.errors import AlreadyDecided, Conflict, Forbidden, NotFound
from taskstream_core.models import EventType, Role, TaskStatus
from tests.client.helpers import PASSWORD, next_notice, unique_name
from tests.support import TEST_INVITE_CODE, ServerProcess

pytestmark = pytest.mark.contract


@pytest.fixture
async def admin2(server: ServerProcess) -> AsyncIterator[TaskStreamClient]:
    """A second connected admin."""
    client = await TaskStreamClient.register(
        server.base_url, unique_name("admin"), PASSWORD, role="admin", invite_code=TEST_INVITE_CODE
    )
    async with client:
        yield client


async def test_claim_conflict_names_the_holder_and_its_scan(
    admin: TaskStreamClient, admin2: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client claims")
    task = await worker.submit(scan.id, "a cracked tile")
    claim = await admin.claim(task.id)
    assert admin.user is not None
    assert (claim.task_id, claim.scan_id, claim.admin_id) == (task.id, scan.id, admin.user.id)
    renewed = await admin.claim(task.id)
    assert renewed.expires_at >= claim.expires_at
    with pytest.raises(Conflict) as held:
        await admin2.claim(task.id)  # admin2 never saw the task: the client reads its scan
    assert held.value.claim is not None
    assert (held.value.claim.admin_username, held.value.claim.scan_id) == (
        admin.user.username,
        scan.id,
    )
    with pytest.raises(Conflict) as deciding:
        await admin2.decide(task.id, "validated")
    assert deciding.value.claim is not None
    assert deciding.value.claim.admin_id == admin.user.id
    decided = await admin2.decide(task.id, "validated", override=True)
    assert decided.status is TaskStatus.VALIDATED
    with pytest.raises(AlreadyDecided):
        await admin.claim(task.id)


async def test_release_lets_another_admin_claim(
    admin: TaskStreamClient, admin2: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client release")
    task = await worker.submit(scan.id, "a dripping tap")
    await admin.claim(task.id)
    await admin2.release(task.id)  # not the holder: a no-op
    with pytest.raises(Conflict):
        await admin2.claim(task.id)
    await admin.release(task.id)
    assert admin2.user is not None
    assert (await admin2.claim(task.id)).admin_id == admin2.user.id
    with pytest.raises(NotFound):
        await admin.release("no-such-task")


async def test_claim_next_hands_out_different_tasks_then_none(
    admin: TaskStreamClient, admin2: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client claim next")
    tasks = [await worker.submit(scan.id, f"task {i}") for i in range(3)]
    first, second = await asyncio.gather(admin.claim_next(scan.id), admin2.claim_next(scan.id))
    assert isinstance(first, ClaimedTask)
    assert isinstance(second, ClaimedTask)
    assert {first.task.id, second.task.id} == {tasks[0].id, tasks[1].id}
    assert first.claim.scan_id == scan.id
    assert first.claim.task_id == first.task.id
    after = await admin.claim_next(scan.id, after_task_id=tasks[1].id)
    assert after is not None
    assert after.task.id == tasks[2].id
    assert await admin.claim_next(scan.id, after_task_id=tasks[2].id) is None


async def test_workers_cannot_claim(admin: TaskStreamClient, worker: TaskStreamClient) -> None:
    scan = await admin.create_scan("client worker claims")
    task = await worker.submit(scan.id, "mine")
    with pytest.raises(Forbidden):
        await worker.claim(task.id)
    with pytest.raises(Forbidden):
        await worker.claim_next(scan.id)
    with pytest.raises(Forbidden):
        await worker.presence(scan.id)


async def test_join_answers_carry_presence_and_claims_and_notices_arrive_typed(
    admin: TaskStreamClient, admin2: TaskStreamClient, worker: TaskStreamClient
) -> None:
    scan = await admin.create_scan("client notices")
    task = await worker.submit(scan.id, "a broken window")
    await admin2.claim(task.id)
    snapshot = await admin.join(scan.id)
    assert admin.user is not None
    assert admin2.user is not None
    assert [c.admin_id for c in snapshot.claims] == [admin2.user.id]
    assert snapshot.presence is not None
    assert snapshot.presence.detailed
    assert [(u.user_id, u.role) for u in snapshot.presence.present] == [(admin.user.id, Role.ADMIN)]
    seen = await worker.join(scan.id)
    assert seen.claims == ()
    assert seen.presence is not None
    assert not seen.presence.detailed
    assert (seen.presence.reviewers, seen.presence.submitters) == (1, 1)

    both = await next_notice(
        admin,
        EventType.SCAN_PRESENCE,
        lambda e: e.presence is not None and e.presence.submitters > 0,
    )
    assert both.seq == 0
    assert both.presence is not None
    assert worker.user is not None
    assert {u.username for u in both.presence.present} == {
        admin.user.username,
        worker.user.username,
    }

    await admin2.release(task.id)
    released = await next_notice(admin, EventType.TASK_CLAIMED)
    assert (released.task_id, released.claim) == (task.id, None)
    mine = await admin.claim(task.id)
    claimed = await next_notice(admin, EventType.TASK_CLAIMED, lambda e: e.claim is not None)
    assert claimed.claim == mine

    now = await admin.presence(scan.id)
    assert (now.reviewers, now.submitters) == (1, 1)
    await worker.leave(scan.id)
    gone = await next_notice(
        admin,
        EventType.SCAN_PRESENCE,
        lambda e: e.presence is not None and not e.presence.submitters,
    )
    assert isinstance(gone, ScanEvent)
