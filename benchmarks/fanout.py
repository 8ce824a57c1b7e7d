"""``fanout``: one worker submitting back to back, ``--fanout-admins`` (200) admins watching.

What one change costs the server when many sockets must hear of it: each
submit becomes 200 deliveries. Figures: deliveries/s, and the spread of
delivery times over the admins (each admin's median, and all of them pooled).
"""

from __future__ import annotations

import argparse
from typing import Any

from .context import deployment, seconds
from .figures import load_summary, plot_latency, plot_series
from .load import ClientSpec, run_load

NAME = "fanout"


def run(args: argparse.Namespace) -> dict[str, Any]:
    admins = args.fanout_admins
    with deployment(args, admins, 1) as d:
        specs = [ClientSpec("submit", d.workers[0].token)]
        specs += [ClientSpec("watch", a.token, label="submit_to_admin") for a in d.admins]
        result = run_load(
            d.server.url,
            d.scan_id,
            specs,
            duration=seconds(args, 20.0),
            procs=args.procs,
            server_pids=d.server.pids,
            client=args.client,
            actors_apart=True,
        )
    summary = load_summary(result)
    title = f"fan-out: 1 worker back to back, {admins} admins"
    plot_series(
        args.out / "fanout.png",
        title,
        {"deliveries/s (all admins)": summary["series"]["deliveries_per_s"]},
        summary["seconds"],
    )
    plot_latency(
        args.out / "fanout-latency.png",
        title,
        {
            "submit_to_admin (pooled)": list(result.watch.latency_ms.get("submit_to_admin", [])),
            "median per admin": result.watch.per_watcher_p50_ms,
        },
    )
    return {
        "scenario": NAME,
        "setup": {"workers": 1, "admins_watching": admins, "loop": "closed"},
        **summary,
        "plots": ["fanout.png", "fanout-latency.png"],
    }
