"""What the MongoDB adapter does beyond the Store contract: URLs, bad data, its journal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from taskstream_core import ScanEvent, open_store
from taskstream_core.errors import AlreadyDecided, Internal, Unavailable
from taskstream_core.models import EventType, ScanCounts, TaskStatus
from taskstream_core.stores import _mongo_changes
from taskstream_core.stores._mongo_client import parse_store_url
from taskstream_core.stores._mongo_schema import task_doc
from taskstream_core.stores.mongodb import MongoStore
from tests.conformance.factories import T0, make_scan, make_task, new_task
from tests.support import free_port
from tests.support.mongo import SecantusServer

from .conftest import Raw


def test_the_url_names_the_database_and_keeps_pymongo_options() -> None:
    """The store's own options leave the URL; pymongo's stay; timeouts default unless given."""
    url, options, defaults = parse_store_url(
        "mongodb://u:p@h1:1,h2:2/tsdb?replicaSet=rs0&transactions=off&event_retention=50"
        "&socketTimeoutMS=99"
    )
    assert url == "mongodb://u:p@h1:1,h2:2/tsdb?replicaSet=rs0&socketTimeoutMS=99"
    assert (options.transactions, options.event_retention) == ("off", 50)
    assert not options.explicit_write_concern
    assert defaults == {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000}
    assert parse_store_url("mongodb://h/db?w=1")[1].explicit_write_concern
    with pytest.raises(ValueError, match="transactions"):
        parse_store_url("mongodb://h/db?transactions=maybe")


def test_open_store_picks_the_adapter_by_scheme_and_masks_the_password() -> None:
    """``mongodb://`` and ``mongodb+srv://`` make a MongoStore whose url hides the password."""
    store = open_store("mongodb://alice:s3cret@db.example:27017/prod")
    assert isinstance(store, MongoStore)
    assert store.url == "mongodb://alice:***@db.example:27017/prod"
    assert isinstance(open_store("mongodb+srv://alice:s3cret@cluster.example/prod"), MongoStore)


async def test_an_unreachable_server_fails_open_with_unavailable_naming_the_masked_url() -> None:
    """open() on a port nobody listens on raises Unavailable naming the URL, password masked."""
    port = free_port()
    store = MongoStore(f"mongodb://alice:s3cret@127.0.0.1:{port}/x?serverSelectionTimeoutMS=200")
    with pytest.raises(Unavailable) as raised:
        await store.open()
    assert f"mongodb://alice:***@127.0.0.1:{port}/x" in raised.value.message
    assert "s3cret" not in raised.value.message


async def test_the_database_comes_from_the_url_path(url: str, raw: Raw) -> None:
    """Data goes to the database the URL's path names, with the designed indexes."""
    store = MongoStore(url)
    await store.open()
    try:
        await store.create_scan(make_scan("here"))
    finally:
        await store.close()
    db = raw.get_default_database()
    assert await db.scans.count_documents({}) == 1
    indexes = {i["name"]: i async for i in await db.tasks.list_indexes()}
    assert indexes["idempotency"]["unique"]
    assert "partialFilterExpression" in indexes["idempotency"]
    ttl = [i async for i in await db.revoked_tokens.list_indexes() if i["name"] == "ttl"]
    assert ttl[0]["expireAfterSeconds"] == 0


async def test_a_document_missing_a_field_is_reported_as_internal_naming_it(
    url: str, raw: Raw
) -> None:
    """A stored task or scan lacking a field raises Internal that names the field."""
    store = MongoStore(url)
    await store.open()
    try:
        db = raw.get_default_database()
        await db.tasks.insert_one({"_id": "broken", "scan_id": "s", "worker_id": "w"})
        with pytest.raises(Internal, match="'worker_username'"):
            await store.get_task("broken")
        await db.scans.insert_one({"_id": "s", "name": "n", "counts": {"pending": 0}})
        with pytest.raises(Internal, match="'description'"):
            await store.get_scan("s")
        await db.scans.update_one({"_id": "s"}, {"$set": {"description": "d"}})
        with pytest.raises(Internal, match="'status'"):
            await store.get_scan("s")
    finally:
        await store.close()


@pytest.mark.parametrize("transactions", ["on", "off"])
async def test_transactions_follow_the_url_or_the_server(url: str, transactions: str) -> None:
    """``transactions=on|off`` decides; secantus as a replica-set member gets them by default,
    and write concern ``majority``."""
    forced, auto = MongoStore(url, transactions=transactions), MongoStore(url)
    await forced.open()
    await auto.open()
    try:
        assert forced.transactions is (transactions == "on")
        assert auto.transactions
        assert auto.db.write_concern.document == {"w": "majority"}
    finally:
        await forced.close()
        await auto.close()


