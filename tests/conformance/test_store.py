"""The ``Store`` conformance suite: each behaviour checked once, run against every adapter."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from taskstream_core import Role, ScanEvent, Store, Task
from taskstream_core.errors import AlreadyDecided, Conflict, NotFound, ScanClosed, Unauthorized
from taskstream_core.models import EventType, ScanCounts, ScanStatus, TaskStatus, utc_now

from .adapters import StoreAdapter
from .conftest import StoreFactory
from .factories import T0, at, make_scan, make_user, new_task


async def all_tasks(store: Store, scan_id: str, *, page: int = 100) -> list[Task]:
    """Every task of a scan, read page by page, oldest first."""
    found: list[Task] = []
    after = 0
    while True:
        batch = await store.list_tasks(scan_id, after=after, limit=page)
        found.extend(batch)
        if len(batch) < page:
            return found
        after = batch[-1].created_seq


async def open_scan(store: Store, name: str = "scan") -> str:
    scan = make_scan(name)
    await store.create_scan(scan)
    return scan.id


async def submit(
    store: Store,
    scan_id: str,
    worker: str = "w1",
    *,
    key: str | None = None,
    created_at: datetime = T0,
    content: str | None = None,
    username: str | None = None,
) -> Task:
    """Store a new submission and return it, checking that it made an event."""
    draft = new_task(
        scan_id, worker, key=key, created_at=created_at, content=content, username=username
    )
    task, event = await store.create_task(draft)
    assert event is not None
    return task


async def decide(
    store: Store,
    task: Task,
    status: TaskStatus = TaskStatus.VALIDATED,
    *,
    by: str = "admin-1",
    after_seconds: float = 1.0,
) -> Task:
    event = await store.decide_task(
        task.id, status, reason=None, by=by, at=task.created_at + timedelta(seconds=after_seconds)
    )
    assert event.task is not None
    return event.task


def test_every_adapter_is_a_store(store: Store) -> None:
    """Each adapter satisfies the runtime-checkable Store protocol and names its URL."""
    assert isinstance(store, Store)
    assert isinstance(store.url, str)
    assert "://" in store.url


# -- users and credentials ---------------------------------------------------------


async def test_create_user_then_get_user_returns_it(store: Store) -> None:
    """A stored user reads back equal by id, and an unknown id reads as None."""
    user = make_user("alice", Role.ADMIN)
    await store.create_user(user, "hash-of-alice")
    assert await store.get_user(user.id) == user
    assert await store.get_user("no-such-user") is None


async def test_duplicate_username_ignoring_case_is_a_conflict(store: Store) -> None:
    """A username already taken in another case raises Conflict and keeps the first user."""
    first = make_user("Alice")
    await store.create_user(first, "first-hash")
    with pytest.raises(Conflict) as raised:
        await store.create_user(make_user("aLICE"), "second-hash")
    assert type(raised.value) is Conflict
    assert await store.find_credentials("alice") == (first, "first-hash")


async def test_find_credentials_matches_the_username_ignoring_case(store: Store) -> None:
    """find_credentials finds a user and its hash in any case, and None for an unknown name."""
    user = make_user("Bob.Smith-2")
    await store.create_user(user, "bob-hash")
    for spelling in ("Bob.Smith-2", "bob.smith-2", "BOB.SMITH-2"):
        assert await store.find_credentials(spelling) == (user, "bob-hash")
    assert await store.find_credentials("bob") is None


async def test_set_password_hash_replaces_the_hash(store: Store) -> None:
    """set_password_hash changes only that user's stored hash."""
    alice, bob = make_user("alice"), make_user("bob")
    await store.create_user(alice, "old")
    await store.create_user(bob, "bob-hash")
    await store.set_password_hash(alice.id, "new")
    assert await store.find_credentials("alice") == (alice, "new")
    assert await store.find_credentials("bob") == (bob, "bob-hash")


async def test_revoked_token_is_remembered_and_others_are_not(store: Store) -> None:
    """A revoked token id stays revoked until its expiry; other ids are not revoked."""
    later = utc_now() + timedelta(hours=1)
    await store.revoke_token("jti-1", later)
    await store.revoke_token("jti-expired", utc_now() - timedelta(hours=1))
    await store.revoke_token("jti-2", later)  # may sweep expired entries
    assert await store.is_token_revoked("jti-1")
    assert await store.is_token_revoked("jti-2")
    assert not await store.is_token_revoked("jti-3")


