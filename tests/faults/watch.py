"""Admins that watch a scan through a fault, and the checks every fault test makes at the end.

:class:`ResumingAdmin` is a raw Socket.IO admin that does exactly what CONTRACT.md asks of a
client whose socket went away (the server died, or sent it away to resume): connect again and
re-join with ``since_seq``. It dedupes nothing, so what it records is what the server sent:
the test sees a duplicate or a gap the server caused. :class:`ClientAdmin` is the shipped
:class:`TaskStreamClient` doing the same by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import aiohttp
import socketio

from taskstream_core import ScanEvent
from taskstream_core.client import Snapshot, TaskStreamClient
from taskstream_core.models import EventType
from tests.support import Api, LiveSocket

from .load import SubmitLoad, content_of

__all__ = [
    "ClientAdmin",
    "ResumingAdmin",
    "check_admin_saw",
    "check_after_load",
    "check_stored",
    "stored_tasks",
]

DATA_EVENTS: Final = ("task:created", "task:updated", "scan:updated")


class ResumingAdmin:
    """One admin's successive sockets on a scan, each after the first joined with since_seq."""

    def __init__(self, base_url: str, token: str, scan: str, *, patience: float = 60.0) -> None:
        self.base_url = base_url
        self.token = token
        self.scan = scan
        self.patience = patience
        #: Per connection: the events its join ack carried, and the socket (its live events).
        self.connections: list[tuple[list[dict[str, Any]], LiveSocket]] = []
        self.first_seq = 0
        self.resets: list[dict[str, Any]] = []
        self._closing = False
        self._watcher: asyncio.Task[None] | None = None

    @property
    def resumes(self) -> int:
        return max(0, len(self.connections) - 1)

    @property
    def sent_away(self) -> bool:
        """Whether its first socket has been disconnected (it resumes on another)."""
        return self.connections[0][1].disconnected.is_set()

    def events(self) -> list[dict[str, Any]]:
        """Every data event received, in the order a client processes them: per connection
        the join ack's events, then what arrived live on that socket."""
        seen: list[dict[str, Any]] = []
        for replayed, socket in self.connections:
            seen += replayed
            seen += [e.data for e in socket.events if e.type in DATA_EVENTS]
        return seen

    def last_seq(self) -> int:
        return max((e["seq"] for e in self.events()), default=self.first_seq)

    async def start(self) -> None:
        socket = await LiveSocket(self.base_url, self.token).connect()
        ack = await socket.call("scan:join", {"scan_id": self.scan})
        assert ack["ok"] is True, ack
        assert ack["tasks"] == [], ack
        self.first_seq = ack["seq"]
        self.connections.append(([], socket))
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while not self._closing:
            await self.connections[-1][1].disconnected.wait()
            if self._closing:
                return
            await self._resume()

    async def _resume(self) -> None:
        deadline = time.monotonic() + self.patience
        while not self._closing:
            if time.monotonic() > deadline:
                raise AssertionError(f"the admin could not resume within {self.patience}s")
            socket = LiveSocket(self.base_url, self.token, timeout=5.0)
            try:
                await socket.connect()
                ack = await socket.call(
                    "scan:join", {"scan_id": self.scan, "since_seq": self.last_seq()}
                )
            except (socketio.exceptions.SocketIOError, OSError, TimeoutError):
                await socket.close()
                await asyncio.sleep(0.1)
                continue
            if not ack.get("ok"):  # the store is away too: try again
                await socket.close()
                await asyncio.sleep(0.1)
                continue
            if "events" not in ack:
                self.resets.append(ack)
                ack["events"] = []
            self.connections.append((list(ack["events"]), socket))
            return

    async def caught_up(self, task_ids: Iterable[str]) -> None:
        """Wait until a task:created of each of ``task_ids`` has arrived."""
        wanted = set(task_ids)
        deadline = time.monotonic() + self.patience
        while not wanted <= _created_ids(self.events()):
            if self._watcher is not None and self._watcher.done():
                self._watcher.result()  # raises what stopped it
                raise AssertionError("the admin stopped resuming")
            if time.monotonic() > deadline:
                missing = wanted - _created_ids(self.events())
                raise AssertionError(f"the admin never saw {len(missing)} task(s)")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self._closing = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
        for _, socket in self.connections:
            await socket.close()


