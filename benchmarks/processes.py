"""``multiprocess``: the throughput scenario on one process, then on two sharing Redis.

``--workers 2 --redis-url``: two server processes on one port, every event
through Redis (CONTRACT §3: the same event reaches every joined socket
whichever process it is connected to). Each mode gets a fresh store; Redis
CPU is counted with the server's when Redis runs on this machine.
"""

from __future__ import annotations

import argparse
from typing import Any

from .context import seconds
from .figures import load_summary, plot_series
from .throughput import saturate

NAME = "multiprocess"


def run(args: argparse.Namespace) -> dict[str, Any]:
    duration = seconds(args, 20.0)
    modes = {
        "one process": saturate(args, duration),
        "two processes + redis": saturate(args, duration, processes=2, redis_url=args.redis_url),
    }
    summaries = {mode: load_summary(result) for mode, result in modes.items()}
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
        },
        "modes": summaries,
        "plots": ["multiprocess.png"],
        "status": "FAILED" if failed else "ok",
    }