async def test_a_change_cut_short_after_its_commit_point_is_finished_later(
    url: str, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without transactions, a change whose task and event were never written is hidden
    from readers, then finished by its retry; the counters match a recount."""
    store = MongoStore(url, transactions="off", repair_after=0.2)
    await store.open()
    try:
        scan = make_scan("crashing")
        await store.create_scan(scan)
        kept, _ = await store.create_task(new_task(scan.id, created_at=T0))

        monkeypatch.setattr(_mongo_changes, "roll_forward", _outage)
        with pytest.raises(Unavailable):
            await store.create_task(new_task(scan.id, "w2", key="k", created_at=T0))
        monkeypatch.undo()

        db = raw.get_default_database()
        assert await db.tasks.count_documents({"scan_id": scan.id}) == 1
        assert await store.latest_seq(scan.id) == kept.seq  # the unfinished seq 2 is hidden
        counted = await store.get_scan(scan.id)
        assert counted is not None
        assert counted.counts == ScanCounts(pending=2)  # counters were part of the commit

        again, replay = await store.create_task(new_task(scan.id, "w2", key="k"))
        assert replay is None  # the retry finished the first attempt and answers it
        assert again.seq == kept.seq + 1
        events = await store.events_after(scan.id, 0)
        assert [e.seq for e in events or ()] == [1, 2]
        stats = await store.stats(scan.id, since=T0)
        assert stats.counts == ScanCounts(pending=2)
        assert stats.seq == 2  # the retry's own seq was handed back
        third, made = await store.create_task(new_task(scan.id, "w3", created_at=T0))
        assert made is not None
        assert third.seq == 3
        assert await db.scans.count_documents({"_id": scan.id, "journal.0": {"$exists": True}}) == 0
    finally:
        await store.close()


async def test_an_unfinished_change_is_finished_by_the_next_open(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without transactions, a submission cut short after its commit point is written out
    by the next open(), so its retry is a replay and seqs go on without a gap."""
    store = MongoStore(url, transactions="off")
    await store.open()
    scan = make_scan("reopened")
    await store.create_scan(scan)
    monkeypatch.setattr(_mongo_changes, "roll_forward", _outage)
    with pytest.raises(Unavailable):
        await store.create_task(new_task(scan.id, "w1", key="same", created_at=T0))
    monkeypatch.undo()
    await store.close()

    other = MongoStore(url, transactions="off", repair_after=3600)
    await other.open()
    try:
        first, replay = await other.create_task(new_task(scan.id, "w1", key="same"))
        assert replay is None
        assert first.seq == 1
        event = await other.decide_task(
            first.id, TaskStatus.REFUSED, reason=None, by="a", at=T0 + timedelta(seconds=2)
        )
        assert event.seq == 2
        stats = await other.stats(scan.id, since=T0)
        assert stats.counts == ScanCounts(refused=1)
        assert [w.submitted for w in stats.workers] == [1]
    finally:
        await other.close()


async def test_an_unfinished_change_whose_key_was_taken_is_undone_once(
    url: str, raw: Raw, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without transactions, an unfinished submission whose idempotency key another task
    holds is given up: its counters reverted once, its seq handed back."""
    store = MongoStore(url, transactions="off")
    await store.open()
    scan = make_scan("twins")
    await store.create_scan(scan)
    monkeypatch.setattr(_mongo_changes, "roll_forward", _outage)
    with pytest.raises(Unavailable):
        await store.create_task(new_task(scan.id, "w1", key="same", created_at=T0))
    monkeypatch.undo()
    await store.close()
    twin = task_doc(make_task(scan.id, "w1", seq=99), idempotency_key="same")
    await raw.get_default_database().tasks.insert_one(twin)

    for _ in range(2):  # two opens race nothing twice: the undo is conditioned on the entry
        again = MongoStore(url, transactions="off")
        await again.open()
        await again.close()
    again = MongoStore(url, transactions="off")
    await again.open()
    try:
        stats = await again.stats(scan.id, since=T0)
        assert stats.counts == ScanCounts()
        assert [w.submitted for w in stats.workers] == [0]
        assert stats.seq == 0  # its seq was handed back: nothing later took one
        assert await again.events_after(scan.id, 0) == []
    finally:
        await again.close()


async def test_a_change_cut_short_after_its_task_was_written_is_finished_not_given_up(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without transactions, a submission whose task was written but whose journal entry
    was left behind (a crash between the two) is finished by the next open: writing its
    task again violates the idempotency index as well as _id, which is no twin. (Found by
    tests/faults, a SIGKILL under load: the change was given up, its counters reverted and
    its seq handed to the next submission, which then failed as internal, and every one
    after it.)"""
    store = MongoStore(url, transactions="off")
    await store.open()
    scan = make_scan("killed after its task")
    await store.create_scan(scan)
    monkeypatch.setattr(_mongo_changes, "roll_forward", _task_then_outage)
    with pytest.raises(Unavailable):
        await store.create_task(new_task(scan.id, "w1", key="k", created_at=T0))
    monkeypatch.undo()
    await store.close()

    again = MongoStore(url, transactions="off")
    await again.open()
    try:
        stats = await again.stats(scan.id, since=T0)
        assert stats.counts == ScanCounts(pending=1)
        assert stats.seq == 1
        assert [e.seq for e in await again.events_after(scan.id, 0) or ()] == [1]
        second, made = await again.create_task(new_task(scan.id, "w2", created_at=T0))
        assert made is not None
        assert second.seq == 2
    finally:
        await again.close()


async def _outage(*args: object) -> None:
    raise Unavailable("the server went away")


async def _task_then_outage(db: Any, scan_id: str, entry: dict[str, Any]) -> None:
    """The task written, then the connection lost: the entry stays in the journal."""
    event = ScanEvent.from_record(entry["event"])
    assert event.task is not None
    await db.tasks.insert_one(task_doc(event.task, idempotency_key=entry["key"]))
    raise Unavailable("the server went away")


async def test_a_standalone_server_gets_the_journal_and_a_journaled_write_concern() -> None:
    """On a server that does not name a replica set, changes run without transactions,
    acknowledged with ``w:1, j:true``, and still keep every rule (a quick round)."""
    with SecantusServer(standalone=True) as standalone:
        store = MongoStore(standalone.url("standalone"))
        await store.open()
        try:
            assert not store.transactions
            assert store.db.write_concern.document == {"w": 1, "j": True}
            scan = make_scan("standalone")
            await store.create_scan(scan)
            task, event = await store.create_task(new_task(scan.id, key="k", created_at=T0))
            assert event is not None
            assert await store.create_task(new_task(scan.id, key="k")) == (task, None)
            decided = await store.decide_task(
                task.id, TaskStatus.VALIDATED, reason=None, by="a", at=T0
            )
            assert decided.seq == 2
            assert await store.latest_seq(scan.id) == 2
        finally:
            await store.close()


@pytest.mark.parametrize("transactions", ["on", "off"])
async def test_two_processes_racing_on_one_scan_keep_every_rule(
    url: str, transactions: str
) -> None:
    """Two stores on one database (as two server processes, no shared lock): of racing
    decisions one wins, a raced idempotency key makes one task, counters equal a recount."""
    stores = [MongoStore(url, transactions=transactions) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        scan = make_scan("raced")
        await stores[0].create_scan(scan)
        task, _ = await stores[0].create_task(new_task(scan.id, created_at=T0))
        outcomes = await asyncio.gather(
            *(
                stores[i % 2].decide_task(
                    task.id, TaskStatus.VALIDATED, reason=None, by=f"a{i}", at=T0
                )
                for i in range(10)
            ),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if isinstance(o, ScanEvent)]
        losers = [o for o in outcomes if isinstance(o, AlreadyDecided)]
        assert (len(winners), len(losers)) == (1, 9), outcomes
        assert all(loser.task == winners[0].task for loser in losers)

        made = await asyncio.gather(
            *(stores[i % 2].create_task(new_task(scan.id, "w9", key="raced")) for i in range(6))
        )
        assert len({t.id for t, _ in made}) == 1
        assert sum(event is not None for _, event in made) == 1
        await stores[0].close_scan(scan.id, T0)

        stats = await stores[1].stats(scan.id, since=T0)
        listed = await stores[1].list_tasks(scan.id, limit=500)
        assert stats.counts == ScanCounts(pending=1, validated=1)
        assert len(listed) == 2
        assert sorted(w.submitted for w in stats.workers) == [1, 1]
        events = await stores[1].events_after(scan.id, 0)
        assert events is not None
        seqs = [e.seq for e in events]
        assert seqs == sorted(set(seqs))
        assert [e.type for e in events].count(EventType.TASK_CREATED) == 2
        assert seqs[-1] == stats.seq == await stores[0].latest_seq(scan.id)
    finally:
        for store in stores:
            await store.close()


async def test_a_reader_finishes_a_change_left_behind_once_it_is_stale(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without transactions, readers leave a young unfinished change to its owner (hidden)
    and finish it once it is older than ``repair_after``."""
    store = MongoStore(url, transactions="off", repair_after=0.3)
    await store.open()
    try:
        scan = make_scan("stale")
        await store.create_scan(scan)
        monkeypatch.setattr(_mongo_changes, "roll_forward", _outage)
        with pytest.raises(Unavailable):
            await store.create_task(new_task(scan.id, created_at=T0))
        monkeypatch.undo()
        assert await store.latest_seq(scan.id) == 0
        assert await store.events_after(scan.id, 0) == []
        await asyncio.sleep(0.4)
        events = await store.events_after(scan.id, 0)
        assert [e.seq for e in events or ()] == [1]
        assert await store.latest_seq(scan.id) == 1
        assert len(await store.list_tasks(scan.id)) == 1
    finally:
        await store.close()
