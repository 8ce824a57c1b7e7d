"""Claims (CONTRACT.md §4.2), checked over every broker's claim registry: memory and Redis.

Redis runs two TaskStream "processes" on one store and one channel prefix, as
the processes behind ``--redis-url`` do; the memory broker serves one process.
The registries themselves are checked too: each change of a task's claim takes
a higher version than the task's changes before it, on every process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from taskstream_core import Broker, Principal, Scan, ScanEvent, Task, TaskStream
from taskstream_core._claims import ClaimRegistry
from taskstream_core.brokers.memory import MemoryClaimRegistry
from taskstream_core.brokers.redis import RedisBroker
from taskstream_core.errors import AlreadyDecided, Conflict, InvalidRequest, NotFound
from taskstream_core.models import Claim, EventType, utc_now
from taskstream_core.testing import sign_up

from .adapters import BrokerAdapter
from .deployment import Deployment, join_as

#: Makes one more claim registry of a deployment (a process's), on a started broker.
RegistryFactory = Callable[[], Awaitable[ClaimRegistry]]


@pytest.fixture
async def deployment(broker_adapter: BrokerAdapter) -> AsyncIterator[Deployment]:
    """A deployment on the broker under test; its processes stop at the end."""
    made = Deployment(broker_adapter)
    yield made
    await made.stop()


@pytest.fixture
async def app(deployment: Deployment) -> TaskStream:
    """The deployment's first process."""
    return await deployment.start()


@pytest.fixture
async def ada(app: TaskStream) -> Principal:
    return await sign_up(app, "ada", "admin")


@pytest.fixture
async def bea(app: TaskStream) -> Principal:
    return await sign_up(app, "bea", "admin")


@pytest.fixture
async def wes(app: TaskStream) -> Principal:
    return await sign_up(app, "wes")


@pytest.fixture
async def scan(app: TaskStream, ada: Principal) -> Scan:
    return await app.create_scan(ada, "claims")


async def submit(app: TaskStream, worker: Principal, scan: Scan, n: int) -> list[Task]:
    return [(await app.submit_task(worker, scan.id, f"task {i}"))[0] for i in range(n)]


def claimed(task: Task, admin: Principal | None) -> Callable[[ScanEvent], bool]:
    """A check for the task:claimed of ``task`` held by ``admin`` (None: ended)."""

    def check(event: ScanEvent) -> bool:
        if event.type is not EventType.TASK_CLAIMED or event.task_id != task.id:
            return False
        holder = event.claim.admin_id if event.claim is not None else None
        return holder == (admin.user_id if admin is not None else None)

    return check


async def test_a_claim_lasts_claim_seconds_and_is_announced_to_admins_only(
    app: TaskStream, ada: Principal, wes: Principal, scan: Scan
) -> None:
    """claim_task answers the claim; joined admins get task:claimed, workers nothing."""
    (task,) = await submit(app, wes, scan, 1)
    watching = await join_as(app, ada, scan.id)
    worker_view = await join_as(app, wes, scan.id)
    before = utc_now()
    claim = await app.claim_task(ada, task.id)
    assert (claim.task_id, claim.admin_id, claim.admin_username) == (task.id, ada.user_id, "ada")
    assert before + timedelta(seconds=29) <= claim.expires_at <= utc_now() + timedelta(seconds=30)
    event = await watching.wait_for(claimed(task, ada))
    assert event.claim == claim
    assert event.to_envelope()["claim"] == claim.to_dict()
    await asyncio.sleep(0.2)
    assert worker_view.of(EventType.TASK_CLAIMED) == []
    assert await app.list_claims(ada, scan.id) == [claim]
    watching.close()
    worker_view.close()


async def test_another_admin_gets_a_conflict_carrying_the_claim(
    app: TaskStream, ada: Principal, bea: Principal, wes: Principal, scan: Scan
) -> None:
    """A task held by another admin is a conflict with error.claim; the holder renews it."""
    (task,) = await submit(app, wes, scan, 1)
    first = await app.claim_task(ada, task.id)
    with pytest.raises(Conflict) as refused:
        await app.claim_task(bea, task.id)
    assert refused.value.claim == first
    assert refused.value.to_dict()["error"]["claim"] == first.to_dict()
    await asyncio.sleep(0.01)
    again = await app.claim_task(ada, task.id)
    assert again.expires_at >= first.expires_at
    assert await app.list_claims(ada, scan.id) == [again]


async def test_claiming_a_decided_or_unknown_task_fails_with_the_contracts_codes(
    app: TaskStream, ada: Principal, wes: Principal, scan: Scan
) -> None:
    """A decided task is already_decided (with the task); an unknown one not_found."""
    (task,) = await submit(app, wes, scan, 1)
    decided = await app.decide_task(ada, task.id, "validated")
    with pytest.raises(AlreadyDecided) as late:
        await app.claim_task(ada, task.id)
    assert late.value.task == decided
    with pytest.raises(NotFound):
        await app.claim_task(ada, "no-such-task")
    with pytest.raises(NotFound):
        await app.release_task(ada, "no-such-task")
    with pytest.raises(InvalidRequest):
        await app.claim_task(ada, 12)


