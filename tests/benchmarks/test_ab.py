"""benchmarks.ab: alternating runs of two versions, and what their pairs say together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.ab import (
    CPU,
    FIGURES,
    compare,
    export,
    server_cpu_ms,
    side_env,
    sign_test,
    turns,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_sign_test_is_the_chance_of_as_many_wins_by_coin() -> None:
    assert sign_test(0, 4) == 1.0
    assert sign_test(4, 4) == 1 / 16
    assert sign_test(3, 4) == 5 / 16
    assert sign_test(6, 7) == 8 / 128


def test_each_side_runs_first_in_half_the_pairs() -> None:
    """A pair's first run may be faster or slower than its second (a loaded machine): base
    goes first in odd pairs, head in even ones, so the order favours neither."""
    assert [turns(pair) for pair in range(1, 5)] == [
        ("base", "head"),
        ("head", "base"),
        ("base", "head"),
        ("head", "base"),
    ]
    assert sum(turns(pair)[0] == "head" for pair in range(1, 7)) == 3


def test_a_lower_latency_counts_as_a_win_and_a_lower_rate_does_not() -> None:
    latency = compare([2.0, 2.0, 2.0], [1.0, 3.0, 1.5], FIGURES["latency"])
    assert latency["head_better_in"] == 2
    rate = compare([100.0, 100.0, 100.0], [90.0, 120.0, 99.0], FIGURES["throughput"])
    assert rate["head_better_in"] == 1
    assert rate["base_mean"] == 100.0
    assert rate["median_change_percent"] == pytest.approx(-1.0)


def test_the_cpu_figure_reads_every_compared_scenario() -> None:
    assert server_cpu_ms({"server_cpu_ms": {"per_acked_change": 0.4}}) == 0.4
    assert server_cpu_ms({"submit_phase": {"server_cpu_ms": {"per_acked_change": 1.8}}}) == 1.8
    assert not CPU.higher_is_better


def test_each_side_imports_its_own_library_and_server(tmp_path: Path) -> None:
    tree = export("HEAD", tmp_path / "side")
    assert (tree / "benchmarks" / "__main__.py").is_file()
    code = "import taskstream_core, taskstream_server, benchmarks; print(taskstream_core.__file__)"
    code += "; print(taskstream_server.__file__); print(benchmarks.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        env=side_env(tree),
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stdout.split():
        assert Path(line).resolve().is_relative_to(tree.resolve())


def test_a_tiny_comparison_runs_end_to_end() -> None:
    """Two short throughput runs, HEAD against the working tree: it finishes and reports."""
    command = [sys.executable, "-m", "benchmarks.ab", "throughput", "--base", "HEAD"]
    command += ["--pairs", "1", "--duration", "1", "--procs", "1", "--workers", "2"]
    command += ["--admins", "1"]
    # A bound against a hang, not a speed.
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pair 1: base " in done.stdout
    assert "head better in" in done.stdout
    assert "server CPU per acked change: base " in done.stdout


def test_a_run_that_fails_ends_the_comparison_with_its_output() -> None:
    command = [sys.executable, "-m", "benchmarks.ab", "throughput", "--base", "HEAD"]
    command += ["--pairs", "1", "--no-such-option"]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 1
    assert "pair 1, base:" in done.stderr
    assert "unrecognized arguments: --no-such-option" in done.stderr
