"""``python -m benchmarks.ab SCENARIO --base REV``: two versions in alternating runs.

On these 2-core virtual machines consecutive runs of one commit differ by
up to ±15% (docs/benchmarks.md), and over hours the machine drifts further,
so a before/after pair of runs cannot show a change worth 5%. This runs a
scenario against ``--base`` (a git revision) and ``--head`` (another one, or
by default the working tree, uncommitted changes included) in turns — base,
head, then head, base, and so on: each side runs first in half the pairs, so
that a pair's first run being faster or slower (a warm or a loaded machine)
favours neither — and prints each pair and what they say together: the
mean of each side, how many pairs head won, and how likely so many wins
would be by chance alone (a one-sided sign test).

Each side runs whole: its own ``python -m benchmarks`` (the load generator
and the seeding as that revision had them) against its own library and
server, taken from ``git archive`` into a temporary folder and put first on
``PYTHONPATH``; the packages installed in this environment serve both.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Figure:
    """The one number of a scenario that a comparison reads, and which way is better."""

    label: str
    read: Callable[[dict[str, Any]], float]
    higher_is_better: bool


def server_cpu_ms(result: dict[str, Any]) -> float:
    """The server's CPU per acknowledged change. Where the server's CPU is what limits a
    closed loop, it moves with the rate and says little more than the rate does."""
    figures = result.get("server_cpu_ms") or result["submit_phase"]["server_cpu_ms"]
    return float(figures["per_acked_change"])


FIGURES: dict[str, Figure] = {
    "throughput": Figure("acked submits/s", lambda r: r["acked_submits_per_s"], True),
    "fanout": Figure("deliveries/s", lambda r: r["deliveries_per_s"], True),
    "latency": Figure(
        "submit→admin p50 ms",
        lambda r: r["submit_phase"]["delivery_ms"]["submit_to_admin"]["p50"],
        False,
    ),
}


#: The second figure every comparison reads.
CPU = Figure("server CPU ms per acked change", server_cpu_ms, False)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.ab",
        description=__doc__.split("\n")[0],
        epilog="Other options go to both sides' python -m benchmarks (--procs, --workers, ...).",
    )
    p.add_argument("scenario", choices=sorted(FIGURES))
    p.add_argument("--base", required=True, help="a git revision: the version to compare with")
    p.add_argument(
        "--head", default=None, help="a git revision (default: the working tree as it is)"
    )
    p.add_argument("--pairs", type=int, default=4, help="base/head pairs of runs (default 4)")
    p.add_argument("--duration", type=float, default=12, help="seconds of load per run")
    p.add_argument("--keep", type=Path, default=None, help="keep each run's JSON in this folder")
    return p


def export(revision: str, into: Path) -> Path:
    """The files of ``revision`` (``git archive``) in a folder of their own."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    archive_path = into.with_suffix(".tar")
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - our own repository's archive
            tar.extractall(into)  # noqa: S202
    archive_path.unlink()
    return into


def side_env(tree: Path) -> dict[str, str]:
    """This environment with ``tree``'s library and server first on the import path (the
    benchmark's processes, and the server it starts, inherit it)."""
    env = dict(os.environ)
    paths = [str(tree / "src"), str(tree / "examples" / "server")]
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def run_side(tree: Path, scenario: str, out: Path, options: list[str]) -> dict[str, Any]:
    """One run of ``scenario`` as ``tree`` has it; its JSON result."""
    command = [sys.executable, "-m", "benchmarks", scenario, "--out", str(out), *options]
    done = subprocess.run(
        command, cwd=tree, env=side_env(tree), capture_output=True, text=True, check=False
    )
    result_file = out / f"{scenario}.json"
    if done.returncode != 0 or not result_file.is_file():
        raise RuntimeError(f"{tree.name}: {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def turns(pair: int) -> tuple[str, str]:
    """The order the two sides run in, in pair ``pair`` (from 1): base first in odd pairs,
    head first in even ones."""
    return ("base", "head") if pair % 2 else ("head", "base")


def sign_test(wins: int, pairs: int) -> float:
    """P(at least ``wins`` of ``pairs`` by a fair coin): how often chance alone does as well."""
    return float(sum(math.comb(pairs, k) for k in range(wins, pairs + 1)) / 2**pairs)


def compare(base: list[float], head: list[float], figure: Figure) -> dict[str, Any]:
    """What the pairs say together."""
    wins = sum(
        (h > b) if figure.higher_is_better else (h < b) for b, h in zip(base, head, strict=True)
    )
    changes = [(h - b) / b * 100 for b, h in zip(base, head, strict=True) if b]
    return {
        "base_mean": statistics.fmean(base),
        "head_mean": statistics.fmean(head),
        "median_change_percent": statistics.median(changes) if changes else 0.0,
        "head_better_in": wins,
        "pairs": len(base),
        "chance": sign_test(wins, len(base)),
    }


def main(argv: list[str] | None = None) -> int:
    args, options = parser().parse_known_args(argv)
    figure = FIGURES[args.scenario]
    options = ["--duration", str(args.duration), *options]
    with tempfile.TemporaryDirectory(prefix="taskstream-ab-") as temp:
        place = Path(temp)
        base_tree = export(args.base, place / "base")
        head_tree = export(args.head, place / "head") if args.head else ROOT
        keep = args.keep or place / "runs"
        values: dict[str, list[float]] = {"base": [], "head": []}
        cpu: dict[str, list[float]] = {"base": [], "head": []}
        trees = {"base": base_tree, "head": head_tree}
        for pair in range(1, args.pairs + 1):
            for side in turns(pair):
                tree = trees[side]
                try:
                    result = run_side(tree, args.scenario, keep / f"{side}-{pair}", options)
                except RuntimeError as exc:  # a failed run (or a lost event) ends the comparison
                    print(f"pair {pair}, {side}: {exc}", file=sys.stderr)
                    return 1
                values[side].append(figure.read(result))
                cpu[side].append(server_cpu_ms(result))
            print(
                f"pair {pair}: base {values['base'][-1]:,.2f}  head {values['head'][-1]:,.2f}"
                f"  ({figure.label}); server CPU per change {cpu['base'][-1]:.3f} /"
                f" {cpu['head'][-1]:.3f} ms",
                flush=True,
            )
    verdict = compare(values["base"], values["head"], figure)
    cost = compare(cpu["base"], cpu["head"], CPU)
    print(
        f"{args.scenario}, {figure.label}: base {verdict['base_mean']:,.2f} → head "
        f"{verdict['head_mean']:,.2f} on average, median change per pair "
        f"{verdict['median_change_percent']:+.1f}%; head better in {verdict['head_better_in']} "
        f"of {verdict['pairs']} pairs (chance alone does as well "
        f"{verdict['chance']:.0%} of the time)"
    )
    print(
        f"server CPU per acked change: base {cost['base_mean']:.3f} → head "
        f"{cost['head_mean']:.3f} ms on average, median change per pair "
        f"{cost['median_change_percent']:+.1f}%; head cheaper in {cost['head_better_in']} of "
        f"{cost['pairs']} pairs (chance alone does as well {cost['chance']:.0%} of the time)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