async def test_one_claim_per_scan_claiming_another_task_releases_the_first(
    app: TaskStream, ada: Principal, wes: Principal, scan: Scan
) -> None:
    """Claiming a second task of the scan ends the first claim, and both changes are announced."""
    one, two = await submit(app, wes, scan, 2)
    watching = await join_as(app, ada, scan.id)
    await app.claim_task(ada, one.id)
    await app.claim_task(ada, two.id)
    await watching.wait_for(claimed(one, None))
    await watching.wait_for(claimed(two, ada))
    assert [c.task_id for c in await app.list_claims(ada, scan.id)] == [two.id]
    watching.close()


async def test_release_is_a_no_op_unless_the_caller_holds_the_claim(
    app: TaskStream, ada: Principal, bea: Principal, wes: Principal, scan: Scan
) -> None:
    """Another admin's release changes nothing; the holder's ends the claim, announced."""
    (task,) = await submit(app, wes, scan, 1)
    watching = await join_as(app, bea, scan.id)
    claim = await app.claim_task(ada, task.id)
    await app.release_task(bea, task.id)
    assert await app.list_claims(ada, scan.id) == [claim]
    await app.release_task(ada, task.id)
    assert await app.list_claims(ada, scan.id) == []
    await watching.wait_for(claimed(task, None))
    await app.release_task(ada, task.id)  # nothing held: still fine
    watching.close()


async def test_claim_next_hands_out_the_oldest_free_task_after_a_position(
    app: TaskStream, ada: Principal, bea: Principal, wes: Principal, scan: Scan
) -> None:
    """claim_next skips other admins' tasks, counts the caller's own, and never wraps around."""
    one, two, three = await submit(app, wes, scan, 3)
    await app.claim_task(bea, one.id)
    task, claim = await app.claim_next(ada, scan.id)
    assert task is not None
    assert claim is not None
    assert (task.id, claim.task_id, claim.admin_id) == (two.id, two.id, ada.user_id)
    again, renewed = await app.claim_next(ada, scan.id)  # its own claim qualifies
    assert again == task
    assert renewed is not None
    assert renewed.task_id == two.id
    later, moved = await app.claim_next(ada, scan.id, after_task_id=two.id)
    assert later is not None
    assert later.id == three.id
    assert moved is not None
    assert await app.claim_next(ada, scan.id, after_task_id=three.id) == (None, None)
    assert {c.task_id: c.admin_id for c in await app.list_claims(ada, scan.id)} == {
        one.id: bea.user_id,
        three.id: ada.user_id,
    }
    with pytest.raises(NotFound):
        await app.claim_next(ada, scan.id, after_task_id="no-such-task")
    other = await app.create_scan(ada, "other")
    with pytest.raises(InvalidRequest):
        await app.claim_next(ada, other.id, after_task_id=one.id)
    assert await app.claim_next(ada, other.id) == (None, None)


async def test_deciding_another_admins_task_needs_override_and_ends_the_claim(
    app: TaskStream, ada: Principal, bea: Principal, wes: Principal, scan: Scan
) -> None:
    """A conflict with error.claim, unless override; the decision ends the claim (claim null)."""
    one, two = await submit(app, wes, scan, 2)
    watching = await join_as(app, ada, scan.id)
    held = await app.claim_task(ada, one.id)
    with pytest.raises(Conflict) as refused:
        await app.decide_task(bea, one.id, "validated")
    assert refused.value.claim == held
    with pytest.raises(InvalidRequest):
        await app.decide_task(bea, one.id, "validated", override="yes")  # type: ignore[arg-type]
    assert (await app.get_task(ada, one.id)).is_pending
    decided = await app.decide_task(bea, one.id, "refused", "dup", override=True)
    assert decided.decided_by == bea.user_id
    await watching.wait_for(claimed(one, None))
    await app.claim_task(ada, two.id)
    await app.decide_task(ada, two.id, "validated")  # the holder decides as in v1
    await watching.wait_for(claimed(two, None))
    assert await app.list_claims(ada, scan.id) == []
    watching.close()


async def test_an_admins_snapshot_carries_the_live_claims(
    app: TaskStream, ada: Principal, bea: Principal, wes: Principal, scan: Scan
) -> None:
    """scan:join's snapshot has claims for admins; a resume and a worker's snapshot have none."""
    (task,) = await submit(app, wes, scan, 1)
    claim = await app.claim_task(ada, task.id)
    snapshot = await app.join(bea, scan.id)
    assert snapshot.claims == [claim]
    assert snapshot.to_dict()["claims"] == [claim.to_dict()]
    assert (await app.join(bea, scan.id, since_seq=0)).claims is None
    assert "claims" not in (await app.join(wes, scan.id)).to_dict()


