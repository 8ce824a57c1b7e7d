"""One server process against two, under a bounded Socket.IO load.

    python -m benchmarks.multiprocess [--duration 20 --workers 20 --admins 10 --rate 0]

For each mode the script starts the real ``taskstream-server`` on 127.0.0.1
(a fresh SQLite file in a temporary folder), registers ``--workers`` worker
and ``--admins`` admin accounts, connects one WebSocket client per account,
joins them all to one scan, and for ``--duration`` seconds has every worker
submit in a closed loop (send, wait for the ack, send again), or, with
``--rate``, at a fixed total rate (to read latency below saturation). Modes:

- ``single``: one process, no Redis (the in-process broker);
- ``redis1``: one process with ``--redis-url`` (every event through Redis);
- ``redis2``: ``--workers 2 --redis-url``: two processes on one port.

It counts every ack, checks that every acknowledged submit reached every
admin (once, in seq order), and prints submits/s, the submit→admin latency
(p50/p95/p99, from sending the submit to an admin receiving the event, on
one clock) and the CPU seconds each server process and Redis used. Not a
test: it prints figures (docs/scaling.md). The load generator runs in this
process, on the same machine as the servers: its CPU use is printed too, and
so is what other processes of the machine used meanwhile (a noisy neighbour
shows there).

Needs a running Redis (``--redis-url``, default 127.0.0.1:6379); each run
uses a channel prefix of its own. Processes it starts are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis
import socketio

from .harness import INVITE, SECRET, child_pids, cpu_seconds, free_port, machine_busy_seconds

# Throwaway credentials of throwaway servers on 127.0.0.1.
PASSWORD = "benchmark password"  # noqa: S105


@dataclass
class Server:
    """The server (one process, or a supervisor and its workers) under test."""

    mode: str
    redis_url: str
    place: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [sys.executable, "-m", "taskstream_server", "--port", str(self.port)]
        args += ["--store", f"sqlite:///{self.place / 'bench.db'}", "--log-level", "warning"]
        if self.mode != "single":
            args += ["--redis-url", f"{self.redis_url}?prefix=bench-{uuid.uuid4().hex[:8]}"]
        if self.mode == "redis2":
            args += ["--workers", "2"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKSTREAM_")}
        env |= {"TASKSTREAM_JWT_SECRET": SECRET, "TASKSTREAM_ADMIN_INVITE_CODE": INVITE}
        self.process = subprocess.Popen(args, env=env, cwd=self.place, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("the server did not start")

    def pids(self) -> list[int]:
        """The processes that serve requests (the workers, not their supervisor)."""
        assert self.process is not None
        return child_pids(self.process.pid) if self.mode == "redis2" else [self.process.pid]

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return -1
        os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(60)


@dataclass
class Admin:
    client: socketio.AsyncClient
    seen: dict[str, float] = field(default_factory=dict)
    seqs: list[int] = field(default_factory=list)

    def on_created(self, envelope: dict[str, Any]) -> None:
        self.seen.setdefault(envelope["task"]["id"], time.monotonic())
        self.seqs.append(envelope["seq"])


async def account(http: aiohttp.ClientSession, url: str, role: str) -> str:
    body: dict[str, str] = {"username": f"{role}-{uuid.uuid4().hex[:12]}", "password": PASSWORD}
    if role == "admin":
        body |= {"role": "admin", "invite_code": INVITE}
    async with http.post(url + "/api/auth/register", json=body) as reply:
        assert reply.status == 201, await reply.text()
        token: str = (await reply.json())["token"]
        return token


async def connect(url: str, token: str, scan: str) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=30)
    ack = await client.call("scan:join", {"scan_id": scan}, timeout=30)
    assert ack["ok"], ack
    return client


async def submit_loop(
    client: socketio.AsyncClient,
    scan: str,
    *,
    until: float,
    period: float,
    sent: dict[str, float],
    errors: list[str],
) -> None:
    """Submit until ``until``: back to back (``period`` 0), or one every ``period`` seconds."""
    n = 0
    due = time.monotonic()
    while time.monotonic() < until:
        n += 1
        if period:
            due += period
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        started = time.monotonic()
        ack = await client.call(
            "task:submit", {"scan_id": scan, "content": f"load {n}"}, timeout=60
        )
        if ack.get("ok"):
            sent[ack["task"]["id"]] = started
        else:
            errors.append(str(ack.get("error")))


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if values else 0.0


async def run(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ts-bench-") as place:
        server = Server(mode, args.redis_url, Path(place))
        server.start()
        redis_pid = int(redis.Redis.from_url(args.redis_url).info("server")["process_id"])
        try:
            async with aiohttp.ClientSession() as http:
                admin_tokens = [
                    await account(http, server.url, "admin") for _ in range(args.admins)
                ]
                tokens = await asyncio.gather(
                    *(account(http, server.url, "worker") for _ in range(args.workers))
                )
                async with http.post(
                    server.url + "/api/scans",
                    json={"name": "bench"},
                    headers={"Authorization": f"Bearer {admin_tokens[0]}"},
                ) as reply:
                    scan = (await reply.json())["scan"]["id"]
            admins = [Admin(await connect(server.url, t, scan)) for t in admin_tokens]
            for admin in admins:
                admin.client.on("task:created", admin.on_created)
            workers = [await connect(server.url, t, scan) for t in tokens]

            cpu_before = {pid: cpu_seconds(pid) for pid in [*server.pids(), redis_pid, os.getpid()]}
            busy_before = machine_busy_seconds()
            sent: dict[str, float] = {}
            errors: list[str] = []
            began = time.monotonic()
            until = began + args.duration
            period = len(workers) / args.rate if args.rate else 0.0
            await asyncio.gather(
                *(
                    submit_loop(w, scan, until=until, period=period, sent=sent, errors=errors)
                    for w in workers
                )
            )
            elapsed = time.monotonic() - began
            cpu = {pid: cpu_seconds(pid) - t for pid, t in cpu_before.items()}
            others = machine_busy_seconds() - busy_before - sum(cpu.values())

            drain = time.monotonic() + 30
            # Admins' handlers fill plain dicts; polling them is simplest.
            while time.monotonic() < drain and any(len(a.seen) < len(sent) for a in admins):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            latencies = [a.seen[t] - s for a in admins for t, s in sent.items() if t in a.seen]
            missing = sum(1 for a in admins for t in sent if t not in a.seen)
            disordered = sum(1 for a in admins if a.seqs != sorted(set(a.seqs)))
            for client in [*workers, *(a.client for a in admins)]:
                await client.disconnect()
        finally:
            code = server.stop()
    return {
        "mode": mode,
        "processes": len(cpu) - 2,
        "submits": len(sent),
        "errors": len(errors),
        "rate": len(sent) / elapsed,
        "p50": 1000 * percentile(latencies, 50),
        "p95": 1000 * percentile(latencies, 95),
        "p99": 1000 * percentile(latencies, 99),
        "missing": missing,
        "disordered": disordered,
        "server_cpu": [round(cpu[pid], 1) for pid in cpu if pid not in (redis_pid, os.getpid())],
        "redis_cpu": round(cpu[redis_pid], 1),
        "client_cpu": round(cpu[os.getpid()], 1),
        "other_cpu": round(max(0.0, others), 1),
        "seconds": round(elapsed, 1),
        "exit": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default="single,redis1,redis2")
    parser.add_argument("--workers", type=int, default=20, help="submitting clients")
    parser.add_argument("--admins", type=int, default=10, help="watching admin clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per mode")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="submits/s in all, paced (0: every worker submits back to back)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, {args.workers} workers, {args.admins} admins, {args.duration:g} s"
    )
    for mode in args.modes.split(","):
        r = asyncio.run(run(mode, args))
        print(
            f"{r['mode']:7} {r['rate']:7.1f} submits/s  submit->admin p50 {r['p50']:6.1f} ms  "
            f"p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  | {r['submits']} acked, "
            f"{r['errors']} errors, {r['missing']} missing, {r['disordered']} out of order | "
            f"CPU s: server {r['server_cpu']} redis {r['redis_cpu']} load {r['client_cpu']} "
            f"other processes {r['other_cpu']} "
            f"in {r['seconds']} s | exit {r['exit']}",
            flush=True,
        )


if __name__ == "__main__":
    main()
