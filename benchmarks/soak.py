"""Soak run: many Socket.IO connections to one real server for minutes, nothing lost.

    python -m benchmarks.soak [--duration 300 --sockets 1000 --workers 50 --admins 20
                               --rate 100 --procs 4 --json soak.json]
    python -m benchmarks.soak --scenario presence [--sockets 1000 --admins 50 --leave 100
                                                   --redis-url redis://127.0.0.1:6379/11]

``--scenario presence`` runs :mod:`benchmarks.presence` instead (a join storm of
``--sockets`` sockets and ``scan:presence`` per socket); what follows is the
default scenario, ``submits``.

The script starts ``taskstream-server`` on 127.0.0.1 (a fresh SQLite file in
a temporary folder, stopped by its PID at the end), registers accounts,
opens one scan and connects ``--sockets`` Socket.IO clients (WebSocket)
spread over ``--procs`` client processes, so the load generator is not the
bottleneck of one event loop. Every socket joins the scan:

- ``--workers`` sockets submit tasks at ``--rate`` submits/s in all, paced,
  each with an idempotency key (every 25th is sent twice: the replay must
  answer the same task and make no event);
- ``--admins`` sockets watch: each must receive every acknowledged submit
  once, in seq order;
- the rest are idle workers joined to the scan, as a worker's open dashboard
  is: each holds a subscription in the server, which is the per-connection
  state a leak would keep, but a worker sees only its own tasks, so they add
  connections and rooms rather than fan-out.

Accounts: registering costs the server a full PBKDF2 hash (600,000 rounds), so
at most ``--accounts`` accounts are made per role and sockets share them
round-robin, as several tabs of one user do.

It prints, and writes with ``--json``: the delivery check (missing, duplicate,
out-of-order events per admin), submit→admin latency p50/p95/p99 measured on
one clock (``time.time``, CLOCK_REALTIME, which every process of this machine
shares: the send time travels in the task's content), the server's RSS and
open fds every 10 s with the growth after the first minute, CPU seconds of the
server and of the clients, and what other processes of the machine used
meanwhile. It exits 1 when an acknowledged submit was lost, duplicated or
reordered, a replay made a new task, the server answered ``internal`` or died.
Load goes to 127.0.0.1 only, for ``--duration`` seconds plus setup and drain.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from . import harness, presence
from .harness import INVITE, cpu_seconds, machine_busy_seconds, rss_bytes

# Throwaway credentials of a throwaway server on 127.0.0.1.
PASSWORD = "soak password"  # noqa: S105

SAMPLE_EVERY = 10.0
REPLAY_EVERY = 25
ACK_TIMEOUT = 30.0
DRAIN_SECONDS = 30.0


# -- the server ------------------------------------------------------------------------------
@dataclass
class Server(harness.Server):
    """The benchmarks' server on ``soak.db``, its output in ``server.log``, and the gauges
    the soak reads."""

    store_name: str = "soak.db"
    log_name: str | None = "server.log"

    def start(self) -> None:
        try:
            super().start()
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"the server did not start ({exc}):\n{self.log_tail()}") from exc

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/api/health", timeout=5) as reply:  # noqa: S310
                return bool(reply.status == 200)
        except OSError:
            return False

    def connected_sockets(self) -> int | None:
        """The server's ``taskstream_connected_sockets`` gauge (None if unreadable)."""
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=5) as reply:  # noqa: S310
                text = reply.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("taskstream_connected_sockets "):
                return int(float(line.split()[1]))
        return None

    def settled_sockets(self, within: float = 30.0) -> int | None:
        """The socket gauge once it reads 0, or its last reading after ``within`` seconds:
        the server handles the clients' last disconnects after they have left."""
        deadline = time.monotonic() + within
        while (count := self.connected_sockets()) != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        return count

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