async def failures_since(store: Store, username: str, since: datetime) -> list[datetime]:
    """A username's failures after ``since``, read by a claim with no room (it records none)."""
    recorded, failures = await store.claim_login_attempt(username, since, since=since, limit=0)
    assert not recorded
    return failures


async def test_login_failures_are_kept_per_username_ignoring_case(store: Store) -> None:
    """Failures read back oldest first, ignoring case, per username; a release forgets the one
    attempt of that name recorded at that time, and nothing else."""
    for second in (5, 2, 9):  # recorded out of order, as concurrent logins can
        assert (await store.claim_login_attempt("Bob", at(second), since=T0, limit=10))[0]
    assert await store.claim_login_attempt("carol", at(5), since=T0, limit=10) == (True, [at(5)])
    assert await failures_since(store, "BOB", T0) == [at(2), at(5), at(9)]
    await store.release_login_attempt("bOB", at(5))
    assert await failures_since(store, "Bob", T0) == [at(2), at(9)]
    assert await failures_since(store, "Carol", T0) == [at(5)]
    await store.release_login_attempt("bob", at(7))  # no attempt at that time: nothing happens
    await store.release_login_attempt("nobody", at(2))
    assert await failures_since(store, "bob", T0) == [at(2), at(9)]


async def test_release_login_attempt_forgets_one_of_several_at_the_same_time(
    store: Store,
) -> None:
    """Attempts recorded at the same time are released one at a time; a released slot can be
    claimed again."""
    for _ in range(3):
        assert (await store.claim_login_attempt("dave", at(4), since=T0, limit=3))[0]
    assert not (await store.claim_login_attempt("dave", at(4), since=T0, limit=3))[0]
    await store.release_login_attempt("Dave", at(4))
    assert await failures_since(store, "dave", T0) == [at(4), at(4)]
    assert await store.claim_login_attempt("dave", at(6), since=T0, limit=3) == (
        True,
        [at(4), at(4), at(6)],
    )
    for _ in range(2):
        await store.release_login_attempt("DAVE", at(4))
    assert await failures_since(store, "dave", T0) == [at(6)]


async def test_claim_login_attempt_records_until_the_limit_then_refuses(store: Store) -> None:
    """A claim records a failure while fewer than ``limit`` lie after ``since`` (ignoring case,
    per username); at the limit it records nothing and returns the failures in the window."""
    since = at(10)
    await store.claim_login_attempt("erin", at(10), since=T0, limit=3)  # at ``since``: outside
    for second in (11, 12):
        assert await store.claim_login_attempt("Erin", at(second), since=since, limit=3) == (
            True,
            [at(s) for s in range(11, second + 1)],
        )
    assert await store.claim_login_attempt("ERIN", at(13), since=since, limit=3) == (
        True,
        [at(11), at(12), at(13)],
    )
    refused = await store.claim_login_attempt("erin", at(14), since=since, limit=3)
    assert refused == (False, [at(11), at(12), at(13)])
    assert await store.claim_login_attempt("frank", at(14), since=since, limit=3) == (
        True,
        [at(14)],
    )
    # The window moves on: the oldest one leaves it and a claim is recorded again.
    assert await store.claim_login_attempt("erin", at(15), since=at(11), limit=3) == (
        True,
        [at(12), at(13), at(15)],
    )
    # Releasing the newest claim (a success) frees its slot, and only its slot.
    await store.release_login_attempt("erin", at(15))
    assert await store.claim_login_attempt("erin", at(16), since=at(11), limit=3) == (
        True,
        [at(12), at(13), at(16)],
    )


async def test_concurrent_claims_record_exactly_the_limit(store: Store) -> None:
    """Of 30 claims made at once on one username, exactly ``limit`` are recorded."""
    claims = await asyncio.gather(
        *(store.claim_login_attempt("grace", at(1), since=T0, limit=5) for _ in range(30))
    )
    assert sum(recorded for recorded, _ in claims) == 5
    assert await failures_since(store, "grace", T0) == [at(1)] * 5


