"""``multiprocess``: the throughput scenario on one process, then on several sharing Redis.

``--workers N --redis-url``: N server processes on one port, every event
through Redis (CONTRACT §3: the same event reaches every joined socket
whichever process it is connected to); ``--processes 2,4`` says which N
(default 2,4). Each mode gets a fresh store. The server's CPU counts Redis's
when Redis runs on this machine, and shows it apart too, with each process's
share; ``vs_one_process`` holds the ratios the scale-out is judged by (issue
#22): CPU per acked change, and delivery p99, against one process alone.
"""

from __future__ import annotations

import argparse
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
    redis_pid = _redis_pid(args.redis_url)
    results: dict[str, LoadResult] = {ONE: saturate(args, duration)}
    for n in counts:
        mode = f"{_words(n)} processes + redis"
        results[mode] = saturate(args, duration, processes=n, redis_url=args.redis_url)
    summaries = {mode: _summary(result, redis_pid) for mode, result in results.items()}
    one = summaries[ONE]
    for mode, summary in summaries.items():
        if mode != ONE:
            summary["vs_one_process"] = _ratios(summary, one)
    plot_series(
        args.out / "multiprocess.png",
        f"{args.workers} workers back to back, {args.admins} admins: acked submits/s",
        {mode: s["series"]["acked_per_s"] for mode, s in summaries.items()},
        duration,
    )
    failed = any(s["status"] == "FAILED" for s in summaries.values())
    return {
        "scenario": NAME,
        "setup": {
            "workers": args.workers,
            "admins_watching": args.admins,
            "redis_url": args.redis_url,
            "processes": counts,
        },
        "modes": summaries,
        "plots": ["multiprocess.png"],
        "status": "FAILED" if failed else "ok",
    }


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

    def p99(s: dict[str, Any]) -> float | None:
        value: float | None = s["delivery_ms"].get("submit_to_admin", {}).get("p99")
        return value

    cpu = summary["server_cpu_ms"]["per_acked_change"]
    return {
        "cpu_per_acked_change": ratio(cpu, one["server_cpu_ms"]["per_acked_change"]),
        "delivery_p99": ratio(p99(summary), p99(one)),
    }


def _words(n: int) -> str:
    return {2: "two", 3: "three", 4: "four"}.get(n, str(n))