class Sampler(threading.Thread):
    """The server's RSS, open fds, CPU and socket gauge every ``SAMPLE_EVERY`` seconds."""

    def __init__(self, server: Server, began: float) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.began = began
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while True:
            self.take()
            if self.halt.wait(SAMPLE_EVERY) or not self.server.alive:
                return

    def take(self) -> None:
        if not self.server.alive:
            return
        try:
            rss = rss_bytes(self.server.pid) // 1024
            sample = {
                "t": round(time.time() - self.began, 1),
                "rss_kib": rss,
                "fds": self.server.fds(),
                "cpu_s": round(cpu_seconds(self.server.pid), 2),
                "sockets": self.server.connected_sockets(),
            }
        except OSError:  # it ended between the check and the read
            return
        self.samples.append(sample)
        print(
            f"  t={sample['t']:6.1f}s  rss {rss / 1024:7.1f} MiB  "
            f"fds {sample['fds']:5}  cpu {sample['cpu_s']:7.1f} s  sockets {sample['sockets']}",
            flush=True,
        )


# -- accounts --------------------------------------------------------------------------------
async def register(
    http: aiohttp.ClientSession, url: str, role: str, lock: asyncio.Semaphore
) -> str:
    body = {"username": f"soak-{role}-{uuid.uuid4().hex[:10]}", "password": PASSWORD}
    if role == "admin":
        body |= {"role": "admin", "invite_code": INVITE}
    async with lock, http.post(url + "/api/auth/register", json=body) as reply:
        if reply.status != 201:
            raise RuntimeError(f"register answered {reply.status}: {await reply.text()}")
        token: str = (await reply.json())["token"]
        return token


async def prepare(url: str, counts: dict[str, int]) -> tuple[str, dict[str, list[str]]]:
    """Accounts per role (``counts``) and the scan: (scan id, tokens by role)."""
    lock = asyncio.Semaphore(4)  # the server hashes in threads; 2 cores
    async with aiohttp.ClientSession() as http:
        tokens = {
            role: list(await asyncio.gather(*(register(http, url, role, lock) for _ in range(n))))
            for role, n in counts.items()
        }
        async with http.post(
            url + "/api/scans",
            json={"name": "soak"},
            headers={"Authorization": f"Bearer {tokens['admin'][0]}"},
        ) as reply:
            scan: str = (await reply.json())["scan"]["id"]
    return scan, tokens


# -- one client process ----------------------------------------------------------------------
@dataclass
class Spec:
    """One socket to open: its role (admin, worker, idle), token and worker index."""

    role: str
    token: str
    worker: int = -1


@dataclass
class Watch:
    """What one admin socket received."""

    seqs: array[int] = field(default_factory=lambda: array("q"))
    contents: set[str] = field(default_factory=set)
    repeated_contents: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    stats: int = 0

    def on_created(self, envelope: dict[str, Any]) -> None:
        now = time.time()
        self.seqs.append(int(envelope["seq"]))
        content = str(envelope["task"]["content"])
        if content in self.contents:
            self.repeated_contents += 1
        self.contents.add(content)
        self.latencies.append(now - float(content.rsplit(" ", 1)[1]))

    def on_stats(self, envelope: dict[str, Any]) -> None:
        self.stats += 1

    def verdict(self, acked: set[int]) -> dict[str, int]:
        seen = set(self.seqs)
        disorder = sum(1 for a, b in zip(self.seqs, self.seqs[1:], strict=False) if b <= a)
        return {
            "received": len(self.seqs),
            "missing": len(acked - seen),
            "duplicates": len(self.seqs) - len(seen) + self.repeated_contents,
            "out_of_order": disorder,
            "stats_events": self.stats,
        }