class ClientAdmin:
    """The shipped client as an admin: it reconnects and resumes by itself."""

    def __init__(self, base_url: str, token: str, scan: str, *, patience: float = 60.0) -> None:
        self.client = TaskStreamClient(base_url, token, call_timeout=5.0)
        self.scan = scan
        self.patience = patience
        self.items: list[ScanEvent | Snapshot] = []
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.connect()
        await self.client.join(self.scan)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            item = await self.client.next_event()
            if not (
                isinstance(item, ScanEvent)
                and (item.type is EventType.SCAN_STATS or item.type.is_notice)
            ):
                self.items.append(item)

    def events(self) -> list[dict[str, Any]]:
        """The data events as envelopes (a Snapshot is kept out, and counted by the checks)."""
        return [i.to_envelope() for i in self.items if isinstance(i, ScanEvent)]

    @property
    def resets(self) -> list[Snapshot]:
        return [i for i in self.items if isinstance(i, Snapshot)]

    async def caught_up(self, task_ids: Iterable[str]) -> None:
        wanted = set(task_ids)
        deadline = time.monotonic() + self.patience
        while not wanted <= _created_ids(self.events()):
            if self._reader is not None and self._reader.done():
                self._reader.result()
            if time.monotonic() > deadline:
                missing = wanted - _created_ids(self.events())
                seqs = [e["seq"] for e in self.events()]
                raise AssertionError(
                    f"the client admin never saw {len(missing)} task(s): {sorted(missing)};"
                    f" the seqs it saw, in order: {seqs}"
                )
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.client.close()


def _created_ids(events: list[dict[str, Any]]) -> set[str]:
    return {e["task"]["id"] for e in events if e["type"] == "task:created"}


async def stored_tasks(base_url: str, token: str, scan: str) -> list[dict[str, Any]]:
    """Every task of the scan, oldest first, following cursors (an admin's listing)."""
    tasks: list[dict[str, Any]] = []
    cursor: str | None = None
    async with aiohttp.ClientSession() as session:
        api = Api(base_url, session)
        while True:
            params = {"limit": "500", **({"cursor": cursor} if cursor else {})}
            reply = await api.get(f"/api/scans/{scan}/tasks", token=token, params=params)
            assert reply.status == 200, reply.text
            tasks += reply.body["tasks"]
            cursor = reply.body["next_cursor"]
            if cursor is None:
                return tasks


def check_stored(load: SubmitLoad, stored: list[dict[str, Any]]) -> None:
    """Every acknowledged submission is stored exactly once, as acknowledged; nothing else is
    stored but submissions the load began; no idempotency key made two tasks."""
    by_content = Counter(t["content"] for t in stored)
    twice = [content for content, n in by_content.items() if n > 1]
    assert twice == [], f"{len(twice)} idempotency key(s) made more than one task: {twice[:5]}"
    assert len({t["id"] for t in stored}) == len(stored), "a task listed twice"
    begun = {content_of(key) for key in load.begun}
    strangers = [t["content"] for t in stored if t["content"] not in begun]
    assert strangers == [], f"stored but never submitted: {strangers[:5]}"
    by_id = {t["id"]: t for t in stored}
    acked_keys = Counter(ack.key for ack in load.acks)
    assert max(acked_keys.values(), default=1) == 1, "a key acknowledged twice"
    lost = [ack for ack in load.acks if ack.task["id"] not in by_id]
    assert lost == [], f"{len(lost)} acknowledged task(s) missing, e.g. {lost[:3]}"
    for ack in load.acks:
        kept = by_id[ack.task["id"]]
        assert kept["content"] == content_of(ack.key), (ack, kept)
        assert kept["seq"] >= ack.task["seq"]
    stored_not_acked = len(stored) - len(load.acks)
    assert stored_not_acked <= len(load.unfinished), "stored tasks nobody was acknowledged for"


def check_admin_saw(events: list[dict[str, Any]], stored: list[dict[str, Any]], who: str) -> None:
    """An admin received every stored task's creation exactly once, in strictly rising seq."""
    seqs = [e["seq"] for e in events]
    out_of_order = [(a, b) for a, b in itertools.pairwise(seqs) if b <= a]
    assert out_of_order == [], f"{who}: seq not strictly rising at {out_of_order[:5]}"
    created = Counter(e["task"]["id"] for e in events if e["type"] == "task:created")
    twice = [task for task, n in created.items() if n > 1]
    assert twice == [], f"{who}: {len(twice)} task(s) created twice"
    assert set(created) == {t["id"] for t in stored}, f"{who}: not every stored task was seen"


async def check_after_load(
    load: SubmitLoad,
    base_url: str,
    admin_token: str,
    scan: str,
    watchers: Iterable[tuple[ResumingAdmin | ClientAdmin, str]],
) -> list[dict[str, Any]]:
    """What every fault test holds once its load has finished, whatever the fault: every
    submission ended as the contract allows, each acknowledged task is stored once, and
    each watching admin (closed here) saw every stored task once, in seq order, without a
    reset. The stored tasks, for the test's own checks."""
    assert load.unfinished == []
    for tally in load.tallies.values():
        assert tally.unexpected == [], tally
    stored = await stored_tasks(base_url, admin_token, scan)
    check_stored(load, stored)
    ids = [t["id"] for t in stored]
    for watcher, who in watchers:
        await watcher.caught_up(ids)
        assert watcher.resets == []
        check_admin_saw(watcher.events(), stored, who)
        await watcher.close()
    return stored
