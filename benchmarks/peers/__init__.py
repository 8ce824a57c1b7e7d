"""``peers``: TaskStream and Node's socket.io 4 under the same load, in one run.

The peer (``benchmarks/peers/node/server.js``) serves the contract subset the
scenarios use — connect with a token, ``scan:join``, ``task:submit``,
``task:decide``, ``task:created`` and ``task:updated`` to the scan's admins and
the task's worker — in memory, with no durability. The same load generator
(``--client``, the lean one by default) runs ``throughput``, ``fanout`` and
``latency`` against TaskStream (a durable SQLite store, ``synchronous=FULL``)
and against the peer, alternating, ``--peer-rounds`` times each, so both see
the same machine at the same time. Figures: each side's medians over the
rounds, and TaskStream's ratio to Node for acked submits/s, fan-out
deliveries/s and the low-load submit→admin p50; and beside each, what the
server process used of the CPU per acknowledged change on each side, which
says how much of a gap is the server's own work.

Needs Node 20 and the peer's packages: ``npm ci`` in ``benchmarks/peers/node``
(the ``bench`` nox session runs it).
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..harness import SECRET, free_port, terminate, wait_healthy

NAME = "peers"
NODE_DIR = Path(__file__).resolve().parent / "node"

#: What each compared scenario measures, and where its result keeps it.
FIGURES: dict[str, tuple[str, Callable[[dict[str, Any]], float | None]]] = {
    "throughput": ("acked submits/s", lambda r: r.get("acked_submits_per_s")),
    "fanout": ("fan-out deliveries/s", lambda r: r.get("deliveries_per_s")),
    "latency": (
        "submit→admin p50 (low load)",
        lambda r: r["submit_phase"]["delivery_ms"].get("submit_to_admin", {}).get("p50"),
    ),
}


def cpu_per_change(result: dict[str, Any]) -> float | None:
    """The server's CPU milliseconds per acknowledged change in a scenario's result
    (``latency``: its submit phase)."""
    figures = result.get("submit_phase", result).get("server_cpu_ms") or {}
    value = figures.get("per_acked_change")
    return None if value is None else float(value)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


@dataclass
class NodePeer:
    """``node server.js`` on 127.0.0.1, checking tokens with the benchmark's secret."""

    place: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("the peers scenario needs Node 20 (`node` is not on PATH)")
        if not (NODE_DIR / "node_modules" / "socket.io").is_dir():
            raise RuntimeError(f"the Node peer's packages are missing: run `npm ci` in {NODE_DIR}")
        args = [node, str(NODE_DIR / "server.js"), "--port", str(self.port), "--secret", SECRET]
        self.process = subprocess.Popen(
            args, cwd=self.place, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        try:
            wait_healthy(self.process, self.url, "the Node peer", seconds=30)
        except BaseException:
            self.stop()
            raise

    def pids(self) -> list[int]:
        assert self.process is not None
        return [self.process.pid]

    def stop(self) -> int:
        """SIGTERM, then the exit code (-9 if it had to be killed)."""
        return terminate(self.process, 10)


def node_version() -> str:
    """``node --version``, and the socket.io version the peer runs."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    package = NODE_DIR / "node_modules" / "socket.io" / "package.json"
    socketio = json.loads(package.read_text())["version"] if package.is_file() else "?"
    return f"node {node.stdout.strip()}, socket.io {socketio}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from .. import fanout, latency, throughput  # noqa: PLC0415 - they import context

    scenarios = {"throughput": throughput.run, "fanout": fanout.run, "latency": latency.run}
    scratch = Path(tempfile.mkdtemp(prefix="ts-peers-"))
    samples: dict[str, dict[str, list[float]]] = {
        name: {"taskstream": [], "node": []} for name in FIGURES
    }
    cpu: dict[str, dict[str, list[float]]] = {
        name: {"taskstream": [], "node": []} for name in FIGURES
    }
    problems: list[str] = []
    try:
        for round_no in range(args.peer_rounds):
            for name, scenario in scenarios.items():
                for side in ("taskstream", "node") if round_no % 2 == 0 else ("node", "taskstream"):
                    sub = copy.copy(args)
                    sub.out = scratch
                    sub.peer = "node" if side == "node" else None
                    result = scenario(sub)
                    value = FIGURES[name][1](result)
                    status = result.get("status", "?")
                    print(f"  {name} round {round_no + 1}, {side}: {value} ({status})", flush=True)
                    if status != "ok":
                        problems.append(f"{name} {side}: {status}")
                    if value is not None:
                        samples[name][side].append(float(value))
                    cost = cpu_per_change(result)
                    if cost is not None:
                        cpu[name][side].append(cost)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures: dict[str, Any] = {}
    for name, (label, _) in FIGURES.items():
        median_ours = _median(samples[name]["taskstream"])
        median_theirs = _median(samples[name]["node"])
        ratio = (
            round(median_ours / median_theirs, 2)
            if median_ours is not None and median_theirs
            else None
        )
        figures[name] = {
            "measure": label,
            "taskstream": median_ours,
            "node": median_theirs,
            "ratio": ratio,
            "samples": samples[name],
            "server_cpu_ms_per_change": {
                side: _median(cpu[name][side]) for side in ("taskstream", "node")
            },
            "server_cpu_ms_samples": cpu[name],
        }
    return {
        "scenario": NAME,
        "setup": {
            "rounds": args.peer_rounds,
            "peer": node_version(),
            "taskstream": "one process, SQLite synchronous=FULL",
            "client": args.client,
        },
        "figures": figures,
        "problems": problems,
        "status": "FAILED" if problems else "ok",
    }
