"""The load generator: simulated users spread over several client processes.

The parent plans who does what (``ClientSpec``), deals the clients out to
``procs`` processes, and conducts them through four steps over a pipe each:
connect and join (``ready``), run from one agreed instant to another (``go``),
report the acknowledged changes (``done``), then, told which seqs every
watcher must see (``drain``), wait for them and report what arrived. The
load runs in processes of its own so that the client's CPU is not the
server's and can be read from /proc; latency is one process's send time
against another's arrival time, both ``time.time()`` (CLOCK_REALTIME) on one
machine, hence one clock.

Each watcher checks the contract's promise itself: every acknowledged change
it may see arrives once, in seq order. What is missing, repeated or out of
order is counted, never smoothed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp

from .harness import cpu_seconds, machine_busy_seconds
from .wire import CLIENTS, Client

CREATED = "task:created"
UPDATED = "task:updated"


@dataclass
class ClientSpec:
    """One simulated user.

    ``role``: ``submit`` (a worker submitting), ``decide`` (an admin deciding
    ``task_ids``), ``watch`` (a joined socket checking what it receives), or
    ``idle`` (connected, authenticated, nothing else). ``rate`` is this
    client's operations per second, 0 for back to back. A watcher with
    ``own`` set sees only those tasks' events (a worker); ``events`` names the
    event types it checks.
    """

    role: str
    token: str
    rate: float = 0.0
    task_ids: list[str] = field(default_factory=list)
    own: frozenset[str] | None = None
    events: tuple[str, ...] = (CREATED, UPDATED)
    label: str = ""

    def series(self, kind: str) -> str:
        """Where this watcher's latencies of ``kind`` go: its label, else by event type."""
        return self.label or ("submit_to_watcher" if kind == CREATED else "decide_to_watcher")


@dataclass
class Op:
    """An acknowledged change (or a refused one: ``seq`` 0, ``error`` set)."""

    kind: str  # CREATED for a submit, UPDATED for a decision
    sent: float
    acked: float
    seq: int
    task_id: str
    error: str = ""


@dataclass
class WatchReport:
    """What one process's watchers saw of the changes they had to see."""

    expected: int = 0
    received: int = 0
    missing: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    latency_ms: dict[str, array[float]] = field(default_factory=dict)
    per_watcher_p50_ms: list[float] = field(default_factory=list)
    per_second: list[int] = field(default_factory=list)


# -- the client processes ----------------------------------------------------------------


class _Watcher:
    def __init__(self, spec: ClientSpec) -> None:
        self.spec = spec
        self.seqs = array("q")
        self.times = array("d")
        self.kinds: list[str] = []

    def handler(self, kind: str) -> Callable[[float, dict[str, Any]], None]:
        own = self.spec.own

        def receive(now: float, envelope: dict[str, Any]) -> None:
            if own is not None and envelope["task"]["id"] not in own:
                return
            self.seqs.append(envelope["seq"])
            self.times.append(now)
            self.kinds.append(kind)

        return receive


async def _submitter(
    client: Client, scan_id: str, spec: ClientSpec, end: float, ops: list[Op]
) -> None:
    period = 1 / spec.rate if spec.rate else 0.0
    due = time.time()
    n = 0
    while time.time() < end:
        if period:
            due += period
            await asyncio.sleep(max(0.0, due - time.time()))
            if due >= end:
                break
        n += 1
        sent = time.time()
        acked, ack = await client.call(
            "task:submit", {"scan_id": scan_id, "content": f"benchmark task {n} " + "x" * 60}
        )
        if ack.get("ok"):
            task = ack["task"]
            ops.append(Op(CREATED, sent, acked, task["seq"], task["id"]))
        else:
            ops.append(Op(CREATED, sent, acked, 0, "", ack["error"]["code"]))


async def _decider(client: Client, spec: ClientSpec, end: float, ops: list[Op]) -> None:
    period = 1 / spec.rate if spec.rate else 0.0
    due = time.time()
    for n, task_id in enumerate(spec.task_ids):
        if period:
            due += period
            await asyncio.sleep(max(0.0, due - time.time()))
        if time.time() >= end:
            break
        decision = "refused" if n % 4 == 3 else "validated"
        sent = time.time()
        acked, ack = await client.call("task:decide", {"task_id": task_id, "decision": decision})
        if ack.get("ok"):
            ops.append(Op(UPDATED, sent, acked, ack["task"]["seq"], task_id))
        else:
            ops.append(Op(UPDATED, sent, acked, 0, task_id, ack["error"]["code"]))