class ClientProcess:
    """The sockets of one client process and the submits of its workers."""

    def __init__(
        self, conn: multiprocessing.connection.Connection, url: str, scan: str, specs: list[Spec]
    ) -> None:
        self.conn = conn
        self.url = url
        self.scan = scan
        self.specs = specs
        self.clients: list[socketio.AsyncClient] = []
        self.watches: list[Watch] = []
        self.workers: list[tuple[int, socketio.AsyncClient]] = []
        self.closing = False
        self.dropped = 0
        self.connect_failures = 0
        self.acked: dict[int, str] = {}
        self.errors: Counter[str] = Counter()
        self.replays = 0
        self.replay_mismatches = 0
        self.retries = 0
        self.attempted = 0

    async def recv(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    def on_disconnect(self, *reason: Any) -> None:
        if not self.closing:
            self.dropped += 1

    async def open(self, spec: Spec, lock: asyncio.Semaphore) -> None:
        client = socketio.AsyncClient(reconnection=False)
        client.on("disconnect", self.on_disconnect)
        if spec.role == "admin":
            watch = Watch()
            client.on("task:created", watch.on_created)
            client.on("scan:stats", watch.on_stats)
        for attempt in range(3):
            try:
                async with lock:
                    await client.connect(
                        self.url,
                        auth={"token": spec.token},
                        transports=["websocket"],
                        wait_timeout=30,
                    )
                    ack = await client.call("scan:join", {"scan_id": self.scan}, timeout=30)
                if not ack.get("ok"):
                    raise RuntimeError(f"join answered {ack}")
                break
            except (socketio.exceptions.SocketIOError, RuntimeError, OSError):
                self.connect_failures += 1
                if client.connected:
                    await client.disconnect()
                await asyncio.sleep(0.5 * (attempt + 1))
        else:
            return
        self.clients.append(client)
        if spec.role == "admin":
            self.watches.append(watch)
        elif spec.role == "worker":
            self.workers.append((spec.worker, client))

    async def submit(self, client: socketio.AsyncClient, key: str, content: str) -> Any:
        """Submit, retrying a lost ack with the same idempotency key."""
        payload = {"scan_id": self.scan, "content": content, "idempotency_key": key}
        for _ in range(3):
            try:
                return await client.call("task:submit", payload, timeout=ACK_TIMEOUT)
            except socketio.exceptions.TimeoutError:
                self.retries += 1
            except socketio.exceptions.SocketIOError:
                return None  # disconnected: counted as dropped
        return None

    async def work(self, index: int, client: socketio.AsyncClient, plan: dict[str, float]) -> None:
        period = plan["workers"] / plan["rate"]
        due = plan["start"] + index / plan["rate"]
        n = 0
        while due < plan["end"]:
            await asyncio.sleep(max(0.0, due - time.time()))
            n += 1
            key = f"w{index}-{n}"
            content = f"soak {key} {time.time():.6f}"
            self.attempted += 1
            ack = await self.submit(client, key, content)
            if ack is None:
                self.errors["no ack"] += 1
            elif not ack.get("ok"):
                self.errors[str(ack.get("error", {}).get("code"))] += 1
            else:
                task = ack["task"]
                self.acked[int(task["seq"])] = task["id"]
                if n % REPLAY_EVERY == 0:
                    again = await self.submit(client, key, content)
                    self.replays += 1
                    if not (again and again.get("ok") and again["task"]["id"] == task["id"]):
                        self.replay_mismatches += 1
            due += period
            due = max(due, time.time() - period)  # fell behind: skip slots, do not burst

    async def run(self) -> None:
        began = time.monotonic()
        lock = asyncio.Semaphore(20)
        await asyncio.gather(*(self.open(spec, lock) for spec in self.specs))
        self.conn.send(
            ("ready", {"connected": len(self.clients), "failures": self.connect_failures,
                       "seconds": round(time.monotonic() - began, 1)})
        )  # fmt: skip
        _, plan = await self.recv()
        await asyncio.gather(*(self.work(i, c, plan) for i, c in self.workers))
        self.conn.send(
            ("submitted", {"acked": sorted(self.acked), "attempted": self.attempted,
                           "errors": dict(self.errors), "replays": self.replays,
                           "replay_mismatches": self.replay_mismatches, "retries": self.retries})
        )  # fmt: skip
        _, acked_list = await self.recv()
        acked = set(acked_list)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(  # noqa: ASYNC110 - handlers fill plain lists
            len(acked - set(w.seqs)) for w in self.watches
        ):
            await asyncio.sleep(0.2)
        verdicts = [w.verdict(acked) for w in self.watches]
        latencies = array("d")
        for w in self.watches:
            latencies.extend(w.latencies)
        dropped = self.dropped
        self.closing = True
        await asyncio.gather(*(c.disconnect() for c in self.clients), return_exceptions=True)
        self.conn.send(
            ("done", {"admins": verdicts, "latencies": latencies.tobytes(), "dropped": dropped,
                      "cpu_s": time.process_time(), "rss_kib": rss_bytes(os.getpid()) // 1024})
        )  # fmt: skip


def client_main(
    conn: multiprocessing.connection.Connection, url: str, scan: str, specs: list[Spec]
) -> None:
    asyncio.run(ClientProcess(conn, url, scan, specs).run())


# -- the run ---------------------------------------------------------------------------------
def plan_sockets(args: argparse.Namespace, tokens: dict[str, list[str]]) -> list[Spec]:
    idle = args.sockets - args.workers - args.admins
    specs = [Spec("admin", tokens["admin"][i % len(tokens["admin"])]) for i in range(args.admins)]
    specs += [
        Spec("worker", tokens["worker"][i % len(tokens["worker"])], worker=i)
        for i in range(args.workers)
    ]
    if idle:
        specs += [Spec("idle", tokens["idle"][i % len(tokens["idle"])]) for i in range(idle)]
    return specs


def collect(
    conns: list[multiprocessing.connection.Connection], kind: str, within: float
) -> list[dict[str, Any]]:
    """One message of ``kind`` from every client process, all within ``within`` seconds."""
    deadline = time.monotonic() + within
    answers: list[dict[str, Any]] = []
    for conn in conns:
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"a client process sent no {kind!r} within {within:g} s")
        got, body = conn.recv()
        if got != kind:
            raise RuntimeError(f"expected {kind!r} from a client process, got {got!r}")
        answers.append(body)
    return answers


def percentile(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def memory_figures(samples: list[dict[str, Any]], warmup: float) -> dict[str, Any]:
    """RSS at the end of the warm-up against the end, and the slope after the warm-up."""
    after = [s for s in samples if s["t"] >= warmup] or samples[-1:]
    if not after:
        return {}
    first, last = after[0], samples[-1]
    slope = None
    if len(after) >= 3:
        ts = [s["t"] / 60 for s in after]
        rs = [s["rss_kib"] / 1024 for s in after]
        slope = statistics.linear_regression(ts, rs).slope
    return {
        "warmup_s": round(warmup, 1),
        "rss_after_warmup_mib": round(first["rss_kib"] / 1024, 1),
        "rss_end_mib": round(last["rss_kib"] / 1024, 1),
        "growth_mib": round((last["rss_kib"] - first["rss_kib"]) / 1024, 1),
        "slope_mib_per_min": None if slope is None else round(slope, 3),
        "rss_peak_mib": round(max(s["rss_kib"] for s in samples) / 1024, 1),
    }


def submit_figures(submitted: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    for part in submitted:
        errors.update(part["errors"])
    acked = sum(len(part["acked"]) for part in submitted)
    figures: dict[str, Any] = {"acked": acked, "acked_per_s": round(acked / elapsed, 1)}
    for name in ("attempted", "retries", "replays", "replay_mismatches"):
        figures[name] = sum(part[name] for part in submitted)
    return figures | {"errors": dict(errors)}


def delivery_figures(done: list[dict[str, Any]], acked: int) -> dict[str, Any]:
    admins = [a for d in done for a in d["admins"]]
    figures = {"admins": len(admins), "expected_per_admin": acked}
    for name in ("missing", "duplicates", "out_of_order", "stats_events"):
        figures[name] = sum(a[name] for a in admins)
    figures["admins_missing_something"] = sum(1 for a in admins if a["missing"])
    return figures


def latency_figures(done: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = array("d")
    for d in done:
        latencies.frombytes(d["latencies"])
    values = sorted(latencies)
    figures: dict[str, Any] = {
        "clock": "time.time() (CLOCK_REALTIME), shared by the processes of this machine",
        "samples": len(values),
    }
    for q in (50, 95, 99):
        value = percentile(values, q)
        figures[f"p{q}"] = None if value is None else round(1000 * value, 1)
    figures["max"] = round(1000 * values[-1], 1) if values else None
    return figures


def judge(result: dict[str, Any]) -> list[str]:
    """Why the run failed (empty when it did not)."""
    failures = []
    delivery, submits = result["delivery"], result["submits"]
    for name in ("missing", "duplicates", "out_of_order"):
        if delivery[name]:
            failures.append(f"{delivery[name]} {name.replace('_', ' ')} events at admins")
    if submits["replay_mismatches"]:
        failures.append(f"{submits['replay_mismatches']} replays did not answer the same task")
    if submits["errors"].get("internal"):
        failures.append(f"{submits['errors']['internal']} submits answered internal")
    if result["sockets"]["connected"] < result["config"]["sockets"]:
        failures.append(f"only {result['sockets']['connected']} sockets connected")
    if not result["server_alive_at_end"]:
        failures.append("the server did not answer /api/health at the end")
    if result["server_exit"] != 0:
        failures.append(f"the server exited with {result['server_exit']} on SIGTERM")
    return failures


class Run:
    """One soak: the server, the client processes, and the figures they report."""

    def __init__(self, args: argparse.Namespace, place: Path) -> None:
        self.args = args
        self.server = Server(place)
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.conns: list[multiprocessing.connection.Connection] = []
        idle = args.sockets - args.workers - args.admins
        self.counts = {"admin": min(args.admins, args.accounts)}
        self.counts["worker"] = min(args.workers, args.accounts)
        if idle:
            self.counts["idle"] = min(idle, args.accounts)
        self.result: dict[str, Any] = {
            "config": {
                "sockets": args.sockets, "workers": args.workers, "admins": args.admins,
                "idle": idle, "rate": args.rate, "duration_s": args.duration,
                "procs": args.procs, "accounts": self.counts, "cpus": os.cpu_count(),
                "loadavg_at_start": list(os.getloadavg()),
            },
        }  # fmt: skip

    def __call__(self) -> dict[str, Any]:
        self.server.start()
        try:
            self.connect()
            self.load()
        finally:
            for process in self.processes:
                process.join(10)
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGKILL)
            alive = self.server.alive
            self.result["server_exit"] = self.server.stop() if alive else None
            if not alive:
                print(f"the server died; the end of its log:\n{self.server.log_tail()}")
        self.result["config"]["loadavg_at_end"] = list(os.getloadavg())
        self.result["failures"] = judge(self.result)
        return self.result

    def connect(self) -> None:
        """Accounts, the scan, then every socket connected and joined."""
        began = time.monotonic()
        scan, tokens = asyncio.run(prepare(self.server.url, self.counts))
        took = round(time.monotonic() - began, 1)
        print(f"registered {sum(self.counts.values())} accounts in {took} s", flush=True)
        self.result["setup"] = {"register_s": took}
        self.result["server_before_sockets"] = {
            "rss_mib": round(rss_bytes(self.server.pid) // 1024 / 1024, 1),
            "fds": self.server.fds(),
        }
        specs = plan_sockets(self.args, tokens)
        context = multiprocessing.get_context("spawn")
        for p in range(self.args.procs):
            mine, theirs = context.Pipe()
            share = specs[p :: self.args.procs]
            process = context.Process(
                target=client_main, args=(theirs, self.server.url, scan, share), daemon=True
            )
            process.start()
            self.processes.append(process)
            self.conns.append(mine)
        began = time.monotonic()
        ready = collect(self.conns, "ready", 300)
        self.result["sockets"] = {
            "connected": sum(r["connected"] for r in ready),
            "connect_failures": sum(r["failures"] for r in ready),
            "connect_s": round(time.monotonic() - began, 1),
            "gauge_after_connect": self.server.connected_sockets(),
        }
        print(
            f"connected {self.result['sockets']['connected']}/{self.args.sockets} sockets in "
            f"{self.result['sockets']['connect_s']} s ({self.args.procs} client processes)",
            flush=True,
        )

    def load(self) -> None:
        """The timed run, the drain, and the figures."""
        args, server, result = self.args, self.server, self.result
        start = time.time() + 1.0
        plan = {"start": start, "end": start + args.duration}
        plan |= {"workers": args.workers, "rate": args.rate}
        sampler = Sampler(server, start)
        cpu_before = cpu_seconds(server.pid)
        busy_before = machine_busy_seconds()
        for conn in self.conns:
            conn.send(("go", plan))
        sampler.start()
        # Submits end at plan["end"]; the last may wait for its ack (and retries).
        submitted = collect(self.conns, "submitted", args.duration + 4 * ACK_TIMEOUT + 60)
        elapsed = time.time() - start
        server_cpu = cpu_seconds(server.pid) - cpu_before if server.alive else None
        busy = machine_busy_seconds() - busy_before
        result["sockets"]["gauge_at_end"] = server.connected_sockets()

        acked = sorted(s for part in submitted for s in part["acked"])
        for conn in self.conns:
            conn.send(("drain", acked))
        done = collect(self.conns, "done", DRAIN_SECONDS + 120)
        sampler.halt.set()
        sampler.join()
        during = list(sampler.samples)
        result["sockets"]["gauge_after_disconnect"] = server.settled_sockets()
        sampler.take()
        result["sockets"]["dropped"] = sum(d["dropped"] for d in done)
        result["submits"] = submit_figures(submitted, elapsed)
        result["delivery"] = delivery_figures(done, len(acked))
        result["latency_ms"] = latency_figures(done)
        clients_cpu = sum(d["cpu_s"] for d in done)
        result["cpu_s"] = {
            "server": None if server_cpu is None else round(server_cpu, 1),
            "clients": round(clients_cpu, 1),
            "client_processes": [round(d["cpu_s"], 1) for d in done],
            "other_processes": round(max(0.0, busy - (server_cpu or 0) - clients_cpu), 1),
            "wall_s": round(elapsed, 1),
        }
        result["client_rss_mib"] = [round(d["rss_kib"] / 1024, 1) for d in done]
        result["samples"] = sampler.samples
        result["memory"] = memory_figures(during, min(60.0, args.duration / 3))
        if len(sampler.samples) > len(during):
            result["memory"]["rss_after_clients_left_mib"] = round(
                sampler.samples[-1]["rss_kib"] / 1024, 1
            )
        result["server_alive_at_end"] = server.alive and server.healthy()


def summary(r: dict[str, Any]) -> str:
    s, d, lat, m, cpu = r["submits"], r["delivery"], r["latency_ms"], r["memory"], r["cpu_s"]
    sockets, fds = r["sockets"], [x["fds"] for x in r["samples"]]
    lines = [
        f"sockets: {sockets['connected']} connected in {sockets['connect_s']} s "
        f"({sockets['connect_failures']} connect retries), {sockets['dropped']} dropped during "
        f"the run; server gauge {sockets['gauge_at_end']} at the end, "
        f"{sockets['gauge_after_disconnect']} after the clients left",
        f"submits: {s['acked']} acked of {s['attempted']} ({s['acked_per_s']}/s for a target of "
        f"{r['config']['rate']}/s), errors {s['errors'] or 'none'}, {s['retries']} retries, "
        f"{s['replays']} replays ({s['replay_mismatches']} answered another task)",
        f"delivery: {d['admins']} admins x {d['expected_per_admin']} acked: "
        f"{d['missing']} missing, {d['duplicates']} duplicates, {d['out_of_order']} out of order "
        f"({d['stats_events']} scan:stats events)",
        f"submit->admin latency (time.time on one machine): p50 {lat['p50']} ms, p95 {lat['p95']} "
        f"ms, p99 {lat['p99']} ms, max {lat['max']} ms over {lat['samples']} deliveries",
        f"server RSS: {r['server_before_sockets']['rss_mib']} MiB before the sockets, "
        f"{m.get('rss_after_warmup_mib')} MiB after {m.get('warmup_s')} s of load, "
        f"{m.get('rss_end_mib')} MiB at the end (growth {m.get('growth_mib')} MiB, slope "
        f"{m.get('slope_mib_per_min')} MiB/min, peak {m.get('rss_peak_mib')} MiB), "
        f"{m.get('rss_after_clients_left_mib')} MiB once the clients left",
        f"server fds: {r['server_before_sockets']['fds']} before the sockets, "
        f"{fds[0] if fds else None} at the start, max {max(fds, default=None)}, "
        f"{fds[-1] if fds else None} after the clients left",
        f"CPU s over {cpu['wall_s']} s: server {cpu['server']}, clients {cpu['clients']} "
        f"{cpu['client_processes']}, other processes of the machine {cpu['other_processes']}; "
        f"load average {r['config']['loadavg_at_start']} -> {r['config']['loadavg_at_end']}",
        f"server exit code on SIGTERM: {r['server_exit']}",
        "OK" if not r["failures"] else "FAILED: " + "; ".join(r["failures"]),
    ]
    return "\n".join(lines)


def main_presence(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``--scenario presence``: print and save the figures; 1 when the run failed."""
    if args.admins is None:
        args.admins = max(1, args.sockets // 20)
    if args.leave is None:
        args.leave = args.sockets // 10
    if not 0 < args.admins < args.sockets or not 0 < args.leave < args.sockets:
        parser.error("need 1+ admins and 1+ workers, and 0 < --leave < --sockets")
    print(
        f"presence: {args.sockets} sockets ({args.admins} admins) join one scan at once, then "
        f"{args.leave} go; {args.procs} client processes, {os.cpu_count()} CPUs"
        + (f"; then two server processes sharing {args.redis_url}" if args.redis_url else ""),
        flush=True,
    )
    result = presence.run(args)
    print(presence.summary(result), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["status"] == "ok" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenario",
        choices=["submits", "presence"],
        default="submits",
        help="submits (the default: paced submits, every admin gets each) or presence "
        "(benchmarks/presence.py: a join storm and scan:presence per socket)",
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--sockets", type=int, default=1000, help="connections in all")
    parser.add_argument("--workers", type=int, default=50, help="submitting sockets")
    parser.add_argument(
        "--admins",
        type=int,
        default=None,
        help="watching admin sockets (default 20; presence: a twentieth of --sockets)",
    )
    parser.add_argument("--rate", type=float, default=100.0, help="submits/s in all, paced")
    parser.add_argument("--procs", type=int, default=4, help="client processes")
    parser.add_argument("--accounts", type=int, default=50, help="accounts per role at most")
    parser.add_argument(
        "--leave", type=int, default=None, help="presence: sockets that go (default a tenth)"
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="presence: also run two server processes sharing this Redis",
    )
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.scenario == "presence":
        return main_presence(args, parser)
    if args.admins is None:
        args.admins = 20
    if args.workers < 1 or args.admins < 1 or args.workers + args.admins > args.sockets:
        parser.error("need 1+ workers, 1+ admins, and workers + admins <= sockets")
    if args.rate <= 0 or args.procs < 1 or args.accounts < 1:
        parser.error("--rate, --procs and --accounts must be positive")
    print(
        f"soak: {args.sockets} sockets ({args.workers} submitting at {args.rate:g}/s, "
        f"{args.admins} admins), {args.duration:g} s, {args.procs} client processes, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="ts-soak-") as place:
        result = Run(args, Path(place))()
    print(summary(result), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
