"""What every scenario shares: its options, and a seeded server to run against."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .harness import Account, Server, seed_sync


class Served(Protocol):
    """A server the load runs against: TaskStream, or a peer it is compared with."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def pids(self) -> list[int]: ...

    def stop(self) -> int: ...


@dataclass
class Deployment:
    server: Served
    admins: list[Account]
    workers: list[Account]
    scan_id: str


@contextmanager
def deployment(
    args: argparse.Namespace,
    admins: int,
    workers: int,
    *,
    processes: int = 1,
    redis_url: str | None = None,
) -> Iterator[Deployment]:
    """A fresh SQLite store with accounts and one scan, and the real server on it
    (``synchronous=FULL`` as shipped, unless ``--synchronous`` says otherwise); with
    ``args.peer == "node"``, the Node peer instead, taking the same accounts' tokens."""
    place = Path(tempfile.mkdtemp(prefix="ts-benchmarks-"))
    try:
        admin_accounts, worker_accounts, scan_id = seed_sync(place / "bench.db", admins, workers)
        server: Served
        if getattr(args, "peer", None) == "node":
            from .peers import NodePeer  # noqa: PLC0415 - peers imports the scenarios

            server = NodePeer(place)
        else:
            server = Server(
                place, workers=processes, redis_url=redis_url, synchronous=args.synchronous
            )
        server.start()
        try:
            yield Deployment(server, admin_accounts, worker_accounts, scan_id)
        finally:
            code = server.stop()
            if code != 0:
                print(f"  (the server exited with {code})")
    finally:
        shutil.rmtree(place, ignore_errors=True)


def seconds(args: argparse.Namespace, default: float) -> float:
    """The scenario's load duration: ``--duration`` when given, else its own default."""
    value: float = args.duration if args.duration is not None else default
    return value
