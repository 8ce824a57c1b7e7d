"""``throughput``: 20 workers submitting back to back, 10 admins watching one scan.

Closed loop: each worker sends its next submit when the last one's ack came
back, so the acked rate is what the server sustains durably (SQLite with
``synchronous=FULL``). Figures: acked submits/s, deliveries/s, latency under
saturation, and both rates second by second.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .context import Deployment, deployment, seconds
from .figures import load_summary, plot_latency, plot_series
from .load import ClientSpec, LoadResult, run_load

NAME = "throughput"


def saturate(
    args: argparse.Namespace, duration: float, *, processes: int = 1, redis_url: str | None = None
) -> LoadResult:
    """The closed-loop load against a fresh deployment (also the multiprocess scenario's).

    With ``redis_url`` the server's CPU includes Redis's, when Redis runs here.
    """
    with deployment(args, args.admins, args.workers, processes=processes, redis_url=redis_url) as d:
        redis_pid = _redis_pid(redis_url) if redis_url else None

        def server_pids(d: Deployment = d) -> list[int]:
            return [*d.server.pids(), *([redis_pid] if redis_pid else [])]

        specs = [ClientSpec("submit", w.token) for w in d.workers]
        specs += [ClientSpec("watch", a.token, label="submit_to_admin") for a in d.admins]
        return run_load(
            d.server.url,
            d.scan_id,
            specs,
            duration=duration,
            procs=args.procs,
            server_pids=server_pids,
            client=args.client,
        )


def _redis_pid(url: str) -> int | None:
    """Redis's PID when it runs on this machine (its CPU is the deployment's too)."""
    import redis  # noqa: PLC0415 - only the multiprocess scenario needs it

    client = redis.Redis.from_url(url)
    try:
        pid = int(client.info("server")["process_id"])
    finally:
        client.close()
    return pid if Path(f"/proc/{pid}").exists() else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    result = saturate(args, seconds(args, 30.0))
    summary = load_summary(result)
    title = f"{args.workers} workers back to back, {args.admins} admins watching"
    plot_series(
        args.out / "throughput.png",
        title,
        {
            "acked submits/s": summary["series"]["acked_per_s"],
            "deliveries/s (all admins)": summary["series"]["deliveries_per_s"],
        },
        summary["seconds"],
    )
    plot_latency(
        args.out / "throughput-latency.png",
        f"latency under saturation: {title}",
        {k: list(v) for k, v in result.watch.latency_ms.items()},
    )
    return {
        "scenario": NAME,
        "setup": {"workers": args.workers, "admins_watching": args.admins, "loop": "closed"},
        **summary,
        "plots": ["throughput.png", "throughput-latency.png"],
    }
