"""The benchmarks still run, end to end, at tiny sizes (never a speed: that is their output).

One ``python -m benchmarks`` process runs the five scenarios of issue #7 for
about two seconds each against real servers, into a temporary folder (not
docs/): each must finish, write valid JSON and its plots, and count every
acknowledged change as delivered to every watcher, once and in order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.redis_server import redis_skip_reason, shared_redis_url

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("latency", "throughput", "fanout", "scale", "multiprocess", "peers")

pytestmark = pytest.mark.skipif(redis_skip_reason() is not None, reason=str(redis_skip_reason()))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("bench")
    command = [sys.executable, "-m", "benchmarks", *SCENARIOS, "--out", str(out)]
    command += ["--duration", "2", "--procs", "2", "--rate", "40", "--workers", "4"]
    command += ["--admins", "3", "--fanout-admins", "20", "--tasks", "2000", "--pending", "100"]
    command += ["--calls", "5", "--idle", "50", "--redis-url", shared_redis_url()]
    command += ["--peer-rounds", "1", "--processes", "2", "--rounds", "1"]
    # A bound against a hang, not a speed: the run takes about a minute.
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out, run.stdout


def _load(out: Path, name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((out / f"{name}.json").read_text())
    assert body["scenario"] == name
    assert body["status"] == "ok"
    assert body["machine"]["cores"] >= 1
    assert body["machine"]["python"]
    return body


def _complete(summary: dict[str, Any], *, deliveries: bool = True) -> None:
    """Every acknowledged change reached every watcher: nothing missing, repeated, reordered."""
    c = summary["completeness"]
    assert (c["missing"], c["duplicates"], c["out_of_order"]) == (0, 0, 0)
    assert c["client_failures"] == []
    assert summary["refused"] == 0
    assert summary["acked_submits"] + summary["acked_decisions"] > 0
    if deliveries:
        assert c["received"] == c["expected"] > 0


def test_latency_delivers_every_submit_and_decision(results: tuple[Path, str]) -> None:
    body = _load(results[0], "latency")
    _complete(body["submit_phase"])
    _complete(body["decide_phase"])
    assert body["decide_phase"]["acked_decisions"] > 0
    assert "decide_to_worker" in body["decide_phase"]["delivery_ms"]
    assert (results[0] / "latency.png").stat().st_size > 0


@pytest.mark.parametrize("name", ["throughput", "fanout"])
def test_load_scenarios_count_every_delivery(results: tuple[Path, str], name: str) -> None:
    body = _load(results[0], name)
    _complete(body)
    assert sum(body["series"]["acked_per_s"]) == body["acked_submits"]
    for plot in body["plots"]:
        assert (results[0] / plot).stat().st_size > 0


def test_multiprocess_compares_both_modes(results: tuple[Path, str]) -> None:
    body = _load(results[0], "multiprocess")
    assert set(body["modes"]) == {"one process", "two processes + redis"}
    for summary in body["modes"].values():
        _complete(summary)


def test_scale_reads_the_seeded_scan(results: tuple[Path, str]) -> None:
    body = _load(results[0], "scale")
    core, wire = body["in_process"], body["over_the_wire"]
    assert core["total_tasks"] == 2000
    assert core["join_snapshot_tasks"] == wire["socket_join_snapshot_tasks"] == 200
    assert wire["http_stats_ms"]["count"] == 5
    assert body["memory"]["idle_sockets"] == 50
    assert body["memory"]["connect_failures"] == []


def test_peers_measures_taskstream_and_node_side_by_side(results: tuple[Path, str]) -> None:
    """The Node peer served the same load as TaskStream, every change delivered, both measured."""
    body = _load(results[0], "peers")
    assert body["problems"] == []
    assert "socket.io 4." in body["setup"]["peer"]
    for name in ("throughput", "fanout", "latency"):
        figure = body["figures"][name]
        assert len(figure["samples"]["taskstream"]) == len(figure["samples"]["node"]) == 1
        assert figure["ratio"] > 0
        assert figure["server_cpu_ms_per_change"]["taskstream"] > 0
        assert figure["server_cpu_ms_per_change"]["node"] > 0


def test_the_figures_page_is_written_beside_the_results(results: tuple[Path, str]) -> None:
    page = (results[0] / "results.md").read_text()
    assert "TaskStream, durable SQLite (this run)" in page
    assert "Node.js socket.io 4, in memory, no durability (this run)" in page
    assert "server CPU per change, TaskStream / Node" in page
    assert "FAILED" not in results[1]
