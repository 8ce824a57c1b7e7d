"""benchmarks.floor runs and prints its three figures at each pause asked for."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_prints_each_figure_for_each_pause() -> None:
    command = [sys.executable, "-m", "benchmarks.floor", "--count", "5"]
    command += ["--pause", "0", "--pause", "0.001"]
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    sections = run.stdout.split("-- ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["back to back", "one every 1 ms"]
    for section in sections:
        figures = re.findall(r"^(.+?)\s+p50\s+([\d.]+) us\s+p90\s+([\d.]+) us", section, re.M)
        assert [name for name, _, _ in figures] == [
            "fdatasync, 4 KiB append",
            "loopback TCP round trip",
            "event loop -> thread -> event loop",
        ]
        assert all(float(p50) <= float(p90) for _, p50, p90 in figures)