async def test_claims_through_two_stores_on_one_database_record_exactly_the_limit(
    store_adapter: StoreAdapter, make_store: StoreFactory
) -> None:
    """Two stores on the same data (as two server processes have: no lock in common) making
    30 claims at once on one username record exactly ``limit`` between them."""
    if not store_adapter.persistent:
        pytest.skip("this adapter's data is its process's own")
    first, second = await make_store(), await make_store()
    claims = await asyncio.gather(
        *(
            (first, second)[i % 2].claim_login_attempt("heidi", at(1), since=T0, limit=5)
            for i in range(30)
        )
    )
    assert sum(recorded for recorded, _ in claims) == 5
    assert len(await failures_since(first, "heidi", T0)) == 5


# -- scans -----------------------------------------------------------------------------


async def test_create_scan_then_get_scan_returns_it_open_with_zero_counts(store: Store) -> None:
    """A new scan reads back open, with zero counts and seq 0, whatever counts it came with."""
    scan = make_scan("first")
    await store.create_scan(dataclasses.replace(scan, counts=ScanCounts(1, 2, 3)))
    assert await store.get_scan(scan.id) == scan
    assert await store.latest_seq(scan.id) == 0
    assert await store.get_scan("no-such-scan") is None
    assert await store.latest_seq("no-such-scan") == 0


async def test_list_scans_is_newest_first_and_hides_closed_unless_asked(store: Store) -> None:
    """list_scans orders by creation, newest first, and lists closed scans only on request."""
    scans = [make_scan(f"s{i}", created_at=at(i * 60)) for i in (2, 0, 3, 1)]
    for scan in scans:
        await store.create_scan(scan)
    await store.close_scan(scans[0].id, at(500))  # s2
    everything = await store.list_scans(include_closed=True)
    assert [s.name for s in everything] == ["s3", "s2", "s1", "s0"]
    assert everything[1].status is ScanStatus.CLOSED
    assert [s.name for s in await store.list_scans(include_closed=False)] == ["s3", "s1", "s0"]


async def test_close_scan_records_scan_updated_with_the_next_seq(store: Store) -> None:
    """Closing stores the closed scan and a scan:updated event with the scan's next seq."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id)
    event = await store.close_scan(scan_id, at(90))
    assert event is not None
    assert event.type is EventType.SCAN_UPDATED
    assert event.scan_id == scan_id
    assert event.seq == task.seq + 1
    assert event.task is None
    assert event.scan is not None
    assert event.scan.status is ScanStatus.CLOSED
    assert event.scan.closed_at == at(90)
    assert event.scan.counts == ScanCounts(pending=1)
    assert await store.get_scan(scan_id) == event.scan
    assert await store.latest_seq(scan_id) == event.seq
    assert await store.events_after(scan_id, task.seq) == [event]


async def test_closing_a_closed_scan_returns_none_and_records_nothing(store: Store) -> None:
    """A second close answers None and consumes no seq."""
    scan_id = await open_scan(store)
    first = await store.close_scan(scan_id, at(1))
    assert first is not None
    assert await store.close_scan(scan_id, at(2)) is None
    assert await store.latest_seq(scan_id) == first.seq
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.closed_at == at(1)


async def test_closing_an_unknown_scan_is_not_found(store: Store) -> None:
    """close_scan raises NotFound for a scan that does not exist."""
    with pytest.raises(NotFound):
        await store.close_scan("no-such-scan", T0)


# -- creating tasks ----------------------------------------------------------------------


async def test_create_task_assigns_strictly_increasing_seqs(store: Store) -> None:
    """Each submission gets the scan's next seq as seq and created_seq, with a matching event."""
    scan_id = await open_scan(store)
    other_id = await open_scan(store, "other")
    seqs = []
    for i in range(6):
        draft = new_task(scan_id, f"w{i % 2}", created_at=at(i))
        task, event = await store.create_task(draft)
        assert event is not None
        assert event.type is EventType.TASK_CREATED
        assert event.task == task
        assert event.seq == task.seq == task.created_seq
        assert (task.id, task.scan_id, task.worker_id, task.content) == (
            draft.id,
            scan_id,
            draft.worker_id,
            draft.content,
        )
        assert task.worker_username == draft.worker_username
        assert task.created_at == draft.created_at
        assert task.status is TaskStatus.PENDING
        assert (task.reason, task.decided_by, task.decided_at) == (None, None, None)
        assert await store.get_task(task.id) == task
        seqs.append(task.seq)
    assert seqs == sorted(set(seqs))
    assert seqs[0] >= 1
    assert await store.latest_seq(scan_id) == seqs[-1]
    other = await submit(store, other_id)
    assert other.seq == 1, "seq is per scan"
    assert await store.get_task("no-such-task") is None


