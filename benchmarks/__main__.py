"""``python -m benchmarks [SCENARIO ...] [options]``: run scenarios, save and print figures.

Each scenario writes ``<scenario>.json`` (with the machine it ran on) and its
PNG plots into ``--out``; the figures tables are then rewritten from every
JSON file there: in docs/benchmarks.md when ``--out`` is docs/benchmarks (the
default), else in ``<out>/results.md``. Exit status 1 when a run lost,
repeated or reordered an event, or a request was refused.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import clientcost, fanout, latency, peers, processes, scale, throughput
from .figures import write_json
from .harness import machine_info
from .report import update_page

ROOT = Path(__file__).resolve().parent.parent
DOCS_OUT = ROOT / "docs" / "benchmarks"
SCENARIOS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "latency": latency.run,
    "throughput": throughput.run,
    "fanout": fanout.run,
    "scale": scale.run,
    "multiprocess": processes.run,
    "clientcost": clientcost.run,
    "peers": peers.run,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument(
        "scenarios",
        nargs="*",
        default=[],
        metavar="SCENARIO",  # checked in main(): argparse 3.11 checks a '*' default as one choice
        help=f"any of {', '.join(SCENARIOS)}; default all",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of load per run (default: latency 20 per phase, throughput 30, "
        "fanout 20, multiprocess 20 per mode, clientcost 10 per client)",
    )
    p.add_argument("--procs", type=int, default=3, help="client processes (default 3)")
    p.add_argument(
        "--client",
        choices=["lean", "socketio"],
        default="lean",
        help="the load generator's Socket.IO client (see the clientcost scenario)",
    )
    p.add_argument("--rate", type=float, default=50.0, help="latency: submits/s, then decisions/s")
    p.add_argument("--workers", type=int, default=20, help="throughput: submitting workers")
    p.add_argument("--admins", type=int, default=10, help="throughput: watching admins")
    p.add_argument("--fanout-admins", type=int, default=200, help="fanout: watching admins")
    p.add_argument("--tasks", type=int, default=100_000, help="scale: tasks in the scan")
    p.add_argument("--pending", type=int, default=1_000, help="scale: of which pending")
    p.add_argument("--calls", type=int, default=50, help="scale: timed calls per read")
    p.add_argument("--idle", type=int, default=1_000, help="scale: idle sockets for memory")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="multiprocess")
    p.add_argument(
        "--processes",
        default="2,4",
        help="multiprocess: server process counts sharing Redis, each run beside one process "
        "alone (default 2,4: the targets of issue #22 name both)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="multiprocess: alternating rounds of every mode; ratios are medians (default 3)",
    )
    p.add_argument(
        "--peer-rounds",
        type=int,
        default=2,
        help="peers: alternating runs of each scenario on TaskStream and on Node (default 2)",
    )
    p.add_argument(
        "--synchronous",
        choices=["full", "normal"],
        default="full",
        help="the server's SQLite synchronous mode (default full, as shipped; normal shows "
        "what the fsync of each commit costs)",
    )
    p.add_argument("--out", type=Path, default=DOCS_OUT, help="where JSON and PNGs go")
    return p


def headline(result: dict[str, Any]) -> str:
    """One line per scenario for the terminal; the JSON has the rest."""
    name = result["scenario"]
    if name == "latency":
        sub = result["submit_phase"]["delivery_ms"].get("submit_to_admin", {})
        dec = result["decide_phase"]["delivery_ms"].get("decide_to_worker", {})
        return (
            f"submit->admin p50 {sub.get('p50')} p99 {sub.get('p99')} max {sub.get('max')} ms; "
            f"decide->worker p50 {dec.get('p50')} p99 {dec.get('p99')} ms; "
            f"submit ack p50 {result['submit_phase']['ack_ms']['submit']['p50']} ms"
        )
    if name in ("throughput", "fanout"):
        d: dict[str, Any] = next(iter(result["delivery_ms"].values()), {})
        c = result["completeness"]
        return (
            f"{result['acked_submits_per_s']} acked submits/s, {result['deliveries_per_s']} "
            f"deliveries/s, delivery p50 {d.get('p50')} p99 {d.get('p99')} ms, "
            f"missing {c['missing']} dup {c['duplicates']} disorder {c['out_of_order']}, "
            f"CPU {result['cpu_seconds']}"
        )
    if name == "peers":
        return "; ".join(
            f"{f['measure']}: TaskStream {f['taskstream']} vs Node {f['node']} = {f['ratio']}x"
            for f in result["figures"].values()
        )
    if name == "multiprocess":
        return "; ".join(
            f"{mode}: {s['acked_submits_per_s']} acked/s, missing {s['completeness']['missing']}, "
            f"CPU {s['server_cpu_ms']['per_acked_change']} ms/change"
            + (f" ({s['vs_one_process']})" if "vs_one_process" in s else "")
            for mode, s in result["modes"].items()
        )
    if name == "scale":
        w, m = result["over_the_wire"], result["memory"]
        return (
            f"HTTP stats p50 {w['http_stats_ms']['p50']} ms, page p50 {w['http_page_ms']['p50']} "
            f"ms, socket join p50 {w['socket_join_ms']['p50']} ms; "
            f"{m['kib_per_socket']} KiB per idle socket"
        )
    return json.dumps(result.get("modes", {}))[:300]


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so servers are stopped and temporary folders removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cli = parser()
    args = cli.parse_args(argv)
    unknown = [name for name in args.scenarios if name not in [*SCENARIOS, "all"]]
    if unknown:
        cli.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    everything = not args.scenarios or "all" in args.scenarios
    chosen = list(SCENARIOS) if everything else list(dict.fromkeys(args.scenarios))
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    for name in chosen:
        print(f"{name}: running", flush=True)
        began = time.monotonic()
        result = SCENARIOS[name](args)
        result["store"] = f"sqlite, synchronous={args.synchronous}, a file in a temporary folder"
        result["machine"] = machine_info()
        result["wall_seconds"] = round(time.monotonic() - began, 1)
        write_json(args.out, name, result)
        print(f"{name}: {result['status']} in {result['wall_seconds']} s: {headline(result)}")
        if result["status"] != "ok":
            failed.append(name)
    page = ROOT / "docs" / "benchmarks.md"
    if args.out.resolve() == DOCS_OUT.resolve():
        update_page(page, args.out)
        print(f"figures written to {args.out} and {page}")
    else:
        update_page(args.out / "results.md", args.out)
        print(f"figures written to {args.out}")
    if failed:
        print(f"FAILED: {', '.join(failed)} lost, repeated or reordered events, or were refused")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
