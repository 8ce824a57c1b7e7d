"""The presence soak: a thousand sockets join one scan at once, then a batch of them goes.

    python -m benchmarks.soak --scenario presence [--sockets 1000 --admins 50 --leave 100
                                                   --procs 4 --redis-url URL --json FILE]

CONTRACT.md §4.1: ``scan:presence`` goes to every joined socket when who is
present changes, coalesced to at most two events a second per scan; a user
whose last socket leaves is gone from the next one (within 2 s). This
measures it against the real server (``python -m taskstream_server`` on a
fresh SQLite file, accounts seeded as the other benchmarks seed them): once
on one process, and, with ``--redis-url``, once on two processes sharing that
Redis (``--workers 2``), where presence crosses processes through it.

Every socket is its own user (``--admins`` admins, the rest workers), so each
join changes the counts. The sockets connect first, spread over ``--procs``
client processes; then, at one instant, all of them emit ``scan:join`` (the
join storm); once every socket's view has converged, ``--leave`` of them
(admins and workers in proportion; half emit ``scan:leave``, half close their
connection) go at one instant, and the others' views must converge again.

A socket's view is the latest counts it was told (its join's answer, then
each ``scan:presence``); it has converged when it equals the true counts for
good. Per phase it prints: ``scan:presence`` events per socket (in all, and
the most in any 1 s window, the contract's bound being 2), the mean rate over
the whole seconds up to the last convergence, the time until the last socket's view converged,
and the server's CPU seconds from the storm's start to that convergence, also
as a share of one core (Redis's own CPU apart). It fails when a socket never
converges (within 30 s), a join is refused or its answer leaves out the joiner; the
rates are figures, not verdicts.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import math
import multiprocessing
import os
import statistics
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .context import deployment
from .harness import cpu_seconds
from .load import stop_children
from .throughput import _redis_pid
from .wire import LeanClient

#: How long the views may take to converge before the run counts them as failed.
CONVERGE_WITHIN = 30.0
#: How often a client process looks whether its sockets' views converged.
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class PresenceSpec:
    """One socket: its user's token and role, and how it goes in the second phase."""

    token: str
    admin: bool
    exit: str = ""  # "" stays, "leave" emits scan:leave, "close" closes the connection


@dataclass
class _View:
    """What one socket was told of the scan's presence: (arrival time, counts), by arrival.

    The join's answer is filed at the time it arrived, which may be before events that the
    reader handled before the joining coroutine resumed.
    """

    times: array[float] = field(default_factory=lambda: array("d"))
    counts: list[tuple[int, int]] = field(default_factory=list)
    events: array[float] = field(default_factory=lambda: array("d"))  # scan:presence only
    answered_at: float | None = None  # when the join's answer arrived

    def told(self, now: float, presence: dict[str, Any], *, event: bool) -> None:
        at = bisect.bisect_right(self.times, now)
        self.times.insert(at, now)
        self.counts.insert(at, (int(presence["reviewers"]), int(presence["submitters"])))
        if event:
            self.events.insert(bisect.bisect_right(self.events, now), now)
        else:
            self.answered_at = now

    def on_event(self, now: float, payload: dict[str, Any]) -> None:
        self.told(now, payload, event=True)

    def current(self) -> tuple[int, int] | None:
        return self.counts[-1] if self.counts else None

    def phase(self, begin: float, end: float, truth: tuple[int, int]) -> dict[str, Any]:
        """Events in ``[begin, end)``, the most in any 1 s window, the shortest gap, and when
        the view converged to ``truth`` (seconds after ``begin``; None if not by ``end``)."""
        events = [t for t in self.events if begin <= t < end]
        told = bisect.bisect_left(self.times, end)
        converged = None
        if told and self.counts[told - 1] == truth:
            converged = max(0.0, self.times[told - 1] - begin)
        return {
            "events": len(events),
            "max_1s": max_in_window(events, 1.0),
            "min_gap_s": min((b - a for a, b in itertools.pairwise(events)), default=None),
            "converged_s": converged,
            "answered_s": (
                self.answered_at - begin
                if self.answered_at is not None and begin <= self.answered_at < end
                else None
            ),
            # Stale on the join's answer: an event told the truth first, the older answer after.
            "truth_then_answer": converged is None
            and told > 0
            and self.times[told - 1] == self.answered_at
            and truth in self.counts[: told - 1],
        }


