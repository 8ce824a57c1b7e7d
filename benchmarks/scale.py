"""``scale``: a scan of 100,000 tasks (1,000 pending), and memory per idle socket.

The scan is written straight through the store API (``--tasks`` submissions,
all but ``--pending`` of them decided; one submission a second in the past,
so that ``submissions_last_minute`` has nothing to count), then read as an
admin reads it: the stats, a page of the listing, the join snapshot (every
pending task and the 100 most recently decided). Each is timed in-process,
through ``TaskStream`` on the same store (the core's own cost), then over the
wire against the real server: HTTP with a kept-alive connection, and
``scan:join`` over Socket.IO. Last, ``--idle`` authenticated sockets connect
and stay idle: the server's RSS grows by what each one costs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from taskstream_core import NewTask, Principal, Role, TaskStream, TokenIssuer
from taskstream_core import open_store as _open_store
from taskstream_core.models import TaskStatus, utc_now

from .figures import percentiles
from .harness import INVITE, SECRET, Account, Server, rss_bytes, seed
from .load import ClientSpec, run_load
from .wire import LeanClient

NAME = "scale"
WORKERS = 50


async def _fill(db: Path, tasks: int, pending: int) -> tuple[Account, list[Account], str, float]:
    """The scan, seeded; the seconds it took."""
    began = time.perf_counter()
    admins, workers, scan_id = await seed(db, 1, WORKERS)
    store = _open_store(f"sqlite:///{db}?synchronous=normal")  # seeding only; the server: FULL
    await store.open()
    now = utc_now()
    every = max(1, tasks // max(1, pending))
    numbers = iter(range(tasks))

    async def submitter() -> None:
        for i in numbers:
            worker = workers[i % len(workers)]
            draft = NewTask(
                id=uuid.uuid4().hex,
                scan_id=scan_id,
                worker_id=worker.user_id,
                worker_username=worker.username,
                content=f"scaled task {i} " + "x" * 60,
                created_at=now - timedelta(seconds=tasks - i),
                idempotency_key=uuid.uuid4().hex,
            )
            task, _ = await store.create_task(draft)
            if i % every != every - 1 or i // every >= pending:
                status = TaskStatus.REFUSED if i % 5 == 0 else TaskStatus.VALIDATED
                at = draft.created_at + timedelta(milliseconds=200 + i % 5_000)
                await store.decide_task(task.id, status, reason=None, by=admins[0].user_id, at=at)

    try:
        await asyncio.gather(*(submitter() for _ in range(512)))
    finally:
        await store.close()
    return admins[0], workers, scan_id, time.perf_counter() - began


async def _timed(calls: int, call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        await call()
        times.append(1000 * (time.perf_counter() - began))
    return percentiles(times)


async def _in_process(db: Path, admin: Account, scan_id: str, calls: int) -> dict[str, Any]:
    core = TaskStream(
        store=_open_store(f"sqlite:///{db}"), tokens=TokenIssuer(SECRET), admin_invite_code=INVITE
    )
    me = Principal(admin.user_id, admin.username, Role.ADMIN)
    async with core:
        total = (await core.stats(me, scan_id)).counts.total
        middle = await _cursor_at(core, me, scan_id, total // 2)
        snapshot = len((await core.join(me, scan_id)).tasks or [])
        return {
            "stats_ms": await _timed(calls, lambda: core.stats(me, scan_id)),
            "page_ms": await _timed(calls, lambda: core.list_tasks(me, scan_id, limit=100)),
            "pending_page_ms": await _timed(
                calls, lambda: core.list_tasks(me, scan_id, status="pending", limit=100)
            ),
            "middle_page_ms": await _timed(
                calls, lambda: core.list_tasks(me, scan_id, limit=100, cursor=middle)
            ),
            "join_ms": await _timed(max(5, calls // 2), lambda: core.join(me, scan_id)),
            "join_snapshot_tasks": snapshot,
            "total_tasks": total,
            "middle_cursor": middle,
        }


async def _cursor_at(core: TaskStream, me: Principal, scan_id: str, offset: int) -> str | None:
    """The cursor of the page that starts ``offset`` tasks in, read page by page (untimed)."""
    cursor: str | None = None
    while offset > 0:
        page = await core.list_tasks(me, scan_id, limit=min(offset, 500), cursor=cursor)
        if page.next_cursor is None:
            return cursor
        offset -= len(page.tasks)
        cursor = page.next_cursor
    return cursor


async def _over_the_wire(
    url: str, admin: Account, scan_id: str, calls: int, middle: str | None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {admin.token}"}
    sizes: dict[str, int] = {}
    async with aiohttp.ClientSession(headers=headers) as http:

        def get(name: str, path: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                async with http.get(url + path) as reply:
                    body = await reply.read()
                    assert reply.status == 200, body[:200]
                    sizes[name] = len(body)

            return call

        base = f"/api/scans/{scan_id}"
        async with http.get(url + base + "/stats") as reply:
            assert reply.status == 200
        figures: dict[str, Any] = {
            "http_stats_ms": await _timed(calls, get("stats", base + "/stats")),
            "http_page_ms": await _timed(calls, get("page", base + "/tasks?limit=100")),
            "http_pending_page_ms": await _timed(
                calls, get("pending_page", base + "/tasks?status=pending&limit=100")
            ),
            "http_middle_page_ms": await _timed(
                calls, get("middle_page", base + f"/tasks?limit=100&cursor={middle or ''}")
            ),
        }
        client = LeanClient(http)
        await client.connect(url, admin.token)
        tasks = 0

        async def join() -> None:
            nonlocal tasks
            _, ack = await client.call("scan:join", {"scan_id": scan_id})
            assert ack.get("ok"), ack
            tasks = len(ack["tasks"])
            await client.call("scan:leave", {"scan_id": scan_id})

        figures["socket_join_ms"] = await _timed(max(5, calls // 2), join)
        figures["socket_join_snapshot_tasks"] = tasks
        await client.close()
    return {**figures, "response_bytes": sizes}


def _server_rss(server: Server) -> int:
    return sum(rss_bytes(pid) for pid in server.pids())


def run(args: argparse.Namespace) -> dict[str, Any]:
    place = Path(tempfile.mkdtemp(prefix="ts-benchmarks-scale-"))
    try:
        db = place / "bench.db"
        admin, workers, scan_id, fill_seconds = asyncio.run(_fill(db, args.tasks, args.pending))
        print(f"  seeded {args.tasks:,} tasks in {fill_seconds:.1f} s")
        core = asyncio.run(_in_process(db, admin, scan_id, args.calls))
        server = Server(place, synchronous=args.synchronous)
        server.start()
        try:
            wire = asyncio.run(
                _over_the_wire(server.url, admin, scan_id, args.calls, core["middle_cursor"])
            )
            time.sleep(1)
            before = _server_rss(server)
            after: list[int] = []

            def measure() -> None:
                time.sleep(2)  # let the server settle after the connect burst
                after.append(_server_rss(server))

            idle = run_load(
                server.url,
                scan_id,
                [ClientSpec("idle", workers[n % len(workers)].token) for n in range(args.idle)],
                duration=1.0,
                procs=args.procs,
                server_pids=server.pids,
                client=args.client,
                at_ready=measure,
            )
        finally:
            code = server.stop()
    finally:
        shutil.rmtree(place, ignore_errors=True)
    memory = {
        "idle_sockets": args.idle,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after[0] / 2**20, 1),
        "kib_per_socket": round((after[0] - before) / args.idle / 1024, 1),
        "connect_failures": idle.failures[:20],
    }
    correct = (
        core["total_tasks"] == args.tasks
        and wire["socket_join_snapshot_tasks"] == core["join_snapshot_tasks"]
        and not idle.failures
    )
    return {
        "scenario": NAME,
        "setup": {"tasks": args.tasks, "pending": args.pending, "calls": args.calls},
        "seed_seconds": round(fill_seconds, 1),
        "in_process": core,
        "over_the_wire": wire,
        "memory": memory,
        "server_exit": code,
        "status": "ok" if correct else "FAILED",
    }
