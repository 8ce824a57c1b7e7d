"""``multiprocess``: the throughput scenario on one process, then on several sharing Redis.

``--workers N --redis-url``: N server processes on one port, every event
through Redis (CONTRACT §3: the same event reaches every joined socket
whichever process it is connected to); ``--processes 2,4`` says which N
(default 2,4). Every mode runs once per round, in ``--rounds`` alternating
rounds (default 3); each run gets a fresh store. The server's CPU counts
Redis's when Redis runs on this machine, and shows it apart too, with each
process's share; ``vs_one_process`` holds the ratios the scale-out is judged
by (issue #22), CPU per acked change and delivery p99 against one process
alone: the median of each round's. The tables show the last round.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from .context import seconds
from .figures import load_summary, plot_series
from .load import LoadResult
from .throughput import _redis_pid, saturate

NAME = "multiprocess"
ONE = "one process"


def run(args: argparse.Namespace) -> dict[str, Any]:
    duration = seconds(args, 20.0)
    counts = [int(n) for n in str(getattr(args, "processes", "2,4")).split(",") if n.strip()]
    rounds = max(1, int(getattr(args, "rounds", 3)))
    redis_pid = _redis_pid(args.redis_url)
    # Alternating rounds: runs of one mode minutes apart differ more than the modes do on a
    # shared machine, so each round runs every mode once and the ratios are taken per round.
    per_round: list[dict[str, dict[str, Any]]] = []
    for _ in range(rounds):
        results: dict[str, LoadResult] = {ONE: saturate(args, duration)}
        for n in counts:
            mode = f"{_words(n)} processes + redis"
            results[mode] = saturate(args, duration, processes=n, redis_url=args.redis_url)
        per_round.append({mode: _summary(result, redis_pid) for mode, result in results.items()})
    summaries = per_round[-1]
    for mode, summary in summaries.items():
        if mode != ONE:
            summary["vs_one_process"] = _median_ratios([r[mode] for r in per_round], per_round)
    plot_series(
        args.out / "multiprocess.png",
        f"{args.workers} workers back to back, {args.admins} admins: acked submits/s",
        {mode: s["series"]["acked_per_s"] for mode, s in summaries.items()},
        duration,
    )
    failed = any(s["status"] == "FAILED" for r in per_round for s in r.values())
    return {
        "scenario": NAME,
        "setup": {
            "workers": args.workers,
            "admins_watching": args.admins,
            "redis_url": args.redis_url,
            "processes": counts,
            "rounds": rounds,
        },
        "modes": summaries,
        "rounds": [
            {
                mode: {
                    "cpu_ms_per_acked_change": s["server_cpu_ms"]["per_acked_change"],
                    "delivery_p99_ms": _p99(s),
                    "acked_submits_per_s": s["acked_submits_per_s"],
                    **({"vs_one_process": _ratios(s, r[ONE])} if mode != ONE else {}),
                }
                for mode, s in r.items()
            }
            for r in per_round
        ],
        "plots": ["multiprocess.png"],
        "status": "FAILED" if failed else "ok",
    }


def _median_ratios(
    mine: list[dict[str, Any]], rounds: list[dict[str, dict[str, Any]]]
) -> dict[str, float | None]:
    """The median over the rounds of each round's ratios to that round's one process."""
    each = [_ratios(summary, r[ONE]) for summary, r in zip(mine, rounds, strict=True)]
    medians: dict[str, float | None] = {}
    for key in each[0]:
        values = [v for e in each if (v := e[key]) is not None]
        medians[key] = round(statistics.median(values), 2) if values else None
    return medians


def _summary(result: LoadResult, redis_pid: int | None) -> dict[str, Any]:
    """The load's summary, with Redis's CPU and each server process's apart."""
    summary = load_summary(result)
    acked = len(result.acked)
    by_pid = result.cpu_server_by_pid
    redis = by_pid.get(redis_pid) if redis_pid is not None else None  # None: not watched
    processes = [seconds for pid, seconds in by_pid.items() if pid != redis_pid]
    summary["cpu_seconds"]["redis"] = round(redis, 2) if redis is not None else None
    summary["cpu_seconds"]["per_server_process"] = [round(s, 2) for s in processes]
    summary["server_cpu_ms"]["redis_per_acked_change"] = (
        round(1000 * redis / acked, 3) if redis is not None and acked else None
    )
    return summary


def _ratios(summary: dict[str, Any], one: dict[str, Any]) -> dict[str, float | None]:
    """CPU per acked change and delivery p99 of ``summary`` over one process's."""

    def ratio(mine: float | None, theirs: float | None) -> float | None:
        return round(mine / theirs, 2) if mine and theirs else None

    cpu = summary["server_cpu_ms"]["per_acked_change"]
    return {
        "cpu_per_acked_change": ratio(cpu, one["server_cpu_ms"]["per_acked_change"]),
        "delivery_p99": ratio(_p99(summary), _p99(one)),
    }


def _p99(summary: dict[str, Any]) -> float | None:
    """Submit→admin delivery p99 of a mode's run, in ms."""
    value: float | None = summary["delivery_ms"].get("submit_to_admin", {}).get("p99")
    return value


def _words(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))
