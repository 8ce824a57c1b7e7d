"""Store throughput and stats latency at scale: ``python benchmarks/store_bench.py``.

For each store: a scan is filled to ``--tasks`` tasks, then measured:
``--sequential`` submissions one at a time, ``--concurrent`` more from
``--concurrency`` submitters at once, ``--decide`` decisions, and the latency
of ``--stats-calls`` calls of ``stats()`` (p50/p95). Submissions carry an
idempotency key, as the Python client's do. Not a test: it prints figures
(docs/storage.md).

The fill goes through ``create_task`` (20 at a time) for SQLite. For MongoDB,
where secantus takes ~10 ms a submission, the first 50 go through
``create_task`` (one per worker) and the rest are copies of the documents
those wrote, made in bulk through the store's pymongo database (tasks, the
last ``event_retention`` events, the scan's counters): the measured phases
then run through the store as usual. Filled tasks are
dated one a second up to now, as a day's work would be, so the
``submissions_last_minute`` that ``stats()`` counts holds the measured
submissions only, not all 100,000.

MongoDB runs on the server ``--mongodb-url`` names, else on a ``secantus``
process this script starts (in-memory storage) and stops by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from taskstream_core import NewTask, Scan, ScanEvent, Store, Task, open_store
from taskstream_core.models import EventType, ScanStatus, TaskStatus, utc_now
from taskstream_core.stores.mongodb import MongoStore

#: How many workers submit, in turn.
WORKERS = 50


@contextmanager
def secantus() -> Iterator[str]:
    """A secantus server on a free port; its base URL. Stopped by PID afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--storage-path", ":memory:", "--log-level", "WARNING"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield f"mongodb://127.0.0.1:{port}/bench?directConnection=true"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(30)


def _draft(scan_id: str, i: int, age: float = 0.0) -> NewTask:
    """Submission number ``i``, made ``age`` seconds ago."""
    return NewTask(
        id=uuid.uuid4().hex,
        scan_id=scan_id,
        worker_id=f"w{i % WORKERS}",
        worker_username=f"worker{i % WORKERS}",
        content=f"task {i}: " + "x" * 80,
        created_at=utc_now() - timedelta(seconds=age),
        idempotency_key=uuid.uuid4().hex,
    )


async def _submit(
    store: Store, scan_id: str, numbers: range, concurrency: int, *, past: bool = False
) -> None:
    """Submit tasks ``numbers``; with ``past``, made one a second up to now (a day's work)."""
    counter = iter(numbers)

    async def submitter() -> None:
        for i in counter:
            await store.create_task(_draft(scan_id, i, numbers.stop - i if past else 0.0))

    await asyncio.gather(*(submitter() for _ in range(concurrency)))


async def _bulk_fill(store: MongoStore, scan_id: str, n: int) -> None:
    """``n`` submissions: one per worker through the store, the rest copies of its documents.

    The copies take the task documents the store wrote for each worker as their
    template, with the fields of their own (id, seqs, content, key, time); the
    scan's counters are raised by what was copied.
    """
    seeded = min(n, WORKERS)
    for i in range(seeded):
        await store.create_task(_draft(scan_id, i, n - i))
    db = store.db
    templates = {doc["worker_id"]: doc async for doc in db.tasks.find({"scan_id": scan_id})}
    copies: Counter[str] = Counter()
    for start in range(seeded, n, 5_000):
        tasks, events = [], []
        for i in range(start, min(n, start + 5_000)):
            draft = _draft(scan_id, i, n - i)
            fields = {"seq": i + 1, "created_seq": i + 1, "content": draft.content}
            fields |= {"created_at": draft.created_at, "idempotency_key": draft.idempotency_key}
            tasks.append({**templates[draft.worker_id], "_id": draft.id, **fields})
            copies[draft.worker_id] += 1
            if i >= n - store.event_retention:
                task = Task(
                    draft.id,
                    scan_id,
                    draft.worker_id,
                    draft.worker_username,
                    draft.content,
                    TaskStatus.PENDING,
                    draft.created_at,
                    seq=i + 1,
                    created_seq=i + 1,
                )
                event = ScanEvent(EventType.TASK_CREATED, scan_id, i + 1, task=task)
                body = {"scan_id": scan_id, "seq": i + 1, "worker_id": task.worker_id}
                events.append({**body, "body": event.to_record()})
        await db.tasks.insert_many(tasks, ordered=False)
        if events:
            await db.events.insert_many(events, ordered=False)
    scan = await db.scans.find_one({"_id": scan_id}, {"workers": 1})
    assert scan is not None
    counters = {"seq": n - seeded, "counts.pending": n - seeded}
    for key, worker in scan["workers"].items():  # keyed as the store keys worker ids
        each = copies[worker["worker_id"]]
        counters |= {f"workers.{key}.submitted": each, f"workers.{key}.pending": each}
    await db.scans.update_one({"_id": scan_id}, {"$inc": counters})