async def test_repeated_idempotency_key_returns_the_first_task_and_no_event(store: Store) -> None:
    """The same key from the same worker in the same scan answers the first task, unchanged."""
    scan_id = await open_scan(store)
    first, event = await store.create_task(new_task(scan_id, "w1", key="k-1", content="one"))
    assert event is not None
    again, replay = await store.create_task(new_task(scan_id, "w1", key="k-1", content="two"))
    assert replay is None
    assert again == first
    assert await store.latest_seq(scan_id) == first.seq
    assert await all_tasks(store, scan_id) == [first]
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.counts == ScanCounts(pending=1)
    stats = await store.stats(scan_id, since=T0)
    assert [w.submitted for w in stats.workers] == [1]


async def test_replaying_a_key_after_a_decision_returns_the_task_as_decided(store: Store) -> None:
    """A replay answers the first task as it is now, decided or not."""
    scan_id = await open_scan(store)
    first = await submit(store, scan_id, "w1", key="k")
    decided = await decide(store, first, TaskStatus.REFUSED)
    again, replay = await store.create_task(new_task(scan_id, "w1", key="k"))
    assert replay is None
    assert again == decided


async def test_replaying_a_key_in_a_closed_scan_returns_the_first_task(store: Store) -> None:
    """A retry of a stored submission succeeds even after the scan closed."""
    scan_id = await open_scan(store)
    first = await submit(store, scan_id, "w1", key="k")
    await store.close_scan(scan_id, at(5))
    again, replay = await store.create_task(new_task(scan_id, "w1", key="k"))
    assert (again, replay) == (first, None)


async def test_idempotency_key_is_scoped_to_one_worker_in_one_scan(store: Store) -> None:
    """The same key from another worker, or in another scan, makes a new task."""
    scan_a, scan_b = await open_scan(store, "a"), await open_scan(store, "b")
    mine = await submit(store, scan_a, "w1", key="same")
    theirs = await submit(store, scan_a, "w2", key="same")
    elsewhere = await submit(store, scan_b, "w1", key="same")
    assert len({mine.id, theirs.id, elsewhere.id}) == 3
    assert [t.id for t in await all_tasks(store, scan_a)] == [mine.id, theirs.id]
    assert [t.id for t in await all_tasks(store, scan_b)] == [elsewhere.id]


async def test_tasks_without_a_key_are_never_merged(store: Store) -> None:
    """Submissions without an idempotency key always make new tasks."""
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, "w1", content="same") for _ in range(3)]
    assert len({t.id for t in tasks}) == 3


async def test_create_task_in_a_closed_scan_is_scan_closed(store: Store) -> None:
    """A submission to a closed scan raises ScanClosed and consumes no seq."""
    scan_id = await open_scan(store)
    closed = await store.close_scan(scan_id, at(1))
    assert closed is not None
    with pytest.raises(ScanClosed):
        await store.create_task(new_task(scan_id))
    with pytest.raises(ScanClosed):
        await store.create_task(new_task(scan_id, key="fresh-key"))
    assert await store.latest_seq(scan_id) == closed.seq
    assert await all_tasks(store, scan_id) == []


async def test_create_task_in_an_unknown_scan_is_not_found(store: Store) -> None:
    """A submission to a scan that does not exist raises NotFound."""
    with pytest.raises(NotFound):
        await store.create_task(new_task("no-such-scan"))


# -- deciding tasks ------------------------------------------------------------------------


