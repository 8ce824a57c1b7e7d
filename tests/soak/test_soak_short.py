"""The CI cut of the soak run: ``python -m benchmarks.soak`` for 30 s with the full 1,000 sockets.

The script is run the way ``nox -s soak`` runs it (a subprocess of its own,
which starts the server and its client processes and stops them by PID), and
only its correctness verdicts are asserted: nothing acknowledged lost,
duplicated or reordered at any admin, the server alive throughout and exiting
0. Its speed figures are printed for the log, never compared. Five accounts per
role keep the PBKDF2 registrations to seconds; sockets share them like tabs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
SOCKETS = 1000


def test_thirty_seconds_of_a_thousand_sockets_lose_nothing(tmp_path: Path) -> None:
    figures = tmp_path / "soak.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks.soak",
        "--duration",
        "30",
        "--sockets",
        str(SOCKETS),
    ]
    command += ["--accounts", "5", "--json", str(figures)]
    # A bound that only a hung run reaches, not a speed: the run itself takes about 45 s.
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    print(done.stdout, done.stderr, sep="\n")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    result = json.loads(figures.read_text())
    assert result["failures"] == []
    assert result["sockets"]["connected"] == SOCKETS
    assert result["sockets"]["gauge_after_connect"] == SOCKETS
    assert result["sockets"]["gauge_after_disconnect"] == 0
    delivery = result["delivery"]
    assert delivery["admins"] == 20
    assert delivery["expected_per_admin"] == result["submits"]["acked"] > 0
    assert (delivery["missing"], delivery["duplicates"], delivery["out_of_order"]) == (0, 0, 0)
    assert result["submits"]["replays"] > 0
    assert result["submits"]["replay_mismatches"] == 0
    assert result["server_alive_at_end"] is True
    assert result["server_exit"] == 0