async def run(url: str, args: argparse.Namespace) -> dict[str, float]:
    store: Store = open_store(url)
    await store.open()
    try:
        scan = Scan(uuid.uuid4().hex, "bench", "", ScanStatus.OPEN, "admin", utc_now())
        await store.create_scan(scan)
        figures: dict[str, float] = {}

        filled = args.tasks - args.sequential - args.concurrent
        start = time.perf_counter()
        if isinstance(store, MongoStore):
            await _bulk_fill(store, scan.id, filled)
        else:
            await _submit(store, scan.id, range(filled), 20, past=True)
        figures["fill s"] = time.perf_counter() - start

        start = time.perf_counter()
        await _submit(store, scan.id, range(filled, filled + args.sequential), 1)
        figures["sequential/s"] = args.sequential / (time.perf_counter() - start)

        start = time.perf_counter()
        await _submit(store, scan.id, range(filled + args.sequential, args.tasks), args.concurrency)
        figures[f"concurrent({args.concurrency})/s"] = args.concurrent / (
            time.perf_counter() - start
        )

        pending = await store.list_tasks(scan.id, limit=args.decide)
        start = time.perf_counter()
        for n, task in enumerate(pending):
            status = TaskStatus.VALIDATED if n % 3 else TaskStatus.REFUSED
            at = task.created_at + timedelta(milliseconds=100 + n * 7)
            await store.decide_task(task.id, status, reason=None, by="admin", at=at)
        figures["decisions/s"] = len(pending) / (time.perf_counter() - start)

        latencies = []
        for _ in range(args.stats_calls):
            start = time.perf_counter()
            stats = await store.stats(scan.id, since=utc_now() - timedelta(minutes=1))
            latencies.append((time.perf_counter() - start) * 1000)
        assert stats.counts.total == args.tasks, stats.counts
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        figures["stats p50 ms"], figures["stats p95 ms"] = cuts[49], cuts[94]
        return figures
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="sqlite,mongodb")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--sequential", type=int, default=500)
    parser.add_argument("--concurrent", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--decide", type=int, default=2_000)
    parser.add_argument("--stats-calls", type=int, default=200)
    parser.add_argument("--mongodb-url", help="a MongoDB server to use instead of secantus")
    parser.add_argument("--mongodb-options", default="", help="appended to the mongodb URL")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {args.tasks:,} tasks")
    for name in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if name == "sqlite":
                figures = asyncio.run(run(f"sqlite:///{Path(tmp) / 'bench.db'}", args))
                where = "sqlite (file in a temp dir, synchronous=FULL)"
            elif args.mongodb_url:
                figures = asyncio.run(run(args.mongodb_url + args.mongodb_options, args))
                where = "mongodb (the given server)"
            else:
                with secantus() as url:
                    figures = asyncio.run(run(url + args.mongodb_options, args))
                where = f"mongodb on secantus (in-memory) {args.mongodb_options}".strip()
        print(f"{where}:")
        for key, value in figures.items():
            print(f"  {key:>20}: {value:10.1f}")


if __name__ == "__main__":
    main()
