"""``clientcost``: what the load generator's own client costs, lean against python-socketio.

The same fan-out load (one worker at ``--rate`` submits/s, 50 admins
watching) is run once with each client; the figure is client CPU seconds per
1,000 deliveries. The load generator uses the cheaper one by default
(``--client``), so that on two cores it takes as little as it can from the
server it measures.
"""

from __future__ import annotations

import argparse
from typing import Any

from .context import deployment, seconds
from .figures import load_summary
from .load import ClientSpec, run_load

NAME = "clientcost"
ADMINS = 50


def run(args: argparse.Namespace) -> dict[str, Any]:
    duration = seconds(args, 10.0)
    modes = {}
    for client in ("lean", "socketio"):
        with deployment(args, ADMINS, 1) as d:
            specs = [ClientSpec("submit", d.workers[0].token, rate=args.rate * 2)]
            specs += [ClientSpec("watch", a.token) for a in d.admins]
            result = run_load(
                d.server.url,
                d.scan_id,
                specs,
                duration=duration,
                procs=args.procs,
                server_pids=d.server.pids,
                client=client,
            )
        summary = load_summary(result)
        deliveries = max(1, summary["deliveries"])
        modes[client] = {
            "deliveries": summary["deliveries"],
            "client_cpu_seconds": summary["cpu_seconds"]["clients"],
            "client_cpu_ms_per_1000_deliveries": round(
                1e6 * summary["cpu_seconds"]["clients"] / deliveries, 1
            ),
            "server_cpu_seconds": summary["cpu_seconds"]["server"],
            "completeness": summary["completeness"],
            "status": summary["status"],
        }
    failed = any(m["status"] == "FAILED" for m in modes.values())
    return {
        "scenario": NAME,
        "setup": {"submits_per_s": args.rate * 2, "admins_watching": ADMINS},
        "modes": modes,
        "status": "FAILED" if failed else "ok",
    }