async def test_decide_task_records_the_verdict_and_task_updated(store: Store) -> None:
    """A decision stores status, reason, decider and time with a task:updated event."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id, "w1")
    await submit(store, scan_id, "w2")
    event = await store.decide_task(
        task.id, TaskStatus.REFUSED, reason="blurry", by="admin-7", at=at(42)
    )
    assert event.type is EventType.TASK_UPDATED
    assert event.scan_id == scan_id
    assert event.seq == await store.latest_seq(scan_id) == 3
    decided = event.task
    assert decided is not None
    assert decided.status is TaskStatus.REFUSED
    assert (decided.reason, decided.decided_by, decided.decided_at) == ("blurry", "admin-7", at(42))
    assert decided.seq == event.seq
    assert decided.created_seq == task.created_seq
    assert (decided.id, decided.content, decided.created_at) == (
        task.id,
        task.content,
        task.created_at,
    )
    assert await store.get_task(task.id) == decided
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.counts == ScanCounts(pending=1, refused=1)


async def test_deciding_an_unknown_task_is_not_found(store: Store) -> None:
    """decide_task raises NotFound for a task that does not exist."""
    with pytest.raises(NotFound):
        await store.decide_task("no-such-task", TaskStatus.VALIDATED, reason=None, by="a", at=T0)


async def test_deciding_a_decided_task_is_already_decided_carrying_it(store: Store) -> None:
    """A second decision raises AlreadyDecided with the stored task and changes nothing."""
    scan_id = await open_scan(store)
    task = await decide(store, await submit(store, scan_id), TaskStatus.VALIDATED, by="first")
    with pytest.raises(AlreadyDecided) as raised:
        await store.decide_task(task.id, TaskStatus.REFUSED, reason="no", by="second", at=at(9))
    assert raised.value.task == task
    assert await store.get_task(task.id) == task
    assert await store.latest_seq(scan_id) == task.seq


async def test_check_user_refuses_changes_by_anyone_but_a_stored_user_of_the_role(
    store: Store,
) -> None:
    """With ``check_user``, a submission needs a stored worker and a decision or an undo a
    stored admin; anyone else is Unauthorized before any other check, and nothing changes."""
    scan_id = await open_scan(store)
    worker, admin = make_user("wanda"), make_user("adam", Role.ADMIN)
    for user in (worker, admin):
        await store.create_user(user, "hash")
    task, _ = await store.create_task(new_task(scan_id, worker.id, key="k"), check_user=True)
    for someone in ("no-such-user", admin.id):
        with pytest.raises(Unauthorized):
            await store.create_task(new_task(scan_id, someone, key="k"), check_user=True)
    for someone in ("no-such-user", worker.id):
        with pytest.raises(Unauthorized):
            await store.decide_task(
                task.id, TaskStatus.VALIDATED, reason=None, by=someone, at=at(1), check_user=True
            )
        with pytest.raises(Unauthorized):  # not Conflict: the account is checked first
            await store.undo_task(task.id, seq=task.seq, by=someone, at=at(1), check_user=True)
    assert await store.latest_seq(scan_id) == 1
    assert await all_tasks(store, scan_id) == [task]

    decided = await store.decide_task(
        task.id, TaskStatus.REFUSED, reason="no", by=admin.id, at=at(2), check_user=True
    )
    undone = await store.undo_task(task.id, seq=decided.seq, by=admin.id, at=at(3), check_user=True)
    assert undone.task is not None
    assert undone.task.is_pending
    assert await store.latest_seq(scan_id) == 3


async def test_of_twenty_concurrent_decisions_exactly_one_wins(store: Store) -> None:
    """Twenty competing decisions on one task: one wins, the rest see the winner's task."""
    scan_id = await open_scan(store)
    task = await submit(store, scan_id)
    statuses = [TaskStatus.VALIDATED, TaskStatus.REFUSED]
    outcomes = await asyncio.gather(
        *(
            store.decide_task(
                task.id, statuses[i % 2], reason=f"r{i}", by=f"admin-{i}", at=at(10 + i)
            )
            for i in range(20)
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if isinstance(o, ScanEvent)]
    losers = [o for o in outcomes if isinstance(o, AlreadyDecided)]
    assert len(winners) == 1
    assert len(losers) == 19
    won = winners[0].task
    assert won is not None
    assert all(loser.task == won for loser in losers)
    assert await store.get_task(task.id) == won
    assert await store.latest_seq(scan_id) == task.seq + 1
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.counts.pending == 0
    assert scan.counts.total == 1


# -- reading tasks -------------------------------------------------------------------------


async def _populate(store: Store, scan_id: str, n: int = 50) -> list[Task]:
    """n tasks from three workers, every third refused and every fourth validated."""
    tasks = []
    for i in range(n):
        task = await submit(store, scan_id, f"w{i % 3}", created_at=at(i))
        if i % 3 == 0:
            task = await decide(store, task, TaskStatus.REFUSED)
        elif i % 4 == 0:
            task = await decide(store, task, TaskStatus.VALIDATED)
        tasks.append(task)
    return tasks


async def test_list_tasks_pages_cover_every_task_exactly_once(store: Store) -> None:
    """Paging with ``after`` = the last page's created_seq lists each task once, oldest first."""
    scan_id = await open_scan(store)
    other_id = await open_scan(store, "other")
    await submit(store, other_id)
    tasks = await _populate(store, scan_id)
    seen: list[Task] = []
    after = 0
    while True:
        page = await store.list_tasks(scan_id, after=after, limit=7)
        assert len(page) <= 7
        seen.extend(page)
        if len(page) < 7:
            break
        after = page[-1].created_seq
    assert [t.id for t in seen] == [t.id for t in tasks]
    assert seen == tasks
    assert await store.list_tasks("no-such-scan") == []


async def test_list_tasks_filters_by_worker_and_status(store: Store) -> None:
    """The worker and status filters, alone and together, keep exactly the matching tasks."""
    scan_id = await open_scan(store)
    tasks = await _populate(store, scan_id, 40)
    for worker in (None, "w0", "w1", "w2", "nobody"):
        for status in (None, *TaskStatus):
            got = await store.list_tasks(scan_id, worker_id=worker, status=status, limit=500)
            want = [
                t
                for t in tasks
                if (worker is None or t.worker_id == worker) and (status in (None, t.status))
            ]
            assert got == want, (worker, status)
    w1_pending = await store.list_tasks(scan_id, worker_id="w1", status=TaskStatus.PENDING, limit=3)
    rest = await store.list_tasks(
        scan_id,
        worker_id="w1",
        status=TaskStatus.PENDING,
        after=w1_pending[-1].created_seq,
        limit=500,
    )
    expected = [t for t in tasks if t.worker_id == "w1" and t.is_pending]
    assert w1_pending + rest == expected


async def test_recent_tasks_are_newest_first_by_creation_or_by_decision(store: Store) -> None:
    """recent_tasks orders by creation, or with ``decided`` by decision, newest first."""
    scan_id = await open_scan(store)
    tasks = [await submit(store, scan_id, f"w{i % 2}", created_at=at(i)) for i in range(8)]
    order = [5, 1, 6, 2]  # decision order differs from creation order, statuses alternate
    statuses = [TaskStatus.VALIDATED, TaskStatus.REFUSED] * 2
    decided = [await decide(store, tasks[i], s) for i, s in zip(order, statuses, strict=True)]
    by_creation = await store.recent_tasks(scan_id, limit=3)
    assert [t.id for t in by_creation] == [tasks[7].id, tasks[6].id, tasks[5].id]
    by_decision = await store.recent_tasks(scan_id, decided=True, limit=10)
    assert by_decision == decided[::-1]
    newest_two = await store.recent_tasks(scan_id, decided=True, limit=2)
    assert newest_two == [decided[3], decided[2]]
    w1 = await store.recent_tasks(scan_id, worker_id="w1", limit=10)
    assert [t.id for t in w1] == [tasks[i].id for i in (7, 5, 3, 1)]
    w0_decided = await store.recent_tasks(scan_id, worker_id="w0", decided=True, limit=10)
    assert [t.id for t in w0_decided] == [tasks[2].id, tasks[6].id]
    assert await store.recent_tasks("no-such-scan", limit=5) == []


# -- events ----------------------------------------------------------------------------------


async def test_events_after_returns_the_stored_events_in_order(store: Store) -> None:
    """events_after answers every event above a seq, in seq order, equal to what was returned."""
    scan_id = await open_scan(store)
    events: list[ScanEvent] = []
    for i in range(5):
        task, event = await store.create_task(new_task(scan_id, f"w{i % 2}", created_at=at(i)))
        assert event is not None
        events.append(event)
        if i % 2:
            events.append(
                await store.decide_task(
                    task.id, TaskStatus.VALIDATED, reason="ok", by="a", at=at(9)
                )
            )
    closed = await store.close_scan(scan_id, at(20))
    assert closed is not None
    events.append(closed)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert await store.events_after(scan_id, 0) == events
    assert await store.events_after(scan_id, 4) == events[4:]
    assert await store.events_after(scan_id, len(events)) == []


async def test_events_after_for_a_worker_keeps_its_own_and_the_scans_events(store: Store) -> None:
    """With worker_id, events_after keeps that worker's task events and scan events only."""
    scan_id = await open_scan(store)
    for i in range(6):
        await submit(store, scan_id, f"w{i % 3}")
    await store.close_scan(scan_id, at(30))
    everything = await store.events_after(scan_id, 0)
    assert everything is not None
    mine = await store.events_after(scan_id, 0, worker_id="w1")
    assert mine == [e for e in everything if e.task is None or e.task.worker_id == "w1"]
    assert [e.type for e in mine or ()] == [
        EventType.TASK_CREATED,
        EventType.TASK_CREATED,
        EventType.SCAN_UPDATED,
    ]
    assert await store.events_after(scan_id, 3, worker_id="w1") == mine[1:]


async def test_events_after_is_none_once_older_events_were_pruned(
    make_store: StoreFactory,
) -> None:
    """With a small retention, asking from before what is still held answers None."""
    store = await make_store(event_retention=10)
    scan_id = await open_scan(store)
    created = await asyncio.gather(*(store.create_task(new_task(scan_id)) for _ in range(300)))
    latest = await store.latest_seq(scan_id)
    assert latest == 300
    events = sorted((e for _, e in created if e is not None), key=lambda e: e.seq)
    assert await store.events_after(scan_id, 0) is None
    assert await store.events_after(scan_id, latest - 10) == events[-10:]
    assert await store.events_after(scan_id, latest) == []


# -- analytics ---------------------------------------------------------------------------------


async def test_stats_equal_a_recount_of_the_tasks(store: Store) -> None:
    """Counts, per-worker figures, recent submissions and percentiles match a recount."""
    scan_id = await open_scan(store)
    names = {"w1": "zoe", "w2": "Adam", "w3": "bea"}
    offsets = [0, 100, 30, 90, 10, 75, 61, 59, 60, 5, 120, 3]  # not in creation order
    durations_ms = [120, 450, 999, 1234, 2500, 80, 300, 61_000]
    tasks = [
        await submit(store, scan_id, w, created_at=at(offset), username=names[w])  # three workers
        for w, offset in zip(["w1", "w2", "w3", "w1"] * 3, offsets, strict=True)
    ]
    for i, millis in enumerate(durations_ms):
        status = TaskStatus.VALIDATED if i % 3 else TaskStatus.REFUSED
        await decide(store, tasks[i], status, after_seconds=millis / 1000)
    since = at(60)
    stats = await store.stats(scan_id, since=since)

    stored = await all_tasks(store, scan_id)
    counts = Counter(t.status for t in stored)
    assert stats.scan_id == scan_id
    assert stats.counts == ScanCounts(
        pending=counts[TaskStatus.PENDING],
        validated=counts[TaskStatus.VALIDATED],
        refused=counts[TaskStatus.REFUSED],
    )
    scan = await store.get_scan(scan_id)
    assert scan is not None
    assert scan.counts == stats.counts
    assert stats.seq == await store.latest_seq(scan_id)
    assert stats.submissions_last_minute == sum(t.created_at >= since for t in stored) == 6
    per_worker = {
        w: (
            names[w],
            sum(t.worker_id == w for t in stored),
            *(sum(t.worker_id == w and t.status is s for t in stored) for s in TaskStatus),
        )
        for w in names
    }
    assert {
        w.worker_id: (w.username, w.submitted, w.pending, w.validated, w.refused)
        for w in stats.workers
    } == per_worker
    assert [w.username for w in stats.workers] == ["Adam", "bea", "zoe"]

    seconds = [
        (t.decided_at - t.created_at).total_seconds() for t in stored if t.decided_at is not None
    ]
    assert sorted(seconds) == sorted(d / 1000 for d in durations_ms)
    p95 = statistics.quantiles(seconds, n=100, method="inclusive")[94]
    # The histogram keeps three significant digits: within 0.5 %.
    assert stats.decision_seconds_p50 == pytest.approx(statistics.median(seconds), rel=5e-3)
    assert stats.decision_seconds_p95 == pytest.approx(p95, rel=5e-3)


async def test_stats_of_a_scan_without_decisions_have_no_percentiles(store: Store) -> None:
    """Before any decision the percentiles are None and the acceptance rate too."""
    scan_id = await open_scan(store)
    empty = await store.stats(scan_id, since=T0)
    assert empty.counts == ScanCounts()
    assert empty.workers == ()
    assert empty.submissions_last_minute == 0
    await submit(store, scan_id)
    stats = await store.stats(scan_id, since=T0)
    assert stats.counts == ScanCounts(pending=1)
    assert stats.decision_seconds_p50 is None
    assert stats.decision_seconds_p95 is None
    assert stats.acceptance_rate is None


async def test_stats_of_an_unknown_scan_is_not_found(store: Store) -> None:
    """stats raises NotFound for a scan that does not exist."""
    with pytest.raises(NotFound):
        await store.stats("no-such-scan", since=T0)


# -- durability ----------------------------------------------------------------------------------


async def test_data_survives_close_and_reopen(
    store_adapter: StoreAdapter, make_store: StoreFactory, tmp_path: Path
) -> None:
    """Everything stored is read back equal after the store is closed and opened again."""
    if not store_adapter.persistent:
        pytest.skip("this adapter keeps nothing after close")
    store = await make_store()
    user = make_user("keeper")
    await store.create_user(user, "hash")
    await store.revoke_token("jti", utc_now() + timedelta(hours=1))
    await store.claim_login_attempt("keeper", at(1), since=T0, limit=5)
    scan_id = await open_scan(store)
    tasks = await _populate(store, scan_id, 12)
    await store.close_scan(scan_id, at(99))
    before = (
        await store.get_scan(scan_id),
        await store.events_after(scan_id, 0),
        await store.stats(scan_id, since=T0),
    )
    await store.close()

    again = await make_store(place=tmp_path)
    assert await again.find_credentials("KEEPER") == (user, "hash")
    assert await again.is_token_revoked("jti")
    assert await failures_since(again, "keeper", T0) == [at(1)]
    assert await all_tasks(again, scan_id) == [await again.get_task(t.id) for t in tasks]
    assert await all_tasks(again, scan_id) == tasks
    after = (
        await again.get_scan(scan_id),
        await again.events_after(scan_id, 0),
        await again.stats(scan_id, since=T0),
    )
    assert after == before


_WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from datetime import UTC, datetime
    from taskstream_core import NewTask, open_store

    async def main(url: str, scan_id: str, n: int) -> None:
        store = open_store(url)
        await store.open()

        async def one(i: int) -> None:
            task, _ = await store.create_task(NewTask(
                id=f"killed-{i}", scan_id=scan_id, worker_id=f"w{i % 3}",
                worker_username=f"W{i % 3}", content=f"task {i}",
                created_at=datetime.now(UTC).replace(microsecond=0), idempotency_key=f"k{i}"))
            print(task.id, flush=True)

        for i in range(n // 2):            # one at a time...
            await one(i)
        await asyncio.gather(*(one(i) for i in range(n // 2, n)))   # ...and group-committed
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
async def test_acknowledged_tasks_survive_a_hard_kill_of_the_writer(
    store_adapter: StoreAdapter, make_store: StoreFactory, tmp_path: Path
) -> None:
    """Tasks a killed process saw acknowledged are all there after reopening, each once."""
    if not store_adapter.persistent:
        pytest.skip("this adapter keeps nothing after its process ends")
    store = await make_store()
    scan_id = await open_scan(store)
    await store.close()

    n = 40
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _WRITER, store_adapter.url(tmp_path), scan_id, str(n)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    acknowledged = result.stdout.split()
    assert len(acknowledged) == n

    again = await make_store(place=tmp_path)
    stored = await all_tasks(again, scan_id)
    assert sorted(t.id for t in stored) == sorted(acknowledged)
    assert await again.latest_seq(scan_id) == n
    assert [t.created_seq for t in stored] == list(range(1, n + 1))
    events = await again.events_after(scan_id, 0)
    assert events is not None
    assert [e.seq for e in events] == list(range(1, n + 1))
    stats = await again.stats(scan_id, since=T0)
    assert stats.counts == ScanCounts(pending=n)
    assert sum(w.submitted for w in stats.workers) == n