def _check(
    watchers: list[_Watcher], expected: dict[int, tuple[str, float, str]], start: float
) -> WatchReport:
    report = WatchReport()
    seconds: dict[int, int] = {}
    for watcher in watchers:
        spec = watcher.spec
        wanted = _wanted(spec, expected)
        seen: set[int] = set()
        last = 0
        mine = array("f")
        for seq, at, kind in zip(watcher.seqs, watcher.times, watcher.kinds, strict=True):
            if seq <= last:
                report.out_of_order += seq not in seen
            last = max(last, seq)
            if seq in seen:
                report.duplicates += 1
                continue
            seen.add(seq)
            if seq in wanted and kind in spec.events:
                millis = 1000 * (at - expected[seq][1])
                report.latency_ms.setdefault(spec.series(kind), array("f")).append(millis)
                mine.append(millis)
                second = int(at - start)
                seconds[second] = seconds.get(second, 0) + 1
        report.expected += len(wanted)
        report.received += len(wanted & seen)
        report.missing += len(wanted - seen)
        if mine:
            report.per_watcher_p50_ms.append(sorted(mine)[len(mine) // 2])
    if seconds:
        report.per_second = [seconds.get(s, 0) for s in range(max(seconds) + 1)]
    return report


async def _child_async(
    pipe: Connection, url: str, scan_id: str, specs: list[ClientSpec], kind: str
) -> None:
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients: list[Client] = [CLIENTS[kind](session) for _ in specs]
        watchers: list[_Watcher] = []
        gate = asyncio.Semaphore(25)
        errors: list[str] = []

        async def open_one(client: Client, spec: ClientSpec) -> None:
            async with gate:
                await client.connect(url, spec.token)
                if spec.role == "idle":
                    return
                if spec.role == "watch":
                    watcher = _Watcher(spec)
                    for event in spec.events:
                        client.on(event, watcher.handler(event))
                    watchers.append(watcher)
                _, ack = await client.call("scan:join", {"scan_id": scan_id})
                if not ack.get("ok"):
                    errors.append(f"join refused: {ack}")

        results = await asyncio.gather(
            *(open_one(c, s) for c, s in zip(clients, specs, strict=True)), return_exceptions=True
        )
        errors += [repr(r) for r in results if isinstance(r, BaseException)]
        pipe.send(("ready", os.getpid(), errors))
        _, start, end = await loop.run_in_executor(None, pipe.recv)
        await asyncio.sleep(max(0.0, start - time.time()))
        ops: list[Op] = []
        actors = []
        for client, spec in zip(clients, specs, strict=True):
            if spec.role == "submit":
                actors.append(_submitter(client, scan_id, spec, end, ops))
            elif spec.role == "decide":
                actors.append(_decider(client, spec, end, ops))
        outcomes = await asyncio.gather(*actors, return_exceptions=True)
        failures = [repr(r) for r in outcomes if isinstance(r, BaseException)]
        pipe.send(("done", ops, failures))
        _, expected, deadline = await loop.run_in_executor(None, pipe.recv)
        needs = [len(_wanted(w.spec, expected)) for w in watchers]
        while time.time() < deadline and not _complete(watchers, needs):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        pipe.send(("result", _check(watchers, expected, start)))
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


_WANTED: dict[tuple[tuple[str, ...], int, int], set[int]] = {}


def _wanted(spec: ClientSpec, expected: dict[int, tuple[str, float, str]]) -> set[int]:
    """The seqs a watcher must see; computed once per kind of watcher, not per watcher."""
    key = (spec.events, id(spec.own), id(expected))
    if key not in _WANTED:
        _WANTED[key] = {
            seq
            for seq, (kind, _, task_id) in expected.items()
            if kind in spec.events and (spec.own is None or task_id in spec.own)
        }
    return _WANTED[key]


def _complete(watchers: list[_Watcher], needs: list[int]) -> bool:
    """Whether every watcher holds at least as many events as it must (a cheap test)."""
    return all(len(w.seqs) >= need for w, need in zip(watchers, needs, strict=True))


def _child(pipe: Connection, url: str, scan_id: str, specs: list[ClientSpec], kind: str) -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional: the client is cheaper with it

        uvloop.install()
    asyncio.run(_child_async(pipe, url, scan_id, specs, kind))


# -- the conductor ------------------------------------------------------------------------


@dataclass
class LoadResult:
    duration: float
    ops: list[Op]
    watch: WatchReport
    failures: list[str]
    cpu_server: float
    cpu_clients: float
    #: The server's CPU seconds by process (Redis's included when it was watched).
    cpu_server_by_pid: dict[int, float]
    cpu_other: float
    client_processes: int

    @property
    def acked(self) -> list[Op]:
        return [op for op in self.ops if not op.error]

    @property
    def refused(self) -> list[Op]:
        return [op for op in self.ops if op.error]

    @property
    def failed(self) -> bool:
        w = self.watch
        return bool(self.failures or self.refused or w.missing or w.duplicates or w.out_of_order)


def _merge(reports: Sequence[WatchReport]) -> WatchReport:
    total = WatchReport()
    for r in reports:
        total.expected += r.expected
        total.received += r.received
        total.missing += r.missing
        total.duplicates += r.duplicates
        total.out_of_order += r.out_of_order
        for kind, values in r.latency_ms.items():
            total.latency_ms.setdefault(kind, array("f")).extend(values)
        total.per_watcher_p50_ms += r.per_watcher_p50_ms
        if len(r.per_second) > len(total.per_second):
            total.per_second += [0] * (len(r.per_second) - len(total.per_second))
        for n, count in enumerate(r.per_second):
            total.per_second[n] += count
    return total


def _receive_all(pipes: list[Connection], timeout: float, step: str) -> list[Any]:
    """One message from each client process; a process that stays silent is an error."""
    messages = []
    for pipe in pipes:
        if not pipe.poll(timeout):
            raise TimeoutError(f"a client process did not {step} within {timeout:g} s")
        messages.append(pipe.recv())
    return messages


def stop_children(children: Sequence[BaseProcess], *, now: bool = False) -> None:
    """End the load generator's client processes: SIGTERM at once when ``now``, else wait
    30 s for each and SIGKILL one that is still there."""
    for child in children:
        if now:
            if child.is_alive():
                child.terminate()
            continue
        child.join(30)
        if child.is_alive() and child.pid is not None:
            os.kill(child.pid, 9)
            child.join(5)


def deal(
    specs: Sequence[ClientSpec], procs: int, *, actors_apart: bool = False
) -> list[list[ClientSpec]]:
    """``specs`` shared out to at most ``procs`` client processes, in turns by role.

    With ``actors_apart`` (and more than one process), the clients that submit or
    decide get the first process to themselves and the others share the rest, so an
    actor's next request never waits behind its process reading watchers' frames.
    """
    procs = max(1, min(procs, len(specs)))
    actors = [s for s in specs if s.role in ("submit", "decide")]
    if actors_apart and procs > 1 and 0 < len(actors) < len(specs):
        rest = [s for s in specs if s.role not in ("submit", "decide")]
        return [actors, *(rest[n :: procs - 1] for n in range(procs - 1) if rest[n:])]
    ordered = sorted(specs, key=lambda s: s.role)
    return [ordered[n::procs] for n in range(procs)]


def run_load(
    url: str,
    scan_id: str,
    specs: list[ClientSpec],
    *,
    duration: float,
    procs: int,
    server_pids: Callable[[], list[int]],
    client: str = "lean",
    at_ready: Callable[[], None] | None = None,
    drain: float = 30.0,
    actors_apart: bool = False,
) -> LoadResult:
    """Run ``specs`` against the server for ``duration`` seconds and check what arrived.

    The clients are shared out to ``procs`` processes by :func:`deal`.
    """
    shares = deal(specs, procs, actors_apart=actors_apart)
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    children = []
    for share in shares:
        ours, theirs = context.Pipe()
        child = context.Process(target=_child, args=(theirs, url, scan_id, share, client))
        child.start()
        pipes.append(ours)
        children.append(child)
    try:
        readies = _receive_all(pipes, 180, "connect")
        pids = [pid for _, pid, _ in readies]
        failures: list[str] = [error for _, _, errors in readies for error in errors]
        if at_ready is not None:
            at_ready()
        start = time.time() + 0.5
        end = start + duration
        for pipe in pipes:
            pipe.send(("go", start, end))
        time.sleep(max(0.0, start - time.time()))
        watched = [*server_pids(), *pids]
        cpu_before = {pid: cpu_seconds(pid) for pid in watched}
        busy_before = machine_busy_seconds()
        time.sleep(max(0.0, end - time.time()))
        cpu = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in watched}
        busy = machine_busy_seconds() - busy_before
        ops: list[Op] = []
        for _, child_ops, child_failures in _receive_all(pipes, 120, "finish"):
            ops += child_ops
            failures += child_failures
        expected = {op.seq: (op.kind, op.sent, op.task_id) for op in ops if not op.error}
        for pipe in pipes:
            pipe.send(("drain", expected, time.time() + drain))
        reports = [report for _, report in _receive_all(pipes, drain + 120, "report")]
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: the clients wait for a next step that
        # will not come, so they are stopped now rather than waited for.
        stop_children(children, now=True)
        raise
    finally:
        stop_children(children)
    server = sum(cpu[pid] for pid in cpu if pid not in pids)
    clients = sum(cpu[pid] for pid in pids)
    return LoadResult(
        duration=duration,
        ops=ops,
        watch=_merge(reports),
        failures=failures,
        cpu_server=server,
        cpu_clients=clients,
        cpu_server_by_pid={pid: cpu[pid] for pid in cpu if pid not in pids},
        cpu_other=max(0.0, busy - server - clients),
        client_processes=len(shares),
    )
