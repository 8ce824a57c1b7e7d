"""What the MongoDB adapter does beyond the Store contract: URLs, deployments, bad data."""

from __future__ import annotations

import asyncio

import pytest
from pymongo import AsyncMongoClient

from taskstream_core import ScanEvent, open_store
from taskstream_core.errors import AlreadyDecided, Internal, Unavailable
from taskstream_core.models import EventType, ScanCounts, TaskStatus
from taskstream_core.stores._mongo_client import parse_store_url
from taskstream_core.stores.mongodb import MongoStore
from tests.conformance.factories import T0, make_scan, new_task
from tests.support import free_port
from tests.support.mongo import SecantusServer

from .conftest import Raw


def test_the_url_names_the_database_and_keeps_pymongo_options() -> None:
    """The store's own options leave the URL; pymongo's stay; timeouts default unless given."""
    url, options, defaults = parse_store_url(
        "mongodb://u:p@h1:1,h2:2/tsdb?replicaSet=rs0&event_retention=50&socketTimeoutMS=99"
    )
    assert url == "mongodb://u:p@h1:1,h2:2/tsdb?replicaSet=rs0&socketTimeoutMS=99"
    assert options.event_retention == 50
    assert not options.explicit_write_concern
    assert defaults == {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000}
    assert parse_store_url("mongodb://h/db?w=1")[1].explicit_write_concern


@pytest.mark.parametrize("option", ["transactions=off", "transactions=auto", "repair_after=2"])
def test_a_url_carrying_a_removed_option_is_refused_naming_it(option: str) -> None:
    """``transactions`` and ``repair_after`` tuned the journal, which is gone: a URL that
    still carries one is refused with a message naming it, not silently obeyed."""
    name = option.partition("=")[0]
    with pytest.raises(ValueError, match=f"option '{name}' was removed") as raised:
        open_store(f"mongodb://h/db?replicaSet=rs0&{option}")
    assert "Remove it from the URL" in str(raised.value)


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


async def test_changes_are_acknowledged_by_a_majority_unless_the_url_says(url: str) -> None:
    """Write concern ``majority`` by default; a ``w=`` in the URL is the URL's to choose."""
    default, chosen = MongoStore(url), MongoStore(f"{url}&w=1")
    await default.open()
    await chosen.open()
    try:
        assert default.db.write_concern.document == {"w": "majority"}
        assert chosen.db.write_concern.document == {"w": 1}
    finally:
        await default.close()
        await chosen.close()


async def test_a_standalone_server_is_refused_at_open_saying_what_is_needed() -> None:
    """A server that cannot run transactions (no ``setName`` in ``hello``, not a mongos)
    fails ``open()`` with ValueError naming a replica set and how to make a one-node one,
    before anything is written."""
    with SecantusServer(standalone=True) as standalone:
        store = MongoStore(standalone.url("standalone"))
        with pytest.raises(ValueError, match="replica set") as raised:
            await store.open()
        assert "--replSet rs0" in str(raised.value)
        assert "rs.initiate()" in str(raised.value)
        with pytest.raises(Internal):  # not open
            _ = store.db
        raw: Raw = AsyncMongoClient(standalone.url("standalone"))
        try:
            assert await raw.get_default_database().list_collection_names() == []
        finally:
            await raw.close()


async def test_two_processes_racing_on_one_scan_keep_every_rule(url: str) -> None:
    """Two stores on one database (as two server processes, no shared lock): of racing
    decisions one wins, a raced idempotency key makes one task, counters equal a recount."""
    stores = [MongoStore(url) for _ in range(2)]
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
