"""A benchmark run stopped with SIGTERM ends soon and leaves none of its processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_mid_load_stops_the_server_and_the_clients(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "benchmarks", "throughput", "--out", str(tmp_path)]
    command += ["--duration", "60", "--procs", "2", "--workers", "2", "--admins", "2"]
    run = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        started = time.monotonic()
        while len(_children(run.pid)) < 3:  # the server and both client processes
            assert run.poll() is None, run.communicate()[0]
            assert time.monotonic() - started < 120, "the load never started"
            time.sleep(0.2)
        time.sleep(3)  # into the load
        started_by_it = _children(run.pid)
        os.kill(run.pid, signal.SIGTERM)
        output, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode != 0, output
    # multiprocessing's resource tracker, a child too, leaves once it reads its pipe's end:
    # a moment after the run's own exit, not at once.
    deadline = time.monotonic() + 10
    while (left := {pid for pid in started_by_it if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == set(), f"still running 10 s after the run ended: {_describe(left)}\n{output}"


def _describe(pids: set[int]) -> dict[int, str]:
    """Each process's command line, for a failure message."""
    lines = {}
    for pid in pids:
        try:
            lines[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            lines[pid] = "(gone)"
    return lines