async def test_an_expired_claim_is_announced_once_and_frees_the_task(
    deployment: Deployment, app: TaskStream, ada: Principal, bea: Principal, wes: Principal
) -> None:
    """Past expires_at the claim is gone, and every admin gets one task:claimed null within 1 s,
    even with two processes sweeping."""
    app.claim_seconds = 0.4
    others = [app]
    if deployment.shared:
        others.append(await deployment.start(claim_seconds=0.4))
    scan = await app.create_scan(ada, "expiry")
    (task,) = await submit(app, wes, scan, 1)
    watchers = [await join_as(process, bea, scan.id) for process in others]
    claim = await app.claim_task(ada, task.id)
    for watcher in watchers:
        event = await watcher.wait_for(claimed(task, None), 3)
        taken = next(t for t, e in watcher.got if e.claim == claim)
        assert watcher.arrival(event) - taken <= 0.4 + 1.0
    await asyncio.sleep(0.6)  # every sweep of both processes ran again meanwhile
    for watcher in watchers:
        ends = [e for e in watcher.of(EventType.TASK_CLAIMED) if e.claim is None]
        assert len(ends) == 1
        watcher.close()
    assert await app.list_claims(bea, scan.id) == []
    assert (await app.claim_task(bea, task.id)).admin_id == bea.user_id


