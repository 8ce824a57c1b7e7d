"""``latency``: low load, where a reviewer feels the delay.

One worker submits at ``--rate`` (50/s) while 10 admins watch the scan; then
one admin decides those tasks at the same rate while the worker and the 10
admins watch. Figures: the ack time of each submit and decision, submit→admin,
decide→worker and decide→admin delivery times.
"""

from __future__ import annotations

import argparse
from typing import Any

from .context import deployment, seconds
from .figures import load_summary, plot_latency
from .load import UPDATED, ClientSpec, run_load

NAME = "latency"
ADMINS = 10


def run(args: argparse.Namespace) -> dict[str, Any]:
    duration = seconds(args, 20.0)
    with deployment(args, ADMINS + 1, 1) as d:
        url, scan = d.server.url, d.scan_id
        worker = d.workers[0]
        watchers = [ClientSpec("watch", a.token, label="submit_to_admin") for a in d.admins[1:]]
        submits = run_load(
            url,
            scan,
            [ClientSpec("submit", worker.token, rate=args.rate), *watchers],
            duration=duration,
            procs=args.procs,
            server_pids=d.server.pids,
            client=args.client,
        )
        task_ids = [op.task_id for op in submits.acked]
        deciding = [
            ClientSpec("decide", d.admins[0].token, rate=args.rate, task_ids=task_ids),
            ClientSpec(
                "watch",
                worker.token,
                own=frozenset(task_ids),
                events=(UPDATED,),
                label="decide_to_worker",
            ),
            *(
                ClientSpec("watch", a.token, events=(UPDATED,), label="decide_to_admin")
                for a in d.admins[1:]
            ),
        ]
        decisions = run_load(
            url,
            scan,
            deciding,
            duration=duration,
            procs=args.procs,
            server_pids=d.server.pids,
            client=args.client,
        )
    samples = {**submits.watch.latency_ms, **decisions.watch.latency_ms}
    plot_latency(
        args.out / "latency.png",
        f"latency at {args.rate:g} submits/s, then {args.rate:g} decisions/s "
        f"({ADMINS} admins watching)",
        {k: list(v) for k, v in samples.items()},
    )
    submit, decide = load_summary(submits), load_summary(decisions)
    return {
        "scenario": NAME,
        "setup": {"rate_per_s": args.rate, "admins_watching": ADMINS, "workers": 1},
        "submit_phase": submit,
        "decide_phase": decide,
        "plots": ["latency.png"],
        "status": "FAILED" if "FAILED" in (submit["status"], decide["status"]) else "ok",
    }
