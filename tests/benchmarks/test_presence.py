"""The presence soak still runs end to end, at a tiny size (its speeds are its output, never
asserted): ``python -m benchmarks.soak --scenario presence`` with 20 sockets, on one server
process and on two sharing the test session's Redis.

Each mode must connect every socket, have every view converge to the true counts after the
join storm and again after the leave batch, and report its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.presence import max_in_window, plan

from tests.support.redis_server import redis_skip_reason, shared_redis_url

ROOT = Path(__file__).resolve().parents[2]
SOCKETS, ADMINS, LEAVE = 20, 4, 6


@pytest.mark.skipif(redis_skip_reason() is not None, reason=str(redis_skip_reason()))
def test_the_presence_scenario_converges_on_one_and_two_processes(tmp_path: Path) -> None:
    figures = tmp_path / "presence.json"
    command = [sys.executable, "-m", "benchmarks.soak", "--scenario", "presence"]
    command += ["--sockets", str(SOCKETS), "--admins", str(ADMINS), "--leave", str(LEAVE)]
    command += ["--procs", "2", "--redis-url", shared_redis_url(), "--json", str(figures)]
    # A bound that only a hung run reaches, not a speed: the run takes about 40 s.
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    print(done.stdout, done.stderr[-3000:], sep="\n")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    result = json.loads(figures.read_text())
    assert result["status"] == "ok"
    assert set(result["modes"]) == {"one process", "two processes + redis"}
    for mode in result["modes"].values():
        assert mode["errors"] == []
        assert mode["error_count"] == 0
        assert mode["setup"]["leaving"] == {"admins": 1, "workers": LEAVE - 1}
        join, leave = mode["join"], mode["leave"]
        assert join["sockets"] == join["converged"] == SOCKETS
        assert leave["sockets"] == leave["converged"] == SOCKETS - LEAVE
        assert join["events_per_socket_max"] >= 1, "nobody was told of the others joining"
        assert leave["events_per_socket_max"] >= 1, "nobody was told of the others leaving"
        assert join["server_cpu_s"] >= 0
        assert join["converged_s_last"] is not None
    assert "converged: 20/20" in done.stdout


def test_the_plan_deals_roles_and_leavers_in_proportion() -> None:
    specs = plan(1000, 50, 100)
    assert sum(s.admin for s in specs) == 50
    leaving = [s for s in specs if s.exit]
    assert len(leaving) == 100
    assert sum(s.admin for s in leaving) == 5
    assert {s.exit for s in leaving} == {"leave", "close"}


def test_the_busiest_window_is_half_open() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 1.0, 1.5], 1.0) == 2
    assert max_in_window([0.0, 0.4, 0.9, 2.0], 1.0) == 3
