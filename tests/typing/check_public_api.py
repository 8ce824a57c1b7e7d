"""Type-checked, never run: the public API as a user's code meets it, under mypy --strict.

Each ``assert_type`` pins what a public name gives back; a change that loosens
a return type to ``Any`` or breaks a signature fails ``mypy`` here. pytest does
not collect this file (its name does not start with ``test_``, and
tests/conftest.py ignores this directory).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, assert_type

import taskstream_core
from taskstream_core import (
    Accounts,
    Broker,
    JoinResult,
    NewTask,
    PasswordHasher,
    Permission,
    Principal,
    Resync,
    Role,
    Scan,
    ScanEvent,
    Session,
    Store,
    Task,
    TaskPage,
    TaskStream,
    TaskStreamError,
    TokenIssuer,
    ViewerLagged,
    ViewerSession,
    __version__,
    authorize,
    can,
    export_csv,
    export_json,
    generate_secret,
    open_broker,
    open_store,
)
from taskstream_core.client import TaskStreamClient
from taskstream_core.errors import AlreadyDecided
from taskstream_core.models import (
    EventType,
    HistoryAction,
    HistoryEntry,
    ReviewerStats,
    ScanStats,
    TaskHistory,
    TaskStatus,
    User,
)
from taskstream_core.testing import ManualClock, RecordingBroker, make_app, sign_up


async def embed_the_core() -> None:
    store = open_store("sqlite:///./taskstream.db")
    assert_type(store, Store)
    broker = open_broker("memory://")
    assert_type(broker, Broker)
    app = TaskStream(
        store=store,
        tokens=TokenIssuer(generate_secret()),
        admin_invite_code="invite-code-for-typing",
        broker=broker,
        hasher=PasswordHasher(),
    )
    async with app as running:
        assert_type(running, TaskStream)
        accounts = running.accounts
        assert_type(accounts, Accounts)
        session = await accounts.register("root", "password", "admin", "invite-code-for-typing")
        assert_type(session, Session)
        assert_type(session.user, User)
        who = await accounts.authenticate(session.token)
        assert_type(who, Principal)
        assert_type(who.role, Role)

        scan = await running.create_scan(who, "name", "description")
        assert_type(scan, Scan)
        assert_type(await running.list_scans(who), list[Scan])
        task, created = await running.submit_task(who, scan.id, "content", "key")
        assert_type(task, Task)
        assert_type(created, bool)
        try:
            decided = await running.decide_task(who, task.id, "validated", None)
            assert_type(decided.status, TaskStatus)
            assert_type(decided.decided_at, datetime | None)
        except AlreadyDecided as lost:
            assert_type(lost.task, Task | None)
        except TaskStreamError as error:
            assert_type(error.code, str)
            assert_type(error.status, int)
        undone = await running.undo_task(who, task.id)
        assert_type(undone, Task)
        history = await running.task_history(who, task.id)
        assert_type(history, TaskHistory)
        assert_type(history.entries, tuple[HistoryEntry, ...])
        assert_type(history.entries[0].action, HistoryAction)
        assert_type(history.to_dict(), dict[str, Any])
        page = await running.list_tasks(who, scan.id, status="pending", limit=10, cursor=None)
        assert_type(page, TaskPage)
        assert_type(page.next_cursor, str | None)
        assert_type(running.iter_tasks(who, scan.id), AsyncIterator[Task])
        exported_scan, tasks = await running.export(who, scan.id)
        assert_type(export_csv(tasks), str)
        assert_type(export_json(exported_scan, tasks), str)
        stats = await running.stats(who, scan.id)
        assert_type(stats, ScanStats)
        assert_type(stats.acceptance_rate, float | None)
        assert_type(stats.decisions_last_minute, int)
        assert_type(stats.oldest_pending_at, datetime | None)
        assert_type(stats.reviewers, tuple[ReviewerStats, ...])
        assert_type(running.undo_seconds, float)
        assert_type(stats.to_dict(), dict[str, Any])

        joined = await running.join(who, scan.id, since_seq=0)
        assert_type(joined, JoinResult)
        assert_type(joined.tasks, list[Task] | None)
        assert_type(joined.events, list[ScanEvent] | None)

        with ViewerSession(running, who) as viewer:
            await viewer.join(scan.id)
            event = await viewer.next_event()
            assert_type(event, ScanEvent)
            assert_type(event.type, EventType)
            async for later in viewer:
                assert_type(later, ScanEvent)
                break


def policy(who: Principal | None) -> None:
    assert_type(can(who, Permission.TASK_READ, owner_id="u"), bool)
    assert_type(authorize(who, Permission.SCAN_CREATE), Principal)
    assert_type(__version__, str)


async def own_store_and_broker(store: Store, broker: Broker) -> None:
    draft = NewTask("t", "s", "w", "worker", "content", datetime.now())
    stored, event = await store.create_task(draft)
    assert_type(stored, Task)
    assert_type(event, ScanEvent | None)
    await broker.publish(event or ScanEvent(EventType.SCAN_UPDATED, "s", 1))
    async for item in broker.events():
        assert_type(item, ScanEvent | Resync)
        break


async def watch(app: TaskStream, who: Principal) -> None:
    async with ViewerSession(app, who) as viewer:
        assert_type(await viewer.join("scan", 3), JoinResult)
        try:
            assert_type(await viewer.next_event(), ScanEvent)
        except ViewerLagged as lagged:
            assert_type(lagged, ViewerLagged)


async def misuse_is_rejected(app: TaskStream, task: Task) -> None:
    # Each line below must stay an error: mypy (warn_unused_ignores under
    # --strict) fails if one of these ignores is no longer needed.
    await app.create_scan(None, "name")  # type: ignore[arg-type]
    task.status = TaskStatus.REFUSED  # type: ignore[misc]
    TokenIssuer(secret=42)  # type: ignore[arg-type]
    await TaskStreamClient.login("http://127.0.0.1:8000", "ada", "pw", max_queud=5)  # type: ignore[call-arg]


async def testing_helpers() -> None:
    clock = ManualClock()
    clock.advance(1.5)
    assert_type(clock(), datetime)
    broker = RecordingBroker()
    async with make_app(broker=broker, clock=clock) as app:
        assert_type(await sign_up(app, "alice"), Principal)
        assert_type(broker.published, list[ScanEvent])


def a_misspelled_name_is_an_error() -> None:
    """Not ``Any``: were it, this ignore would be unused, which ``--strict`` reports."""
    _ = taskstream_core.TaskStreem  # type: ignore[attr-defined]