def max_in_window(times: Sequence[float], width: float) -> int:
    """The most of ``times`` (sorted) inside any half-open window ``[t, t + width)``."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= width:
            first += 1
        most = max(most, last - first + 1)
    return most


async def _converged(views: list[_View], truth: tuple[int, int], deadline: float) -> None:
    """Wait until every view holds ``truth``, or the deadline."""
    while time.time() < deadline and any(v.current() != truth for v in views):  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)


async def _child_async(pipe: Connection, url: str, scan_id: str, specs: list[PresenceSpec]) -> None:
    loop = asyncio.get_running_loop()

    async def step() -> Any:
        return await loop.run_in_executor(None, pipe.recv)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        clients = [LeanClient(session) for _ in specs]
        views = [_View() for _ in specs]
        gate = asyncio.Semaphore(25)
        errors: list[str] = []
        reported = 0

        def new_errors() -> list[str]:
            """The errors not sent to the conductor yet."""
            nonlocal reported
            fresh, reported = errors[reported:], len(errors)
            return fresh

        async def connect(client: LeanClient, spec: PresenceSpec, view: _View) -> None:
            client.on("scan:presence", view.on_event)
            async with gate:
                await client.connect(url, spec.token)

        async def join(client: LeanClient, spec: PresenceSpec, view: _View) -> None:
            now, ack = await client.call("scan:join", {"scan_id": scan_id})
            if not ack.get("ok"):
                errors.append(f"join refused: {ack.get('error')}")
                return
            view.told(now, ack["presence"], event=False)
            if ack["presence"]["reviewers" if spec.admin else "submitters"] < 1:
                errors.append("a join's answer left out its joiner (CONTRACT.md §4.1)")

        async def go(client: LeanClient, spec: PresenceSpec) -> None:
            if spec.exit == "leave":
                _, ack = await client.call("scan:leave", {"scan_id": scan_id})
                if not ack.get("ok"):
                    errors.append(f"leave refused: {ack.get('error')}")
            else:
                await client.close()

        trio = list(zip(clients, specs, views, strict=True))
        opened = await asyncio.gather(*(connect(*each) for each in trio), return_exceptions=True)
        errors += [repr(r) for r in opened if isinstance(r, BaseException)]
        pipe.send(("ready", os.getpid(), new_errors()))

        _, start, truth, deadline = await step()
        await asyncio.sleep(max(0.0, start - time.time()))
        joined = await asyncio.gather(*(join(*each) for each in trio), return_exceptions=True)
        errors += [repr(r) for r in joined if isinstance(r, BaseException)]
        await _converged(views, truth, deadline)
        pipe.send(("joined", new_errors()))

        _, leave_at, truth_after, deadline = await step()
        await asyncio.sleep(max(0.0, leave_at - time.time()))
        going = [(c, s) for c, s, _ in trio if s.exit]
        gone = await asyncio.gather(*(go(c, s) for c, s in going), return_exceptions=True)
        errors += [repr(r) for r in gone if isinstance(r, BaseException)]
        staying = [v for _, s, v in trio if not s.exit]
        await _converged(staying, truth_after, deadline)
        pipe.send(("left", new_errors()))

        _, end = await step()
        report = {
            "join": [v.phase(start, leave_at, truth) for v in views],
            "leave": [v.phase(leave_at, end, truth_after) for v in staying],
        }
        pipe.send(("report", report))
        await asyncio.gather(
            *(c.close() for c, s in zip(clients, specs, strict=True) if s.exit != "close"),
            return_exceptions=True,
        )


def _child(pipe: Connection, url: str, scan_id: str, specs: list[PresenceSpec]) -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415 - optional: the client is cheaper with it

        uvloop.install()
    asyncio.run(_child_async(pipe, url, scan_id, specs))


def _receive(pipes: list[Connection], kind: str, within: float) -> list[Any]:
    """One ``kind`` message from every client process, each within ``within`` seconds."""
    bodies = []
    for pipe in pipes:
        if not pipe.poll(within):
            raise TimeoutError(f"a client process sent no {kind!r} within {within:g} s")
        got, *body = pipe.recv()
        if got != kind:
            raise RuntimeError(f"expected {kind!r} from a client process, got {got!r}")
        bodies.append(body)
    return bodies


def plan(sockets: int, admins: int, leave: int) -> list[PresenceSpec]:
    """Which sockets are admins and which go in the second phase (half leave, half close).

    Returns:
        Specs without tokens yet (filled by :func:`measure`), admins first.
    """
    leaving_admins = round(leave * admins / sockets)
    leaving = set(range(leaving_admins)) | set(range(admins, admins + leave - leaving_admins))
    return [
        PresenceSpec("", n < admins, ("leave" if n % 2 else "close") if n in leaving else "")
        for n in range(sockets)
    ]


def _phase_figures(
    rows: list[dict[str, Any]], seconds: float, cpu: dict[str, float]
) -> dict[str, Any]:
    events = [r["events"] for r in rows]
    gaps = [r["min_gap_s"] for r in rows if r["min_gap_s"] is not None]
    converged = [r["converged_s"] for r in rows if r["converged_s"] is not None]
    answered = [r["answered_s"] for r in rows if r["answered_s"] is not None]
    last = max(converged, default=None)
    # The whole seconds from the phase's start to the last convergence: the mean rate per
    # second of a socket that got all its events in one second is its count, not more.
    span = max(1, math.ceil(last if last is not None else seconds))
    return {
        "sockets": len(rows),
        "events_per_socket_mean": round(statistics.fmean(events), 2) if events else None,
        "events_per_socket_max": max(events, default=None),
        "max_events_in_any_1s_window": max((r["max_1s"] for r in rows), default=None),
        "sockets_over_2_in_a_1s_window": sum(r["max_1s"] > 2 for r in rows),
        "min_gap_between_events_s": round(min(gaps), 3) if gaps else None,
        "mean_events_per_s_per_socket": round(statistics.fmean(events) / span, 2)
        if events
        else None,
        "joins_answered_s_p50": round(statistics.median(answered), 3) if answered else None,
        "joins_answered_s_last": round(max(answered), 3) if answered else None,
        "converged": len(converged),
        "not_converged": len(rows) - len(converged),
        "not_converged_answer_after_the_truth": sum(bool(r["truth_then_answer"]) for r in rows),
        "converged_s_p50": round(statistics.median(converged), 3) if converged else None,
        "converged_s_last": None if last is None else round(last, 3),
        "server_cpu_s": round(cpu["server"], 2),
        "redis_cpu_s": None if cpu.get("redis") is None else round(cpu["redis"], 2),
        "wall_s": round(seconds, 2),
        "server_cpu_percent_of_one_core": round(100 * cpu["server"] / seconds, 1),
    }


def measure(
    sockets: int,
    admins: int,
    leave: int,
    procs: int,
    *,
    processes: int = 1,
    redis_url: str | None = None,
) -> dict[str, Any]:
    """One presence run against a fresh deployment; the figures of both phases.

    Args:
        sockets: Sockets in all, one user each.
        admins: How many of them are admins; the rest are workers.
        leave: How many go in the second phase.
        procs: Client processes the sockets are spread over.
        processes: Server processes (2 needs ``redis_url``).
        redis_url: The Redis the server processes share, or None.

    Returns:
        ``{"setup", "join", "leave", "errors", "status"}``.
    """
    specs = plan(sockets, admins, leave)
    load_before = [round(x, 2) for x in os.getloadavg()]
    options = argparse.Namespace(synchronous="full")
    with deployment(
        options, admins, sockets - admins, processes=processes, redis_url=redis_url
    ) as d:
        tokens = [a.token for a in d.admins] + [w.token for w in d.workers]
        specs = [PresenceSpec(t, s.admin, s.exit) for t, s in zip(tokens, specs, strict=True)]
        redis_pid = _redis_pid(redis_url) if redis_url else None
        procs = max(1, min(procs, sockets))
        context = multiprocessing.get_context("spawn")
        pipes: list[Connection] = []
        children = []
        for share in (specs[n::procs] for n in range(procs)):
            ours, theirs = context.Pipe()
            child = context.Process(target=_child, args=(theirs, d.server.url, d.scan_id, share))
            child.start()
            pipes.append(ours)
            children.append(child)
        try:
            began = time.monotonic()
            errors = [e for _, errs in _receive(pipes, "ready", 180) for e in errs]
            connect_s = time.monotonic() - began
            pids = d.server.pids()

            def cpu_now() -> dict[str, float]:
                now = {"server": sum(cpu_seconds(pid) for pid in pids)}
                if redis_pid is not None:
                    now["redis"] = cpu_seconds(redis_pid)
                return now

            def phase(kind: str, at: float, truth: tuple[int, int]) -> dict[str, float]:
                for pipe in pipes:
                    pipe.send((kind, at, truth, at + CONVERGE_WITHIN))
                time.sleep(max(0.0, at - time.time()))
                before, wall = cpu_now(), time.monotonic()
                done = "joined" if kind == "join" else "left"
                errors.extend(
                    e for (errs,) in _receive(pipes, done, CONVERGE_WITHIN + 60) for e in errs
                )
                after, seconds = cpu_now(), time.monotonic() - wall
                return {"seconds": seconds, **{k: after[k] - before[k] for k in after}}

            workers = sockets - admins
            start = time.time() + 0.5
            join_cpu = phase("join", start, (admins, workers))
            leaving_admins = sum(1 for s in specs if s.exit and s.admin)
            leave_at = time.time() + 0.5
            after = (admins - leaving_admins, workers - (leave - leaving_admins))
            leave_cpu = phase("leave", leave_at, after)
            end = time.time()
            for pipe in pipes:
                pipe.send(("report", end))
            reports = [report for (report,) in _receive(pipes, "report", 60)]
        except BaseException:
            stop_children(children, now=True)
            raise
        finally:
            stop_children(children)
    joins = [row for r in reports for row in r["join"]]
    leaves = [row for r in reports for row in r["leave"]]
    figures: dict[str, Any] = {
        "setup": {
            "sockets": sockets,
            "admins": admins,
            "workers": workers,
            "leaving": {"admins": leaving_admins, "workers": leave - leaving_admins},
            "server_processes": processes,
            "redis": redis_url is not None,
            "client_processes": procs,
            "connect_s": round(connect_s, 1),
            "cpus": os.cpu_count(),
            "loadavg_before_after": [load_before, [round(x, 2) for x in os.getloadavg()]],
        },
        "join": _phase_figures(joins, join_cpu.pop("seconds"), join_cpu),
        "leave": _phase_figures(leaves, leave_cpu.pop("seconds"), leave_cpu),
        "errors": sorted(set(errors))[:20],
        "error_count": len(errors),
    }
    unconverged = figures["join"]["not_converged"] + figures["leave"]["not_converged"]
    figures["status"] = "FAILED" if errors or unconverged else "ok"
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both modes (the second only with ``--redis-url``): what ``soak --scenario presence`` runs.

    Args:
        args: ``sockets``, ``admins``, ``leave``, ``procs`` and ``redis_url`` (or None).

    Returns:
        ``{"scenario": "presence", "modes": {...}, "status"}``.
    """
    modes = {
        "one process": measure(args.sockets, args.admins, args.leave, args.procs),
    }
    if args.redis_url:
        modes["two processes + redis"] = measure(
            args.sockets, args.admins, args.leave, args.procs, processes=2, redis_url=args.redis_url
        )
    failed = any(m["status"] != "ok" for m in modes.values())
    return {"scenario": "presence", "modes": modes, "status": "FAILED" if failed else "ok"}