async def test_concurrent_claims_on_every_process_never_make_two_holders(
    deployment: Deployment, app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """Of many admins claiming one task at once, on both processes, exactly one wins; the
    others get a conflict naming the winner."""
    processes = [app, await deployment.start()] if deployment.shared else [app]
    admins = [await sign_up(app, f"admin{i}", "admin") for i in range(12)]
    scan = await app.create_scan(ada, "race")
    (task,) = await submit(app, wes, scan, 1)
    results = await asyncio.gather(
        *(processes[i % len(processes)].claim_task(a, task.id) for i, a in enumerate(admins)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, Claim)]
    lost = [r for r in results if isinstance(r, Conflict)]
    assert len(won) == 1
    assert len(lost) == len(admins) - 1
    assert all(c.claim == won[0] for c in lost)
    assert await app.list_claims(ada, scan.id) == won


async def test_concurrent_claim_next_hands_out_different_tasks(
    deployment: Deployment, app: TaskStream, ada: Principal, wes: Principal
) -> None:
    """Many claim_next at once, spread over both processes: each gets a different task, the
    oldest ones, and each task has one holder."""
    processes = [app, await deployment.start()] if deployment.shared else [app]
    admins = [await sign_up(app, f"reviewer{i}", "admin") for i in range(20)]
    scan = await app.create_scan(ada, "queue")
    tasks = await submit(app, wes, scan, 30)
    answers = await asyncio.gather(
        *(processes[i % len(processes)].claim_next(a, scan.id) for i, a in enumerate(admins))
    )
    handed = [task.id for task, _ in answers if task is not None]
    assert len(handed) == len(admins) == len(set(handed))
    assert set(handed) == {t.id for t in tasks[: len(admins)]}
    claims = await app.list_claims(ada, scan.id)
    assert sorted(c.task_id for c in claims) == sorted(handed)
    assert len({c.admin_id for c in claims}) == len(admins)
    assert all(claim is not None and claim.task_id == task.id for task, claim in answers if task)


async def test_a_claim_changed_after_the_version_key_is_lost_still_reaches_the_admins(
    deployment: Deployment, app: TaskStream, ada: Principal, bea: Principal, wes: Principal
) -> None:
    """Redis: with only ``<prefix>:claims:version`` gone (evicted, deleted, or a Redis
    restarted without persistence), the next changes of a task's claim still take versions
    above the task's earlier ones, so the admins watching it on every process get them."""
    broker = app.broker
    if not isinstance(broker, RedisBroker):
        pytest.skip("the version counter is a Redis key")
    other = await deployment.start()
    scan = await app.create_scan(ada, "lost version")
    (task,) = await submit(app, wes, scan, 1)
    watchers = [await join_as(process, bea, scan.id) for process in (app, other)]
    await app.claim_task(ada, task.id)
    await app.release_task(ada, task.id)
    released = [await watcher.wait_for(claimed(task, None)) for watcher in watchers]
    assert await broker.redis.delete(f"{broker.prefix}:claims:version") == 1
    since = asyncio.get_running_loop().time()
    claim = await app.claim_task(ada, task.id)
    for watcher, before in zip(watchers, released, strict=True):
        event = await watcher.wait_for(claimed(task, ada), after=since)
        assert event.claim == claim
        assert event.claim_version > before.claim_version
    await app.release_task(ada, task.id)  # the counter goes on from the new start
    for watcher in watchers:
        await watcher.wait_for(claimed(task, None), after=since)
        watcher.close()


# -- the registries' versions ----------------------------------------------------------------


@pytest.fixture
async def registries(broker_adapter: BrokerAdapter) -> AsyncIterator[RegistryFactory]:
    """Makes the claim registries of one deployment: a process's each, as ``TaskStream`` takes
    them from its broker (a memory broker offers none: one registry of its own)."""
    make_broker = broker_adapter.peers() if broker_adapter.peers else broker_adapter.make
    started: list[Broker] = []
    made: list[ClaimRegistry] = []

    async def make() -> ClaimRegistry:
        if made and broker_adapter.peers is None:
            pytest.skip("an in-process registry serves one process only")
        broker = make_broker()
        await broker.start()
        started.append(broker)
        offered = getattr(broker, "claim_registry", None)
        registry = offered() if callable(offered) else MemoryClaimRegistry()
        assert isinstance(registry, ClaimRegistry)
        made.append(registry)
        return registry

    yield make
    for broker in reversed(started):
        await broker.stop()


def wanted(task_id: str, admin: str = "ada", scan_id: str = "s1", seconds: float = 30) -> Claim:
    return Claim(task_id, scan_id, f"{admin}-id", admin, utc_now() + timedelta(seconds=seconds))


async def test_each_change_of_a_claim_takes_a_higher_version(
    registries: RegistryFactory,
) -> None:
    """Take, renew, move away, release, end, expire: each change answers a version above
    every earlier one, and version() reads the latest; a refusal changes nothing."""
    registry = await registries()
    start = await registry.version()
    now = utc_now()
    taken = await registry.claim(wanted("t1"), now)
    assert taken.claim is not None
    assert taken.version > start
    assert taken.released is None
    assert taken.released_version == 0
    renewed = await registry.claim(wanted("t1"), now)
    assert renewed.version > taken.version
    refused = await registry.claim(wanted("t1", "bea"), now)
    assert refused.held is not None
    assert (refused.version, refused.released_version) == (0, 0)
    assert await registry.version() == renewed.version
    moved = await registry.claim_first(["t1", "t2"], wanted("", "bea"), now)
    assert moved is not None
    assert moved.claim is not None
    assert moved.claim.task_id == "t2"
    away = await registry.claim(wanted("t3", "bea"), now)  # ends bea's claim on t2
    assert away.released == moved.claim
    assert moved.version < away.released_version < away.version
    released = await registry.release("t1", "ada-id")
    assert released is not None
    assert released.claim == renewed.claim
    assert released.version > away.version
    ended = await registry.end("t3")
    assert ended is not None
    assert ended.claim == away.claim
    assert ended.version > released.version
    assert await registry.release("t1", "ada-id") is None
    assert await registry.end("t3") is None
    assert await registry.version() == ended.version
    short = await registry.claim(wanted("t4", seconds=0.01), now)
    (expired,) = await registry.expire(utc_now() + timedelta(seconds=1))
    assert expired.claim == short.claim
    assert expired.version > short.version
    assert await registry.version() == expired.version


async def test_a_tasks_versions_keep_rising_after_its_claim_is_gone(
    registries: RegistryFactory,
) -> None:
    """A claim taken again after its release, or after it expired and was swept, takes a
    version above those of the claim before it: versions outlive the claims."""
    registry = await registries()
    now = utc_now()
    first = await registry.claim(wanted("t1", seconds=0.01), now)
    (expired,) = await registry.expire(utc_now() + timedelta(seconds=1))
    second = await registry.claim(wanted("t1", "bea"), utc_now())
    assert first.version < expired.version < second.version
    released = await registry.release("t1", "bea-id")
    assert released is not None
    third = await registry.claim(wanted("t1"), utc_now())
    assert second.version < released.version < third.version


async def test_the_processes_share_one_order_of_versions(registries: RegistryFactory) -> None:
    """Changes made through the registries of several processes, at once too, each take a
    different version, rising with each change a task's claim goes through."""
    first, second = await registries(), await registries()
    now = utc_now()
    one = await first.claim(wanted("t1"), now)
    two = await second.claim(wanted("t2"), now)  # moves ada's claim away from t1
    assert two.released == one.claim
    assert one.version < two.released_version < two.version
    assert await first.version() == await second.version() == two.version
    outcomes = await asyncio.gather(
        *((first, second)[n % 2].claim(wanted(f"u{n}", f"admin{n}"), now) for n in range(20))
    )
    versions = [o.version for o in outcomes]
    assert len(set(versions)) == len(versions)
    assert min(versions) > two.version
    assert await first.version() == max(versions)