def summary(result: dict[str, Any]) -> str:
    """The figures as the terminal shows them."""
    lines = []
    for mode, m in result["modes"].items():
        s = m["setup"]
        lines.append(
            f"{mode}: {s['sockets']} sockets ({s['admins']} admins, {s['workers']} workers), "
            f"connected in {s['connect_s']} s over {s['client_processes']} client processes; "
            f"load average {s['loadavg_before_after'][0]} -> {s['loadavg_before_after'][1]} "
            f"on {s['cpus']} CPUs"
        )
        for name, title in (("join", "join storm"), ("leave", "leave batch")):
            p = m[name]
            redis = "" if p["redis_cpu_s"] is None else f", redis {p['redis_cpu_s']} CPU s"
            lines.append(
                f"  {title} ({p['sockets']} sockets watching): scan:presence per socket "
                f"mean {p['events_per_socket_mean']}, max {p['events_per_socket_max']}; "
                f"at most {p['max_events_in_any_1s_window']} in any 1 s window "
                f"({p['sockets_over_2_in_a_1s_window']} sockets got more than 2; shortest gap "
                f"{p['min_gap_between_events_s']} s); "
                f"mean {p['mean_events_per_s_per_socket']}/s per socket"
            )
            if p["joins_answered_s_last"] is not None:
                lines.append(
                    f"    join answers arrived: p50 {p['joins_answered_s_p50']} s, last "
                    f"{p['joins_answered_s_last']} s after the storm began"
                )
            lines.append(
                f"    converged: {p['converged']}/{p['sockets']} (of the others "
                f"{p['not_converged_answer_after_the_truth']} got the truth, then an older "
                "join answer), "
                f"p50 {p['converged_s_p50']} s, "
                f"last {p['converged_s_last']} s; server CPU {p['server_cpu_s']} s over "
                f"{p['wall_s']} s = {p['server_cpu_percent_of_one_core']}% of one core{redis}"
            )
        if m["errors"]:
            lines.append(f"  {m['error_count']} errors, of these kinds: {m['errors'][:5]}")
    lines.append("OK" if result["status"] == "ok" else "FAILED")
    return "\n".join(lines)
